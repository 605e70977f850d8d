"""Who a page is about: the person's identity as every coordination page shows it.

The banner is read through the guard, so opening any page about a person is itself a
recorded look at their record, and someone with no relationship gets "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from careweave.access.guard import CareRecordAccess
from careweave.coordination.record import read, referenced_id, today
from careweave.fhir.names import nhs_number_of, person_name


@dataclass(frozen=True)
class PersonBanner:
    """The person's identity: enough to be sure it is the right person (name, NHS number,
    date of birth), the practice they are registered with, and whether they have died."""

    patient_id: str
    name: str
    nhs_number: str | None
    birth_date: date | None
    gender: str | None
    practice_id: str | None
    deceased: bool
    version_id: int

    @property
    def age(self) -> int | None:
        if self.birth_date is None:
            return None
        now = today()
        before_birthday = (now.month, now.day) < (self.birth_date.month, self.birth_date.day)
        return now.year - self.birth_date.year - (1 if before_birthday else 0)


def _birth_date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def banner_of(patient: dict[str, Any]) -> PersonBanner:
    """The banner for a Patient resource already read through the guard."""
    practice = None
    for reference in patient.get("generalPractitioner") or ():
        practice = referenced_id(reference, "Organization")
        if practice:
            break
    deceased = bool(patient.get("deceasedBoolean")) or "deceasedDateTime" in patient
    return PersonBanner(
        patient_id=str(patient["id"]),
        name=person_name(patient) or "Name not recorded",
        nhs_number=nhs_number_of(patient),
        birth_date=_birth_date(patient.get("birthDate")),
        gender=patient.get("gender") if isinstance(patient.get("gender"), str) else None,
        practice_id=practice,
        deceased=deceased,
        version_id=int(patient.get("meta", {}).get("versionId", 0)),
    )


def person_banner(access: CareRecordAccess, patient_id: str) -> PersonBanner:
    """The banner of a person the asker may see (NotFound when they may not)."""
    return banner_of(read(access, "Patient", patient_id))
