"""The code systems, identifiers and extensions the directory of community services writes.

Local codes live under `https://fhir.careweave.example/` like the rest of careweave's
(careweave.coordination.codes); docs/directory.md lists every code and what it means. A national
code is used beside a local one only where one fits: the R4 `service-category` example code
system for HealthcareService.category, and the R4 `service-referral-method` codes for the ways
of referring that it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

CAREWEAVE_CODES: Final = "https://fhir.careweave.example/CodeSystem/"
CAREWEAVE_EXTENSIONS: Final = "https://fhir.careweave.example/StructureDefinition/"
CAREWEAVE_IDS: Final = "https://fhir.careweave.example/Id/"

NEED_SYSTEM: Final = CAREWEAVE_CODES + "community-need"
"""What a community service helps with, in a link worker's words: HealthcareService.type."""
ACCESSIBILITY_SYSTEM: Final = CAREWEAVE_CODES + "service-accessibility"
"""How a service meets disabled people's needs: HealthcareService.characteristic."""
REFERRAL_METHOD_SYSTEM: Final = CAREWEAVE_CODES + "service-referral-method"
"""How someone is put in touch with a service: HealthcareService.referralMethod."""
COST_KIND_SYSTEM: Final = CAREWEAVE_CODES + "service-cost"

SERVICE_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/service-category"
"""The R4 example code system for HealthcareService.category (checked against the published
CodeSystem: codes 2, 8, 13, 16, 18, 22, 23, 25, 32 and 33 below are its own)."""
HL7_REFERRAL_METHOD: Final = "http://terminology.hl7.org/CodeSystem/service-referral-method"

LAST_CHECKED_EXTENSION: Final = CAREWEAVE_EXTENSIONS + "directory-last-checked"
"""valueDateTime (to the day): when someone last checked the entry with the service."""
COST_EXTENSION: Final = CAREWEAVE_EXTENSIONS + "service-cost"
"""Complex: `kind` (valueCode free|donation|charge), `amount` (valueMoney, GBP) and `detail`
(valueString): what it costs the person, in numbers and words."""
CONTACT_EXTENSION: Final = CAREWEAVE_EXTENSIONS + "service-contact"
"""Complex: `name` and `title` (valueString) of the person to ask for (R4 HealthcareService has
no contact element; telecom holds the numbers)."""

ODS_ORGANIZATION: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
DIRECTORY_ORGANISATION_ID: Final = CAREWEAVE_IDS + "directory-organisation"
DIRECTORY_LOCATION_ID: Final = CAREWEAVE_IDS + "directory-location"
DIRECTORY_SERVICE_ID: Final = CAREWEAVE_IDS + "directory-service"
"""Each directory record carries its directory id (the HSDS id it was imported with) in one of
these systems. It marks the record as the directory's own: an import may update it."""
UK_CORE_PROFILE: Final = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"

NEEDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "befriending": "Befriending",
        "physical-activity": "Physical activity",
        "benefits-advice": "Benefits and money advice",
        "housing": "Housing",
        "carers-support": "Carers' support",
        "bereavement": "Bereavement support",
        "digital-skills": "Digital skills",
        "transport": "Transport",
        "lunch-club": "Lunch clubs",
        "memory-support": "Memory support",
        "mental-wellbeing": "Mental wellbeing",
        "arts-and-creativity": "Arts and creativity",
    }
)
"""Need category code -> what people call it (the community-need code system)."""

NEED_SERVICE_CATEGORY: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "befriending": ("32", "Support Group/s"),
        "physical-activity": ("23", "Physical Activity & Recreation"),
        "benefits-advice": ("16", "Financial & Material Aid"),
        "housing": ("18", "Housing/Homelessness"),
        "carers-support": ("25", "Respite/Carer Support"),
        "bereavement": ("8", "Counselling"),
        "digital-skills": ("13", "Education & Learning"),
        "transport": ("33", "Transport"),
        "lunch-club": ("2", "Aged Care"),
        "memory-support": ("32", "Support Group/s"),
        "mental-wellbeing": ("22", "Mental Health"),
        "arts-and-creativity": ("23", "Physical Activity & Recreation"),
    }
)
"""Need -> the nearest R4 service-category code and display (HealthcareService.category)."""

ACCESSIBILITY: Final[Mapping[str, str]] = MappingProxyType(
    {
        "step-free-access": "Step-free access",
        "hearing-loop": "Hearing loop",
        "accessible-toilet": "Accessible toilet",
        "accessible-parking": "Accessible parking",
        "large-print": "Large print materials",
        "bsl-interpreter": "British Sign Language interpreter on request",
        "dementia-friendly": "Dementia friendly",
        "quiet-space": "Quiet space",
    }
)
"""Accessibility feature code -> what people call it (the service-accessibility code system)."""

REFERRAL_METHODS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "phone": "Phone",
        "email": "Email",
        "online-form": "Online form",
        "letter": "Letter",
        "drop-in": "Drop in, no referral needed",
        "link-worker": "Through a social prescribing link worker",
    }
)
"""Referral method code -> words (the service-referral-method code system)."""

HL7_REFERRAL_METHODS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {"phone": ("phone", "Phone"), "letter": ("mail", "Mail")}
)
"""Our referral methods that the R4 service-referral-method code system also has."""

COST_KINDS: Final[Mapping[str, str]] = MappingProxyType(
    {"free": "Free", "donation": "Free, donations welcome", "charge": "There is a charge"}
)

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""FHIR days-of-week codes, Monday first (the index is Python's `date.weekday()`)."""
DAY_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    dict(
        zip(
            DAYS,
            ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
            strict=True,
        )
    )
)
