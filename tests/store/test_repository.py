"""The versioned store on SQLite and PostgreSQL: versions, history, integrity, concurrency."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from careweave.fhir.errors import (
    Conflict,
    DanglingReference,
    Gone,
    InvalidResource,
    NotFound,
    RequestMismatch,
    VersionConflict,
)
from careweave.store.repository import FhirStore
from careweave.store.tables import INDEX_TABLES, resource, resource_version

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def patient(
    nhs_number: str = "9990000018", family: str = "Thompson", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs_number}],
        "name": [{"family": family, "given": ["Margaret"]}],
        "gender": "female",
        "birthDate": "1941-06-02",
        **extra,
    }


def index_rows(store: FhirStore) -> int:
    with store.database.read() as conn:
        return sum(
            conn.execute(select(func.count()).select_from(t)).scalar_one() for t in INDEX_TABLES
        )


def test_create_assigns_id_version_and_last_updated(store: FhirStore) -> None:
    result = store.create(patient())
    body = result.stored.as_dict()
    assert result.created
    assert body["id"] == result.stored.id and len(body["id"]) == 36
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert store.read("Patient", body["id"]).as_dict() == body


def test_every_update_is_a_new_version_and_old_versions_stay_readable(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    for family in ("Smith", "Jones"):
        store.update("Patient", pid, {**patient(family=family), "id": pid})
    assert store.read("Patient", pid).as_dict()["name"][0]["family"] == "Jones"
    assert store.vread("Patient", pid, 1).as_dict()["name"][0]["family"] == "Thompson"
    assert store.vread("Patient", pid, 2).as_dict()["name"][0]["family"] == "Smith"
    history = store.history(resource_type="Patient", resource_id=pid)
    assert [v.version_id for v in history.versions] == [3, 2, 1]
    stamps = [v.last_updated for v in history.versions]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == 3


def test_delete_is_a_version_and_read_says_gone(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    deleted = store.delete("Patient", pid)
    assert deleted is not None and deleted.version_id == 2
    with pytest.raises(Gone):
        store.read("Patient", pid)
    assert store.vread("Patient", pid, 1).as_dict()["id"] == pid
    history = store.history(resource_type="Patient", resource_id=pid)
    assert [(v.version_id, v.method) for v in history.versions] == [(2, "DELETE"), (1, "POST")]
    assert store.delete("Patient", pid) is None  # idempotent: no new version
    assert index_rows(store) == 0  # a deleted resource is not findable


def test_update_of_a_deleted_resource_brings_it_back(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    store.delete("Patient", pid)
    result = store.update("Patient", pid, {**patient(), "id": pid})
    assert result.created and result.stored.version_id == 3


def test_unknown_resource_is_not_found(store: FhirStore) -> None:
    with pytest.raises(NotFound):
        store.read("Patient", "nope")
    with pytest.raises(NotFound):
        store.vread("Patient", "nope", 1)


def test_stale_if_match_is_rejected_and_nothing_changes(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    store.update("Patient", pid, {**patient(family="Smith"), "id": pid}, if_match=1)
    with pytest.raises(VersionConflict):
        store.update("Patient", pid, {**patient(family="Lost"), "id": pid}, if_match=1)
    assert store.read("Patient", pid).as_dict()["name"][0]["family"] == "Smith"
    assert store.read("Patient", pid).version_id == 2


def test_concurrent_updates_with_the_same_version_cannot_both_win(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def writer(n: int) -> None:
        barrier.wait()
        try:
            store.update("Patient", pid, {**patient(family=f"W{n}"), "id": pid}, if_match=1)
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("412")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["412", "412", "412", "won"]
    assert store.read("Patient", pid).version_id == 2


def test_concurrent_updates_without_if_match_each_get_their_own_version(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    barrier = threading.Barrier(4)

    def writer(n: int) -> None:
        barrier.wait()
        store.update("Patient", pid, {**patient(family=f"W{n}"), "id": pid})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = store.history(resource_type="Patient", resource_id=pid).versions
    assert [v.version_id for v in versions] == [5, 4, 3, 2, 1]
    families = {v.as_dict()["name"][0]["family"] for v in versions[:4]}
    assert families == {"W0", "W1", "W2", "W3"}  # no write was silently lost


def test_dangling_reference_is_rejected_and_nothing_written(store: FhirStore) -> None:
    condition = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/missing"},
        "code": {"text": "Frailty"},
    }
    with pytest.raises(DanglingReference, match="Patient/missing"):
        store.create(condition)
    with store.database.read() as conn:
        assert conn.execute(select(func.count()).select_from(resource)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(resource_version)).scalar_one() == 0
    assert index_rows(store) == 0


def test_reference_to_deleted_resource_is_dangling(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    store.delete("Patient", pid)
    with pytest.raises(DanglingReference):
        store.create(
            {
                "resourceType": "Flag",
                "status": "active",
                "code": {"text": "Falls risk"},
                "subject": {"reference": f"Patient/{pid}"},
            }
        )


def test_cannot_delete_what_others_still_refer_to(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    fid = store.create(
        {
            "resourceType": "Flag",
            "status": "active",
            "code": {"text": "Falls risk"},
            "subject": {"reference": f"Patient/{pid}"},
        }
    ).stored.id
    with pytest.raises(Conflict, match=f"Flag/{fid}"):
        store.delete("Patient", pid)
    assert store.read("Patient", pid).version_id == 1
    store.delete("Flag", fid)
    assert store.delete("Patient", pid) is not None


def test_failed_transaction_leaves_neither_resource_nor_index(store: FhirStore) -> None:
    with pytest.raises(DanglingReference), store.transaction() as tx:
        tx.create(patient())
        tx.create(
            {
                "resourceType": "Flag",
                "status": "active",
                "code": {"text": "x"},
                "subject": {"reference": "Patient/ghost"},
            }
        )
    assert index_rows(store) == 0
    with store.database.read() as conn:
        assert conn.execute(select(func.count()).select_from(resource)).scalar_one() == 0


def test_invalid_resource_is_rejected_before_anything_is_written(store: FhirStore) -> None:
    with pytest.raises(InvalidResource):
        store.create({"resourceType": "Patient", "gender": "sometimes"})
    with pytest.raises(InvalidResource):
        store.create(patient(nhs_number="9990000019"))
    assert index_rows(store) == 0


def test_update_id_must_match(store: FhirStore) -> None:
    with pytest.raises(RequestMismatch):
        store.update("Patient", "a", {**patient(), "id": "b"})
    with pytest.raises(RequestMismatch):
        store.update("Patient", "a", patient())


def test_conditional_create_finds_existing(store: FhirStore) -> None:
    first = store.create(patient(), if_none_exist=f"identifier={NHS}|9990000018")
    again = store.create(patient(), if_none_exist=f"identifier={NHS}|9990000018")
    assert first.created and not again.created
    assert again.stored.id == first.stored.id
    store.create(patient(nhs_number="9990000026"))
    store.create(patient(nhs_number="9990000034"))
    with pytest.raises(VersionConflict):
        store.create(patient(), if_none_exist="family=Thompson")


def test_type_and_system_history(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    store.create({"resourceType": "Organization", "name": "Riverside Medical Practice"})
    store.update("Patient", pid, {**patient(family="Smith"), "id": pid})
    assert len(store.history(resource_type="Patient").versions) == 2
    everything = store.history()
    assert [v.resource_type for v in everything.versions] == ["Patient", "Organization", "Patient"]
    first = store.history(count=2)
    assert first.next_cursor is not None


def test_update_that_changes_nothing_keeps_the_version(store: FhirStore) -> None:
    pid = store.create(patient()).stored.id
    current = store.read("Patient", pid).as_dict()
    again = store.update("Patient", pid, current)
    assert not again.changed and again.stored.version_id == 1
    changed = store.update("Patient", pid, {**current, "gender": "male"})
    assert changed.changed and changed.stored.version_id == 2
    assert [
        v.version_id for v in store.history(resource_type="Patient", resource_id=pid).versions
    ] == [2, 1]


def test_in_memory_sqlite_is_refused_with_a_reason() -> None:
    from careweave.store.database import open_database

    with pytest.raises(ValueError, match="SQLite file"):
        open_database("sqlite:///:memory:")


def resource_pks(store: FhirStore) -> list[int]:
    with store.database.read() as conn:
        return list(conn.execute(select(resource.c.pk).order_by(resource.c.pk)).scalars())


def test_a_single_create_takes_one_key_and_a_bundle_its_keys_in_few_blocks(
    store: FhirStore,
) -> None:
    """Keys come from the sequence in blocks that grow: a single create must not use up a
    block of hundreds (on PostgreSQL every create once left 255 keys unused)."""
    for n in range(3):
        store.create(patient(nhs_number=["9990000018", "9990000026", "9990000034"][n]))
    singles = resource_pks(store)
    assert singles == list(range(singles[0], singles[0] + 3))
    with store.transaction() as tx:
        for n in range(300):
            tx.create({"resourceType": "Organization", "name": f"Practice {n}"})
    pks = resource_pks(store)
    assert len(pks) == len(set(pks)) == 303
    store.create({"resourceType": "Organization", "name": "After the bundle"})
    assert max(resource_pks(store)) > max(pks)
