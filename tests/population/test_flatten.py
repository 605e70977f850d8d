"""Flattening single resources into projection rows: whose a resource is, what a Patient row
holds, and the readings the SQL relies on (a never-true verification first, acute before
continuous, a statement's span)."""

from __future__ import annotations

from typing import Any

import pytest

from careweave.population.flatten import (
    ETHNIC_CATEGORY_EXTENSION,
    ETHNIC_CATEGORY_SYSTEMS,
    TABLES,
    ethnic_category,
    flatten,
    person_of,
)
from careweave.population.medicines import THERAPY_TYPE
from careweave.population.record import CONDITION_VERIFICATION
from tests.population.records import concept, condition, patient, request


def columns(table: str, row: tuple[object, ...]) -> dict[str, object]:
    return dict(zip((c.name for c in TABLES[table]), row, strict=True))


@pytest.mark.parametrize(
    ("resource", "person"),
    [
        ({"resourceType": "Patient", "id": "p1"}, "p1"),
        ({"resourceType": "Condition", "subject": {"reference": "Patient/p2"}}, "p2"),
        ({"resourceType": "RelatedPerson", "patient": {"reference": "Patient/p3"}}, "p3"),
        ({"resourceType": "Task", "for": {"reference": "Patient/p4/_history/2"}}, "p4"),
        ({"resourceType": "Condition", "subject": {"reference": "Group/g1"}}, None),
        ({"resourceType": "Organization", "id": "o1"}, None),
    ],
)
def test_whose_record_a_resource_is(resource: dict[str, Any], person: str | None) -> None:
    assert person_of(resource) == person


def test_a_patient_row_holds_who_they_are_and_where_they_live() -> None:
    body = patient(patient_id="p1", born="1940-06-15", imd=3)
    body["gender"] = "female"
    body["address"][0]["postalCode"] = "QX1 0WZ"
    body["generalPractitioner"] = [
        {"reference": "PractitionerRole/gp-1"},
        {"reference": "Organization/prac-1"},
    ]
    body["extension"] = [
        {
            "url": ETHNIC_CATEGORY_EXTENSION,
            "valueCodeableConcept": concept("K", system=ETHNIC_CATEGORY_SYSTEMS[0]),
        }
    ]
    (row,) = flatten(body, 7, "p1")["people"]
    assert columns("people", row) == {
        "person_id": "p1",
        "resource_pk": 7,
        "birth_date": "1940-06-15",
        "died_on": None,
        "deceased_flag": False,
        "sex": "female",
        "ethnic_category": "K",
        "imd_decile": 3,
        "practice_id": "prac-1",
        "postcode": "QX1 0WZ",
        "lsoa": None,
    }


@pytest.mark.parametrize(
    ("system", "code", "category"),
    [
        (ETHNIC_CATEGORY_SYSTEMS[0], "Z", "Z"),
        (ETHNIC_CATEGORY_SYSTEMS[1], "LB", "L"),
        (ETHNIC_CATEGORY_SYSTEMS[1], "99", "99"),
        ("http://example.org", "A", None),
    ],
)
def test_ethnic_categories_from_either_uk_core_list(
    system: str, code: str, category: str | None
) -> None:
    body = {
        "extension": [
            {"url": ETHNIC_CATEGORY_EXTENSION, "valueCodeableConcept": concept(code, system=system)}
        ]
    }
    assert ethnic_category(body) == category


def test_a_condition_refuted_among_other_verifications_reads_as_refuted() -> None:
    body = condition("84114007", "2020-01-01")
    body["verificationStatus"] = {
        "coding": [
            {"system": CONDITION_VERIFICATION, "code": "confirmed"},
            {"system": CONDITION_VERIFICATION, "code": "refuted"},
        ]
    }
    (row,) = flatten(body, 1, "p1")["coded_entries"]
    assert columns("coded_entries", row)["verification"] == "refuted"
    assert columns("coded_entries", row)["entry_day"] == "2020-01-01"


def test_a_request_that_is_both_acute_and_continuous_reads_as_acute() -> None:
    body = request("39000011000001100", "2026-01-01", course="continuous")
    body["courseOfTherapyType"]["coding"].append({"system": THERAPY_TYPE, "code": "acute"})
    (row,) = flatten(body, 1, "p1")["medicines"]
    assert columns("medicines", row)["course"] == "acute"
    assert columns("medicines", row)["start_day"] == "2026-01-01"


def test_a_statement_without_a_start_counts_from_when_it_was_asserted() -> None:
    body = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": {"text": "  Aspirin 75mg "},
        "effectivePeriod": {"end": "2026-02-01"},
        "dateAsserted": "2025-12-01T23:30:00Z",
    }
    (row,) = flatten(body, 1, "p1")["medicines"]
    found = columns("medicines", row)
    assert (found["start_day"], found["end_day"]) == ("2025-12-01", "2026-02-01")
    assert found["medicine_key"] == "text:aspirin 75mg"


def test_only_household_and_frailty_scale_observations_have_rows_of_their_own() -> None:
    household = {
        "resourceType": "Observation",
        "status": "final",
        "code": concept("224130005"),
        "valueCodeableConcept": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "999"},
                {"system": "http://snomed.info/sct", "code": "105529008"},
            ]
        },
        "effectiveDateTime": "2024-03-31T23:30:00Z",  # 1 April in London (summer time)
    }
    rows = flatten(household, 1, "p1")
    assert [columns("household", r)["value_position"] for r in rows["household"]] == [0, 1]
    assert columns("household", rows["household"][0])["entry_day"] == "2024-04-01"
    assert "frailty_scale" not in rows
    frailty = {**household, "code": concept("763264000"), "valueInteger": True}
    (row,) = flatten(frailty, 2, "p1")["frailty_scale"]
    assert columns("frailty_scale", row)["score"] is None
