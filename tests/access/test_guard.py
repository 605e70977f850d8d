"""The guard keeps a token inside its scopes on every route, not only the one it names."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from careweave.access.audit import AuditTrail, AuditWriteError, who_accessed
from careweave.access.guard import CareRecordAccess
from careweave.access.principal import Principal
from careweave.access.roles import Role
from careweave.access.scopes import Scopes
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.fhir.errors import Forbidden, NotFound
from careweave.fhir.search_query import parse_search
from careweave.store.access_tables import audit_log
from careweave.store.repository import FhirStore


def put(store: FhirStore, body: dict[str, Any]) -> None:
    store.update(body["resourceType"], body["id"], body)


@pytest.fixture
def access(store: FhirStore) -> CareRecordAccess:
    put(store, {"resourceType": "Patient", "id": "p1"})
    put(
        store,
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"text": "Weight"},
            "subject": {"reference": "Patient/p1"},
        },
    )
    principal = Principal(
        username="client:narrow",
        display_name="narrow",
        role=Role.SYSTEM,
        scopes=Scopes.parse("system/Observation.rs"),
    )
    return CareRecordAccess(store, principal, audit=None)


def test_a_narrow_token_sees_only_its_types_on_every_route(
    access: CareRecordAccess, store: FhirStore
) -> None:
    with pytest.raises(Forbidden):
        access.read("Patient", "p1")
    history = access.history(None, None, "_history", count=50)
    assert {v.resource_type for v in history.versions} == {"Observation"}
    query = parse_search("Observation", [("_include", "Observation:subject")], store.registry)
    page = access.search(query, "Observation?_include=Observation:subject")
    assert [rid for _, rid, _ in page.matches] == ["o1"]
    assert page.included == []
    written: list[str] = []
    with pytest.raises(Forbidden):
        access.export(["Patient"], lambda _t, content: written.append(content))
    assert access.export(["Observation"], lambda _t, content: written.append(content)) == {
        "Observation": 1
    }
    assert len(written) == 1


def test_a_refused_read_shows_in_the_persons_record_of_who_tried(store: FhirStore) -> None:
    save_agreement(store.database, "test", DEFAULT_TERMS)
    put(store, {"resourceType": "Organization", "id": "prac"})
    put(store, {"resourceType": "Patient", "id": "elsewhere"})
    gp = Principal(
        username="gp.one",
        display_name="Dr One",
        role=Role.GP,
        scopes=Scopes.everything(),
        user_pk=1,
        organisation_id="prac",
    )
    access = CareRecordAccess(store, gp, AuditTrail(store.database))
    with pytest.raises(NotFound):
        access.read("Patient", "elsewhere")
    with pytest.raises(NotFound):
        access.read("Patient", "nobody")
    entries = who_accessed(store.database, "elsewhere")
    assert [(e.username, e.outcome) for e in entries] == [("gp.one", "4")]


# -- one audit write for a page's reads ---------------------------------------------------------


def _searcher(store: FhirStore, username: str = "coordinator.one") -> CareRecordAccess:
    for patient in ("p1", "p2"):
        put(store, {"resourceType": "Patient", "id": patient})
        put(
            store,
            {
                "resourceType": "Observation",
                "id": f"weight-{patient}",
                "status": "final",
                "code": {"text": "Weight"},
                "subject": {"reference": f"Patient/{patient}"},
            },
        )
    principal = Principal(
        username=username,
        display_name="Coordinator One",
        role=Role.SYSTEM,
        scopes=Scopes.parse("system/*.rs"),
    )
    return CareRecordAccess(store, principal, AuditTrail(store.database))


def _search(access: CareRecordAccess, resource_type: str, params: list[tuple[str, str]]) -> None:
    query = parse_search(resource_type, params, access.store.registry)
    entity = f"{resource_type}?" + "&".join(f"{n}={v}" for n, v in params)
    access.search(query, entity)


def test_reads_audited_as_one_are_written_once_per_person_when_the_block_ends(
    store: FhirStore,
) -> None:
    access = _searcher(store)
    with access.audited_as_one():
        _search(access, "Patient", [("_id", "p1,p2")])
        _search(access, "Observation", [("patient", "Patient/p1")])
        access.read("Observation", "weight-p2")
        _search(access, "Observation", [("code:text", "nothing like this")])
        # Nothing is written while the page is still being put together ...
        assert who_accessed(store.database, "p1") == []
    # ... then one entry per person and kind of event, named by the first search about them.
    p1 = who_accessed(store.database, "p1")
    assert [(e.event, e.entity) for e in p1] == [("search", "Patient?_id=p1,p2")]
    p2 = who_accessed(store.database, "p2")
    assert sorted((e.event, e.entity) for e in p2) == [
        ("read", "Observation/weight-p2"),
        ("search", "Patient?_id=p1,p2"),
    ]
    # A search that found nobody's record keeps an entry of its own.
    assert _entries_about_nobody(store) == ["Observation?code:text=nothing like this"]
    # Outside a block, each search is written at once, as before.
    _search(access, "Observation", [("patient", "Patient/p1")])
    assert len(who_accessed(store.database, "p1")) == 2


def _entries_about_nobody(store: FhirStore) -> list[str | None]:
    with store.database.read() as conn:
        rows = conn.execute(
            select(audit_log.c.entity)
            .where(audit_log.c.patient_id.is_(None))
            .order_by(audit_log.c.seq)
        )
        return [entity for (entity,) in rows]


def test_reads_audited_as_one_are_written_even_when_the_page_then_fails(store: FhirStore) -> None:
    access = _searcher(store)
    with pytest.raises(RuntimeError), access.audited_as_one():
        _search(access, "Patient", [("_id", "p1")])
        with access.audited_as_one():  # joins the outer block
            _search(access, "Observation", [("patient", "Patient/p2")])
        assert who_accessed(store.database, "p2") == []
        raise RuntimeError("the page could not be drawn")
    assert [e.entity for e in who_accessed(store.database, "p1")] == ["Patient?_id=p1"]
    assert [e.entity for e in who_accessed(store.database, "p2")] == [
        "Observation?patient=Patient/p2"
    ]


def test_a_page_whose_audit_cannot_be_written_is_not_shown(store: FhirStore) -> None:
    from tests.access.test_audit import refuse_username

    access = _searcher(store, username="mallory")
    refuse_username(store.database, "mallory")
    shown = False
    with pytest.raises(AuditWriteError), access.audited_as_one():
        _search(access, "Patient", [("_id", "p1,p2")])
        shown = True
    assert shown  # the reads ran, but the block raised instead of returning
    assert who_accessed(store.database, "p1") == []


def _recorded_times(store: FhirStore, entity: str) -> dict[str | None, object]:
    """When each person's entry naming `entity` was recorded, by whose record it is."""
    with store.database.read() as conn:
        rows = conn.execute(
            select(audit_log.c.patient_id, audit_log.c.recorded).where(audit_log.c.entity == entity)
        )
        return {patient: recorded for patient, recorded in rows}


def test_the_entries_of_one_search_are_recorded_at_one_time_each_search_at_its_own(
    store: FhirStore,
) -> None:
    """A search is one event, so the entries of the people it touched carry one time (which
    lets the trail render them from one shape); a later search has a time of its own."""
    access = _searcher(store)
    with access.audited_as_one():
        _search(access, "Patient", [("_id", "p1")])
        _search(access, "Observation", [("patient", "Patient/p1,Patient/p2")])
    first = _recorded_times(store, "Patient?_id=p1")
    later = _recorded_times(store, "Observation?patient=Patient/p1,Patient/p2")
    # p1 is named by the first search that touched them; p2 by the Observation search.
    assert list(first) == ["p1"] and list(later) == ["p2"]
    _search(access, "Patient", [("_id", "p1,p2")])  # outside a block: written at once
    together = _recorded_times(store, "Patient?_id=p1,p2")
    assert set(together) == {"p1", "p2"}
    assert together["p1"] == together["p2"]
    assert together["p1"] != first["p1"]
