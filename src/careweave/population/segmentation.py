"""Segmentation of the 65+ population: how many people are in each segment, now and over time.

Every person 65 and over, alive on the day, is in exactly one segment, the one of greatest
need (`careweave.population.person_row.segment_of`, and its SQL twin in the measure query):
end of life, care home, severe, moderate and mild frailty (eFI), long-term conditions (two or
more, not frail), fit. The counts of the projection's day come from `person_measures`; a trend
recomputes the measures for each earlier day from the projection's tables (the record as it
stood by each day, as far as the store's current versions tell: see docs/population-measures.md).
People with a national data opt-out are not in the projection; the result says how many.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import duckdb

from careweave.population.columnar import MEASURES
from careweave.population.equity import objectors_excluded
from careweave.population.measures_sql import MeasureDays, person_measures_query
from careweave.population.person_row import SEGMENTS
from careweave.population.projection import read_state
from careweave.population.suppression import Shown, suppress_counts


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
    """The segments on each of `days`, with the measure windows of the projection."""
    state = read_state(con)
    excluded = objectors_excluded(con)
    found = []
    for done, day in enumerate(days):
        measure_days = MeasureDays.of(
            day,
            hospital_window_days=int(state["hospital_window_days"]),
            medicine_window_days=int(state["medicine_window_days"]),
        )
        query = person_measures_query(measure_days)
        rows = con.execute(
            f"SELECT segment, COUNT(*) FROM ({query}) m WHERE segment IS NOT NULL GROUP BY segment"
        ).fetchall()
        found.append(SegmentCounts(day, _counts(rows), excluded))
        if progress is not None:
            progress(done + 1, len(days))
    return found
