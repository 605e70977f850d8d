"""The patch interaction (JSON Patch, RFC 6902) over HTTP, on both databases."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/fhir/R4"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
PATCH = {"Content-Type": "application/json-patch+json"}
NHS = "https://fhir.nhs.uk/Id/nhs-number"


@pytest.fixture
def person(client: TestClient) -> TestClient:
    body = {
        "resourceType": "Patient",
        "id": "pt1",
        "identifier": [{"system": NHS, "value": "9990000018"}],
        "name": [{"family": "Thompson", "given": ["Margaret"]}],
        "gender": "female",
        "birthDate": "1941-06-02",
    }
    response = client.put(f"{BASE}/Patient/pt1", json=body, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return client


def patch(client: TestClient, operations: Any, **headers: str) -> Any:
    return client.patch(f"{BASE}/Patient/pt1", json=operations, headers={**PATCH, **headers})


def current(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{BASE}/Patient/pt1")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_a_patch_changes_what_it_names_and_makes_a_new_version(person: TestClient) -> None:
    operations = [
        {"op": "test", "path": "/name/0/family", "value": "Thompson"},
        {"op": "replace", "path": "/name/0/family", "value": "Thompson-Hale"},
        {"op": "add", "path": "/telecom", "value": [{"system": "phone", "value": "0113 496 0000"}]},
    ]
    response = patch(person, operations)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == 'W/"2"'
    assert response.json()["name"][0]["family"] == "Thompson-Hale"
    stored = current(person)
    assert stored["name"][0]["family"] == "Thompson-Hale"
    assert stored["telecom"][0]["value"] == "0113 496 0000"
    assert stored["birthDate"] == "1941-06-02"  # untouched
    first = person.get(f"{BASE}/Patient/pt1/_history/1").json()
    assert first["name"][0]["family"] == "Thompson"


def test_if_match_guards_against_a_change_meanwhile(person: TestClient) -> None:
    change = [{"op": "replace", "path": "/gender", "value": "unknown"}]
    assert patch(person, change, **{"If-Match": 'W/"2"'}).status_code == 412
    assert current(person)["gender"] == "female"
    assert patch(person, change, **{"If-Match": 'W/"1"'}).status_code == 200
    assert current(person)["gender"] == "unknown"


@pytest.mark.parametrize(
    ("operations", "status", "says"),
    [
        ({"op": "replace", "path": "/gender", "value": "male"}, 400, "array of operations"),
        ([], 400, "array of operations"),
        ([{"op": "rename", "path": "/gender"}], 400, "'op' must be one of"),
        ([{"op": "replace", "path": "/gender"}], 400, "needs 'value'"),
        ([{"op": "test", "path": "/gender", "value": "male"}], 422, "test failed"),
        ([{"op": "remove", "path": "/deceasedBoolean"}], 422, "cannot be applied"),
        ([{"op": "replace", "path": "/id", "value": "pt2"}], 422, "may not change 'id'"),
        ([{"op": "replace", "path": "/gender", "value": "bogus"}], 422, "allowed codes"),
        (
            [{"op": "replace", "path": "/identifier/0/value", "value": "9990000019"}],
            422,
            "NHS number",
        ),
        (
            [
                {
                    "op": "add",
                    "path": "/generalPractitioner",
                    "value": [{"reference": "Organization/nowhere"}],
                }
            ],
            422,
            "Organization/nowhere",
        ),
    ],
)
def test_a_bad_patch_is_refused_and_nothing_is_written(
    person: TestClient, operations: Any, status: int, says: str
) -> None:
    response = patch(person, operations)
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert says in " ".join(i.get("diagnostics", "") for i in outcome["issue"])
    stored = current(person)
    assert stored["meta"]["versionId"] == "1" and stored["gender"] == "female"


def test_a_patch_must_be_sent_as_json_patch(person: TestClient) -> None:
    response = person.patch(
        f"{BASE}/Patient/pt1",
        json=[{"op": "replace", "path": "/gender", "value": "male"}],
        headers=FHIR_JSON,
    )
    assert response.status_code == 415
    assert "application/json-patch+json" in response.json()["issue"][0]["diagnostics"]


def test_patching_what_is_not_there_or_deleted(person: TestClient) -> None:
    change = [{"op": "replace", "path": "/gender", "value": "male"}]
    missing = person.patch(f"{BASE}/Patient/nobody", json=change, headers=PATCH)
    assert missing.status_code == 404
    assert person.delete(f"{BASE}/Patient/pt1").status_code in {200, 204}
    assert patch(person, change).status_code == 410


def test_the_capability_statement_offers_patch(client: TestClient) -> None:
    statement = client.get(f"{BASE}/metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {"code": "patch"} in by_type["CarePlan"]["interaction"]
    assert {"code": "patch"} not in by_type["AuditEvent"]["interaction"]


def binary_patch(operations: Any) -> dict[str, Any]:
    """A Bundle's PATCH carries its JSON Patch as a base64 Binary (FHIR R4 http.html#patch)."""
    return {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(json.dumps(operations).encode()).decode(),
    }


def test_a_transaction_patches_with_references_to_what_it_creates(person: TestClient) -> None:
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:7f1c6b1e-0000-4000-8000-000000000001",
                "resource": {"resourceType": "Organization", "name": "Riverside Surgery"},
                "request": {"method": "POST", "url": "Organization"},
            },
            {
                "resource": binary_patch(
                    [
                        {
                            "op": "add",
                            "path": "/generalPractitioner",
                            "value": [
                                {"reference": "urn:uuid:7f1c6b1e-0000-4000-8000-000000000001"}
                            ],
                        }
                    ]
                ),
                "request": {"method": "PATCH", "url": "Patient/pt1", "ifMatch": 'W/"1"'},
            },
        ],
    }
    response = person.post(BASE, json=transaction, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[1]["response"]["status"] == "200 OK"
    organisation = entries[0]["response"]["location"].split("/_history")[0]
    assert current(person)["generalPractitioner"] == [{"reference": organisation}]


def test_a_failing_patch_undoes_the_whole_transaction(person: TestClient) -> None:
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Organization", "id": "org-x", "name": "X"},
                "request": {"method": "PUT", "url": "Organization/org-x"},
            },
            {
                "resource": binary_patch([{"op": "test", "path": "/gender", "value": "male"}]),
                "request": {"method": "PATCH", "url": "Patient/pt1"},
            },
        ],
    }
    response = person.post(BASE, json=transaction, headers=FHIR_JSON)
    assert response.status_code == 422, response.text
    assert "Bundle.entry[1]" in response.json()["issue"][0]["diagnostics"]
    assert person.get(f"{BASE}/Organization/org-x").status_code == 404


def test_batch_patch_entries_are_reported_one_by_one(person: TestClient) -> None:
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": binary_patch([{"op": "replace", "path": "/gender", "value": "other"}]),
                "request": {"method": "PATCH", "url": "Patient/pt1"},
            },
            {
                "resource": {"resourceType": "Patient", "gender": "male"},
                "request": {"method": "PATCH", "url": "Patient/pt1"},
            },
            {
                "resource": binary_patch([{"op": "replace", "path": "/gender", "value": "male"}]),
                "request": {"method": "PATCH", "url": "Patient/pt1", "ifMatch": 'W/"1"'},
            },
        ],
    }
    response = person.post(BASE, json=batch, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses[0] == "200 OK"
    assert statuses[1].startswith("422") and statuses[2].startswith("412")
    assert current(person)["gender"] == "other"


def test_a_conditional_patch_changes_the_one_match(person: TestClient) -> None:
    change = [{"op": "replace", "path": "/gender", "value": "other"}]
    url = f"{BASE}/Patient?identifier={NHS}|9990000018"
    response = person.patch(url, json=change, headers=PATCH)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "pt1" and current(person)["gender"] == "other"
    nobody = person.patch(f"{BASE}/Patient?identifier={NHS}|9990000026", json=change, headers=PATCH)
    assert nobody.status_code == 404
    twin = {"resourceType": "Patient", "id": "pt2", "name": [{"family": "Thompson"}]}
    assert person.put(f"{BASE}/Patient/pt2", json=twin, headers=FHIR_JSON).status_code == 201
    several = person.patch(f"{BASE}/Patient?family=Thompson", json=change, headers=PATCH)
    assert several.status_code == 412
    unconditioned = person.patch(f"{BASE}/Patient", json=change, headers=PATCH)
    assert unconditioned.status_code == 400
