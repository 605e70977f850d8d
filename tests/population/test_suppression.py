"""Small-number suppression: hand-worked tables, and properties over any table (no count under
10 is shown, nor one that the total and the other shown counts give away), and the Wilson
interval."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.population.equity import wilson_interval
from careweave.population.suppression import (
    HIDDEN,
    UNDER_THRESHOLD,
    ShownTable,
    shown_count,
    suppress_counts,
    suppress_table,
)


def test_counts_under_ten_are_shown_as_under_ten() -> None:
    assert [shown_count(n) for n in (0, 1, 9, 10, 11)] == ["<10", "<10", "<10", 10, 11]


def test_a_lone_small_numerator_takes_the_next_smallest_with_it() -> None:
    shown = suppress_table((600, 115), {"a": (100, 5), "b": (200, 50), "c": (300, 60)})
    assert shown.total.people == 600 and shown.total.with_measure == 115
    assert shown.groups["a"].with_measure == UNDER_THRESHOLD
    assert shown.groups["b"].with_measure == HIDDEN  # else 115 - 50 - 60 gives a's 5 away
    assert shown.groups["c"].with_measure == 60
    assert [shown.groups[g].people for g in "abc"] == [100, 200, 300]
    assert not shown.groups["a"].complete and shown.groups["c"].complete


def test_a_small_complement_hides_the_numerator() -> None:
    """96 of 100 with a care plan says 4 people in the group have none."""
    shown = suppress_table((400, 196), {"a": (100, 96), "b": (150, 50), "c": (150, 50)})
    assert shown.groups["a"].with_measure == HIDDEN
    assert [shown.groups[g].with_measure for g in "bc"].count(HIDDEN) == 1


def test_a_small_group_hides_its_size_and_another_group_size() -> None:
    shown = suppress_table((120, 30), {"a": (5, 2), "b": (15, 11), "c": (100, 17)})
    assert shown.groups["a"].people == UNDER_THRESHOLD
    assert shown.groups["a"].with_measure == UNDER_THRESHOLD
    assert shown.groups["b"].people == HIDDEN
    assert shown.groups["c"].people == 100


def test_one_group_that_is_hidden_hides_the_total() -> None:
    shown = suppress_table((8, 3), {"a": (8, 3)})
    assert shown.total.people == UNDER_THRESHOLD
    shown = suppress_table((50, 45), {"a": (50, 45)})
    assert shown.total.with_measure == HIDDEN


def test_segment_counts() -> None:
    total, parts = suppress_counts(300, {"fit": 200, "severe": 4, "end": 96})
    assert total == 300
    assert parts == {"fit": 200, "severe": UNDER_THRESHOLD, "end": HIDDEN}
    assert suppress_counts(30, {"a": 15, "b": 15}) == (30, {"a": 15, "b": 15})


@st.composite
def tables(draw: st.DrawFn) -> tuple[tuple[int, int], dict[str, tuple[int, int]]]:
    groups = {}
    for name in "abcdefg"[: draw(st.integers(1, 7))]:
        people = draw(st.integers(0, 60))
        groups[name] = (people, draw(st.integers(0, people)))
    total = (sum(p for p, _ in groups.values()), sum(h for _, h in groups.values()))
    return total, groups


def _hidden(value: int | str) -> bool:
    return not isinstance(value, int)


def _check(table: ShownTable, total: tuple[int, int], groups: dict[str, tuple[int, int]]) -> None:
    everything = [(table.total, total)] + [(table.groups[g], groups[g]) for g in groups]
    for shown, (people, having) in everything:
        for value, real in ((shown.people, people), (shown.with_measure, having)):
            assert value == real or value == (UNDER_THRESHOLD if real < 10 else HIDDEN)
            assert not isinstance(value, int) or value >= 10
        if shown.complete:
            assert people - having >= 10
    for kind in ("people", "with_measure"):
        hidden = [g for g in groups if _hidden(getattr(table.groups[g], kind))]
        total_hidden = _hidden(getattr(table.total, kind))
        assert len(hidden) != 1 or total_hidden, (kind, hidden)


@given(tables())
def test_no_small_number_is_shown_or_recoverable_from_the_total(
    table: tuple[tuple[int, int], dict[str, tuple[int, int]]],
) -> None:
    total, groups = table
    _check(suppress_table(total, groups), total, groups)


@given(st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 50), min_size=1))
def test_no_lone_hidden_count_among_parts(parts: dict[str, int]) -> None:
    total, shown = suppress_counts(sum(parts.values()), parts)
    hidden = [p for p, v in shown.items() if not isinstance(v, int)]
    assert all(not isinstance(v, int) or v >= 10 for v in shown.values())
    assert len(hidden) != 1 or not isinstance(total, int)


@pytest.mark.parametrize(
    ("having", "people", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),
        (1, 10, 0.0179, 0.4042),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),  # Newcombe 1998's worked example
    ],
)
def test_wilson_intervals_match_published_values(
    having: int, people: int, low: float, high: float
) -> None:
    found = wilson_interval(having, people)
    assert found == pytest.approx((low, high), abs=5e-5)


@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_a_wilson_interval_holds_the_rate_and_solves_the_score_equation(
    counts: tuple[int, int],
) -> None:
    having, people = counts
    low, high = wilson_interval(having, people)
    rate = having / people
    assert 0.0 <= low <= rate <= high <= 1.0
    z2 = 1.959963984540054**2
    for bound in (low, high):
        if bound not in (0.0, 1.0):  # the exact ends at 0 and n
            # Wilson's bounds are where |rate - p| = z * sqrt(p (1 - p) / n).
            assert math.isclose(
                (rate - bound) ** 2, z2 * bound * (1 - bound) / people, rel_tol=1e-6, abs_tol=1e-12
            )


def test_a_proportion_of_no_one_is_refused() -> None:
    with pytest.raises(ValueError, match="people > 0"):
        wilson_interval(0, 0)
