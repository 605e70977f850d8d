"""Sending queued Subscription notifications, reliably, and the worker that runs it.

Each row of `subscription_delivery` is one matching version to send to one Subscription's
rest-hook (R4 subscription.html, channel type rest-hook):

- `payload` empty: ``POST`` to `channel.endpoint` with no body (the receiver comes and reads);
- `payload` ``application/fhir+json``: the endpoint is the receiver's FHIR base, and the version
  is sent as an update, ``PUT [endpoint]/[type]/[id]`` with the resource as the body.

Every `channel.header` entry ("Authorization: Bearer ...") goes with the request. A 2xx answer
is delivered. Anything else (an error status, a refused connection, a timeout) is tried again
after 30 s, 2 min, 10 min, 1 h and then every 6 h (`RETRY_DELAYS`); after `MAX_ATTEMPTS` the
row is `failed`, and the Subscription is set to `error` with `error` saying why, so it matches
nothing more until someone fixes it and asks for it again (status `requested`). Redirects are
not followed and only http(s) endpoints are called.

**Two workers, one send.** A worker claims one due row at a time in a short transaction: on
PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED``, on SQLite under the one write lock. Claiming
counts the attempt and moves `next_attempt_at` past a lease (`LEASE`, longer than any request
may take), so no other worker sees the row while it is being sent; the outcome is then written
only if the row is still as claimed. A worker that dies mid-send leaves the row to be tried
again when the lease ends: a receiver may, rarely, get a notification twice, never lose one.

Time is passed in (`now`) rather than read inside, so tests can step through the retries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import orjson
from sqlalchemy import and_, false, func, select, update

from careweave import __version__
from careweave.fhir.errors import FhirError, Gone, InvalidResource, NotFound, VersionConflict
from careweave.store.database import Database
from careweave.store.notification_tables import subscription_delivery
from careweave.store.repository import FhirStore, utc_now
from careweave.store.tables import resource
from careweave.subscriptions.matching import (
    SUBSCRIPTION,
    check_channel,
    header_fields,
    payload_type,
)

logger = logging.getLogger("careweave.subscriptions")

RETRY_DELAYS: Final = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
"""How long to wait after the 1st, 2nd ... failure; the last is repeated (the cap)."""
MAX_ATTEMPTS: Final = 10
LEASE: Final = timedelta(minutes=5)
TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
MAX_ERROR_LENGTH: Final = 1000


def retry_delay(attempts: int) -> timedelta:
    """How long to wait before trying again after `attempts` failed attempts."""
    return RETRY_DELAYS[min(max(attempts, 1), len(RETRY_DELAYS)) - 1]


@dataclass(frozen=True)
class Claim:
    """A row a worker holds while it sends it; `attempts` counts this attempt."""

    pk: int
    subscription_id: str
    resource_type: str
    resource_id: str
    version_id: int
    attempts: int


@dataclass
class DeliveryReport:
    """What one run of `deliver_due` did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def sent(self) -> int:
        return self.delivered + self.retrying + self.failed


class DeliveryFailed(Exception):  # noqa: N818 - an outcome, recorded on the row
    """A send that did not succeed. `give_up` when trying again cannot help; `blame` when the
    Subscription itself must be set to error (its endpoint or channel is at fault)."""

    def __init__(self, message: str, *, give_up: bool = False, blame: bool = True) -> None:
        super().__init__(message)
        self.message = message[:MAX_ERROR_LENGTH]
        self.give_up = give_up
        self.blame = blame


def claim_next(database: Database, now: datetime) -> Claim | None:
    """Take the next due row for this worker (see the module docstring), or None."""
    d = subscription_delivery
    with database.write() as conn:
        query = (
            select(
                d.c.pk,
                d.c.subscription_id,
                d.c.resource_type,
                d.c.resource_id,
                d.c.version_id,
                d.c.attempts,
            )
            .where(d.c.status == "pending", d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at, d.c.pk)
            .limit(1)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = conn.execute(query).first()
        if row is None:
            return None
        attempts = int(row[5]) + 1
        conn.execute(
            update(d).where(d.c.pk == row[0]).values(attempts=attempts, next_attempt_at=now + LEASE)
        )
    return Claim(int(row[0]), row[1], row[2], row[3], int(row[4]), attempts)


def _subscription(store: FhirStore, subscription_id: str) -> dict[str, Any]:
    try:
        body = store.read(SUBSCRIPTION, subscription_id).as_dict()
    except (NotFound, Gone):
        raise DeliveryFailed(
            f"Subscription/{subscription_id} was deleted", give_up=True, blame=False
        ) from None
    if body.get("status") != "active":
        raise DeliveryFailed(
            f"Subscription/{subscription_id} is {body.get('status')}, so nothing is sent",
            give_up=True,
            blame=False,
        )
    return body


def request_for(store: FhirStore, claim: Claim) -> tuple[str, str, dict[str, str], bytes | None]:
    """(method, url, headers, body) of the rest-hook call for a claimed row."""
    body = _subscription(store, claim.subscription_id)
    channel = body.get("channel")
    try:
        check_channel(channel)
    except InvalidResource as exc:
        raise DeliveryFailed(exc.message, give_up=True) from None
    assert isinstance(channel, dict)  # check_channel said so
    endpoint = str(channel["endpoint"])
    headers = {"User-Agent": f"careweave/{__version__}"}
    headers.update(header_fields(channel.get("header")))
    payload = payload_type(channel.get("payload"))
    if payload is None:
        return "POST", endpoint, headers, None
    stored = store.vread(claim.resource_type, claim.resource_id, claim.version_id)
    if stored.content is None:
        raise DeliveryFailed("the version to send holds nothing", give_up=True, blame=False)
    headers["Content-Type"] = str(channel["payload"])
    url = f"{endpoint.rstrip('/')}/{claim.resource_type}/{claim.resource_id}"
    return "PUT", url, headers, stored.content.encode()


def send(store: FhirStore, client: httpx.Client, claim: Claim) -> None:
    """Make the rest-hook call for a claimed row; DeliveryFailed unless it answers 2xx."""
    try:
        method, url, headers, content = request_for(store, claim)
    except FhirError as exc:
        raise DeliveryFailed(exc.message, give_up=True, blame=False) from None
    try:
        response = client.request(method, url, headers=headers, content=content)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{method} {url} failed: {type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"{method} {url} answered HTTP {response.status_code}")


def _still_claimed(claim: Claim) -> Any:
    d = subscription_delivery
    return and_(d.c.pk == claim.pk, d.c.attempts == claim.attempts, d.c.status == "pending")


def record_delivered(database: Database, claim: Claim, now: datetime) -> None:
    with database.write() as conn:
        conn.execute(
            update(subscription_delivery)
            .where(_still_claimed(claim))
            .values(status="delivered", delivered_at=now, last_error=None)
        )


def record_failure(
    database: Database, claim: Claim, failure: DeliveryFailed, now: datetime
) -> bool:
    """Write a failed attempt: to be tried again, or given up. True when given up."""
    give_up = failure.give_up or claim.attempts >= MAX_ATTEMPTS
    values: dict[str, Any] = {"last_error": failure.message}
    if give_up:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = now + retry_delay(claim.attempts)
    with database.write() as conn:
        conn.execute(update(subscription_delivery).where(_still_claimed(claim)).values(**values))
    return give_up


def set_error(store: FhirStore, subscription_id: str, message: str) -> bool:
    """Set an active Subscription to `error` with `message` (R4: the last error); True when
    it was changed. Another change made meanwhile is read again, not overwritten."""
    for _ in range(3):
        try:
            with store.transaction() as tx:
                body = tx.read(SUBSCRIPTION, subscription_id).as_dict()
                if body.get("status") not in ("active", "requested"):
                    return False
                version = int(body["meta"]["versionId"])
                body["status"] = "error"
                body["error"] = message
                tx.update(SUBSCRIPTION, subscription_id, body, if_match=version)
            return True
        except VersionConflict:
            continue
        except (NotFound, Gone):
            return False
    return False


def deliver_due(
    store: FhirStore,
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Send up to `limit` due notifications, one claim at a time; safe beside other workers.

    `now` (naive UTC) is when this run happens; `client` an httpx client to send with (one
    with careweave's timeouts, not following redirects, when not given)."""
    moment = now or utc_now()
    report = DeliveryReport()
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
    try:
        for _ in range(limit):
            claim = claim_next(store.database, moment)
            if claim is None:
                break
            try:
                send(store, http, claim)
            except DeliveryFailed as failure:
                if record_failure(store.database, claim, failure, moment):
                    report.failed += 1
                    if failure.blame:
                        reason = (
                            f"Delivery of {claim.resource_type}/{claim.resource_id} failed "
                            f"after {claim.attempts} attempt(s): {failure.message}"
                        )
                        set_error(store, claim.subscription_id, reason[:MAX_ERROR_LENGTH])
                else:
                    report.retrying += 1
                logger.info("Subscription/%s: %s", claim.subscription_id, failure.message)
                continue
            record_delivered(store.database, claim, moment)
            report.delivered += 1
    finally:
        if own_client:
            http.close()
    return report


@dataclass(frozen=True)
class SubscriptionSummary:
    """A Subscription as `careweave subscriptions list` shows it, with its outbox counts."""

    id: str
    status: str
    criteria: str
    endpoint: str
    error: str | None
    counts: dict[str, int] = field(default_factory=dict)


def summaries(store: FhirStore) -> list[SubscriptionSummary]:
    """Every current Subscription, and how many of its deliveries are pending, delivered or
    failed (read as the platform: this is for the people who run it)."""
    d = subscription_delivery
    r = resource
    with store.database.read() as conn:
        rows = conn.execute(
            select(r.c.id, r.c.content)
            .where(r.c.resource_type == SUBSCRIPTION, r.c.deleted == false())
            .order_by(r.c.id)
        ).all()
        counted = conn.execute(
            select(d.c.subscription_id, d.c.status, func.count()).group_by(
                d.c.subscription_id, d.c.status
            )
        ).all()
    counts: dict[str, dict[str, int]] = {}
    for subscription_id, status, count in counted:
        counts.setdefault(subscription_id, {})[status] = int(count)
    found: list[SubscriptionSummary] = []
    for subscription_id, content in rows:
        body = orjson.loads(content)
        channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
        found.append(
            SubscriptionSummary(
                id=subscription_id,
                status=str(body.get("status", "")),
                criteria=str(body.get("criteria", "")),
                endpoint=str(channel.get("endpoint", "")),
                error=body.get("error") if isinstance(body.get("error"), str) else None,
                counts=counts.get(subscription_id, {}),
            )
        )
    return found


# -- the background worker ---------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """Work the background worker repeats every `every_seconds`."""

    name: str
    every_seconds: float
    run: Callable[[], object]


class BackgroundWorker:
    """Runs each job on its own period on one daemon thread, until `stop`.

    A job that raises is logged with its traceback and run again at its next turn: one bad
    delivery or sweep must not stop notifications for everyone else."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = tuple(jobs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="careweave-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the worker to stop and wait for the job it is running to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        due = dict.fromkeys((job.name for job in self.jobs), time.monotonic())
        while not self._stop.is_set():
            for job in self.jobs:
                if self._stop.is_set() or due[job.name] > time.monotonic():
                    continue
                try:
                    job.run()
                except Exception:
                    logger.exception("The background job '%s' failed", job.name)
                due[job.name] = time.monotonic() + job.every_seconds
            wait = min(due.values()) - time.monotonic() if due else 1.0
            self._stop.wait(max(wait, 0.05))
