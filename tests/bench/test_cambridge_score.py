"""bench.cambridge_score: the figures it prints for the docs are what the records hold.

Its paragraph goes into docs/population-measures.md, so a slip in how it counts (the dead or
the people with an opt-out counted, a wrong band, a centile that is not the 90th) would publish
wrong figures without any test failing. Here its figures for a small place are set against
counts made another way: from the generator's NDJSON files themselves, each person's record
measured by the Python reference (`measures_for`), not from the store and projection the
script reads.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from bench.cambridge_score import (
    FIVE_CONDITIONS,
    MeasuredPlace,
    OlderPerson,
    ScoreFigures,
    age_bands,
    main,
    run,
    score_figures,
    with_conditions,
)

from careweave.population.flatten import person_of
from careweave.population.person_measures import PersonMeasures, measures_for
from careweave.population.person_row import age_band

PEOPLE = 800
SEED = 11
AS_OF = date(2026, 3, 31)

Run = tuple[MeasuredPlace, list[OlderPerson], list[str]]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(PEOPLE, SEED, AS_OF, tmp_path_factory.mktemp("cambridge"))


@pytest.fixture(scope="module")
def figures(ran: Run) -> ScoreFigures:
    return score_figures(ran[1])


def _opted_out(resource: dict[str, Any]) -> str | None:
    """The person an active national data opt-out (a Consent of category ndoo) is about."""
    if resource["resourceType"] != "Consent" or resource.get("status") != "active":
        return None
    codes = {c.get("code") for k in resource.get("category", []) for c in k.get("coding", [])}
    return person_of(resource) if "ndoo" in codes else None


@pytest.fixture(scope="module")
def expected(ran: Run) -> list[PersonMeasures]:
    """Everyone 65+, alive and without an opt-out, measured from the generated files."""
    folder = ran[0].generated.out
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    objectors: set[str] = set()
    for path in sorted(folder.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            person = person_of(resource)
            if person is not None:
                records[person].append(resource)
            objector = _opted_out(resource)
            if objector is not None:
                objectors.add(objector)
    measured = [
        measures_for(record, AS_OF) for person, record in records.items() if person not in objectors
    ]
    return [m for m in measured if m.age is not None and m.age >= 65 and not m.deceased]


def _means_by(
    people: list[PersonMeasures], group_of: Callable[[PersonMeasures], object]
) -> dict[object, float]:
    """The mean score of each group the people fall into."""
    scores: dict[object, list[float]] = defaultdict(list)
    for measured in people:
        scores[group_of(measured)].append(measured.cambridge.score)
    return {group: statistics.fmean(of_group) for group, of_group in scores.items()}


def test_the_people_are_those_65_and_over_alive_without_an_opt_out(
    ran: Run, expected: list[PersonMeasures]
) -> None:
    place, people, differing = ran
    assert sorted(p.patient_id for p in people) == sorted(m.patient_id for m in expected)
    assert place.refresh.objectors_excluded > 0  # the place has opt-outs to leave out
    assert differing == []


def test_the_distribution_agrees_with_the_records(
    figures: ScoreFigures, expected: list[PersonMeasures]
) -> None:
    scores = sorted(m.cambridge.score for m in expected)
    assert figures.people == len(expected) > 100
    assert figures.mean == pytest.approx(sum(scores) / len(scores))
    assert figures.highest == scores[-1]
    middle = (len(scores) - 1) / 2
    assert figures.median == pytest.approx(
        (scores[math.floor(middle)] + scores[math.ceil(middle)]) / 2
    )
    two = sum(m.cambridge.condition_count >= 2 for m in expected)
    assert figures.two_or_more == pytest.approx(100 * two / len(expected))
    assert 0 < two < len(expected)


def test_condition_shares_and_group_means_agree_with_the_records(
    figures: ScoreFigures, expected: list[PersonMeasures]
) -> None:
    for condition in FIVE_CONDITIONS:
        hits = sum(
            any(found.condition == condition for found in m.cambridge.conditions) for m in expected
        )
        assert figures.counting[condition] == pytest.approx(100 * hits / len(expected))
    assert sum(figures.counting[c] > 0 for c in FIVE_CONDITIONS) >= 3
    by_band = _means_by(expected, lambda m: age_band(m.age))
    assert set(by_band) == set(age_bands())  # every band has people, 90+ too
    assert figures.by_age_band == pytest.approx(by_band)
    assert figures.by_efi_category == pytest.approx(_means_by(expected, lambda m: m.efi_category))
    by_decile = _means_by(expected, lambda m: m.imd_decile)
    for decile, mean in figures.by_imd_decile.items():
        assert mean == pytest.approx(by_decile.get(decile, math.nan), nan_ok=True), decile
    assert sum(not math.isnan(mean) for mean in figures.by_imd_decile.values()) >= 2


def test_correlations_agree_with_the_records(
    figures: ScoreFigures, expected: list[PersonMeasures]
) -> None:
    scores = [m.cambridge.score for m in expected]
    conditions = [m.multimorbidity.condition_count for m in expected]
    admissions = [m.admission_count for m in expected]
    assert figures.r_long_term_conditions == pytest.approx(
        statistics.correlation(scores, conditions)
    )
    assert figures.r_admissions == pytest.approx(statistics.correlation(scores, admissions))
    assert figures.r_long_term_conditions > figures.r_admissions


def test_the_90th_centile_and_median_of_known_scores() -> None:
    person = OlderPerson("p", 70, "fit", 0, 0, 0, 0.0, 0, 5)
    people = [
        replace(person, patient_id=str(n), cambridge_score=float(n), cambridge_conditions=n % 3)
        for n in range(11)
    ]
    figures = score_figures(people)
    assert (figures.median, figures.centile_90, figures.highest) == (5.0, 9.0, 10.0)
    assert figures.two_or_more == pytest.approx(100 * 3 / 11)


def test_a_score_the_record_does_not_give_is_reported(ran: Run) -> None:
    """The check against the Python reference can fail: a projection score off by 0.01."""
    place, people, _ = ran
    wrong = replace(people[0], cambridge_score=people[0].cambridge_score + 0.01)
    record = [r for r in _records_from(place.generated.out) if person_of(r) == wrong.patient_id]
    _, differing = with_conditions([wrong], [(wrong.patient_id, record)], AS_OF)
    assert differing == [wrong.patient_id]


def _records_from(folder: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in sorted(folder.glob("*.ndjson"))
        for line in path.read_bytes().splitlines()
    ]


def test_the_command_prints_every_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--people", "300", "--seed", "3", "--workdir", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "Place: 300 people (seed 3, as of 2026-03-31)" in printed
    for text in (
        "Mean score ",
        "90th centile",
        "Counting 2 or more of the 20 conditions:",
        "Irritable bowel syndrome",
        "Mean score by eFI category: fit ",
        "Mean score by age band: 65-69 ",
        "Mean score by IMD decile (1 = most deprived): 1 ",
        "emergency admissions in the year",
    ):
        assert text in printed, text
    assert (tmp_path / "run" / "careweave.population.duckdb").exists()
