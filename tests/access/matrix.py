"""The access matrix: who may read, search, include, see the history of and write which part of a
person's record, written down as the specification the running server is tested against.

`EXPECTED` is written by hand from the rules the access model states (docs/access-model.md):
the roles, what the information-sharing agreement gives each of them (the terms careweave ships
as its example, for every organisation but one outsider practice), the sensitive labels, the
legitimate relationships and what each role records. It deliberately imports nothing from
careweave's policy code: if the server disagrees with it, the test says so rather than agreeing
with itself. Every cell of the matrix is computed from this table by `expected_operations`.

The scenario (organisations, accounts, one person per account and relationship, one record per
category of data) is built by `build_scenario`; tests/access/test_access_matrix.py builds it,
starts the real server and asks it over HTTP.

`python -m tests.access.matrix` prints the markdown that docs/access-model.md holds between its
`<!-- matrix:start -->` and `<!-- matrix:end -->` markers.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# -- The vocabulary ----------------------------------------------------------------------------

SENSITIVE_SYSTEM = "https://fhir.careweave.example/CodeSystem/sensitive-category"
CONSENT_CATEGORY_SYSTEM = "https://fhir.careweave.example/CodeSystem/consent-category"
CARER_ACCESS = "carer-access"

OPERATIONS = ("read", "search", "include", "history", "write")
LETTERS = {"read": "R", "search": "S", "include": "I", "history": "H", "write": "W"}

DIRECT_CARE = frozenset({"registered", "care-team", "referral", "task", "episode", "inpatient"})
"""The legitimate relationships through which a member of staff reaches a person."""

STAFF_RELATIONSHIPS = (
    "none",
    "registered",
    "care-team",
    "referral",
    "task",
    "episode",
    "inpatient",
    "closed-referral",
    "break-glass",
)
PERSON_RELATIONSHIPS = ("none", "self")

RELATIONSHIPS: dict[str, str] = {
    "none": "No link at all between the person and the user or their organisation",
    "registered": "The person is registered with the user's organisation "
    "(Patient.generalPractitioner)",
    "care-team": "An active CareTeam for the person lists the user's PractitionerRole",
    "referral": "An active ServiceRequest for the person names the organisation as performer",
    "task": "A requested Task for the person is owned by the organisation",
    "episode": "An active EpisodeOfCare for the person is managed by the organisation",
    "inpatient": "The person is in the organisation's hospital now (an in-progress Encounter "
    "with the organisation as service provider)",
    "closed-referral": "The only link is a completed ServiceRequest to the organisation",
    "break-glass": "No link, but the user broke the glass for the person (allowed only "
    "for clinical roles)",
    "self": "The person's own record (for a carer: the record of the person they care for)",
}


@dataclass(frozen=True)
class Record:
    """One record of a person's, standing for one column of the matrix."""

    category: str  # the category of data it belongs to
    resource_type: str
    label: str | None  # a sensitive label in meta.security, if any
    patient_param: str  # the search parameter naming the person ("_id" for the Patient)
    write_type: str  # what a user writes to add to this column (a RelatedPerson for a Patient)


COLUMNS: dict[str, Record] = {
    "demographics": Record("demographics", "Patient", None, "_id", "RelatedPerson"),
    "coordination": Record("coordination", "CarePlan", None, "patient", "Communication"),
    "conditions": Record("conditions", "Condition", None, "patient", "Condition"),
    "medications": Record(
        "medications", "MedicationStatement", None, "subject", "MedicationStatement"
    ),
    "observations": Record("observations", "Observation", None, "subject", "Observation"),
    "encounters": Record("encounters", "Encounter", None, "patient", "Encounter"),
    "documents": Record("documents", "DocumentReference", None, "subject", "DocumentReference"),
    "mental-health": Record("conditions", "Condition", "mental-health", "patient", "Condition"),
    "sexual-health": Record(
        "observations", "Observation", "sexual-health", "subject", "Observation"
    ),
    "safeguarding": Record(
        "documents", "DocumentReference", "safeguarding", "subject", "DocumentReference"
    ),
}
"""The columns: the seven categories of a person's record the roles differ on, then three
records carrying a sensitive label (a Condition, an Observation and a DocumentReference)."""

# -- The specification -------------------------------------------------------------------------

_COORDINATION_TYPES = frozenset(
    {
        "CareTeam",
        "CarePlan",
        "Goal",
        "Task",
        "ServiceRequest",
        "EpisodeOfCare",
        "Appointment",
        "Communication",
        "Flag",
        "List",
        "QuestionnaireResponse",
        "Consent",
    }
)
_RECORD_TYPES = _COORDINATION_TYPES | {
    "Patient",
    "RelatedPerson",
    "Condition",
    "AllergyIntolerance",
    "MedicationStatement",
    "Observation",
    "Encounter",
    "DocumentReference",
    "Provenance",
}
_DIRECTORY_TYPES = frozenset(
    {
        "Organization",
        "Location",
        "HealthcareService",
        "Practitioner",
        "PractitionerRole",
        "Questionnaire",
        "Group",
    }
)
_ALL_CATEGORIES = frozenset(
    {
        "demographics",
        "coordination",
        "conditions",
        "medications",
        "observations",
        "encounters",
        "documents",
    }
)
_CLINICAL_GLASS = DIRECT_CARE | {"break-glass"}

MAY_BREAK_GLASS = frozenset({"gp", "nurse", "discharge-coordinator", "care-home-staff"})
"""The roles whose holders may break the glass: clinicians, and those who act for them in an
emergency. Anyone else asking is refused, and the row behaves as if there were no link."""


@dataclass(frozen=True)
class Expected:
    """What one account may do, in the words of the rules."""

    role: str  # the careweave role the account holds
    organisation: str | None  # the organisation it acts for (key of ORGANISATIONS)
    sees: frozenset[str]  # categories of a person's record it sees, once it reaches them
    sensitive: frozenset[str]  # sensitive labels it may see (within those categories)
    reached_through: frozenset[str]  # relationships that reach a person's record
    writes: frozenset[str]  # resource types it may create (it must also see the result)
    why: str  # one line for the document


EXPECTED: dict[str, Expected] = {
    "gp": Expected(
        "gp",
        "practice",
        _ALL_CATEGORIES,
        frozenset({"mental-health", "sexual-health", "safeguarding"}),
        _CLINICAL_GLASS,
        _RECORD_TYPES,
        "The whole clinical record, every sensitive label the agreement names for GPs",
    ),
    "nurse": Expected(
        "nurse",
        "community",
        _ALL_CATEGORIES,
        frozenset({"mental-health", "sexual-health"}),
        _CLINICAL_GLASS,
        _RECORD_TYPES,
        "The whole clinical record; not safeguarding",
    ),
    "care-coordinator": Expected(
        "care-coordinator",
        "practice",
        _ALL_CATEGORIES - {"observations"},
        frozenset({"mental-health"}),
        DIRECT_CARE,
        _COORDINATION_TYPES | {"Patient", "RelatedPerson", "DocumentReference", "Provenance"},
        "Everything but observations; mental health; may not break the glass",
    ),
    "link-worker": Expected(
        "link-worker",
        "voluntary",
        frozenset({"demographics", "coordination"}),
        frozenset(),
        DIRECT_CARE,
        _COORDINATION_TYPES | {"Provenance"},
        "Who the person is and the coordination of their care",
    ),
    "social-worker": Expected(
        "social-worker",
        "council",
        frozenset({"demographics", "coordination", "conditions", "medications", "documents"}),
        frozenset({"safeguarding"}),
        DIRECT_CARE,
        _COORDINATION_TYPES | {"Patient", "RelatedPerson", "DocumentReference", "Provenance"},
        "Conditions, medications and documents (assessments) besides coordination; safeguarding",
    ),
    "discharge-coordinator": Expected(
        "discharge-coordinator",
        "acute",
        _ALL_CATEGORIES,
        frozenset(),
        _CLINICAL_GLASS,
        _COORDINATION_TYPES
        | {"Patient", "RelatedPerson", "Encounter", "DocumentReference", "Provenance"},
        "The whole clinical record, no sensitive label",
    ),
    "care-home-staff": Expected(
        "care-home-staff",
        "care-home",
        frozenset({"demographics", "coordination", "conditions", "medications", "observations"}),
        frozenset(),
        _CLINICAL_GLASS,
        _COORDINATION_TYPES | {"Observation", "Provenance"},
        "What daily care needs: conditions, medications, observations",
    ),
    "volunteer": Expected(
        "volunteer",
        "voluntary",
        frozenset({"demographics", "coordination"}),
        frozenset(),
        DIRECT_CARE,
        frozenset({"Task", "Communication", "Appointment"}),
        "Who the person is and the coordination of their care; writes tasks and messages",
    ),
    "analyst": Expected(
        "analyst",
        "icb",
        frozenset(),
        frozenset(),
        frozenset(),
        frozenset(),
        "No one's record (planning uses de-identified outputs); the directory only",
    ),
    "administrator": Expected(
        "administrator",
        "practice",
        frozenset(),
        frozenset(),
        frozenset(),
        _DIRECTORY_TYPES,
        "No one's record; keeps the directory (organisations, staff, services)",
    ),
    "outsider-gp": Expected(
        "gp",
        "outsider",
        frozenset(),
        frozenset(),
        frozenset(),
        _RECORD_TYPES,
        "A GP at a practice no agreement covers: no one's record, whatever the relationship",
    ),
    "patient": Expected(
        "patient",
        None,
        _ALL_CATEGORIES,
        frozenset({"mental-health", "sexual-health", "safeguarding"}),
        frozenset({"self"}),
        frozenset({"Communication", "QuestionnaireResponse", "Consent", "Goal"}),
        "Their own record, sensitive labels included; writes messages, answers, consent, goals",
    ),
    "carer": Expected(
        "carer",
        None,
        frozenset({"demographics", "coordination"}),
        frozenset(),
        frozenset({"self"}),
        frozenset({"Communication", "QuestionnaireResponse"}),
        "With the person's consent to see their plan: their demographics and care "
        "coordination; writes messages, answers",
    ),
    "carer-without-consent": Expected(
        "carer",
        None,
        frozenset({"demographics"}),
        frozenset(),
        frozenset({"self"}),
        frozenset({"Communication", "QuestionnaireResponse"}),
        "Before the person consents: who they are, their care team and appointments, "
        "not the plan; so writes nothing (a write must be visible to its writer)",
    ),
}
"""Per account: the specification the server is held to (see the module docstring)."""

ORGANISATIONS: dict[str, str] = {
    "practice": "Riverside Surgery (GP practice)",
    "council": "Northshire Council, adult social care",
    "community": "Northshire Community Health NHS Trust",
    "acute": "Northshire General Hospital NHS Foundation Trust (discharge team)",
    "care-home": "Willow House Care Home",
    "voluntary": "Age Well Northshire (voluntary organisation)",
    "icb": "NHS Northshire Integrated Care Board",
    "outsider": "Hilltop Medical Practice (party to no agreement)",
}
OUTSIDERS = frozenset({"outsider"})
"""Organisations the scenario's sharing agreement leaves out."""


def relationships_of(account: str) -> tuple[str, ...]:
    return (
        PERSON_RELATIONSHIPS
        if EXPECTED[account].role in ("patient", "carer")
        else (STAFF_RELATIONSHIPS)
    )


def rows() -> Iterator[tuple[str, str]]:
    """(account, relationship) for every row of the matrix, in the document's order."""
    for account in EXPECTED:
        for relationship in relationships_of(account):
            yield account, relationship


def expected_operations(account: str, relationship: str, column: str) -> frozenset[str]:
    """What the account may do with the column's record of a person it relates to thus."""
    spec = EXPECTED[account]
    record = COLUMNS[column]
    if relationship not in spec.reached_through:
        return frozenset()
    if record.category not in spec.sees:
        return frozenset()
    if record.label is not None and record.label not in spec.sensitive:
        return frozenset()
    allowed = {"read", "search", "include", "history"}
    if record.write_type in spec.writes:
        allowed.add("write")
    return frozenset(allowed)


# -- The scenario ------------------------------------------------------------------------------


def username(account: str) -> str:
    return f"matrix-{account}"


def patient_id(account: str, relationship: str) -> str:
    """The person of one row: a fresh one per account and relationship."""
    return f"m-{account}-{relationship}"


def record_id(account: str, relationship: str, column: str) -> str:
    """The id of the column's record of one row's person (the Patient for demographics)."""
    pid = patient_id(account, relationship)
    return pid if column == "demographics" else f"{pid}-{column}"


def practitioner_role_id(account: str) -> str:
    return f"role-{account}"


def _ref(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


def _labelled(body: dict[str, Any], label: str | None) -> dict[str, Any]:
    if label is not None:
        body["meta"] = {"security": [{"system": SENSITIVE_SYSTEM, "code": label}]}
    return body


def directory() -> list[dict[str, Any]]:
    """Organisations, and a Practitioner and PractitionerRole for every member of staff."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": key, "active": True, "name": name}
        for key, name in ORGANISATIONS.items()
    ]
    for account, spec in EXPECTED.items():
        if spec.organisation is None:
            continue
        practitioner = f"pr-{account}"
        resources.append(
            {
                "resourceType": "Practitioner",
                "id": practitioner,
                "name": [{"family": account.title(), "given": ["Sam"]}],
            }
        )
        resources.append(
            {
                "resourceType": "PractitionerRole",
                "id": practitioner_role_id(account),
                "active": True,
                "practitioner": _ref("Practitioner", practitioner),
                "organization": _ref("Organization", spec.organisation),
                "code": [{"text": spec.role}],
            }
        )
    return resources


def _new_record(column: str, pid: str) -> dict[str, Any]:
    """A record of the column's category about the person (no id: the body of a write)."""
    record = COLUMNS[column]
    subject = _ref("Patient", pid)
    body: dict[str, Any]
    if column == "demographics":
        body = {
            "resourceType": "RelatedPerson",
            "patient": subject,
            "relationship": [{"text": "Neighbour"}],
            "name": [{"family": "Ahmed", "given": ["Rubina"]}],
        }
    elif column == "coordination":
        body = {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "title": "Staying well at home",
            "subject": subject,
        }
    elif record.resource_type == "Condition":
        body = {
            "resourceType": "Condition",
            "code": {"text": "Low mood" if record.label else "Type 2 diabetes"},
            "subject": subject,
        }
    elif record.resource_type == "MedicationStatement":
        body = {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {"text": "Metformin 500 mg tablets"},
            "subject": subject,
        }
    elif record.resource_type == "Observation":
        body = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "Screening result" if record.label else "Body weight"},
            "subject": subject,
            "valueString": "recorded",
        }
    elif record.resource_type == "Encounter":
        body = {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
            },
            "subject": subject,
        }
    else:
        text = base64.b64encode(b"Synthetic letter for the access matrix").decode()
        body = {
            "resourceType": "DocumentReference",
            "status": "current",
            "subject": subject,
            "content": [{"attachment": {"contentType": "text/plain", "data": text}}],
        }
    return _labelled(body, record.label)


def write_body(column: str, pid: str) -> dict[str, Any]:
    """What a user POSTs to add to the column of the person's record (coordination: a
    Communication about them, the everyday message between the people caring for someone)."""
    if column == "coordination":
        return {
            "resourceType": "Communication",
            "status": "completed",
            "subject": _ref("Patient", pid),
            "payload": [{"contentString": "Visited today; all well."}],
        }
    return _new_record(column, pid)


def _link(account: str, relationship: str, pid: str) -> dict[str, Any] | None:
    """The resource that makes the relationship, or None when the relationship needs none."""
    organisation = EXPECTED[account].organisation or ""
    org = _ref("Organization", organisation)
    subject = _ref("Patient", pid)
    link_id = f"{pid}-link"
    if relationship == "care-team":
        return {
            "resourceType": "CareTeam",
            "id": link_id,
            "status": "active",
            "subject": subject,
            "participant": [{"member": _ref("PractitionerRole", practitioner_role_id(account))}],
        }
    if relationship in ("referral", "closed-referral"):
        return {
            "resourceType": "ServiceRequest",
            "id": link_id,
            "status": "active" if relationship == "referral" else "completed",
            "intent": "order",
            "code": {"text": "Assessment of care needs"},
            "subject": subject,
            "performer": [org],
        }
    if relationship == "task":
        return {
            "resourceType": "Task",
            "id": link_id,
            "status": "requested",
            "intent": "order",
            "description": "Arrange a home visit",
            "for": subject,
            "owner": org,
        }
    if relationship == "episode":
        return {
            "resourceType": "EpisodeOfCare",
            "id": link_id,
            "status": "active",
            "patient": subject,
            "managingOrganization": org,
        }
    return None


def person_records(account: str, relationship: str) -> list[dict[str, Any]]:
    """One row's person: the Patient, a record per column, and what links them to the user."""
    pid = patient_id(account, relationship)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": f"Matrix-{account}", "given": [relationship]}],
        "birthDate": "1941-03-09",
    }
    if relationship == "registered":
        patient["generalPractitioner"] = [
            _ref("Organization", EXPECTED[account].organisation or "")
        ]
    resources = [patient]
    for column in COLUMNS:
        if column != "demographics":
            resources.append(
                {**_new_record(column, pid), "id": record_id(account, relationship, column)}
            )
    link = _link(account, relationship, pid)
    if link is not None:
        resources.append(link)
    if relationship == "inpatient":
        # The person's Encounter is their stay in the organisation's hospital, happening now.
        for resource in resources:
            if resource["resourceType"] == "Encounter":
                resource["status"] = "in-progress"
                resource["class"] = {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "IMP",
                }
                resource["serviceProvider"] = _ref(
                    "Organization", EXPECTED[account].organisation or ""
                )
    if relationship == "self" and EXPECTED[account].role == "carer":
        resources.append(
            {
                "resourceType": "RelatedPerson",
                "id": f"{pid}-carer",
                "active": True,
                "patient": _ref("Patient", pid),
                "relationship": [{"text": "Daughter"}],
                "name": [{"family": f"Matrix-{account}", "given": ["Jo"]}],
            }
        )
        if account == "carer":
            resources.append(
                {
                    "resourceType": "Consent",
                    "id": f"{pid}-carer-access",
                    "status": "active",
                    "scope": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                "code": "patient-privacy",
                            }
                        ]
                    },
                    "category": [
                        {"coding": [{"system": CONSENT_CATEGORY_SYSTEM, "code": CARER_ACCESS}]}
                    ],
                    "patient": _ref("Patient", pid),
                    "provision": {
                        "type": "permit",
                        "actor": [
                            {
                                "role": {"text": "Carer"},
                                "reference": _ref("RelatedPerson", f"{pid}-carer"),
                            }
                        ],
                    },
                }
            )
    return resources


def agreement_parties() -> list[str]:
    return sorted(set(ORGANISATIONS) - OUTSIDERS)


# -- The document ------------------------------------------------------------------------------


def _cell(operations: frozenset[str]) -> str:
    letters = [LETTERS[op] for op in OPERATIONS if op in operations]
    return " ".join(letters) if letters else "—"


def _listed(values: frozenset[str], order: tuple[str, ...] | None = None) -> str:
    if not values:
        return "—"
    ordered = [v for v in order if v in values] if order else sorted(values)
    return ", ".join(ordered)


def _writes(types: frozenset[str]) -> str:
    if not types:
        return "—"
    if types == _RECORD_TYPES:
        return "every type of a person's record"
    if types == _DIRECTORY_TYPES:
        return "the directory only"
    if types >= _COORDINATION_TYPES:
        extra = sorted(types - _COORDINATION_TYPES)
        return "coordination types" + (f", {', '.join(extra)}" if extra else "")
    return ", ".join(sorted(types))


def render() -> str:
    """The markdown the document holds between its matrix markers."""
    columns = tuple(COLUMNS)
    category_order = tuple(c for c in columns if COLUMNS[c].label is None)
    label_order = tuple(c for c in columns if COLUMNS[c].label is not None)
    relationship_order = (*STAFF_RELATIONSHIPS, "self")
    lines = [
        "Each row is one account and one person, related as the row says; each column is one",
        "record of that person's. A cell lists what the account may do with that record:",
        "",
        "- **R** read: `GET Type/id` answers 200 (otherwise 404, as for a record that does "
        "not exist);",
        "- **S** search: `GET Type?patient=…` finds it and `_summary=count` counts it;",
        "- **I** include: `GET Patient?_id=…&_revinclude=Type:patient` returns it (for the "
        "demographics column: returns the Patient);",
        "- **H** history: `GET Type/id/_history` answers 200 with its version (otherwise 404);",
        "- **W** write: `POST` of a new record of that kind about the person answers 201 "
        "(otherwise 403). The demographics column writes a RelatedPerson, coordination a "
        "Communication.",
        "",
        "“—” means nothing at all: the record does not exist for that account.",
        "",
        "### The accounts",
        "",
        "| Account | Organisation | Role | Sees | Sensitive labels | Reached through "
        "| Writes | In short |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for account, spec in EXPECTED.items():
        organisation = ORGANISATIONS[spec.organisation] if spec.organisation else "—"
        lines.append(
            f"| {account} | {organisation} | {spec.role} "
            f"| {_listed(spec.sees, category_order)} "
            f"| {_listed(spec.sensitive, label_order)} "
            f"| {_listed(spec.reached_through, relationship_order)} "
            f"| {_writes(spec.writes)} | {spec.why} |"
        )
    lines += [
        "",
        "### The relationships",
        "",
        "| Relationship | What links the person to the account |",
        "|---|---|",
        *(f"| {name} | {text} |" for name, text in RELATIONSHIPS.items()),
        "",
        "### The matrix",
        "",
        "| Account | Relationship | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for account, relationship in rows():
        cells = [_cell(expected_operations(account, relationship, column)) for column in columns]
        lines.append(f"| {account} | {relationship} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cell_count() -> int:
    return sum(1 for _ in rows()) * len(COLUMNS)


if __name__ == "__main__":
    print(render(), end="")
