"""Transaction Bundles are all-or-nothing; batch Bundles report each entry."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

BASE = "/fhir/R4"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def post_bundle(client: TestClient, kind: str, entries: list[dict[str, Any]]) -> Any:
    return client.post(
        BASE, json={"resourceType": "Bundle", "type": kind, "entry": entries}, headers=FHIR_JSON
    )


def patient_entry(
    nhs: str = "9990000018", full_url: str = "urn:uuid:6a0c3f55-0d51-4a4c-a6b2-5c1d2f7a9b10"
) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": NHS, "value": nhs}],
            "name": [{"family": "Thompson"}],
        },
        "request": {"method": "POST", "url": "Patient"},
    }


def condition_entry(subject: str) -> dict[str, Any]:
    return {
        "resource": {
            "resourceType": "Condition",
            "subject": {"reference": subject},
            "code": {"text": "Heart failure"},
        },
        "request": {"method": "POST", "url": "Condition"},
    }


def count(client: TestClient, resource_type: str) -> int:
    total: int = client.get(f"{BASE}/{resource_type}", params={"_summary": "count"}).json()["total"]
    return total


def test_transaction_resolves_urn_uuid_references(client: TestClient) -> None:
    # The condition comes first and refers forward to the patient created later in the Bundle.
    urn = "urn:uuid:6a0c3f55-0d51-4a4c-a6b2-5c1d2f7a9b10"
    response = post_bundle(
        client, "transaction", [condition_entry(urn), patient_entry(full_url=urn)]
    )
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in bundle["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    patient_id = bundle["entry"][1]["resource"]["id"]
    assert bundle["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    found = client.get(f"{BASE}/Condition", params={"subject": f"Patient/{patient_id}"}).json()
    assert found["total"] == 1


def test_transaction_is_all_or_nothing(client: TestClient) -> None:
    response = post_bundle(
        client,
        "transaction",
        [patient_entry(), condition_entry("Patient/ghost")],
    )
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Patient/ghost" in outcome["issue"][0]["diagnostics"]
    assert count(client, "Patient") == 0
    invalid = post_bundle(
        client,
        "transaction",
        [
            patient_entry(),
            {
                "resource": {"resourceType": "Patient", "gender": "x"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    )
    assert invalid.status_code == 422
    assert "Bundle.entry[1]" in invalid.json()["issue"][0]["diagnostics"]
    assert count(client, "Patient") == 0


def test_transaction_conditional_reference_and_conditional_create(client: TestClient) -> None:
    post_bundle(client, "transaction", [patient_entry()])
    response = post_bundle(
        client,
        "transaction",
        [
            {
                **patient_entry(),
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={NHS}|9990000018",
                },
            },
            condition_entry(f"Patient?identifier={NHS}|9990000018"),
        ],
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "200 OK"
    assert count(client, "Patient") == 1
    assert (
        entries[1]["resource"]["subject"]["reference"] == f"Patient/{entries[0]['resource']['id']}"
    )
    missing = post_bundle(
        client, "transaction", [condition_entry(f"Patient?identifier={NHS}|9990000026")]
    )
    assert missing.status_code == 422
    assert count(client, "Condition") == 1


def test_transaction_update_and_delete(client: TestClient) -> None:
    created = post_bundle(client, "transaction", [patient_entry()]).json()
    pid = created["entry"][0]["resource"]["id"]
    response = post_bundle(
        client,
        "transaction",
        [
            {
                "resource": {"resourceType": "Patient", "id": pid, "name": [{"family": "Smith"}]},
                "request": {"method": "PUT", "url": f"Patient/{pid}", "ifMatch": 'W/"1"'},
            },
            {
                "resource": {"resourceType": "Organization", "id": "org-1", "name": "Riverside"},
                "request": {"method": "PUT", "url": "Organization/org-1"},
            },
        ],
    )
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["200 OK", "201 Created"]
    stale = post_bundle(
        client,
        "transaction",
        [
            {
                "resource": {"resourceType": "Patient", "id": pid},
                "request": {"method": "PUT", "url": f"Patient/{pid}", "ifMatch": 'W/"1"'},
            }
        ],
    )
    assert stale.status_code == 412
    deleted = post_bundle(
        client, "transaction", [{"request": {"method": "DELETE", "url": "Organization/org-1"}}]
    )
    assert deleted.json()["entry"][0]["response"]["status"] == "204 No Content"
    assert client.get(f"{BASE}/Organization/org-1").status_code == 410


def test_batch_runs_entries_independently(client: TestClient) -> None:
    response = post_bundle(
        client,
        "batch",
        [
            patient_entry("9990000018"),
            condition_entry("Patient/ghost"),
            patient_entry("9990000026"),
            {"request": {"method": "GET", "url": "Patient/nope"}},
        ],
    )
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201", "422", "201", "404"]
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert count(client, "Patient") == 2


def test_bundle_must_be_transaction_or_batch(client: TestClient) -> None:
    response = client.post(
        BASE, json={"resourceType": "Bundle", "type": "collection"}, headers=FHIR_JSON
    )
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Bundle.type"]


def test_entries_with_impossible_ids_are_refused_per_entry(client: TestClient) -> None:
    response = post_bundle(
        client,
        "batch",
        [{"request": {"method": "GET", "url": "Patient/a\u0000b"}}, patient_entry()],
    )
    assert response.status_code == 200
    assert [e["response"]["status"][:3] for e in response.json()["entry"]] == ["422", "201"]
