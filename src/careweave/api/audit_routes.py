"""AuditEvent in the FHIR API: careweave's own hash-chained audit trail, read-only.

`GET AuditEvent?patient=X` is "who looked at my record" for a person or their carer (their own
record only), and the organisation's accesses for its Caldicott guardian; a platform-wide
integration may read everything. Nobody writes AuditEvents through the API: careweave writes
them itself, so the trail cannot be edited from outside (and `careweave audit verify` would find
an edit made behind its back).

The handlers are plain functions, which FastAPI runs in its thread pool: every step of them
(finding the caller, reading the trail, auditing the reading) waits on the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from careweave.access.audit import (
    AuditRecord,
    count_audit,
    read_audit_event,
    search_audit,
    stored_audit_event,
)
from careweave.access.principal import Principal
from careweave.access.roles import Role
from careweave.api.auth import audit_trail, principal_of
from careweave.api.paging import forward_links, page_cursor, page_size
from careweave.api.requests import base_url
from careweave.api.responses import FhirResponse
from careweave.fhir.errors import Forbidden, InvalidSearch, NotFound
from careweave.fhir.search_query import CURSOR_PARAMETER, refuse_nul
from careweave.fhir.search_values import SearchValueError, parse_fhir_date_range

audit_router = APIRouter(prefix="/fhir/R4/AuditEvent", default_response_class=FhirResponse)
SEARCH_PARAMETERS = (
    "patient",
    "agent",
    "altid",
    "date",
    "_count",
    "_summary",
    CURSOR_PARAMETER,
)


def _scope_of_reader(principal: Principal) -> dict[str, str | None]:
    """Which part of the trail the caller may read, as fixed search criteria."""
    if principal.role is Role.SYSTEM and principal.organisation_id is None:
        return {}
    if principal.role in (Role.PATIENT, Role.CARER) and principal.patient_id:
        return {"patient_id": principal.patient_id}
    if principal.caldicott_guardian and principal.organisation_id:
        return {"organisation_id": principal.organisation_id}
    raise Forbidden(
        "The audit trail is read by the person it is about (or their carer), by their "
        "organisation's Caldicott guardian, or by a platform-wide integration"
    )


def _audit_the_reading(request: Request, principal: Principal, entity: str) -> None:
    audit_trail(request).record(
        [AuditRecord.for_principal(principal, event="search", action="E", entity=entity)]
    )


def _permitted(principal: Principal, permission: str) -> None:
    if not principal.scopes.allows("AuditEvent", permission):  # type: ignore[arg-type]
        raise Forbidden(
            f"Your access token's scopes do not allow reading AuditEvent ({permission})"
        )


def _allowed_part(
    request: Request, principal: Principal, permission: str, entity: str
) -> dict[str, str | None]:
    """Which part of the trail the caller may read; a refusal is itself audited."""
    try:
        _permitted(principal, permission)
        return _scope_of_reader(principal)
    except Forbidden as exc:
        audit_trail(request).record(
            [
                AuditRecord.for_principal(
                    principal,
                    event="search",
                    action="E",
                    outcome="4",
                    entity=entity,
                    reason=str(exc),
                )
            ]
        )
        raise


def recorded_between(dates: list[str]) -> tuple[datetime | None, datetime | None]:
    """The half-open span [since, until) of recording times that every `date` value allows.

    Each value is a period (a day, a second), as in any FHIR date search: `ge` starts with the
    period and `gt` after it; `le` ends with it and `lt` before it; no prefix means within it.
    Repeated values all hold (AND), so the span narrows. None on either side is unbounded.
    """
    since: datetime | None = None
    until: datetime | None = None
    for value in dates:
        prefix, text = (
            (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") else ("", value)
        )
        try:
            span = parse_fhir_date_range(text)
        except SearchValueError as exc:
            raise InvalidSearch(f"date: {exc}") from None
        # Search dates are naive UTC (the store's form); the trail's queries take aware ones.
        start, end = span.start.replace(tzinfo=UTC), span.end.replace(tzinfo=UTC)
        lower: datetime | None = start
        upper: datetime | None = end
        if prefix in ("ge", "gt"):
            lower, upper = (start if prefix == "ge" else end), None
        elif prefix in ("le", "lt"):
            lower, upper = None, (end if prefix == "le" else start)
        if lower is not None:
            since = lower if since is None else max(since, lower)
        if upper is not None:
            until = upper if until is None else min(until, upper)
    return since, until


@audit_router.get("")
def search_audit_events(request: Request) -> FhirResponse:
    principal = principal_of(request)
    fixed = _allowed_part(request, principal, "s", f"AuditEvent?{request.query_params}")
    params = request.query_params
    unknown = [name for name in params if name not in SEARCH_PARAMETERS]
    if unknown:
        raise InvalidSearch(
            f"AuditEvent searches take {', '.join(SEARCH_PARAMETERS[:4])}; not {', '.join(unknown)}"
        )
    for name, value in params.multi_items():
        refuse_nul(name, value)
    criteria: dict[str, Any] = {}
    if "patient" in params:
        criteria["patient_id"] = params["patient"].removeprefix("Patient/")
    if "altid" in params:
        criteria["username"] = params["altid"]
    if "agent" in params:
        criteria["organisation_id"] = params["agent"].removeprefix("Organization/")
    since, until = recorded_between(params.getlist("date"))
    # Asking for entries outside what the caller may read finds none; it does not say whether
    # any exist.
    outside = any(key in criteria and criteria[key] != value for key, value in fixed.items())
    criteria.update(fixed)
    settings = request.app.state.settings
    count = page_size(params, default=settings.default_page_size, maximum=settings.max_page_size)
    cursor = page_cursor(params)
    database = request.app.state.store.database
    summary = params.get("_summary")
    if summary not in (None, "count"):
        raise InvalidSearch(f"AuditEvent searches take _summary=count only, not '{summary}'")
    if summary == "count":
        total = 0 if outside else count_audit(database, since=since, until=until, **criteria)
        _audit_the_reading(request, principal, f"AuditEvent?{params}")
        return FhirResponse({"resourceType": "Bundle", "type": "searchset", "total": total})
    rows = (
        []
        if outside
        else search_audit(
            database,
            since=since,
            until=until,
            count=count + 1,
            after_seq=int(cursor) if cursor else None,
            **criteria,
        )
    )
    _audit_the_reading(request, principal, f"AuditEvent?{params}")
    base = base_url(request)
    echo = [(k, v) for k, v in params.multi_items() if k not in ("_count", CURSOR_PARAMETER)]
    next_cursor = rows[count - 1][0] if len(rows) > count else None
    links = forward_links(f"{base}/AuditEvent", echo, count, next_cursor)
    entries = [
        {
            "fullUrl": f"{base}/AuditEvent/{seq}",
            "resource": stored_audit_event(seq, content),
            "search": {"mode": "match"},
        }
        for seq, content in rows[:count]
    ]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if entries:
        bundle["entry"] = entries
    return FhirResponse(bundle)


@audit_router.get("/{event_id}")
def read_audit(
    request: Request, event_id: Annotated[str, Path(pattern="^[0-9]{1,18}$")]
) -> FhirResponse:
    principal = principal_of(request)
    fixed = _allowed_part(request, principal, "r", f"AuditEvent/{event_id}")
    database = request.app.state.store.database
    event = read_audit_event(database, int(event_id))
    visible = event is not None and all(_matches(event, key, value) for key, value in fixed.items())
    _audit_the_reading(request, principal, f"AuditEvent/{event_id}")
    if event is None or not visible:
        raise NotFound(f"AuditEvent/{event_id} is not known")
    return FhirResponse(event)


def _matches(event: dict[str, Any], key: str, value: str | None) -> bool:
    if key == "patient_id":
        return any(
            (entity.get("what") or {}).get("reference") == f"Patient/{value}"
            for entity in event.get("entity", [])
        )
    if key == "organisation_id":
        return any(
            (agent.get("who") or {}).get("reference") == f"Organization/{value}"
            for agent in event.get("agent", [])
        )
    return False
