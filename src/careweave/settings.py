"""One settings object, read from the environment, so every transport configures the same way."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_WORKER_INTERVAL = 15.0
DEFAULT_OVERDUE_SWEEP_INTERVAL = 900.0
_TRUE = frozenset({"1", "true", "yes", "on"})


def default_database_url() -> str:
    """An SQLite file under the user's data directory: the embedded default needs no server."""
    data_dir = Path(platformdirs.user_data_dir("careweave", appauthor=False))
    return f"sqlite:///{data_dir / 'careweave.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    """What a careweave process needs to know about where it runs.

    `CAREWEAVE_DATABASE_URL` picks the database (SQLAlchemy URL); `CAREWEAVE_MAX_BODY_BYTES` caps a
    request body so one oversized upload cannot exhaust the server's memory.

    `CAREWEAVE_WORKER=1` runs the background worker inside the server: it sends queued FHIR
    Subscription notifications every `CAREWEAVE_WORKER_INTERVAL` seconds (default 15) and
    looks for newly overdue tasks every `CAREWEAVE_OVERDUE_SWEEP_INTERVAL` seconds (default
    900). It is off unless asked for, so a server can leave the sending to a separate
    `careweave subscriptions deliver` process, and tests start no threads.
    """

    database_url: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    default_page_size: int = 50
    max_page_size: int = 1000
    worker: bool = False
    worker_interval: float = DEFAULT_WORKER_INTERVAL
    overdue_sweep_interval: float = DEFAULT_OVERDUE_SWEEP_INTERVAL

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        return cls(
            database_url=database_url
            or os.environ.get("CAREWEAVE_DATABASE_URL")
            or default_database_url(),
            max_body_bytes=int(
                os.environ.get("CAREWEAVE_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))
            ),
            worker=os.environ.get("CAREWEAVE_WORKER", "").strip().lower() in _TRUE,
            worker_interval=_positive("CAREWEAVE_WORKER_INTERVAL", DEFAULT_WORKER_INTERVAL),
            overdue_sweep_interval=_positive(
                "CAREWEAVE_OVERDUE_SWEEP_INTERVAL", DEFAULT_OVERDUE_SWEEP_INTERVAL
            ),
        )


def _positive(name: str, default: float) -> float:
    """A number of seconds from the environment; a value that is not a positive number is a
    mistake to say at start-up, not a worker that spins or never runs."""
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be more than 0 seconds, not {text!r}")
    return value
