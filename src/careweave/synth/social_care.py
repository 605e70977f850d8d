"""Household and social care: marital status, living alone, unpaid carers, Care Act
assessments, home care packages and care-home residence.

Who gets care depends on frailty (the eFI category before any care is coded), age and dementia.
A person in a care home has an EpisodeOfCare at the home; a home care package is a ServiceRequest
(hours per week, to one of the place's home care providers) following a Care Act s9 assessment
(an Encounter with a council social worker), with an EpisodeOfCare for the package. Unpaid carers
are RelatedPersons. Every kind of care also puts a requirement-for-care code on the record.
Everyone's household composition (alone, with a spouse, with family, in a care home) is a
social-history Observation. When the person has died, what was open is closed on that day.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from careweave.synth.clinical_codes import (
    ASSESSMENT_ONLY_RATE,
    CARE_ACT_ASSESSMENT,
    CARE_HOME_BASE,
    CARE_HOME_DEMENTIA,
    CARE_HOME_EPISODE,
    CARE_HOME_MULTIPLIER,
    CARER_RATE,
    HOME_CARE_EPISODE,
    HOME_CARE_HOURS,
    HOME_CARE_RATE,
    HOME_CARE_SERVICE,
    HOME_HEALTH,
    HOURS_PER_WEEK,
    HOUSEHOLD_COMPOSITION,
    LIVES_ALONE_IF_MARRIED,
    LIVES_ALONE_IF_NOT_MARRIED,
    LIVES_WITH,
    MARITAL_STATUS,
    NURSING_HOME_EPISODE,
    NURSING_HOME_SHARE,
    SOCIAL_HISTORY,
    UNPAID_CARER,
    V3_ROLE_CODE,
    age_band,
    band_index,
    concept,
)
from careweave.synth.draws import Weighted
from careweave.synth.model import CareHome, Person, Place, StaffMember

_MARITAL: Final = {
    key: Weighted(("M", "W", "D", "S"), shares) for key, shares in MARITAL_STATUS.items()
}
_HOURS: Final = Weighted([h for h, _ in HOME_CARE_HOURS], [w for _, w in HOME_CARE_HOURS])
_RELATIONSHIPS: Final = {
    code: concept(code, display, V3_ROLE_CODE)
    for code, display in (
        ("SPS", "spouse"),
        ("DAU", "natural daughter"),
        ("SON", "natural son"),
        ("NBOR", "neighbor"),
        ("FRND", "unrelated friend"),
    )
}
_NOT_SPOUSE: Final = Weighted(("DAU", "SON", "NBOR", "FRND"), (0.45, 0.3, 0.13, 0.12))
_WOMEN: Final = (
    "Susan",
    "Karen",
    "Julie",
    "Helen",
    "Sarah",
    "Claire",
    "Joan",
    "Margaret",
    "Patricia",
    "Anne",
    "Linda",
    "Elaine",
    "Priya",
    "Fatima",
    "Grace",
)
_MEN: Final = (
    "David",
    "John",
    "Peter",
    "Michael",
    "Paul",
    "Stephen",
    "Richard",
    "Robert",
    "Brian",
    "Keith",
    "Alan",
    "Imran",
    "Tunde",
    "Gareth",
    "Colin",
)
_FAMILIES: Final = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Patel",
    "Khan",
    "Hughes",
)
_STREETS: Final = (
    "Church Lane",
    "Mill Road",
    "Station Road",
    "Park View",
    "The Crescent",
    "Orchard Close",
    "Victoria Street",
    "Chapel Row",
    "Meadow Way",
)


@dataclass
class Household:
    marital_status: str
    lives_alone: bool


def draw_household(age: int, sex: str, rng: random.Random) -> Household:
    status = _MARITAL[(sex, band_index(age))].draw(rng)
    chance = LIVES_ALONE_IF_MARRIED if status == "M" else LIVES_ALONE_IF_NOT_MARRIED
    return Household(status, rng.random() < chance)


@dataclass
class CarePlan:
    """The care a person receives, decided from frailty before dates are drawn."""

    care_home: CareHome | None = None
    home_care_hours: float | None = None
    assessed_only: bool = False
    carer: str | None = None  # v3 RoleCode of the unpaid carer


def draw_care(
    age: int,
    category: str,
    has_dementia: bool,
    household: Household,
    place: Place,
    rng: random.Random,
) -> CarePlan:
    plan = CarePlan()
    chance = CARE_HOME_BASE[age_band(age)] * CARE_HOME_MULTIPLIER[category]
    if has_dementia:
        chance *= CARE_HOME_DEMENTIA
    if place.care_homes and rng.random() < min(chance, 0.9):
        nursing = rng.random() < NURSING_HOME_SHARE[category]
        homes = [home for home in place.care_homes if home.nursing == nursing]
        homes = homes or list(place.care_homes)
        plan.care_home = homes[int(rng.random() * len(homes))]
        return plan
    if place.home_care_providers and rng.random() < HOME_CARE_RATE[category]:
        plan.home_care_hours = _HOURS.draw(rng)
    elif rng.random() < ASSESSMENT_ONLY_RATE[category]:
        plan.assessed_only = True
    if rng.random() < CARER_RATE[category]:
        married_at_home = household.marital_status == "M" and not household.lives_alone
        plan.carer = "SPS" if married_at_home and rng.random() < 0.6 else _NOT_SPOUSE.draw(rng)
    return plan


def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _social_worker(place: Place, rng: random.Random) -> StaffMember | None:
    workers = place.staff_in("social-worker", place.council) or place.staff_in("social-worker")
    return workers[int(rng.random() * len(workers))] if workers else None


def _assessment(
    resource_id: str, subject: dict[str, str], day: int, worker: StaffMember | None, place: Place
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": resource_id,
        "status": "finished",
        "class": HOME_HEALTH,
        "type": CARE_ACT_ASSESSMENT,
        "subject": subject,
        "period": {"start": _day(day), "end": _day(day)},
        "serviceProvider": place.council.reference,
    }
    if worker is not None:
        resource["participant"] = [{"individual": worker.role_reference}]
    return resource


@dataclass
class CareDates:
    """When each kind of care began (date ordinals), drawn once the end of the record is known."""

    care_start: int | None = None
    assessment: int | None = None
    carer_since: int | None = None


def draw_care_dates(plan: CarePlan, as_of: int, end: int, rng: random.Random) -> CareDates:
    dates = CareDates()
    if plan.care_home is not None or plan.home_care_hours is not None:
        mean = 650.0 if plan.care_home is not None else 500.0
        dates.care_start = end - min(7 + int(rng.expovariate(1 / mean)), 3650)
        dates.assessment = dates.care_start - rng.randint(7, 42)
    elif plan.assessed_only:
        dates.assessment = rng.randint(as_of - 730, end)
    if plan.carer is not None:
        dates.carer_since = end - min(30 + int(rng.expovariate(1 / 900.0)), 5000)
    return dates


def social_care_resources(
    ids: Callable[[str], str],
    person: Person,
    subject: dict[str, str],
    plan: CarePlan,
    dates: CareDates,
    died: bool,
    end: int,
    place: Place,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Assessment, package, care-home episode and carer resources, each after what it names."""
    found: list[dict[str, Any]] = []
    assessment_id: str | None = None
    worker = None
    if dates.assessment is not None:
        worker = _social_worker(place, rng)
        assessment_id = ids("e")
        found.append(_assessment(assessment_id, subject, dates.assessment, worker, place))
    if plan.home_care_hours is not None and dates.care_start is not None:
        provider = place.home_care_providers[int(rng.random() * len(place.home_care_providers))]
        request_id = ids("sr")
        request: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "id": request_id,
            "status": "completed" if died else "active",
            "intent": "order",
            "code": HOME_CARE_SERVICE,
            "quantityQuantity": {"value": plan.home_care_hours, **HOURS_PER_WEEK},
            "subject": subject,
            "occurrencePeriod": (
                {"start": _day(dates.care_start), "end": _day(end)}
                if died
                else {"start": _day(dates.care_start)}
            ),
            "authoredOn": _day(dates.assessment or dates.care_start),
            "performer": [provider.reference],
        }
        if assessment_id is not None:
            request["encounter"] = {"reference": f"Encounter/{assessment_id}"}
        if worker is not None:
            request["requester"] = worker.role_reference
        found.append(request)
        found.append(
            _episode(
                ids("ep"),
                HOME_CARE_EPISODE,
                subject,
                provider.reference,
                dates.care_start,
                end if died else None,
                worker,
                {"reference": f"ServiceRequest/{request_id}"},
            )
        )
    if plan.care_home is not None and dates.care_start is not None:
        kind = NURSING_HOME_EPISODE if plan.care_home.nursing else CARE_HOME_EPISODE
        found.append(
            _episode(
                ids("ep"),
                kind,
                subject,
                plan.care_home.organisation.reference,
                dates.care_start,
                end if died else None,
                worker,
                None,
            )
        )
    if plan.carer is not None and dates.carer_since is not None:
        found.append(
            _carer(
                ids("rp"),
                person,
                subject,
                plan.carer,
                dates.carer_since,
                end if died else None,
                rng,
            )
        )
    return found


def _episode(
    resource_id: str,
    kind: list[dict[str, Any]],
    subject: dict[str, str],
    organisation: dict[str, str],
    start: int,
    end: int | None,
    worker: StaffMember | None,
    referral: dict[str, str] | None,
) -> dict[str, Any]:
    period = {"start": _day(start)}
    if end is not None:
        period["end"] = _day(end)
    resource: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": resource_id,
        "status": "finished" if end is not None else "active",
        "type": kind,
        "patient": subject,
        "managingOrganization": organisation,
        "period": period,
    }
    if referral is not None:
        resource["referralRequest"] = [referral]
    if worker is not None:
        # Practitioner, not PractitionerRole: the R4 care-manager search parameter only indexes
        # Practitioner targets, and the care manager is a person more than a post.
        resource["careManager"] = worker.practitioner_reference
    return resource


def _carer(
    resource_id: str,
    person: Person,
    subject: dict[str, str],
    relationship: str,
    since: int,
    ended: int | None,
    rng: random.Random,
) -> dict[str, Any]:
    """The unpaid carer; when the person has died, the caring relationship ended that day."""
    if relationship == "SPS":
        given = rng.choice(_MEN if person.sex == "female" else _WOMEN)
        family = person.family
        address = person.address
    else:
        given = rng.choice(
            _MEN if relationship == "SON" else _WOMEN if relationship == "DAU" else _MEN + _WOMEN
        )
        family = (
            person.family
            if relationship == "SON" or (relationship == "DAU" and rng.random() < 0.5)
            else rng.choice(_FAMILIES)
        )
        address = {
            "use": "home",
            "line": [f"{rng.randint(1, 120)} {rng.choice(_STREETS)}"],
            "city": person.neighbourhood.town,
            "postalCode": f"{person.neighbourhood.outward_code} {rng.randint(1, 9)}"
            f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
            "country": "GB",
        }
    period = {"start": _day(since)}
    if ended is not None:
        period["end"] = _day(ended)
    return {
        "resourceType": "RelatedPerson",
        "id": resource_id,
        "active": ended is None,
        "patient": subject,
        "relationship": [_RELATIONSHIPS[relationship], UNPAID_CARER],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "telecom": [
            {"system": "phone", "value": f"07700 900{rng.randint(0, 999):03d}", "use": "mobile"}
        ],
        "address": [address],
        "period": period,
    }


def lives_with(household: Household, plan: CarePlan) -> str:
    """Who the person lives with, as a `LIVES_WITH` key."""
    if plan.care_home is not None:
        return "nursing-home" if plan.care_home.nursing else "care-home"
    if household.lives_alone:
        return "alone"
    return "spouse" if household.marital_status == "M" else "family"


def household_observation(
    resource_id: str,
    subject: dict[str, str],
    household: Household,
    plan: CarePlan,
    dates: CareDates,
    end: int,
    recorder: dict[str, str] | None,
    rng: random.Random,
) -> dict[str, Any]:
    """Household composition (who the person lives with) as a social-history Observation.

    Recorded for everyone 65+, at a review in the last 2 years (after the move, for someone in a
    care home), so population analytics can find people living alone from one coded fact.
    """
    earliest = end - 730
    if plan.care_home is not None and dates.care_start is not None:
        earliest = max(earliest, dates.care_start)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": SOCIAL_HISTORY,
        "code": HOUSEHOLD_COMPOSITION,
        "subject": subject,
        "effectiveDateTime": _day(rng.randint(min(earliest, end), end)),
        "valueCodeableConcept": LIVES_WITH[lives_with(household, plan)],
    }
    if recorder is not None:
        resource["performer"] = [recorder]
    return resource
