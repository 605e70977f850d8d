"""A worker keeps answering while one of its requests waits on the database.

Each worker runs one event loop, and anything that blocks the loop stalls every request the
worker holds. Finding the caller of an API request is a database round trip (the bearer token
is looked up), so it must happen in the thread pool. Here PostgreSQL holds the token table
locked, so an authenticated read waits inside its token lookup; the capability statement, which
needs no database, must still be answered meanwhile, and the read must finish once the lock is
released.

PostgreSQL only: SQLite (in WAL mode) never makes a reader wait for a writer, so there is no
way to hold a lookup open there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import Connection, text

from careweave.store.database import open_database
from tests.conftest import fresh_postgres_schema
from tests.e2e.conftest import issue_system_token

WAIT_SECONDS = 30.0
"""How long the read may take to reach its lock wait, and the metadata request to answer.

Both happen in well under a second; the margin is for a loaded CI machine."""


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (this module's tests need PostgreSQL's table locks)."""
    with fresh_postgres_schema() as url:
        yield url


def _lookups_waiting(conn: Connection) -> int:
    """How many queries on the token table are waiting for a lock now."""
    waiting = conn.execute(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND state = 'active' AND query ILIKE '%api_token%'"
        )
    ).scalar_one()
    return int(waiting)


def test_a_request_waiting_on_its_token_lookup_does_not_stall_the_worker(
    live_server: str, database_url: str
) -> None:
    token = issue_system_token(database_url)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    created = requests.post(
        f"{live_server}/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Waits"}]},
        headers={**headers, "Content-Type": "application/fhir+json"},
        timeout=WAIT_SECONDS,
    )
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]

    database = open_database(database_url)
    outcome: dict[str, requests.Response | BaseException] = {}

    def read_the_patient() -> None:
        try:
            outcome["read"] = requests.get(
                f"{live_server}/Patient/{patient_id}", headers=headers, timeout=4 * WAIT_SECONDS
            )
        except BaseException as exc:  # reported by the assertions below
            outcome["read"] = exc

    reader = threading.Thread(target=read_the_patient, daemon=True)
    try:
        with database.writer.connect() as locker, database.writer.connect() as watcher:
            locker.begin()
            locker.execute(text("LOCK TABLE api_token IN ACCESS EXCLUSIVE MODE"))
            reader.start()
            deadline = time.monotonic() + WAIT_SECONDS
            while _lookups_waiting(watcher) == 0:
                assert time.monotonic() < deadline, "the read never reached its token lookup"
                watcher.rollback()
                time.sleep(0.05)

            answered = requests.get(f"{live_server}/metadata", timeout=WAIT_SECONDS)

            assert answered.status_code == 200
            assert answered.json()["resourceType"] == "CapabilityStatement"
            assert reader.is_alive(), "the read should still be waiting for the token table"
            locker.rollback()
        reader.join(timeout=4 * WAIT_SECONDS)
    finally:
        database.dispose()

    read = outcome.get("read")
    assert isinstance(read, requests.Response), f"the read failed: {read!r}"
    assert read.status_code == 200, read.text
    assert read.json()["name"][0]["family"] == "Waits"
