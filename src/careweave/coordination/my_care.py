"""What a person, or their carer, sees of their own care: who coordinates it and how to reach
the team, their coming appointments, and their care and support plan (for a carer, only when
the person has agreed to share it).

Everything is read through the person's or carer's own door to the record, so the access
rules decide what is shown; this module only gathers it in the order people ask for it:
"who do I call?", "when is my next appointment?", "what have we agreed?".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.access.roles import Role
from careweave.coordination.care_plan import CarePlanView, care_plan_of, fhir_instant
from careweave.coordination.care_team import Team, team_of
from careweave.coordination.carers import Carer, carers_of
from careweave.coordination.people import PersonBanner, person_banner
from careweave.coordination.record import UK, find_with_includes, may_read, referenced_id, today
from careweave.fhir.names import person_name

UPCOMING_STATUSES: Final = ("proposed", "pending", "booked", "arrived", "checked-in")
MAX_APPOINTMENTS: Final = 50


@dataclass(frozen=True)
class UpcomingAppointment:
    appointment_id: str
    start: datetime | None
    end: datetime | None
    what: str
    with_whom: list[str]  # "Dr Ann Example, Riverside Surgery"
    where: str | None
    status: str


@dataclass(frozen=True)
class MyCare:
    person: PersonBanner
    is_carer: bool
    team: Team | None
    appointments: list[UpcomingAppointment]
    plan: CarePlanView | None
    plan_shared: bool  # False: a carer the person has not (yet) agreed to share the plan with
    carers: list[Carer]  # the person's own view: the carers they may share the plan with


def _text(concepts: Any) -> str | None:
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if not isinstance(concept, dict):
            continue
        if concept.get("text"):
            return str(concept["text"])
        for coding in concept.get("coding") or ():
            if coding.get("display"):
                return str(coding["display"])
    return None


def _participant_name(
    reference: dict[str, Any], included: dict[str, dict[str, Any]]
) -> tuple[str, str | None]:
    """("who", "where") of one participant: a member of staff with their organisation, or a
    Location."""
    target = str(reference.get("reference") or "")
    found = included.get(target)
    kind = target.split("/")[0]
    if kind == "Location":
        name = (found or {}).get("name") or reference.get("display")
        return "", str(name) if name else None
    if kind == "PractitionerRole" and found is not None:
        practitioner_id = referenced_id(found.get("practitioner"), "Practitioner")
        organisation_id = referenced_id(found.get("organization"), "Organization")
        practitioner = included.get(f"Practitioner/{practitioner_id}") if practitioner_id else None
        organisation = included.get(f"Organization/{organisation_id}") if organisation_id else None
        name = person_name(practitioner) if practitioner else None
        org_name = (organisation or {}).get("name")
        parts = [p for p in (name or reference.get("display"), org_name) if p]
        return ", ".join(str(p) for p in parts), None
    display = reference.get("display")
    return (str(display) if display else ""), None


def upcoming_appointments(access: CareRecordAccess, patient_id: str) -> list[UpcomingAppointment]:
    """The person's appointments from today on, soonest first, with who they are with and
    where (one search, the staff, their organisations and the places included)."""
    if not may_read(access, "Appointment"):
        return []
    found, included = find_with_includes(
        access,
        "Appointment",
        [
            ("patient", f"Patient/{patient_id}"),
            ("date", f"ge{today().isoformat()}"),
            ("status", ",".join(UPCOMING_STATUSES)),
            ("_include", "Appointment:actor"),
            ("_include:iterate", "PractitionerRole:practitioner"),
            ("_include:iterate", "PractitionerRole:organization"),
        ],
    )
    appointments = []
    for appointment in found[:MAX_APPOINTMENTS]:
        with_whom: list[str] = []
        where: str | None = None
        for participant in appointment.get("participant") or ():
            actor = participant.get("actor") or {}
            if str(actor.get("reference", "")).startswith("Patient/"):
                continue
            who, place = _participant_name(actor, included)
            if place:
                where = place
            elif who:
                with_whom.append(who)
        appointments.append(
            UpcomingAppointment(
                appointment_id=str(appointment["id"]),
                start=fhir_instant(appointment.get("start")),
                end=fhir_instant(appointment.get("end")),
                what=str(
                    appointment.get("description")
                    or _text(appointment.get("serviceType"))
                    or "Appointment"
                ),
                with_whom=with_whom,
                where=where,
                status=str(appointment.get("status") or ""),
            )
        )
    appointments.sort(key=lambda a: (a.start is None, a.start))
    return appointments


def my_care(access: CareRecordAccess) -> MyCare:
    """The signed-in person's or carer's view of the person's care."""
    principal = access.principal
    patient_id = principal.patient_id
    if patient_id is None or principal.role not in (Role.PATIENT, Role.CARER):
        raise ValueError("my_care is for a person or their carer")
    plan_shared = may_read(access, "CarePlan")
    return MyCare(
        person=person_banner(access, patient_id),
        is_carer=principal.role is Role.CARER,
        team=team_of(access, patient_id),
        appointments=upcoming_appointments(access, patient_id),
        plan=care_plan_of(access, patient_id) if plan_shared else None,
        plan_shared=plan_shared,
        carers=(
            [c for c in carers_of(access, patient_id) if c.active]
            if principal.role is Role.PATIENT
            else []
        ),
    )


def local_day_and_time(moment: datetime | None) -> str:
    """ "Tuesday 3 December 2026 at 10:30am" in UK time, as people say it."""
    if moment is None:
        return "Time not set"
    local = moment.astimezone(UK)
    hour = local.strftime("%I").lstrip("0")
    minutes = local.strftime("%M")
    suffix = local.strftime("%p").lower()
    time = f"{hour}{suffix}" if minutes == "00" else f"{hour}:{minutes}{suffix}"
    return f"{local.strftime('%A')} {local.day} {local.strftime('%B %Y')} at {time}"
