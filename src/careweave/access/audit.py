"""The audit trail: who did what to whose record, kept so that tampering shows.

Every entry is a FHIR R4 AuditEvent stored as canonical JSON (`content`: sorted keys, no `id`
or `meta`, which the row's `seq` supplies). Entries form a hash chain: an entry's `hash` is
SHA-256 of the previous entry's hash, a newline and its own content, starting from 64 zeros.
Changing an entry's content breaks its own hash; rewriting content and hash together breaks the
next entry's `prev_hash`; removing entries leaves a gap in `seq` (or, renumbered, a broken
`prev_hash`). The one change the chain cannot show by itself is removing entries from the end:
for that, keep the head hash somewhere else (print it with `careweave audit verify`, put it in
the operations log or a ticket) and pass it back as `expect_head`, which must still be found.

The columns beside `content` (patient, user, organisation, time ...) are copies for indexed
queries. They are not covered by the hash, so `verify_chain` also checks that each one still says
what the content says: otherwise an edited `patient_id` could hide an access from "who looked at
my record" without breaking the chain.

Writing: `AuditTrail.record` returns once its entries are committed. Concurrent callers share one
transaction (group commit), because on SQLite each commit waits for the disk and one writer at a
time may commit; the chain's order is fixed under a lock that also holds across processes
(PostgreSQL: a transaction-scoped advisory lock; SQLite: its single writer, BEGIN IMMEDIATE).
`seq` is assigned here, under that lock, as the last entry's `seq` plus one, rather than by a
database sequence: a PostgreSQL sequence skips the numbers of a rolled-back batch, and a gap
must mean that an entry was removed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import ipaddress
import operator
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import ColumnElement, Connection, Dialect, Row, and_, func, select

from careweave.access.principal import Principal
from careweave.store.access_tables import audit_log
from careweave.store.database import Database, as_datetime, as_utc, stored_time

__all__ = [
    "GENESIS_HASH",
    "AccessEntry",
    "AuditRecord",
    "AuditTrail",
    "AuditWriteError",
    "ChainReport",
    "UnusualAccess",
    "audit_event",
    "break_glass_uses",
    "chain_head",
    "event_content",
    "event_contents",
    "read_audit_event",
    "search_audit",
    "stored_audit_event",
    "unusual_access",
    "verify_chain",
    "who_accessed",
]

GENESIS_HASH = "0" * 64

USERNAME_SYSTEM = "https://fhir.careweave.example/Id/username"
EVENT_SYSTEM = "https://fhir.careweave.example/CodeSystem/audit-event"
ROLE_SYSTEM = "https://fhir.careweave.example/CodeSystem/role"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"

LONDON = ZoneInfo("Europe/London")

# The careweave events and how the Caldicott guardian's screens name them.
EVENTS: dict[str, str] = {
    "read": "Read a record",
    "vread": "Read a past version of a record",
    "search": "Searched",
    "history": "Read the history of a record",
    "create": "Created a record",
    "update": "Changed a record",
    "patch": "Changed part of a record",
    "delete": "Deleted a record",
    "transaction": "Sent a batch of changes",
    "export": "Exported data",
    "sign-in": "Signed in",
    "sign-out": "Signed out",
    "sign-in-failed": "Failed to sign in",
    "break-glass": "Broke the glass (emergency access)",
    "refused": "Was refused access",
    "token-issued": "API token issued",
    "break-glass-review": "Reviewed an emergency access",
}
# FHIR AuditEvent.action when the caller does not say: E (execute) for searches and operations.
DEFAULT_ACTIONS: dict[str, str] = {
    "read": "R",
    "vread": "R",
    "history": "R",
    "search": "E",
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "transaction": "E",
    "export": "E",
    "sign-in": "E",
    "sign-out": "E",
    "sign-in-failed": "E",
    "break-glass": "E",
    "refused": "R",
    "token-issued": "C",
    "break-glass-review": "U",
}
OUTCOMES = ("0", "4", "8", "12")
_EVENT_CODE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_REFERENCE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?")
_AUTHENTICATION_EVENTS = frozenset({"sign-in", "sign-out", "sign-in-failed", "token-issued"})
_PEOPLE_ROLES = frozenset({"patient", "carer"})


@dataclass(frozen=True)
class AuditRecord:
    """One thing that happened, as the access layer reports it; one per person touched.

    Empty strings are taken as "not known" (None), so that the row's columns and its AuditEvent
    (which cannot hold empty strings) always agree.
    """

    event: str  # read vread search history create update delete transaction export sign-in
    # sign-out sign-in-failed break-glass refused token-issued
    action: str  # FHIR AuditEvent.action: C R U D E
    outcome: str  # "0" success, "4" refused/minor failure, "8" serious failure, "12" major
    username: str | None
    display_name: str | None
    role: str | None
    organisation_id: str | None
    practitioner_role_id: str | None
    patient_id: str | None  # whose record, one record per person touched
    entity: str | None  # "Patient/p1", "Observation?patient=p1", "Bundle"
    reason: str | None  # break-glass reason, refusal reason
    break_glass: bool
    address: str | None
    recorded: datetime  # aware UTC

    def __post_init__(self) -> None:
        if not _EVENT_CODE.fullmatch(self.event):
            raise ValueError(f"audit event {self.event!r} is not a lower-case code of <= 32")
        if self.action not in ("C", "R", "U", "D", "E"):
            raise ValueError(f"audit action {self.action!r} is not one of C R U D E")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"audit outcome {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        if self.recorded.tzinfo is None:
            raise ValueError("an audit record's time must be timezone-aware")
        for name in (
            "username",
            "display_name",
            "role",
            "organisation_id",
            "practitioner_role_id",
            "patient_id",
            "entity",
            "reason",
            "address",
        ):
            value = getattr(self, name)
            if value is not None and not value.strip():
                object.__setattr__(self, name, None)

    @classmethod
    def for_principal(
        cls,
        principal: Principal,
        *,
        event: str,
        action: str | None = None,
        outcome: str = "0",
        patient_id: str | None = None,
        entity: str | None = None,
        reason: str | None = None,
        break_glass: bool = False,
        recorded: datetime | None = None,
    ) -> AuditRecord:
        """What `principal` did now; `action` defaults to the usual one for `event`."""
        return cls(
            event=event,
            action=action if action is not None else DEFAULT_ACTIONS.get(event, "E"),
            outcome=outcome,
            username=principal.username,
            display_name=principal.display_name,
            role=principal.role.value,
            organisation_id=principal.organisation_id,
            practitioner_role_id=principal.practitioner_role_id,
            patient_id=patient_id,
            entity=entity,
            reason=reason,
            break_glass=break_glass,
            address=principal.address,
            recorded=recorded if recorded is not None else datetime.now(UTC),
        )


# --- Rendering as FHIR R4 AuditEvent ---------------------------------------------------------


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _event_type(record: AuditRecord) -> dict[str, str]:
    if record.event in _AUTHENTICATION_EVENTS:
        return _coding(DICOM, "110114", "User Authentication")
    if record.event == "export":
        return _coding(DICOM, "110106", "Export")
    if record.patient_id is not None:
        return _coding(DICOM, "110110", "Patient Record")
    return _coding(AUDIT_EVENT_TYPE, "rest", "RESTful Operation")


def _interaction(record: AuditRecord) -> str | None:
    """The FHIR restful-interaction code of a REST event, judged by what it touched."""
    entity = record.entity or ""
    target = entity.split("?", 1)[0]
    if record.event in ("read", "vread", "create", "update", "delete", "patch"):
        return record.event
    if record.event == "search":
        return "search-system" if not target else "search-type"
    if record.event == "history":
        if not target:
            return "history-system"
        return "history-instance" if "/" in target else "history-type"
    if record.event in ("transaction", "batch", "capabilities", "operation"):
        return record.event
    return None


def _subtypes(record: AuditRecord) -> list[dict[str, str]]:
    subtypes: list[dict[str, str]] = []
    interaction = _interaction(record)
    if interaction is not None:
        subtypes.append(_coding(RESTFUL_INTERACTION, interaction, interaction))
    elif record.event in ("sign-in", "sign-in-failed"):
        subtypes.append(_coding(DICOM, "110122", "Login"))
    elif record.event == "sign-out":
        subtypes.append(_coding(DICOM, "110123", "Logout"))
    # Always the careweave code too: it names the event exactly, so the row's `event` column can
    # be checked against the content (and a refused read differs from a refused search).
    subtypes.append(_coding(EVENT_SYSTEM, record.event, EVENTS.get(record.event)))
    return subtypes


def _network(address: str) -> dict[str, str]:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return {"address": address, "type": "1"}  # machine name
    return {"address": address, "type": "2"}  # IP address


def _agents(record: AuditRecord) -> list[dict[str, Any]]:
    user: dict[str, Any] = {
        "type": {
            "coding": [
                _coding(DICOM, "110150", "Application")
                if record.role == "system"
                else _coding(SECURITY_ROLE_TYPE, "humanuser", "human user")
            ]
        }
    }
    if record.role is not None:
        user["role"] = [{"coding": [_coding(ROLE_SYSTEM, record.role)], "text": record.role}]
    who: dict[str, Any] = {}
    if record.practitioner_role_id is not None:
        who["reference"] = f"PractitionerRole/{record.practitioner_role_id}"
    if record.username is not None:
        who["identifier"] = {"system": USERNAME_SYSTEM, "value": record.username}
    if record.display_name is not None:
        who["display"] = record.display_name
    if who:
        user["who"] = who
    user["requestor"] = True
    if record.address is not None:
        user["network"] = _network(record.address)
    agents = [user]
    if record.organisation_id is not None:
        agents.append(
            {"who": {"reference": f"Organization/{record.organisation_id}"}, "requestor": False}
        )
    return agents


def _entities(record: AuditRecord) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if record.patient_id is not None:
        entities.append(
            {
                "what": {"reference": f"Patient/{record.patient_id}"},
                "type": _coding(ENTITY_TYPE, "1", "Person"),
                "role": _coding(OBJECT_ROLE, "1", "Patient"),
            }
        )
    entity = record.entity
    if entity is None:
        return entities
    system_object = _coding(ENTITY_TYPE, "2", "System Object")
    if "?" in entity:
        # entity.query is base64Binary; the description repeats it for people reading the JSON.
        entities.append(
            {
                "type": system_object,
                "role": _coding(OBJECT_ROLE, "24", "Query"),
                "description": entity,
                "query": base64.b64encode(entity.encode()).decode("ascii"),
            }
        )
    elif _REFERENCE.fullmatch(entity):
        entities.append(
            {
                "what": {"reference": entity},
                "type": system_object,
                "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
            }
        )
    else:  # "Bundle", a resource type (type-level history) ...
        entities.append({"type": system_object, "description": entity})
    return entities


def _body(record: AuditRecord) -> dict[str, Any]:
    """The AuditEvent without `id` and `meta`: what the hash covers."""
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": _event_type(record),
        "subtype": _subtypes(record),
        "action": record.action,
        "recorded": _instant(record.recorded),
        "outcome": record.outcome,
    }
    if record.reason is not None:
        event["outcomeDesc"] = record.reason
    if record.break_glass or record.patient_id is not None:
        purpose: dict[str, Any] = {
            "coding": [
                _coding(ACT_REASON, "ETREAT", "Emergency Treatment")
                if record.break_glass
                else _coding(ACT_REASON, "TREAT", "treatment")
            ]
        }
        if record.reason is not None:
            purpose["text"] = record.reason
        event["purposeOfEvent"] = [purpose]
    event["agent"] = _agents(record)
    event["source"] = {
        "site": "careweave",
        "observer": {"display": "careweave"},
        "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
    }
    entities = _entities(record)
    if entities:
        event["entity"] = entities
    return event


def audit_event(record: AuditRecord, seq: int) -> dict[str, Any]:
    """`record` as the FHIR R4 AuditEvent with id `seq` (without meta)."""
    body = _body(record)
    return {"resourceType": "AuditEvent", "id": str(seq), **body}


def event_content(record: AuditRecord) -> str:
    """The canonical JSON the chain hashes: sorted keys, no whitespace, no id or meta."""
    return orjson.dumps(_body(record), option=orjson.OPT_SORT_KEYS).decode()


# Entries of one page view differ only in whose record each is: `event_contents` renders the
# rest once, with this id in the Patient's place, and splices each person's id in. It must be a
# valid id (as patient ids are) and is checked to occur exactly once in the rendering.
_PATIENT_MARK = "careweave-audit-patient-mark"
_PATIENT_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PATIENT_REFERENCE = '"reference":"Patient/{}"'
_SHARED_FIELDS = operator.attrgetter(
    *(name for name in AuditRecord.__dataclass_fields__ if name != "patient_id")
)


def event_contents(records: Sequence[AuditRecord]) -> list[str]:
    """`event_content` of each record, rendering once what records share.

    A caseload page touches a few hundred people and writes an entry for each; building each
    AuditEvent afresh was a third of the cost of writing them. The splice is exact: a FHIR id
    needs no escaping in JSON, so the rendering with the id in place is the same text as the
    rendering with the mark in place, the mark replaced (a Hypothesis test holds them equal).
    """
    shapes: dict[tuple[object, ...], tuple[str, str] | None] = {}
    contents: list[str] = []
    for record in records:
        patient = record.patient_id
        if patient is None or not _PATIENT_ID.fullmatch(patient):
            contents.append(event_content(record))
            continue
        key = _SHARED_FIELDS(record)
        if key not in shapes:
            marked = event_content(dataclasses.replace(record, patient_id=_PATIENT_MARK))
            before, mark, after = marked.partition(_PATIENT_REFERENCE.format(_PATIENT_MARK))
            shapes[key] = (before, after) if mark and _PATIENT_MARK not in before + after else None
        shape = shapes[key]
        if shape is None:
            contents.append(event_content(record))
        else:
            contents.append(f"{shape[0]}{_PATIENT_REFERENCE.format(patient)}{shape[1]}")
    return contents


def stored_audit_event(seq: int, content: str) -> dict[str, Any]:
    """A stored entry as the FHIR API serves it: the content with `id` and `meta` added."""
    body = orjson.loads(content)
    return {
        "resourceType": "AuditEvent",
        "id": str(seq),
        "meta": {"versionId": "1", "lastUpdated": body.get("recorded")},
        **{key: value for key, value in body.items() if key != "resourceType"},
    }


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


# --- Columns, derived from the AuditEvent --------------------------------------------------


def _prefixed(reference: object, prefix: str) -> str | None:
    if isinstance(reference, str) and reference.startswith(prefix):
        return reference[len(prefix) :]
    return None


def stated_columns(event: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed columns as the AuditEvent states them; raises on a malformed event.

    Used both to fill the columns on insert and, in `verify_chain`, to check that nobody edited
    a column apart from the content the hash covers.
    """
    username = role = organisation_id = address = patient_id = entity = None
    for agent in event.get("agent", ()):
        if agent.get("requestor"):
            username = agent.get("who", {}).get("identifier", {}).get("value")
            address = agent.get("network", {}).get("address")
            for concept in agent.get("role", ()):
                for coding in concept.get("coding", ()):
                    if coding.get("system") == ROLE_SYSTEM:
                        role = coding.get("code")
        else:
            found = _prefixed(agent.get("who", {}).get("reference"), "Organization/")
            organisation_id = organisation_id or found
    for item in event.get("entity", ()):
        item_role = item.get("role", {})
        if item_role.get("system") == OBJECT_ROLE and item_role.get("code") == "1":
            patient_id = _prefixed(item.get("what", {}).get("reference"), "Patient/")
        elif "query" in item:
            entity = base64.b64decode(item["query"]).decode()
        elif "what" in item:
            entity = item["what"].get("reference")
        else:
            entity = item.get("description")
    event_code = next(
        coding["code"] for coding in event["subtype"] if coding.get("system") == EVENT_SYSTEM
    )
    break_glass = any(
        coding.get("code") == "ETREAT"
        for purpose in event.get("purposeOfEvent", ())
        for coding in purpose.get("coding", ())
    )
    recorded = datetime.fromisoformat(event["recorded"]).astimezone(UTC).replace(tzinfo=None)
    return {
        "recorded": recorded,
        "action": event["action"],
        "event": event_code,
        "outcome": event["outcome"],
        "username": username,
        "role": role,
        "organisation_id": organisation_id,
        "patient_id": patient_id,
        "entity": entity,
        "break_glass": break_glass,
        "address": address,
    }


def columns_of(record: AuditRecord) -> dict[str, Any]:
    """The indexed columns of `record`'s entry: what `stated_columns` reads back from its AuditEvent
    (a test holds them equal), taken straight from the record because reading them back cost
    a third of writing a page's few hundred entries."""
    return {
        "recorded": record.recorded.astimezone(UTC).replace(tzinfo=None),
        "action": record.action,
        "event": record.event,
        "outcome": record.outcome,
        "username": record.username,
        "role": record.role,
        "organisation_id": record.organisation_id,
        "patient_id": record.patient_id,
        "entity": record.entity,
        "break_glass": record.break_glass,
        "address": record.address,
    }


_COLUMN_NAMES = (
    "recorded",
    "action",
    "event",
    "outcome",
    "username",
    "role",
    "organisation_id",
    "patient_id",
    "entity",
    "break_glass",
    "address",
)


# --- Writing: group commit under the chain lock ----------------------------------------------


class AuditWriteError(RuntimeError):
    """The audit entries were not written, so the action they describe must not go ahead."""


# A constant naming careweave's audit chain among PostgreSQL advisory locks ("care" in ASCII);
# the second key is the audit_log table's oid, so each schema's chain has its own lock.
_ADVISORY_LOCK_CLASS = 0x63617265
_CHAIN_LOCK_SQL = (
    "SELECT pg_advisory_xact_lock(%s, "
    "CAST(CAST(CAST(CAST('audit_log' AS regclass) AS oid) AS bigint) %% 2147483647 AS integer))"
)
_LAST_ENTRY_SQL = f"SELECT seq, hash FROM {audit_log.name} ORDER BY seq DESC LIMIT 1"


@dataclass(eq=False)  # each caller's is its own, even with the same entries
class _Pending:
    """One caller's entries: (content, columns) each, and how writing them went.

    `woken` is set once they are written (`done`), or when the caller is handed the writing
    of the next transaction (not yet `done`).
    """

    entries: list[tuple[str, dict[str, Any]]]
    done: bool = False
    error: BaseException | None = None
    woken: threading.Event = field(default_factory=threading.Event)


class AuditTrail:
    """Appends entries to the chain; shared by all threads of a process.

    A caller queues its entries; if no write is under way it becomes the writer and commits
    everything queued so far in one transaction, while later callers queue for the next one.
    If a shared transaction fails, each caller's entries are retried in a transaction of their
    own, so one bad entry fails only the caller that gave it.

    A writer that finishes wakes exactly the callers it wrote for, and hands the next
    transaction to the first caller queued meanwhile. (Waking every waiter on one condition
    instead cost a read about 90 µs of the GIL at 16 requests in flight: the callers queued
    for the next transaction woke only to sleep again.)
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False
        self._in_flight = 0
        self._insert: _Insert | None = None  # built on the first write, then kept

    def queued(self) -> int:
        """Callers waiting for the next transaction (for monitoring, and for tests)."""
        with self._lock:
            return len(self._queue)

    def writing(self) -> int:
        """Callers whose entries the transaction under way is writing (0: none under way)."""
        with self._lock:
            return self._in_flight

    def record(self, records: Sequence[AuditRecord]) -> None:
        """Append `records` to the chain, in order; returns once they are committed.

        Raises AuditWriteError if they could not be written (nothing of theirs is written).
        """
        if not records:
            return
        contents = event_contents(records)
        pending = _Pending([(c, columns_of(r)) for c, r in zip(contents, records, strict=True)])
        with self._lock:
            self._queue.append(pending)
            leads = not self._writing
            self._writing = True
        if not leads:
            try:
                pending.woken.wait()
            except BaseException:
                self._abandon(pending)
                raise
        if not pending.done:  # ours to write: everything queued, ours included
            self._write_queued(pending)
        if pending.error is not None:
            raise AuditWriteError(
                f"The audit trail could not record {len(records)} "
                f"entr{'y' if len(records) == 1 else 'ies'}: {pending.error}"
            ) from pending.error

    def _write_queued(self, writer: _Pending) -> None:
        """Write every caller queued so far, as `writer`'s caller, then wake them and hand the
        next transaction to whoever queued meanwhile."""
        with self._lock:
            batch, self._queue = self._queue, []
            self._in_flight = len(batch)
        try:
            self._write_batch(batch)
        finally:
            with self._lock:
                for item in batch:
                    item.done = True
                self._in_flight = 0
                self._hand_on()
            for item in batch:
                if item is not writer:
                    item.woken.set()

    def _hand_on(self) -> None:
        """Give the next transaction to the first caller queued, if any (under the lock, so a
        caller that abandons its place sees whether it was handed the writing)."""
        self._writing = bool(self._queue)
        if self._queue:
            self._queue[0].woken.set()

    def _abandon(self, pending: _Pending) -> None:
        """A caller interrupted while queued: its entries are not written, and if it had just
        been handed the next transaction, the caller after it takes it (or every later
        caller would wait for a writer that never comes)."""
        with self._lock:
            if pending.done:
                return
            self._queue = [item for item in self._queue if item is not pending]
            if pending.woken.is_set():
                self._hand_on()

    def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            self._append([entry for item in batch for entry in item.entries])
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
                return
            for item in batch:
                try:
                    self._append(item.entries)
                except Exception as own_error:
                    item.error = own_error
        except BaseException as error:  # interrupted: nobody's entries are known to be written
            for item in batch:
                item.error = error
            raise

    def _append(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        if self.database.dialect == "postgresql":
            self._append_pipelined(entries)
            return
        with self.database.write() as conn:
            insert = self._insert_for(conn.dialect)
            last = conn.execute(
                select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
            ).first()
            conn.exec_driver_sql(insert.statement, _chained_rows(insert, last, entries))

    def _append_pipelined(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """PostgreSQL: the chain lock is held from the lock statement to the commit, and every
        other process's audit entries wait for it, so each round trip in between costs the whole
        server. Pipelining sends the lock and the read of the last entry as one round trip (the
        read still runs, and takes its snapshot, only once the lock is granted), and a small
        batch's inserts with the COMMIT as one more: two round trips under the lock instead of
        five, which is what bounds how many reads per second the API can audit."""
        raw = self.database.writer.raw_connection()
        try:
            driver = raw.driver_connection
            assert driver is not None
            insert = self._insert_for(self.database.writer.dialect)
            with driver.pipeline():
                driver.execute(_CHAIN_LOCK_SQL, (_ADVISORY_LOCK_CLASS,))
                last = driver.execute(_LAST_ENTRY_SQL).fetchone()
            rows = _chained_rows(insert, last, entries)
            if len(rows) >= _COPY_FROM:
                _copy(driver, rows)
                driver.commit()
            else:
                with driver.pipeline(), driver.cursor() as cursor:
                    cursor.executemany(insert.statement, rows)
                    driver.commit()
        finally:
            raw.close()  # the pool rolls back whatever did not commit

    def _insert_for(self, dialect: Dialect) -> _Insert:
        if self._insert is None:
            self._insert = _Insert.for_dialect(dialect)
        return self._insert


def _chained_rows(
    insert: _Insert, last: Sequence[Any] | None, entries: list[tuple[str, dict[str, Any]]]
) -> list[tuple[Any, ...]]:
    """The entries as audit_log rows, chained on from `last` (seq, hash) or the genesis."""
    seq, prev_hash = (int(last[0]), str(last[1])) if last is not None else (0, GENESIS_HASH)
    rows = []
    for content, columns in entries:
        seq += 1
        entry_hash = chain_hash(prev_hash, content)
        rows.append(insert.values(columns, seq, content, prev_hash, entry_hash))
        prev_hash = entry_hash
    return rows


_INSERTED = (*_COLUMN_NAMES, "seq", "content", "prev_hash", "hash")
_COPY = f"COPY {audit_log.name} ({', '.join(_INSERTED)}) FROM STDIN"


_COPY_FROM = 32
"""Entries from which one transaction's go in by COPY rather than by pipelined INSERTs."""


def _copy(driver: Any, rows: list[tuple[Any, ...]]) -> None:
    """A page view's entries into PostgreSQL by COPY, in the transaction `driver` (a psycopg
    connection) is in: a caseload's few hundred went in in 13 ms instead of 18 ms as an
    INSERT per row. A few entries go faster as INSERTs pipelined with the COMMIT (a COPY
    is two round trips of its own). What is stored is the same: psycopg adapts each value as
    it does a bound parameter, and verify_chain checks every column against the hashed
    content."""
    with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
        for row in rows:
            copy.write_row(row)


@dataclass(frozen=True)
class _Insert:
    """The audit INSERT in the driver's own terms, and how to turn an entry into its values.

    Straight to the driver's executemany: SQLAlchemy's per-row parameter handling took as long
    as the database's own work for a page's few hundred entries. The column types' own bind
    processors convert the values, so what is stored is what SQLAlchemy would have stored.
    """

    statement: str
    processors: tuple[Callable[[Any], Any] | None, ...]  # one per _INSERTED column

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> _Insert:
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        statement = (
            f"INSERT INTO {audit_log.name} ({', '.join(_INSERTED)}) "
            f"VALUES ({', '.join([marker] * len(_INSERTED))})"
        )
        processors = tuple(
            audit_log.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in _INSERTED
        )
        return cls(statement, processors)

    def values(
        self, columns: Mapping[str, Any], seq: int, content: str, prev_hash: str, entry_hash: str
    ) -> tuple[Any, ...]:
        raw = (*(columns[name] for name in _COLUMN_NAMES), seq, content, prev_hash, entry_hash)
        return tuple(
            value if process is None else process(value)
            for value, process in zip(raw, self.processors, strict=True)
        )


# --- Verifying the chain ---------------------------------------------------------------------

MAX_PROBLEMS_LISTED = 1000


@dataclass
class ChainReport:
    """What `verify_chain` found. `last_hash` is the head to keep elsewhere as an anchor."""

    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0  # all problems, when more than MAX_PROBLEMS_LISTED are listed
    expected_head: str | None = None
    expected_head_seq: int | None = None  # where the expected head was found, if it was

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_LISTED:
            self.problems.append(problem)


@contextmanager
def _snapshot(database: Database) -> Iterator[Connection]:
    """A read-only transaction that sees one state of the log however long it is read."""
    with database.reader.connect() as conn:
        if database.dialect == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _missing(before: int, after: int) -> str:
    if after - before == 2:
        return f"entry {before + 1} missing (sequence gap {before} -> {after})"
    return f"entries {before + 1}-{after - 1} missing (sequence gap {before} -> {after})"


def _check_columns(report: ChainReport, row: Row[*tuple[Any, ...]]) -> None:
    try:
        stated = stated_columns(orjson.loads(row.content))
    except Exception:
        report.add(f"entry {row.seq}: content is not a careweave AuditEvent")
        return
    mapping = row._mapping
    values = {name: mapping[name] for name in _COLUMN_NAMES}
    values["recorded"] = as_datetime(values["recorded"])
    values["break_glass"] = bool(values["break_glass"])
    if values == stated:
        return
    for name in _COLUMN_NAMES:
        value = values[name]
        if value != stated[name]:
            report.add(
                f"entry {row.seq}: column {name} altered (it says {value!r}, "
                f"the hashed content says {stated[name]!r})"
            )


def verify_chain(
    database: Database,
    progress: Callable[[int, int], None] | None = None,
    *,
    expect_head: str | None = None,
    chunk_size: int = 2000,
) -> ChainReport:
    """Check every entry against the chain, in order, reading `chunk_size` rows at a time.

    `progress(done, total)` is called after each chunk. `expect_head` is a head hash printed by
    an earlier run: it must still be in the chain, or entries were removed from the end (which
    the chain alone cannot show). Entries added after it are fine.
    """
    report = ChainReport(expected_head=expect_head)
    columns = [audit_log.c[name] for name in ("seq", *_COLUMN_NAMES, "content", "prev_hash")]
    with _snapshot(database) as conn:
        total = int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
        previous: tuple[int, str] | None = None  # (seq, stored hash) of the entry before
        while True:
            query = select(*columns, audit_log.c.hash).order_by(audit_log.c.seq).limit(chunk_size)
            if previous is not None:
                query = query.where(audit_log.c.seq > previous[0])
            rows = conn.execute(query).all()
            for row in rows:
                _check_entry(report, row, previous)
                previous = (row.seq, row.hash)
            report.checked += len(rows)
            if progress is not None:
                progress(report.checked, max(total, report.checked))
            if len(rows) < chunk_size:
                break
    if previous is not None:
        report.last_seq, report.last_hash = previous
    if expect_head is not None and report.expected_head_seq is None:
        report.add(
            f"the expected head {expect_head} is not in the chain: entries were removed from "
            f"the end (the chain now ends at entry {report.last_seq}, {report.last_hash})"
        )
    return report


def _check_entry(
    report: ChainReport, row: Row[*tuple[Any, ...]], previous: tuple[int, str] | None
) -> None:
    seq = int(row.seq)
    if previous is None:
        report.first_seq = seq
        if seq != 1:
            report.add(_missing(0, seq))
        elif row.prev_hash != GENESIS_HASH:
            report.add(f"entry 1 does not start a chain (its prev_hash is not {GENESIS_HASH})")
    else:
        before, before_hash = previous
        if seq != before + 1:
            report.add(_missing(before, seq))
        elif row.prev_hash != before_hash:
            report.add(
                f"entry {seq} does not follow entry {before} (its prev_hash does not match "
                f"entry {before}'s hash: entry {before} was rewritten or replaced, or entries "
                "between them were removed and the rest renumbered)"
            )
    if chain_hash(row.prev_hash, row.content) != row.hash:
        report.add(f"entry {seq}: content altered (hash does not match)")
    _check_columns(report, row)
    if row.hash == report.expected_head:
        report.expected_head_seq = seq


def chain_head(database: Database) -> tuple[int, str] | None:
    """The last entry's (seq, hash): the anchor to keep outside the database."""
    with database.read() as conn:
        row = conn.execute(
            select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        ).first()
    return None if row is None else (int(row[0]), str(row[1]))


# --- Queries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessEntry:
    """One line of "who looked at my record" or of the break-glass list."""

    seq: int
    when: datetime  # aware UTC
    username: str | None
    display_name: str | None
    role: str | None
    organisation_id: str | None
    patient_id: str | None
    event: str
    entity: str | None
    outcome: str
    reason: str | None
    break_glass: bool

    @property
    def who(self) -> str:
        return self.display_name or self.username or "someone not signed in"

    @property
    def refused(self) -> bool:
        return self.outcome != "0"

    @property
    def what(self) -> str:
        return EVENTS.get(self.event, self.event)


_ENTRY_COLUMNS = (
    audit_log.c.seq,
    audit_log.c.recorded,
    audit_log.c.username,
    audit_log.c.role,
    audit_log.c.organisation_id,
    audit_log.c.patient_id,
    audit_log.c.event,
    audit_log.c.entity,
    audit_log.c.outcome,
    audit_log.c.break_glass,
    audit_log.c.content,
)


def _display_and_reason(content: str) -> tuple[str | None, str | None]:
    event = orjson.loads(content)
    display = next(
        (a.get("who", {}).get("display") for a in event.get("agent", ()) if a.get("requestor")),
        None,
    )
    return display, event.get("outcomeDesc")


def _access_entry(row: Row[*tuple[Any, ...]]) -> AccessEntry:
    display_name, reason = _display_and_reason(row.content)
    return AccessEntry(
        seq=int(row.seq),
        when=as_utc(row.recorded),
        username=row.username,
        display_name=display_name,
        role=row.role,
        organisation_id=row.organisation_id,
        patient_id=row.patient_id,
        event=row.event,
        entity=row.entity,
        outcome=row.outcome,
        reason=reason,
        break_glass=bool(row.break_glass),
    )


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("audit queries take timezone-aware times")
    return stored_time(moment)


def who_accessed(
    database: Database, patient_id: str, *, limit: int = 100, before_seq: int | None = None
) -> list[AccessEntry]:
    """Everything recorded about `patient_id`'s record, newest first; page on with the last
    entry's seq as `before_seq`. Refused attempts are included (outcome "4")."""
    query = (
        select(*_ENTRY_COLUMNS)
        .where(audit_log.c.patient_id == patient_id)
        .order_by(audit_log.c.seq.desc())
        .limit(limit)
    )
    if before_seq is not None:
        query = query.where(audit_log.c.seq < before_seq)
    with database.read() as conn:
        return [_access_entry(row) for row in conn.execute(query)]


def break_glass_uses(
    database: Database,
    organisation_id: str | None,
    since: datetime,
    *,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[AccessEntry]:
    """Entries made under break-glass (the grant itself and every access under it), newest
    first, for one organisation or (None) all."""
    conditions = [audit_log.c.break_glass.is_(True), audit_log.c.recorded >= _naive(since)]
    if until is not None:
        conditions.append(audit_log.c.recorded < _naive(until))
    if organisation_id is not None:
        conditions.append(audit_log.c.organisation_id == organisation_id)
    query = (
        select(*_ENTRY_COLUMNS)
        .where(and_(*conditions))
        .order_by(audit_log.c.seq.desc())
        .limit(limit)
    )
    with database.read() as conn:
        return [_access_entry(row) for row in conn.execute(query)]


@dataclass(frozen=True)
class UnusualAccess:
    """A pattern for the Caldicott guardian to look at, and why it was picked out.

    `day` is the day in Europe/London (for night access: the evening the night began).
    """

    kind: str  # break-glass, repeated-refusals, many-patients, night-access
    username: str | None
    display_name: str | None
    organisation_id: str | None
    day: date
    first: datetime  # aware UTC
    last: datetime
    count: int  # entries in the pattern
    patients: int  # distinct people whose records it touched
    patient_id: str | None  # for break-glass: whose record
    why: str
    seqs: tuple[int, ...]  # the first entries of the pattern (up to 20), to show them


@dataclass
class _Group:
    first: datetime
    last: datetime
    organisation_id: str | None
    count: int = 0
    patients: set[str] = field(default_factory=set)
    events: Counter[str] = field(default_factory=Counter)
    seqs: list[int] = field(default_factory=list)

    def add(self, seq: int, when: datetime, event: str, patient_id: str | None) -> None:
        self.count += 1
        self.first, self.last = min(self.first, when), max(self.last, when)
        self.events[event] += 1
        if patient_id is not None:
            self.patients.add(patient_id)
        if len(self.seqs) < 20:
            self.seqs.append(seq)


def _at_night(local: datetime, night: tuple[int, int]) -> date | None:
    """The evening whose night `local` falls in, or None in the day."""
    starts, ends = night
    if local.hour >= starts:
        return local.date()
    if local.hour < ends:
        return local.date() - timedelta(days=1)
    return None


def _london(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%H:%M")


def unusual_access(
    database: Database,
    organisation_id: str | None,
    since: datetime,
    *,
    until: datetime | None = None,
    many_patients: int = 50,
    repeated_refusals: int = 5,
    night: tuple[int, int] = (22, 6),
) -> list[UnusualAccess]:
    """Patterns a Caldicott guardian reviews, between `since` and `until`, newest day first.

    - every use of break-glass (per user, person and day);
    - a user refused `repeated_refusals` or more times in a day (outcome 4: refused access,
      failed sign-ins);
    - a user touching more than `many_patients` different people's records in a day;
    - record access at night (from `night[0]`:00 to `night[1]`:00, Europe/London).
    People looking at their own record (roles patient, carer) and integrations (role system)
    are left out of the last two: their patterns are normal.

    Reads the period's entries once, in a stream, without their content.
    """
    conditions = [audit_log.c.recorded >= _naive(since)]
    if until is not None:
        conditions.append(audit_log.c.recorded < _naive(until))
    if organisation_id is not None:
        conditions.append(audit_log.c.organisation_id == organisation_id)
    query = select(
        audit_log.c.seq,
        audit_log.c.recorded,
        audit_log.c.event,
        audit_log.c.outcome,
        audit_log.c.username,
        audit_log.c.role,
        audit_log.c.organisation_id,
        audit_log.c.patient_id,
        audit_log.c.break_glass,
    ).where(and_(*conditions))
    groups: dict[tuple[str, str | None, date, str | None], _Group] = {}

    def add(
        key: tuple[str, str | None, date, str | None],
        row: Row[*tuple[Any, ...]],
        when: datetime,
    ) -> None:
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(when, when, row.organisation_id)
        group.add(int(row.seq), when, row.event, row.patient_id)

    with _snapshot(database) as conn:
        result = conn.execution_options(yield_per=2000).execute(query)
        for row in result:
            when = as_utc(row.recorded)
            local = when.astimezone(LONDON)
            user = row.username
            if row.break_glass and row.patient_id is not None:
                add(("break-glass", user, local.date(), row.patient_id), row, when)
            if row.outcome == "4":
                add(("repeated-refusals", user, local.date(), None), row, when)
            if row.patient_id is None or row.role in _PEOPLE_ROLES or row.role == "system":
                continue
            add(("many-patients", user, local.date(), None), row, when)
            evening = _at_night(local, night)
            if evening is not None:
                add(("night-access", user, evening, None), row, when)
    findings = []
    for (kind, user, day, patient_id), group in groups.items():
        why = _why(kind, group, day, patient_id, many_patients, repeated_refusals, night)
        if why is not None:
            findings.append((kind, user, day, patient_id, group, why))
    details = _details(database, [group.seqs[0] for *_, group, _ in findings])
    kinds = ("break-glass", "repeated-refusals", "many-patients", "night-access")
    found = [
        UnusualAccess(
            kind=kind,
            username=user,
            display_name=details.get(group.seqs[0], (None, None))[0],
            organisation_id=group.organisation_id,
            day=day,
            first=group.first,
            last=group.last,
            count=group.count,
            patients=len(group.patients),
            patient_id=patient_id,
            why=why + _reason_suffix(kind, details.get(group.seqs[0], (None, None))[1]),
            seqs=tuple(group.seqs),
        )
        for kind, user, day, patient_id, group, why in findings
    ]
    found.sort(key=lambda f: (-f.day.toordinal(), kinds.index(f.kind), f.username or "", f.first))
    return found


def _why(
    kind: str,
    group: _Group,
    day: date,
    patient_id: str | None,
    many_patients: int,
    repeated_refusals: int,
    night: tuple[int, int],
) -> str | None:
    """Why the group is unusual, in the guardian's words; None if it is not."""
    span = f"between {_london(group.first)} and {_london(group.last)}"
    if kind == "break-glass":
        return (
            f"Used break-glass to reach Patient/{patient_id}'s record on {day:%d %b %Y}: "
            f"{group.count} entr{'y' if group.count == 1 else 'ies'} {span}"
        )
    if kind == "repeated-refusals" and group.count >= repeated_refusals:
        events = ", ".join(f"{n} {event}" for event, n in group.events.most_common())
        return (
            f"Refused {group.count} times on {day:%d %b %Y} ({events}), {span}: "
            f"{repeated_refusals} or more in a day"
        )
    if kind == "many-patients" and len(group.patients) > many_patients:
        return (
            f"Touched {len(group.patients)} people's records on {day:%d %b %Y}, more than "
            f"{many_patients} in a day"
        )
    if kind == "night-access":
        people = len(group.patients)
        return (
            f"Accessed records at night ({night[0]:02d}:00-{night[1]:02d}:00 UK time) on the "
            f"night of {day:%d %b %Y}: {group.count} entr{'y' if group.count == 1 else 'ies'} "
            f"about {people} {'person' if people == 1 else 'people'}, {span}"
        )
    return None


def _reason_suffix(kind: str, reason: str | None) -> str:
    return f'; reason given: "{reason}"' if kind == "break-glass" and reason else ""


def _details(database: Database, seqs: list[int]) -> dict[int, tuple[str | None, str | None]]:
    """Display name and reason of the given entries, read from their content."""
    found: dict[int, tuple[str | None, str | None]] = {}
    with database.read() as conn:
        for start in range(0, len(seqs), 500):
            query = select(audit_log.c.seq, audit_log.c.content).where(
                audit_log.c.seq.in_(seqs[start : start + 500])
            )
            for seq, content in conn.execute(query):
                found[int(seq)] = _display_and_reason(content)
    return found


def _audit_conditions(
    *,
    patient_id: str | None = None,
    username: str | None = None,
    organisation_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if patient_id is not None:
        conditions.append(audit_log.c.patient_id == patient_id)
    if username is not None:
        conditions.append(audit_log.c.username == username)
    if organisation_id is not None:
        conditions.append(audit_log.c.organisation_id == organisation_id)
    if since is not None:
        conditions.append(audit_log.c.recorded >= _naive(since))
    if until is not None:
        conditions.append(audit_log.c.recorded < _naive(until))
    return conditions


def search_audit(
    database: Database,
    *,
    count: int = 50,
    after_seq: int | None = None,
    **criteria: Any,
) -> list[tuple[int, str]]:
    """(seq, content) of matching entries in chain order, `count` at a time: page on with the
    last seq as `after_seq`. Serve each with `stored_audit_event`. `criteria` are those of
    `count_audit`."""
    conditions = _audit_conditions(**criteria)
    if after_seq is not None:
        conditions.append(audit_log.c.seq > after_seq)
    query = select(audit_log.c.seq, audit_log.c.content).order_by(audit_log.c.seq).limit(count)
    if conditions:
        query = query.where(*conditions)
    with database.read() as conn:
        return [(int(seq), str(content)) for seq, content in conn.execute(query)]


def count_audit(
    database: Database,
    *,
    patient_id: str | None = None,
    username: str | None = None,
    organisation_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """How many entries match: how often a person's record was opened in a period, say, which
    a Caldicott guardian asks before reading the entries themselves."""
    conditions = _audit_conditions(
        patient_id=patient_id,
        username=username,
        organisation_id=organisation_id,
        since=since,
        until=until,
    )
    query = select(func.count()).select_from(audit_log)
    if conditions:
        query = query.where(*conditions)
    with database.read() as conn:
        return int(conn.execute(query).scalar_one())


def read_audit_event(database: Database, seq: int) -> dict[str, Any] | None:
    """The entry `seq` as a FHIR AuditEvent (with id and meta), or None."""
    with database.read() as conn:
        content = conn.execute(
            select(audit_log.c.content).where(audit_log.c.seq == seq)
        ).scalar_one_or_none()
    return None if content is None else stored_audit_event(seq, content)
