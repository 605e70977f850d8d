"""A community service in the directory, and how it is held as FHIR R4.

A link worker asks: what is there for this need, near this person, open when they can go, that
they can get into, at a cost they can meet, and how do I refer? Each entry answers that, held as
three FHIR resources (docs/directory.md shows each element):

* **Organization**: who runs it (`DirectoryOrganisation`), with an ODS-style code where it has
  one (`https://fhir.nhs.uk/Id/ods-organization-code`; the synthetic ones are "ZZC...").
* **Location**: where it happens (`Venue`): address with postcode, and `position`.
* **HealthcareService**: the service (`CommunityService`). Needs in `type` (careweave
  community-need codes) and the nearest R4 `service-category` in `category`; who it is for in
  `eligibility.comment`; accessibility in `characteristic`; opening times in `availableTime`;
  how to refer in `referralMethod` and `telecom`; the cost, the contact and the day it was last
  checked in careweave extensions. A closed service keeps its history: `active` false and a
  `notAvailable` entry from the day it closed.

Opening times follow FHIR: `availableStartTime`/`availableEndTime` on the `daysOfWeek` the
session starts. An end earlier than (or equal to) the start means the session runs past
midnight into the next day: Friday 22:00-02:00 is open at 01:00 on Saturday.

The model is plain frozen dataclasses, so a service read back from the store (or from an HSDS
file) compares equal to the one written; `version` is left out of that comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Any

from careweave.social_prescribing.directory_codes import (
    ACCESSIBILITY,
    ACCESSIBILITY_SYSTEM,
    CONTACT_EXTENSION,
    COST_EXTENSION,
    COST_KINDS,
    DAY_NAMES,
    DAYS,
    DIRECTORY_LOCATION_ID,
    DIRECTORY_ORGANISATION_ID,
    DIRECTORY_SERVICE_ID,
    HL7_REFERRAL_METHOD,
    HL7_REFERRAL_METHODS,
    LAST_CHECKED_EXTENSION,
    NEED_SERVICE_CATEGORY,
    NEED_SYSTEM,
    NEEDS,
    ODS_ORGANIZATION,
    REFERRAL_METHOD_SYSTEM,
    REFERRAL_METHODS,
    SERVICE_CATEGORY,
    UK_CORE_PROFILE,
)
from careweave.social_prescribing.postcodes import Position

CLOSED: str = "Closed"
"""HealthcareService.notAvailable.description of a service that has closed for good."""


@dataclass(frozen=True)
class OpeningTime:
    """One weekly session: on `days`, from `opens` to `closes`; both None means all day.

    `closes` at or before `opens` runs past midnight (see the module docstring)."""

    days: tuple[str, ...]
    opens: time | None = None
    closes: time | None = None

    def __post_init__(self) -> None:
        if not self.days or any(day not in DAYS for day in self.days):
            raise ValueError(f"opening days must be some of {', '.join(DAYS)}, not {self.days}")
        if len(set(self.days)) != len(self.days):
            raise ValueError(f"an opening day is given twice in {self.days}")
        if (self.opens is None) != (self.closes is None):
            raise ValueError("an opening time needs both a start and an end, or neither")
        object.__setattr__(self, "days", tuple(d for d in DAYS if d in self.days))

    @property
    def all_day(self) -> bool:
        return self.opens is None

    @property
    def past_midnight(self) -> bool:
        return self.opens is not None and self.closes is not None and self.closes <= self.opens

    def is_open(self, day: str, at: time) -> bool:
        """Whether this session has the service open at `at` on `day` (a DAYS code)."""
        if self.opens is None or self.closes is None:
            return day in self.days
        if not self.past_midnight:
            return day in self.days and self.opens <= at < self.closes
        yesterday = DAYS[(DAYS.index(day) - 1) % 7]
        return (day in self.days and at >= self.opens) or (
            yesterday in self.days and at < self.closes
        )

    def describe(self) -> str:
        """In words, e.g. "Monday and Wednesday, 10:00 to 12:00"."""
        names = [DAY_NAMES[d] for d in self.days]
        days = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        if self.opens is None or self.closes is None:
            return f"{days}, all day"
        until = " (the next day)" if self.past_midnight else ""
        return f"{days}, {self.opens:%H:%M} to {self.closes:%H:%M}{until}"


@dataclass(frozen=True)
class Cost:
    """What the service costs the person: a COST_KINDS code, an amount in pounds, words."""

    kind: str
    amount: Decimal | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in COST_KINDS:
            raise ValueError(f"a cost is one of {', '.join(COST_KINDS)}, not {self.kind!r}")
        if self.amount is not None and self.amount < 0:
            raise ValueError("a cost cannot be less than nothing")

    def describe(self) -> str:
        words = COST_KINDS[self.kind]
        if self.amount is not None:
            words = f"£{self.amount:.2f}"
        return f"{words} ({self.detail})" if self.detail else words


@dataclass(frozen=True)
class DirectoryOrganisation:
    """Who runs services: a charity, community group, council team or NHS body."""

    id: str
    name: str
    ods_code: str | None = None
    email: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class Venue:
    """Where a service happens: a community centre, church hall, library, surgery."""

    id: str
    name: str
    address_line: str
    town: str
    postcode: str
    position: Position | None
    organisation_id: str | None = None


@dataclass(frozen=True)
class CommunityService:
    """A service a link worker can connect someone to. `closed_on` is set once it closes
    (`active` false); `version` is the stored version it was read from (for If-Match)."""

    id: str
    name: str
    organisation_id: str
    description: str | None = None
    needs: tuple[str, ...] = ()
    venue_ids: tuple[str, ...] = ()
    eligibility: str | None = None
    cost: Cost | None = None
    accessibility: frozenset[str] = frozenset()
    opening_times: tuple[OpeningTime, ...] = ()
    referral_methods: tuple[str, ...] = ()
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    contact_name: str | None = None
    contact_title: str | None = None
    last_checked: date | None = None
    active: bool = True
    closed_on: date | None = None
    version: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        unknown = [n for n in self.needs if n not in NEEDS]
        if unknown:
            raise ValueError(f"unknown need categories {unknown}")
        missing = sorted(set(self.accessibility) - set(ACCESSIBILITY))
        if missing:
            raise ValueError(f"unknown accessibility features {missing}")
        methods = [m for m in self.referral_methods if m not in REFERRAL_METHODS]
        if methods:
            raise ValueError(f"unknown referral methods {methods}")
        # One order for the same set, so equal services compare equal.
        object.__setattr__(self, "needs", _in_order(self.needs, NEEDS))
        object.__setattr__(
            self, "referral_methods", _in_order(self.referral_methods, REFERRAL_METHODS)
        )
        object.__setattr__(self, "accessibility", frozenset(self.accessibility))

    def is_open(self, day: str, at: time) -> bool:
        """Open at `at` on `day`; a service with no opening times is never "open at" a time."""
        return any(session.is_open(day, at) for session in self.opening_times)


def _in_order(codes: Iterable[str], vocabulary: Mapping[str, str]) -> tuple[str, ...]:
    chosen = set(codes)
    return tuple(code for code in vocabulary if code in chosen)


# -- to FHIR ------------------------------------------------------------------------------------


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)], "text": display}


def organisation_resource(organisation: DirectoryOrganisation) -> dict[str, Any]:
    identifiers = [{"system": DIRECTORY_ORGANISATION_ID, "value": organisation.id}]
    if organisation.ods_code:
        identifiers.insert(0, {"system": ODS_ORGANIZATION, "value": organisation.ods_code})
    body: dict[str, Any] = {
        "resourceType": "Organization",
        "id": organisation.id,
        "meta": {"profile": [UK_CORE_PROFILE + "Organization"]},
        "identifier": identifiers,
        "active": True,
        "name": organisation.name,
    }
    telecom = _telecom(None, organisation.email, organisation.website)
    if telecom:
        body["telecom"] = telecom
    return body


def venue_resource(venue: Venue) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Location",
        "id": venue.id,
        "meta": {"profile": [UK_CORE_PROFILE + "Location"]},
        "identifier": [{"system": DIRECTORY_LOCATION_ID, "value": venue.id}],
        "status": "active",
        "name": venue.name,
        "mode": "instance",
        "address": {
            "use": "work",
            "type": "physical",
            "line": [venue.address_line],
            "city": venue.town,
            "postalCode": venue.postcode,
            "country": "GB",
        },
    }
    if venue.position is not None:
        body["position"] = {
            "longitude": venue.position.longitude,
            "latitude": venue.position.latitude,
        }
    if venue.organisation_id is not None:
        body["managingOrganization"] = {"reference": f"Organization/{venue.organisation_id}"}
    return body


def _telecom(phone: str | None, email: str | None, website: str | None) -> list[dict[str, str]]:
    telecom = []
    if phone:
        telecom.append({"system": "phone", "value": phone, "use": "work"})
    if email:
        telecom.append({"system": "email", "value": email, "use": "work"})
    if website:
        telecom.append({"system": "url", "value": website, "use": "work"})
    return telecom


def _sub(url: str, key: str, value: object) -> dict[str, Any]:
    return {"url": url, key: value}


def _extensions(service: CommunityService) -> list[dict[str, Any]]:
    extensions: list[dict[str, Any]] = []
    if service.last_checked is not None:
        extensions.append(
            {"url": LAST_CHECKED_EXTENSION, "valueDateTime": service.last_checked.isoformat()}
        )
    if service.cost is not None:
        parts = [_sub("kind", "valueCode", service.cost.kind)]
        if service.cost.amount is not None:
            money = {"value": _money(service.cost.amount), "currency": "GBP"}
            parts.append(_sub("amount", "valueMoney", money))
        if service.cost.detail:
            parts.append(_sub("detail", "valueString", service.cost.detail))
        extensions.append({"url": COST_EXTENSION, "extension": parts})
    if service.contact_name or service.contact_title:
        parts = []
        if service.contact_name:
            parts.append(_sub("name", "valueString", service.contact_name))
        if service.contact_title:
            parts.append(_sub("title", "valueString", service.contact_title))
        extensions.append({"url": CONTACT_EXTENSION, "extension": parts})
    return extensions


def _money(amount: Decimal) -> int | float:
    """A JSON number for an amount of pounds (a whole number stays whole)."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _available_time(session: OpeningTime) -> dict[str, Any]:
    if session.opens is None or session.closes is None:
        return {"daysOfWeek": list(session.days), "allDay": True}
    return {
        "daysOfWeek": list(session.days),
        "availableStartTime": session.opens.isoformat(),
        "availableEndTime": session.closes.isoformat(),
    }


def service_resource(
    service: CommunityService, organisation_name: str | None = None
) -> dict[str, Any]:
    """The HealthcareService for `service`; `organisation_name` becomes providedBy.display."""
    body: dict[str, Any] = {
        "resourceType": "HealthcareService",
        "id": service.id,
        "meta": {"profile": [UK_CORE_PROFILE + "HealthcareService"]},
    }
    extensions = _extensions(service)
    if extensions:
        body["extension"] = extensions
    body["identifier"] = [{"system": DIRECTORY_SERVICE_ID, "value": service.id}]
    body["active"] = service.active
    provided_by: dict[str, str] = {"reference": f"Organization/{service.organisation_id}"}
    if organisation_name:
        provided_by["display"] = organisation_name
    body["providedBy"] = provided_by
    categories: dict[str, str] = {}
    for need in service.needs:
        code, display = NEED_SERVICE_CATEGORY[need]
        categories.setdefault(code, display)
    if categories:
        body["category"] = [
            _concept(SERVICE_CATEGORY, code, display) for code, display in categories.items()
        ]
    if service.needs:
        body["type"] = [_concept(NEED_SYSTEM, need, NEEDS[need]) for need in service.needs]
    if service.venue_ids:
        body["location"] = [{"reference": f"Location/{v}"} for v in service.venue_ids]
    body["name"] = service.name
    if service.description:
        body["comment"] = service.description
    telecom = _telecom(service.phone, service.email, service.website)
    if telecom:
        body["telecom"] = telecom
    if service.accessibility:
        body["characteristic"] = [
            _concept(ACCESSIBILITY_SYSTEM, code, words)
            for code, words in ACCESSIBILITY.items()
            if code in service.accessibility
        ]
    if service.eligibility:
        body["eligibility"] = [{"comment": service.eligibility}]
    if service.referral_methods:
        body["referralMethod"] = [_referral_method(m) for m in service.referral_methods]
    if service.opening_times:
        body["availableTime"] = [_available_time(s) for s in service.opening_times]
    if not service.active:
        closed: dict[str, Any] = {"description": CLOSED}
        if service.closed_on is not None:
            closed["during"] = {"start": service.closed_on.isoformat()}
        body["notAvailable"] = [closed]
    return body


def _referral_method(method: str) -> dict[str, Any]:
    codings = [_coding(REFERRAL_METHOD_SYSTEM, method, REFERRAL_METHODS[method])]
    if method in HL7_REFERRAL_METHODS:
        code, display = HL7_REFERRAL_METHODS[method]
        codings.append(_coding(HL7_REFERRAL_METHOD, code, display))
    return {"coding": codings, "text": REFERRAL_METHODS[method]}


# -- from FHIR ----------------------------------------------------------------------------------


def _codes(concepts: Any, system: str) -> list[str]:
    found: list[str] = []
    for item in concepts if isinstance(concepts, list) else ():
        for coding in (item or {}).get("coding") or ():
            if coding.get("system") == system and isinstance(coding.get("code"), str):
                found.append(coding["code"])
    return found


def _telecom_value(resource: Mapping[str, Any], system: str) -> str | None:
    for contact in resource.get("telecom") or ():
        if contact.get("system") == system and isinstance(contact.get("value"), str):
            return str(contact["value"])
    return None


def _identifier(resource: Mapping[str, Any], system: str) -> str | None:
    for identifier in resource.get("identifier") or ():
        if identifier.get("system") == system and isinstance(identifier.get("value"), str):
            return str(identifier["value"])
    return None


def _referenced_id(reference: Any, resource_type: str) -> str | None:
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return None
    kind, _, rid = text.partition("/")
    return rid if kind == resource_type and rid and "/" not in rid else None


def _version(resource: Mapping[str, Any]) -> int | None:
    version = (resource.get("meta") or {}).get("versionId")
    return int(version) if isinstance(version, str) and version.isdigit() else None


def is_directory_record(resource: Mapping[str, Any]) -> bool:
    """True for a resource the directory wrote (it carries a directory id)."""
    system = {
        "Organization": DIRECTORY_ORGANISATION_ID,
        "Location": DIRECTORY_LOCATION_ID,
        "HealthcareService": DIRECTORY_SERVICE_ID,
    }.get(str(resource.get("resourceType")))
    return system is not None and _identifier(resource, system) is not None


def organisation_from(resource: Mapping[str, Any]) -> DirectoryOrganisation:
    return DirectoryOrganisation(
        id=str(resource["id"]),
        name=str(resource.get("name") or resource["id"]),
        ods_code=_identifier(resource, ODS_ORGANIZATION),
        email=_telecom_value(resource, "email"),
        website=_telecom_value(resource, "url"),
    )


def venue_from(resource: Mapping[str, Any]) -> Venue:
    address = resource.get("address") or {}
    lines = address.get("line") or []
    position = resource.get("position")
    at = None
    if isinstance(position, dict) and "latitude" in position and "longitude" in position:
        at = Position(float(position["latitude"]), float(position["longitude"]))
    return Venue(
        id=str(resource["id"]),
        name=str(resource.get("name") or resource["id"]),
        address_line=", ".join(str(line) for line in lines),
        town=str(address.get("city") or ""),
        postcode=str(address.get("postalCode") or ""),
        position=at,
        organisation_id=_referenced_id(resource.get("managingOrganization"), "Organization"),
    )


def _sub_value(extension: Mapping[str, Any], url: str) -> Any:
    for part in extension.get("extension") or ():
        if part.get("url") == url:
            for key, value in part.items():
                if key.startswith("value"):
                    return value
    return None


def _extension(resource: Mapping[str, Any], url: str) -> Mapping[str, Any] | None:
    for extension in resource.get("extension") or ():
        if extension.get("url") == url:
            return dict(extension)
    return None


def _cost_from(resource: Mapping[str, Any]) -> Cost | None:
    extension = _extension(resource, COST_EXTENSION)
    if extension is None:
        return None
    money = _sub_value(extension, "amount")
    amount = None
    if isinstance(money, dict) and money.get("value") is not None:
        amount = Decimal(str(money["value"]))
    kind = _sub_value(extension, "kind")
    if kind not in COST_KINDS or (amount is not None and amount < 0):
        return None
    return Cost(str(kind), amount, _sub_value(extension, "detail"))


def _opening_time_from(entry: Mapping[str, Any]) -> OpeningTime | None:
    """A session, or None for one careweave cannot read (no days, a start without an end)."""
    days = tuple(str(d) for d in entry.get("daysOfWeek") or ())
    start, end = entry.get("availableStartTime"), entry.get("availableEndTime")
    try:
        if entry.get("allDay") or (start is None and end is None):
            return OpeningTime(days)
        return OpeningTime(days, time.fromisoformat(str(start)), time.fromisoformat(str(end)))
    except ValueError:
        return None


def _closed_on(resource: Mapping[str, Any]) -> date | None:
    for entry in resource.get("notAvailable") or ():
        start = (entry.get("during") or {}).get("start")
        if entry.get("description") == CLOSED and isinstance(start, str):
            return date.fromisoformat(start[:10])
    return None


def service_from(resource: Mapping[str, Any]) -> CommunityService:
    """The service a HealthcareService describes (codes careweave does not know are left out,
    so a service another system wrote still reads)."""
    checked = _extension(resource, LAST_CHECKED_EXTENSION)
    checked_value = (checked or {}).get("valueDateTime")
    contact = _extension(resource, CONTACT_EXTENSION) or {}
    eligibility = [str(e["comment"]) for e in resource.get("eligibility") or () if e.get("comment")]
    venues = (_referenced_id(ref, "Location") for ref in resource.get("location") or ())
    organisation = _referenced_id(resource.get("providedBy"), "Organization")
    return CommunityService(
        id=str(resource["id"]),
        name=str(resource.get("name") or resource["id"]),
        organisation_id=organisation or "",
        description=resource.get("comment"),
        needs=tuple(c for c in _codes(resource.get("type"), NEED_SYSTEM) if c in NEEDS),
        venue_ids=tuple(v for v in venues if v is not None),
        eligibility="\n".join(eligibility) or None,
        cost=_cost_from(resource),
        accessibility=frozenset(
            c
            for c in _codes(resource.get("characteristic"), ACCESSIBILITY_SYSTEM)
            if c in ACCESSIBILITY
        ),
        opening_times=tuple(
            session
            for session in map(_opening_time_from, resource.get("availableTime") or ())
            if session is not None
        ),
        referral_methods=tuple(
            c
            for c in _codes(resource.get("referralMethod"), REFERRAL_METHOD_SYSTEM)
            if c in REFERRAL_METHODS
        ),
        phone=_telecom_value(resource, "phone"),
        email=_telecom_value(resource, "email"),
        website=_telecom_value(resource, "url"),
        contact_name=_sub_value(contact, "name"),
        contact_title=_sub_value(contact, "title"),
        last_checked=date.fromisoformat(checked_value[:10])
        if isinstance(checked_value, str)
        else None,
        active=resource.get("active") is not False,
        closed_on=_closed_on(resource),
        version=_version(resource),
    )


def resources_for(
    organisations: Sequence[DirectoryOrganisation],
    venues: Sequence[Venue],
    services: Sequence[CommunityService],
) -> list[dict[str, Any]]:
    """Every resource of a set of directory entries, each after those it refers to."""
    names = {o.id: o.name for o in organisations}
    return [
        *(organisation_resource(o) for o in organisations),
        *(venue_resource(v) for v in venues),
        *(service_resource(s, names.get(s.organisation_id)) for s in services),
    ]
