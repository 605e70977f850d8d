"""The access matrix, asserted against the running server over HTTP on SQLite and PostgreSQL.

For every account, relationship and category of a person's record (tests/access/matrix.py),
the real `careweave serve` is asked to read, search, count, include, show the history of and
write the record, with the account's own bearer token. Every answer is compared with what the
hand-written specification says; all disagreements are collected and reported together, so one
run shows the whole picture. The audit trail is then checked: every refusal the matrix caused
is in it, under the right user, and every person whose record someone reached can see who.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from careweave.access import break_glass
from careweave.access.accounts import add_user, get_user, principal_for_user
from careweave.access.audit import who_accessed
from careweave.access.scopes import Scopes
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.access.tokens import issue_token
from careweave.fhir.errors import Forbidden
from careweave.store.access_tables import audit_log
from careweave.store.database import Database, open_database
from careweave.store.repository import FhirStore
from tests.access import matrix
from tests.e2e import conftest as e2e

live_server = e2e.live_server
"""The real server on a fresh, migrated database (once for SQLite, once for PostgreSQL)."""

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "access-model.md"
START, END = "<!-- matrix:start -->", "<!-- matrix:end -->"
WORKERS = 3
"""Rows asked at once: the server and this client then work at the same time, instead of
taking turns (the answers do not depend on the order: each row has its own person)."""
BREAK_GLASS_REASON = "Found collapsed at home; needs treatment now and cannot tell us"


def test_the_document_holds_the_matrix_as_specified() -> None:
    text = DOCUMENT.read_text(encoding="utf-8")
    assert text.count(START) == 1, f"{DOCUMENT.name} needs one {START} marker"
    assert text.count(END) == 1, f"{DOCUMENT.name} needs one {END} marker"
    held = text.split(START, 1)[1].split(END, 1)[0]
    assert held == "\n" + matrix.render(), (
        f"{DOCUMENT.name} is out of date: put the output of `python -m tests.access.matrix` "
        "between its matrix markers"
    )


# -- Building the scenario ---------------------------------------------------------------------


def load_scenario(store: FhirStore) -> tuple[dict[str, str], set[str]]:
    """The place, its people, the agreement and the accounts; returns each account's bearer
    token and the accounts whose break-glass request was refused."""
    database = store.database
    with store.transaction() as tx:
        for body in matrix.directory():
            tx.update(body["resourceType"], body["id"], body)
        for account, relationship in matrix.rows():
            for body in matrix.person_records(account, relationship):
                tx.update(body["resourceType"], body["id"], body)
    save_agreement(
        database, "access-matrix", {**DEFAULT_TERMS, "parties": matrix.agreement_parties()}
    )
    tokens: dict[str, str] = {}
    for account, spec in matrix.EXPECTED.items():
        name = matrix.username(account)
        own = matrix.patient_id(account, "self")
        person = spec.role in ("patient", "carer")
        add_user(
            database,
            name,
            f"Matrix {account}",
            spec.role,
            patient_id=own if spec.role == "patient" else None,
            related_person_id=f"{own}-carer" if spec.role == "carer" else None,
            practitioner_role_id=None if person else matrix.practitioner_role_id(account),
            store=store,
        )
        context = "patient" if person else "user"
        tokens[account] = issue_token(
            database,
            Scopes.parse(f"{context}/*.cruds"),
            username=name,
            client_name="access-matrix",
        ).token
    refused: set[str] = set()
    for account in matrix.EXPECTED:
        if "break-glass" not in matrix.relationships_of(account):
            continue
        user = get_user(database, matrix.username(account))
        assert user is not None
        try:
            break_glass.start(
                database,
                store,
                principal_for_user(user),
                matrix.patient_id(account, "break-glass"),
                "emergency-treatment",
                BREAK_GLASS_REASON,
            )
        except Forbidden:
            refused.add(account)
    return tokens, refused


# -- Asking the server -------------------------------------------------------------------------


class Api:
    """The server as the accounts' clients see it: one requests.Session per worker thread (a
    session is not shared between threads), and a count of every request made."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.requests_made = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        with self._lock:
            self.requests_made += 1
        return session

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    def get(
        self, token: str, path: str, params: list[tuple[str, str]] | None = None
    ) -> requests.Response:
        return self._session().get(
            f"{self.base}/{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    def post(self, token: str, path: str, body: dict[str, Any]) -> requests.Response:
        return self._session().post(
            f"{self.base}/{path}",
            json=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/fhir+json",
                "Prefer": "return=minimal",
            },
            timeout=60,
        )


@dataclass
class Row:
    """What the server did for one row: the operations it allowed per column, what it counted
    per resource type, anything odd it answered, and the refusals it should have audited."""

    account: str
    relationship: str
    allowed: dict[str, set[str]] = field(default_factory=dict)
    counted: dict[str, int | None] = field(default_factory=dict)
    writes_asked: set[str] = field(default_factory=set)
    odd: list[str] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)

    def saw(self, column: str, operation: str) -> None:
        self.allowed.setdefault(column, set()).add(operation)

    def strange(self, where: str, what: str) -> None:
        self.odd.append(f"{self.account} / {self.relationship} / {where}: {what}")


def _entries(bundle: dict[str, Any], mode: str) -> set[tuple[str, str]]:
    return {
        (entry["resource"]["resourceType"], entry["resource"]["id"])
        for entry in bundle.get("entry", [])
        if entry.get("search", {}).get("mode") == mode
    }


def columns_by_type() -> dict[str, list[str]]:
    """Columns by the resource type holding them (two columns share Condition, and so on)."""
    by_type: dict[str, list[str]] = {}
    for column, record in matrix.COLUMNS.items():
        by_type.setdefault(record.resource_type, []).append(column)
    return by_type


def writes_to_ask(account: str, relationship: str) -> list[str]:
    """The columns to write in one row. A Communication (the coordination column) is written in
    every row, and so is each column whose type the account's role may write: those answers
    depend on the person. A type the role may not write is refused before the person is looked
    at, so it is asked once per account, in the row where the account reaches the person most
    (registered with their organisation; for a person or carer, their own record)."""
    widest = "self" if "self" in matrix.relationships_of(account) else "registered"
    writes = matrix.EXPECTED[account].writes
    return [
        column
        for column, record in matrix.COLUMNS.items()
        if column == "coordination" or record.write_type in writes or relationship == widest
    ]


def observe(api: Api, token: str, account: str, relationship: str) -> Row:
    """Ask the server everything the matrix says about one row; writes come last, so that
    what they add cannot change the answers to the reads."""
    row = Row(account, relationship)
    pid = matrix.patient_id(account, relationship)
    columns = matrix.COLUMNS
    ids = {column: matrix.record_id(account, relationship, column) for column in columns}

    for column, record in columns.items():
        rid = ids[column]
        answer = api.get(token, f"{record.resource_type}/{rid}")
        if answer.status_code == 200 and answer.json().get("id") == rid:
            row.saw(column, "read")
        elif answer.status_code == 404:
            row.refusals["read"] += 1
        else:
            row.strange(column, f"read answered {answer.status_code} {answer.text[:200]}")

        answer = api.get(token, f"{record.resource_type}/{rid}/_history")
        if answer.status_code == 200:
            versions = {
                (e.get("fullUrl", "").rsplit("/", 1)[-1], e.get("response", {}).get("etag"))
                for e in answer.json().get("entry", [])
            }
            if (rid, 'W/"1"') in versions:
                row.saw(column, "history")
            else:
                row.strange(column, f"history answered 200 without version 1: {versions}")
        elif answer.status_code == 404:
            row.refusals["history"] += 1
        else:
            row.strange(column, f"history answered {answer.status_code} {answer.text[:200]}")

    for resource_type, held in columns_by_type().items():
        param = columns[held[0]].patient_param
        answer = api.get(token, resource_type, [(param, pid), ("_count", "50")])
        if answer.status_code == 200:
            matches = {rid for _, rid in _entries(answer.json(), "match")}
            for column in held:
                if ids[column] in matches:
                    row.saw(column, "search")
        else:
            row.strange(resource_type, f"search answered {answer.status_code} {answer.text[:200]}")
        answer = api.get(token, resource_type, [(param, pid), ("_summary", "count")])
        row.counted[resource_type] = answer.json().get("total") if answer.ok else None

    revincludes = [
        ("_revinclude", f"{resource_type}:{columns[held[0]].patient_param}")
        for resource_type, held in columns_by_type().items()
        if resource_type != "Patient"
    ]
    answer = api.get(token, "Patient", [("_id", pid), *revincludes])
    if answer.status_code == 200:
        bundle = answer.json()
        matched, included = _entries(bundle, "match"), _entries(bundle, "include")
        for column, record in columns.items():
            found = matched if record.resource_type == "Patient" else included
            if (record.resource_type, ids[column]) in found:
                row.saw(column, "include")
    else:
        row.strange("include", f"answered {answer.status_code} {answer.text[:200]}")

    for column in writes_to_ask(account, relationship):
        row.writes_asked.add(column)
        record = columns[column]
        answer = api.post(token, record.write_type, matrix.write_body(column, pid))
        if answer.status_code == 201:
            row.saw(column, "write")
        elif answer.status_code == 403:
            row.refusals["create"] += 1
        else:
            row.strange(column, f"write answered {answer.status_code} {answer.text[:200]}")
    return row


def compare(row: Row) -> list[str]:
    """Where the server's answers differ from the specification, one line each."""
    problems = list(row.odd)
    expected = {
        column: matrix.expected_operations(row.account, row.relationship, column)
        for column in matrix.COLUMNS
    }
    for column, wanted in expected.items():
        got = row.allowed.get(column, set())
        for operation in matrix.OPERATIONS:
            if operation == "write" and column not in row.writes_asked:
                continue
            if (operation in wanted) != (operation in got):
                should = "allowed" if operation in wanted else "refused"
                problems.append(
                    f"{row.account} / {row.relationship} / {column}: {operation} should be "
                    f"{should}, the server {'refused' if operation in wanted else 'allowed'} it"
                )
    for resource_type, held in columns_by_type().items():
        count = sum(1 for column in held if "search" in expected[column])
        if row.counted.get(resource_type) != count:
            problems.append(
                f"{row.account} / {row.relationship} / {resource_type}: _summary=count should "
                f"be {count}, the server said {row.counted.get(resource_type)}"
            )
    return problems


# -- The audit trail ---------------------------------------------------------------------------


def audit_problems(database: Database, observed: list[Row]) -> list[str]:
    """Every refusal the matrix caused is in the trail under its user; every person whose
    record an account reached shows that account in "who looked at my record", and no one
    else's successful access."""
    problems: list[str] = []
    with database.read() as conn:
        refused = conn.execute(
            select(audit_log.c.username, audit_log.c.event, func.count())
            .where(audit_log.c.outcome == "4")
            .group_by(audit_log.c.username, audit_log.c.event)
        ).all()
    in_trail = Counter({(user, event): int(n) for user, event, n in refused})
    made: Counter[tuple[str, str]] = Counter()
    for row in observed:
        for event, n in row.refusals.items():
            made[(matrix.username(row.account), event)] += n
    if sum(in_trail.values()) == 0:
        problems.append("audit: no refusal (outcome 4) was recorded at all")
    for user, event in sorted(set(in_trail) | set(made)):
        if in_trail[(user, event)] != made[(user, event)]:
            problems.append(
                f"audit: {user} was refused {made[(user, event)]} {event}(s), the trail "
                f"records {in_trail[(user, event)]}"
            )
    for row in observed:
        pid = matrix.patient_id(row.account, row.relationship)
        name = matrix.username(row.account)
        reached = any(
            matrix.expected_operations(row.account, row.relationship, column)
            for column in matrix.COLUMNS
        )
        successes = {
            e.username or "?" for e in who_accessed(database, pid, limit=1000) if not e.refused
        }
        if reached and name not in successes:
            problems.append(f"audit: {pid} cannot see that {name} reached their record")
        if successes - {name}:
            problems.append(f"audit: {pid} shows accesses by {sorted(successes - {name})}")
        if not reached and name in successes:
            problems.append(f"audit: {name} touched {pid}, a record it should not reach")
    return problems


# -- The test ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_server_answers_every_cell_of_the_matrix_as_specified(
    live_server: str, database_url: str
) -> None:
    started = time.monotonic()
    database = open_database(database_url)
    try:
        store = FhirStore(database)
        tokens, glass_refused = load_scenario(store)
        built = time.monotonic()
        problems = [
            f"break-glass: {account} ({matrix.EXPECTED[account].role}) was "
            + ("refused the glass" if account in glass_refused else "let break the glass")
            for account in matrix.EXPECTED
            if "break-glass" in matrix.relationships_of(account)
            and (account in glass_refused)
            == (matrix.EXPECTED[account].role in matrix.MAY_BREAK_GLASS)
        ]

        api = Api(live_server)
        try:
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                observed = list(
                    pool.map(lambda row: observe(api, tokens[row[0]], *row), matrix.rows())
                )
        finally:
            api.close()
        for row in observed:
            problems += compare(row)
        asked = time.monotonic()
        problems += audit_problems(database, observed)
    finally:
        database.dispose()
    print(
        f"\naccess matrix on {database_url.split(':', 1)[0]}: {matrix.cell_count()} cells, "
        f"{api.requests_made} HTTP requests; scenario {built - started:.1f} s, "
        f"requests {asked - built:.1f} s ({api.requests_made / (asked - built):.0f}/s)"
    )
    assert not problems, f"{len(problems)} disagreement(s) with the matrix:\n" + "\n".join(problems)
