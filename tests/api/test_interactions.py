"""FHIR R4 REST interactions over HTTP: status codes, headers and bodies as the spec says."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

BASE = "/fhir/R4"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def patient(nhs_number: str = "9990000018", family: str = "Thompson") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs_number}],
        "name": [{"family": family, "given": ["Margaret"]}],
        "birthDate": "1941-06-02",
    }


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{BASE}/{body['resourceType']}", json=body, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_read_vread_with_headers(client: TestClient) -> None:
    response = client.post(f"{BASE}/Patient", json=patient(), headers=FHIR_JSON)
    assert response.status_code == 201
    body = response.json()
    assert (
        response.headers["location"] == f"http://testserver{BASE}/Patient/{body['id']}/_history/1"
    )
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert "GMT" in response.headers["last-modified"]
    read = client.get(f"{BASE}/Patient/{body['id']}")
    assert read.status_code == 200 and read.json() == body
    assert read.headers["etag"] == 'W/"1"'
    assert client.get(f"{BASE}/Patient/{body['id']}/_history/1").json() == body
    assert client.get(f"{BASE}/Patient/{body['id']}/_history/9").status_code == 404
    assert client.get(f"{BASE}/Patient/{body['id']}?_format=json").status_code == 200


def test_update_with_if_match(client: TestClient) -> None:
    pid = create(client, patient())["id"]
    body = {**patient(family="Smith"), "id": pid}
    ok = client.put(f"{BASE}/Patient/{pid}", json=body, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == 'W/"2"'
    stale = client.put(
        f"{BASE}/Patient/{pid}", json=body, headers={**FHIR_JSON, "If-Match": 'W/"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert stale.json()["issue"][0]["code"] == "conflict"
    assert client.get(f"{BASE}/Patient/{pid}").json()["meta"]["versionId"] == "2"


def test_update_as_create_with_client_id(client: TestClient) -> None:
    response = client.put(
        f"{BASE}/Patient/pat-1", json={**patient(), "id": "pat-1"}, headers=FHIR_JSON
    )
    assert response.status_code == 201
    assert client.get(f"{BASE}/Patient/pat-1").status_code == 200


def test_delete_then_gone_and_history_keeps_it(client: TestClient) -> None:
    pid = create(client, patient())["id"]
    deleted = client.delete(f"{BASE}/Patient/{pid}")
    assert deleted.status_code == 200
    gone = client.get(f"{BASE}/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    history = client.get(f"{BASE}/Patient/{pid}/_history").json()
    assert history["type"] == "history"
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]
    assert client.delete(f"{BASE}/Patient/{pid}").status_code == 200
    assert client.delete(f"{BASE}/Patient/never").status_code == 404


def test_conditional_create(client: TestClient) -> None:
    headers = {**FHIR_JSON, "If-None-Exist": f"identifier={NHS}|9990000018"}
    first = client.post(f"{BASE}/Patient", json=patient(), headers=headers)
    second = client.post(f"{BASE}/Patient", json=patient(), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    search = client.get(f"{BASE}/Patient", params={"identifier": f"{NHS}|9990000018"}).json()
    assert search["total"] == 1


def test_prefer_return(client: TestClient) -> None:
    minimal = client.post(
        f"{BASE}/Patient", json=patient(), headers={**FHIR_JSON, "Prefer": "return=minimal"}
    )
    assert minimal.status_code == 201 and minimal.content == b""
    assert minimal.headers["location"]
    outcome = client.post(
        f"{BASE}/Patient",
        json=patient("9990000026"),
        headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"},
    )
    assert outcome.json()["resourceType"] == "OperationOutcome"
    assert "created" in outcome.json()["issue"][0]["diagnostics"]


def test_type_and_system_history(client: TestClient) -> None:
    create(client, patient())
    create(client, {"resourceType": "Organization", "name": "Riverside Medical Practice"})
    assert len(client.get(f"{BASE}/Patient/_history").json()["entry"]) == 1
    system = client.get(f"{BASE}/_history", params={"_count": 1}).json()
    assert len(system["entry"]) == 1
    next_link = next(link["url"] for link in system["link"] if link["relation"] == "next")
    second = client.get(next_link).json()
    assert second["entry"][0]["resource"]["resourceType"] == "Patient"


def test_history_at_shows_what_was_current_then(client: TestClient) -> None:
    """`_at` keeps the versions current at some moment of the period: what the record said
    when a decision was made."""
    made = []
    for name in ("Riverside", "Riverside Health", "Riverside Health Centre"):
        body = {"resourceType": "Organization", "id": "at1", "name": name}
        response = client.put(f"{BASE}/Organization/at1", json=body, headers=FHIR_JSON)
        assert response.status_code in {200, 201}, response.text
        made.append(datetime.fromisoformat(response.json()["meta"]["lastUpdated"]))
        time.sleep(0.03)  # distinct version times, tens of milliseconds apart

    def versions(at: str) -> list[str]:
        response = client.get(f"{BASE}/Organization/at1/_history", params={"_at": at})
        assert response.status_code == 200, response.text
        return [e["resource"]["meta"]["versionId"] for e in response.json().get("entry", [])]

    def instant(moment: datetime) -> str:
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    assert versions(instant(made[1] + timedelta(milliseconds=5))) == ["2"]
    assert versions(instant(made[2] + timedelta(seconds=5))) == ["3"]
    assert versions(instant(made[0] - timedelta(seconds=5))) == []
    assert versions(str(made[0].year)) == ["3", "2", "1"]
    page = client.get(
        f"{BASE}/Organization/_history", params={"_at": str(made[0].year), "_count": 1}
    )
    next_link = next(link["url"] for link in page.json()["link"] if link["relation"] == "next")
    assert "_at=" in next_link
    bad = client.get(f"{BASE}/Organization/at1/_history", params={"_at": "last week"})
    assert bad.status_code == 400 and "_at" in bad.json()["issue"][0]["diagnostics"]


def test_metadata_lists_what_works(client: TestClient) -> None:
    statement = client.get(f"{BASE}/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert len(resources) == 30 and "CarePlan" in resources
    patient_params = {p["name"]: p["type"] for p in resources["Patient"]["searchParam"]}
    assert patient_params["identifier"] == "token"
    assert patient_params["birthdate"] == "date"
    assert "Observation:subject" in resources["Observation"]["searchInclude"]
    observation_params = {p["name"]: p["type"] for p in resources["Observation"]["searchParam"]}
    assert observation_params["component-code-value-quantity"] == "composite"


# -- bad input: every failure is an OperationOutcome and nothing is written --------------------


def assert_outcome(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] in {"error", "fatal"}
    if code:
        assert body["issue"][0]["code"] == code
    return body


def nothing_written(client: TestClient) -> bool:
    return "entry" not in client.get(f"{BASE}/_history").json()


def test_malformed_json(client: TestClient) -> None:
    response = client.post(
        f"{BASE}/Patient", content=b'{"resourceType": "Patient",', headers=FHIR_JSON
    )
    assert_outcome(response, 400, "structure")
    assert nothing_written(client)


def test_invalid_fhir_names_the_bad_element(client: TestClient) -> None:
    body = {
        "resourceType": "Patient",
        "name": [{"family": 42, "given": "Margaret"}],
        "birthDate": "1941-13-45",
    }
    outcome = assert_outcome(client.post(f"{BASE}/Patient", json=body, headers=FHIR_JSON), 422)
    expressions = {e for issue in outcome["issue"] for e in issue.get("expression", [])}
    assert "Patient.birthDate" in expressions
    assert any(e.startswith("Patient.name[0]") for e in expressions)
    assert nothing_written(client)


def test_resource_type_and_id_must_match_url(client: TestClient) -> None:
    assert_outcome(
        client.post(
            f"{BASE}/Patient", json={"resourceType": "Organization", "name": "x"}, headers=FHIR_JSON
        ),
        400,
    )
    assert_outcome(
        client.put(f"{BASE}/Patient/a", json={**patient(), "id": "b"}, headers=FHIR_JSON), 400
    )
    assert nothing_written(client)


def test_unknown_resource_type(client: TestClient) -> None:
    assert_outcome(client.get(f"{BASE}/Spaceship"), 404, "not-supported")
    assert_outcome(
        client.post(f"{BASE}/Spaceship", json={"resourceType": "Spaceship"}, headers=FHIR_JSON), 404
    )


def test_bad_nhs_number(client: TestClient) -> None:
    outcome = assert_outcome(
        client.post(f"{BASE}/Patient", json=patient("9990000019"), headers=FHIR_JSON), 422
    )
    assert outcome["issue"][0]["expression"] == ["Patient.identifier[0].value"]
    assert nothing_written(client)


def test_dangling_reference(client: TestClient) -> None:
    body = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/ghost"},
        "code": {"text": "Frailty"},
    }
    outcome = assert_outcome(client.post(f"{BASE}/Condition", json=body, headers=FHIR_JSON), 422)
    assert "Patient/ghost" in outcome["issue"][0]["diagnostics"]
    assert nothing_written(client)


def test_oversized_body(client: TestClient) -> None:
    big = {**patient(), "text": {"status": "generated", "div": "<div>" + "x" * 300_000 + "</div>"}}
    assert_outcome(client.post(f"{BASE}/Patient", json=big, headers=FHIR_JSON), 413)
    assert nothing_written(client)


def test_wrong_content_type(client: TestClient) -> None:
    response = client.post(
        f"{BASE}/Patient", content=b"<Patient/>", headers={"Content-Type": "application/xml"}
    )
    assert_outcome(response, 415)
    assert_outcome(client.get(f"{BASE}/Patient", params={"_format": "xml"}), 406)


def test_bad_search_values(client: TestClient) -> None:
    outcome = assert_outcome(
        client.get(f"{BASE}/Patient", params={"birthdate": "last-tuesday"}), 400
    )
    assert "birthdate" in outcome["issue"][0]["diagnostics"]
    assert_outcome(client.get(f"{BASE}/Observation", params={"value-quantity": "lots"}), 400)
    assert_outcome(client.get(f"{BASE}/Patient", params={"_count": "many"}), 400)


def test_unknown_search_parameter_lenient_and_strict(client: TestClient) -> None:
    create(client, patient())
    lenient = client.get(f"{BASE}/Patient", params={"shoe-size": "9"}).json()
    outcomes = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert "shoe-size" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    assert lenient["total"] == 1
    strict = client.get(
        f"{BASE}/Patient", params={"shoe-size": "9"}, headers={"Prefer": "handling=strict"}
    )
    assert_outcome(strict, 400)


def test_conditional_delete(client: TestClient) -> None:
    create(client, patient("9990000018"))
    create(client, patient("9990000026"))
    several = client.delete(f"{BASE}/Patient", params={"family": "Thompson"})
    assert_outcome(several, 412)
    assert client.get(f"{BASE}/Patient", params={"_summary": "count"}).json()["total"] == 2
    one = client.delete(f"{BASE}/Patient", params={"identifier": f"{NHS}|9990000026"})
    assert one.status_code == 200
    assert client.get(f"{BASE}/Patient", params={"_summary": "count"}).json()["total"] == 1
    assert client.delete(f"{BASE}/Patient", params={"identifier": "nobody"}).status_code == 200


def test_every_conditional_interaction_refuses_several_matches_alike(client: TestClient) -> None:
    create(client, patient("9990000018"))
    create(client, patient("9990000026"))
    versions = len(client.get(f"{BASE}/_history").json()["entry"])
    attempts = {
        "created": client.post(
            f"{BASE}/Patient",
            json=patient("9990000034"),
            headers={**FHIR_JSON, "If-None-Exist": "family=Thompson"},
        ),
        "updated": client.put(
            f"{BASE}/Patient", params={"family": "Thompson"}, json=patient("9990000034")
        ),
        "deleted": client.delete(f"{BASE}/Patient", params={"family": "Thompson"}),
        "patched": client.patch(
            f"{BASE}/Patient?family=Thompson",
            json=[{"op": "replace", "path": "/gender", "value": "other"}],
            headers={"Content-Type": "application/json-patch+json"},
        ),
    }
    for undone, response in attempts.items():
        diagnostics = assert_outcome(response, 412)["issue"][0]["diagnostics"]
        assert "matches more than one Patient" in diagnostics
        assert f"so nothing was {undone}" in diagnostics
    assert len(client.get(f"{BASE}/_history").json()["entry"]) == versions == 2


def test_conditions_without_criteria_are_refused(client: TestClient) -> None:
    pid = create(client, patient())["id"]
    assert_outcome(
        client.post(
            f"{BASE}/Patient", json=patient(), headers={**FHIR_JSON, "If-None-Exist": "_count=1"}
        ),
        400,
    )
    assert_outcome(
        client.put(
            f"{BASE}/Patient?_sort=_id", json={**patient(family="X"), "id": pid}, headers=FHIR_JSON
        ),
        400,
    )
    assert_outcome(client.delete(f"{BASE}/Patient?_count=1"), 400)
    assert client.get(f"{BASE}/Patient/{pid}").json()["meta"]["versionId"] == "1"


def test_conditional_update_with_a_body_that_is_not_an_object(client: TestClient) -> None:
    create(client, patient())
    for body in (b"null", b"[]", b'"x"', b"1"):
        response = client.put(
            f"{BASE}/Patient?identifier={NHS}|9990000018", content=body, headers=FHIR_JSON
        )
        assert_outcome(response, 400)


def test_vread_of_a_version_beyond_any_stored_is_not_found(client: TestClient) -> None:
    pid = create(client, patient())["id"]
    for version in ("0", "2147483648", "99999999999999999999"):
        assert_outcome(client.get(f"{BASE}/Patient/{pid}/_history/{version}"), 404, "not-found")


def test_nul_characters_are_refused_the_same_on_both_databases(client: TestClient) -> None:
    body = patient()
    body["name"][0]["family"] = "Thomp\u0000son"
    assert_outcome(client.post(f"{BASE}/Patient", json=body, headers=FHIR_JSON), 422)
    assert nothing_written(client)
    assert_outcome(client.get(f"{BASE}/Patient", params={"family": "a\u0000b"}), 400)
    literal = patient()
    literal["name"][0]["family"] = "back\\u0000slash"  # the six characters, not a NUL
    assert client.post(f"{BASE}/Patient", json=literal, headers=FHIR_JSON).status_code == 201


def test_ids_fhir_cannot_have_are_not_found(client: TestClient) -> None:
    for bad in ("a%00b", "x" * 65, "a b"):
        assert_outcome(client.get(f"{BASE}/Patient/{bad}"), 404, "not-found")
        assert_outcome(client.get(f"{BASE}/Patient/{bad}/_history"), 404)
        assert_outcome(client.get(f"{BASE}/Patient/{bad}/_history/1"), 404)
        assert_outcome(client.delete(f"{BASE}/Patient/{bad}"), 404)
