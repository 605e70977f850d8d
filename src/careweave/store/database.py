"""Engines for the two supported databases, each tuned the way it is safest to use.

SQLite (the embedded default) allows one writer at a time: writes go through one engine whose
transactions start with BEGIN IMMEDIATE behind a process-wide lock, so writers queue instead of
failing with "database is locked", while reads use WAL snapshots on their own connections.
PostgreSQL uses ordinary transactions on one pooled engine for both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


@dataclass
class Database:
    """A reader engine and a writer engine over the same database."""

    url: str
    reader: Engine
    writer: Engine
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @property
    def local(self) -> bool:
        """True for an embedded database (SQLite), where a point read never waits on a
        network round trip and so may run on the event loop."""
        return self.dialect == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: commits when the block ends, rolls back if it raises."""
        if self.dialect == "sqlite":
            with self._write_lock, self.writer.begin() as conn:
                yield conn
        else:
            with self.writer.begin() as conn:
                yield conn

    def dispose(self) -> None:
        self.reader.dispose()
        self.writer.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _begin_*)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _cache_pages(kibibytes: int) -> Callable[[Any, Any], None]:
    def set_cache(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA cache_size=-{kibibytes}")

    return set_cache


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


READER_POOL = (20, 4)
WRITER_POOL = (12, 4)
"""PostgreSQL connections each worker process keeps (pool size) and may add at a peak
(overflow): at most 40 per worker, so two workers stay under PostgreSQL's default
max_connections of 100. A connection opened beyond the pool size is closed when it is given
back, so a pool smaller than the requests a worker serves at once is a stream of new
connections: with pools of 10, sixteen requests in flight opened about 30 PostgreSQL sessions
a second, each a new server process, its settings and its prepared statements made again, and
PostgreSQL's CPU per read nearly doubled. The thread pool runs up to 40 requests at once, but
beyond about 20 database calls in flight the two cores are saturated anyway. Each pool names
its sessions (`application_name` careweave-reader or careweave-writer), so pg_stat_activity
shows which one a connection belongs to."""


def open_database(url: str) -> Database:
    """Open (not create) the database at `url`; migrations create its tables."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        if not sa_url.database or sa_url.database == ":memory:":
            raise ValueError(
                "careweave needs an SQLite file (readers and the writer share it), "
                "not an in-memory database: use sqlite:///path/to/careweave.sqlite3"
            )
        Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False}
        writer = create_engine(sa_url, connect_args=connect_args, pool_size=1, max_overflow=0)
        reader = create_engine(
            sa_url, connect_args=connect_args, pool_size=8, max_overflow=8, pool_use_lifo=True
        )
        for engine, begin in ((writer, _begin_immediate), (reader, _begin_deferred)):
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", begin)
        # Page cache per connection: generous for the one writer (index pages of bulk loads),
        # modest for the up to 16 readers, whose caches would otherwise add up to gigabytes.
        event.listen(writer, "connect", _cache_pages(65536))
        event.listen(reader, "connect", _cache_pages(8192))
        return Database(url=url, reader=reader, writer=writer)
    writer = create_engine(
        sa_url,
        pool_size=WRITER_POOL[0],
        max_overflow=WRITER_POOL[1],
        pool_pre_ping=True,
        connect_args={"application_name": "careweave-writer"},
    )
    # Reads need no transaction of their own: in autocommit, without a pre-ping, a point read
    # is one round trip instead of four (ping, BEGIN, SELECT, ROLLBACK). A dropped connection
    # still fails that one request and is replaced by the pool.
    #
    # The pool hands out the connection used last (LIFO): on PostgreSQL each connection keeps
    # its own prepared statements, so a few busy connections stay prepared instead of every
    # pooled one planning each search afresh (10-15 ms) in turn; on SQLite its page cache
    # stays warm. A statement is prepared the second time a connection runs it.
    reader = create_engine(
        sa_url,
        pool_size=READER_POOL[0],
        max_overflow=READER_POOL[1],
        isolation_level="AUTOCOMMIT",
        pool_use_lifo=True,
        connect_args={"prepare_threshold": 1, "application_name": "careweave-reader"},
    )
    for engine in (writer, reader):
        event.listen(engine, "connect", _postgres_settings)
    return Database(url=url, reader=reader, writer=writer)


def _postgres_settings(dbapi_connection: Any, _record: Any) -> None:
    """No JIT: the access conditions make searches look costly to the planner, which then
    spent 1.2 s compiling a 5 ms count to machine code (JIT pays off for long analytical
    queries, not for a FHIR server's many short ones).

    Generic plans for prepared statements (psycopg prepares a statement the second time a
    reader connection runs it, the sixth time on the writer): planning a search under the
    access rules takes 10-15 ms and running it 1-5 ms, and PostgreSQL's own choice ("auto")
    kept re-planning them because it judged the generic plan dearer than it is. The searches
    are index look-ups whose best plan does not turn on the values (lists come as one array,
    see store.value_lists), so one plan serves."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute("SET plan_cache_mode = force_generic_plan")
    dbapi_connection.autocommit = autocommit


class PointQuery:
    """A fixed SELECT, compiled once per dialect, run on a raw DBAPI connection.

    Point reads (read, vread) are the hottest path of a FHIR server. Through a SQLAlchemy
    Connection each one also pays for connection events, BEGIN/ROLLBACK statements and result
    wrapping, about ten times the cost of the indexed lookup itself; a single SELECT needs no
    explicit transaction to see a consistent row. Values come back as the driver gives them
    (SQLite: text timestamps and 0/1 booleans), so callers convert with `as_datetime`/`bool`.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def fetch_one(self, database: Database, **params: object) -> tuple[Any, ...] | None:
        dialect = database.reader.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            sql = self.statement.compile(dialect=dialect)
            compiled = (str(sql), tuple(sql.positiontup) if sql.positiontup else None)
            self._compiled[dialect.name] = compiled
        text, positions = compiled
        raw = database.reader.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(text, tuple(params[p] for p in positions) if positions else params)
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            raw.close()
        return None if row is None else tuple(row)


def as_datetime(value: Any) -> datetime:
    """A timestamp column's value from either driver as a naive-UTC datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def as_utc(value: Any) -> datetime:
    """A timestamp column's value as an aware UTC datetime (what code outside the store uses)."""
    return as_datetime(value).replace(tzinfo=UTC)


def stored_time(moment: datetime) -> datetime:
    """An aware datetime in the naive-UTC form the tables hold."""
    return moment.astimezone(UTC).replace(tzinfo=None)
