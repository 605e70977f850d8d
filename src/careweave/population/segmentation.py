"""Segmentation of the 65+ population: how many people are in each segment, now and over time.

Every person 65 and over, alive on the day, is in exactly one segment, the one of greatest
need (`careweave.population.person_row.segment_of`, and its SQL twin in the measure query):
end of life, care home, severe, moderate and mild frailty (eFI), long-term conditions (two or
more, not frail), fit. The counts of the projection's day come from `person_measures`; a trend
recomputes the measures for each earlier day from the projection's tables (the record as it
stood by each day, as far as the store's current versions tell: see docs/population-measures.md).
People with a national data opt-out are not in the projection; the result says how many.

The dashboard's trend (the same day in each of the last TREND_YEARS years) is worked out when
the projection is refreshed and kept in it (`store_segment_trend`): one measure query per day
over everyone takes seconds at a million people, too long for every view of a page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

import duckdb
from dateutil.relativedelta import relativedelta

from careweave.population.columnar import MEASURES, SEGMENT_TREND, read_state
from careweave.population.equity import objectors_excluded
from careweave.population.measures_sql import MeasureDays, person_measures_query
from careweave.population.multimorbidity import ComplexThresholds
from careweave.population.person_row import SEGMENTS
from careweave.population.suppression import Shown, suppress_counts

TREND_YEARS: Final = 2
"""The trend shows the segments on the projection's day and on the same day each of this
many years before."""


@dataclass(frozen=True)
class SegmentCounts:
    """People 65+ in each segment on one day (every segment listed, 0 when empty)."""

    as_of: date
    counts: Mapping[str, int]
    objectors_excluded: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def publishable(self) -> tuple[Shown, dict[str, Shown]]:
        """The total and counts with small numbers suppressed (for outside direct care)."""
        return suppress_counts(self.total, dict(self.counts))


def _counts(rows: Sequence[tuple[object, ...]]) -> dict[str, int]:
    found = {str(segment): int(str(count)) for segment, count in rows}
    return {segment: found.get(segment, 0) for segment in SEGMENTS}


def segment_counts(con: duckdb.DuckDBPyConnection) -> SegmentCounts:
    """The segments on the projection's day."""
    rows = con.execute(
        f"SELECT segment, COUNT(*) FROM {MEASURES} WHERE segment IS NOT NULL GROUP BY segment"
    ).fetchall()
    as_of = date.fromisoformat(read_state(con)["as_of"])
    return SegmentCounts(as_of, _counts(rows), objectors_excluded(con))


def segment_trend(
    con: duckdb.DuckDBPyConnection,
    days: Sequence[date],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[SegmentCounts]:
    """The segments on each of `days`, with the measure windows and definitions of the
    projection."""
    state = read_state(con)
    thresholds = ComplexThresholds.from_state(state)
    excluded = objectors_excluded(con)
    found = []
    for done, day in enumerate(days):
        measure_days = MeasureDays.of(
            day,
            hospital_window_days=int(state["hospital_window_days"]),
            medicine_window_days=int(state["medicine_window_days"]),
        )
        query = person_measures_query(measure_days, complex_thresholds=thresholds)
        rows = con.execute(
            f"SELECT segment, COUNT(*) FROM ({query}) m WHERE segment IS NOT NULL GROUP BY segment"
        ).fetchall()
        found.append(SegmentCounts(day, _counts(rows), excluded))
        if progress is not None:
            progress(done + 1, len(days))
    return found


def trend_days(as_of: date, years: int = TREND_YEARS) -> list[date]:
    """The earlier days of the trend, oldest first (the projection's own day is not among
    them: its segments are already in the projection)."""
    return [as_of - relativedelta(years=back) for back in range(years, 0, -1)]


def store_segment_trend(con: duckdb.DuckDBPyConnection) -> None:
    """Work out the segments on each of the trend's days and keep them in the projection
    (replacing what a refresh before kept); the projection's state must be written first."""
    as_of = date.fromisoformat(read_state(con)["as_of"])
    con.execute(
        f"CREATE OR REPLACE TABLE {SEGMENT_TREND} (as_of DATE, segment VARCHAR, people BIGINT)"
    )
    rows = [
        (counts.as_of, segment, people)
        for counts in segment_trend(con, trend_days(as_of))
        for segment, people in counts.counts.items()
    ]
    con.executemany(f"INSERT INTO {SEGMENT_TREND} VALUES (?, ?, ?)", rows)


def stored_segment_trend(con: duckdb.DuckDBPyConnection) -> list[SegmentCounts] | None:
    """The trend a refresh kept, oldest day first; None when the projection holds none for
    its trend days (one refreshed before trends were kept), so the caller works it out."""
    days = trend_days(date.fromisoformat(read_state(con)["as_of"]))
    present = con.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = ?", [SEGMENT_TREND]
    ).fetchone()
    if not present or not present[0]:
        return None
    rows = con.execute(
        f"SELECT as_of, segment, people FROM {SEGMENT_TREND} ORDER BY as_of"
    ).fetchall()
    kept: dict[date, list[tuple[object, ...]]] = {}
    for day, segment, people in rows:
        kept.setdefault(day, []).append((segment, people))
    if sorted(kept) != days:
        return None
    excluded = objectors_excluded(con)
    return [SegmentCounts(day, _counts(kept[day]), excluded) for day in days]
