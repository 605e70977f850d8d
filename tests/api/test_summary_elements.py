"""`_summary` and `_elements` over HTTP on read, vread and search, on both databases."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.api.test_search import put

BASE = "/fhir/R4"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}


def patient(pid: str, nhs: str, family: str, born: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{family}</div>',
        },
        "identifier": [{"system": NHS, "value": nhs}],
        "name": [{"family": family, "given": ["Margaret"]}],
        "gender": "female",
        "birthDate": born,
        "photo": [{"contentType": "image/png", "data": "iVBORw0KGgo="}],
        "contact": [{"name": {"family": family, "given": ["Ann"]}}],
    }


@pytest.fixture
def records(client: TestClient) -> TestClient:
    put(client, patient("p1", "9990000018", "Thompson", "1941-06-02"))
    put(client, patient("p2", "9990000026", "Okafor", "1950-03-15"))
    put(
        client,
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2024-03-01T10:00:00Z",
            "valueQuantity": {"value": 150, "unit": "mmHg"},
            "note": [{"text": "Seated, left arm"}],
        },
    )
    return client


def resources(bundle: dict[str, Any], mode: str = "match") -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def link(bundle: dict[str, Any], relation: str) -> str:
    url: str = next(item["url"] for item in bundle["link"] if item["relation"] == relation)
    return url


def assert_outcome(response: Any, words: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert words in body["issue"][0]["diagnostics"]


def test_search_summary_true_keeps_summary_elements_and_tags_them(records: TestClient) -> None:
    bundle = records.get(f"{BASE}/Patient", params={"_summary": "true"}).json()
    assert bundle["total"] == 2
    for found in resources(bundle):
        assert found["identifier"][0]["system"] == NHS
        assert found["name"][0]["given"] == ["Margaret"]
        assert "birthDate" in found and "gender" in found
        assert not {"photo", "contact", "text"} & set(found)
        assert found["meta"]["tag"] == [SUBSETTED]
        assert found["meta"]["versionId"] == "1"


def test_search_elements_keeps_what_is_named(records: TestClient) -> None:
    bundle = records.get(f"{BASE}/Patient", params={"_elements": "name", "_id": "p1"}).json()
    [found] = resources(bundle)
    assert set(found) == {"resourceType", "id", "meta", "name"}
    assert found["name"][0]["family"] == "Thompson"
    assert SUBSETTED in found["meta"]["tag"]
    value = records.get(f"{BASE}/Observation", params={"_elements": "value"}).json()
    [observation] = resources(value)
    assert observation["valueQuantity"]["value"] == 150
    assert observation["status"] == "final" and "code" in observation  # mandatory
    assert "subject" not in observation and "note" not in observation


def test_summary_text_and_data(records: TestClient) -> None:
    [text] = resources(records.get(f"{BASE}/Patient", params={"_summary": "text"}).json())[:1]
    assert set(text) == {"resourceType", "id", "meta", "text"}
    [data] = resources(records.get(f"{BASE}/Patient", params={"_summary": "data"}).json())[:1]
    assert "text" not in data and data["photo"][0]["contentType"] == "image/png"
    assert SUBSETTED in data["meta"]["tag"]


def test_without_subset_parameters_resources_are_whole_and_untagged(records: TestClient) -> None:
    for params in ({}, {"_summary": "false"}):
        [whole] = resources(records.get(f"{BASE}/Patient", params={**params, "_id": "p1"}).json())
        assert whole["photo"] and whole["text"]["status"] == "generated"
        assert "tag" not in whole["meta"]


def test_paging_links_carry_the_parameters(records: TestClient) -> None:
    first = records.get(
        f"{BASE}/Patient", params={"_elements": "name", "_count": "1", "_sort": "birthdate"}
    ).json()
    for relation in ("self", "next"):
        assert parse_qs(urlsplit(link(first, relation)).query)["_elements"] == ["name"]
    second = records.get(link(first, "next")).json()
    [found] = resources(second)
    assert found["id"] == "p2" and "birthDate" not in found and found["name"]
    assert parse_qs(urlsplit(link(second, "previous")).query)["_elements"] == ["name"]
    summary = records.get(f"{BASE}/Patient", params={"_summary": "true", "_count": "1"}).json()
    after = records.get(link(summary, "next")).json()
    assert "photo" not in resources(after)[0] and SUBSETTED in resources(after)[0]["meta"]["tag"]


def test_summary_cuts_included_resources_and_elements_does_not(records: TestClient) -> None:
    include = {"_include": "Observation:subject"}
    summary = records.get(f"{BASE}/Observation", params={**include, "_summary": "true"}).json()
    [included] = resources(summary, "include")
    assert "photo" not in included and SUBSETTED in included["meta"]["tag"]
    assert "note" not in resources(summary)[0]
    chosen = records.get(f"{BASE}/Observation", params={**include, "_elements": "status"}).json()
    [whole] = resources(chosen, "include")
    assert whole["photo"] and "tag" not in whole["meta"]
    assert "valueQuantity" not in resources(chosen)[0]


def test_post_search_takes_elements_from_the_form(records: TestClient) -> None:
    response = records.post(f"{BASE}/Patient/_search", data={"_elements": "gender", "_id": "p2"})
    [found] = resources(response.json())
    assert found["gender"] == "female" and "name" not in found


def test_read_and_vread_take_summary_and_elements(records: TestClient) -> None:
    whole = records.get(f"{BASE}/Patient/p1")
    assert whole.json()["photo"] and "tag" not in whole.json()["meta"]
    summary = records.get(f"{BASE}/Patient/p1", params={"_summary": "true"})
    assert summary.status_code == 200
    assert summary.headers["etag"] == whole.headers["etag"]
    assert summary.json()["name"] and "photo" not in summary.json()
    assert summary.json()["meta"]["tag"] == [SUBSETTED]
    named = records.get(f"{BASE}/Patient/p1", params={"_elements": "name"}).json()
    assert named["name"][0]["family"] == "Thompson" and "birthDate" not in named
    text = records.get(f"{BASE}/Patient/p1/_history/1", params={"_summary": "text"}).json()
    assert set(text) == {"resourceType", "id", "meta", "text"}


def test_unknown_elements_are_reported_or_refused_when_strict(records: TestClient) -> None:
    params = {"_elements": "name,shoeSize", "_id": "p1"}
    lenient = records.get(f"{BASE}/Patient", params=params).json()
    assert set(resources(lenient)[0]) == {"resourceType", "id", "meta", "name"}
    [outcome] = resources(lenient, "outcome")
    assert "shoeSize" in outcome["issue"][0]["diagnostics"]
    strict = {"Prefer": "handling=strict"}
    assert_outcome(records.get(f"{BASE}/Patient", params=params, headers=strict), "shoeSize")
    read = records.get(f"{BASE}/Patient/p1", params={"_elements": "name,shoeSize"})
    assert set(read.json()) == {"resourceType", "id", "meta", "name"}
    assert_outcome(
        records.get(f"{BASE}/Patient/p1", params={"_elements": "shoeSize"}, headers=strict),
        "shoeSize",
    )


def test_bad_values_and_combinations_are_refused(records: TestClient) -> None:
    assert_outcome(records.get(f"{BASE}/Patient", params={"_summary": "nonsense"}), "_summary")
    assert_outcome(records.get(f"{BASE}/Patient/p1", params={"_summary": "nonsense"}), "'nonsense'")
    assert_outcome(records.get(f"{BASE}/Patient/p1", params={"_summary": "count"}), "a read")
    both = {"_summary": "true", "_elements": "name"}
    assert_outcome(records.get(f"{BASE}/Patient", params=both), "cannot be used together")
    assert_outcome(records.get(f"{BASE}/Patient/p1", params=both), "cannot be used together")
    text_with_include = {"_summary": "text", "_include": "Observation:subject"}
    assert_outcome(records.get(f"{BASE}/Observation", params=text_with_include), "_include")


def test_a_subsetted_copy_cannot_overwrite_the_whole_resource(records: TestClient) -> None:
    """Changing a _summary copy and sending it back would lose what _summary left out."""
    copy = records.get(f"{BASE}/Patient/p1", params={"_summary": "true"}).json()
    copy["gender"] = "other"
    response = records.put(
        f"{BASE}/Patient/p1", json=copy, headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 422, response.text
    issue = response.json()["issue"][0]
    assert "SUBSETTED" in issue["diagnostics"]
    assert issue["expression"] == ["Patient.meta.tag[0]"]
    stored = records.get(f"{BASE}/Patient/p1").json()
    assert stored["meta"]["versionId"] == "1"
    assert stored["gender"] == "female" and stored["photo"]
    # Nor as a new resource, alone or in a transaction.
    del copy["id"]
    created = records.post(
        f"{BASE}/Patient", json=copy, headers={"Content-Type": "application/fhir+json"}
    )
    assert created.status_code == 422
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": copy, "request": {"method": "POST", "url": "Patient"}}],
    }
    assert records.post(
        f"{BASE}", json=bundle, headers={"Content-Type": "application/fhir+json"}
    ).status_code in {400, 422}
    assert records.get(f"{BASE}/Patient", params={"_summary": "count"}).json()["total"] == 2
    # The whole resource, changed, is stored as ever.
    whole = records.get(f"{BASE}/Patient/p1").json()
    whole["gender"] = "other"
    assert (
        records.put(
            f"{BASE}/Patient/p1", json=whole, headers={"Content-Type": "application/fhir+json"}
        ).status_code
        == 200
    )


def test_history_takes_summary_and_elements_by_each_versions_type(records: TestClient) -> None:
    changed = patient("p1", "9990000018", "Thompson-Hale", "1941-06-02")
    put(records, changed)
    instance = records.get(f"{BASE}/Patient/p1/_history", params={"_elements": "name"}).json()
    versions = [e["resource"] for e in instance["entry"]]
    assert [v["name"][0]["family"] for v in versions] == ["Thompson-Hale", "Thompson"]
    assert all(set(v) == {"resourceType", "id", "meta", "name"} for v in versions)
    assert all(SUBSETTED in v["meta"]["tag"] for v in versions)
    self_link = next(link["url"] for link in instance["link"] if link["relation"] == "self")
    assert parse_qs(urlsplit(self_link).query)["_elements"] == ["name"]
    # A system history mixes types: each version is cut by its own type's summary flags.
    system = records.get(f"{BASE}/_history", params={"_summary": "true"}).json()
    kinds = {e["resource"]["resourceType"] for e in system["entry"]}
    assert kinds == {"Patient", "Observation"}
    for entry in system["entry"]:
        assert "photo" not in entry["resource"] and "note" not in entry["resource"]
        assert SUBSETTED in entry["resource"]["meta"]["tag"]
    whole = records.get(f"{BASE}/Patient/p1/_history").json()
    assert "photo" in whole["entry"][0]["resource"]
    refused = records.get(f"{BASE}/Patient/p1/_history", params={"_summary": "count"})
    assert refused.status_code == 400
