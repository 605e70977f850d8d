"""What one part of the generator tells the next: the place, its services and each person.

The place (organisations, neighbourhoods, workforce) is generated first and is small; people are
then generated one at a time against it. An older person's clinical and social-care record is
built from their `Person` facts and the `Place`, and hands back what the Patient resource itself
must show (`RecordOutcome`: a death, a move into a care home, living alone).

References are FHIR relative references ("Organization/zzp001"); ids are short, stable and
derived from what they name, so the same seed always gives the same ids and re-importing a place
updates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

Sex = Literal["male", "female"]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS_ORGANIZATION = "https://fhir.nhs.uk/Id/ods-organization-code"
ODS_SITE = "https://fhir.nhs.uk/Id/ods-site-code"
ETHNIC_CATEGORY_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
ETHNIC_CATEGORY_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
)
SYNTHETIC_ID_SYSTEM = "https://fhir.careweave.example/Id/synthetic"
"""Identifiers (other than NHS numbers and ODS codes) that the generator makes up."""
IMD_EXTENSION = "https://fhir.careweave.example/StructureDefinition/imd-decile"
"""Deprivation decile (IMD 2019 style, 1 = most deprived) of the LSOA an address is in."""
LSOA_EXTENSION = "https://fhir.careweave.example/StructureDefinition/lsoa"
"""The (synthetic) LSOA code an address is in."""
UK_CORE_PROFILE = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"
"""Prefix of the UK Core profile canonicals: UK_CORE_PROFILE + "Patient" and so on."""
NHS_NUMBER_VERIFICATION_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
NHS_NUMBER_VERIFICATION_SYSTEM = (
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)
MARITAL_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"


@dataclass(frozen=True)
class Neighbourhood:
    """One LSOA-sized neighbourhood of the made-up place (about 1,600 residents)."""

    code: str  # synthetic LSOA code, e.g. "Z01000017" (real English LSOA codes start E01)
    name: str  # e.g. "Millbrook 004A"
    town: str
    imd_decile: int  # 1 = most deprived tenth of England, 10 = least deprived
    outward_code: str  # postcode district, e.g. "QX4"
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Organisation:
    """An organisation of the place: its resource id, synthetic ODS code and name."""

    id: str
    ods_code: str
    name: str

    @property
    def reference(self) -> dict[str, str]:
        return {"reference": f"Organization/{self.id}", "display": self.name}


@dataclass(frozen=True)
class StaffMember:
    """A PractitionerRole (and its Practitioner) that records can name as author or performer."""

    role_id: str
    practitioner_id: str
    name: str  # "Dr Priya Shah"
    role: str  # our role key: "gp", "practice-nurse", "social-worker", ...
    organisation: Organisation

    @property
    def practitioner_reference(self) -> dict[str, str]:
        return {"reference": f"Practitioner/{self.practitioner_id}", "display": self.name}

    @property
    def role_reference(self) -> dict[str, str]:
        return {"reference": f"PractitionerRole/{self.role_id}", "display": self.name}


@dataclass(frozen=True)
class Practice:
    """A GP practice with its primary care network and the staff who appear in its records."""

    organisation: Organisation
    pcn: Organisation
    location_id: str
    list_size: int
    neighbourhoods: tuple[Neighbourhood, ...]  # where its patients mostly live
    staff: tuple[StaffMember, ...]

    def staff_in(self, role: str) -> tuple[StaffMember, ...]:
        return tuple(member for member in self.staff if member.role == role)


@dataclass(frozen=True)
class CareHome:
    organisation: Organisation
    location_id: str
    nursing: bool  # nursing home (registered nurses on site) or residential home
    beds: int
    address: dict[str, Any]  # FHIR Address of the home
    neighbourhood: Neighbourhood
    staff: tuple[StaffMember, ...]


@dataclass(frozen=True)
class Place:
    """Everything a person's record may refer to, generated before any person."""

    seed: int
    name: str  # the made-up place, e.g. "Wyvern Vale"
    as_of: date  # the date the records are "as of"; every event is on or before it
    icb: Organisation
    practices: tuple[Practice, ...]
    neighbourhoods: tuple[Neighbourhood, ...]
    council: Organisation  # adult social care
    community_trust: Organisation
    acute_trust: Organisation
    acute_hospital_location_id: str
    discharge_team: Organisation  # part of the acute trust
    hospice: Organisation
    care_homes: tuple[CareHome, ...]
    voluntary_organisations: tuple[Organisation, ...]
    home_care_providers: tuple[Organisation, ...]
    staff: tuple[StaffMember, ...]  # everyone outside practices and care homes

    def staff_in(
        self, role: str, organisation: Organisation | None = None
    ) -> tuple[StaffMember, ...]:
        return tuple(
            member
            for member in self.staff
            if member.role == role and (organisation is None or member.organisation == organisation)
        )


@dataclass(frozen=True)
class Person:
    """A registered person's demographic facts, drawn before their record is built."""

    index: int  # 0-based position in the place; ids derive from it
    patient_id: str  # "p123"
    nhs_number: str | None  # test range 999..., valid modulus 11; None only past its capacity
    sex: Sex
    birth_date: date
    age: int  # whole years on place.as_of
    ethnic_category: str  # NHS ethnic category code, "A".."S", "Z" or "99"
    given: str
    family: str
    practice: Practice
    neighbourhood: Neighbourhood
    address: dict[str, Any]  # FHIR Address of their home
    usual_gp: StaffMember | None = None  # the GP named in Patient.generalPractitioner

    @property
    def reference(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}", "display": f"{self.given} {self.family}"}


@dataclass
class RecordOutcome:
    """What an older person's record decided that the Patient resource must show."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    """Every resource of the record, each after everything it refers to (except the Patient)."""
    deceased: date | None = None
    care_home: CareHome | None = None  # lives in this care home (Patient.address becomes its)
    lives_alone: bool = False
    marital_status: str | None = None  # v3 MaritalStatus code: M, W, D, S, ...
