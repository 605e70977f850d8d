"""`Patient/[id]/$everything` over HTTP, on both databases: one person's record, every type,
in pages that neither repeat nor skip."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/fhir/R4"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
SNOMED = "http://snomed.info/sct"


def put(client: TestClient, body: dict[str, Any]) -> None:
    response = client.put(
        f"{BASE}/{body['resourceType']}/{body['id']}", json=body, headers=FHIR_JSON
    )
    assert response.status_code in {200, 201}, response.text


def observation(oid: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": SNOMED, "code": "27113001"}]},
        "subject": {"reference": f"Patient/{patient}"},
    }


@pytest.fixture
def records(client: TestClient) -> TestClient:
    for pid in ("p1", "p2"):
        put(client, {"resourceType": "Patient", "id": pid})
    for n in range(4):
        put(client, observation(f"o{n}", "p1"))
    put(client, observation("other", "p2"))
    put(
        client,
        {
            "resourceType": "Condition",
            "id": "c1",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": SNOMED, "code": "38341003"}]},
        },
    )
    put(
        client,
        {
            "resourceType": "CarePlan",
            "id": "cp1",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/p1"},
        },
    )
    put(client, {"resourceType": "Organization", "id": "org1", "name": "Riverside"})
    return client


def everything(client: TestClient, pid: str = "p1", **params: str) -> dict[str, Any]:
    response = client.get(f"{BASE}/Patient/{pid}/$everything", params=params)
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()
    return bundle


def names(bundle: dict[str, Any]) -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
    ]


def test_everything_is_the_person_and_their_compartment(records: TestClient) -> None:
    bundle = everything(records)
    assert bundle["type"] == "searchset"
    assert sorted(names(bundle)) == [
        "CarePlan/cp1",
        "Condition/c1",
        "Observation/o0",
        "Observation/o1",
        "Observation/o2",
        "Observation/o3",
        "Patient/p1",
    ]
    assert records.delete(f"{BASE}/Observation/o2").status_code in {200, 204}
    assert "Observation/o2" not in names(everything(records))


def test_type_and_since_narrow_it(records: TestClient) -> None:
    assert sorted(names(everything(records, _type="Condition,CarePlan"))) == [
        "CarePlan/cp1",
        "Condition/c1",
    ]
    assert names(everything(records, _since="2999-01-01")) == []


def test_pages_neither_repeat_nor_skip(records: TestClient) -> None:
    seen: list[str] = []
    page = everything(records, _count="2")
    while True:
        assert len(page.get("entry", [])) <= 2
        seen += names(page)
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        response = records.get(following[0])
        assert response.status_code == 200, response.text
        page = response.json()
    assert len(seen) == len(set(seen)) == 7
    assert sorted(seen) == sorted(names(everything(records)))


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("Patient/nobody/$everything", {}, 404),
        ("Patient/p1/$everything", {"start": "2024-01-01"}, 400),
        ("Patient/p1/$everything", {"_type": "Spaceship"}, 404),
        ("Patient/p1/$everything", {"_count": "none"}, 400),
        ("Patient/p1/$everything", {"_since": "last week"}, 400),
    ],
)
def test_bad_requests_are_refused(
    records: TestClient, path: str, params: dict[str, str], status: int
) -> None:
    response = records.get(f"{BASE}/{path}", params=params)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_capability_statement_offers_everything(client: TestClient) -> None:
    statement = client.get(f"{BASE}/metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert by_type["Patient"]["operation"][0]["name"] == "everything"
