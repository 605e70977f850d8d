"""Referrals between the place's organisations: a ServiceRequest and the Task that fulfils it.

A referral goes to community nursing or the falls service (the community trust), for a social
care or occupational therapy assessment (the council), to social prescribing (the network's link
workers) or to a voluntary organisation (befriending, carers' support). Its Task's status is the
workflow: waiting (`requested`, `received`), `accepted` and `in-progress` (often assigned to a
named nurse, link worker or social worker), `rejected` with a reason (the ServiceRequest stays
`active` until the referrer closes it), `completed` (and the ServiceRequest too) or `cancelled`
(the ServiceRequest `revoked`). A waiting referral past its respond-by date is overdue. The
shapes are those of docs/care-coordination.md, "Referrals and tasks across organisations"; the
numbers are in docs/synthetic-data.md, "Care coordination".
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from careweave.coordination import codes
from careweave.coordination.codes import coding, concept
from careweave.synth.coordination_situation import Resources, Situation, day, pick, reference
from careweave.synth.draws import Weighted
from careweave.synth.model import Organisation, StaffMember

SOCIAL_PRESCRIBING: Final = "social-prescribing"


@dataclass(frozen=True)
class Service:
    """A service people are referred to: its code, who runs it, how fast it answers."""

    key: str
    display: str
    respond_days: int  # respond by this many days after the referral (routine)
    assignees: tuple[str, ...]  # staff roles a referral may be assigned to once accepted
    reasons: tuple[str, ...]  # why people are referred (the referrer's words)
    refusals: tuple[str, ...]  # why the service turns a referral down


SERVICES: Final[Mapping[str, Service]] = {
    service.key: service
    for service in (
        Service(
            "community-nursing",
            "Community nursing",
            7,
            ("community-nurse", "district-nurse"),
            (
                "Leg ulcer needs dressing twice a week; housebound.",
                "Help to manage insulin at home.",
                "Pressure area care: now spends most of the day in bed.",
                "Catheter care at home.",
                "Wound check after discharge from hospital.",
                "Blood tests at home: cannot get to the surgery.",
            ),
            (
                "Not housebound: please book with the practice nurse.",
                "Already on our caseload: referral merged with the open one.",
            ),
        ),
        Service(
            "falls-service",
            "Falls prevention service",
            21,
            (),
            (
                "Two falls in the last three months; frightened of falling again.",
                "Fall with a long lie last month.",
                "Unsteady on her feet and holding on to furniture to get around.",
            ),
            (
                "Needs a GP review of lying and standing blood pressure first.",
                "Outside our criteria: no fall in the last 12 months.",
            ),
        ),
        Service(
            "social-care-assessment",
            "Adult social care needs assessment",
            28,
            ("social-worker",),
            (
                "Struggling to wash and dress since the last admission.",
                "Carer is exhausted and asks for help at home.",
                "Not managing meals and losing weight.",
                "Needs more help at home than the family can give.",
            ),
            (
                "Has a current assessment: passed to the review team.",
                "Declined an assessment when we called.",
            ),
        ),
        Service(
            "occupational-therapy",
            "Occupational therapy assessment",
            28,
            ("occupational-therapist",),
            (
                "Cannot get in and out of the bath.",
                "Difficulty with the stairs: needs a second rail.",
                "Needs a raised toilet seat and a perching stool.",
            ),
            ("Equipment already provided last month.",),
        ),
        Service(
            SOCIAL_PRESCRIBING,
            "Social prescribing",
            14,
            ("link-worker",),
            (
                "Lonely since her husband died; would like to meet people.",
                "Wants help with money worries and a benefits check.",
                "Would like to get back to the things he used to enjoy.",
                "Feeling low and cut off; keen to get out more.",
            ),
            (
                "Declined when contacted.",
                "Could not reach the person after three attempts.",
            ),
        ),
        Service(
            "befriending",
            "Befriending",
            14,
            ("voluntary-sector-worker",),
            (
                "Lives alone and sees nobody most days.",
                "Would like a weekly visit or a phone call.",
            ),
            ("No volunteer free in this area at the moment.",),
        ),
        Service(
            "carers-support",
            "Support for unpaid carers",
            14,
            ("voluntary-sector-worker",),
            (
                "The main carer needs a break and someone to talk to.",
                "Daughter caring alone; asks about support and a carer's break.",
            ),
            ("The carer declined support for now.",),
        ),
    )
}
"""Codes are local (`referral-service`, careweave.coordination.codes.REFERRAL_SERVICE) except
social prescribing, which also carries SNOMED CT 871731000000106 (checked; shared/standards.md).
The local codes are new: careweave.coordination.codes names the system, not its codes."""

STATUSES: Final = Weighted(
    ("requested", "received", "accepted", "in-progress", "rejected", "completed", "cancelled"),
    (28, 4, 18, 15, 8, 22, 5),
)
"""Where a referral made in the last ~11 weeks stands on the record date (assumption)."""
ASSIGNED: Final = 0.7
"""Share of accepted referrals assigned to a named member of staff (assumption)."""
ACCEPTED_OVERDUE: Final = 0.15
"""Share of accepted referrals whose first contact is overdue (assumption)."""
URGENT: Final = {"community-nursing": 0.15, "social-care-assessment": 0.1}
"""Share of referrals marked urgent (respond within 2 days), by service (assumption)."""

REFERRAL_CHANCE: Final = {"fit": 0.015, "mild": 0.04, "moderate": 0.10, "severe": 0.18}
"""Chance that a living person 65+ was referred in the last ~11 weeks, by eFI category
(assumption, tuned so that about 4-5% of people 65+ have a referral on the record)."""
COORDINATED_FACTOR: Final = 2.0
"""People with a named coordinator are referred twice as often (assumption)."""
CARE_HOME_FACTOR: Final = 0.5
"""Care home residents are referred half as often: their home arranges most of their care."""
SECOND_REFERRAL: Final = 0.15


def _code(service: Service) -> dict[str, Any]:
    local = coding(codes.REFERRAL_SERVICE, service.key, service.display)
    if service.key == SOCIAL_PRESCRIBING:
        system, code = codes.SOCIAL_PRESCRIBING_REFERRAL
        return {
            "coding": [coding(system, code, "Referral to social prescribing service"), local],
            "text": service.display,
        }
    return {"coding": [local], "text": service.display}


def _performer(situation: Situation, service: Service) -> Organisation | None:
    place = situation.services.place
    voluntary = situation.services.voluntary
    return {
        "community-nursing": place.community_trust,
        "falls-service": place.community_trust,
        "social-care-assessment": place.council,
        "occupational-therapy": place.council,
        SOCIAL_PRESCRIBING: situation.person.practice.pcn,
        "befriending": situation.services.befriending_for(situation.person.neighbourhood.town),
        "carers-support": voluntary.carers,
    }[service.key]


def _assignees(
    situation: Situation, service: Service, organisation: Organisation
) -> list[StaffMember]:
    found: list[StaffMember] = []
    for role in service.assignees:
        staff = (
            situation.practice_staff(role)
            if role == "link-worker"
            else situation.services.in_role(role)
        )
        found.extend(m for m in staff if m.organisation == organisation)
    return found


def _due(status: str, respond_by: int, as_of: int, rng: random.Random) -> int:
    """When the Task is due: the respond-by date while the referral waits (or once closed); an
    accepted referral's date for the first contact, past for some (`ACCEPTED_OVERDUE`)."""
    if status not in ("accepted", "in-progress"):
        return respond_by
    if rng.random() < ACCEPTED_OVERDUE:
        return as_of - rng.randint(1, 14)
    return as_of + rng.randint(1, 21)


def _authored(status: str, service: Service, rng: random.Random, as_of: int) -> int:
    if status in ("requested", "received"):
        return as_of - rng.randint(0, int(service.respond_days * 1.4))
    if status == "completed":
        return as_of - rng.randint(7, 75)
    return as_of - rng.randint(1, 60)


def referral(
    situation: Situation,
    out: Resources,
    key: str,
    requester: dict[str, str],
    authored: int | None,
    rng: random.Random,
    *,
    part_of: str | None = None,
) -> None:
    """One referral to `key` (a `SERVICES` key), made on `authored` (None: drawn from its status),
    with the Task that fulfils it (`partOf` a discharge Task when made from one)."""
    service = SERVICES[key]
    organisation = _performer(situation, service)
    if organisation is None:
        return
    as_of = situation.as_of
    status = STATUSES.draw(rng)
    made = _authored(status, service, rng, as_of) if authored is None else authored
    if status == "completed" and made > as_of - 3:
        status = "in-progress"
    urgent = rng.random() < URGENT.get(key, 0.0)
    respond_by = made + (2 if urgent else service.respond_days)
    priority = "urgent" if urgent else "routine"
    why = pick(service.reasons, rng)
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": out.new_id("rf"),
        "status": {"completed": "completed", "cancelled": "revoked"}.get(status, "active"),
        "intent": "order",
        "category": [concept(*codes.REFERRAL_CATEGORY, "Patient referral")],
        "priority": priority,
        "code": _code(service),
        "subject": situation.subject,
        "authoredOn": day(made),
        "requester": requester,
        "performer": [organisation.reference],
        "reasonCode": [{"text": why}],
        "note": [{"time": day(made), "text": why}],
    }
    out.add(request)
    owner = organisation.reference
    staff = _assignees(situation, service, organisation)
    if status in ("accepted", "in-progress", "completed") and staff and rng.random() < ASSIGNED:
        owner = pick(staff, rng).role_reference
    changed = min(as_of, made + rng.randint(0, 10)) if status != "requested" else made
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": out.new_id("t"),
        "status": status,
        "intent": "order",
        "priority": priority,
        "code": concept(*codes.FULFIL, "Fulfill the focal request"),
        "description": f"Referral: {service.display.lower()}",
        "focus": reference("ServiceRequest", request["id"]),
        "for": situation.subject,
        "authoredOn": day(made),
        "lastModified": day(changed),
        "requester": requester,
        "owner": owner,
        "restriction": {"period": {"end": day(_due(status, respond_by, as_of, rng))}},
    }
    if part_of is not None:
        task["partOf"] = [reference("Task", part_of)]
    if status == "rejected":
        task["statusReason"] = {"text": pick(service.refusals, rng)}
    if status in ("in-progress", "completed"):
        started = min(as_of, made + rng.randint(0, 7))
        task["executionPeriod"] = {"start": day(started)}
        if status == "completed":
            task["executionPeriod"]["end"] = day(min(as_of, started + rng.randint(1, 30)))
            task["lastModified"] = task["executionPeriod"]["end"]
    out.add(task)


def _weights(situation: Situation) -> dict[str, float]:
    """How likely each service is for this person, from their situation (assumption)."""
    at_home = situation.care_home is None
    nursing_home = situation.care_home is not None and situation.care_home.nursing
    frail = situation.category in ("moderate", "severe")
    return {
        "community-nursing": 0.0
        if nursing_home
        else (
            3.0
            if situation.housebound or "skin_ulcer" in situation.problems
            else (1.5 if situation.category == "severe" else 0.6)
        ),
        "falls-service": 3.0 if {"falls", "fragility_fracture"} & situation.problems else 0.0,
        "social-care-assessment": 2.0
        if at_home and frail and situation.home_care_since is None
        else (0.6 if at_home else 0.0),
        "occupational-therapy": 1.5
        if at_home and "mobility_problems" in situation.problems
        else 0.0,
        SOCIAL_PRESCRIBING: (3.0 if situation.lonely else 0.5) if at_home else 0.0,
        "befriending": 1.0 if at_home and situation.lives_alone else 0.0,
        "carers-support": 1.5 if situation.carer is not None else 0.0,
    }


def referrals(
    situation: Situation,
    out: Resources,
    coordinator: StaffMember | None,
    rng: random.Random,
) -> None:
    """The person's recent referrals (none for most people), from their GP, practice nurse or
    named coordinator."""
    chance = REFERRAL_CHANCE[situation.category]
    if coordinator is not None:
        chance *= COORDINATED_FACTOR
    if situation.care_home is not None:
        chance *= CARE_HOME_FACTOR
    if rng.random() >= chance:
        return
    weights = {key: w for key, w in _weights(situation).items() if w > 0}
    count = 2 if rng.random() < SECOND_REFERRAL else 1
    for _ in range(min(count, len(weights))):
        key = Weighted(tuple(weights), tuple(weights.values())).draw(rng)
        del weights[key]
        referrer = _referrer(situation, coordinator, key, rng)
        if referrer is not None:
            referral(situation, out, key, referrer, None, rng)


def _referrer(
    situation: Situation, coordinator: StaffMember | None, key: str, rng: random.Random
) -> dict[str, str] | None:
    clinical = key in ("community-nursing", "falls-service")
    if coordinator is not None and not clinical and rng.random() < 0.6:
        return coordinator.role_reference
    nurses = situation.practice_staff("practice-nurse")
    if nurses and rng.random() < 0.25:
        return pick(nurses, rng).role_reference
    gp = situation.gp()
    return gp.role_reference if gp is not None else None
