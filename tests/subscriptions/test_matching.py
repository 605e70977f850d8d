"""Subscriptions checked, activated and matched inside the write transaction, on SQLite and
PostgreSQL: a matching version is queued once, in the same transaction; nothing else is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from careweave.fhir.errors import DanglingReference, InvalidResource
from careweave.fhir.search_parameters import default_registry
from careweave.store.bulk_import import import_ndjson, plan_import
from careweave.store.notification_tables import subscription_delivery
from careweave.store.repository import FhirStore
from careweave.subscriptions import watch_subscriptions
from careweave.subscriptions.matching import parse_criteria

V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def subscription(criteria: str | None = "Encounter?class=IMP", **channel: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Tell the community team about admissions",
        "criteria": criteria,
        "channel": {
            "type": "rest-hook",
            "endpoint": "https://receiver.example.org/fhir",
            "payload": "application/fhir+json",
            **channel,
        },
    }
    body["channel"] = {k: v for k, v in body["channel"].items() if v is not None}
    return {k: v for k, v in body.items() if v is not None}


def encounter(encounter_id: str, klass: str = "IMP", status: str = "in-progress") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": status,
        "class": {"system": V3, "code": klass},
        "subject": {"reference": "Patient/p1"},
    }


@pytest.fixture
def watched(store: FhirStore) -> FhirStore:
    store.update(
        "Patient",
        "p1",
        {"resourceType": "Patient", "id": "p1", "name": [{"family": "Example", "given": ["Mary"]}]},
    )
    watch_subscriptions(store)
    return store


def queued(store: FhirStore) -> list[tuple[str, str, str, int]]:
    d = subscription_delivery
    with store.database.read() as conn:
        rows = conn.execute(
            select(d.c.subscription_id, d.c.resource_type, d.c.resource_id, d.c.version_id)
            .where(d.c.status == "pending")
            .order_by(d.c.pk)
        ).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def subscribe(store: FhirStore, body: dict[str, Any]) -> str:
    return store.create(body).stored.id


def test_a_requested_subscription_is_checked_and_made_active(watched: FhirStore) -> None:
    created = watched.create(subscription())
    assert created.stored.version_id == 1
    assert created.stored.as_dict()["status"] == "requested"
    current = watched.read("Subscription", created.stored.id)
    assert current.version_id == 2
    assert current.as_dict()["status"] == "active"
    assert current.as_dict()["criteria"] == "Encounter?class=IMP"


@pytest.mark.parametrize(
    ("criteria", "complaint"),
    [
        ("Spaceship?class=IMP", "resource type careweave serves"),
        ("Subscription?status=active", "resource type careweave serves"),
        ("AuditEvent?patient=Patient/p1", "resource type careweave serves"),
        ("Encounter?flavour=mint", "not a search careweave can run"),
        ("Encounter?date=yesterday", "not a search careweave can run"),
        ("Encounter?class=IMP&_count=10", "remove '_count'"),
        ("Encounter?_include=Encounter:subject", "remove '_include'"),
    ],
)
def test_criteria_that_cannot_be_served_refuse_the_write(
    watched: FhirStore, criteria: str | None, complaint: str
) -> None:
    with pytest.raises(InvalidResource, match=complaint) as refused:
        watched.create(subscription(criteria))
    assert refused.value.status == 422
    assert refused.value.issues[0].expression == ("Subscription.criteria",)
    with watched.database.read() as conn:
        from careweave.store.tables import resource

        stored = conn.execute(
            select(resource.c.id).where(resource.c.resource_type == "Subscription")
        ).all()
    assert stored == []


@pytest.mark.parametrize(
    ("channel", "complaint"),
    [
        ({"type": "email"}, "rest-hook only"),
        ({"endpoint": "ftp://receiver.example.org/in"}, "http or https URL"),
        ({"endpoint": "receiver.example.org"}, "http or https URL"),
        ({"payload": "application/fhir+xml"}, "application/fhir\\+json"),
        ({"header": ["no colon here"]}, "not an HTTP header"),
        ({"header": ["X-Evil: a\r\nInjected: yes"]}, "not an HTTP header"),
    ],
)
def test_channels_careweave_cannot_deliver_to_refuse_the_write(
    watched: FhirStore, channel: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(InvalidResource, match=complaint):
        watched.create(subscription(**channel))


def test_a_subscription_switched_off_is_stored_unchecked_and_matches_nothing(
    watched: FhirStore,
) -> None:
    body = {**subscription("Encounter?flavour=mint"), "status": "off"}
    stored = watched.create(body).stored
    assert watched.read("Subscription", stored.id).as_dict()["status"] == "off"
    watched.update("Encounter", "e1", encounter("e1"))
    assert queued(watched) == []


def test_a_matching_version_is_queued_and_others_are_not(watched: FhirStore) -> None:
    admissions = subscribe(watched, subscription("Encounter?class=IMP"))
    everything = subscribe(watched, subscription("Patient", payload=None))
    watched.update("Encounter", "e1", encounter("e1"))
    watched.update("Encounter", "e2", encounter("e2", klass="AMB"))  # criteria do not match
    watched.update(
        "Observation",
        "o1",
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"text": "Weight"},
            "subject": {"reference": "Patient/p1"},
        },
    )
    watched.update("Patient", "p1", {"resourceType": "Patient", "id": "p1", "gender": "female"})
    assert queued(watched) == [
        (admissions, "Encounter", "e1", 1),
        (everything, "Patient", "p1", 2),
    ]


def test_criteria_are_applied_to_the_new_value(watched: FhirStore) -> None:
    admissions = subscribe(watched, subscription("Encounter?class=IMP&status=in-progress"))
    watched.update("Encounter", "e1", encounter("e1"))
    watched.update("Encounter", "e1", encounter("e1", status="finished"))  # no longer matches
    watched.update("Encounter", "e1", encounter("e1", status="in-progress"))
    watched.delete("Encounter", "e1")  # deletes are never sent (R4)
    assert queued(watched) == [
        (admissions, "Encounter", "e1", 1),
        (admissions, "Encounter", "e1", 3),
    ]


def test_chained_criteria_match_as_the_search_would(watched: FhirStore) -> None:
    marys = subscribe(watched, subscription("Encounter?subject:Patient.family=Example"))
    watched.update(
        "Patient", "p2", {"resourceType": "Patient", "id": "p2", "name": [{"family": "Other"}]}
    )
    watched.update("Encounter", "e1", encounter("e1"))
    other = {**encounter("e2"), "subject": {"reference": "Patient/p2"}}
    watched.update("Encounter", "e2", other)
    assert queued(watched) == [(marys, "Encounter", "e1", 1)]


def test_composite_criteria_pair_each_reading_with_its_own_code(watched: FhirStore) -> None:
    """A very high systolic reading alerts the team; a panel whose diastolic code sits beside
    some other high reading does not."""
    loinc = "http://loinc.org"
    crisis = subscribe(
        watched,
        subscription(f"Observation?component-code-value-quantity={loinc}|8480-6$ge180"),
    )

    def panel(oid: str, systolic: int, diastolic: int) -> dict[str, Any]:
        def reading(code: str, value: int) -> dict[str, Any]:
            return {
                "code": {"coding": [{"system": loinc, "code": code}]},
                "valueQuantity": {"value": value, "unit": "mmHg"},
            }

        return {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"coding": [{"system": loinc, "code": "85354-9"}]},
            "subject": {"reference": "Patient/p1"},
            "component": [reading("8480-6", systolic), reading("8462-4", diastolic)],
        }

    watched.update("Observation", "bp1", panel("bp1", 150, 95))
    watched.update("Observation", "bp2", panel("bp2", 192, 110))
    watched.update("Observation", "bp3", panel("bp3", 120, 185))  # diastolic, not systolic
    assert queued(watched) == [(crisis, "Observation", "bp2", 1)]


def test_one_transaction_queues_the_newest_version_of_each_resource_once(
    watched: FhirStore,
) -> None:
    admissions = subscribe(watched, subscription())
    with watched.transaction() as tx:
        tx.update("Encounter", "e1", encounter("e1", status="planned"))
        tx.update("Encounter", "e1", encounter("e1"))
    assert queued(watched) == [(admissions, "Encounter", "e1", 2)]


def test_a_subscription_past_its_end_matches_nothing(watched: FhirStore) -> None:
    with pytest.raises(InvalidResource, match="already passed"):
        watched.create({**subscription(), "end": "2001-01-01T00:00:00Z"})
    ending = subscribe(watched, {**subscription(), "end": "2999-01-01T00:00:00Z"})
    watched.update("Encounter", "e1", encounter("e1"))
    assert queued(watched) == [(ending, "Encounter", "e1", 1)]


def test_a_write_that_fails_queues_nothing(watched: FhirStore) -> None:
    subscribe(watched, subscription())
    dangling = {**encounter("e1"), "serviceProvider": {"reference": "Organization/none"}}
    with pytest.raises(DanglingReference):
        watched.update("Encounter", "e1", dangling)
    with pytest.raises(RuntimeError), watched.transaction() as tx:
        tx.update("Encounter", "e2", encounter("e2"))
        raise RuntimeError("given up")
    assert queued(watched) == []


def test_the_bulk_import_queues_nothing(watched: FhirStore, tmp_path: Path) -> None:
    subscribe(watched, subscription())
    folder = tmp_path / "load"
    folder.mkdir()
    (folder / "Encounter.ndjson").write_text(orjson.dumps(encounter("e1")).decode() + "\n")
    assert import_ndjson(watched, plan_import(folder)).created == 1
    assert queued(watched) == []


def test_criteria_parse_into_the_search_they_stand_for() -> None:
    registry = default_registry()
    parsed = parse_criteria("Encounter?class=IMP&status=in-progress,finished", registry)
    assert parsed.resource_type == "Encounter"
    assert parsed.params == (("class", "IMP"), ("status", "in-progress,finished"))
    assert parse_criteria("Patient", registry).params == ()
