"""Who is calling the FHIR API: a bearer token, resolved once per request.

The API takes bearer tokens only (issued by `careweave token issue`); web pages use their own
session cookie and CSRF checks, so a cookie can never carry a cross-site write into the API.
Only the CapabilityStatement and the SMART configuration are open, as SMART on FHIR expects.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from careweave.access.audit import AuditRecord, AuditTrail
from careweave.access.guard import CareRecordAccess
from careweave.access.principal import Principal
from careweave.access.tokens import principal_for_token
from careweave.fhir.errors import Unauthenticated
from careweave.store.repository import FhirStore

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="careweave"'}


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def audit_trail(request: Request) -> AuditTrail:
    trail: AuditTrail = request.app.state.audit
    return trail


def principal_of(request: Request) -> Principal:
    """The caller, or 401 (audited) when there is no usable bearer token."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    store: FhirStore = request.app.state.store
    principal = None
    if scheme.lower() == "bearer" and token.strip():
        principal = principal_for_token(store.database, token.strip(), client_address(request))
    if principal is None:
        reason = (
            "No bearer token was given"
            if not header
            else "The bearer token is not valid (unknown, expired or revoked)"
        )
        audit_trail(request).record(
            [
                AuditRecord(
                    event="refused",
                    action="E",
                    outcome="4",
                    username=None,
                    display_name=None,
                    role=None,
                    organisation_id=None,
                    practitioner_role_id=None,
                    patient_id=None,
                    entity=f"{request.method} {request.url.path}",
                    reason=reason,
                    break_glass=False,
                    address=client_address(request),
                    recorded=datetime.now(UTC),
                )
            ]
        )
        raise Unauthenticated(
            f"{reason}. Ask your administrator for a token (`careweave token issue`) and send "
            "it as 'Authorization: Bearer <token>'"
        )
    request.state.principal = principal
    return principal


def access_of(request: Request) -> CareRecordAccess:
    """The record as the caller may see it (see careweave.access.guard)."""
    cached: CareRecordAccess | None = getattr(request.state, "access", None)
    if cached is None:
        cached = CareRecordAccess(
            request.app.state.store,
            principal_of(request),
            audit_trail(request),
            self_referral_to=request.app.state.settings.self_referral_service,
        )
        request.state.access = cached
    return cached


async def caller_access(request: Request) -> CareRecordAccess:
    """`access_of`, off the event loop, for handlers that must await a body after it.

    Finding the caller is a database round trip, and refusing one an audited commit that may
    wait for another thread's audit batch; on the event loop either would stall every other
    request this worker is serving.
    """
    return await run_in_threadpool(access_of, request)
