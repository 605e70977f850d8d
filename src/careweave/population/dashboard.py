"""What the population health pages show analysts and ICS leaders: the 65+ population by
segment now and over the last years, and one measure by deprivation, ethnicity, sex and age.

Everything here leaves direct care, so it is published as careweave.population.suppression
says: counts under 10 are "<10" (and a count that would reveal a hidden one "*"), a rate and
its 95% interval are given only where both its counts are shown, and how many people with a
national data opt-out the projection leaves out is itself a count under the same rule. The
figures are the projection's (careweave.population.projection): as of its measure day, read
when it was last refreshed, which the pages say.

The trend is the segments on the same day in each of the last `TREND_YEARS` years, worked out
when the projection was refreshed (`careweave.population.segmentation.stored_segment_trend`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from careweave.population.equity import (
    DIMENSIONS,
    EQUITY_WORDS,
    PublishedCell,
    equity_breakdown,
    publishable,
)
from careweave.population.segmentation import (
    SegmentCounts,
    segment_counts,
    segment_trend,
    stored_segment_trend,
    trend_days,
)
from careweave.population.suppression import Shown, shown_count


@dataclass(frozen=True)
class PublishedSegments:
    """The 65+ population by segment on one day, small numbers suppressed."""

    as_of: date
    total: Shown
    counts: Mapping[str, Shown]


@dataclass(frozen=True)
class PopulationOverview:
    """The dashboard's figures: segments now and on earlier days (oldest first, ending with
    now), how many people are left out for a national data opt-out, and when the projection
    was refreshed."""

    as_of: date
    refreshed: datetime
    objectors_left_out: Shown
    now: PublishedSegments
    trend: tuple[PublishedSegments, ...]


@dataclass(frozen=True)
class EquityTableView:
    """One measure by one dimension, led by the row for everyone ("All")."""

    dimension: str
    rows: tuple[PublishedCell, ...]


@dataclass(frozen=True)
class EquityView:
    """One measure by every dimension, as it may be published."""

    as_of: date
    refreshed: datetime
    objectors_left_out: Shown
    measure: str
    tables: tuple[EquityTableView, ...]


def refreshed_at(path: Path | str) -> datetime:
    """When the projection at `path` was last refreshed: a refresh writes a new file and
    renames it into place, so the file's modification time is the refresh's end."""
    return datetime.fromtimestamp(Path(path).stat().st_mtime, UTC)


def _published(counts: SegmentCounts) -> PublishedSegments:
    total, shown = counts.publishable()
    return PublishedSegments(counts.as_of, total, shown)


def population_overview(con: duckdb.DuckDBPyConnection, path: Path | str) -> PopulationOverview:
    """The dashboard of the projection `con`, opened from `path`."""
    now = segment_counts(con)
    earlier = stored_segment_trend(con) or segment_trend(con, trend_days(now.as_of))
    return PopulationOverview(
        as_of=now.as_of,
        refreshed=refreshed_at(path),
        objectors_left_out=shown_count(now.objectors_excluded),
        now=_published(now),
        trend=(*(_published(c) for c in earlier), _published(now)),
    )


def equity_view(con: duckdb.DuckDBPyConnection, path: Path | str, measure: str) -> EquityView:
    """`measure` (a key of EQUITY_WORDS) by every dimension, suppressed for publishing."""
    if measure not in EQUITY_WORDS:
        raise ValueError(f"Not a population measure: {measure}")
    now = segment_counts(con)
    if not now.total:
        # No one aged 65 or over was measured: there is nothing to break down.
        return EquityView(
            now.as_of, refreshed_at(path), shown_count(now.objectors_excluded), measure, ()
        )
    breakdown = equity_breakdown(con, measures=(measure,))
    cells = publishable(breakdown)
    tables = tuple(
        EquityTableView(dimension, tuple(c for c in cells if c.dimension == dimension))
        for dimension in DIMENSIONS
        if any(c.dimension == dimension for c in cells)
    )
    return EquityView(
        as_of=breakdown.as_of,
        refreshed=refreshed_at(path),
        objectors_left_out=shown_count(breakdown.objectors_excluded),
        measure=measure,
        tables=tables,
    )
