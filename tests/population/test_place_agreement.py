"""The columnar engine agrees with the Python reference for every person of a seeded generated
place of 20,000 people: the same flattening and SQL a refresh runs, fed straight from the
generator's NDJSON (importing 20,000 people into a store would take a minute; the store path is
covered person for person on a smaller place in test_projection.py, on both databases)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from careweave.population.columnar import MEASURES, connect
from careweave.population.flatten import person_of
from careweave.population.measures_sql import MEASURE_COLUMNS
from careweave.population.person_row import SEGMENTS, person_row
from careweave.population.projection import MeasureSettings, build_from_resources
from careweave.synth.generate import generate_place

PEOPLE = 20_000
SEED = 8


def keyed_resources(out: Path) -> list[tuple[int, dict[str, Any]]]:
    """Every resource of the place with a key in file order (files sorted by name)."""
    resources = []
    for path in sorted(out.glob("*.ndjson")):
        resources += [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return list(enumerate(resources, start=1))


@pytest.fixture(scope="module")
def measured(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[date, list[tuple[int, dict[str, Any]]], dict[str, dict[str, object]]]:
    out = tmp_path_factory.mktemp("place")
    summary = generate_place(people=PEOPLE, seed=SEED, out=out)
    resources = keyed_resources(out)
    path = out / "projection.duckdb"
    build_from_resources(path, resources, MeasureSettings(summary.as_of))
    con = connect(path, read_only=True)
    rows = con.execute(f"SELECT * FROM {MEASURES}").fetchall()
    con.close()
    found = {str(r[0]): dict(zip(MEASURE_COLUMNS, r, strict=True)) for r in rows}
    return summary.as_of, resources, found


def test_every_person_of_a_20000_place_has_the_reference_row(
    measured: tuple[date, list[tuple[int, dict[str, Any]]], dict[str, dict[str, object]]],
) -> None:
    as_of, resources, found = measured
    records: dict[str, list[dict[str, Any]]] = {}
    for _, body in resources:
        person = person_of(body)
        if person is not None:
            records.setdefault(person, []).append(body)
    assert len(records) == len(found) == PEOPLE
    differing: Counter[str] = Counter()
    examples: list[str] = []
    for person, record in records.items():
        expected = person_row(record, as_of)
        for key, value in expected.items():
            if found[person][key] != value:
                differing[key] += 1
                examples.append(f"{person} {key}: SQL {found[person][key]!r}, reference {value!r}")
    assert differing == Counter(), examples[:10]


def test_the_place_exercises_every_segment_and_measure(
    measured: tuple[date, list[tuple[int, dict[str, Any]]], dict[str, dict[str, object]]],
) -> None:
    """An agreement over rows that were all zero would prove little."""
    _, _, found = measured
    rows = list(found.values())
    segments = Counter(r["segment"] for r in rows if r["segment"] is not None)
    assert set(segments) == set(SEGMENTS)
    assert min(segments.values()) >= 20
    for flag in (
        "multimorbidity",
        "complex_multimorbidity",
        "polypharmacy",
        "lives_alone",
        "unpaid_carer",
        "has_care_plan",
        "care_plan_reviewed_12m",
        "care_plan_review_overdue",
        "end_of_life",
        "deceased",
    ):
        assert sum(1 for r in rows if r[flag]) >= 10, flag
    assert sum(1 for r in rows if r["care_home"] == "nursing-home") >= 10
    assert sum(1 for r in rows if isinstance(r["admissions"], int) and r["admissions"] > 0) >= 100
    assert len({r["ethnic_group"] for r in rows}) >= 5
