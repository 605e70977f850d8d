"""People in hospital on the record date, their discharge to assess, and recent discharges.

Someone in hospital now has an emergency admission in progress (an Encounter with no end) and a
discharge-to-assess Task owned by the hospital's integrated discharge team: the pathway, the day
they were medically optimised (about half of them) and the planned discharge day as inputs,
the current delay reason as `statusReason`, and one Task per dependency (a package of care, a
community bed, a care home place, equipment, an assessment, medicines, transport) `partOf` it
and owned by whoever must deliver it. Someone discharged in the last 14 days has the finished
discharge Task, "first 48 hours" Tasks for the practice, community nursing and social care, and
a post-discharge check for their coordinator (or the practice). The shapes are those of
docs/care-coordination.md, "Hospital discharge"; the numbers are in docs/synthetic-data.md,
"Care coordination".
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Final

from careweave.coordination import codes
from careweave.coordination.codes import concept
from careweave.synth.coordination_referrals import referral
from careweave.synth.coordination_situation import (
    Resources,
    Situation,
    Stay,
    date_of,
    day,
    pick,
    reference,
)
from careweave.synth.draws import Weighted
from careweave.synth.hospital import (
    admission_in_progress,
    admission_reason,
    days_in_hospital_so_far,
    in_hospital_chance,
)
from careweave.synth.model import StaffMember

DEPENDENCY_SYSTEM: Final = codes.CAREWEAVE_CODES + "discharge-dependency"
"""What a discharge waits for (Task.performerType of a discharge-dependency Task). Not in
careweave.coordination.codes: the same system and codes as careweave.coordination.discharge."""
DEPENDENCIES: Final[Mapping[str, str]] = {
    "care-package": "Package of care at home",
    "reablement": "Reablement",
    "equipment": "Equipment or adaptations",
    "assessment": "Assessment",
    "community-bed": "Community bed",
    "care-home-place": "Care home place",
    "transport": "Transport home",
    "medicines": "Medicines to take home",
}
PATHWAYS: Final[Mapping[str, str]] = {
    "0": "Pathway 0: home, no new support",
    "1": "Pathway 1: home with new or extra support",
    "2": "Pathway 2: short-term bed-based recovery",
    "3": "Pathway 3: long-term bed-based care",
}
PATHWAY_SHARES: Final[Mapping[str, float]] = {"0": 0.50, "1": 0.45, "2": 0.04, "3": 0.01}
"""Discharge to assess pathway shares for people 65+ (DHSC hospital discharge guidance, the
Bolton planning model: 50% / 45% / 4% / 1%; ../shared/standards.md). People who live in a care
home go back to it on pathway 0, as the guidance counts them."""
_PATHWAY: Final = Weighted(tuple(PATHWAY_SHARES), tuple(PATHWAY_SHARES.values()))
DELAY_REASONS: Final[Mapping[str, str]] = {
    "awaiting-care-package": "Waiting for a package of care",
    "care-home-placement": "Waiting for a care home place",
    "equipment": "Waiting for equipment or adaptations",
    "assessment": "Waiting for an assessment",
    "community-bed": "Waiting for a community bed",
    "family-choice": "Waiting for the person or family to choose",
    "housing": "Housing",
    "other": "Other",
}
DELAY_BY_PATHWAY: Final[Mapping[str, Weighted[str]]] = {
    "0": Weighted(("assessment", "equipment", "other", "housing"), (40, 20, 30, 10)),
    "1": Weighted(
        ("awaiting-care-package", "assessment", "equipment", "family-choice", "other"),
        (55, 20, 15, 5, 5),
    ),
    "2": Weighted(("community-bed", "assessment", "family-choice"), (70, 20, 10)),
    "3": Weighted(("care-home-placement", "assessment", "family-choice"), (65, 15, 20)),
}
"""Why a medically optimised person is still in, by pathway (approx., from memory of NHS
England's discharge delay reason returns: waiting for a package of care, a bed or a care home
place dominate after pathway 0)."""
WAITED_FOR: Final[Mapping[str, tuple[str, ...]]] = {
    "awaiting-care-package": ("care-package", "reablement"),
    "care-home-placement": ("care-home-place",),
    "equipment": ("equipment",),
    "assessment": ("assessment",),
    "community-bed": ("community-bed",),
}
ACUTE_PHASE_MEDIAN: Final = 8.0
ACUTE_PHASE_SIGMA: Final = 0.8
"""Days from admission to being medically optimised: lognormal, median 8. Set beside the days
already in (median 8, sigma 1), 52% of the people in hospital are medically optimised and the
rest of their stay is delay (assumption, chosen so that about half have a date)."""
MEDICALLY_OPTIMISED_SHARE: Final = 52.4
"""The share of people in hospital with a medically optimised date that the two distributions
above give (percent, computed by simulation; the statistics table's target)."""
PLANNED_DISCHARGE_SHARE: Final = 0.6
"""Share of the medically optimised with a planned discharge day, 0-10 days ahead (assumption)."""
RECENT_DISCHARGE_DAYS: Final = 14
"""A discharge in the last 14 days still has its first-48-hours tasks and check (assumption)."""
FIRST_48_HOURS_DONE: Final = 0.85
CHECK_DONE: Final = 0.8
"""Shares of due first-48-hours tasks and post-discharge checks completed (assumption)."""

_DISCHARGE_TYPE: Final = concept(codes.TASK_TYPE, "discharge-to-assess", "Discharge to assess")
_DEPENDENCY_TYPE: Final = concept(codes.TASK_TYPE, "discharge-dependency", "Discharge dependency")
_FIRST_48_TYPE: Final = concept(codes.TASK_TYPE, "first-48-hours", "First 48 hours at home")
_CHECK_TYPE: Final = concept(
    codes.TASK_TYPE, "post-discharge-check", "Check the first 48 hours at home"
)


def draw_admission(situation: Situation, rng: random.Random) -> int | None:
    """The day (ordinal) an admission still going on began, or None: not in hospital now.

    An admission cannot begin before the end of the person's last hospital encounter; someone
    whose last stay ended on the record date is not in again.
    """
    if rng.random() >= in_hospital_chance(situation.category):
        return None
    admitted = max(situation.as_of - days_in_hospital_so_far(rng), situation.last_hospital_day + 1)
    return admitted if admitted <= situation.as_of else None


def _input(kind: str, display: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"type": concept(codes.DISCHARGE_INPUT, kind, display), **value}


def _pathway_input(pathway: str) -> dict[str, Any]:
    return _input(
        "pathway",
        "Discharge pathway",
        {"valueCodeableConcept": concept(codes.D2A_PATHWAY, pathway, PATHWAYS[pathway])},
    )


def _discharge_coordinator(situation: Situation, rng: random.Random) -> dict[str, str]:
    team = situation.services.in_role("discharge-coordinator")
    if team:
        return pick(team, rng).role_reference
    return situation.services.place.discharge_team.reference


def _task(
    out: Resources,
    situation: Situation,
    code: dict[str, Any],
    description: str,
    status: str,
    authored: int,
    modified: int,
    requester: dict[str, str],
    owner: dict[str, str],
) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": out.new_id("t"),
        "status": status,
        "intent": "order",
        "code": code,
        "description": description,
        "for": situation.subject,
        "authoredOn": day(authored),
        "lastModified": day(modified),
        "requester": requester,
        "owner": owner,
    }


def in_hospital_now(
    situation: Situation, out: Resources, admitted: int, rng: random.Random
) -> None:
    """The admission in progress, its discharge-to-assess Task and what the discharge waits for."""
    place = situation.services.place
    as_of = situation.as_of
    encounter = out.add(
        admission_in_progress(
            out.new_id("ip"),
            situation.subject,
            admitted,
            admission_reason(situation.problems, rng),
            place,
        )
    )
    pathway = "0" if situation.care_home is not None else _PATHWAY.draw(rng)
    acute = rng.lognormvariate(0, ACUTE_PHASE_SIGMA) * ACUTE_PHASE_MEDIAN
    optimised = admitted + int(acute) if admitted + int(acute) <= as_of else None
    requester = _discharge_coordinator(situation, rng)
    started = min(as_of, admitted + rng.randint(0, 2))
    task = _task(
        out,
        situation,
        _DISCHARGE_TYPE,
        "Discharge to assess",
        "in-progress",
        started,
        max(started, as_of - rng.randint(0, 3)),
        requester,
        place.discharge_team.reference,
    )
    task["priority"] = "urgent"
    task["focus"] = reference("Encounter", encounter["id"])
    task["encounter"] = reference("Encounter", encounter["id"])
    inputs = [_pathway_input(pathway)]
    reason: str | None = None
    if optimised is not None:
        inputs.append(
            _input("medically-optimised", "Medically optimised", {"valueDateTime": day(optimised)})
        )
        if rng.random() < PLANNED_DISCHARGE_SHARE:
            inputs.append(
                _input(
                    "planned-discharge",
                    "Planned discharge",
                    {"valueDate": day(as_of + rng.randint(0, 10))},
                )
            )
        if optimised < as_of:
            reason = DELAY_BY_PATHWAY[pathway].draw(rng)
            task["statusReason"] = concept(
                codes.DISCHARGE_DELAY_REASON, reason, DELAY_REASONS[reason]
            )
    task["input"] = inputs
    out.add(task)
    _dependencies(situation, out, task, pathway, optimised, reason, requester, rng)
    if pathway in ("1", "2") and rng.random() < 0.4:
        service = "community-nursing" if rng.random() < 0.6 else "social-care-assessment"
        referral(
            situation,
            out,
            service,
            requester,
            started + rng.randint(0, max(0, as_of - started)),
            rng,
            part_of=task["id"],
        )


def _dependency_owner(situation: Situation, kind: str, rng: random.Random) -> dict[str, str]:
    place = situation.services.place
    if kind in ("medicines", "transport"):
        return place.acute_trust.reference
    if kind in ("reablement", "equipment", "community-bed"):
        return place.community_trust.reference
    if kind == "care-home-place" and place.care_homes and rng.random() < 0.5:
        return pick(place.care_homes, rng).organisation.reference  # a home has offered a place
    if kind == "assessment" and situation.care_home is not None:
        return situation.care_home.organisation.reference  # the home confirms it can meet needs
    return place.council.reference


def _needed(situation: Situation, pathway: str, rng: random.Random) -> list[str]:
    """What the discharge waits for, by pathway (assumption: the usual dependencies of each)."""
    chances: tuple[tuple[str, float], ...]
    if pathway == "0":
        chances = (("assessment", 0.6),) if situation.care_home is not None else ()
        chances += (("medicines", 0.5), ("transport", 0.3))
    elif pathway == "1":
        package = 0.5 if situation.home_care_since is not None else 0.6
        chances = (
            ("care-package", package),
            ("reablement", 0.4),
            ("equipment", 0.4),
            ("assessment", 0.3),
        )
    elif pathway == "2":
        chances = (("community-bed", 1.0), ("assessment", 0.4))
    else:
        chances = (("care-home-place", 1.0), ("assessment", 0.6))
    return [kind for kind, chance in chances if rng.random() < chance]


def _dependencies(
    situation: Situation,
    out: Resources,
    discharge: dict[str, Any],
    pathway: str,
    optimised: int | None,
    reason: str | None,
    requester: dict[str, str],
    rng: random.Random,
) -> None:
    as_of = situation.as_of
    kinds = _needed(situation, pathway, rng)
    waited_for = WAITED_FOR.get(reason or "", ())
    if reason in WAITED_FOR and not set(waited_for) & set(kinds):
        kinds.append(waited_for[0])  # the delay reason always has a task behind it
    authored = date_of(discharge["authoredOn"])
    for kind in kinds:
        if kind in waited_for:
            status = "in-progress" if rng.random() < 0.5 else "requested"
        elif rng.random() < (0.5 if optimised is not None else 0.2):
            status = "completed"
        else:
            status = pick(("requested", "accepted", "in-progress"), rng)
        made = authored + rng.randint(0, max(0, as_of - authored))
        task = _task(
            out,
            situation,
            _DEPENDENCY_TYPE,
            DEPENDENCIES[kind],
            status,
            made,
            max(made, as_of - rng.randint(0, 4)),
            requester,
            _dependency_owner(situation, kind, rng),
        )
        task["performerType"] = [concept(DEPENDENCY_SYSTEM, kind, DEPENDENCIES[kind])]
        task["partOf"] = [reference("Task", discharge["id"])]
        task["focus"] = discharge["focus"]
        task["restriction"] = {"period": {"end": day(as_of + rng.randint(-3, 10))}}
        out.add(task)


def _pathway_after(situation: Situation, stay: Stay, rng: random.Random) -> str:
    if stay.disposition == "long":
        return "3"
    if stay.disposition == "rehab":
        return "2"
    if situation.care_home is not None:
        return "0"
    return "0" if rng.random() < 0.5 / 0.95 else "1"


def recently_discharged(
    situation: Situation,
    out: Resources,
    stay: Stay,
    coordinator: StaffMember | None,
    rng: random.Random,
) -> None:
    """The finished discharge of a stay that ended in the last 14 days, the first-48-hours tasks
    of whoever acts at home, and the check that they did."""
    place = situation.services.place
    as_of = situation.as_of
    pathway = _pathway_after(situation, stay, rng)
    requester = _discharge_coordinator(situation, rng)
    started = min(stay.end, stay.start + rng.randint(0, 2))
    discharge = _task(
        out,
        situation,
        _DISCHARGE_TYPE,
        "Discharge to assess",
        "completed",
        started,
        stay.end,
        requester,
        place.discharge_team.reference,
    )
    discharge["priority"] = "urgent"
    discharge["focus"] = reference("Encounter", stay.encounter_id)
    discharge["encounter"] = reference("Encounter", stay.encounter_id)
    discharge["executionPeriod"] = {"start": day(started), "end": day(stay.end)}
    optimised = max(stay.start, stay.end - rng.randint(0, 3))
    discharge["input"] = [
        _pathway_input(pathway),
        _input("medically-optimised", "Medically optimised", {"valueDateTime": day(optimised)}),
    ]
    out.add(discharge)
    owners = [(situation.practice, "Call within 48 hours of discharge and check medicines")]
    if pathway in ("1", "2"):
        owners.append((place.community_trust, "First visit at home within 48 hours of discharge"))
    if situation.home_care_since is not None or pathway == "1":
        owners.append((place.council, "Restart or start the package of care at home"))
    due = stay.end + 2
    for organisation, words in owners:
        if due < as_of:
            status = "completed" if rng.random() < FIRST_48_HOURS_DONE else "in-progress"
        else:
            status = pick(("requested", "accepted", "completed"), rng)
        task = _task(
            out,
            situation,
            _FIRST_48_TYPE,
            words,
            status,
            stay.end,
            min(as_of, stay.end + rng.randint(0, 3)),
            requester,
            organisation.reference,
        )
        task["priority"] = "urgent"
        task["partOf"] = [reference("Task", discharge["id"])]
        task["focus"] = reference("Encounter", stay.encounter_id)
        task["restriction"] = {"period": {"end": day(due)}}
        out.add(task)
    checker = (
        coordinator.role_reference if coordinator is not None else situation.practice.reference
    )
    check_due = stay.end + 3
    done = check_due < as_of and rng.random() < CHECK_DONE
    check = _task(
        out,
        situation,
        _CHECK_TYPE,
        "Check that the first 48 hours at home went as planned",
        "completed" if done else "requested",
        stay.end,
        min(as_of, check_due + rng.randint(0, 2)) if done else stay.end,
        requester,
        checker,
    )
    check["focus"] = reference("Task", discharge["id"])
    check["restriction"] = {"period": {"end": day(check_due)}}
    out.add(check)


def recent_stays(situation: Situation) -> list[Stay]:
    """Stays that ended, alive, in the last `RECENT_DISCHARGE_DAYS` days."""
    since = situation.as_of - RECENT_DISCHARGE_DAYS
    return [s for s in situation.stays if s.end >= since and s.disposition != "exp"]
