"""Fixtures that give every storage test a fresh database on SQLite AND on PostgreSQL.

PostgreSQL comes from CAREWEAVE_TEST_POSTGRES_URL (default: the local server, database `test`).
Each test gets its own schema there, dropped afterwards. Where no server is reachable the
PostgreSQL half is skipped with the reason, except under CI, where it must be reachable.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings
from sqlalchemy import create_engine, text

from careweave.access.scopes import Scopes
from careweave.access.tokens import issue_token
from careweave.api.app import create_app
from careweave.settings import Settings
from careweave.store.database import Database, open_database
from careweave.store.postgres_schemas import postgres_schema
from careweave.store.repository import FhirStore
from careweave.store.schema import metadata
from careweave.uk_time import today as uk_today

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    # CI replays the same generated examples every run; local runs keep exploring new ones.
    settings.load_profile("ci")

POSTGRES_URL = os.environ.get(
    "CAREWEAVE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_postgres_problem: list[str] = []


def _postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per test session)."""
    if not _postgres_problem:
        try:
            engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            _postgres_problem.append("")
        except Exception as exc:
            _postgres_problem.append(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}")
    return _postgres_problem[0] or None


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """The URL of a new schema of its own in the test PostgreSQL, dropped afterwards; the test
    is skipped with the reason where no server is reachable, and fails under CI."""
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI must test PostgreSQL)")
        pytest.skip(problem)
    with postgres_schema(POSTGRES_URL, f"t_{uuid.uuid4().hex[:12]}") as (url, _):
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'careweave.sqlite3'}"
        return
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url)
    metadata.create_all(db.writer)
    yield db
    db.dispose()


@pytest.fixture
def store(database: Database) -> FhirStore:
    return FhirStore(database)


def system_token(database: Database, scope: str = "system/*.cruds") -> str:
    """A platform-wide integration's bearer token: the API's tests of FHIR behaviour use it,
    and the access tests (tests/access, tests/api/test_access.py) use people's tokens."""
    return issue_token(database, Scopes.parse(scope), client_name="tests").token


@pytest.fixture
def client(store: FhirStore, database_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, max_body_bytes=256 * 1024), store)
    headers = {"Authorization": f"Bearer {system_token(store.database)}"}
    with TestClient(app, base_url="http://testserver", headers=headers) as test_client:
        yield test_client


@pytest.fixture
def server_on_uk_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone set to Europe/London (TZ and time.tzset), as on a server run
    in England; the zone it had is restored afterwards. CI and these machines run on UTC,
    where a naive datetime taken as local time happens to be right."""
    monkeypatch.setenv("TZ", "Europe/London")
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.fixture
def server_a_day_from_the_uk(monkeypatch: pytest.MonkeyPatch) -> Iterator[date]:
    """The process's local zone set (TZ and time.tzset) to one where the date is not the UK
    date right now, so that code reading the server's `date.today()` instead of the UK day
    gets it wrong whenever the test runs; yields that zone's date. UTC+14 is a day ahead of
    the UK from 10:00 or 11:00 UK time, UTC-12 a day behind until 12:00 or 13:00, so one of
    the two always is. The zone it had is restored afterwards."""
    uk_day = uk_today()
    for zone in ("Etc/GMT-14", "Etc/GMT+12"):  # POSIX signs: GMT-14 is UTC+14
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        if date.today() != uk_day:
            break
    try:
        yield date.today()
    finally:
        monkeypatch.undo()
        time.tzset()
