"""Checkpointing an SQLite database's write-ahead log off the request path.

SQLite appends committed pages to its write-ahead log and, by default, the connection whose
commit takes the log past 1,000 pages copies them back into the database file there and then
(an automatic checkpoint). A caseload page's audit entries are a fifth of that, so one page
view in five paid for a checkpoint inside somebody's request: 20-40 ms on this machine's disk,
against 3-5 ms for the commit itself, and the slowest tenth of page views were mostly those.

A long-running server therefore turns automatic checkpoints off on its writer connection and
checkpoints from a thread of its own instead. PASSIVE checkpoints wait for no one: readers
and the writer go on while the log is copied back, and what a reader still needs is left for
the next round. Nothing is lost if the process stops without its final checkpoint: the log is
part of the database and the next connection to open it checkpoints as usual.

PostgreSQL checkpoints in its own background processes; there this does nothing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import make_url

from careweave.store.database import Database

logger = logging.getLogger("careweave.store")

INTERVAL_SECONDS: Final = 0.5
"""Between checkpoints: the log grows by at most what is committed in this time."""


def _no_automatic_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


@dataclass
class CheckpointFigures:
    """What the checkpointer has done, for monitoring and tests."""

    rounds: int = 0
    failures: int = 0
    pages_in_log: int = 0
    """Pages in the log at the last round (-1: the database is not in WAL mode)."""
    pages_copied: int = 0
    """Of those, copied back into the database file by the end of the last round."""


class WalCheckpointer:
    """Checkpoints `database`'s log every `interval` seconds while started (SQLite only)."""

    def __init__(self, database: Database, interval: float = INTERVAL_SECONDS) -> None:
        self.database = database
        self.interval = interval
        self.figures = CheckpointFigures()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self.database.dialect != "sqlite" or self._thread is not None:
            return
        writer = self.database.writer
        event.listen(writer, "connect", _no_automatic_checkpoints)
        writer.dispose()  # the next write opens a connection that no longer checkpoints
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="careweave-wal-checkpoints", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, checkpoint once more and give checkpoints back to the writer."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join()
        self._thread = None
        writer = self.database.writer
        event.remove(writer, "connect", _no_automatic_checkpoints)
        writer.dispose()
        self._checkpoint_with(self._connect())

    def _connect(self) -> sqlite3.Connection:
        path = make_url(self.database.url).database
        if not path:
            raise ValueError("an SQLite database without a file has no log to checkpoint")
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=1000")
        return connection

    def _run(self) -> None:
        connection = self._connect()
        try:
            while not self._stop.wait(self.interval):
                self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint_with(self, connection: sqlite3.Connection) -> None:
        try:
            self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:
            # Not fatal: the log only grows until the next round manages it.
            self.figures.failures += 1
            logger.warning("Could not checkpoint the SQLite write-ahead log: %s", error)
            return
        self.figures.rounds += 1
        if row is not None:
            self.figures.pages_in_log, self.figures.pages_copied = int(row[1]), int(row[2])
