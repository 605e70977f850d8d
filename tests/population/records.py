"""Hand-built FHIR resources for population measure tests: one small builder per kind of entry.

Each builder makes the smallest resource the measures read, shaped as the synthetic place and
GP feeds write it; ids are made up per test. Dates are ISO strings or `date`s.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count
from typing import Any

from careweave.population.efi import CODED_DEFICITS, efi_code_list
from careweave.population.person_measures import (
    IMD_DECILE_EXTENSION,
    SOCIAL_CARE,
    V3_ACT_CODE,
)
from careweave.population.record import CONDITION_VERIFICATION, SNOMED

PATIENT_ID = "pt1"
SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}
AS_OF = date(2026, 3, 31)

_ids = count(1)


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def _day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


def concept(code: str, display: str = "", system: str = SNOMED) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def patient(
    *,
    patient_id: str = PATIENT_ID,
    born: str = "1940-06-15",
    imd: int | None = 3,
    died: date | None = None,
) -> dict[str, Any]:
    address: dict[str, Any] = {"use": "home", "line": ["1 Mill Road"], "country": "GB"}
    if imd is not None:
        address["extension"] = [{"url": IMD_DECILE_EXTENSION, "valueInteger": imd}]
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id,
        "birthDate": born,
        "address": [address],
    }
    if died is not None:
        resource["deceasedDateTime"] = died.isoformat()
    return resource


def condition(
    code: str,
    recorded: date | str = "2020-01-01",
    *,
    resource_id: str | None = None,
    verification: str | None = "confirmed",
    clinical: str | None = "active",
    onset: date | str | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": resource_id or _id("c"),
        "code": concept(code),
        "subject": SUBJECT,
    }
    if clinical is not None:
        resource["clinicalStatus"] = concept(
            clinical, system="http://terminology.hl7.org/CodeSystem/condition-clinical"
        )
    if verification is not None:
        resource["verificationStatus"] = concept(verification, system=CONDITION_VERIFICATION)
    if onset is not None:
        resource["onsetDateTime"] = _day(onset)
    if recorded is not None:
        resource["recordedDate"] = _day(recorded)
    return resource


def coded_observation(
    code: str, effective: date | str = "2020-01-01", *, status: str = "final"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _id("o"),
        "status": status,
        "code": concept(code),
        "subject": SUBJECT,
        "effectiveDateTime": _day(effective),
    }


def statement(
    code: str,
    start: date | str = "2024-01-01",
    end: date | str | None = None,
    *,
    status: str = "active",
) -> dict[str, Any]:
    period = {"start": _day(start)}
    if end is not None:
        period["end"] = _day(end)
    return {
        "resourceType": "MedicationStatement",
        "id": _id("m"),
        "status": status,
        "medicationCodeableConcept": concept(code, f"Medicine {code}"),
        "subject": SUBJECT,
        "effectivePeriod": period,
    }


def request(
    code: str,
    authored: date | str,
    *,
    status: str = "active",
    course: str | None = None,
    intent: str = "order",
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": _id("rx"),
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": concept(code, f"Medicine {code}"),
        "subject": SUBJECT,
        "authoredOn": _day(authored),
    }
    if course is not None:
        resource["courseOfTherapyType"] = concept(
            course,
            system="http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy",
        )
    return resource


MEDICINE_CODES = tuple(f"39{n:03d}11000001100" for n in range(12))
"""Distinct made-up dm+d-shaped codes (the measures only compare codes, never look them up)."""


def medicines(number: int, start: date | str = "2024-01-01") -> list[dict[str, Any]]:
    """`number` distinct repeat medicines, taken since `start` and still taken."""
    return [statement(code, start) for code in MEDICINE_CODES[:number]]


def encounter(
    klass: str, start: date, *, status: str = "finished", days: int = 3
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": _id("e"),
        "status": status,
        "class": {"system": V3_ACT_CODE, "code": klass},
        "type": [concept("183452005", "Emergency hospital admission")],
        "subject": SUBJECT,
        "period": {"start": start.isoformat(), "end": (start + timedelta(days=days)).isoformat()},
    }


def household(value: str, effective: date | str) -> dict[str, Any]:
    resource = coded_observation("224130005", effective)
    resource["valueCodeableConcept"] = concept(value)
    return resource


def episode(kind: str, start: date | str, end: date | str | None = None) -> dict[str, Any]:
    period = {"start": _day(start)}
    if end is not None:
        period["end"] = _day(end)
    return {
        "resourceType": "EpisodeOfCare",
        "id": _id("ep"),
        "status": "active" if end is None else "finished",
        "type": [concept(kind, system=SOCIAL_CARE)],
        "patient": SUBJECT,
        "period": period,
    }


def carer(
    start: date | str, end: date | str | None = None, *, code: str = "unpaid-carer"
) -> dict[str, Any]:
    period = {"start": _day(start)}
    if end is not None:
        period["end"] = _day(end)
    return {
        "resourceType": "RelatedPerson",
        "id": _id("rp"),
        "active": end is None,
        "patient": SUBJECT,
        "relationship": [
            concept("DAU", system="http://terminology.hl7.org/CodeSystem/v3-RoleCode"),
            concept(code, system=SOCIAL_CARE),
        ],
        "period": period,
    }


def deficit_code(deficit: str) -> str:
    """One SNOMED code of a code-based deficit (the lowest, so tests are repeatable)."""
    return min(efi_code_list().codes_for(deficit), key=int)


def deficit_records(
    deficits: set[str] | frozenset[str], day: date | str = "2020-01-01"
) -> list[dict[str, Any]]:
    """A record with exactly these deficits: one Condition per coded deficit, 5 medicines for
    polypharmacy."""
    records: list[dict[str, Any]] = [
        condition(deficit_code(d), day) for d in CODED_DEFICITS if d in deficits
    ]
    if "polypharmacy" in deficits:
        records.extend(medicines(5))
    return records
