"""Composite search parameters over HTTP, on both databases: a code and the value found beside
it in the same element (FHIR R4 search.html "Composite Search Parameters")."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/fhir/R4"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
SYSTOLIC = {
    "coding": [
        {"system": SNOMED, "code": "271649006", "display": "Systolic blood pressure"},
        {"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"},
    ]
}
DIASTOLIC = {
    "coding": [
        {"system": SNOMED, "code": "271650006", "display": "Diastolic blood pressure"},
        {"system": LOINC, "code": "8462-4", "display": "Diastolic blood pressure"},
    ]
}


def put(client: TestClient, body: dict[str, Any]) -> None:
    response = client.put(
        f"{BASE}/{body['resourceType']}/{body['id']}", json=body, headers=FHIR_JSON
    )
    assert response.status_code in {200, 201}, response.text


def mm_hg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}


def blood_pressure(oid: str, patient: str, systolic: float, diastolic: float) -> dict[str, Any]:
    """A blood pressure panel as UK Core records it: the two readings are components."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}], "text": "Blood pressure"},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-10-01T10:00:00Z",
        "component": [
            {"code": SYSTOLIC, "valueQuantity": mm_hg(systolic)},
            {"code": DIASTOLIC, "valueQuantity": mm_hg(diastolic)},
        ],
    }


def ids(client: TestClient, resource_type: str, params: Any) -> list[str]:
    response = client.get(f"{BASE}/{resource_type}", params=params)
    assert response.status_code == 200, response.text
    return sorted(
        e["resource"]["id"]
        for e in response.json().get("entry", [])
        if e["search"]["mode"] == "match"
    )


@pytest.fixture
def readings(client: TestClient) -> TestClient:
    for pid in ("p1", "p2", "p3"):
        put(client, {"resourceType": "Patient", "id": pid})
    put(client, blood_pressure("bp1", "p1", systolic=150, diastolic=85))
    put(client, blood_pressure("bp2", "p2", systolic=130, diastolic=95))
    put(
        client,
        {
            "resourceType": "Observation",
            "id": "sys3",
            "status": "final",
            "code": SYSTOLIC,
            "subject": {"reference": "Patient/p3"},
            "valueQuantity": mm_hg(162),
        },
    )
    put(
        client,
        {
            "resourceType": "Observation",
            "id": "smoke1",
            "status": "final",
            "code": {"coding": [{"system": SNOMED, "code": "229819007", "display": "Smoking"}]},
            "subject": {"reference": "Patient/p1"},
            "valueCodeableConcept": {
                "coding": [{"system": SNOMED, "code": "8517006", "display": "Ex-smoker"}]
            },
        },
    )
    put(
        client,
        {
            "resourceType": "Observation",
            "id": "note1",
            "status": "final",
            "code": {"coding": [{"system": SNOMED, "code": "1234001"}]},
            "subject": {"reference": "Patient/p2"},
            "valueString": "paid $5 for transport",
        },
    )
    put(
        client,
        {
            "resourceType": "Observation",
            "id": "fall1",
            "status": "final",
            "code": {"coding": [{"system": SNOMED, "code": "161898004", "display": "Falls"}]},
            "subject": {"reference": "Patient/p3"},
            "valueDateTime": "2026-09-14",
        },
    )
    return client


def test_a_component_code_pairs_only_with_its_own_value(readings: TestClient) -> None:
    search = "component-code-value-quantity"
    assert ids(readings, "Observation", {search: f"{LOINC}|8480-6$gt140"}) == ["bp1"]
    assert ids(readings, "Observation", {search: f"{LOINC}|8462-4$gt90"}) == ["bp2"]
    assert ids(readings, "Observation", {search: "8480-6$gt90"}) == ["bp1", "bp2"]
    # bp1 has a diastolic code and a value of 150, but not in the same component.
    assert ids(readings, "Observation", {search: "8462-4$gt140"}) == []
    # Either coding of the component's code pairs with its value.
    assert ids(readings, "Observation", {search: f"{SNOMED}|271649006$ge150"}) == ["bp1"]


def test_composite_values_are_ored_and_repeats_anded(readings: TestClient) -> None:
    search = "component-code-value-quantity"
    assert ids(readings, "Observation", {search: "8480-6$gt140,8462-4$gt90"}) == ["bp1", "bp2"]
    both = [(search, "8480-6$gt120"), (search, "8462-4$lt90")]
    assert ids(readings, "Observation", both) == ["bp1"]


def test_code_value_quantity_reads_the_observation_itself(readings: TestClient) -> None:
    search = "code-value-quantity"
    assert ids(readings, "Observation", {search: f"{LOINC}|8480-6$gt140"}) == ["sys3"]
    unit = f"{LOINC}|8480-6$gt140|{UCUM}|mm[Hg]"
    assert ids(readings, "Observation", {search: unit}) == ["sys3"]
    assert ids(readings, "Observation", {search: f"{LOINC}|8480-6$gt140|{UCUM}|kg"}) == []
    assert ids(readings, "Observation", {search: f"{LOINC}|8480-6$lt140"}) == []


def test_combo_reads_the_observation_and_its_components(readings: TestClient) -> None:
    search = "combo-code-value-quantity"
    assert ids(readings, "Observation", {search: "8480-6$gt140"}) == ["bp1", "sys3"]
    assert ids(readings, "Observation", {search: "8462-4$gt140"}) == []


def test_concept_date_and_string_composites(readings: TestClient) -> None:
    concept = f"{SNOMED}|229819007${SNOMED}|8517006"
    assert ids(readings, "Observation", {"code-value-concept": concept}) == ["smoke1"]
    assert ids(readings, "Observation", {"code-value-concept": "229819007$77176002"}) == []
    assert ids(readings, "Observation", {"code-value-date": "161898004$ge2026-09"}) == ["fall1"]
    assert ids(readings, "Observation", {"code-value-date": "161898004$lt2026-09"}) == []
    # An escaped $ is part of the value, not a separator.
    escaped = "1234001$paid \\$5"
    assert ids(readings, "Observation", {"code-value-string": escaped}) == ["note1"]


def test_a_changed_reading_moves_in_and_out_of_the_results(readings: TestClient) -> None:
    search = {"component-code-value-quantity": "8480-6$gt140"}
    put(readings, blood_pressure("bp1", "p1", systolic=128, diastolic=80))
    assert ids(readings, "Observation", search) == []
    put(readings, blood_pressure("bp2", "p2", systolic=171, diastolic=99))
    assert ids(readings, "Observation", search) == ["bp2"]
    assert readings.delete(f"{BASE}/Observation/bp2").status_code in {200, 204}
    assert ids(readings, "Observation", search) == []


def test_composites_work_with_other_filters_and_reverse_chains(readings: TestClient) -> None:
    high = "8480-6$gt140"
    params = {"combo-code-value-quantity": high, "subject": "Patient/p3"}
    assert ids(readings, "Observation", params) == ["sys3"]
    assert ids(
        readings, "Patient", {"_has:Observation:subject:combo-code-value-quantity": high}
    ) == [
        "p1",
        "p3",
    ]
    counted = readings.get(
        f"{BASE}/Observation", params={"combo-code-value-quantity": high, "_summary": "count"}
    )
    assert counted.json()["total"] == 2


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"code-value-quantity": "8480-6"}, "2 parts separated by '$'"),
        ({"code-value-quantity": "8480-6$gt140$x"}, "2 parts separated by '$'"),
        ({"code-value-quantity": "8480-6$high"}, "code-value-quantity"),
        ({"code-value-quantity:missing": "true"}, "not supported"),
        ({"_sort": "code-value-quantity"}, "composite"),
    ],
)
def test_malformed_composite_searches_are_refused(
    readings: TestClient, params: dict[str, str], says: str
) -> None:
    response = readings.get(f"{BASE}/Observation", params=params)
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert says in outcome["issue"][0]["diagnostics"]


def test_the_capability_statement_offers_the_composites(client: TestClient) -> None:
    statement = client.get(f"{BASE}/metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}

    def composites(resource_type: str) -> set[str]:
        return {
            p["name"] for p in by_type[resource_type]["searchParam"] if p["type"] == "composite"
        }

    assert composites("Observation") == {
        "code-value-concept",
        "code-value-date",
        "code-value-quantity",
        "code-value-string",
        "combo-code-value-concept",
        "combo-code-value-quantity",
        "component-code-value-concept",
        "component-code-value-quantity",
    }
    # Its R4 definition swaps its components' expressions, so it is not offered.
    assert composites("DocumentReference") == set()
