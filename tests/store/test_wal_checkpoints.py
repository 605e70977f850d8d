"""A server checkpoints SQLite's write-ahead log from a thread of its own, so that no request
pays for copying the log back into the database file; on PostgreSQL there is nothing to do."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from careweave.store.database import Database, open_database
from careweave.store.wal_checkpoints import WalCheckpointer

ROWS = 3000
"""Rows of 4 kB: some 3,000 pages, three times what one automatic checkpoint waits for."""


def automatic_checkpoint_pages(database: Database) -> int:
    with database.write() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def write_rows(database: Database, first: int, rows: int = ROWS) -> None:
    with database.write() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (n INTEGER PRIMARY KEY, t TEXT)"))
    for start in range(first, first + rows, 100):  # many commits, as many requests would make
        with database.write() as conn:
            conn.execute(
                text("INSERT INTO filler VALUES (:n, :t)"),
                [{"n": n, "t": "x" * 4000} for n in range(start, start + 100)],
            )


def log_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_log_is_checkpointed_by_the_thread_and_not_by_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "careweave.sqlite3"
    database = open_database(f"sqlite:///{path}")
    assert automatic_checkpoint_pages(database) == 1000  # SQLite's default
    checkpoints = WalCheckpointer(database, interval=0.05)
    checkpoints.start()
    try:
        assert automatic_checkpoint_pages(database) == 0  # the writer no longer checkpoints
        write_rows(database, 0)
        deadline = time.monotonic() + 30
        while checkpoints.figures.pages_copied < ROWS and time.monotonic() < deadline:
            time.sleep(0.05)
        # The thread copied the whole log back (the writer could not: it was told not to).
        assert checkpoints.figures.pages_copied >= ROWS
        assert checkpoints.figures.pages_copied == checkpoints.figures.pages_in_log
        assert checkpoints.figures.failures == 0
    finally:
        checkpoints.stop()
    assert not checkpoints.running
    assert automatic_checkpoint_pages(database) == 1000  # given back on stop
    with database.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM filler")).scalar_one() == ROWS
    database.dispose()


def test_without_the_thread_the_writer_checkpoints_as_usual(tmp_path: Path) -> None:
    """The comparison that shows what the thread takes over: the writer's own commits
    checkpoint, so the log is reused from its start and stays near 1,000 pages."""
    path = tmp_path / "careweave.sqlite3"
    database = open_database(f"sqlite:///{path}")
    write_rows(database, 0)
    assert log_bytes(path) < 1500 * 4096
    database.dispose()

    other = tmp_path / "other.sqlite3"
    database = open_database(f"sqlite:///{other}")
    checkpoints = WalCheckpointer(database, interval=3600)  # started, but never gets a round
    checkpoints.start()
    try:
        write_rows(database, 0)
        assert log_bytes(other) > ROWS * 4096  # nobody checkpointed: the whole load is in it
    finally:
        checkpoints.stop()
    database.dispose()


def test_postgresql_needs_no_checkpointer(database: Database) -> None:
    checkpoints = WalCheckpointer(database)
    checkpoints.start()
    assert checkpoints.running is (database.dialect == "sqlite")
    checkpoints.stop()
    assert not checkpoints.running
