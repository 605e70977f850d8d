"""The resource types careweave stores, validates, indexes and serves, and what an id may be.

Subscription is the one type that is about the platform rather than anyone's record: other
systems register FHIR R4 rest-hook Subscriptions (careweave.subscriptions), and only
administrators and platform-wide integrations read or write them (careweave.access.policy).
"""

import re

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""A resource's logical id (FHIR R4 `id` datatype): 1-64 of A-Z a-z 0-9 - and ."""


def is_fhir_id(value: str) -> bool:
    return FHIR_ID.fullmatch(value) is not None


SUPPORTED_RESOURCE_TYPES: tuple[str, ...] = (
    "AllergyIntolerance",
    "Appointment",
    "AuditEvent",
    "CarePlan",
    "CareTeam",
    "Communication",
    "Condition",
    "Consent",
    "DocumentReference",
    "Encounter",
    "EpisodeOfCare",
    "Flag",
    "Goal",
    "Group",
    "HealthcareService",
    "List",
    "Location",
    "MedicationStatement",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "ServiceRequest",
    "Subscription",
    "Task",
)
