"""Which written versions a Subscription is told about, decided inside the write transaction.

`watch_subscriptions(store)` registers a write observer (careweave.store.repository) that, for
every write transaction:

1. checks each Subscription version written with status `requested` or `active`: its
   `criteria` must be a search of a type careweave serves (``Encounter?class=IMP``; a bare
   ``Patient`` matches every Patient), its channel a `rest-hook` to an http(s) endpoint with
   `payload` empty or ``application/fhir+json``; otherwise the write is refused with 422 and
   nothing of it is kept. A `requested` one is then made `active` by a second version written
   in the same transaction (as HAPI FHIR does: the create answers with what the client sent,
   and a read shows the server's state).
2. queues in `subscription_delivery` every version written (the newest of each resource in the
   transaction; deletes are never sent, as R4 says) that matches an active Subscription's
   criteria. Matching runs the criteria as a search restricted to ``_id=<the resource's id>``
   on the transaction's own connection, whose search indexes already hold the write, so a
   match means exactly what the same search over the REST API would find (R4: "the search
   criteria are applied to the new value of the resource").

Subscriptions and the audit trail cannot be subscribed to: a Subscription about Subscriptions
would be told of its own changes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import orjson
from sqlalchemy import Connection, insert, select

from careweave.fhir.errors import InvalidResource, InvalidSearch, Issue
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES, is_fhir_id
from careweave.fhir.search_parameters import SearchParameterRegistry
from careweave.fhir.search_query import CURSOR_PARAMETER, RESULT_PARAMETERS, parse_search
from careweave.fhir.search_values import parse_fhir_date_range
from careweave.store.notification_tables import subscription_delivery
from careweave.store.repository import (
    FhirStore,
    StoredResource,
    StoreTransaction,
    WriteObserver,
    utc_now,
)
from careweave.store.search import match_conditions
from careweave.store.tables import resource

logger = logging.getLogger("careweave.subscriptions")

SUBSCRIPTION: Final = "Subscription"
REST_HOOK: Final = "rest-hook"
PAYLOADS: Final = ("application/fhir+json", "application/json")
"""The payloads careweave sends: the resource as FHIR JSON (R4 payload is a MIME type; an
empty payload means a notification with no body)."""
NOT_SUBSCRIBABLE: Final = frozenset({SUBSCRIPTION, "AuditEvent"})
CHECKED_STATUSES: Final = frozenset({"requested", "active"})
_HEADER_NAME_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Criteria:
    """A Subscription's criteria as a search: the type and its search parameters."""

    resource_type: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ActiveSubscription:
    id: str
    criteria: Criteria


def _refuse(message: str, element: str) -> InvalidResource:
    return InvalidResource(
        message, issues=[Issue("error", "invalid", message, (f"Subscription.{element}",))]
    )


def parse_criteria(criteria: object, registry: SearchParameterRegistry) -> Criteria:
    """The search `criteria` stands for, or InvalidResource (422) saying what is wrong."""
    if not isinstance(criteria, str) or not criteria.strip():
        raise _refuse(
            "criteria is required: a search such as 'Encounter?class=IMP' that says which "
            "changes to send",
            "criteria",
        )
    resource_type, _, query = criteria.strip().partition("?")
    if resource_type not in SUPPORTED_RESOURCE_TYPES or resource_type in NOT_SUBSCRIBABLE:
        raise _refuse(
            f"criteria must start with a resource type careweave serves (e.g. "
            f"'Encounter?class=IMP'), not '{resource_type}'",
            "criteria",
        )
    params = tuple(parse_qsl(query, keep_blank_values=True))
    for name, _ in params:
        base = name.partition(":")[0]
        if base in RESULT_PARAMETERS or name == CURSOR_PARAMETER:
            raise _refuse(
                f"criteria say which resources to send, not how to show them: remove '{name}'",
                "criteria",
            )
    try:
        parse_search(resource_type, params, registry, handling="strict")
    except InvalidSearch as exc:
        message = f"criteria is not a search careweave can run: {exc.message}"
        raise _refuse(message, "criteria") from None
    return Criteria(resource_type, params)


def header_fields(headers: object) -> list[tuple[str, str]]:
    """`channel.header` entries ("Name: value") as (name, value), or InvalidResource."""
    if headers is None:
        return []
    if not isinstance(headers, list):
        raise _refuse("channel.header is a list of 'Name: value' strings", "channel.header")
    fields: list[tuple[str, str]] = []
    for entry in headers:
        name, colon, value = entry.partition(":") if isinstance(entry, str) else ("", "", "")
        name, value = name.strip(), value.strip()
        if (
            not colon
            or not name
            or not set(name.lower()) <= _HEADER_NAME_CHARS
            or any(c in value for c in "\r\n\x00")
        ):
            raise _refuse(
                f"channel.header entry {entry!r} is not an HTTP header 'Name: value'",
                "channel.header",
            )
        fields.append((name, value))
    return fields


def check_endpoint(endpoint: object) -> str:
    """The channel's endpoint, when it is an absolute http or https URL."""
    if not isinstance(endpoint, str):
        raise _refuse("channel.endpoint is required: the URL notifications go to", "channel")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(
            f"channel.endpoint must be an http or https URL, not '{endpoint}'",
            "channel.endpoint",
        )
    return endpoint


def check_channel(channel: object) -> None:
    """A rest-hook channel careweave can deliver to, or InvalidResource."""
    if not isinstance(channel, dict):
        raise _refuse("channel is required", "channel")
    if channel.get("type") != REST_HOOK:
        raise _refuse(
            f"careweave delivers Subscriptions by rest-hook only, not '{channel.get('type')}'",
            "channel.type",
        )
    check_endpoint(channel.get("endpoint"))
    payload = channel.get("payload")
    if payload is not None and payload_type(payload) not in PAYLOADS:
        raise _refuse(
            f"channel.payload must be empty (a notification with no body) or "
            f"application/fhir+json, not '{payload}'",
            "channel.payload",
        )
    header_fields(channel.get("header"))


def payload_type(payload: object) -> str | None:
    """The MIME type of `channel.payload` without parameters ("application/fhir+json")."""
    if not isinstance(payload, str) or not payload.strip():
        return None
    return payload.split(";", 1)[0].strip().lower()


def check_subscription(body: dict[str, Any], registry: SearchParameterRegistry) -> Criteria:
    """Everything careweave needs to serve a Subscription, or InvalidResource (422)."""
    end = body.get("end")
    if isinstance(end, str) and _ended(end, utc_now()):
        raise _refuse(f"end ({end}) has already passed", "end")
    check_channel(body.get("channel"))
    return parse_criteria(body.get("criteria"), registry)


def _ended(end: str, now: datetime) -> bool:
    try:
        moment = parse_fhir_date_range(end)
    except ValueError:
        return False
    return moment.start <= now


def active_subscriptions(
    conn: Connection, registry: SearchParameterRegistry, now: datetime
) -> list[ActiveSubscription]:
    """The Subscriptions to match writes against: status active, not past their `end`.

    One indexed query (the status token). A stored Subscription whose criteria no longer parse
    (the search parameters changed with an upgrade) is skipped and logged, not fatal."""
    query = parse_search(SUBSCRIPTION, [("status", "active")], registry)
    r = resource
    rows = conn.execute(
        select(r.c.id, r.c.content).where(*match_conditions(SUBSCRIPTION, query.filters, r))
    ).all()
    found: list[ActiveSubscription] = []
    for subscription_id, content in rows:
        body = orjson.loads(content)
        end = body.get("end")
        if isinstance(end, str) and _ended(end, now):
            continue
        try:
            criteria = parse_criteria(body.get("criteria"), registry)
        except InvalidResource as exc:
            logger.warning("Subscription/%s is not matched: %s", subscription_id, exc.message)
            continue
        found.append(ActiveSubscription(subscription_id, criteria))
    return found


def matches(
    conn: Connection, registry: SearchParameterRegistry, criteria: Criteria, resource_id: str
) -> bool:
    """Whether the current version of `resource_id` is found by the criteria's search."""
    if not is_fhir_id(resource_id):
        return False
    query = parse_search(criteria.resource_type, [*criteria.params, ("_id", resource_id)], registry)
    r = resource
    conditions = match_conditions(criteria.resource_type, query.filters, r)
    return conn.execute(select(r.c.pk).where(*conditions).limit(1)).first() is not None


def _newest(versions: Sequence[StoredResource]) -> list[StoredResource]:
    """The last version written of each resource, in the order first written."""
    newest: dict[tuple[str, str], StoredResource] = {}
    for version in versions:
        newest[(version.resource_type, version.id)] = version
    return list(newest.values())


def activate_requested(
    conn: Connection, registry: SearchParameterRegistry, versions: Sequence[StoredResource]
) -> list[str]:
    """Check every Subscription written that asks to run, and make `requested` ones active;
    returns the ids activated. InvalidResource refuses the whole transaction."""
    activated: list[str] = []
    for version in _newest(versions):
        if version.resource_type != SUBSCRIPTION or version.deleted:
            continue
        body = version.as_dict()
        status = body.get("status")
        if status not in CHECKED_STATUSES:
            continue
        check_subscription(body, registry)
        if status == "requested":
            body["status"] = "active"
            writer = StoreTransaction(conn, registry)
            writer.update(SUBSCRIPTION, version.id, body, if_match=version.version_id)
            writer.check_integrity()
            writer.flush()
            activated.append(version.id)
    return activated


def queue_matches(
    conn: Connection,
    registry: SearchParameterRegistry,
    versions: Sequence[StoredResource],
    now: datetime,
) -> int:
    """Queue each written version that matches an active Subscription; returns how many."""
    candidates = [
        v for v in _newest(versions) if not v.deleted and v.resource_type not in NOT_SUBSCRIBABLE
    ]
    if not candidates:
        return 0
    subscriptions = active_subscriptions(conn, registry, now)
    rows: list[dict[str, Any]] = []
    for version in candidates:
        for subscription in subscriptions:
            if subscription.criteria.resource_type != version.resource_type:
                continue
            if matches(conn, registry, subscription.criteria, version.id):
                rows.append(
                    {
                        "subscription_id": subscription.id,
                        "resource_type": version.resource_type,
                        "resource_id": version.id,
                        "version_id": version.version_id,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created": now,
                    }
                )
    if rows:
        conn.execute(insert(subscription_delivery), rows)
    return len(rows)


def subscription_observer(registry: SearchParameterRegistry) -> WriteObserver:
    """The write observer that checks, activates and queues (see the module docstring)."""

    def observe(conn: Connection, versions: Sequence[StoredResource]) -> None:
        activate_requested(conn, registry, versions)
        queue_matches(conn, registry, versions, utc_now())

    return observe


def watch_subscriptions(store: FhirStore) -> None:
    """Check, activate and queue for Subscriptions on every write to `store` from now on."""
    store.observe_writes("subscriptions", subscription_observer(store.registry))
