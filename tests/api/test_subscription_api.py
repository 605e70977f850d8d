"""Subscriptions over the FHIR REST API, on SQLite and PostgreSQL: created, activated, read,
searched and deleted as a standard client does it; refused with a 422 OperationOutcome when
careweave cannot serve them; kept by administrators and platform-wide integrations only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhirclient import client as fhir_client
from fhirclient.models.subscription import Subscription
from sqlalchemy import select

from careweave.access.accounts import add_user
from careweave.access.scopes import Scopes
from careweave.access.tokens import issue_token
from careweave.api.capability import SUBSCRIPTION_CHANNELS_EXTENSION
from careweave.store.notification_tables import subscription_delivery
from careweave.store.repository import FhirStore
from tests.e2e.conftest import _start, _stop, issue_system_token, migrate

FHIR_JSON = "application/fhir+json"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ENDPOINT = "https://community-team.example.org/fhir"


def subscription(criteria: str = "Encounter?class=IMP", **channel: Any) -> dict[str, Any]:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Tell the community team about admissions",
        "criteria": criteria,
        "channel": {
            "type": "rest-hook",
            "endpoint": ENDPOINT,
            "payload": FHIR_JSON,
            "header": ["Authorization: Bearer synthetic-token"],
            **channel,
        },
    }


def post(client: TestClient, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": FHIR_JSON}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/fhir/R4/Subscription", json=body, headers=headers)


def test_a_client_creates_reads_searches_and_deletes_a_subscription(client: TestClient) -> None:
    created = post(client, subscription())
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "requested"  # what was sent; the server then activates it
    subscription_id = created.json()["id"]

    read = client.get(f"/fhir/R4/Subscription/{subscription_id}")
    assert read.status_code == 200
    body = read.json()
    assert (body["status"], body["meta"]["versionId"]) == ("active", "2")
    model = Subscription(body)  # the standard client's R4 model reads it
    assert (model.status, model.channel.type, model.channel.endpoint) == (
        "active",
        "rest-hook",
        ENDPOINT,
    )

    for name, value in (
        ("status", "active"),
        ("type", "rest-hook"),
        ("url", ENDPOINT),
        ("criteria", "Encounter"),
        ("payload", FHIR_JSON),
    ):
        found = client.get("/fhir/R4/Subscription", params={name: value}).json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [subscription_id], name
    assert client.get("/fhir/R4/Subscription?status=off").json().get("entry") is None

    assert client.delete(f"/fhir/R4/Subscription/{subscription_id}").status_code in (200, 204)
    assert client.get(f"/fhir/R4/Subscription/{subscription_id}").status_code == 410


def test_a_subscription_serves_the_writes_that_follow(client: TestClient, store: FhirStore) -> None:
    subscription_id = post(client, subscription()).json()["id"]
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    assert client.put("/fhir/R4/Patient/p1", json=patient).status_code == 201
    for encounter_id, klass in (("e1", "IMP"), ("e2", "AMB")):
        encounter = {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "in-progress",
            "class": {"system": V3, "code": klass},
            "subject": {"reference": "Patient/p1"},
        }
        assert client.put(f"/fhir/R4/Encounter/{encounter_id}", json=encounter).status_code == 201
    d = subscription_delivery
    with store.database.read() as conn:
        rows = conn.execute(select(d.c.subscription_id, d.c.resource_id, d.c.status)).all()
    assert [tuple(row) for row in rows] == [(subscription_id, "e1", "pending")]


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        (subscription("Encounter?flavour=mint"), "Subscription.criteria"),
        (subscription("Spaceship"), "Subscription.criteria"),
        (subscription(type="websocket"), "Subscription.channel.type"),
        (
            subscription(endpoint="ftp://community-team.example.org/in"),
            "Subscription.channel.endpoint",
        ),
    ],
)
def test_what_careweave_cannot_serve_is_a_422_operation_outcome(
    client: TestClient, body: dict[str, Any], expression: str
) -> None:
    refused = post(client, body)
    assert refused.status_code == 422
    outcome = refused.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [expression]
    assert client.get("/fhir/R4/Subscription").json().get("total") == 0


def test_a_transaction_bundle_activates_its_subscription_too(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:5f1b7d7e-3c6a-4a8e-9a55-0d1c1f0a8b11",
                "resource": subscription(),
                "request": {"method": "POST", "url": "Subscription"},
            }
        ],
    }
    answered = client.post("/fhir/R4", json=bundle)
    assert answered.status_code == 200, answered.text
    found = client.get("/fhir/R4/Subscription?status=active").json()
    assert found["total"] == 1


def test_the_capability_statement_offers_rest_hook_subscriptions(client: TestClient) -> None:
    statement = client.get("/fhir/R4/metadata").json()
    rest = statement["rest"][0]
    assert {"url": SUBSCRIPTION_CHANNELS_EXTENSION, "valueCode": "rest-hook"} in rest["extension"]
    entry = next(r for r in rest["resource"] if r["type"] == "Subscription")
    assert "rest-hook" in entry["documentation"]
    assert {"create", "read", "search-type", "delete"} <= {i["code"] for i in entry["interaction"]}
    assert {"status", "url", "criteria", "type"} <= {p["name"] for p in entry["searchParam"]}


@pytest.fixture
def tokens(store: FhirStore) -> dict[str, str]:
    """Tokens for a GP, an administrator and a system client of one organisation."""
    store.update("Organization", "prac", {"resourceType": "Organization", "id": "prac"})
    database = store.database
    add_user(database, "gp.one", "Dr One", "gp", organisation_id="prac")
    add_user(database, "admin.one", "Admin One", "administrator", organisation_id="prac")
    everything = Scopes.parse("user/*.cruds")
    return {
        "gp": issue_token(database, everything, username="gp.one", client_name="t").token,
        "administrator": issue_token(
            database, everything, username="admin.one", client_name="t"
        ).token,
        "practice system": issue_token(
            database, Scopes.parse("system/*.cruds"), client_name="feed", organisation_id="prac"
        ).token,
    }


def test_only_administrators_and_platform_integrations_keep_subscriptions(
    client: TestClient, tokens: dict[str, str]
) -> None:
    for who in ("gp", "practice system"):
        token = {"Authorization": f"Bearer {tokens[who]}"}
        assert post(client, subscription(), tokens[who]).status_code == 403, who
        assert client.get("/fhir/R4/Subscription", headers=token).status_code == 403, who

    admin = {"Authorization": f"Bearer {tokens['administrator']}"}
    created = post(client, subscription(), tokens["administrator"])
    assert created.status_code == 201, created.text
    subscription_id = created.json()["id"]
    found = client.get("/fhir/R4/Subscription?status=active", headers=admin).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [subscription_id]
    gp = {"Authorization": f"Bearer {tokens['gp']}"}
    assert client.get(f"/fhir/R4/Subscription/{subscription_id}", headers=gp).status_code == 403


@pytest.fixture
def live_fhir(database_url: str, tmp_path: Path) -> Iterator[fhir_client.FHIRClient]:
    """The standard Python FHIR client talking to `careweave serve` on a loopback port."""
    migrate(database_url)
    process, base_url = _start(database_url, tmp_path)
    try:
        fhir = fhir_client.FHIRClient(settings={"app_id": "subscriber", "api_base": base_url})
        token = issue_system_token(database_url)
        fhir.server.session.headers["Authorization"] = f"Bearer {token}"
        yield fhir
    finally:
        _stop(process)


@pytest.mark.e2e
def test_a_standard_fhir_client_keeps_subscriptions(live_fhir: fhir_client.FHIRClient) -> None:
    server = live_fhir.server
    created = Subscription(subscription()).create(server)
    subscription_id = created["id"]
    read = Subscription.read(subscription_id, server)
    assert (read.status, read.criteria) == ("active", "Encounter?class=IMP")
    active = Subscription.where(struct={"status": "active"})
    assert [found.id for found in active.perform_resources_iter(server)] == [subscription_id]
    read.delete(server)
    assert list(active.perform_resources_iter(server)) == []
