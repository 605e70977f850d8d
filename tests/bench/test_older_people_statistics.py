"""bench.older_people_statistics: the figures it prints for the docs are what the records hold.

Its table goes into docs/synthetic-data.md, so a slip in how it counts (a wrong denominator,
the dead counted as living, a band off by one) would publish wrong figures without any test
failing. Here its figures for a small population are set against counts made independently,
from the FHIR resources of the same records rather than the generator's own facts.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from bench.older_people_statistics import (
    AGE_MIX,
    PersonSummary,
    Row,
    main,
    older_people,
    summarise,
    target_rows,
)

from careweave.synth.clinical_codes import (
    LONG_TERM_CONDITION_CODES,
    MEDICINES,
    age_band,
    efi_category,
)
from careweave.synth.frailty import deficits_from_resources
from careweave.synth.model import Person, RecordOutcome
from careweave.synth.older_person import OlderPersonFacts
from careweave.synth.small_place import SMALL_PLACE_AS_OF

PEOPLE = 1500
Built = list[tuple[Person, RecordOutcome, OlderPersonFacts]]


@pytest.fixture(scope="module")
def built() -> Built:
    return list(older_people(PEOPLE, seed=5))


@pytest.fixture(scope="module")
def rows(built: Built) -> dict[str, Row]:
    summaries: list[PersonSummary] = [summarise(*person) for person in built]
    return {row.statistic: row for row in target_rows(summaries)}


def _of_type(outcome: RecordOutcome, kind: str) -> list[dict[str, Any]]:
    return [r for r in outcome.resources if r["resourceType"] == kind]


def _percent(hits: int, people: int) -> float:
    return 100 * hits / people


def test_ages_and_sexes_follow_the_english_like_mix(built: Built) -> None:
    bands = Counter(age_band(person.age) for person, _o, _f in built)
    for band, percent in AGE_MIX.items():
        standard_error = 100 * math.sqrt(percent / 100 * (1 - percent / 100) / PEOPLE)
        assert abs(_percent(bands[band], PEOPLE) - percent) < 4 * standard_error, band
    ages = Counter(person.age for person, _o, _f in built)
    assert min(ages) == 65 and max(ages) <= 104
    assert sum(ages[a] for a in range(85, 90)) > sum(ages[a] for a in range(90, 95)) > 0
    for person, _outcome, _facts in built:
        had_birthday = (SMALL_PLACE_AS_OF.month, SMALL_PLACE_AS_OF.day) >= (
            person.birth_date.month,
            person.birth_date.day,
        )
        assert SMALL_PLACE_AS_OF.year - person.birth_date.year - (not had_birthday) == person.age

    def men(low: int, high: int) -> float:
        group = [p for p, _o, _f in built if low <= p.age <= high]
        return sum(p.sex == "male" for p in group) / len(group)

    assert men(65, 74) > men(85, 104)  # women outlive men


def test_deaths_and_polypharmacy_agree_with_the_records(built: Built, rows: dict[str, Row]) -> None:
    died = {p.patient_id for p, outcome, _f in built if outcome.deceased is not None}
    by_band = {band: [p for p, _o, _f in built if age_band(p.age) == band] for band in AGE_MIX}
    deaths = tuple(
        _percent(sum(p.patient_id in died for p in people), len(people))
        for people in by_band.values()
    )
    assert rows["Deaths in the last 12 months: 65-74 / 75-84 / 85+"].measured == pytest.approx(
        deaths
    )

    statements = {p.patient_id: len(_of_type(o, "MedicationStatement")) for p, o, _f in built}
    living = [count for patient, count in statements.items() if patient not in died]
    polypharmacy = rows["Polypharmacy 5+ / 10+ medicines"]
    assert polypharmacy.measured == pytest.approx(
        tuple(_percent(sum(c >= n for c in statements.values()), PEOPLE) for n in (5, 10))
    )
    assert polypharmacy.in_subgroup == pytest.approx(
        tuple(_percent(sum(c >= n for c in living), len(living)) for n in (5, 10))
    )


def test_multimorbidity_and_care_homes_agree_with_the_records(
    built: Built, rows: dict[str, Row]
) -> None:
    def conditions(outcome: RecordOutcome) -> set[str]:
        return {
            LONG_TERM_CONDITION_CODES[code]
            for r in _of_type(outcome, "Condition")
            if (code := r["code"]["coding"][0]["code"]) in LONG_TERM_CONDITION_CODES
        }

    multimorbid = {p.patient_id for p, o, _f in built if len(conditions(o)) >= 2}
    assert rows["Multimorbidity (2+ of the 21 conditions), 65+"].measured == pytest.approx(
        (_percent(len(multimorbid), PEOPLE),)
    )
    odds = []
    for decile in (1, 10):
        group = [p for p, _o, _f in built if p.neighbourhood.imd_decile == decile]
        hits = sum(p.patient_id in multimorbid for p in group)
        odds.append(hits / (len(group) - hits))
    ratio = rows["Multimorbidity odds ratio, IMD decile 1 vs 10"].measured
    assert ratio == pytest.approx((odds[0] / odds[1],))

    residents = [
        p
        for p, o, _f in built
        if any(
            e["type"][0]["coding"][0]["code"] in ("care-home", "nursing-home")
            for e in _of_type(o, "EpisodeOfCare")
        )
    ]
    oldest = [p for p, _o, _f in built if p.age >= 85]
    care_homes = rows["Care-home residents, 65+ / 85+"]
    assert care_homes.measured == pytest.approx(
        (
            _percent(len(residents), PEOPLE),
            _percent(sum(p.age >= 85 for p in residents), len(oldest)),
        )
    )
    assert residents


def test_hospital_use_per_person_year_agrees_with_the_records(
    built: Built, rows: dict[str, Row]
) -> None:
    """Admissions by eFI category (computed from the record's Conditions and medicines), over
    the days each person was alive in the 2 years before the record date."""
    admissions: Counter[str] = Counter()
    days: Counter[str] = Counter()
    as_of = SMALL_PLACE_AS_OF.toordinal()
    for _person, outcome, _facts in built:
        category = efi_category(len(deficits_from_resources(outcome.resources)))
        end = outcome.deceased.toordinal() if outcome.deceased is not None else as_of
        days[category] += end - (as_of - 730)
        admissions[category] += sum(
            e["class"]["code"] == "IMP" for e in _of_type(outcome, "Encounter")
        )
    expected = tuple(admissions[c] / (days[c] / 365) for c in ("fit", "mild", "moderate", "severe"))
    row = rows["Emergency admissions / person-year: fit / mild / moderate / severe"]
    assert row.measured == pytest.approx(expected)


def test_the_command_prints_the_table_and_every_medicine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--people", "200", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "200 people 65+ (seed 3;" in printed
    lines = {line.split("  ")[0]: line.split() for line in printed.splitlines() if line}
    deaths = lines["Deaths in the last 12 months: 65-74 / 75-84 / 85+"]
    assert deaths[-10:-5] == ["1.50", "/", "4.50", "/", "14.00%"]  # the target, then measured
    for medicine in MEDICINES:
        assert medicine.display in printed, medicine.key
