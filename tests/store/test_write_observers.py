"""The store's write-observer hook, on SQLite and PostgreSQL: observers see every version a
transaction wrote, with its search indexes already written, before it commits; what they write
commits or rolls back with it; the bulk import is not observed unless it asks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, func, insert, select

from careweave.fhir.errors import DanglingReference
from careweave.fhir.search_query import parse_search
from careweave.store.bulk_import import import_ndjson, plan_import
from careweave.store.notification_tables import subscription_delivery
from careweave.store.repository import FhirStore, StoredResource, prepare_resource
from careweave.store.search import search

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def patient(patient_id: str, family: str = "Example") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": NHS, "value": "9990000018"}],
        "name": [{"family": family, "given": ["Mary"]}],
    }


class Recorder:
    """An observer that remembers what it was shown and queues one outbox row per version,
    after checking, on the transaction's own connection, that search finds the version."""

    def __init__(self, store: FhirStore) -> None:
        self.store = store
        self.calls: list[list[tuple[str, str, int, bool]]] = []
        self.found_by_search: list[bool] = []

    def __call__(self, conn: Connection, versions: Sequence[StoredResource]) -> None:
        self.calls.append([(v.resource_type, v.id, v.version_id, v.deleted) for v in versions])
        now = datetime.now(UTC).replace(tzinfo=None)
        for version in versions:
            if not version.deleted and version.resource_type == "Patient":
                family = version.as_dict()["name"][0]["family"]
                query = parse_search(
                    "Patient", [("_id", version.id), ("family", family)], self.store.registry
                )
                self.found_by_search.append(bool(search(conn, query).matches))
            conn.execute(
                insert(subscription_delivery).values(
                    subscription_id="witness",
                    resource_type=version.resource_type,
                    resource_id=version.id,
                    version_id=version.version_id,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created=now,
                )
            )


def outbox_rows(store: FhirStore) -> list[tuple[str, str, int]]:
    d = subscription_delivery
    with store.database.read() as conn:
        rows = conn.execute(
            select(d.c.resource_type, d.c.resource_id, d.c.version_id).order_by(d.c.pk)
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def test_observers_see_every_version_in_order_with_search_indexes_written(
    store: FhirStore,
) -> None:
    recorder = Recorder(store)
    store.observe_writes("witness", recorder)
    with store.transaction() as tx:
        tx.update("Patient", "p1", patient("p1"))
        tx.update("Patient", "p1", patient("p1", "Changed"))
        tx.create({"resourceType": "Organization", "name": "Riverside"}, resource_id="o1")
    store.delete("Organization", "o1")

    assert recorder.calls == [
        [
            ("Patient", "p1", 1, False),
            ("Patient", "p1", 2, False),
            ("Organization", "o1", 1, False),
        ],
        [("Organization", "o1", 2, True)],
    ]
    # The first version's family is no longer indexed (only the current version is); the
    # second is: the observer ran after the transaction's index rows were written.
    assert recorder.found_by_search == [False, True]
    assert outbox_rows(store) == [
        ("Patient", "p1", 1),
        ("Patient", "p1", 2),
        ("Organization", "o1", 1),
        ("Organization", "o1", 2),
    ]


def test_a_write_that_fails_leaves_nothing_the_observer_wrote(store: FhirStore) -> None:
    recorder = Recorder(store)
    store.observe_writes("witness", recorder)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.update("Patient", "p1", patient("p1"))
        raise RuntimeError("the caller gave up after writing")
    with pytest.raises(DanglingReference):
        store.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "Weight"},
                "subject": {"reference": "Patient/nobody"},
            }
        )
    assert recorder.calls == []  # refused before the observers ran
    assert outbox_rows(store) == []
    with store.database.read() as conn:
        assert conn.execute(select(func.count()).select_from(subscription_delivery)).scalar() == 0


def test_an_observer_that_raises_keeps_nothing_of_the_write(store: FhirStore) -> None:
    def refuse(conn: Connection, versions: Sequence[StoredResource]) -> None:
        Recorder(store)(conn, versions)
        raise ValueError("the observer refuses")

    store.observe_writes("refuser", refuse)
    with pytest.raises(ValueError, match="the observer refuses"):
        store.update("Patient", "p1", patient("p1"))
    assert outbox_rows(store) == []
    with pytest.raises(Exception, match="not known"):
        store.read("Patient", "p1")


def test_an_unchanged_update_writes_no_version_and_tells_no_one(store: FhirStore) -> None:
    store.update("Patient", "p1", patient("p1"))
    recorder = Recorder(store)
    store.observe_writes("witness", recorder)
    assert store.update("Patient", "p1", patient("p1")).changed is False
    assert recorder.calls == []


def test_without_observers_the_store_keeps_no_list_of_versions(store: FhirStore) -> None:
    with store.transaction() as tx:
        tx.update("Patient", "p1", patient("p1"))
        assert tx.observed is None
    store.observe_writes("witness", Recorder(store))
    with store.transaction() as tx:
        tx.update("Patient", "p2", patient("p2"))
        assert tx.observed is not None and [v.id for v in tx.observed] == ["p2"]


def test_registering_a_name_again_replaces_the_observer(store: FhirStore) -> None:
    first, second = Recorder(store), Recorder(store)
    store.observe_writes("witness", first)
    store.observe_writes("witness", second)
    store.update("Patient", "p1", patient("p1"))
    assert first.calls == []
    assert len(second.calls) == 1
    assert len(outbox_rows(store)) == 1


def test_the_bulk_import_is_not_observed(store: FhirStore, tmp_path: Path) -> None:
    recorder = Recorder(store)
    store.observe_writes("witness", recorder)
    folder = tmp_path / "load"
    folder.mkdir()
    lines = [orjson.dumps(patient(f"p{n}")).decode() for n in range(5)]
    (folder / "Patient.ndjson").write_text("\n".join(lines) + "\n")
    report = import_ndjson(store, plan_import(folder), batch_size=2)
    assert report.created == 5
    assert recorder.calls == []
    assert outbox_rows(store) == []


def test_a_bulk_write_is_observed_when_it_asks(store: FhirStore) -> None:
    recorder = Recorder(store)
    store.observe_writes("witness", recorder)
    prepared = [
        prepare_resource("Patient", f"p{n}", patient(f"p{n}"), store.registry) for n in range(2)
    ]
    with store.transaction() as tx:
        tx.put_prepared(prepared, observe=True)
    assert recorder.calls == [[("Patient", "p0", 1, False), ("Patient", "p1", 1, False)]]
