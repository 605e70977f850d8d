"""Equity: every population measure broken down by deprivation, ethnicity, sex and age band,
with rates, 95% confidence intervals and small-number suppression.

* **Who is counted**: people 65 and over, alive on the as-of day, in the projection (people
  with a national data opt-out are not in it; every output says how many were left out).
* **Measures** are proportions of those people (`EQUITY_MEASURES`): frailty, conditions,
  medicines, hospital use, living situation and care planning. The rate is the share with the
  measure (shown as a percentage). A score (`EQUITY_SCORES`: the Cambridge Multimorbidity
  Score) is given as its mean over the group, "with the measure" counting those who score
  above 0. Complex multimorbidity is by the thresholds the projection measured with, so its
  name is too (`equity_words`): show `EquityBreakdown.words`, not `EQUITY_WORDS`.
* **Confidence interval**: for a proportion, the 95% Wilson score interval (Wilson 1927;
  Newcombe 1998's method 3), which stays inside 0-100% and behaves for small counts and rates
  near 0 or 1, unlike the normal (Wald) interval; for a mean, mean +/- 1.96 standard errors
  (the sample standard deviation over the square root of the group's size; none for a group
  of one).
* **Groups**: IMD decile 1 (most deprived) to 10, "Not known" without one; the NHS ethnic
  category's high-level groups (`careweave.population.ethnicity`); sex as recorded
  (`Patient.gender`; "not recorded" when absent); age bands 65-69 ... 90+.
* **Suppression** (`careweave.population.suppression`) is applied by `publishable`: use it for
  anything shown outside direct care.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Final

import duckdb

from careweave.population.columnar import EXCLUDED, MEASURES, read_state
from careweave.population.ethnicity import ETHNIC_GROUPS
from careweave.population.multimorbidity import ComplexThresholds
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
        "complex_multimorbidity": ("Complex multimorbidity", "complex_multimorbidity"),
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

EQUITY_SCORES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "cambridge_score": (
            "Cambridge Multimorbidity Score (mean; with the measure: above 0)",
            "cambridge_score",
        ),
    }
)
"""Score name -> (what people call it, its column of person_measures): given as a mean."""

EQUITY_WORDS: Final[Mapping[str, str]] = MappingProxyType(
    {name: words for name, (words, _) in (*EQUITY_MEASURES.items(), *EQUITY_SCORES.items())}
)
"""Every measure of the breakdown, proportions then scores, and what people call it; without
the definition a projection measured complex multimorbidity by (`equity_words` adds it)."""


def equity_words(thresholds: ComplexThresholds) -> dict[str, str]:
    """EQUITY_WORDS, naming complex multimorbidity by the definition used ("Complex
    multimorbidity (4+ conditions)"): a place may choose its own thresholds, and a rate read
    without them would be taken for another definition's."""
    words = dict(EQUITY_WORDS)
    words["complex_multimorbidity"] += f" ({thresholds.short()})"
    return words


def projection_words(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """`equity_words` for the thresholds the projection `con` was measured with."""
    return equity_words(ComplexThresholds.from_state(read_state(con)))


def mean_interval(
    total: float, squares: float, people: int, z: float = Z_95
) -> tuple[float, float] | None:
    """The normal-approximation interval of a mean from its sum and sum of squares (None for
    fewer than 2 people: there is no spread to estimate)."""
    if people < 2:
        return None
    mean = total / people
    variance = max(0.0, (squares - people * mean * mean) / (people - 1))
    half = z * math.sqrt(variance / people)
    return mean - half, mean + half


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
    """One group's figure for one measure (the total row has group "All"). For a score,
    `total` and `squares` are the sum of its values and of their squares."""

    dimension: str
    group: str
    measure: str
    people: int
    with_measure: int
    total: float = 0.0
    squares: float = 0.0

    @property
    def mean(self) -> bool:
        """Whether the figure is a mean score, not a share."""
        return self.measure in EQUITY_SCORES

    @property
    def rate(self) -> float | None:
        if not self.people:
            return None
        return (self.total if self.mean else self.with_measure) / self.people

    @property
    def interval(self) -> tuple[float, float] | None:
        if not self.people:
            return None
        if self.mean:
            return mean_interval(self.total, self.squares, self.people)
        return wilson_interval(self.with_measure, self.people)


@dataclass(frozen=True)
class EquityBreakdown:
    as_of: date
    objectors_excluded: int
    total: Mapping[str, EquityCell]  # measure -> the all-people cell
    cells: tuple[EquityCell, ...]
    words: Mapping[str, str]  # measure -> what people call it, as this projection measured it

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
    measures: Sequence[str] = tuple(EQUITY_WORDS),
    progress: Callable[[int, int], None] | None = None,
) -> EquityBreakdown:
    """Every measure by every dimension, from the projection's person_measures (one query per
    dimension, plus one for the totals)."""
    sums = ", ".join(_sums(m) for m in measures)
    row = con.execute(f"SELECT COUNT(*), {sums} FROM {MEASURES} WHERE {OLDER_PEOPLE}").fetchone()
    assert row is not None
    everyone = int(row[0])
    offsets = _offsets(measures)
    total = {
        m: _cell("all", "All", m, everyone, row[1:], at)
        for m, at in zip(measures, offsets, strict=True)
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
        for measure, at in zip(measures, offsets, strict=True):
            for group in groups:
                values = found[group]
                cells.append(_cell(dimension, group, measure, int(values[0]), values[1:], at))
        if progress is not None:
            progress(done + 1, len(dimensions))
    return EquityBreakdown(
        _as_of(con), objectors_excluded(con), total, tuple(cells), projection_words(con)
    )


def _sums(measure: str) -> str:
    """The SELECT terms of one measure: the count with it, and for a score its two sums."""
    if measure in EQUITY_SCORES:
        column = EQUITY_SCORES[measure][1]
        return (
            f"SUM(CASE WHEN {column} > 0 THEN 1 ELSE 0 END), "
            f"SUM(CAST({column} AS DOUBLE)), SUM(CAST({column} AS DOUBLE) * {column})"
        )
    return f"SUM(CASE WHEN {EQUITY_MEASURES[measure][1]} THEN 1 ELSE 0 END)"


def _offsets(measures: Sequence[str]) -> list[int]:
    """Where each measure's `_sums` terms start in a row (a score has three, a share one)."""
    offsets, at = [], 0
    for measure in measures:
        offsets.append(at)
        at += 3 if measure in EQUITY_SCORES else 1
    return offsets


def _cell(
    dimension: str, group: str, measure: str, people: int, values: Sequence[Any], at: int
) -> EquityCell:
    """One measure's cell from a row of `_sums` terms, its own starting at `at`."""
    with_measure = int(values[at] or 0)
    if measure not in EQUITY_SCORES:
        return EquityCell(dimension, group, measure, people, with_measure)
    total, squares = float(values[at + 1] or 0), float(values[at + 2] or 0)
    return EquityCell(dimension, group, measure, people, with_measure, total, squares)


@dataclass(frozen=True)
class PublishedCell:
    """A cell as it may be shown outside direct care: counts, or "<10" / "*", and the rate
    (for a score, its mean) and 95% interval only when both counts are shown."""

    dimension: str
    group: str
    measure: str
    people: Shown
    with_measure: Shown
    rate: float | None
    low: float | None
    high: float | None
    mean: bool = False


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
        cell.mean,
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
            published.append(_published(replace(total, dimension=dimension), shown.total))
            published.extend(_published(c, shown.groups[c.group]) for c in table)
    return published
