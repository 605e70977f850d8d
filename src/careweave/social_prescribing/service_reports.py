"""Reports for the social prescribing service over a period, fit to leave direct care.

A report about a service is not direct care of anyone: it is made from a planning read
(`CareRecordAccess.export(..., purpose="planning")`), which only analysts and platform
integrations may make, which leaves out everyone with a national data opt-out, and which audits
each person whose records it read. The figures (service_figures.py, exact) are then published
with small numbers suppressed, because they leave direct care:

* careweave.population.suppression's rules, the same as every population output's: a count
  under 10 (0 to 9) is shown as "<10" (an empty group is a fact about the place too), and
  where the groups of a breakdown add up to a total and exactly one group is suppressed, the
  next smallest group is hidden too ("*"), so the hidden one cannot be worked out by
  subtraction (secondary suppression);
* a median, 90th percentile or mean over fewer than 10 people is not shown, nor is a
  percentage or a ratio built on a suppressed count.

For inequity, each group of people referred is set beside the place's 65+ population: both
percentages and their ratio (referred share / population share: below 1, that group is referred
less than its share of the place).

The read goes through every Patient, ServiceRequest, Task, Communication and
QuestionnaireResponse the planning view holds: fine for a place's few hundred thousand records
once a month; a planning search by type and date would do less (docs/social-prescribing.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import orjson

from careweave.access.guard import CareRecordAccess
from careweave.population.suppression import THRESHOLD, shown_count, suppress_counts
from careweave.social_prescribing.directory_codes import NEEDS
from careweave.social_prescribing.pathway_codes import OUTCOMES, REASONS
from careweave.social_prescribing.pathway_problems import PathwayProblem
from careweave.social_prescribing.service_figures import (
    TRIAGE,
    Breakdown,
    MeanChange,
    ServiceFigures,
    figures_from,
)
from careweave.social_prescribing.wellbeing import ONS4_NAMES

REPORT_TYPES: Final = (
    "Patient",
    "ServiceRequest",
    "Task",
    "Communication",
    "QuestionnaireResponse",
)


def shown(count: int) -> str:
    """A count on its own as published: "<10" from 0 to 9."""
    return str(shown_count(count))


def suppress_group(counts: Mapping[str, int]) -> dict[str, str]:
    """Each group's count as published, the groups adding up to a total."""
    _, parts = suppress_counts(sum(counts.values()), counts)
    return {group: str(value) for group, value in parts.items()}


def is_shown(published: str) -> bool:
    """Whether a published count is the number itself (not "<10" or "*")."""
    return published.isdigit()


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


@dataclass(frozen=True)
class GroupRow:
    """One group of a breakdown, as published."""

    group: str
    referred: str
    referred_percent: str | None
    population: str
    population_percent: str | None
    ratio: str | None
    """Referred share over population share, to two places ("1.00" is in proportion)."""


@dataclass(frozen=True)
class PublishedBreakdown:
    name: str
    referred_total: str
    population_total: str
    rows: tuple[GroupRow, ...]


@dataclass(frozen=True)
class PublishedChange:
    n: str
    mean: str | None


@dataclass(frozen=True)
class ServiceReport:
    """The service's report for a period, every number as it may be published."""

    service_organisation_id: str
    start: date
    end: date
    referrals_in: str
    self_referrals: str
    triage: Mapping[str, str]
    reached: str
    not_reached_yet: str
    days_to_first_contact_median: str | None
    days_to_first_contact_p90: str | None
    reasons: Mapping[str, str]
    connections_by_need: Mapping[str, Mapping[str, str]]
    connections_by_outcome: Mapping[str, str]
    swemwbs_change: PublishedChange
    ons4_change: Mapping[str, PublishedChange]
    breakdowns: tuple[PublishedBreakdown, ...]
    referred_under_65: str


def _change(change: MeanChange, places: int = 2) -> PublishedChange:
    if change.n < THRESHOLD or change.mean is None:
        return PublishedChange(shown(change.n), None)
    return PublishedChange(str(change.n), f"{change.mean:+.{places}f}")


def _breakdown(breakdown: Breakdown) -> PublishedBreakdown:
    referred = suppress_group(breakdown.referred)
    population = suppress_group(breakdown.population)
    r_total, p_total = breakdown.referred_total, breakdown.population_total
    rows = []
    for group in breakdown.groups:
        r_count, p_count = breakdown.referred[group], breakdown.population[group]
        r_ok = is_shown(referred[group]) and r_total >= THRESHOLD
        p_ok = is_shown(population[group]) and p_total >= THRESHOLD
        r_share, p_share = _percent(r_count, r_total), _percent(p_count, p_total)
        ratio = None
        if r_ok and p_ok and p_count:
            ratio = f"{(r_count / r_total) / (p_count / p_total):.2f}"
        rows.append(
            GroupRow(
                group,
                referred[group],
                f"{r_share:.1f}" if r_ok else None,
                population[group],
                f"{p_share:.1f}" if p_ok else None,
                ratio,
            )
        )
    return PublishedBreakdown(breakdown.name, shown(r_total), shown(p_total), tuple(rows))


def publish(figures: ServiceFigures) -> ServiceReport:
    """The figures as they may leave direct care (see the module docstring)."""
    enough = figures.reached >= THRESHOLD
    median, p90 = figures.days_to_first_contact_median, figures.days_to_first_contact_p90
    return ServiceReport(
        service_organisation_id=figures.service_organisation_id,
        start=figures.start,
        end=figures.end,
        referrals_in=shown(figures.referrals_in),
        self_referrals=shown(figures.self_referrals),
        triage=suppress_group({t: figures.triage.get(t, 0) for t in TRIAGE}),
        reached=suppress_group(
            {"reached": figures.reached, "not reached": figures.not_reached_yet}
        )["reached"],
        not_reached_yet=suppress_group(
            {"reached": figures.reached, "not reached": figures.not_reached_yet}
        )["not reached"],
        days_to_first_contact_median=f"{median:.1f}" if enough and median is not None else None,
        days_to_first_contact_p90=f"{p90:.1f}" if enough and p90 is not None else None,
        reasons={code: shown(figures.reasons.get(code, 0)) for code in REASONS},
        connections_by_need={
            need: {code: shown(counts.get(code, 0)) for code in OUTCOMES}
            for need in NEEDS
            if (counts := figures.connections_by_need.get(need))
        },
        connections_by_outcome=suppress_group(
            {code: figures.connections_by_outcome.get(code, 0) for code in OUTCOMES}
        ),
        swemwbs_change=_change(figures.swemwbs_change),
        ons4_change={item: _change(figures.ons4_change[item], 1) for item in ONS4_NAMES},
        breakdowns=tuple(_breakdown(b) for b in figures.breakdowns),
        referred_under_65=shown(figures.referred_under_65),
    )


def planning_records(
    access: CareRecordAccess, types: Sequence[str] = REPORT_TYPES
) -> list[dict[str, Any]]:
    """Every resource of `types` a planning output may draw on (analysts and platform
    integrations only: anyone else is refused with Forbidden)."""
    found: list[dict[str, Any]] = []

    def keep(resource_type: str, content: str) -> None:
        del resource_type
        found.append(orjson.loads(content))

    access.export(types, keep, purpose="planning")
    return found


def service_report(
    access: CareRecordAccess, service_organisation_id: str, start: date, end: date
) -> ServiceReport:
    """The published report for the service's referrals made from `start` to `end`."""
    if end < start:
        raise PathwayProblem("The period must end on or after the day it starts", "end")
    return publish(figures_from(planning_records(access), service_organisation_id, start, end))
