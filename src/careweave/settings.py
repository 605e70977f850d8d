"""One settings object, read from the environment, so every transport configures the same way."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_WORKER_INTERVAL = 15.0
DEFAULT_OVERDUE_SWEEP_INTERVAL = 900.0
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
SELF_REFERRAL_SETTING = "CAREWEAVE_SOCIAL_PRESCRIBING_SELF_REFERRAL"
SELF_REFERRAL_SERVICE_SETTING = "CAREWEAVE_SOCIAL_PRESCRIBING_SERVICE"


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

    `CAREWEAVE_POPULATION_PROJECTION` is the population projection's file (a DuckDB file that
    `careweave population refresh` keeps); without it, the projection sits beside an SQLite
    store, and a PostgreSQL store has none (careweave.population.projection.projection_path).

    `CAREWEAVE_SOCIAL_PRESCRIBING_SELF_REFERRAL=1` says the place takes self-referrals to
    social prescribing, and `CAREWEAVE_SOCIAL_PRESCRIBING_SERVICE` names the Organization id
    of the service people refer themselves to. Off by default: a place switches it on once its
    service has agreed to triage referrals no professional has screened, and says which
    service that is (docs/social-prescribing.md).
    """

    database_url: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    default_page_size: int = 50
    max_page_size: int = 1000
    worker: bool = False
    worker_interval: float = DEFAULT_WORKER_INTERVAL
    overdue_sweep_interval: float = DEFAULT_OVERDUE_SWEEP_INTERVAL
    population_projection: Path | None = None
    social_prescribing_self_referral: bool = False
    social_prescribing_service: str | None = None

    @property
    def self_referral_service(self) -> str | None:
        """The Organization id people may refer themselves to, when the place takes
        self-referrals and has named the service; None otherwise."""
        if not self.social_prescribing_self_referral:
            return None
        return self.social_prescribing_service or None

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
            population_projection=Path(projection)
            if (projection := os.environ.get("CAREWEAVE_POPULATION_PROJECTION", "").strip())
            else None,
            social_prescribing_self_referral=read_switch(SELF_REFERRAL_SETTING),
            social_prescribing_service=(
                os.environ.get(SELF_REFERRAL_SERVICE_SETTING, "").strip() or None
            ),
        )


def read_switch(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """An on/off setting: 1/true/yes/on or 0/false/no/off (unset: off). Anything else is a
    mistake to say at start-up rather than guess at."""
    values = os.environ if environ is None else environ
    text = values.get(name, "").strip().lower()
    if text and text not in _TRUE | _FALSE:
        raise ValueError(f"{name} must be on or off (1 or 0), not {text!r}")
    return text in _TRUE


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
