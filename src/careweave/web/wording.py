"""How the governance pages say things to people: times in UK time, names, roles, NHS numbers,
and what an audit entry means in plain words.

The audit trail and the store keep codes and UTC; people read "Tuesday 3 November 2026, 14:05"
in the time on their own clock, "Social worker" and "Changed your care plan".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from careweave.access.audit import AccessEntry
from careweave.fhir.errors import Gone, NotFound
from careweave.fhir.names import nhs_number_of, person_name
from careweave.store.repository import FhirStore
from careweave.web.pages import role_name

LONDON = ZoneInfo("Europe/London")

# What each kind of record is called when talking to the person it is about.
_THINGS: dict[str, str] = {
    "Patient": "personal details",
    "RelatedPerson": "family and carers",
    "CareTeam": "care team",
    "CarePlan": "care plan",
    "Goal": "goals",
    "Task": "tasks",
    "ServiceRequest": "referrals",
    "EpisodeOfCare": "episodes of care",
    "Appointment": "appointments",
    "Communication": "messages",
    "Flag": "alerts",
    "List": "lists",
    "QuestionnaireResponse": "questionnaire answers",
    "Consent": "consent choices",
    "Condition": "health conditions",
    "AllergyIntolerance": "allergies",
    "MedicationStatement": "medicines",
    "Observation": "tests and measurements",
    "Encounter": "visits and stays",
    "DocumentReference": "documents",
    "Provenance": "record of changes",
}


def london_time(moment: datetime) -> str:
    """`moment` as people in England read it: "Tuesday 3 November 2026, 14:05".

    A naive `moment` is taken as UTC, the form the store's tables hold (`last_updated`,
    audit times): `astimezone` would otherwise take it as the server's local time, and a
    server running on UK time would show a change made at 14:05 BST as 15:05."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    local = aware.astimezone(LONDON)
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}"


def london_day(day: date) -> str:
    """A day as people read it: "Tuesday 3 November 2026"."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def role_words(role: str | None) -> str:
    """A stored role code as people say it ("social-worker" is a "Social worker")."""
    if role is None:
        return ""
    if role == "system":
        return "Connected computer system"
    return role_name(role)


@dataclass(frozen=True)
class Person:
    """Who a record is about, as the governance pages name them."""

    patient_id: str
    name: str | None
    nhs_number: str | None
    practice_id: str | None

    @property
    def shown(self) -> str:
        """Their name, or the record's id when the record has no name (or is gone)."""
        return self.name or f"Patient/{self.patient_id}"


@dataclass
class Directory:
    """Names of organisations and people, read from the store once per page.

    Reads here are not through the access guard: organisations are directory data anyone
    signed in may read, and the people looked up are the ones the page is about (the person
    themselves, or those a Caldicott guardian reviews), so each page decides who may see it.
    """

    store: FhirStore
    _organisations: dict[str, str] = field(default_factory=dict)
    _people: dict[str, Person] = field(default_factory=dict)

    def _resource(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        try:
            return self.store.read(resource_type, resource_id).as_dict()
        except (NotFound, Gone):
            return None

    def organisation(self, organisation_id: str | None) -> str:
        """The organisation's name, or its id when the directory does not know it."""
        if organisation_id is None:
            return ""
        if organisation_id not in self._organisations:
            found = self._resource("Organization", organisation_id)
            name = found.get("name") if found else None
            self._organisations[organisation_id] = (
                name if isinstance(name, str) and name.strip() else organisation_id
            )
        return self._organisations[organisation_id]

    def person(self, patient_id: str) -> Person:
        if patient_id not in self._people:
            found = self._resource("Patient", patient_id) or {}
            practice = None
            for reference in found.get("generalPractitioner") or ():
                target = reference.get("reference") if isinstance(reference, dict) else None
                if isinstance(target, str) and target.startswith("Organization/"):
                    practice = target.removeprefix("Organization/")
                    break
            self._people[patient_id] = Person(
                patient_id, person_name(found), nhs_number_of(found), practice
            )
        return self._people[patient_id]


def _thing(entity: str | None) -> str | None:
    """What kind of record an audit entry's entity names ("CarePlan/cp1" -> "care plan")."""
    if not entity:
        return None
    resource_type = entity.split("?", 1)[0].split("/", 1)[0]
    return _THINGS.get(resource_type)


def what_was_done(entry: AccessEntry, whose: str = "your") -> str:
    """An audit entry in the words of the person whose record it is about.

    `whose` is "your" for the person themselves and "their" for their carer.
    """
    thing = _thing(entry.entity)
    resource_type = (entry.entity or "").split("?", 1)[0].split("/", 1)[0]
    record = f"{whose} record"
    if entry.refused:
        attempts = {
            "read": f"Tried to look at {record}",
            "vread": f"Tried to look at {record}",
            "history": f"Tried to look at the history of {record}",
            "search": "Tried to search records",
            "create": f"Tried to add to {record}",
            "update": f"Tried to change {record}",
            "delete": f"Tried to delete from {record}",
            "break-glass": f"Tried to use emergency access to {record}",
        }
        return attempts.get(entry.event, f"Tried to use {record}")
    if entry.event in ("read", "vread"):
        if thing is None or resource_type == "Patient":
            return f"Looked at {record}"
        return f"Looked at {whose} {thing}"
    words = {
        "history": f"Looked at the history of {record}",
        "search": "Searched records",
        "transaction": f"Changed {record}",
        "export": f"Copied {record} out of careweave",
        "break-glass": f"Used emergency access to open {record}",
        "break-glass-review": f"Checked an emergency access to {record}",
        "refused": f"Tried to look at {record}",
    }
    if entry.event in words:
        return words[entry.event]
    if entry.event in ("create", "update", "delete"):
        if resource_type == "Patient":
            return {
                "create": f"Added {record}",
                "update": f"Changed {whose} personal details",
                "delete": f"Deleted {whose} personal details",
            }[entry.event]
        target = f"{whose} {thing}" if thing else record
        return {
            "create": f"Added to {target}",
            "update": f"Changed {target}",
            "delete": f"Deleted from {target}",
        }[entry.event]
    return entry.what
