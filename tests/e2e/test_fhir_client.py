"""The real server, driven over HTTP by the standard Python FHIR client (`fhirclient`, R4 models).

These tests check that a client written against the FHIR R4 specification, not against
careweave, can do its everyday work: read the CapabilityStatement, create, read, update, search
with includes and paging, delete, post a transaction, and understand a refused write.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import pytest
import requests
from fhirclient import client
from fhirclient.models.bundle import Bundle
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.observation import Observation
from fhirclient.models.operationoutcome import OperationOutcome
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException, FHIRServer

from careweave.examples import all_examples

pytestmark = pytest.mark.e2e

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"


def nhs_check_digit(first_nine: str) -> int | None:
    """The modulus 11 check digit for nine digits, or None when no valid number has them."""
    total = sum(
        int(digit) * weight for digit, weight in zip(first_nine, range(10, 1, -1), strict=True)
    )
    check = 11 - total % 11
    if check == 10:
        return None
    return 0 if check == 11 else check


def synthetic_nhs_numbers(count: int) -> list[str]:
    """The first `count` valid NHS numbers of the synthetic range 999 000 0000 - 999 999 9999."""
    numbers: list[str] = []
    stem = 999_000_000
    while len(numbers) < count:
        check = nhs_check_digit(str(stem))
        if check is not None:
            numbers.append(f"{stem}{check}")
        stem += 1
    return numbers


def patient_json(nhs_number: str, family: str, given: str = "Margaret") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS_NUMBER, "value": nhs_number}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": "female",
        "birthDate": "1941-06-02",
    }


@pytest.fixture
def smart(live_server: str, api_token: str) -> client.FHIRClient:
    """The standard client, sending the bearer token an administrator issued on every call."""
    fhir = client.FHIRClient(settings={"app_id": "careweave-e2e", "api_base": live_server})
    fhir.server.session.headers["Authorization"] = f"Bearer {api_token}"
    return fhir


@pytest.fixture
def server(smart: client.FHIRClient) -> FHIRServer:
    fhir_server: FHIRServer = smart.server
    return fhir_server


def create(resource: Any, server: FHIRServer) -> str:
    """POST a fhirclient model and return the id the server gave it."""
    created = resource.create(server)
    assert created is not None, "the server answered a create with an empty body"
    assert created["resourceType"] == resource.resource_type
    new_id: str = created["id"]
    return new_id


def search_resources(search: Any, server: FHIRServer) -> list[Any]:
    return list(search.perform_resources_iter(server))


def test_client_prepares_from_the_capability_statement(smart: client.FHIRClient) -> None:
    # prepare() fetches /metadata and parses it with the strict R4 models before any call.
    assert smart.prepare() is True
    assert smart.ready is True
    statement = smart.server.capabilityStatement
    assert isinstance(statement, CapabilityStatement)
    assert statement.fhirVersion == "4.0.1"
    assert statement.kind == "instance"
    assert "application/fhir+json" in statement.format
    rest = statement.rest[0]
    assert rest.mode == "server"
    resources = {resource.type: resource for resource in rest.resource}
    assert len(resources) == 30
    patient = resources["Patient"]
    assert {"read", "create", "update", "delete", "search-type"} <= {
        interaction.code for interaction in patient.interaction
    }
    assert {"identifier", "name", "family", "_id"} <= {p.name for p in patient.searchParam}
    assert "Observation:subject" in resources["Observation"].searchInclude
    assert {"transaction", "batch"} <= {interaction.code for interaction in rest.interaction}


def test_create_read_update_delete_a_patient(server: FHIRServer) -> None:
    nhs_number = synthetic_nhs_numbers(1)[0]
    assert nhs_number == "9990000018"
    pid = create(Patient(patient_json(nhs_number, "Thompson")), server)

    patient = Patient.read(pid, server)
    assert patient.id == pid
    assert patient.meta.versionId == "1"
    assert [(i.system, i.value) for i in patient.identifier] == [(NHS_NUMBER, nhs_number)]
    assert patient.name[0].family == "Thompson"
    assert patient.birthDate.isostring == "1941-06-02"

    patient.name[0].family = "Thompson-Reid"
    updated = patient.update()
    assert updated is not None and updated["meta"]["versionId"] == "2"
    again = Patient.read(pid, server)
    assert again.meta.versionId == "2"
    assert again.name[0].family == "Thompson-Reid"
    assert again.identifier[0].value == nhs_number

    again.delete()
    with pytest.raises(requests.HTTPError) as gone:
        Patient.read(pid, server)
    assert gone.value.response is not None
    assert gone.value.response.status_code == 410
    outcome = OperationOutcome(gone.value.response.json())
    assert outcome.issue[0].code == "deleted"

    with pytest.raises(FHIRNotFoundException) as missing:
        Patient.read(f"never-{uuid.uuid4().hex[:8]}", server)
    assert OperationOutcome(missing.value.response.json()).issue[0].code == "not-found"


def test_search_patients_by_identifier_and_by_name(server: FHIRServer) -> None:
    numbers = synthetic_nhs_numbers(3)
    people = [("Thompson", "Margaret"), ("Okafor", "Grace"), ("Thompson", "Arthur")]
    ids = {
        number: create(Patient(patient_json(number, family, given)), server)
        for number, (family, given) in zip(numbers, people, strict=True)
    }

    by_number = search_resources(
        Patient.where(struct={"identifier": f"{NHS_NUMBER}|{numbers[1]}"}), server
    )
    assert [p.id for p in by_number] == [ids[numbers[1]]]
    assert by_number[0].name[0].given == ["Grace"]

    by_value_only = search_resources(Patient.where(struct={"identifier": numbers[2]}), server)
    assert [p.id for p in by_value_only] == [ids[numbers[2]]]

    by_name = search_resources(Patient.where(struct={"name": "thomp"}), server)
    assert {p.id for p in by_name} == {ids[numbers[0]], ids[numbers[2]]}

    by_family_and_given = search_resources(
        Patient.where(struct={"family": "Thompson", "given": "Arthur"}), server
    )
    assert [p.id for p in by_family_and_given] == [ids[numbers[2]]]

    assert search_resources(Patient.where(struct={"name": "Nobody"}), server) == []


def test_search_observations_by_subject_including_the_patient(server: FHIRServer) -> None:
    numbers = synthetic_nhs_numbers(2)
    pid = create(Patient(patient_json(numbers[0], "Thompson")), server)
    other = create(Patient(patient_json(numbers[1], "Okafor", "Grace")), server)

    def weight(subject: str, kg: float) -> Observation:
        return Observation(
            {
                "status": "final",
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": "29463-7"}],
                    "text": "Body weight",
                },
                "subject": {"reference": f"Patient/{subject}"},
                "effectiveDateTime": "2024-02-01T10:15:00Z",
                "valueQuantity": {
                    "value": kg,
                    "unit": "kg",
                    "system": "http://unitsofmeasure.org",
                    "code": "kg",
                },
            }
        )

    mine = {create(weight(pid, 61.4), server), create(weight(pid, 60.9), server)}
    create(weight(other, 72.0), server)

    search = Observation.where(struct={"subject": f"Patient/{pid}"}).include("subject")
    assert "_include=Observation:subject" in search.construct()
    bundles = list(search.perform_iter(server))
    assert len(bundles) == 1
    bundle = bundles[0]
    assert bundle.type == "searchset"
    modes = {
        (entry.resource.resource_type, entry.resource.id): entry.search.mode
        for entry in bundle.entry
    }
    assert modes == {
        **{("Observation", oid): "match" for oid in mine},
        ("Patient", pid): "include",
    }
    if bundle.total is not None:
        assert bundle.total == 2  # total counts matches, never included resources
    included = next(e.resource for e in bundle.entry if e.search.mode == "include")
    assert isinstance(included, Patient)
    assert included.identifier[0].value == numbers[0]


def test_paging_follows_the_next_links_the_server_gives(server: FHIRServer) -> None:
    numbers = synthetic_nhs_numbers(8)
    created = {
        create(Patient(patient_json(n, "Pagewood", f"Person{i}")), server)
        for i, n in enumerate(numbers)
    }
    create(Patient(patient_json(synthetic_nhs_numbers(9)[-1], "Elsewhere")), server)

    bundles = list(Patient.where(struct={"family": "Pagewood", "_count": "3"}).perform_iter(server))
    assert [len(b.entry or []) for b in bundles] == [3, 3, 2]
    for page in bundles[:-1]:
        next_url = next(link.url for link in page.link if link.relation == "next")
        assert next_url.startswith(server.base_uri)
    assert not any(link.relation == "next" for link in bundles[-1].link)
    seen = [entry.resource.id for b in bundles for entry in b.entry or []]
    assert len(seen) == len(set(seen)), f"a resource appeared on two pages: {seen}"
    assert set(seen) == created


def test_summary_and_elements_give_subsets_the_r4_models_accept(server: FHIRServer) -> None:
    """The client's models parse strictly: a subset missing a mandatory element would raise."""
    body = {
        **patient_json(synthetic_nhs_numbers(1)[0], "Summerfield"),
        "photo": [{"contentType": "image/png", "data": "iVBORw0KGgo="}],
        "contact": [{"name": {"family": "Summerfield", "given": ["Ann"]}}],
    }
    pid = create(Patient(body), server)

    [summary] = search_resources(Patient.where(struct={"_id": pid, "_summary": "true"}), server)
    assert summary.name[0].family == "Summerfield"
    assert summary.photo is None and summary.contact is None
    assert [(tag.code, tag.display) for tag in summary.meta.tag] == [("SUBSETTED", "subsetted")]

    [named] = search_resources(Patient.where(struct={"_id": pid, "_elements": "name"}), server)
    assert named.name[0].family == "Summerfield" and named.birthDate is None

    read = Patient.read_from(f"Patient/{pid}?_elements=gender", server)
    assert read.gender == "female" and read.name is None

    observation = Observation(
        {
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "valueQuantity": {"value": 61.4, "unit": "kg"},
        }
    )
    oid = create(observation, server)
    text = Observation.read_from(f"Observation/{oid}?_summary=text", server)
    assert text.status == "final" and text.code.coding[0].code == "29463-7"
    assert text.valueQuantity is None and text.subject is None


def test_transaction_resolves_urn_uuid_references(server: FHIRServer) -> None:
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Body weight"},
        "subject": {"reference": patient_url},
        "valueQuantity": {"value": 61.4, "unit": "kg"},
    }
    transaction = Bundle(
        {
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": patient_url,
                    "resource": patient_json(synthetic_nhs_numbers(1)[0], "Thompson"),
                    "request": {"method": "POST", "url": "Patient"},
                },
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "resource": observation,
                    "request": {"method": "POST", "url": "Observation"},
                },
            ],
        }
    )
    # Bundle.create posts a transaction to the base URL, as FHIR says.
    answered = transaction.create(server)
    assert answered is not None
    response = Bundle(answered)
    assert response.type == "transaction-response"
    statuses = [entry.response.status for entry in response.entry]
    assert all(status.startswith("201") for status in statuses), statuses
    locations = [entry.response.location for entry in response.entry]
    assert locations[0].startswith("Patient/") or "/Patient/" in locations[0]
    pid = locations[0].split("Patient/")[1].split("/")[0]
    oid = locations[1].split("Observation/")[1].split("/")[0]

    stored = Observation.read(oid, server)
    assert stored.subject.reference == f"Patient/{pid}"
    assert Patient.read(pid, server).identifier[0].value == synthetic_nhs_numbers(1)[0]
    by_subject = search_resources(Observation.where(struct={"subject": f"Patient/{pid}"}), server)
    assert [o.id for o in by_subject] == [oid]


def test_every_example_round_trips_through_the_r4_models(server: FHIRServer) -> None:
    examples = all_examples()
    assert len({e["resourceType"] for e in examples}) == 30
    # AuditEvent is careweave's own trail, written by the server and never by a client.
    examples = [e for e in examples if e["resourceType"] != "AuditEvent"]
    transaction = Bundle(
        {
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": f"{server.base_uri}{e['resourceType']}/{e['id']}",
                    "resource": e,
                    "request": {"method": "PUT", "url": f"{e['resourceType']}/{e['id']}"},
                }
                for e in examples
            ],
        }
    )
    answered = transaction.create(server)
    assert answered is not None
    assert len(answered["entry"]) == len(examples)
    for example in examples:
        rtype, rid = example["resourceType"], example["id"]
        model = getattr(importlib.import_module(f"fhirclient.models.{rtype.lower()}"), rtype)
        # read() parses strictly: an element R4 does not define would raise here.
        resource = model.read(rid, server)
        served = server.request_json(f"{rtype}/{rid}")
        assert resource.as_json() == served, f"{rtype}/{rid} changed on its way through the client"
        sent = {k: v for k, v in example.items() if k != "meta"}
        kept = {k: v for k, v in served.items() if k != "meta"}
        assert kept == sent, f"the server changed {rtype}/{rid}"
        for key, value in example.get("meta", {}).items():  # profiles and tags survive
            assert served["meta"][key] == value, f"{rtype}/{rid} lost meta.{key}"


def test_a_refused_write_is_an_http_error_carrying_an_operation_outcome(
    server: FHIRServer,
) -> None:
    bad_check_digit = "9990000019"
    assert nhs_check_digit(bad_check_digit[:9]) != int(bad_check_digit[9])
    with pytest.raises(requests.HTTPError) as refused:
        Patient(patient_json(bad_check_digit, "Thompson")).create(server)
    response = refused.value.response
    assert response is not None
    assert response.status_code in {400, 422}
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = OperationOutcome(response.json())
    assert outcome.issue[0].severity in {"error", "fatal"}
    assert any(
        expression.startswith("Patient.identifier[0]")
        for issue in outcome.issue
        for expression in issue.expression or []
    ), [issue.as_json() for issue in outcome.issue]
    assert search_resources(Patient.where(struct={"identifier": bad_check_digit}), server) == []

    pid = create(Patient(patient_json(synthetic_nhs_numbers(1)[0], "Thompson")), server)
    stale = Patient.read(pid, server)
    moved_on = Patient.read(pid, server)
    moved_on.gender = "other"
    moved_on.update()
    # fhirclient never sends If-Match, so the version conflict is provoked with requests: a PUT
    # that says it edits version 1 when the resource has moved on to version 2.
    stale.name[0].family = "Stale"
    conflict = requests.put(
        f"{server.base_uri}Patient/{pid}",
        json=stale.as_json(),
        headers={
            "Content-Type": "application/fhir+json",
            "If-Match": 'W/"1"',
            "Authorization": server.session.headers["Authorization"],
        },
        timeout=10,
    )
    assert conflict.status_code == 412
    assert conflict.headers["content-type"].startswith("application/fhir+json")
    assert OperationOutcome(conflict.json()).issue[0].code == "conflict"
    assert Patient.read(pid, server).name[0].family == "Thompson"
