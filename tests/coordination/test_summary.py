"""The integrated person summary (careweave.coordination.summary), on SQLite and PostgreSQL:
each section's content and the organisation each item came from, what is left out (resolved
conditions, stopped medicines, closed tasks, records the user may not see), and the pure
helpers that read dates and sources from resources.

`build_marys_record` writes a realistic record for Mary across the place's organisations; the
page and timeline tests use it too.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from careweave.access.sharing import SENSITIVE_SYSTEM
from careweave.coordination.codes import (
    CARE_TEAM_CATEGORY,
    CARE_TEAM_ROLE,
    FULFIL,
    REFERRAL_CATEGORY,
    REFERRAL_SERVICE,
    SNOMED,
    TASK_TYPE,
)
from careweave.coordination.record import read, today
from careweave.coordination.summary import (
    CARE_PACKAGE_REVIEW_EXTENSION,
    PersonRecord,
    directory_references,
    fhir_when,
    person_summary,
    record_of,
    source_of,
    stays,
    summary_from,
)
from careweave.fhir.errors import NotFound
from careweave.store.access_tables import audit_log
from tests.coordination.place import Place

SOCIAL_CARE = "https://fhir.careweave.example/CodeSystem/social-care"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def day(days_ago: int) -> str:
    """A date `days_ago` days before today (UK), as FHIR writes it."""
    return (today() - timedelta(days=days_ago)).isoformat()


def condition(
    cid: str,
    name: str,
    *,
    status: str = "active",
    recorder: str | None = "PractitionerRole/prr-ann",
    onset: str | None = "2019-04-20",
    labels: list[str] | None = None,
    meta_source: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": status}]},
        "code": {"text": name},
        "subject": {"reference": "Patient/mary"},
        "recordedDate": "2019-05-01",
    }
    if code:
        resource["code"]["coding"] = [{"system": SNOMED, "code": code}]
    if onset:
        resource["onsetDateTime"] = onset
    if recorder:
        resource["recorder"] = {"reference": recorder}
    meta: dict[str, Any] = {}
    if labels:
        meta["security"] = [{"system": SENSITIVE_SYSTEM, "code": label} for label in labels]
    if meta_source:
        meta["source"] = meta_source
    if meta:
        resource["meta"] = meta
    return resource


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    value = {"coding": [{"system": system, "code": code}]}
    if display:
        value["text"] = display  # type: ignore[assignment]
    return value


def build_marys_record(place: Place) -> None:
    """Mary's record across organisations: the practice's conditions, medicines and allergy, the
    community trust's frailty assessment, the acute trust's A&E attendance and admission, the
    council's alert and home care package, a referral to the community trust, tasks, and her
    shared care team with Cara as coordinator."""
    place.put(
        {
            "resourceType": "Organization",
            "id": "homecare",
            "active": True,
            "name": "Helping Hands Home Care",
        }
    )
    patient = read(place.access("ann.gp"), "Patient", "mary")
    patient["address"] = [
        {"use": "home", "line": ["1 Mill Lane"], "city": "Northshire", "postalCode": "NS1 1AA"}
    ]
    patient["telecom"] = [{"system": "phone", "value": "01632 960999"}]
    patient["extension"] = [
        {
            "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland",
                        "code": "A",
                        "display": "White - British",
                    }
                ]
            },
        }
    ]
    patient.pop("meta", None)
    place.put(patient)
    for resource in [
        condition("c-heart", "Heart failure", onset="2019-04-20"),
        condition("c-old", "Chest infection", status="resolved", onset="2021-01-01"),
        condition("c-sexual", "Sexual health clinic finding", labels=["sexual-health"]),
        condition("c-script", "<script>alert('x')</script>", onset="2020-02-02"),
        condition(
            "c-hilltop",
            "Osteoarthritis of knee",
            recorder=None,
            meta_source="https://fhir.example.org/Organization/hilltop",
            onset="2015",
        ),
        condition("c-nowhere", "Hypertension", recorder=None, onset="2010-06"),
        {
            "resourceType": "MedicationStatement",
            "id": "m-furosemide",
            "status": "active",
            "medicationCodeableConcept": {"text": "Furosemide 40mg tablets"},
            "subject": {"reference": "Patient/mary"},
            "dateAsserted": "2024-02-03",
            "dosage": [{"text": "One tablet each morning"}],
            "informationSource": {"reference": "PractitionerRole/prr-ann"},
        },
        {
            "resourceType": "MedicationStatement",
            "id": "m-stopped",
            "status": "stopped",
            "medicationCodeableConcept": {"text": "Amoxicillin 500mg capsules"},
            "subject": {"reference": "Patient/mary"},
            "dateAsserted": "2023-02-03",
            "informationSource": {"reference": "PractitionerRole/prr-ann"},
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "a-penicillin",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"text": "Penicillin"},
            "criticality": "high",
            "patient": {"reference": "Patient/mary"},
            "recordedDate": "2018-03-04",
            "recorder": {"reference": "PractitionerRole/prr-ann"},
            "reaction": [{"manifestation": [{"text": "Rash"}]}],
        },
        {
            "resourceType": "Observation",
            "id": "o-frailty",
            "status": "final",
            "code": coding(SNOMED, "925831000000107", "Moderate frailty"),
            "subject": {"reference": "Patient/mary"},
            "effectiveDateTime": day(30),
            "performer": [{"reference": "PractitionerRole/prr-nina"}],
        },
        {
            "resourceType": "Encounter",
            "id": "e-ae",
            "status": "finished",
            "class": {"system": V3, "code": "EMER"},
            "subject": {"reference": "Patient/mary"},
            "period": {"start": day(20), "end": day(20)},
            "reasonCode": [{"text": "Fall at home"}],
            "serviceProvider": {"reference": "Organization/acute"},
        },
        {
            "resourceType": "Encounter",
            "id": "e-admission",
            "status": "finished",
            "class": {"system": V3, "code": "IMP"},
            "subject": {"reference": "Patient/mary"},
            "period": {"start": day(60), "end": day(53)},
            "reasonCode": [{"text": "Pneumonia"}],
            "serviceProvider": {"reference": "Organization/acute"},
            "hospitalization": {"dischargeDisposition": {"text": "Home"}},
        },
        {
            "resourceType": "Encounter",
            "id": "e-long-ago",
            "status": "finished",
            "class": {"system": V3, "code": "EMER"},
            "subject": {"reference": "Patient/mary"},
            "period": {"start": day(500), "end": day(500)},
            "serviceProvider": {"reference": "Organization/acute"},
        },
        {
            "resourceType": "Flag",
            "id": "f-keysafe",
            "status": "active",
            "category": [{"text": "Access"}],
            "code": {"text": "Key safe by the back door; dog in the house"},
            "subject": {"reference": "Patient/mary"},
            "period": {"start": "2025-01-10"},
            "author": {"reference": "Organization/council"},
        },
        {
            "resourceType": "ServiceRequest",
            "id": "sr-homecare",
            "status": "active",
            "intent": "order",
            "code": coding(SOCIAL_CARE, "home-care", "Home care (domiciliary care)"),
            "quantityQuantity": {"value": 10.5, "unit": "hours per week", "code": "h/wk"},
            "subject": {"reference": "Patient/mary"},
            "occurrencePeriod": {"start": "2025-02-01"},
            "authoredOn": "2025-01-20",
            "requester": {"reference": "PractitionerRole/prr-sam"},
            "performer": [{"reference": "Organization/homecare"}],
            "extension": [{"url": CARE_PACKAGE_REVIEW_EXTENSION, "valueDate": "2026-08-01"}],
        },
        {
            "resourceType": "EpisodeOfCare",
            "id": "ep-homecare",
            "status": "active",
            "type": [coding(SOCIAL_CARE, "home-care", "Home care package")],
            "patient": {"reference": "Patient/mary"},
            "managingOrganization": {"reference": "Organization/homecare"},
            "period": {"start": "2025-02-01"},
            "referralRequest": [{"reference": "ServiceRequest/sr-homecare"}],
        },
        {
            "resourceType": "ServiceRequest",
            "id": "sr-nursing",
            "status": "active",
            "intent": "order",
            "category": [coding(*REFERRAL_CATEGORY)],
            "code": coding(REFERRAL_SERVICE, "community-nursing", "Community nursing"),
            "subject": {"reference": "Patient/mary"},
            "authoredOn": day(10),
            "requester": {"reference": "PractitionerRole/prr-cara"},
            "performer": [{"reference": "Organization/community"}],
        },
        {
            "resourceType": "Task",
            "id": "t-nursing",
            "status": "accepted",
            "intent": "order",
            "code": coding(*FULFIL),
            "focus": {"reference": "ServiceRequest/sr-nursing"},
            "for": {"reference": "Patient/mary"},
            "authoredOn": day(10),
            "requester": {"reference": "PractitionerRole/prr-cara"},
            "owner": {"reference": "Organization/community"},
            "restriction": {"period": {"end": day(-5)}},
        },
        {
            "resourceType": "Task",
            "id": "t-overdue",
            "status": "requested",
            "intent": "plan",
            "code": coding(TASK_TYPE, "care-plan-action"),
            "description": "Arrange a falls assessment",
            "for": {"reference": "Patient/mary"},
            "authoredOn": day(14),
            "requester": {"reference": "PractitionerRole/prr-cara"},
            "owner": {"reference": "Organization/council"},
            "restriction": {"period": {"end": day(1)}},
        },
        {
            "resourceType": "Task",
            "id": "t-done",
            "status": "completed",
            "intent": "plan",
            "code": coding(TASK_TYPE, "care-plan-action"),
            "description": "Order a perching stool",
            "for": {"reference": "Patient/mary"},
            "authoredOn": day(40),
            "owner": {"reference": "Organization/council"},
            "restriction": {"period": {"end": day(30)}},
        },
        {
            "resourceType": "CareTeam",
            "id": "team-mary",
            "status": "active",
            "category": [coding(*CARE_TEAM_CATEGORY)],
            "subject": {"reference": "Patient/mary"},
            "managingOrganization": [{"reference": "Organization/riverside"}],
            "participant": [
                {
                    "role": [coding(CARE_TEAM_ROLE, "coordinator")],
                    "member": {"reference": "PractitionerRole/prr-cara"},
                    "onBehalfOf": {"reference": "Organization/riverside"},
                    "period": {"start": "2025-01-02"},
                },
                {
                    "role": [coding(CARE_TEAM_ROLE, "member")],
                    "member": {"reference": "PractitionerRole/prr-nina"},
                    "onBehalfOf": {"reference": "Organization/community"},
                    "period": {"start": "2025-03-01"},
                },
            ],
        },
    ]:
        place.put(resource)


def test_every_section_shows_its_content_and_where_it_came_from(place: Place) -> None:
    build_marys_record(place)
    summary = person_summary(place.access("ann.gp"), "mary")

    assert summary.person.name == "Mary Example"
    assert summary.demographics.address == ["1 Mill Lane", "Northshire", "NS1 1AA"]
    assert summary.demographics.phones == ["01632 960999"]
    assert summary.demographics.ethnicity == "White - British"

    names = [c.name for c in summary.conditions]
    assert "Heart failure" in names and "Chest infection" not in names
    heart = next(c for c in summary.conditions if c.name == "Heart failure")
    assert heart.source.organisation == "Riverside Surgery"
    assert heart.source.person == "Ann Example"
    assert heart.since is not None and heart.since.day == date(2019, 4, 20)
    assert heart.source.when is not None and heart.source.when.day == date(2019, 5, 1)
    hilltop = next(c for c in summary.conditions if c.name == "Osteoarthritis of knee")
    assert hilltop.source.organisation == "Hilltop Practice"  # from meta.source
    assert hilltop.since is not None and hilltop.since.precision == "year"
    nowhere = next(c for c in summary.conditions if c.name == "Hypertension")
    assert nowhere.source.organisation is None

    assert [(m.name, m.dose) for m in summary.medicines] == [
        ("Furosemide 40mg tablets", "One tablet each morning")
    ]
    assert summary.medicines[0].source.organisation == "Riverside Surgery"

    assert [(a.substance, a.reactions, a.criticality) for a in summary.allergies] == [
        ("Penicillin", ["Rash"], "high")
    ]

    assert summary.frailty is not None
    assert summary.frailty.category == "Moderate frailty"
    assert summary.frailty.source.organisation == "Northshire Community Health NHS Trust"

    assert [(s.kind, s.days) for s in summary.stays] == [
        ("A&E attendance", None),
        ("Hospital admission", 7),
    ]
    assert {s.source.organisation for s in summary.stays} == {
        "Northshire General Hospital NHS Trust"
    }
    assert summary.current_stay is None

    assert [a.text for a in summary.alerts] == ["Key safe by the back door; dog in the house"]
    assert summary.alerts[0].source.organisation == "Northshire Council Adult Social Care"

    [package] = summary.care_packages
    assert package.description == "Home care package"
    assert package.hours_per_week == 10.5
    assert package.provider == "Helping Hands Home Care"
    assert package.review is not None and package.review.day == date(2026, 8, 1)
    assert package.source.organisation == "Northshire Council Adult Social Care"

    assert [(c.name, c.relationship, c.phones) for c in summary.carers] == [
        ("Carl Example", "Son", ["07700 900123"])
    ]

    [referral] = summary.referrals  # the home care request is a package, not a referral
    assert referral.service == "Community nursing"
    assert referral.to == "Northshire Community Health NHS Trust"
    assert (referral.task_id, referral.status, referral.overdue) == ("t-nursing", "Accepted", False)
    assert referral.source.organisation == "Riverside Surgery"

    [task] = summary.tasks  # completed and referral tasks are not listed here
    assert (task.task_id, task.description, task.overdue) == (
        "t-overdue",
        "Arrange a falls assessment",
        True,
    )
    assert task.owner == "Northshire Council Adult Social Care"

    assert summary.team is not None and summary.team.coordinator is not None
    assert summary.team.coordinator.name == "Cara Coordinator"
    assert [m.name for m in summary.team.members] == ["Nina Nurse"]
    assert summary.not_shared == frozenset()


def test_a_role_sees_only_what_the_agreement_shares(place: Place) -> None:
    build_marys_record(place)
    gp = person_summary(place.access("ann.gp"), "mary")
    coordinator = person_summary(place.access("cara.coord"), "mary")
    assert "Sexual health clinic finding" in [c.name for c in gp.conditions]
    # A care coordinator's agreement shares mental health, not sexual health, and no
    # observations: the labelled condition and the frailty Observation do not exist for them.
    assert "Sexual health clinic finding" not in [c.name for c in coordinator.conditions]
    assert coordinator.frailty is None
    assert "frailty" in coordinator.partly_shared
    # A link worker sees coordination only: clinical sections are "not shared", not "none".
    link = person_summary(place.access("lee.lw"), "mary")
    assert {"conditions", "medicines", "allergies", "frailty", "stays"} <= link.not_shared
    assert link.conditions == [] and link.medicines == []
    assert [r.service for r in link.referrals] == ["Community nursing"]


def test_someone_without_a_relationship_finds_no_one(place: Place) -> None:
    build_marys_record(place)
    with pytest.raises(NotFound):
        person_summary(place.access("hal.gp"), "mary")
    with pytest.raises(NotFound):
        person_summary(place.access("ann.gp"), "nobody")


def test_the_record_is_read_in_a_few_audited_searches(place: Place) -> None:
    build_marys_record(place)
    access = place.access("ann.gp")
    before = _audit_rows(place)
    record = record_of(access, "mary", ["Condition", "Encounter", "Observation"])
    added = _audit_rows(place)[len(before) :]
    assert {r["id"] for r in record.of("Condition")} >= {"c-heart", "c-old", "c-sexual"}
    assert [r["id"] for r in record.of("Observation")] == ["o-frailty"]
    # The directory the sources need came with it.
    assert "Organization/acute" in record.directory
    assert "PractitionerRole/prr-ann" in record.directory
    assert "Practitioner/pr-ann" in record.directory
    assert "Organization/hilltop" in record.directory
    # One look at Mary's record; the directory look-ups (by id, at most three) are about no
    # one. The test place's references carry no display names, so organisations named
    # directly are read too.
    assert [(event, patient) for event, patient, _ in added if patient] == [("search", "mary")]
    assert len(added) <= 4
    assert added[0][2].startswith("Patient?_id=mary&_revinclude=Condition:patient")


def _audit_rows(place: Place) -> list[tuple[str, str | None, str]]:
    with place.store.database.read() as conn:
        rows = conn.execute(
            select(audit_log.c.event, audit_log.c.patient_id, audit_log.c.entity).order_by(
                audit_log.c.seq
            )
        ).all()
    return [(row[0], row[1], row[2] or "") for row in rows]


def test_a_current_admission_is_highlighted_with_its_days_so_far(place: Place) -> None:
    build_marys_record(place)
    place.put(
        {
            "resourceType": "Encounter",
            "id": "e-now",
            "status": "in-progress",
            "class": {"system": V3, "code": "IMP"},
            "subject": {"reference": "Patient/mary"},
            "period": {"start": day(3)},
            "serviceProvider": {"reference": "Organization/acute"},
        }
    )
    summary = person_summary(place.access("dan.dc"), "mary")
    assert summary.current_stay is not None
    assert (summary.current_stay.encounter_id, summary.current_stay.days) == ("e-now", 3)
    assert summary.stays[0].encounter_id == "e-now"


# -- pure helpers --------------------------------------------------------------------------------


def test_fhir_dates_keep_their_precision() -> None:
    assert fhir_when("2004") is not None and fhir_when("2004").precision == "year"  # type: ignore[union-attr]
    month = fhir_when("2004-10")
    assert month is not None and (month.precision, month.day) == ("month", date(2004, 10, 1))
    late = fhir_when("2025-06-30T23:30:00Z")  # half past midnight in the UK (BST)
    assert late is not None and late.day == date(2025, 7, 1) and late.precision == "time"
    assert fhir_when("not a date") is None
    assert fhir_when(None) is None


def test_source_of_follows_practitioner_roles_and_meta_source() -> None:
    directory: dict[str, dict[str, Any]] = {
        "PractitionerRole/r1": {
            "resourceType": "PractitionerRole",
            "id": "r1",
            "practitioner": {"reference": "Practitioner/p1"},
            "organization": {"reference": "Organization/o1"},
        },
        "Practitioner/p1": {
            "resourceType": "Practitioner",
            "id": "p1",
            "name": [{"prefix": ["Dr"], "given": ["Jo"], "family": "Bloggs"}],
        },
        "Organization/o1": {"resourceType": "Organization", "id": "o1", "name": "Oak Surgery"},
        "Organization/o2": {"resourceType": "Organization", "id": "o2", "name": "Elm Trust"},
    }
    by_role = source_of(
        {"resourceType": "Flag", "author": {"reference": "PractitionerRole/r1"}}, directory
    )
    assert (by_role.organisation, by_role.person) == ("Oak Surgery", "Dr Jo Bloggs")
    by_meta = source_of(
        {"resourceType": "RelatedPerson", "meta": {"source": "Organization/o2"}}, directory
    )
    assert by_meta.organisation == "Elm Trust"
    unknown_system = source_of(
        {"resourceType": "RelatedPerson", "meta": {"source": "urn:uuid:1234"}}, directory
    )
    assert unknown_system.organisation is None
    visit = source_of(
        {
            "resourceType": "Appointment",
            "participant": [
                {"actor": {"reference": "Patient/p9", "display": "Pat Example"}},
                {"actor": {"reference": "PractitionerRole/r1", "display": "Jo Bloggs"}},
            ],
        },
        directory,
    )
    assert (visit.organisation, visit.person) == ("Oak Surgery", "Dr Jo Bloggs")
    by_the_person = source_of(
        {
            "resourceType": "Communication",
            "sender": {"reference": "Patient/p9", "display": "Pat Example"},
        },
        directory,
    )
    assert (by_the_person.organisation, by_the_person.person) == (None, "Pat Example")
    displayed = source_of(
        {
            "resourceType": "Encounter",
            "serviceProvider": {"reference": "Organization/gone", "display": "Old Trust"},
        },
        directory,
    )
    assert displayed.organisation == "Old Trust"


def test_only_names_the_record_cannot_show_are_looked_up() -> None:
    record = PersonRecord(
        patient={"resourceType": "Patient", "id": "p1"},
        resources={
            "Encounter": [
                {
                    "resourceType": "Encounter",
                    "id": "e1",
                    "serviceProvider": {"reference": "Organization/o1", "display": "Elm Trust"},
                },
                {
                    "resourceType": "Encounter",
                    "id": "e2",
                    "serviceProvider": {"reference": "Organization/o2"},
                },
            ],
            "Flag": [
                {
                    "resourceType": "Flag",
                    "id": "f1",
                    "author": {"reference": "PractitionerRole/r1", "display": "Jo Bloggs"},
                }
            ],
        },
        directory={},
        readable=None,
    )
    assert directory_references(record) == {
        ("Organization", "o1"): False,  # its display name is shown
        ("Organization", "o2"): True,
        ("PractitionerRole", "r1"): True,  # the role's organisation is not in the reference
    }


def test_stays_keep_the_last_12_months_and_measure_admissions() -> None:
    on = date(2026, 3, 31)

    def encounter(eid: str, klass: str, start: str, end: str | None, status: str) -> dict[str, Any]:
        period = {"start": start} | ({"end": end} if end else {})
        return {
            "resourceType": "Encounter",
            "id": eid,
            "status": status,
            "class": {"system": V3, "code": klass},
            "period": period,
        }

    found = stays(
        [
            encounter("old", "EMER", "2025-03-30", "2025-03-30", "finished"),
            encounter("edge", "EMER", "2025-03-31", "2025-03-31", "finished"),
            encounter("stay", "IMP", "2025-12-01", "2025-12-11", "finished"),
            encounter("now", "IMP", "2024-01-01", None, "in-progress"),
            encounter("plan", "IMP", "2026-04-10", None, "planned"),
        ],
        {},
        on,
    )
    assert [(s.encounter_id, s.days, s.current) for s in found] == [
        ("now", (on - date(2024, 1, 1)).days, True),
        ("stay", 10, False),
        ("edge", None, False),
    ]


def test_summary_from_is_pure_over_resources() -> None:
    record = PersonRecord(
        patient={"resourceType": "Patient", "id": "p1", "name": [{"text": "Pat Example"}]},
        resources={
            "Task": [
                {
                    "resourceType": "Task",
                    "id": "t1",
                    "status": "in-progress",
                    "code": {"coding": [{"system": TASK_TYPE, "code": "review-care-plan"}]},
                    "restriction": {"period": {"end": "2026-03-30"}},
                },
                {
                    "resourceType": "Task",
                    "id": "t2",
                    "status": "requested",
                    "description": "Later",
                    "restriction": {"period": {"end": "2026-04-30"}},
                },
            ]
        },
        directory={},
        readable=frozenset({"Patient", "Task"}),
    )
    summary = summary_from(record, date(2026, 3, 31))
    assert [(t.task_id, t.description, t.overdue) for t in summary.tasks] == [
        ("t1", "Review care plan", True),
        ("t2", "Later", False),
    ]
    assert "conditions" in summary.not_shared and "tasks" not in summary.not_shared
