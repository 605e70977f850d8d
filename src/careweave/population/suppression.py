"""Small-number suppression for population outputs shown outside direct care.

A count of a handful of people in a small group can identify them ("the 3 Black women over 90
in this practice who live alone"), so anything published outside direct care (dashboards for
planners, equity reports, exports) follows these rules; direct care (a clinician's worklist of
their own patients) does not need them. The rules, for one table that splits a total into
groups (the groups of one dimension, such as IMD deciles, for one measure):

1. **Primary**: a count of people under 10 (0 to 9) is shown as "<10". That applies to a
   group's number of people (the denominator), to the number with the measure (the numerator),
   and also to the number *without* it (denominator minus numerator), which a reader could
   work out: when that is under 10 the numerator is hidden, shown as "*".
2. **Secondary**: the groups add up to the total, which is shown. If only one group's
   numerator (or only one group's denominator) is hidden, it could be recovered by
   subtracting the others from the total, so the smallest other shown value of that kind is
   hidden too ("*"). Repeated until no kind has exactly one hidden value. When there is no
   other value to hide (a table of one group), the total is hidden instead.
3. A rate and its confidence interval are shown only when both its counts are.

Not covered: cross-tabulations (two dimensions at once) are not published, so no rule protects
cells linked across tables beyond the shared totals; the totals themselves are shown unless
under 10 (or rule 2's last case).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

THRESHOLD: Final = 10
"""The smallest count of people that may be shown."""
UNDER_THRESHOLD: Final = "<10"
"""How a count under the threshold is shown."""
HIDDEN: Final = "*"
"""How a count hidden by secondary suppression (or to protect its complement) is shown."""

Shown = int | str


def shown_count(count: int) -> Shown:
    """One count on its own (no total to protect): the count, or "<10"."""
    return count if count >= THRESHOLD else UNDER_THRESHOLD


@dataclass(frozen=True)
class ShownGroup:
    """One group's counts as they may be published (ints, "<10" or "*")."""

    people: Shown
    with_measure: Shown

    @property
    def complete(self) -> bool:
        """Both counts shown: a rate and its interval may be shown too."""
        return isinstance(self.people, int) and isinstance(self.with_measure, int)


@dataclass(frozen=True)
class ShownTable:
    total: ShownGroup
    groups: Mapping[str, ShownGroup]


def _show(value: int, hidden: bool) -> Shown:
    if not hidden:
        return value
    return UNDER_THRESHOLD if value < THRESHOLD else HIDDEN


def suppress_table(total: tuple[int, int], groups: Mapping[str, tuple[int, int]]) -> ShownTable:
    """Apply the rules to a table: `total` and each group as (people, with the measure)."""
    order = list(groups)
    people = {g: groups[g][0] for g in order}
    having = {g: groups[g][1] for g in order}
    hidden_people = {g for g in order if people[g] < THRESHOLD}
    hidden_having = {
        g
        for g in order
        if g in hidden_people or having[g] < THRESHOLD or people[g] - having[g] < THRESHOLD
    }
    total_people_hidden = total[0] < THRESHOLD
    total_having_hidden = total[1] < THRESHOLD or total[0] - total[1] < THRESHOLD
    changed = True
    while changed:
        changed = False
        for hidden, values, which in (
            (hidden_people, people, "people"),
            (hidden_having, having, "having"),
        ):
            if len(hidden) != 1:
                continue
            others = [g for g in order if g not in hidden]
            if others:
                hidden.add(min(others, key=lambda g: (values[g], order.index(g))))
                changed = True
            elif which == "people" and not total_people_hidden:
                total_people_hidden = True
            elif which == "having" and not total_having_hidden:
                total_having_hidden = True
    return ShownTable(
        total=ShownGroup(
            _show(total[0], total_people_hidden), _show(total[1], total_having_hidden)
        ),
        groups={
            g: ShownGroup(
                _show(people[g], g in hidden_people), _show(having[g], g in hidden_having)
            )
            for g in order
        },
    )


def suppress_counts(total: int, parts: Mapping[str, int]) -> tuple[Shown, dict[str, Shown]]:
    """The same rules for counts that split a total with no measure (segments of the 65+):
    counts under 10 are "<10", and a lone hidden count takes the next smallest with it."""
    order: Sequence[str] = list(parts)
    hidden = {p for p in order if parts[p] < THRESHOLD}
    total_hidden = total < THRESHOLD
    while len(hidden) == 1:
        others = [p for p in order if p not in hidden]
        if not others:
            total_hidden = True
            break
        hidden.add(min(others, key=lambda p: (parts[p], order.index(p))))
    return _show(total, total_hidden), {p: _show(parts[p], p in hidden) for p in order}
