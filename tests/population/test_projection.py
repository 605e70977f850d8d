"""The projection read from a real store, on SQLite and PostgreSQL: the rows equal the Python
reference for every person, people with a national data opt-out are left out by the access
layer's own rule, and an incremental refresh after creates, updates, deletes, a new objection
and a withdrawn one leaves exactly what a full refresh would."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from careweave.access.consent import opted_out_patients
from careweave.access.policy import planning_visibility
from careweave.fhir.search_query import parse_search
from careweave.population.columnar import (
    ALL_TABLES,
    MEASURES,
    SEGMENT_TREND,
    STATE,
    connect,
    read_state,
)
from careweave.population.flatten import TABLES, person_of
from careweave.population.measures_sql import MEASURE_COLUMNS
from careweave.population.multimorbidity import DEFAULT_COMPLEX_THRESHOLDS, ComplexThresholds
from careweave.population.person_row import person_row
from careweave.population.projection import (
    ProjectionProblem,
    full_refresh,
    open_projection,
    projection_path,
    refresh,
    refresh_lock,
)
from careweave.population.segmentation import segment_trend, stored_segment_trend, trend_days
from careweave.population.store_reading import planning_objectors, read_snapshot
from careweave.store.bulk_import import import_ndjson, plan_import
from careweave.store.repository import FhirStore
from careweave.store.tables import resource
from careweave.synth.generate import GenerationSummary, generate_place

PEOPLE = 300
SEED = 31


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationSummary, Path]:
    out = tmp_path_factory.mktemp("place")
    return generate_place(people=PEOPLE, seed=SEED, out=out), out


@pytest.fixture
def place(store: FhirStore, generated: tuple[GenerationSummary, Path]) -> date:
    summary, out = generated
    import_ndjson(store, plan_import(out), batch_size=1_000)
    return summary.as_of


def records_in(store: FhirStore) -> dict[str, list[dict[str, Any]]]:
    """Every person's current resources in key order, read straight from the table."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with store.database.read() as conn:
        rows = conn.execute(
            select(resource.c.content).where(resource.c.deleted.is_(False)).order_by(resource.c.pk)
        )
        for (content,) in rows:
            body = orjson.loads(content)
            person = person_of(body)
            if person is not None:
                found[person].append(body)
    return found


def measure_rows(path: Path) -> dict[str, dict[str, object]]:
    con = open_projection(path)
    try:
        rows = con.execute(f"SELECT * FROM {MEASURES}").fetchall()
    finally:
        con.close()
    return {str(r[0]): dict(zip(MEASURE_COLUMNS, r, strict=True)) for r in rows}


def table_contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, sorted (the projection's whole content but its state)."""
    con = connect(path, read_only=True)
    try:
        return {
            table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=lambda r: repr(r))
            for table in [*ALL_TABLES, MEASURES, SEGMENT_TREND]
            if table != STATE
        }
    finally:
        con.close()


def check_against_reference(
    store: FhirStore,
    path: Path,
    as_of: date,
    complex_thresholds: ComplexThresholds = DEFAULT_COMPLEX_THRESHOLDS,
) -> set[str]:
    """Assert every non-objector's row equals the reference; return the objectors."""
    objectors = opted_out_patients(store)
    rows = measure_rows(path)
    records = records_in(store)
    assert set(rows) == set(records) - objectors
    problems = [
        f"{person}: {key} SQL {rows[person][key]!r} reference {value!r}"
        for person, record in records.items()
        if person not in objectors
        for key, value in person_row(record, as_of, complex_thresholds=complex_thresholds).items()
        if rows[person][key] != value
    ]
    assert problems == []
    return objectors


def test_a_full_refresh_equals_the_reference_and_leaves_out_objectors(
    store: FhirStore, place: date, tmp_path: Path
) -> None:
    path = tmp_path / "p.duckdb"
    seen: list[tuple[int, int]] = []
    summary = full_refresh(
        store.database, path, as_of=place, progress=lambda d, t: seen.append((d, t))
    )
    objectors = check_against_reference(store, path, place)
    with read_snapshot(store.database) as conn:
        assert planning_objectors(conn) == objectors
    # The guarded store's own planning view (what an analyst's search sees) agrees.
    query = parse_search("Patient", [("_count", "1000")], store.registry)
    planning = store.search(query, visibility=planning_visibility())
    assert {m[1] for m in planning.matches} == set(records_in(store)) - objectors
    assert len(objectors) > 5
    assert summary.objectors_excluded == len(objectors)
    assert summary.people == PEOPLE - len(objectors)
    assert seen[-1][0] == seen[-1][1] == summary.resources_read
    assert f"{len(objectors):,} people with a national data opt-out left out" in summary.describe()
    con = open_projection(path)
    for table in [*TABLES, MEASURES]:
        column = "patient_id" if table == MEASURES else "person_id"
        held = {r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {table}").fetchall()}
        assert not held & objectors, table
    excluded = {r[0] for r in con.execute("SELECT person_id FROM excluded_people").fetchall()}
    assert excluded == objectors
    con.close()


def _first(store: FhirStore, resource_type: str, person: str) -> dict[str, Any]:
    return next(r for r in records_in(store)[person] if r["resourceType"] == resource_type)


def test_an_incremental_refresh_ends_where_a_full_refresh_would(
    store: FhirStore, place: date, tmp_path: Path
) -> None:
    path = tmp_path / "p.duckdb"
    full_refresh(store.database, path, as_of=place)
    records = records_in(store)
    objectors = opted_out_patients(store)
    older = sorted(
        p
        for p, record in records.items()
        if p not in objectors
        and len(record) > 5
        and any(r["resourceType"] == "Encounter" for r in record)
    )
    gains, loses, objects, ages, gives, takes = older[:6]
    withdraws = sorted(objectors)[0]
    consent = next(
        r for r in records[withdraws] if r["resourceType"] == "Consent" and "ndoo" in str(r)
    )
    with store.transaction() as tx:
        tx.create(
            {
                "resourceType": "Condition",
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84114007"}]},
                "subject": {"reference": f"Patient/{gains}"},
                "recordedDate": "2020-01-01",
            }
        )
        tx.delete("Encounter", _first(store, "Encounter", loses)["id"])
        tx.create(
            {
                **{k: v for k, v in consent.items() if k not in ("id", "meta")},
                "patient": {"reference": f"Patient/{objects}"},
            }
        )
        tx.update("Consent", consent["id"], {**consent, "status": "inactive"})
        patient = _first(store, "Patient", ages)
        tx.update("Patient", ages, {**patient, "birthDate": "1930-01-01"})
        moved = next(r for r in records[gives] if r["resourceType"] == "Condition")
        tx.update("Condition", moved["id"], {**moved, "subject": {"reference": f"Patient/{takes}"}})
    summary = refresh(store.database, path, as_of=place)
    assert summary.kind == "incremental"
    assert summary.people_refreshed == 7
    assert summary.objectors_excluded == len(objectors)  # one more, one fewer
    rows = measure_rows(path)
    assert objects not in rows and withdraws in rows
    assert rows[ages]["age"] == place.year - 1930 - (place < date(place.year, 1, 1))
    check_against_reference(store, path, place)
    again = tmp_path / "again.duckdb"
    full_refresh(store.database, again, as_of=place)
    assert table_contents(path) == table_contents(again)


def test_a_refresh_with_nothing_changed_reads_no_one_and_a_new_day_measures_everyone(
    store: FhirStore, place: date, tmp_path: Path
) -> None:
    path = tmp_path / "p.duckdb"
    first = refresh(store.database, path, as_of=place)  # none yet: a full refresh
    assert first.kind == "full"
    tamper_with_the_kept_trend(path)
    quiet = refresh(store.database, path, as_of=place)
    assert (quiet.kind, quiet.people_refreshed, quiet.resources_read) == ("incremental", 0, 0)
    # Nobody changed on the same day: the kept trend is kept, not worked out again.
    assert kept_fit(path) != worked_out_fit(path, place)
    later = date(place.year + 1, 1, 1)
    reader = open_projection(path)  # a page reading while the refresh runs
    moved_on = refresh(store.database, path, as_of=later)
    assert moved_on.people_refreshed == 0
    assert reader.execute(f"SELECT DISTINCT as_of FROM {MEASURES}").fetchall() == [
        (place.isoformat(),)
    ]
    reader.close()
    rows = measure_rows(path)
    assert {r["as_of"] for r in rows.values()} == {later.isoformat()}
    check_against_reference(store, path, later)
    # The dashboard's trend moved on with the day, recomputed from the projection.
    con = connect(path, read_only=True)
    try:
        kept = stored_segment_trend(con)
        assert kept is not None and [t.as_of for t in kept] == trend_days(later)
        assert kept == segment_trend(con, trend_days(later))
    finally:
        con.close()


def test_new_complex_thresholds_re_measure_everyone_and_later_refreshes_keep_them(
    store: FhirStore, place: date, tmp_path: Path
) -> None:
    path = tmp_path / "p.duckdb"
    full_refresh(store.database, path, as_of=place)
    before = measure_rows(path)
    kingston = ComplexThresholds(4, 1)
    summary = refresh(store.database, path, as_of=place, complex_thresholds=kingston)
    # Nobody's record changed, so only the new definition can have changed anyone's row.
    assert (summary.kind, summary.people_refreshed) == ("incremental", 0)
    assert "complex multimorbidity: 4 or more conditions)" in summary.describe()
    after = measure_rows(path)
    changed = [p for p in after if after[p] != before[p]]
    assert changed, "the place should hold people complex by one definition and not the other"
    assert all(
        {k for k in after[p] if after[p][k] != before[p][k]} == {"complex_multimorbidity"}
        for p in changed
    )
    check_against_reference(store, path, place, kingston)
    # A refresh that names no thresholds keeps the projection's, after a change too.
    someone = sorted(p for p, record in records_in(store).items() if len(record) > 5)[0]
    store.update("Patient", someone, {**_first(store, "Patient", someone), "gender": "other"})
    kept = refresh(store.database, path, as_of=place)
    assert (kept.people_refreshed, kept.complex_thresholds) == (1, kingston)
    check_against_reference(store, path, place, kingston)
    con = open_projection(path)
    try:
        assert ComplexThresholds.from_state(read_state(con)) == kingston
    finally:
        con.close()
    again = tmp_path / "again.duckdb"
    full_refresh(store.database, again, as_of=place, complex_thresholds=kingston)
    assert table_contents(path) == table_contents(again)
    # A rebuild that names none keeps the place's choice too; a new projection starts at 3/3.
    rebuilt = full_refresh(store.database, path, as_of=place)
    assert rebuilt.complex_thresholds == kingston
    assert table_contents(path) == table_contents(again)
    fresh = full_refresh(store.database, tmp_path / "fresh.duckdb", as_of=place)
    assert fresh.complex_thresholds == ComplexThresholds(3, 3)


def tamper_with_the_kept_trend(path: Path) -> None:
    """Change the kept trend's figures, so a refresh that keeps it can be told from one that
    works it out again."""
    con = connect(path)
    try:
        con.execute(f"UPDATE {SEGMENT_TREND} SET people = people + 1000 WHERE segment = 'fit'")
    finally:
        con.close()


def kept_fit(path: Path) -> list[int]:
    con = connect(path, read_only=True)
    try:
        kept = stored_segment_trend(con)
        assert kept is not None
        return [t.counts["fit"] for t in kept]
    finally:
        con.close()


def worked_out_fit(path: Path, as_of: date) -> list[int]:
    con = connect(path, read_only=True)
    try:
        return [t.counts["fit"] for t in segment_trend(con, trend_days(as_of))]
    finally:
        con.close()


def test_a_refresh_after_a_change_works_the_trend_out_again(
    store: FhirStore, place: date, tmp_path: Path
) -> None:
    path = tmp_path / "p.duckdb"
    full_refresh(store.database, path, as_of=place)
    tamper_with_the_kept_trend(path)
    someone = sorted(p for p, record in records_in(store).items() if len(record) > 5)[0]
    patient = _first(store, "Patient", someone)
    store.update("Patient", someone, {**patient, "birthDate": "1931-02-03"})
    changed = refresh(store.database, path, as_of=place)
    assert (changed.kind, changed.people_refreshed) == ("incremental", 1)
    assert kept_fit(path) == worked_out_fit(path, place)


def test_one_refresh_at_a_time(store: FhirStore, tmp_path: Path) -> None:
    path = tmp_path / "p.duckdb"
    with refresh_lock(path), pytest.raises(ProjectionProblem, match="Another refresh"):
        refresh(store.database, path)
    assert not path.exists()


def test_the_projection_sits_beside_an_sqlite_store_and_postgresql_needs_a_path() -> None:
    assert projection_path("sqlite:////data/cw/careweave.sqlite3") == Path(
        "/data/cw/careweave.population.duckdb"
    )
    assert projection_path("postgresql+psycopg://h/db", "/srv/p.duckdb") == Path("/srv/p.duckdb")
    with pytest.raises(ProjectionProblem, match="give its path"):
        projection_path("postgresql+psycopg://h/db")
