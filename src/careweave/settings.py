"""One settings object, read from the environment, so every transport configures the same way."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


def default_database_url() -> str:
    """An SQLite file under the user's data directory: the embedded default needs no server."""
    data_dir = Path(platformdirs.user_data_dir("careweave", appauthor=False))
    return f"sqlite:///{data_dir / 'careweave.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    """What a careweave process needs to know about where it runs.

    `CAREWEAVE_DATABASE_URL` picks the database (SQLAlchemy URL); `CAREWEAVE_MAX_BODY_BYTES` caps a
    request body so one oversized upload cannot exhaust the server's memory.
    """

    database_url: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    default_page_size: int = 50
    max_page_size: int = 1000

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        return cls(
            database_url=database_url
            or os.environ.get("CAREWEAVE_DATABASE_URL")
            or default_database_url(),
            max_body_bytes=int(
                os.environ.get("CAREWEAVE_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))
            ),
        )
