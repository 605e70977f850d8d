"""The code systems, codes and extensions care coordination writes and reads.

Local codes (under `https://fhir.careweave.example/`) are used where no checked national code
exists; a SNOMED CT code appears here only when it was checked against a public codelist, and
its comment says where. docs/care-coordination.md says what each is used for.
"""

from __future__ import annotations

from typing import Any, Final

from careweave.access.consent_codes import CARER_ACCESS as CARER_ACCESS
from careweave.access.consent_codes import CONSENT_CATEGORY_SYSTEM

CAREWEAVE_CODES: Final = "https://fhir.careweave.example/CodeSystem/"
CAREWEAVE_EXTENSIONS: Final = "https://fhir.careweave.example/StructureDefinition/"

SNOMED: Final = "http://snomed.info/sct"
LOINC: Final = "http://loinc.org"
V3_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
FHIR_TASK_CODE: Final = "http://hl7.org/fhir/CodeSystem/task-code"
CONSENT_SCOPE: Final = "http://terminology.hl7.org/CodeSystem/consentscope"

# -- care team ---------------------------------------------------------------------------------
CARE_TEAM_CATEGORY: Final = (LOINC, "LA28865-6")
"""Longitudinal care-coordination focused care team (R4 care-team-category value set)."""
CARE_TEAM_ROLE: Final = CAREWEAVE_CODES + "care-team-role"
COORDINATOR: Final = "coordinator"
COVER: Final = "cover"
MEMBER: Final = "member"

# -- care plan ---------------------------------------------------------------------------------
CARE_PLAN_CATEGORY: Final = (
    CAREWEAVE_CODES + "care-plan-category",
    "personalised-care-and-support-plan",
)
CARE_PLAN_SECTION: Final = CAREWEAVE_CODES + "care-plan-section"
"""Both the owner section of an action (Task.performerType: health, social-care, voluntary,
person) and the text section of a plan note (contingency, crisis, anticipatory, about-me)."""
ACTION_SECTIONS: Final = ("health", "social-care", "voluntary", "person")
NOTE_SECTIONS: Final = ("about-me", "contingency", "crisis", "anticipatory")
NEXT_REVIEW_EXTENSION: Final = CAREWEAVE_EXTENSIONS + "care-plan-next-review"
LAST_REVIEWED_EXTENSION: Final = CAREWEAVE_EXTENSIONS + "care-plan-last-reviewed"
SECTION_EXTENSION: Final = CAREWEAVE_EXTENSIONS + "care-plan-section"

# -- tasks -------------------------------------------------------------------------------------
TASK_TYPE: Final = CAREWEAVE_CODES + "task-type"
TASK_TYPES: Final = (
    "care-plan-action",
    "review-care-plan",
    "respond-to-message",
    "mdt-action",
    "discharge-to-assess",
    "discharge-dependency",
    "first-48-hours",
    "post-discharge-check",
)
FULFIL: Final = (FHIR_TASK_CODE, "fulfill")
"""The code of a referral's Task (FHIR task-code: fulfil the focal request)."""
CLOSED_TASK_STATUSES: Final = frozenset(
    {"completed", "cancelled", "rejected", "failed", "entered-in-error"}
)

# -- referrals ---------------------------------------------------------------------------------
REFERRAL_CATEGORY: Final = (SNOMED, "3457005")
"""Patient referral (procedure): the R4 ServiceRequest category example value set."""
REFERRAL_SERVICE: Final = CAREWEAVE_CODES + "referral-service"
SOCIAL_PRESCRIBING_REFERRAL: Final = (SNOMED, "871731000000106")
"""Referral to social prescribing service (checked in a public codelist; shared/standards.md)."""

# -- communications ----------------------------------------------------------------------------
COMMUNICATION_CATEGORY: Final = CAREWEAVE_CODES + "communication-category"
COMMUNICATION_CATEGORIES: Final = (
    "note",
    "handover",
    "what-matters-to-me",
    "question-for-review",
    "mdt-discussion",
)

# -- discharge ---------------------------------------------------------------------------------
D2A_PATHWAY: Final = CAREWEAVE_CODES + "d2a-pathway"
DISCHARGE_INPUT: Final = CAREWEAVE_CODES + "discharge-input"
DISCHARGE_DELAY_REASON: Final = CAREWEAVE_CODES + "discharge-delay-reason"
INPATIENT_CLASS: Final = (V3_ACT_CODE, "IMP")
EMERGENCY_CLASS: Final = (V3_ACT_CODE, "EMER")

# -- MDT, carers -------------------------------------------------------------------------------
APPOINTMENT_TYPE: Final = CAREWEAVE_CODES + "appointment-type"
MDT_MEETING: Final = "mdt-meeting"
CONSENT_CATEGORY: Final = CONSENT_CATEGORY_SYSTEM
"""Consent categories are the access rules' (careweave.access.consent): `carer-access` is read
there on every request of a carer's."""


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A FHIR Coding."""
    value: dict[str, Any] = {"system": system, "code": code}
    if display:
        value["display"] = display
    return value


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A FHIR CodeableConcept with one coding (and its display as text)."""
    value: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if display:
        value["text"] = display
    return value


def has_code(concept_value: Any, system: str, code: str) -> bool:
    """True when a CodeableConcept (or a list of them) carries `system|code`."""
    concepts = concept_value if isinstance(concept_value, list) else [concept_value]
    for item in concepts:
        if not isinstance(item, dict):
            continue
        for c in item.get("coding") or ():
            if isinstance(c, dict) and c.get("system") == system and c.get("code") == code:
                return True
    return False


def code_in(concept_value: Any, system: str) -> str | None:
    """The first code of `system` in a CodeableConcept (or list of them), if any."""
    concepts = concept_value if isinstance(concept_value, list) else [concept_value]
    for item in concepts:
        if not isinstance(item, dict):
            continue
        for c in item.get("coding") or ():
            if isinstance(c, dict) and c.get("system") == system and isinstance(c.get("code"), str):
                return str(c["code"])
    return None


# -- frailty -----------------------------------------------------------------------------------
FRAILTY_FINDINGS: Final = {
    "925791000000100": "mild",
    "925831000000107": "moderate",
    "925861000000102": "severe",
}
"""SNOMED CT findings Mild/Moderate/Severe frailty (UK extension), as practices code the
category after an eFI review (checked in several public primary care codelists and queries).
A person with none of these has no frailty recorded; "fit" is never coded."""
FRAILTY_DISPLAY: Final = {
    "925791000000100": "Mild frailty",
    "925831000000107": "Moderate frailty",
    "925861000000102": "Severe frailty",
}
