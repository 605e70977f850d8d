"""Equity: every population measure broken down by deprivation, ethnicity, sex and age band,
with rates, 95% confidence intervals and small-number suppression.

* **Who is counted**: people 65 and over, alive on the as-of day, in the projection (people
  with a national data opt-out are not in it; every output says how many were left out).
* **Measures** are proportions of those people (`EQUITY_MEASURES`): frailty, conditions,
  medicines, hospital use, living situation and care planning. The rate is the share with the
  measure (shown as a percentage).
* **Confidence interval**: the 95% Wilson score interval for a binomial proportion (Wilson
  1927; Newcombe 1998's method 3), which stays inside 0-100% and behaves for small counts and
  rates near 0 or 1, unlike the normal (Wald) interval.
* **Groups**: IMD decile 1 (most deprived) to 10, "Not known" without one; the NHS ethnic
  category's high-level groups (`careweave.population.ethnicity`); sex as recorded
  (`Patient.gender`; "not recorded" when absent); age bands 65-69 ... 90+.
* **Suppression** (`careweave.population.suppression`) is applied by `publishable`: use it for
  anything shown outside direct care.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from types import MappingProxyType
from typing import Final

import duckdb

from careweave.population.columnar import EXCLUDED, MEASURES
from careweave.population.ethnicity import ETHNIC_GROUPS
from careweave.population.person_row import AGE_BANDS
from careweave.population.suppression import Shown, ShownGroup, suppress_table

Z_95: Final = 1.959963984540054
"""The standard normal quantile for a two-sided 95% interval."""
NOT_KNOWN: Final = "Not known"
NOT_RECORDED: Final = "not recorded"


def wilson_interval(having: int, people: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of the proportion `having` / `people` (people > 0)."""
    if people <= 0 or not 0 <= having <= people:
        raise ValueError(f"a proportion needs 0 <= {having} <= {people} and people > 0")
    p = having / people
    z2 = z * z
    centre = (p + z2 / (2 * people)) / (1 + z2 / people)
    half = (z / (1 + z2 / people)) * math.sqrt(p * (1 - p) / people + z2 / (4 * people * people))
    low = 0.0 if having == 0 else max(0.0, centre - half)
    high = 1.0 if having == people else min(1.0, centre + half)
    return low, high


EQUITY_MEASURES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "frailty": ("Frailty (eFI mild, moderate or severe)", "efi_category <> 'fit'"),
        "moderate_severe_frailty": (
            "Moderate or severe frailty (eFI)",
            "efi_category IN ('moderate', 'severe')",
        ),
        "multimorbidity": ("Multimorbidity (2+ long-term conditions)", "multimorbidity"),
        "complex_multimorbidity": (
            "Complex multimorbidity (3+ conditions, 3+ body systems)",
            "complex_multimorbidity",
        ),
        "polypharmacy": ("Polypharmacy (10+ repeat medicines)", "polypharmacy"),
        "admitted": ("Emergency admission in the last year", "admissions > 0"),
        "ae_attended": ("A&E attendance in the last year", "ae_attendances > 0"),
        "care_home": ("Living in a care home", "care_home IS NOT NULL"),
        "lives_alone": ("Living alone", "COALESCE(lives_alone, FALSE)"),
        "unpaid_carer": ("Has an unpaid carer", "unpaid_carer"),
        "has_care_plan": ("Has a personalised care and support plan", "has_care_plan"),
        "care_plan_reviewed_12m": (
            "Care plan reviewed in the last 12 months",
            "care_plan_reviewed_12m",
        ),
        "end_of_life": ("Recognised as nearing the end of life", "end_of_life"),
    }
)
"""Measure name -> (what people call it, its SQL condition over person_measures)."""


def _imd_groups() -> tuple[str, ...]:
    return (*(str(d) for d in range(1, 11)), NOT_KNOWN)


def _age_groups() -> tuple[str, ...]:
    bands = [f"{low}-{high - 1}" for low, high in pairwise(AGE_BANDS)]
    return (*bands, f"{AGE_BANDS[-1]}+")


DIMENSIONS: Final[Mapping[str, tuple[str, str, tuple[str, ...]]]] = MappingProxyType(
    {
        "imd_decile": (
            "IMD decile (1 = most deprived)",
            f"COALESCE(CAST(imd_decile AS VARCHAR), '{NOT_KNOWN}')",
            _imd_groups(),
        ),
        "ethnic_group": ("Ethnic group", "ethnic_group", ETHNIC_GROUPS),
        "sex": (
            "Sex",
            f"COALESCE(sex, '{NOT_RECORDED}')",
            ("female", "male", "other", "unknown", NOT_RECORDED),
        ),
        "age_band": ("Age band", "age_band", _age_groups()),
    }
)
"""Dimension name -> (what people call it, its SQL group expression, its groups in order)."""

OLDER_PEOPLE: Final = "segment IS NOT NULL"
"""People 65+ alive on the day: exactly those with a segment."""


@dataclass(frozen=True)
class EquityCell:
    """One group's figure for one measure (the total row has group "All")."""

    dimension: str
    group: str
    measure: str
    people: int
    with_measure: int

    @property
    def rate(self) -> float | None:
        return self.with_measure / self.people if self.people else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.with_measure, self.people) if self.people else None


@dataclass(frozen=True)
class EquityBreakdown:
    as_of: date
    objectors_excluded: int
    total: Mapping[str, EquityCell]  # measure -> the all-people cell
    cells: tuple[EquityCell, ...]

    def table(self, dimension: str, measure: str) -> list[EquityCell]:
        return [c for c in self.cells if c.dimension == dimension and c.measure == measure]


def _as_of(con: duckdb.DuckDBPyConnection) -> date:
    row = con.execute(f"SELECT MIN(as_of) FROM {MEASURES}").fetchone()
    if row is None or row[0] is None:
        raise ValueError("the projection holds no measures")
    return date.fromisoformat(str(row[0]))


def objectors_excluded(con: duckdb.DuckDBPyConnection) -> int:
    """How many people the projection leaves out because they object (national data opt-out)."""
    row = con.execute(f"SELECT COUNT(*) FROM {EXCLUDED}").fetchone()
    return int(row[0]) if row else 0


def equity_breakdown(
    con: duckdb.DuckDBPyConnection,
    *,
    dimensions: Sequence[str] = tuple(DIMENSIONS),
    measures: Sequence[str] = tuple(EQUITY_MEASURES),
    progress: Callable[[int, int], None] | None = None,
) -> EquityBreakdown:
    """Every measure by every dimension, from the projection's person_measures (one query per
    dimension, plus one for the totals)."""
    sums = ", ".join(
        f"SUM(CASE WHEN {EQUITY_MEASURES[m][1]} THEN 1 ELSE 0 END) AS {m}" for m in measures
    )
    row = con.execute(f"SELECT COUNT(*), {sums} FROM {MEASURES} WHERE {OLDER_PEOPLE}").fetchone()
    assert row is not None
    everyone = int(row[0])
    total = {
        m: EquityCell("all", "All", m, everyone, int(row[i + 1] or 0))
        for i, m in enumerate(measures)
    }
    cells: list[EquityCell] = []
    for done, dimension in enumerate(dimensions):
        _, expression, order = DIMENSIONS[dimension]
        found = {
            str(r[0]): r[1:]
            for r in con.execute(
                f"SELECT {expression} AS grp, COUNT(*), {sums} FROM {MEASURES} "
                f"WHERE {OLDER_PEOPLE} GROUP BY grp"
            ).fetchall()
        }
        groups = [g for g in order if g in found] + sorted(g for g in found if g not in order)
        for m_index, measure in enumerate(measures):
            for group in groups:
                values = found[group]
                cells.append(
                    EquityCell(
                        dimension, group, measure, int(values[0]), int(values[m_index + 1] or 0)
                    )
                )
        if progress is not None:
            progress(done + 1, len(dimensions))
    return EquityBreakdown(_as_of(con), objectors_excluded(con), total, tuple(cells))


@dataclass(frozen=True)
class PublishedCell:
    """A cell as it may be shown outside direct care: counts, or "<10" / "*", and the rate
    and 95% interval only when both counts are shown."""

    dimension: str
    group: str
    measure: str
    people: Shown
    with_measure: Shown
    rate: float | None
    low: float | None
    high: float | None


def _published(cell: EquityCell, shown: ShownGroup) -> PublishedCell:
    interval = cell.interval if shown.complete else None
    return PublishedCell(
        cell.dimension,
        cell.group,
        cell.measure,
        shown.people,
        shown.with_measure,
        cell.rate if shown.complete else None,
        interval[0] if interval else None,
        interval[1] if interval else None,
    )


def publishable(breakdown: EquityBreakdown) -> list[PublishedCell]:
    """The breakdown with small numbers suppressed, table by table (dimension x measure), each
    table led by its total."""
    published: list[PublishedCell] = []
    dimensions = list(dict.fromkeys(c.dimension for c in breakdown.cells))
    for dimension in dimensions:
        for measure, total in breakdown.total.items():
            table = breakdown.table(dimension, measure)
            shown = suppress_table(
                (total.people, total.with_measure),
                {c.group: (c.people, c.with_measure) for c in table},
            )
            published.append(
                _published(
                    EquityCell(dimension, "All", measure, total.people, total.with_measure),
                    shown.total,
                )
            )
            published.extend(_published(c, shown.groups[c.group]) for c in table)
    return published
