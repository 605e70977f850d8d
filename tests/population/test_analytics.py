"""Segmentation, case-finding and equity over a projection of a generated place, each checked
against the same figures counted in plain Python from the reference rows (`person_row`)."""

from __future__ import annotations

import shutil
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dateutil.relativedelta import relativedelta

from careweave.population.case_finding import (
    CaseFindingQuery,
    UnknownChoice,
    find_cases,
    related_people,
    worklist,
)
from careweave.population.columnar import SEGMENT_TREND
from careweave.population.dashboard import population_overview
from careweave.population.equity import (
    DIMENSIONS,
    EQUITY_WORDS,
    equity_breakdown,
    mean_interval,
    publishable,
)
from careweave.population.flatten import person_of
from careweave.population.person_measures import hospital_use
from careweave.population.person_row import SEGMENTS, MeasureRow, person_row
from careweave.population.projection import MeasureSettings, build_from_resources, open_projection
from careweave.population.segmentation import (
    TREND_YEARS,
    segment_counts,
    segment_trend,
    stored_segment_trend,
    trend_days,
)
from careweave.population.suppression import HIDDEN, UNDER_THRESHOLD
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from careweave.store.schema import metadata
from careweave.store.visibility import PatientSet, Visibility
from careweave.synth.generate import generate_place
from tests.population.test_place_agreement import keyed_resources

PEOPLE = 4_000
_LINKS = ("generalPractitioner", "managingOrganization")
SEED = 21


@dataclass(frozen=True)
class Place:
    as_of: date
    path: Path
    records: dict[str, list[dict[str, Any]]]
    rows: dict[str, MeasureRow]
    objectors: frozenset[str]


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    out = tmp_path_factory.mktemp("place")
    summary = generate_place(people=PEOPLE, seed=SEED, out=out)
    resources = keyed_resources(out)
    records: dict[str, list[dict[str, Any]]] = {}
    for _, body in resources:
        person = person_of(body)
        if person is not None:
            records.setdefault(person, []).append(body)
    objectors = frozenset(sorted(records)[:40])
    path = out / "projection.duckdb"
    build_from_resources(path, resources, MeasureSettings(summary.as_of), objectors=objectors)
    rows = {
        p: person_row(record, summary.as_of) for p, record in records.items() if p not in objectors
    }
    return Place(summary.as_of, path, records, rows, objectors)


@pytest.fixture
def con(place: Place) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_projection(place.path)
    yield connection
    connection.close()


def test_segment_counts_are_the_reference_segments(
    place: Place, con: duckdb.DuckDBPyConnection
) -> None:
    counts = segment_counts(con)
    expected = Counter(r["segment"] for r in place.rows.values() if r["segment"] is not None)
    assert dict(counts.counts) == {s: expected.get(s, 0) for s in SEGMENTS}
    assert counts.objectors_excluded == len(place.objectors)
    assert counts.total == sum(expected.values()) > 500


def test_a_trend_recomputes_each_day_from_the_record_as_it_stood(
    place: Place, con: duckdb.DuckDBPyConnection
) -> None:
    days = [place.as_of - relativedelta(months=m) for m in (24, 12, 0)]
    seen: list[tuple[int, int]] = []
    trend = segment_trend(con, days, progress=lambda d, t: seen.append((d, t)))
    assert [t.as_of for t in trend] == days
    assert seen[-1] == (3, 3)
    assert trend[-1].counts == segment_counts(con).counts
    earlier = days[0]
    expected = Counter(
        person_row(record, earlier)["segment"]
        for p, record in place.records.items()
        if p not in place.objectors
    )
    assert dict(trend[0].counts) == {s: expected.get(s, 0) for s in SEGMENTS}
    assert trend[0].counts != trend[-1].counts


def test_the_refresh_keeps_the_dashboard_trend_and_the_dashboard_reads_it(
    place: Place, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    kept = stored_segment_trend(con)
    assert kept is not None
    assert kept == segment_trend(con, trend_days(place.as_of))
    assert [t.as_of for t in kept] == trend_days(place.as_of) and len(kept) == TREND_YEARS
    # The dashboard shows what the refresh kept, not a recomputation: change the kept figures
    # in a copy and the copy's dashboard shows the change.
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(place.path, copy)
    writable = duckdb.connect(str(copy))
    writable.execute(f"UPDATE {SEGMENT_TREND} SET people = people + 1000 WHERE segment = 'fit'")
    writable.close()
    changed = open_projection(copy)
    try:
        overview = population_overview(changed, copy)
    finally:
        changed.close()
    oldest = overview.trend[0].counts["fit"]
    assert oldest == kept[0].counts["fit"] + 1000
    # A projection refreshed before trends were kept has none; the dashboard works it out.
    writable = duckdb.connect(str(copy))
    writable.execute(f"DROP TABLE {SEGMENT_TREND}")
    writable.close()
    older = open_projection(copy)
    try:
        assert stored_segment_trend(older) is None
        assert population_overview(older, copy).trend[0].counts["fit"] == kept[0].counts["fit"]
    finally:
        older.close()


def test_published_segment_counts_hide_small_numbers(
    place: Place, con: duckdb.DuckDBPyConnection
) -> None:
    total, shown = segment_counts(con).publishable()
    assert isinstance(total, int)
    for value in shown.values():
        assert value in (UNDER_THRESHOLD, HIDDEN) or (isinstance(value, int) and value >= 10)


def _admitted_within(record: list[dict[str, Any]], as_of: date, days: int) -> bool:
    return len(hospital_use(record, as_of, days=days).admissions) > 0


def test_case_finding_answers_the_issue_question(
    place: Place, con: duckdb.DuckDBPyConnection
) -> None:
    """Moderate or severe frailty, no care plan review in 12 months, admitted in 90 days."""
    query = CaseFindingQuery(
        frailty=frozenset({"moderate", "severe"}), no_plan_review_months=12, admitted_within_days=90
    )
    found = find_cases(con, query)
    year_ago = place.as_of - relativedelta(months=12)
    expected = {
        p
        for p, r in place.rows.items()
        if r["segment"] is not None
        and r["efi_category"] in ("moderate", "severe")
        and not (
            isinstance(r["care_plan_last_reviewed"], date)
            and year_ago <= r["care_plan_last_reviewed"] <= place.as_of
        )
        and _admitted_within(place.records[p], place.as_of, 90)
    }
    assert set(found.patient_ids) == expected
    assert len(expected) >= 3
    assert found.objectors_excluded == len(place.objectors)


def test_case_finding_orders_by_need_and_filters_by_practice(
    place: Place, con: duckdb.DuckDBPyConnection
) -> None:
    everyone = find_cases(con, CaseFindingQuery())
    deficits = [place.rows[p]["efi_deficits"] for p in everyone.patient_ids]
    assert deficits == sorted(deficits, reverse=True)  # type: ignore[type-var]
    assert set(everyone.patient_ids) == {
        p for p, r in place.rows.items() if r["segment"] is not None
    }
    practice = Counter(place.rows[p]["practice_id"] for p in everyone.patient_ids).most_common(1)[
        0
    ][0]
    (ods,) = con.execute(
        "SELECT ods_code FROM organisations WHERE organisation_id = ?", [practice]
    ).fetchone() or (None,)
    assert ods
    by_id = find_cases(con, CaseFindingQuery(practice=str(practice)))
    by_ods = find_cases(con, CaseFindingQuery(practice=str(ods)))
    assert by_id.patient_ids == by_ods.patient_ids
    assert set(by_id.patient_ids) == {
        p for p in everyone.patient_ids if place.rows[p]["practice_id"] == practice
    }
    homes = find_cases(con, CaseFindingQuery(care_home=True, lives_alone=False))
    assert homes.patient_ids and all(
        place.rows[p]["care_home"] is not None and not place.rows[p]["lives_alone"]
        for p in homes.patient_ids
    )


def test_a_worklist_names_only_people_the_user_may_see(
    place: Place, con: duckdb.DuckDBPyConnection
) -> None:
    found = find_cases(con, CaseFindingQuery(frailty=frozenset({"moderate", "severe"})))
    visible = set(found.patient_ids[::3]) | {"someone-not-found"}
    listed = worklist(con, found, visible)
    assert [p.patient_id for p in listed.people] == [p for p in found.patient_ids if p in visible]
    assert listed.others == len(found.patient_ids) - len(listed.people) > 0
    first = listed.people[0]
    assert first.efi_category == place.rows[first.patient_id]["efi_category"]
    assert first.segment == place.rows[first.patient_id]["segment"]


def test_related_people_are_those_the_access_rules_let_the_user_see(
    place: Place, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    found = find_cases(con, CaseFindingQuery())
    chosen = frozenset(found.patient_ids[:5])
    visibility = Visibility(readable_types=frozenset({"Patient"}), patients=PatientSet(ids=chosen))
    database = open_database(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        metadata.create_all(database.writer)
        with FhirStore(database).transaction() as tx:
            for person in found.patient_ids[:10]:
                body = next(r for r in place.records[person] if r["resourceType"] == "Patient")
                tx.update("Patient", person, {k: v for k, v in body.items() if k not in _LINKS})
        assert related_people(database, visibility, found.patient_ids) == set(chosen)
        assert related_people(database, None, found.patient_ids[:3]) == set(found.patient_ids[:3])
    finally:
        database.dispose()


def test_case_finding_by_cambridge_score_finds_the_scores_from_the_boundary_up(
    place: Place, con: duckdb.DuckDBPyConnection
) -> None:
    scores = Counter(r["cambridge_score"] for r in place.rows.values() if r["segment"])
    # A score held by several people, so the boundary itself is tested.
    boundary = max(s for s, n in scores.items() if n >= 3 and isinstance(s, float) and s >= 1)
    found = find_cases(con, CaseFindingQuery(min_cambridge_score=boundary))
    expected = {
        p
        for p, r in place.rows.items()
        if r["segment"] is not None and r["cambridge_score"] >= boundary  # type: ignore[operator]
    }
    assert set(found.patient_ids) == expected
    assert any(place.rows[p]["cambridge_score"] == boundary for p in found.patient_ids)
    assert len(expected) < len(place.rows)
    listed = worklist(con, found, set(found.patient_ids))
    assert [p.cambridge_score for p in listed.people] == [
        place.rows[p]["cambridge_score"] for p in found.patient_ids
    ]
    with pytest.raises(ValueError, match="min_cambridge_score"):
        find_cases(con, CaseFindingQuery(min_cambridge_score=0))


def test_a_query_with_an_unknown_category_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(UnknownChoice, match="frail-ish"):
        find_cases(con, CaseFindingQuery(frailty=frozenset({"frail-ish"})))


def test_admitted_within_counts_the_last_n_days_only(
    place: Place, con: duckdb.DuckDBPyConnection
) -> None:
    for days in (1, 30, 365):
        found = set(find_cases(con, CaseFindingQuery(admitted_within_days=days)).patient_ids)
        expected = {
            p
            for p, r in place.rows.items()
            if r["segment"] is not None and _admitted_within(place.records[p], place.as_of, days)
        }
        assert found == expected, days
    assert place.as_of - timedelta(days=1) < place.as_of


def test_the_equity_breakdown_adds_up_and_matches_the_reference(
    place: Place, con: duckdb.DuckDBPyConnection
) -> None:
    breakdown = equity_breakdown(con)
    older = [r for r in place.rows.values() if r["segment"] is not None]
    assert breakdown.objectors_excluded == len(place.objectors)
    for measure, total in breakdown.total.items():
        assert total.people == len(older)
        for dimension in DIMENSIONS:
            table = breakdown.table(dimension, measure)
            assert sum(c.people for c in table) == total.people
            assert sum(c.with_measure for c in table) == total.with_measure
    frail_by_decile = Counter(str(r["imd_decile"]) for r in older if r["efi_category"] != "fit")
    cells = {c.group: c for c in breakdown.table("imd_decile", "frailty")}
    assert {g: c.with_measure for g, c in cells.items() if c.with_measure} == dict(frail_by_decile)
    carers = Counter(r["ethnic_group"] for r in older if r["unpaid_carer"])
    cells = {c.group: c for c in breakdown.table("ethnic_group", "unpaid_carer")}
    assert {g: c.with_measure for g, c in cells.items() if c.with_measure} == dict(carers)
    groups = sum(
        len({str(r[column]) if r[column] is not None else "?" for r in older})
        for column in ("imd_decile", "ethnic_group", "sex", "age_band")
    )
    assert len(breakdown.cells) == len(EQUITY_WORDS) * groups
    # The Cambridge score by deprivation: the mean of the reference scores, with the measure
    # counting scores above 0, and an interval around the mean.
    by_decile: dict[str, list[float]] = {}
    for r in older:
        by_decile.setdefault(str(r["imd_decile"]), []).append(float(r["cambridge_score"]))  # type: ignore[arg-type]
    cells = {c.group: c for c in breakdown.table("imd_decile", "cambridge_score")}
    assert set(cells) == set(by_decile)
    for group, scores in by_decile.items():
        cell = cells[group]
        assert cell.mean and cell.people == len(scores)
        assert cell.with_measure == sum(1 for s in scores if s > 0)
        assert cell.rate == pytest.approx(statistics.fmean(scores))
        interval = cell.interval
        assert interval is not None and len(scores) > 1
        half = 1.959963984540054 * statistics.stdev(scores) / len(scores) ** 0.5
        assert interval == pytest.approx((cell.rate - half, cell.rate + half))


def test_a_mean_has_no_interval_for_one_person_and_a_tight_one_for_many_alike() -> None:
    assert mean_interval(2.5, 6.25, 1) is None
    low, high = mean_interval(40.0, 160.0, 10) or (0.0, 0.0)
    assert low == high == 4.0  # ten people all scoring 4: no spread
    low, high = mean_interval(3.0, 5.0, 2) or (0.0, 0.0)  # scores 1 and 2
    assert (low + high) / 2 == pytest.approx(1.5)
    assert high - low == pytest.approx(2 * 1.959963984540054 * (0.5**0.5) / 2**0.5)


def test_the_published_breakdown_shows_no_small_number(
    con: duckdb.DuckDBPyConnection,
) -> None:
    published = publishable(equity_breakdown(con))
    assert any(c.people == UNDER_THRESHOLD or c.with_measure == UNDER_THRESHOLD for c in published)
    for cell in published:
        for value in (cell.people, cell.with_measure):
            assert value in (UNDER_THRESHOLD, HIDDEN) or (isinstance(value, int) and value >= 10)
        shown = isinstance(cell.people, int) and isinstance(cell.with_measure, int)
        assert (cell.rate is not None) == shown == (cell.low is not None)
        if cell.rate is not None and cell.low is not None and cell.high is not None:
            assert cell.low <= cell.rate <= cell.high
