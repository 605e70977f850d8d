"""Conditional read over HTTP and in batch Bundles, on both databases: a client's copy that is
still current gets 304 and no body; a changed resource is sent in full."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime

from fastapi.testclient import TestClient

BASE = "/fhir/R4"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
PATIENT = {"resourceType": "Patient", "id": "cr1", "name": [{"family": "Okafor"}]}


def stored(client: TestClient) -> tuple[str, str]:
    response = client.put(f"{BASE}/Patient/cr1", json=PATIENT, headers=FHIR_JSON)
    assert response.status_code in {200, 201}, response.text
    return response.headers["ETag"], response.headers["Last-Modified"]


def test_an_unchanged_resource_answers_304_without_a_body(client: TestClient) -> None:
    etag, modified = stored(client)
    response = client.get(f"{BASE}/Patient/cr1", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag
    response = client.get(f"{BASE}/Patient/cr1", headers={"If-Modified-Since": modified})
    assert response.status_code == 304


def test_a_changed_resource_is_sent_in_full(client: TestClient) -> None:
    etag, modified = stored(client)
    changed = {**PATIENT, "name": [{"family": "Okafor-Reid"}]}
    assert client.put(f"{BASE}/Patient/cr1", json=changed, headers=FHIR_JSON).status_code == 200
    response = client.get(f"{BASE}/Patient/cr1", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json()["name"][0]["family"] == "Okafor-Reid"
    assert response.headers["ETag"] == 'W/"2"'
    earlier = format_datetime(parsedate_to_datetime(modified) - timedelta(seconds=1), usegmt=True)
    response = client.get(f"{BASE}/Patient/cr1", headers={"If-Modified-Since": earlier})
    assert response.status_code == 200


def test_a_version_read_is_conditional_too(client: TestClient) -> None:
    stored(client)
    url = f"{BASE}/Patient/cr1/_history/1"
    assert client.get(url, headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": 'W/"9"'}).status_code == 200


def test_a_conditional_read_of_a_deleted_resource_is_still_gone(client: TestClient) -> None:
    etag, _ = stored(client)
    assert client.delete(f"{BASE}/Patient/cr1").status_code in {200, 204}
    assert client.get(f"{BASE}/Patient/cr1", headers={"If-None-Match": etag}).status_code == 410


def test_batch_get_entries_honour_if_none_match_and_if_modified_since(
    client: TestClient,
) -> None:
    stored(client)
    version = client.get(f"{BASE}/Patient/cr1").json()["meta"]
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Patient/cr1", "ifNoneMatch": 'W/"1"'}},
            {"request": {"method": "GET", "url": "Patient/cr1", "ifNoneMatch": 'W/"7"'}},
            {
                "request": {
                    "method": "GET",
                    "url": "Patient/cr1",
                    "ifModifiedSince": version["lastUpdated"],
                }
            },
            {
                "request": {
                    "method": "GET",
                    "url": "Patient/cr1",
                    "ifModifiedSince": "2020-01-01T00:00:00Z",
                }
            },
        ],
    }
    response = client.post(BASE, json=batch, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"] for e in entries] == [
        "304 Not Modified",
        "200 OK",
        "304 Not Modified",
        "200 OK",
    ]
    assert "resource" not in entries[0] and entries[1]["resource"]["id"] == "cr1"


def test_the_capability_statement_says_reads_are_conditional(client: TestClient) -> None:
    statement = client.get(f"{BASE}/metadata").json()
    kinds = {r["type"]: r.get("conditionalRead") for r in statement["rest"][0]["resource"]}
    assert kinds["Patient"] == "full-support"
