"""The audit trail: FHIR AuditEvents, the hash chain and its tampering checks, group commit under
concurrency and failure, and the queries behind "who looked at my record" and the Caldicott
guardian's review. Database tests run on SQLite and PostgreSQL (tests/conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import signal
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from careweave.access.audit import (
    DEFAULT_ACTIONS,
    GENESIS_HASH,
    AuditRecord,
    AuditTrail,
    AuditWriteError,
    audit_event,
    break_glass_uses,
    chain_head,
    columns_of,
    event_content,
    event_contents,
    read_audit_event,
    search_audit,
    stated_columns,
    stored_audit_event,
    unusual_access,
    verify_chain,
    who_accessed,
)
from careweave.access.principal import Principal
from careweave.access.roles import Role
from careweave.access.scopes import Scopes
from careweave.fhir.validation import library_issues, validate_resource
from careweave.store.access_tables import audit_log
from careweave.store.database import Database, open_database

# March: London is on GMT, so London time = UTC; July: BST, London = UTC + 1.
MARCH = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
JULY = datetime(2026, 7, 14, 9, 0, tzinfo=UTC)


def entry(
    event: str = "read",
    *,
    patient: str | None = "p1",
    username: str | None = "ann.gp",
    display: str | None = "Dr Ann Example",
    role: str | None = "gp",
    organisation: str | None = "org1",
    entity: str | None = None,
    outcome: str = "0",
    reason: str | None = None,
    break_glass: bool = False,
    address: str | None = "10.1.2.3",
    when: datetime = MARCH,
) -> AuditRecord:
    return AuditRecord(
        event=event,
        action=DEFAULT_ACTIONS[event],
        outcome=outcome,
        username=username,
        display_name=display,
        role=role,
        organisation_id=organisation,
        practitioner_role_id="pr-ann" if username == "ann.gp" else None,
        patient_id=patient,
        entity=entity if entity is not None else (f"Patient/{patient}" if patient else None),
        reason=reason,
        break_glass=break_glass,
        address=address,
        recorded=when,
    )


RENDERED = {
    "read": entry("read"),
    "vread": entry("vread", entity="Observation/o1/_history/2"),
    "search": entry("search", entity="Observation?patient=p1&code=http://loinc.org|8867-4"),
    "system search": entry("search", patient=None, entity="?_type=Patient&name=Smith"),
    "history of a type": entry("history", patient=None, entity="Observation"),
    "transaction": entry("transaction", entity="Bundle"),
    "create": entry("create", entity="Condition/c1"),
    "sign-in": entry("sign-in", patient=None),
    "sign-in-failed": entry(
        "sign-in-failed", patient=None, display=None, role=None, organisation=None, outcome="4"
    ),
    "sign-out": entry("sign-out", patient=None, address="testclient"),
    "break-glass": entry(
        "break-glass",
        patient="p7",
        reason="Unconscious in A&E, no records available",
        break_glass=True,
    ),
    "refused": entry("refused", patient="p3", outcome="4", reason="No legitimate relationship"),
    "export by a system": entry(
        "export",
        patient=None,
        username="nightly-export",
        display="Nightly export",
        role="system",
        entity="Patient?_lastUpdated=gt2026-01-01",
        address="2001:db8::7",
    ),
    "token-issued": entry("token-issued", patient=None, entity=None, address=None),
}


@pytest.mark.parametrize("record", RENDERED.values(), ids=RENDERED.keys())
def test_rendered_audit_events_are_valid_fhir_r4(record: AuditRecord) -> None:
    event = audit_event(record, 41)
    assert event["id"] == "41"
    assert validate_resource(event, expected_type="AuditEvent") is event
    assert library_issues(event) == []
    assert orjson.loads(event_content(record)) == {k: v for k, v in event.items() if k != "id"}


def test_an_audit_event_says_who_did_what_to_whose_record() -> None:
    event = audit_event(RENDERED["search"], 1)
    assert event["type"]["code"] == "110110"
    assert {(c["system"], c["code"]) for c in event["subtype"]} == {
        ("http://hl7.org/fhir/restful-interaction", "search-type"),
        ("https://fhir.careweave.example/CodeSystem/audit-event", "search"),
    }
    user, organisation = event["agent"]
    assert user["requestor"] is True
    assert user["who"]["identifier"] == {
        "system": "https://fhir.careweave.example/Id/username",
        "value": "ann.gp",
    }
    assert user["who"]["display"] == "Dr Ann Example"
    assert user["who"]["reference"] == "PractitionerRole/pr-ann"
    assert user["network"] == {"address": "10.1.2.3", "type": "2"}
    assert organisation == {"who": {"reference": "Organization/org1"}, "requestor": False}
    patient, query = event["entity"]
    assert patient["what"] == {"reference": "Patient/p1"}
    assert patient["role"]["code"] == "1"
    assert base64.b64decode(query["query"]).decode() == (
        "Observation?patient=p1&code=http://loinc.org|8867-4"
    )
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"

    glass = audit_event(RENDERED["break-glass"], 2)
    assert glass["purposeOfEvent"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                    "code": "ETREAT",
                    "display": "Emergency Treatment",
                }
            ],
            "text": "Unconscious in A&E, no records available",
        }
    ]
    assert glass["outcomeDesc"] == "Unconscious in A&E, no records available"
    sign_in = audit_event(RENDERED["sign-in"], 3)
    assert sign_in["type"]["code"] == "110114"
    assert "purposeOfEvent" not in sign_in
    assert audit_event(RENDERED["system search"], 4)["type"]["code"] == "rest"
    assert audit_event(RENDERED["sign-out"], 5)["agent"][0]["network"]["type"] == "1"


def test_for_principal_fills_in_who_is_asking() -> None:
    principal = Principal(
        username="ann.gp",
        display_name="Dr Ann Example",
        role=Role.GP,
        scopes=Scopes.everything(),
        organisation_id="org1",
        practitioner_role_id="pr-ann",
        address="10.1.2.3",
    )
    before = datetime.now(UTC)
    record = AuditRecord.for_principal(
        principal, event="update", patient_id="p1", entity="Condition/c1"
    )
    assert (record.username, record.display_name, record.role) == ("ann.gp", "Dr Ann Example", "gp")
    assert (record.organisation_id, record.practitioner_role_id) == ("org1", "pr-ann")
    assert (record.address, record.action, record.outcome) == ("10.1.2.3", "U", "0")
    assert before <= record.recorded <= datetime.now(UTC)
    assert record.recorded.tzinfo is not None


def test_a_record_must_be_well_formed() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        entry(when=datetime(2026, 3, 10, 9, 0))
    with pytest.raises(ValueError, match="action"):
        AuditRecord.for_principal(
            Principal("a", "A", Role.GP, Scopes.everything()), event="read", action="X"
        )
    assert entry(reason="  ").reason is None


# --- The chain -------------------------------------------------------------------------------


def record_many(trail: AuditTrail, count: int, *, start: datetime = MARCH) -> None:
    sizes = [1, 3, 7, 2]
    made = 0
    while made < count:
        size = min(sizes[made % len(sizes)], count - made)
        trail.record(
            [
                entry(
                    "read",
                    patient=f"p{(made + i) % 9}",
                    entity=f"Observation/o{made + i}",
                    when=start + timedelta(seconds=made + i),
                )
                for i in range(size)
            ]
        )
        made += size


def execute(database: Database, sql: str, **params: object) -> None:
    with database.write() as conn:
        conn.execute(text(sql), params)


def test_the_chain_verifies_after_many_records(database: Database) -> None:
    record_many(AuditTrail(database), 300)
    seen: list[tuple[int, int]] = []
    report = verify_chain(database, lambda done, total: seen.append((done, total)), chunk_size=64)
    assert report.ok, report.problems
    assert (report.checked, report.first_seq, report.last_seq) == (300, 1, 300)
    assert chain_head(database) == (300, report.last_hash)
    assert seen[-1] == (300, 300)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    with database.read() as conn:
        rows = conn.execute(
            select(audit_log.c.seq, audit_log.c.content, audit_log.c.prev_hash, audit_log.c.hash)
            .order_by(audit_log.c.seq)
            .limit(3)
        ).all()
    # The chain as documented: sha256(previous hash + "\n" + canonical content), from 64 zeros.
    assert rows[0].prev_hash == GENESIS_HASH == "0" * 64
    for row, following in itertools.pairwise(rows):
        assert following.prev_hash == row.hash
    for row in rows:
        assert row.hash == hashlib.sha256(f"{row.prev_hash}\n{row.content}".encode()).hexdigest()
        served = read_audit_event(database, row.seq)
        assert served is not None
        assert orjson.dumps(
            {k: v for k, v in served.items() if k not in ("id", "meta")},
            option=orjson.OPT_SORT_KEYS,
        ).decode() == (row.content)


def test_an_empty_trail_verifies(database: Database) -> None:
    report = verify_chain(database)
    assert report.ok
    assert (report.checked, report.last_seq, report.last_hash) == (0, None, None)


def test_altered_content_is_found_and_named(database: Database) -> None:
    record_many(AuditTrail(database), 20)
    execute(
        database,
        "UPDATE audit_log SET content = replace(content, 'Dr Ann Example', 'Dr Nobody') "
        "WHERE seq = 7",
    )
    report = verify_chain(database)
    assert not report.ok
    assert report.problems == ["entry 7: content altered (hash does not match)"]


def test_a_deleted_entry_is_found(database: Database) -> None:
    record_many(AuditTrail(database), 20)
    execute(database, "DELETE FROM audit_log WHERE seq = 5")
    assert verify_chain(database).problems == ["entry 5 missing (sequence gap 4 -> 6)"]
    execute(database, "DELETE FROM audit_log WHERE seq IN (11, 12)")
    assert verify_chain(database).problems[-1] == "entries 11-12 missing (sequence gap 10 -> 13)"


def test_a_rewritten_entry_is_found_at_the_next_one(database: Database) -> None:
    record_many(AuditTrail(database), 20)
    with database.read() as conn:
        content, prev_hash = conn.execute(
            select(audit_log.c.content, audit_log.c.prev_hash).where(audit_log.c.seq == 9)
        ).one()
    forged = content.replace("Dr Ann Example", "Dr Nobody")
    forged_hash = hashlib.sha256(f"{prev_hash}\n{forged}".encode()).hexdigest()
    execute(
        database,
        "UPDATE audit_log SET content = :content, hash = :hash WHERE seq = 9",
        content=forged,
        hash=forged_hash,
    )
    problems = verify_chain(database).problems
    assert len(problems) == 1
    assert problems[0].startswith("entry 10 does not follow entry 9 (its prev_hash does not match")


def test_a_removed_and_renumbered_entry_is_found(database: Database) -> None:
    record_many(AuditTrail(database), 20)
    execute(database, "DELETE FROM audit_log WHERE seq = 5")
    for seq in range(6, 21):
        execute(database, "UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    problems = verify_chain(database).problems
    assert len(problems) == 1
    assert problems[0].startswith("entry 5 does not follow entry 4")


def test_an_edited_column_is_found(database: Database) -> None:
    """The columns are not hashed, but hiding an access from a person by editing patient_id
    must still show."""
    record_many(AuditTrail(database), 10)
    execute(database, "UPDATE audit_log SET patient_id = 'p99' WHERE seq = 3")
    assert verify_chain(database).problems == [
        "entry 3: column patient_id altered (it says 'p99', the hashed content says 'p2')"
    ]


def test_removing_the_last_entries_is_found_only_against_a_kept_head(database: Database) -> None:
    trail = AuditTrail(database)
    record_many(trail, 10)
    anchor = verify_chain(database).last_hash
    assert anchor is not None
    record_many(trail, 5, start=MARCH + timedelta(hours=1))
    # Entries added after the anchor are fine.
    later = verify_chain(database, expect_head=anchor)
    assert later.ok, later.problems
    assert later.expected_head_seq == 10
    head = later.last_hash
    execute(database, "DELETE FROM audit_log WHERE seq = 15")
    # The chain alone cannot tell: what is left is a valid chain.
    assert verify_chain(database).ok
    report = verify_chain(database, expect_head=head)
    assert not report.ok
    assert report.problems == [
        f"the expected head {head} is not in the chain: entries were removed from the end "
        f"(the chain now ends at entry 14, {report.last_hash})"
    ]
    # Appending after the removal does not hide it: the kept head is still missing.
    record_many(trail, 3, start=MARCH + timedelta(hours=2))
    assert not verify_chain(database, expect_head=head).ok


# --- Writing under concurrency and failure ---------------------------------------------------


def all_rows(database: Database) -> list[tuple[int, str | None]]:
    with database.read() as conn:
        return [
            (int(seq), entity)
            for seq, entity in conn.execute(
                select(audit_log.c.seq, audit_log.c.entity).order_by(audit_log.c.seq)
            )
        ]


def test_eight_threads_make_one_valid_chain(database: Database) -> None:
    trail = AuditTrail(database)
    threads, calls = 8, 30
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(number: int) -> None:
        start.wait()
        try:
            for call in range(calls):
                trail.record(
                    [
                        entry(entity=f"Observation/t{number}-{call}-{part}")
                        for part in range(1 + call % 3)
                    ]
                )
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    rows = all_rows(database)
    expected = threads * sum(1 + call % 3 for call in range(calls))
    assert [seq for seq, _ in rows] == list(range(1, expected + 1))
    assert len({entity for _, entity in rows}) == expected
    # Each caller's entries are in the chain in the order it gave them.
    for number in range(threads):
        mine = [
            entity for _, entity in rows if entity and entity.startswith(f"Observation/t{number}-")
        ]
        assert mine == [
            f"Observation/t{number}-{call}-{part}"
            for call in range(calls)
            for part in range(1 + call % 3)
        ]
    report = verify_chain(database)
    assert report.ok, report.problems
    assert report.checked == expected


def test_two_processes_writing_at_once_make_one_valid_chain(database: Database) -> None:
    """Two Database objects (separate engines and process locks, as two server processes
    have) append at once: only the database's own lock orders the chain."""
    others = [open_database(database.url) for _ in range(2)]
    trails = [AuditTrail(other) for other in others]
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def work(trail: AuditTrail, number: int) -> None:
        start.wait()
        try:
            for call in range(25):
                trail.record([entry(entity=f"Observation/w{number}-{call}-{p}") for p in range(2)])
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(trails[n % 2], n)) for n in range(6)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        for other in others:
            other.dispose()
    assert errors == []
    assert [seq for seq, _ in all_rows(database)] == list(range(1, 6 * 25 * 2 + 1))
    report = verify_chain(database)
    assert report.ok, report.problems


def refuse_username(database: Database, username: str) -> None:
    """A trigger that makes the database refuse entries by `username`: a genuine failure."""
    if database.dialect == "sqlite":
        execute(
            database,
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
            f"WHEN NEW.username = '{username}' "
            "BEGIN SELECT RAISE(ABORT, 'audit entry refused by test trigger'); END",
        )
        return
    execute(
        database,
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.username = '{username}' THEN "
        "RAISE EXCEPTION 'audit entry refused by test trigger'; END IF; RETURN NEW; END $$",
    )
    execute(
        database,
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
    )


@contextmanager
def audit_log_held(database: Database) -> Iterator[None]:
    """Another connection (as another process would) holds the log so that writers queue."""
    if database.dialect == "sqlite":
        path = make_url(database.url).database
        assert path is not None
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("COMMIT")
            conn.close()
        return
    engine = create_engine(database.url)
    try:
        with engine.begin() as holder:
            holder.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting until {what}")
        time.sleep(0.01)


def test_a_failed_shared_batch_fails_only_the_caller_with_the_bad_entry(
    database: Database,
) -> None:
    refuse_username(database, "mallory")
    trail = AuditTrail(database)
    outcomes: dict[str, BaseException | None] = {}

    def call(name: str, record: AuditRecord) -> threading.Thread:
        def run() -> None:
            try:
                trail.record([record])
                outcomes[name] = None
            except BaseException as error:
                outcomes[name] = error

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with audit_log_held(database):
        first = call("first", entry(entity="Observation/first"))
        wait_until(lambda: trail.writing() == 1, "the first caller is writing")
        bad = call("bad", entry(username="mallory", entity="Observation/bad"))
        good = call("good", entry(entity="Observation/good"))
        # Both wait for the same next transaction: their entries are committed together.
        wait_until(lambda: trail.queued() == 2, "two callers are queued")
    for thread in (first, bad, good):
        thread.join()
    assert outcomes["first"] is None
    assert outcomes["good"] is None
    assert isinstance(outcomes["bad"], AuditWriteError)
    assert "audit entry refused by test trigger" in str(outcomes["bad"])
    assert [entity for _, entity in all_rows(database)] == [
        "Observation/first",
        "Observation/good",
    ]
    assert verify_chain(database).ok


class _InterruptedError(Exception):
    """Raised by a signal handler, as Ctrl-C raises KeyboardInterrupt."""


def test_a_caller_interrupted_while_queued_writes_nothing_and_holds_up_nobody(
    database: Database,
) -> None:
    trail = AuditTrail(database)

    def interrupt(_signum: int, _frame: object) -> None:
        raise _InterruptedError

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with audit_log_held(database):
            first = threading.Thread(
                target=trail.record, args=([entry(entity="Observation/first")],)
            )
            first.start()
            wait_until(lambda: trail.writing() == 1, "the first caller is writing")
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            with pytest.raises(_InterruptedError):
                trail.record([entry(entity="Observation/interrupted")])
            assert trail.queued() == 0  # its entry is no longer waiting to be written
        first.join(30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    later = threading.Thread(target=trail.record, args=([entry(entity="Observation/later")],))
    later.start()
    later.join(30)
    assert not later.is_alive(), "the trail waits for a writer that never comes"
    assert [entity for _, entity in all_rows(database)] == [
        "Observation/first",
        "Observation/later",
    ]
    assert verify_chain(database).ok


def test_a_failed_write_leaves_the_chain_intact(database: Database) -> None:
    refuse_username(database, "mallory")
    trail = AuditTrail(database)
    record_many(trail, 3)
    with pytest.raises(AuditWriteError, match="could not record 2 entries"):
        trail.record([entry(entity="Observation/innocent"), entry(username="mallory")])
    record_many(trail, 2, start=MARCH + timedelta(hours=1))
    rows = all_rows(database)
    # No gap where the failed entries would have been, and none of them was written.
    assert [seq for seq, _ in rows] == [1, 2, 3, 4, 5]
    assert "Observation/innocent" not in {entity for _, entity in rows}
    assert verify_chain(database).ok


def test_a_username_too_long_for_postgresql_fails_the_write(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite does not enforce String(64)")
    trail = AuditTrail(database)
    with pytest.raises(AuditWriteError):
        trail.record([entry(username="x" * 65)])
    record_many(trail, 2)
    assert [seq for seq, _ in all_rows(database)] == [1, 2]
    assert verify_chain(database).ok


# --- Queries ---------------------------------------------------------------------------------


def test_who_accessed_my_record_newest_first(database: Database) -> None:
    trail = AuditTrail(database)
    trail.record([entry(patient="p1", when=MARCH)])
    trail.record([entry(patient="p2", when=MARCH + timedelta(minutes=1))])
    trail.record(
        [
            entry(
                "refused",
                patient="p1",
                username="bob.nurse",
                display="Bob Nurse",
                role="nurse",
                organisation="org2",
                outcome="4",
                reason="No legitimate relationship",
                when=MARCH + timedelta(minutes=2),
            )
        ]
    )
    trail.record([entry("search", patient="p1", entity="Observation?patient=p1", when=MARCH)])
    found = who_accessed(database, "p1")
    assert [e.seq for e in found] == [4, 3, 1]
    assert {e.patient_id for e in found} == {"p1"}
    refused = found[1]
    assert (refused.who, refused.role, refused.organisation_id) == ("Bob Nurse", "nurse", "org2")
    assert (refused.event, refused.refused, refused.reason) == (
        "refused",
        True,
        "No legitimate relationship",
    )
    assert refused.when == MARCH + timedelta(minutes=2)
    assert found[0].entity == "Observation?patient=p1"
    assert [e.seq for e in who_accessed(database, "p1", limit=1, before_seq=4)] == [3]
    assert who_accessed(database, "p404") == []


def test_break_glass_uses_are_listed(database: Database) -> None:
    trail = AuditTrail(database)
    reason = "Unconscious in A&E, no records available"
    trail.record([entry("break-glass", patient="p7", reason=reason, break_glass=True)])
    trail.record([entry(patient="p7", break_glass=True, when=MARCH + timedelta(minutes=5))])
    trail.record([entry(patient="p8", organisation="org2", break_glass=True)])
    trail.record([entry(patient="p7")])
    uses = break_glass_uses(database, "org1", MARCH - timedelta(days=1))
    assert [(u.seq, u.event, u.reason) for u in uses] == [
        (2, "read", None),
        (1, "break-glass", reason),
    ]
    assert len(break_glass_uses(database, None, MARCH - timedelta(days=1))) == 3
    assert break_glass_uses(database, None, MARCH + timedelta(hours=1)) == []


def test_unusual_access_is_flagged_for_the_caldicott_guardian(database: Database) -> None:
    trail = AuditTrail(database)
    night = JULY.replace(hour=21, minute=30)  # 22:30 in London (BST), not yet night in UTC
    early = JULY.replace(hour=5, minute=30)  # 06:30 in London: day, though night in UTC
    trail.record([entry(patient="p1", when=night), entry(patient="p2", when=night)])
    trail.record([entry(patient="p3", when=early)])
    trail.record([entry(patient="p4", username="zoe", role="patient", when=night)])
    trail.record([entry(patient="p5", organisation="org2", username="yan", when=night)])
    trail.record(
        [
            entry(patient=f"p{n}", username="bob", when=JULY + timedelta(minutes=n))
            for n in range(51)
        ]
    )
    trail.record(
        [
            entry(patient=f"p{n}", username="carol", when=JULY + timedelta(minutes=n))
            for n in range(50)
        ]
    )
    refused = [entry("refused", outcome="4", reason="No relationship", when=JULY)]
    trail.record(refused * 5)
    trail.record([entry("refused", username="erin", outcome="4", when=JULY)] * 4)
    trail.record(
        [
            entry(
                "break-glass",
                patient="p9",
                username="frank",
                display="Frank Nurse",
                reason="Collapsed at home, needs meds list",
                break_glass=True,
                when=JULY,
            )
        ]
    )

    found = unusual_access(database, "org1", JULY - timedelta(days=1))
    flagged = {(f.kind, f.username) for f in found}
    assert flagged == {
        ("night-access", "ann.gp"),
        ("many-patients", "bob"),
        ("repeated-refusals", "ann.gp"),
        ("break-glass", "frank"),
    }
    by_kind = {f.kind: f for f in found}
    night_access = by_kind["night-access"]
    assert (night_access.count, night_access.patients) == (2, 2)
    assert night_access.day == JULY.date()
    assert "at night" in night_access.why
    assert "22:30" in night_access.why
    many = by_kind["many-patients"]
    assert many.patients == 51
    assert "51 people's records" in many.why
    assert by_kind["repeated-refusals"].count == 5
    glass = by_kind["break-glass"]
    assert (glass.patient_id, glass.display_name) == ("p9", "Frank Nurse")
    assert "Collapsed at home, needs meds list" in glass.why
    assert [
        (f.kind, f.username) for f in unusual_access(database, "org2", JULY - timedelta(days=1))
    ] == [("night-access", "yan")]
    # Lower thresholds pick out more; a later window finds nothing.
    looser = unusual_access(
        database, "org1", JULY - timedelta(days=1), many_patients=49, repeated_refusals=4
    )
    assert {(f.kind, f.username) for f in looser} >= {
        ("many-patients", "carol"),
        ("repeated-refusals", "erin"),
    }
    assert unusual_access(database, None, JULY + timedelta(days=2)) == []


def test_search_and_read_serve_stored_audit_events(database: Database) -> None:
    trail = AuditTrail(database)
    trail.record([entry(patient="p1"), entry(patient="p2", username="bob.nurse")])
    trail.record([entry(patient="p1", organisation="org2", when=MARCH + timedelta(days=1))])
    assert [seq for seq, _ in search_audit(database, patient_id="p1")] == [1, 3]
    assert [seq for seq, _ in search_audit(database, username="bob.nurse")] == [2]
    assert [seq for seq, _ in search_audit(database, organisation_id="org2")] == [3]
    assert [seq for seq, _ in search_audit(database, since=MARCH + timedelta(hours=1))] == [3]
    assert [seq for seq, _ in search_audit(database, until=MARCH + timedelta(hours=1))] == [1, 2]
    assert [seq for seq, _ in search_audit(database, count=2)] == [1, 2]
    assert [seq for seq, _ in search_audit(database, count=2, after_seq=2)] == [3]
    seq, content = search_audit(database, username="bob.nurse")[0]
    served = read_audit_event(database, 2)
    assert served == stored_audit_event(seq, content)
    assert served is not None
    assert served["id"] == "2"
    assert served["meta"] == {"versionId": "1", "lastUpdated": "2026-03-10T09:00:00.000000Z"}
    assert validate_resource(served, expected_type="AuditEvent", expected_id="2") is served
    assert read_audit_event(database, 99) is None


def test_rows_hold_the_columns_the_content_states(database: Database) -> None:
    AuditTrail(database).record(list(RENDERED.values()))
    with database.read() as conn:
        count = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()
    assert count == len(RENDERED)
    export = rows[list(RENDERED).index("export by a system")]
    assert (export.event, export.role, export.username, export.patient_id) == (
        "export",
        "system",
        "nightly-export",
        None,
    )
    assert export.entity == "Patient?_lastUpdated=gt2026-01-01"
    glass = rows[list(RENDERED).index("break-glass")]
    assert (bool(glass.break_glass), glass.patient_id, glass.action) == (True, "p7", "E")
    assert verify_chain(database).ok


# --- The columns written are those the AuditEvent states ----------------------------------------

_optional_text = st.one_of(
    st.none(), st.text(string.ascii_letters + string.digits + ".-", min_size=1, max_size=20)
)


@given(
    event=st.sampled_from(sorted(DEFAULT_ACTIONS)),
    patient=_optional_text,
    username=_optional_text,
    role=st.one_of(st.none(), st.sampled_from(["gp", "system", "care-coordinator", "patient"])),
    organisation=_optional_text,
    entity=st.one_of(
        st.none(),
        st.just("Patient/p1"),
        st.just("CareTeam?participant=PractitionerRole/x&status=active"),
        st.just("Bundle"),
        st.just("Condition export (planning)"),
    ),
    outcome=st.sampled_from(["0", "4", "8"]),
    break_glass=st.booleans(),
    address=st.one_of(st.none(), st.just("10.1.2.3"), st.just("client.example")),
    when=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_the_columns_written_are_those_the_audit_event_states(
    event: str,
    patient: str | None,
    username: str | None,
    role: str | None,
    organisation: str | None,
    entity: str | None,
    outcome: str,
    break_glass: bool,
    address: str | None,
    when: datetime,
) -> None:
    """Entries are written with columns_of(record), and verify_chain checks them against what
    the hashed AuditEvent says: the two must agree for every kind of entry."""
    record = AuditRecord(
        event=event,
        action=DEFAULT_ACTIONS[event],
        outcome=outcome,
        username=username,
        display_name=None,
        role=role,
        organisation_id=organisation,
        practitioner_role_id=None,
        patient_id=patient,
        entity=entity,
        reason="because" if outcome != "0" else None,
        break_glass=break_glass,
        address=address,
        recorded=when,
    )
    assert columns_of(record) == stated_columns(orjson.loads(event_content(record)))


# --- A page's entries rendered once -------------------------------------------------------------

# Patient ids as a page meets them, and some that are not valid FHIR ids (rendered one by one).
_patient_ids = st.one_of(
    st.none(),
    st.text(string.ascii_letters + string.digits + ".-", min_size=1, max_size=64),
    st.just("careweave-audit-patient-mark"),
    st.text(min_size=1, max_size=8),
)


@given(
    patients=st.lists(_patient_ids, min_size=1, max_size=12),
    events=st.lists(st.sampled_from(["read", "search", "refused"]), min_size=1, max_size=3),
    entity=st.one_of(
        st.none(),
        st.just("Observation?patient=[37 people]"),
        st.just("Patient/careweave-audit-patient-mark"),
        st.text(max_size=30),
    ),
    reason=st.one_of(st.none(), st.text(max_size=30)),
)
def test_entries_rendered_together_are_each_as_rendered_alone(
    patients: list[str | None], events: list[str], entity: str | None, reason: str | None
) -> None:
    """`event_contents` renders what a page's entries share once and splices each person in;
    the text must be exactly what `event_content` gives for each entry on its own, or the hash
    chain would cover something other than the AuditEvent the API serves."""
    records = [
        AuditRecord(
            event=events[i % len(events)],
            action=DEFAULT_ACTIONS[events[i % len(events)]],
            outcome="0",
            username="cara.coordinator",
            display_name='Cara "Coordinator" \u00e9',
            role="care-coordinator",
            organisation_id="org-1",
            practitioner_role_id="prr-cara",
            patient_id=patient,
            entity=entity,
            reason=reason,
            break_glass=False,
            address="10.0.0.1",
            recorded=MARCH,
        )
        for i, patient in enumerate(patients)
    ]
    assert event_contents(records) == [event_content(record) for record in records]
