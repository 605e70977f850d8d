"""What the coordination of one older person's care is drawn from: their situation and the place.

`careweave.synth.coordination` and its parts (`coordination_discharge`, `coordination_plan`,
`coordination_referrals`) decide who has a named coordinator, a plan, referrals and a stay in
hospital from what the person's record already says: their eFI category, conditions and
deficits, the care they receive, their carer and their hospital stays. `Situation` gathers that
once, from the generator's facts and the record's own resources, so every part reads the same
facts; `Services` indexes the place's staff and organisations once per place, so finding "a
community nurse" or "the befriending scheme in this town" costs nothing per person.

`Resources` hands out ids and keeps the resources of one person in the order they are written:
by type, then in the order made, so a Task comes after the Task it is part of.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, Final, TypeVar

from careweave.synth.clinical_codes import HOME_CARE_SERVICE, LONG_TERM_CONDITION_CODES
from careweave.synth.model import (
    SNOMED,
    CareHome,
    Organisation,
    Person,
    Place,
    RecordOutcome,
    StaffMember,
)
from careweave.synth.older_person import OlderPersonFacts

T = TypeVar("T")

RECENT_ADMISSION_DAYS: Final = 90
"""An emergency admission that began in the last 90 days counts as recent (assumption)."""

HOSPITAL_CLASSES: Final = frozenset({"IMP", "EMER"})
"""Encounter classes of a stay or visit at the acute hospital (not a social care visit)."""

WRITE_ORDER: Final = (
    "Encounter",
    "CareTeam",
    "Goal",
    "CarePlan",
    "Task",
    "ServiceRequest",
    "Communication",
    "Appointment",
)
"""The order a person's coordination resources are written in (each file keeps its own order)."""


def day(ordinal: int) -> str:
    """A FHIR date from a date ordinal."""
    return date.fromordinal(ordinal).isoformat()


def date_of(value: str) -> int:
    """The date ordinal of a FHIR date (or of the date part of a dateTime)."""
    return date.fromisoformat(value[:10]).toordinal()


def instant(ordinal: int, minutes: int) -> str:
    """A FHIR instant `minutes` after midnight UTC on the day `ordinal`."""
    return f"{day(ordinal)}T{minutes // 60:02d}:{minutes % 60:02d}:00Z"


def pick(items: Sequence[T], rng: random.Random) -> T:
    """One of `items`, equally likely (one draw)."""
    return items[int(rng.random() * len(items))]


def reference(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


@dataclass(frozen=True)
class Voluntary:
    """The place's voluntary and community organisations, by what they do."""

    later_life: Organisation | None
    carers: Organisation | None
    transport: Organisation | None
    memory_cafe: Organisation | None
    good_neighbours: Organisation | None
    befriending: Mapping[str, Organisation]  # by town


def _voluntary(organisations: Sequence[Organisation]) -> Voluntary:
    def named(part: str) -> Organisation | None:
        return next((org for org in organisations if part in org.name), None)

    suffix = " Befriending Scheme"
    return Voluntary(
        later_life=named("Later Life"),
        carers=named("Carers' Centre"),
        transport=named("Community Transport"),
        memory_cafe=named("Memory Café"),
        good_neighbours=named("Good Neighbours"),
        befriending=MappingProxyType(
            {
                org.name.removesuffix(suffix): org
                for org in organisations
                if org.name.endswith(suffix)
            }
        ),
    )


@dataclass(frozen=True)
class Services:
    """The place's staff outside practices, by role, and its voluntary organisations."""

    place: Place
    staff: Mapping[str, tuple[StaffMember, ...]]
    voluntary: Voluntary

    @classmethod
    def of(cls, place: Place) -> Services:
        by_role: dict[str, list[StaffMember]] = {}
        for member in place.staff:
            by_role.setdefault(member.role, []).append(member)
        return cls(
            place=place,
            staff=MappingProxyType({role: tuple(found) for role, found in by_role.items()}),
            voluntary=_voluntary(place.voluntary_organisations),
        )

    def in_role(self, role: str) -> tuple[StaffMember, ...]:
        return self.staff.get(role, ())

    def befriending_for(self, town: str) -> Organisation | None:
        """The befriending scheme of the person's town, else the older people's charity."""
        return self.voluntary.befriending.get(town) or self.voluntary.later_life


@dataclass(frozen=True)
class Stay:
    """An emergency admission already on the record (finished)."""

    encounter_id: str
    start: int
    end: int
    disposition: str  # discharge-disposition code: home, rehab, long, exp


@dataclass(frozen=True)
class Situation:
    """One living person aged 65+ as their coordination sees them."""

    person: Person
    services: Services
    as_of: int  # date ordinal of the record date
    category: str  # eFI category: fit, mild, moderate, severe
    conditions: frozenset[str]  # long-term condition keys
    problems: frozenset[str]  # every problem key on the record (conditions, deficits, others)
    deficits: frozenset[str]  # eFI deficits
    care_home: CareHome | None
    home_care_since: int | None  # start of a running home care package
    social_worker: StaffMember | None  # who assessed them for their care
    carer: dict[str, str] | None  # reference to the unpaid carer's RelatedPerson
    carer_name: str
    carer_relationship: str | None  # v3 RoleCode: SPS, DAU, SON, NBOR, FRND
    lives_alone: bool
    condition_references: tuple[tuple[str, dict[str, str]], ...]  # (key, Condition reference)
    stays: tuple[Stay, ...]  # finished emergency admissions, in date order
    last_hospital_day: int  # last day of any admission or A&E visit on the record (0: none)

    @property
    def subject(self) -> dict[str, str]:
        return self.person.reference

    @property
    def practice(self) -> Organisation:
        return self.person.practice.organisation

    @property
    def housebound(self) -> bool:
        return "housebound" in self.deficits

    @property
    def lonely(self) -> bool:
        return self.lives_alone or "social_vulnerability" in self.problems

    @property
    def long_term_conditions(self) -> int:
        return len(self.conditions)

    def practice_staff(self, role: str) -> tuple[StaffMember, ...]:
        return self.person.practice.staff_in(role)

    def gp(self) -> StaffMember | None:
        """The person's usual GP (any GP of the practice if none is named)."""
        if self.person.usual_gp is not None:
            return self.person.usual_gp
        gps = self.practice_staff("gp")
        return gps[0] if gps else None


def _social_worker(services: Services, practitioner: str) -> StaffMember | None:
    wanted = practitioner.removeprefix("Practitioner/")
    workers = services.in_role("social-worker")
    return next((m for m in workers if m.practitioner_id == wanted), None)


def situation_of(
    person: Person, outcome: RecordOutcome, facts: OlderPersonFacts, services: Services
) -> Situation:
    """The person's situation, from the generator's facts and the resources of their record."""
    place = services.place
    home_care_since: int | None = None
    social_worker: StaffMember | None = None
    carer: dict[str, str] | None = None
    carer_name = ""
    carer_relationship: str | None = None
    conditions: list[tuple[str, dict[str, str]]] = []
    stays: list[Stay] = []
    last = 0
    for resource in outcome.resources:
        kind = resource["resourceType"]
        if kind == "Condition":
            key = _long_term_condition(resource)
            if key is not None and resource["clinicalStatus"]["coding"][0]["code"] == "active":
                conditions.append((key, reference("Condition", resource["id"])))
        elif kind == "Encounter" and resource["class"]["code"] in HOSPITAL_CLASSES:
            period = resource["period"]
            finish = date.fromisoformat(period.get("end", period["start"])).toordinal()
            last = max(last, finish)
            if "hospitalization" in resource:
                disposition = resource["hospitalization"]["dischargeDisposition"]
                stays.append(
                    Stay(
                        resource["id"],
                        date.fromisoformat(period["start"]).toordinal(),
                        finish,
                        disposition["coding"][0]["code"],
                    )
                )
        elif kind == "ServiceRequest" and resource["status"] == "active" and _home_care(resource):
            home_care_since = date.fromisoformat(resource["occurrencePeriod"]["start"]).toordinal()
        elif kind == "EpisodeOfCare" and "careManager" in resource:
            social_worker = _social_worker(services, resource["careManager"]["reference"])
        elif kind == "RelatedPerson" and resource["active"]:
            carer = reference("RelatedPerson", resource["id"])
            name = resource["name"][0]
            carer_name = f"{name['given'][0]} {name['family']}"
            carer_relationship = resource["relationship"][0]["coding"][0]["code"]
    stays.sort(key=lambda stay: (stay.start, stay.end))
    return Situation(
        person=person,
        services=services,
        as_of=place.as_of.toordinal(),
        category=facts.category,
        conditions=frozenset(facts.conditions),
        problems=frozenset(facts.problems),
        deficits=frozenset(facts.deficits),
        care_home=outcome.care_home,
        home_care_since=home_care_since,
        social_worker=social_worker,
        carer=carer,
        carer_name=carer_name,
        carer_relationship=carer_relationship,
        lives_alone=outcome.lives_alone,
        condition_references=tuple(conditions),
        stays=tuple(stays),
        last_hospital_day=last,
    )


def _home_care(request: Mapping[str, Any]) -> bool:
    return any(
        c["code"] == HOME_CARE_SERVICE["coding"][0]["code"] for c in request["code"]["coding"]
    )


def _long_term_condition(condition: Mapping[str, Any]) -> str | None:
    for coding in condition["code"]["coding"]:
        if coding["system"] == SNOMED and coding["code"] in LONG_TERM_CONDITION_CODES:
            return LONG_TERM_CONDITION_CODES[coding["code"]]
    return None


class Resources:
    """The coordination resources of one person: ids derived from the person, write order."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self._counts: dict[str, int] = {}
        self._by_type: dict[str, list[dict[str, Any]]] = {kind: [] for kind in WRITE_ORDER}

    def new_id(self, kind: str) -> str:
        """`p123-<kind><n>`: kinds are ip (admission now), ct, cp, g, t, rf, cm, ap."""
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        return f"{self.patient_id}-{kind}{n}"

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        self._by_type[resource["resourceType"]].append(resource)
        return resource

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return self._by_type[resource_type]

    def in_write_order(self) -> list[dict[str, Any]]:
        return [resource for kind in WRITE_ORDER for resource in self._by_type[kind]]
