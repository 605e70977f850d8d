"""The social prescribing service's figures for a period, worked out exactly from FHIR
resources: a pure function, so the tests state a small hand-built record and the numbers it
must give, and service_reports.py publishes them (with small numbers suppressed).

What each figure counts (docs/social-prescribing.md has the same list):

* **The cohort** is the referrals to the service (ServiceRequest coded 871731000000106 whose
  performer is the service's Organization, not entered in error) made in the period: from the
  start day to the end day inclusive, by the UK day of `authoredOn`. Everything below follows
  those referrals up to the moment the figures are made.
* **Referrals in**: how many; how many were self-referrals (requester a Patient); and triage,
  from each referral's newest Task: taken on (accepted, in progress or completed), not taken
  on (rejected), waiting (not yet answered), and withdrawn (cancelled or failed).
* **Time to first contact**, in days, from `authoredOn` to the earliest completed first-contact
  or conversation Communication based on the referral: the median and the 90th percentile
  (nearest rank: the smallest time at least 90% of people were reached within) over those
  reached, and how many are not reached yet.
* **Reasons**: referrals per reason (a referral with two reasons counts under both).
* **Onward connections** made from these referrals, by directory need (a service that meets two
  needs counts under both) and outcome (the connection Task's), and by outcome alone (once each).
* **Wellbeing change**: for each referral with a baseline and a later response, latest minus
  baseline; the mean and how many, for the SWEMWBS metric score and each ONS4 question.
* **Who is referred, compared with the place**: the people referred (each once, aged 65 or more
  on the day of their first referral in the period) against everyone in the place aged 65 or
  more on the end day and alive then, by age band, sex, ethnic group (NHS high-level groups)
  and IMD decile (1 = most deprived), with how many referred people were under 65.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from careweave.coordination import codes
from careweave.coordination.record import referenced_id
from careweave.population.ethnicity import ETHNIC_GROUPS, ethnic_group
from careweave.population.flatten import ethnic_category
from careweave.population.person_measures import imd_decile
from careweave.social_prescribing.connections import is_connection, outcome_of
from careweave.social_prescribing.directory_codes import NEED_SYSTEM, NEEDS
from careweave.social_prescribing.pathway_codes import (
    COMMUNICATION_SYSTEM,
    OUTCOMES,
    REASON_SYSTEM,
    REASONS,
)
from careweave.social_prescribing.pathway_problems import PathwayProblem
from careweave.social_prescribing.pathway_record import (
    is_social_prescribing_referral,
    moment_of,
    uk_day,
)
from careweave.social_prescribing.wellbeing import ONS4_ITEMS, change_from

AGE_BANDS: Final = ("65-69", "70-74", "75-79", "80-84", "85 and over")
SEXES: Final = ("Female", "Male", "Other", "Not known")
IMD_DECILES: Final = (*(str(d) for d in range(1, 11)), "Not known")
TRIAGE: Final = ("taken on", "not taken on", "waiting", "withdrawn")
_TRIAGE_OF: Final[Mapping[str, str]] = {
    "accepted": "taken on",
    "in-progress": "taken on",
    "completed": "taken on",
    "rejected": "not taken on",
    "cancelled": "withdrawn",
    "failed": "withdrawn",
}


@dataclass(frozen=True)
class Breakdown:
    """One characteristic (age band, sex ...): each group's count among the people referred
    and in the place's 65+ population, in the order the groups are listed."""

    name: str
    groups: tuple[str, ...]
    referred: Mapping[str, int]
    population: Mapping[str, int]

    @property
    def referred_total(self) -> int:
        return sum(self.referred.values())

    @property
    def population_total(self) -> int:
        return sum(self.population.values())


@dataclass(frozen=True)
class MeanChange:
    n: int
    mean: float | None


@dataclass(frozen=True)
class ServiceFigures:
    """The service's exact figures for the period (see the module docstring)."""

    service_organisation_id: str
    start: date
    end: date
    referrals_in: int
    self_referrals: int
    triage: Mapping[str, int]
    reached: int
    not_reached_yet: int
    days_to_first_contact_median: float | None
    days_to_first_contact_p90: float | None
    reasons: Mapping[str, int]
    connections_by_need: Mapping[str, Mapping[str, int]]
    connections_by_outcome: Mapping[str, int]
    swemwbs_change: MeanChange
    ons4_change: Mapping[str, MeanChange]
    breakdowns: tuple[Breakdown, ...]
    referred_under_65: int


def nearest_rank(values: Sequence[float], percentile: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `percentile` per cent of
    the values at or below it."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _birth(patient: Mapping[str, Any]) -> date | None:
    born = patient.get("birthDate")
    if isinstance(born, str) and len(born) == 10:
        try:
            return date.fromisoformat(born)
        except ValueError:
            return None
    return None


def _died_by(patient: Mapping[str, Any], day: date) -> bool:
    if patient.get("deceasedBoolean") is True:
        return True
    died = uk_day(patient.get("deceasedDateTime"))
    return died is not None and died <= day


def age_band(age: int) -> str:
    if age >= 85:
        return "85 and over"
    low = 65 + (age - 65) // 5 * 5
    return f"{low}-{low + 4}"


def _sex(patient: Mapping[str, Any]) -> str:
    return {"female": "Female", "male": "Male", "other": "Other"}.get(
        str(patient.get("gender") or ""), "Not known"
    )


def _decile(patient: Mapping[str, Any]) -> str:
    decile = imd_decile(patient)
    return str(decile) if decile is not None else "Not known"


def _groups_of(patient: Mapping[str, Any], age: int) -> dict[str, str]:
    return {
        "Age band": age_band(age),
        "Sex": _sex(patient),
        "Ethnic group": ethnic_group(ethnic_category(patient)),
        "IMD decile": _decile(patient),
    }


_GROUPS: Final = {
    "Age band": AGE_BANDS,
    "Sex": SEXES,
    "Ethnic group": ETHNIC_GROUPS,
    "IMD decile": IMD_DECILES,
}


def _cohort(
    requests: Sequence[Mapping[str, Any]], service_organisation_id: str, start: date, end: date
) -> list[Mapping[str, Any]]:
    def in_cohort(request: Mapping[str, Any]) -> bool:
        performer = (request.get("performer") or [None])[0]
        day = uk_day(request.get("authoredOn"))
        return (
            is_social_prescribing_referral(request)
            and request.get("status") != "entered-in-error"
            and referenced_id(performer, "Organization") == service_organisation_id
            and day is not None
            and start <= day <= end
        )

    return [r for r in requests if in_cohort(r)]


def _tasks_by_focus(tasks: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each ServiceRequest's newest `fulfill` Task."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for task in tasks:
        focus = referenced_id(task.get("focus"), "ServiceRequest")
        if focus and codes.has_code(task.get("code"), *codes.FULFIL):
            grouped.setdefault(focus, []).append(task)
    return {
        focus: max(
            listed,
            key=lambda t: (
                str(t.get("authoredOn") or ""),
                int((t.get("meta") or {}).get("versionId", 0)),
            ),
        )
        for focus, listed in grouped.items()
    }


def _days_to_first_contact(
    cohort: Sequence[Mapping[str, Any]], communications: Sequence[Mapping[str, Any]]
) -> list[float]:
    ids = {str(r["id"]) for r in cohort}
    first: dict[str, datetime] = {}
    for communication in communications:
        kind = codes.code_in(communication.get("category"), COMMUNICATION_SYSTEM)
        sent = moment_of(communication.get("sent"))
        if kind not in ("first-contact", "conversation") or sent is None:
            continue
        if communication.get("status") != "completed":
            continue
        for based in communication.get("basedOn") or ():
            referral = referenced_id(based, "ServiceRequest")
            if referral in ids and (referral not in first or sent < first[referral]):
                first[referral] = sent
    days = []
    for request in cohort:
        reached, made = first.get(str(request["id"])), moment_of(request.get("authoredOn"))
        if reached is not None and made is not None:
            days.append(max(0.0, (reached - made).total_seconds() / 86400))
    return days


def _reasons(cohort: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    reasons = Counter({code: 0 for code in REASONS})
    for request in cohort:
        for code in {codes.code_in(c, REASON_SYSTEM) for c in request.get("reasonCode") or ()}:
            if code is not None and code in REASONS:
                reasons[code] += 1
    return dict(reasons)


def _connections(
    requests: Sequence[Mapping[str, Any]],
    cohort_ids: set[str],
    tasks: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    by_need: dict[str, Counter[str]] = {}
    by_outcome = Counter({code: 0 for code in OUTCOMES})
    for connection in requests:
        based = {referenced_id(b, "ServiceRequest") for b in connection.get("basedOn") or ()}
        task = tasks.get(str(connection["id"]))
        if not is_connection(connection) or not based & cohort_ids or task is None:
            continue
        code = outcome_of(task)
        by_outcome[code] += 1
        needs = {codes.code_in(c, NEED_SYSTEM) for c in connection.get("category") or ()}
        for need in NEEDS:
            if need in needs:
                by_need.setdefault(need, Counter())[code] += 1
    return {need: dict(counts) for need, counts in by_need.items()}, dict(by_outcome)


def _wellbeing(
    responses: Sequence[Mapping[str, Any]], cohort_ids: set[str]
) -> tuple[MeanChange, dict[str, MeanChange]]:
    by_referral: dict[str, list[Mapping[str, Any]]] = {}
    for response in responses:
        for based in response.get("basedOn") or ():
            referral = referenced_id(based, "ServiceRequest")
            if referral in cohort_ids:
                by_referral.setdefault(referral, []).append(response)
    swemwbs: list[float] = []
    ons4: dict[str, list[int]] = {item: [] for item in ONS4_ITEMS}
    for found in by_referral.values():
        change = change_from(found)
        if change.swemwbs is not None and change.swemwbs.change is not None:
            swemwbs.append(change.swemwbs.change)
        for item in change.ons4:
            if item.change is not None:
                ons4[item.item].append(item.change)

    def mean(values: Sequence[float]) -> MeanChange:
        return MeanChange(len(values), statistics.fmean(values) if values else None)

    return mean(swemwbs), {item: mean(values) for item, values in ons4.items()}


def _breakdowns(
    cohort: Sequence[Mapping[str, Any]], patients: Sequence[Mapping[str, Any]], end: date
) -> tuple[tuple[Breakdown, ...], int]:
    by_id = {str(p["id"]): p for p in patients}
    first_referral: dict[str, date] = {}
    for request in cohort:
        patient_id = referenced_id(request.get("subject"), "Patient")
        day = uk_day(request.get("authoredOn"))
        if patient_id and day and day < first_referral.get(patient_id, date.max):
            first_referral[patient_id] = day
    referred: dict[str, Counter[str]] = {name: Counter() for name in _GROUPS}
    under_65 = 0
    for patient_id, day in first_referral.items():
        patient = by_id.get(patient_id)
        born = _birth(patient) if patient else None
        if patient is None or born is None:
            continue
        if age_on(born, day) < 65:
            under_65 += 1
            continue
        for name, group in _groups_of(patient, age_on(born, day)).items():
            referred[name][group] += 1
    population: dict[str, Counter[str]] = {name: Counter() for name in _GROUPS}
    for patient in patients:
        born = _birth(patient)
        if born is None or patient.get("active") is False or _died_by(patient, end):
            continue
        if age_on(born, end) >= 65:
            for name, group in _groups_of(patient, age_on(born, end)).items():
                population[name][group] += 1
    breakdowns = tuple(
        Breakdown(
            name,
            groups,
            {g: referred[name][g] for g in groups},
            {g: population[name][g] for g in groups},
        )
        for name, groups in _GROUPS.items()
    )
    return breakdowns, under_65


def figures_from(
    resources: Iterable[Mapping[str, Any]],
    service_organisation_id: str,
    start: date,
    end: date,
) -> ServiceFigures:
    """The service's figures for the period from these resources (Patients, ServiceRequests,
    Tasks, Communications and QuestionnaireResponses of the place, in any order)."""
    if end < start:
        raise PathwayProblem("The period must end on or after the day it starts", "end")
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
    requests = by_type.get("ServiceRequest", [])
    cohort = _cohort(requests, service_organisation_id, start, end)
    cohort_ids = {str(r["id"]) for r in cohort}
    tasks = _tasks_by_focus(by_type.get("Task", []))
    triage = Counter({name: 0 for name in TRIAGE})
    for request in cohort:
        status = str(tasks.get(str(request["id"]), {}).get("status"))
        triage[_TRIAGE_OF.get(status, "waiting")] += 1
    days = _days_to_first_contact(cohort, by_type.get("Communication", []))
    by_need, by_outcome = _connections(requests, cohort_ids, tasks)
    swemwbs, ons4 = _wellbeing(by_type.get("QuestionnaireResponse", []), cohort_ids)
    breakdowns, under_65 = _breakdowns(cohort, by_type.get("Patient", []), end)
    return ServiceFigures(
        service_organisation_id=service_organisation_id,
        start=start,
        end=end,
        referrals_in=len(cohort),
        self_referrals=sum(
            1
            for r in cohort
            if str((r.get("requester") or {}).get("reference") or "").startswith("Patient/")
        ),
        triage=dict(triage),
        reached=len(days),
        not_reached_yet=len(cohort) - len(days),
        days_to_first_contact_median=statistics.median(days) if days else None,
        days_to_first_contact_p90=nearest_rank(days, 90) if days else None,
        reasons=_reasons(cohort),
        connections_by_need=by_need,
        connections_by_outcome=by_outcome,
        swemwbs_change=swemwbs,
        ons4_change=ons4,
        breakdowns=breakdowns,
        referred_under_65=under_65,
    )
