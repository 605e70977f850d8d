"""The guard keeps a token inside its scopes on every route, not only the one it names."""

from __future__ import annotations

import time
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

GP_AT_PRAC = Principal(
    username="gp.one",
    display_name="Dr One",
    role=Role.GP,
    scopes=Scopes.everything(),
    user_pk=1,
    organisation_id="prac",
)


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
    access = CareRecordAccess(store, GP_AT_PRAC, AuditTrail(store.database))
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


# -- reads run alongside each other -------------------------------------------------------------


def _audited_entities(store: FhirStore) -> list[tuple[str | None, str, str | None]]:
    with store.database.read() as conn:
        rows = conn.execute(
            select(audit_log.c.patient_id, audit_log.c.event, audit_log.c.entity).order_by(
                audit_log.c.patient_id, audit_log.c.event, audit_log.c.entity
            )
        )
        return [(patient, event, entity) for patient, event, entity in rows]


def test_reads_alongside_each_other_are_audited_as_if_run_in_order(store: FhirStore) -> None:
    """Both reads touch p1: p1's entry names the first read given, though the second finished
    first; p2 is the second read's alone."""
    access = _searcher(store)
    first = [("patient", "Patient/p1")]
    second = [("patient", "Patient/p1,Patient/p2")]

    def searched(params: list[tuple[str, str]], answer: str, *, slowly: bool = False) -> str:
        _search(access, "Observation", params)
        if slowly:
            time.sleep(0.1)  # the other read finishes first
        return answer

    with access.audited_as_one():
        done = access.alongside(
            lambda: searched(first, "first", slowly=True), lambda: searched(second, "second")
        )
        assert done == ("first", "second")
        assert who_accessed(store.database, "p1") == []  # held until the block ends
    assert _audited_entities(store) == [
        ("p1", "search", "Observation?patient=Patient/p1"),
        ("p2", "search", "Observation?patient=Patient/p1,Patient/p2"),
    ]
    # The same reads in the other order name p1 by the second read instead: the order given
    # is the order the audit keeps, not the order the threads ran in.
    with store.database.write() as conn:
        conn.execute(audit_log.delete())
    with access.audited_as_one():
        access.alongside(
            lambda: searched(second, "second", slowly=True), lambda: searched(first, "first")
        )
    assert _audited_entities(store) == [
        ("p1", "search", "Observation?patient=Patient/p1,Patient/p2"),
        ("p2", "search", "Observation?patient=Patient/p1,Patient/p2"),
    ]


def test_reads_alongside_outside_a_block_are_each_written_at_once(store: FhirStore) -> None:
    access = _searcher(store)
    found = access.alongside(
        lambda: access.read("Observation", "weight-p1").id,
        lambda: access.read("Observation", "weight-p2").id,
    )
    assert found == ("weight-p1", "weight-p2")
    assert [e.entity for e in who_accessed(store.database, "p1")] == ["Observation/weight-p1"]
    assert [e.entity for e in who_accessed(store.database, "p2")] == ["Observation/weight-p2"]


def test_a_failing_read_alongside_is_raised_and_what_ran_is_still_audited(
    store: FhirStore,
) -> None:
    access = _searcher(store)

    def fails() -> None:
        access.read("Observation", "no-such-weight")

    with pytest.raises(NotFound), access.audited_as_one():
        access.alongside(fails, lambda: _search(access, "Observation", [("patient", "Patient/p2")]))
    assert [e.entity for e in who_accessed(store.database, "p2")] == [
        "Observation?patient=Patient/p2"
    ]
    with pytest.raises(NotFound), access.audited_as_one():
        access.alongside(lambda: _search(access, "Patient", [("_id", "p1")]), fails)
    assert [e.entity for e in who_accessed(store.database, "p1")] == ["Patient?_id=p1"]


def test_reads_alongside_inside_reads_alongside_finish_when_every_thread_is_busy(
    store: FhirStore,
) -> None:
    """Every shared thread busy with a read that itself asks for two reads alongside: run in
    turn, they finish; waiting for a free shared thread, none would ever come."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from careweave.access.guard import ALONGSIDE_THREADS

    _searcher(store)
    all_busy = threading.Barrier(ALONGSIDE_THREADS, timeout=30)

    def page() -> tuple[str, tuple[str, str]]:
        access = _searcher(store)

        def pair() -> tuple[str, str]:
            all_busy.wait()  # every shared thread is now running one of these
            return access.alongside(
                lambda: access.read("Patient", "p1").id,
                lambda: access.read("Observation", "weight-p2").id,
            )

        with access.audited_as_one():
            return access.alongside(lambda: access.read("Patient", "p2").id, pair)

    requests = ThreadPoolExecutor(ALONGSIDE_THREADS)
    try:
        pages = [requests.submit(page) for _ in range(ALONGSIDE_THREADS)]
        answers = [done.result(timeout=60) for done in pages]  # fails, rather than hangs
    finally:
        requests.shutdown(wait=False)
    assert answers == [("p2", ("p1", "weight-p2"))] * ALONGSIDE_THREADS
    assert {entity for _, _, entity in _audited_entities(store)} == {"Patient/p2", "Patient/p1"}


# -- who needs the sharing agreements read --------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("organisation", [None, "prac"])
def test_the_agreements_are_read_exactly_for_those_they_can_change(
    role: Role, organisation: str | None
) -> None:
    """Skipping the agreements is safe only where they change nothing: for every role, with
    and without an organisation, either reads_agreements says they are read, or what the
    principal may see is the same under an agreement as under none."""
    from datetime import UTC, datetime

    from careweave.access.policy import reads_agreements, visibility_for
    from careweave.access.sharing import Agreement, parse_terms, shared_view

    principal = Principal(
        username="someone",
        display_name="Someone",
        role=role,
        scopes=Scopes.everything(),
        user_pk=None if role is Role.SYSTEM else 1,
        organisation_id=organisation,
        practitioner_role_id="prr-1" if organisation else None,
        patient_id="p1" if role in (Role.PATIENT, Role.CARER) else None,
        related_person_id="rp-1" if role is Role.CARER else None,
    )
    agreement = Agreement(
        "place", parse_terms(DEFAULT_TERMS), datetime(2026, 1, 1, tzinfo=UTC), None
    )
    covered = shared_view([agreement], organisation, role)
    uncovered = shared_view([], organisation, role)
    differs = visibility_for(principal, covered) != visibility_for(principal, uncovered)
    if not reads_agreements(principal):
        assert not differs
    elif organisation is not None:
        assert differs  # staff at a covered organisation: the agreement is what lets them see


def test_a_platform_wide_client_sees_everything_without_the_agreements_being_read(
    store: FhirStore,
) -> None:
    from sqlalchemy import event

    from careweave.store.access_tables import sharing_agreement

    save_agreement(store.database, "test", DEFAULT_TERMS)
    put(store, {"resourceType": "Patient", "id": "p1"})
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    platform = Principal(
        username="client:all", display_name="all", role=Role.SYSTEM, scopes=Scopes.everything()
    )
    for engine in (store.database.reader, store.database.writer):
        event.listen(engine, "before_cursor_execute", seen)
    try:
        access = CareRecordAccess(store, platform, audit=None)
        assert access.read("Patient", "p1").id == "p1"
        assert access.visibility is None
        assert not [s for s in statements if sharing_agreement.name in s]
        CareRecordAccess(store, GP_AT_PRAC, audit=None).visibility  # noqa: B018
        assert [s for s in statements if sharing_agreement.name in s]  # staff: read as before
    finally:
        for engine in (store.database.reader, store.database.writer):
            event.remove(engine, "before_cursor_execute", seen)
