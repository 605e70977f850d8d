"""Break-glass: a clinician asks for emergency access to the record of someone they have no
care relationship with, says why, and is told until when they have it.

The person is found by NHS number with an unrestricted search: their record is, by design, one
the clinician cannot yet see. That search says whether an NHS number is registered, so the page
is for clinical roles only and every attempt, granted or not, goes to the audit trail (repeated
refusals are among the patterns the Caldicott guardian is shown).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.routing import APIRoute
from sqlalchemy import delete, select
from starlette.responses import RedirectResponse, Response

from careweave.access import break_glass
from careweave.access.accounts import principal_for_user
from careweave.access.audit import AuditRecord, AuditTrail
from careweave.access.principal import Principal
from careweave.access.roles import CLINICAL_ROLES
from careweave.fhir.errors import Forbidden, InvalidResource, NotFound
from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM, is_valid_nhs_number
from careweave.fhir.search_query import parse_search
from careweave.store.access_tables import break_glass as break_glass_table
from careweave.store.database import as_utc
from careweave.store.repository import FhirStore
from careweave.web.pages import nhs_number_text, render, role_name
from careweave.web.signed_in import (
    FieldError,
    SignedIn,
    address_of,
    current_user,
    posted_form,
    require_csrf,
)
from careweave.web.wording import Directory, london_time

logger = logging.getLogger("careweave.web")

MAXIMUM_REASON_LENGTH = 2000
_SEPARATORS = re.compile(r"[\s-]+")
_WHO_CAN = ", ".join(sorted(role_name(role) for role in CLINICAL_ROLES))


@dataclass(frozen=True)
class Granted:
    """A grant as its holder sees it on the confirmation page."""

    pk: int
    name: str
    nhs_number: str | None
    reason: str
    reason_text: str
    started: str
    expires: str
    active: bool


class NhsNumberError(ValueError):
    """An NHS number as typed that cannot be one; the message is what to show."""


def nhs_number_digits(typed: str) -> str:
    """The ten digits of an NHS number typed with or without spaces or dashes."""
    digits = _SEPARATORS.sub("", typed)
    if not digits:
        raise NhsNumberError("Enter the person's NHS number")
    if not digits.isascii() or not digits.isdigit() or len(digits) != 10:
        raise NhsNumberError("NHS number must be 10 digits")
    if not is_valid_nhs_number(digits):
        raise NhsNumberError("Enter a valid NHS number: check you have typed it correctly")
    return digits


def find_patient(store: FhirStore, digits: str) -> list[str]:
    """Ids of the Patients with this NHS number, seen by no one in particular: the person may
    be invisible to the clinician, which is why they are breaking the glass."""
    query = parse_search(
        "Patient",
        [("identifier", f"{NHS_NUMBER_SYSTEM}|{digits}"), ("_count", "2")],
        store.registry,
        handling="strict",
    )
    return [resource_id for _, resource_id, _ in store.search(query).matches]


def _not_clinical(signed_in: SignedIn, styled: bool) -> Response:
    return render(
        "not_allowed.html",
        status_code=403,
        styled=styled,
        signed_in=signed_in,
        title="Only clinicians can use emergency access",
        reasons=[
            f"Emergency (break-glass) access is for these roles: {_WHO_CAN}. "
            "Opening a record in an emergency is a clinical judgement.",
            "If you need to see someone's record, ask a clinician involved in their care, or "
            "ask their care team to add you.",
        ],
    )


def _attempt(principal: Principal, reason: str) -> AuditRecord:
    """An attempt that did not end in a grant (what was asked is in `reason`)."""
    return AuditRecord.for_principal(principal, event="break-glass", outcome="4", reason=reason)


def break_glass_router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)

    def form_page(
        signed_in: SignedIn,
        *,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        return render(
            "break_glass.html",
            status_code=status_code,
            styled=styled,
            signed_in=signed_in,
            typed=typed or {},
            errors=errors or [],
            reasons=break_glass.REASONS,
            minimum=break_glass.MINIMUM_REASON_LENGTH,
            maximum=f"{MAXIMUM_REASON_LENGTH:,}",
            hours=int(break_glass.GRANT_LENGTH.total_seconds() // 3600),
        )

    @router.get("/break-glass")
    def show_form(signed_in: Annotated[SignedIn, Depends(current_user)]) -> Response:
        if signed_in.user.role not in CLINICAL_ROLES:
            return _not_clinical(signed_in, styled)
        return form_page(signed_in)

    @router.post("/break-glass")
    def submit(
        request: Request,
        signed_in: Annotated[SignedIn, Depends(require_csrf)],
        form: Annotated[dict[str, str], Depends(posted_form)],
    ) -> Response:
        if signed_in.user.role not in CLINICAL_ROLES:
            return _not_clinical(signed_in, styled)
        typed = {
            "nhs_number": form.get("nhs_number", "")[:40],
            "reason": form.get("reason", ""),
            "reason_text": form.get("reason_text", "")[: MAXIMUM_REASON_LENGTH * 2],
        }
        errors = []
        digits = ""
        try:
            digits = nhs_number_digits(typed["nhs_number"])
        except NhsNumberError as exc:
            errors.append(FieldError("nhs_number", str(exc)))
        reason = typed["reason"]
        if reason not in break_glass.REASONS:
            errors.append(FieldError("reason", "Select why you need emergency access"))
        text = typed["reason_text"].strip()
        minimum = break_glass.MINIMUM_REASON_LENGTH
        if not text:
            errors.append(FieldError("reason_text", "Describe the emergency"))
        elif len(text) < minimum:
            errors.append(
                FieldError("reason_text", f"Describe the emergency in {minimum} characters or more")
            )
        elif len(text) > MAXIMUM_REASON_LENGTH:
            errors.append(
                FieldError(
                    "reason_text",
                    f"Describe the emergency in {MAXIMUM_REASON_LENGTH:,} characters or fewer",
                )
            )
        if errors:
            return form_page(signed_in, typed=typed, errors=errors, status_code=400)

        store: FhirStore = request.app.state.store
        trail: AuditTrail = request.app.state.audit
        principal = principal_for_user(signed_in.user, address=address_of(request))
        found = find_patient(store, digits)
        problem: FieldError | None = None
        if not found:
            problem = FieldError(
                "nhs_number",
                f"No one with NHS number {nhs_number_text(digits)} is registered on careweave",
            )
        elif len(found) > 1:
            problem = FieldError(
                "nhs_number",
                f"More than one record has NHS number {nhs_number_text(digits)}: "
                "contact your careweave administrator",
            )
        if problem is not None:
            trail.record([_attempt(principal, f"{reason}: {problem.message}")])
            return form_page(signed_in, typed=typed, errors=[problem], status_code=400)
        patient_id = found[0]
        try:
            grant = break_glass.start(store.database, store, principal, patient_id, reason, text)
        except (Forbidden, NotFound, InvalidResource) as exc:
            trail.record([_attempt(principal, f"{reason}: {exc.message}")])
            return form_page(
                signed_in, typed=typed, errors=[FieldError(None, exc.message)], status_code=400
            )
        try:
            trail.record(
                [
                    AuditRecord.for_principal(
                        principal,
                        event="break-glass",
                        action="E",
                        patient_id=patient_id,
                        entity=f"Patient/{patient_id}",
                        reason=f"{reason}: {text}",
                        break_glass=True,
                        recorded=grant.started,
                    )
                ]
            )
        except Exception:
            # Unrecorded emergency access must not stand: take the grant back.
            with store.database.write() as conn:
                conn.execute(delete(break_glass_table).where(break_glass_table.c.pk == grant.pk))
            raise
        return RedirectResponse(f"/break-glass/{grant.pk}", status_code=303)

    @router.get("/break-glass/{grant_pk}")
    def show_grant(
        request: Request,
        signed_in: Annotated[SignedIn, Depends(current_user)],
        grant_pk: Annotated[int, Path(ge=1, le=2**62)],
    ) -> Response:
        """The confirmation, for the holder of the grant only (anyone else: not found)."""
        store: FhirStore = request.app.state.store
        b = break_glass_table
        with store.database.read() as conn:
            row = conn.execute(
                select(
                    b.c.patient_id, b.c.reason_code, b.c.reason_text, b.c.started, b.c.expires
                ).where(b.c.pk == grant_pk, b.c.user_pk == signed_in.user.pk)
            ).first()
        if row is None:
            return render(
                "not_allowed.html",
                status_code=404,
                styled=styled,
                signed_in=signed_in,
                title="Page not found",
                reasons=["There is no emergency access of yours at this address."],
            )
        person = Directory(store).person(str(row.patient_id))
        expires = as_utc(row.expires)
        granted = Granted(
            pk=grant_pk,
            name=person.shown,
            nhs_number=nhs_number_text(person.nhs_number) if person.nhs_number else None,
            reason=break_glass.REASONS.get(row.reason_code, row.reason_code),
            reason_text=row.reason_text,
            started=london_time(as_utc(row.started)),
            expires=london_time(expires),
            active=expires > datetime.now(UTC),
        )
        return render("break_glass_granted.html", styled=styled, signed_in=signed_in, g=granted)

    return router
