"""Delivering Subscription notifications to a real HTTP receiver on a loopback port, on SQLite
and PostgreSQL: the request R4 describes, retries with backoff (time is passed in, never
waited for), giving up into `error`, and two workers that never send one notification twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from typer.testing import CliRunner

from careweave import cli
from careweave.api.app import create_app
from careweave.settings import Settings
from careweave.store.database import open_database
from careweave.store.notification_tables import subscription_delivery
from careweave.store.repository import FhirStore
from careweave.subscriptions import watch_subscriptions
from careweave.subscriptions.delivery import (
    LEASE,
    MAX_ATTEMPTS,
    claim_next,
    deliver_due,
    record_delivered,
    retry_delay,
)

V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
T0 = datetime(2026, 12, 1, 9, 0, 0)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny HTTP server standing in for another system's rest-hook endpoint. It answers
    with the statuses in `answers`, in turn, then with `otherwise`."""

    answers: list[int] = field(default_factory=list)
    otherwise: int = 200
    pause: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        with self._lock:
            self.received.append(
                Received(
                    method, request.path, {k.lower(): v for k, v in request.headers.items()}, body
                )
            )
            status = self.answers.pop(0) if self.answers else self.otherwise
        if self.pause is not None:
            self.pause.wait(0.05)  # long enough for another worker to try to take the same row
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()
        self.arrived.set()

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.answer(self, "POST")

        def do_PUT(self) -> None:
            state.answer(self, "PUT")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def watched(store: FhirStore) -> FhirStore:
    store.update("Patient", "p1", {"resourceType": "Patient", "id": "p1", "gender": "female"})
    watch_subscriptions(store)
    return store


def subscribe(store: FhirStore, endpoint: str, **channel: Any) -> str:
    body = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Admissions for the community team",
        "criteria": "Encounter?class=IMP",
        "channel": {"type": "rest-hook", "endpoint": endpoint, **channel},
    }
    return store.create(body).stored.id


def admit(store: FhirStore, encounter_id: str) -> None:
    store.update(
        "Encounter",
        encounter_id,
        {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "in-progress",
            "class": {"system": V3, "code": "IMP"},
            "subject": {"reference": "Patient/p1"},
        },
    )


def outbox(store: FhirStore) -> list[dict[str, Any]]:
    d = subscription_delivery
    with store.database.read() as conn:
        rows = conn.execute(select(d).order_by(d.c.pk)).mappings().all()
    return [dict(row) for row in rows]


def test_the_resource_is_put_to_the_endpoint_with_the_channel_headers(
    watched: FhirStore, receiver: Receiver
) -> None:
    subscribe(
        watched,
        f"{receiver.url}/fhir/",
        payload="application/fhir+json",
        header=["Authorization: Bearer synthetic-secret", "X-Care-Team: community"],
    )
    admit(watched, "e1")
    report = deliver_due(watched, now=T0)
    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)

    [request] = receiver.received
    assert (request.method, request.path) == ("PUT", "/fhir/Encounter/e1")
    assert request.headers["authorization"] == "Bearer synthetic-secret"
    assert request.headers["x-care-team"] == "community"
    assert request.headers["content-type"] == "application/fhir+json"
    assert orjson.loads(request.body) == watched.vread("Encounter", "e1", 1).as_dict()
    [row] = outbox(watched)
    assert (row["status"], row["attempts"], row["delivered_at"]) == ("delivered", 1, T0)
    assert deliver_due(watched, now=T0 + timedelta(hours=1)).sent == 0
    assert len(receiver.received) == 1


def test_an_empty_payload_is_a_post_with_no_body(watched: FhirStore, receiver: Receiver) -> None:
    subscribe(watched, f"{receiver.url}/hooks/admissions", header=["X-Token: abc"])
    admit(watched, "e1")
    assert deliver_due(watched, now=T0).delivered == 1
    [request] = receiver.received
    assert (request.method, request.path, request.body) == ("POST", "/hooks/admissions", b"")
    assert request.headers["x-token"] == "abc"


def test_a_failure_is_tried_again_after_a_backoff(watched: FhirStore, receiver: Receiver) -> None:
    receiver.answers = [500, 200]
    subscribe(watched, f"{receiver.url}/hook")
    admit(watched, "e1")

    assert deliver_due(watched, now=T0).retrying == 1
    [row] = outbox(watched)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["next_attempt_at"] == T0 + retry_delay(1) == T0 + timedelta(seconds=30)
    assert "HTTP 500" in row["last_error"]

    assert deliver_due(watched, now=T0 + timedelta(seconds=10)).sent == 0  # not due yet
    assert len(receiver.received) == 1

    assert deliver_due(watched, now=T0 + timedelta(seconds=31)).delivered == 1
    [row] = outbox(watched)
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 2, None)
    assert len(receiver.received) == 2


def test_the_backoff_grows_and_is_capped() -> None:
    delays = [retry_delay(n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays[:4] == [
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(hours=1),
    ]
    assert delays == sorted(delays)
    assert set(delays[4:]) == {timedelta(hours=6)}


def test_an_endpoint_that_keeps_failing_puts_the_subscription_in_error(
    watched: FhirStore, receiver: Receiver
) -> None:
    receiver.otherwise = 503
    subscription_id = subscribe(watched, f"{receiver.url}/hook")
    admit(watched, "e1")
    moment = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver_due(watched, now=moment)
        assert report.sent == 1
        moment += retry_delay(attempt) + timedelta(seconds=1)
    assert report.failed == 1
    [row] = outbox(watched)
    assert (row["status"], row["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert len(receiver.received) == MAX_ATTEMPTS

    subscription = watched.read("Subscription", subscription_id).as_dict()
    assert subscription["status"] == "error"
    assert "HTTP 503" in subscription["error"]
    assert f"after {MAX_ATTEMPTS} attempt" in subscription["error"]
    admit(watched, "e2")  # a Subscription in error matches nothing more
    assert len(outbox(watched)) == 1
    assert deliver_due(watched, now=moment + timedelta(days=1)).sent == 0


def test_an_endpoint_that_is_not_http_is_never_called(
    store: FhirStore, database_url: str, receiver: Receiver
) -> None:
    # Written without the checks (an older careweave, or a direct load), then delivered.
    store.update("Patient", "p1", {"resourceType": "Patient", "id": "p1", "gender": "female"})
    store.update(
        "Subscription",
        "bad",
        {
            "resourceType": "Subscription",
            "id": "bad",
            "status": "active",
            "reason": "Written before endpoints were checked",
            "criteria": "Encounter?class=IMP",
            "channel": {"type": "rest-hook", "endpoint": "file:///etc/passwd"},
        },
    )
    admit(store, "e1")
    with store.database.write() as conn:
        conn.execute(
            insert(subscription_delivery).values(
                subscription_id="bad",
                resource_type="Encounter",
                resource_id="e1",
                version_id=1,
                status="pending",
                attempts=0,
                next_attempt_at=T0,
                created=T0,
            )
        )
    assert deliver_due(store, now=T0).failed == 1
    [row] = outbox(store)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "http or https" in row["last_error"]
    assert store.read("Subscription", "bad").as_dict()["status"] == "error"
    assert receiver.received == []


def test_a_subscription_switched_off_sends_nothing_more(
    watched: FhirStore, receiver: Receiver
) -> None:
    subscription_id = subscribe(watched, f"{receiver.url}/hook")
    admit(watched, "e1")
    body = watched.read("Subscription", subscription_id).as_dict()
    watched.update("Subscription", subscription_id, {**body, "status": "off"})
    assert deliver_due(watched, now=T0).failed == 1
    [row] = outbox(watched)
    assert row["status"] == "failed" and "is off" in row["last_error"]
    assert watched.read("Subscription", subscription_id).as_dict()["status"] == "off"
    assert receiver.received == []


def test_a_claimed_row_is_leased_to_its_worker(watched: FhirStore, receiver: Receiver) -> None:
    subscribe(watched, f"{receiver.url}/hook")
    admit(watched, "e1")
    first = claim_next(watched.database, T0)
    assert first is not None and first.attempts == 1
    assert claim_next(watched.database, T0) is None  # another worker finds nothing to take
    # A worker that died mid-send: the row is taken again once the lease ends ...
    again = claim_next(watched.database, T0 + LEASE + timedelta(seconds=1))
    assert again is not None and (again.pk, again.attempts) == (first.pk, 2)
    # ... and the first worker's late outcome no longer counts.
    record_delivered(watched.database, first, T0)
    assert outbox(watched)[0]["status"] == "pending"
    record_delivered(watched.database, again, T0)
    assert outbox(watched)[0]["status"] == "delivered"


def test_two_workers_never_send_the_same_notification_twice(
    watched: FhirStore, database_url: str, receiver: Receiver
) -> None:
    receiver.pause = threading.Event()  # never set: each answer waits a little
    subscribe(watched, f"{receiver.url}/fhir", payload="application/fhir+json")
    for n in range(12):
        admit(watched, f"e{n}")
    workers = [FhirStore(open_database(database_url)) for _ in range(2)]
    reports = []
    start = threading.Barrier(2)

    def work(store: FhirStore) -> None:
        start.wait()
        reports.append(deliver_due(store, now=T0))

    threads = [threading.Thread(target=work, args=(store,)) for store in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for store in workers:
        store.database.dispose()

    assert sorted(Counter(receiver.paths).values()) == [1] * 12
    assert sum(report.delivered for report in reports) == 12
    assert {(row["status"], row["attempts"]) for row in outbox(watched)} == {("delivered", 1)}


def test_the_server_runs_the_worker_while_it_is_up(
    store: FhirStore, database_url: str, receiver: Receiver
) -> None:
    settings = Settings(
        database_url=database_url, worker=True, worker_interval=0.05, overdue_sweep_interval=3600
    )
    app = create_app(settings, store)
    store.update("Patient", "p1", {"resourceType": "Patient", "id": "p1", "gender": "female"})
    subscribe(store, f"{receiver.url}/hook")
    admit(store, "e1")
    with TestClient(app):
        assert receiver.arrived.wait(30), "the worker sent nothing"
        worker = next(t for t in threading.enumerate() if t.name == "careweave-worker")
    assert not worker.is_alive()  # stopped on shutdown
    [request] = receiver.received
    assert request.method == "POST"
    assert outbox(store)[0]["status"] == "delivered"


def test_the_command_line_lists_and_delivers(database_url: str, receiver: Receiver) -> None:
    runner = CliRunner()
    url = ["--database-url", database_url]
    assert runner.invoke(cli.app, ["db", "upgrade", *url]).exit_code == 0
    store = FhirStore(open_database(database_url))
    try:
        watch_subscriptions(store)
        store.update("Patient", "p1", {"resourceType": "Patient", "id": "p1", "gender": "female"})
        subscription_id = subscribe(store, f"{receiver.url}/hook")
        admit(store, "e1")

        listed = runner.invoke(cli.app, ["subscriptions", "list", *url])
        assert listed.exit_code == 0, listed.output
        assert subscription_id in listed.output
        assert "Encounter?class=IMP" in listed.output
        row = next(line for line in listed.output.splitlines() if subscription_id in line)
        assert row.split("│")[2].strip() == "active"
        assert [cell.strip() for cell in row.split("│")[5:8]] == ["1", "0", "0"]

        sent = runner.invoke(cli.app, ["subscriptions", "deliver", "--once", *url])
        assert sent.exit_code == 0, sent.output
        assert "Delivered 1, to retry 0, failed 0" in sent.output
        assert [r.method for r in receiver.received] == ["POST"]
        assert outbox(store)[0]["status"] == "delivered"
    finally:
        store.database.dispose()
