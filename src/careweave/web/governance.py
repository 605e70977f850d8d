"""The Caldicott guardian's review: emergency (break-glass) access to judge, and unusual access.

A Caldicott guardian is responsible for how their organisation uses people's confidential
information. Every break-glass use at their organisation comes here to be judged appropriate
or not, and the audit trail's unusual patterns (many refusals, many records, access at night)
are listed beside it. Each judgement is itself written to the audit trail, so a review cannot
be changed or made without trace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from careweave.access import break_glass
from careweave.access.accounts import UserAccount, principal_for_user
from careweave.access.audit import AuditRecord, AuditTrail, UnusualAccess, unusual_access
from careweave.fhir.errors import Forbidden, InvalidResource, NotFound
from careweave.store.access_tables import break_glass as break_glass_table
from careweave.store.database import Database
from careweave.store.repository import FhirStore
from careweave.web.pages import render
from careweave.web.signed_in import (
    FieldError,
    SignedIn,
    address_of,
    current_user,
    posted_form,
    require_csrf,
)
from careweave.web.wording import Directory, london_day, london_time

logger = logging.getLogger("careweave.web")

UNUSUAL_PERIOD = timedelta(days=30)
MAXIMUM_NOTE_LENGTH = 2000
REVIEW_LABELS: dict[str, tuple[str, str]] = {
    "appropriate": ("Appropriate", "It was needed for the person's care in an emergency"),
    "inappropriate": (
        "Not appropriate",
        "There was no emergency that needed it; follow this up with the person who used it",
    ),
    "needs-follow-up": (
        "Needs follow-up",
        "You need to find out more before you can decide",
    ),
}
UNUSUAL_KINDS: dict[str, str] = {
    "break-glass": "Emergency access",
    "repeated-refusals": "Refused many times",
    "many-patients": "Many people's records",
    "night-access": "Access at night",
}


@dataclass(frozen=True)
class GrantView:
    """One break-glass use as the guardian reads it."""

    pk: int
    who: str
    username: str
    yours: bool
    patient: str
    patient_id: str
    reason: str
    reason_text: str
    started: str
    expires: str
    active: bool
    outcome: str | None
    note: str | None
    reviewed_by: str | None


@dataclass(frozen=True)
class UnusualView:
    day: str
    who: str
    kind: str
    why: str


@dataclass(frozen=True)
class Typed:
    """What the guardian typed into one grant's form, shown again with the errors."""

    grant_pk: int
    outcome: str
    note: str


def _grant_view(grant: break_glass.Grant, user: UserAccount, directory: Directory) -> GrantView:
    person = directory.person(grant.patient_id)
    outcome = REVIEW_LABELS.get(grant.review_outcome or "", (grant.review_outcome, ""))[0]
    return GrantView(
        pk=grant.pk,
        who=grant.display_name,
        username=grant.username,
        yours=grant.username == user.username,
        patient=person.shown,
        patient_id=grant.patient_id,
        reason=break_glass.REASONS.get(grant.reason_code, grant.reason_code),
        reason_text=grant.reason_text,
        started=london_time(grant.started),
        expires=london_time(grant.expires),
        active=grant.expires > datetime.now(UTC),
        outcome=outcome,
        note=grant.review_note,
        reviewed_by=grant.reviewed_by,
    )


def _unusual_view(finding: UnusualAccess) -> UnusualView:
    return UnusualView(
        day=london_day(finding.day),
        who=finding.display_name or finding.username or "Someone not signed in",
        kind=UNUSUAL_KINDS.get(finding.kind, finding.kind),
        why=finding.why,
    )


def _grant_patient(database: Database, grant_pk: int, organisation_id: str | None) -> str | None:
    """Whose record the grant was for, when it is a grant of this organisation."""
    b = break_glass_table
    with database.read() as conn:
        row = conn.execute(
            select(b.c.patient_id, b.c.organisation_id).where(b.c.pk == grant_pk)
        ).first()
    if row is None or row[1] is None or row[1] != organisation_id:
        return None
    return str(row[0])


def _not_a_guardian(signed_in: SignedIn, styled: bool) -> Response:
    return render(
        "not_allowed.html",
        status_code=403,
        styled=styled,
        signed_in=signed_in,
        title="Only a Caldicott guardian can use this page",
        reasons=[
            "This page is where a Caldicott guardian reviews emergency (break-glass) access "
            "and unusual access to records at their organisation.",
            "If you are your organisation's Caldicott guardian, ask your careweave "
            "administrator to mark your account as one.",
        ],
    )


def _review_saved(grant: GrantView) -> str:
    """What the success banner says once a review is saved."""
    judged = (
        "was marked as needing follow-up"
        if grant.outcome == "Needs follow-up"
        else f"was judged {str(grant.outcome).lower()}"
    )
    return f"Review saved: {grant.who}'s emergency access to {grant.patient}'s record {judged}"


def governance_router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)

    def review_page(
        request: Request,
        signed_in: SignedIn,
        *,
        reviewed: int | None = None,
        errors: list[FieldError] | None = None,
        typed: Typed | None = None,
        status_code: int = 200,
    ) -> Response:
        user = signed_in.user
        store: FhirStore = request.app.state.store
        database = store.database
        directory = Directory(store)
        grants = [
            _grant_view(grant, user, directory)
            for grant in break_glass.grants(
                database, organisation_id=user.organisation_id, unreviewed_only=False
            )
        ]
        since = datetime.now(UTC) - UNUSUAL_PERIOD
        findings = [
            _unusual_view(f) for f in unusual_access(database, user.organisation_id, since=since)
        ]
        saved = next((g for g in grants if g.pk == reviewed and g.outcome is not None), None)
        done = _review_saved(saved) if saved else None
        return render(
            "governance_review.html",
            status_code=status_code,
            styled=styled,
            signed_in=signed_in,
            organisation=directory.organisation(user.organisation_id),
            to_review=[g for g in grants if g.outcome is None],
            reviewed=[g for g in grants if g.outcome is not None],
            findings=findings,
            done=done,
            errors=errors or [],
            typed=typed,
            outcomes=REVIEW_LABELS,
            period_days=UNUSUAL_PERIOD.days,
            maximum_note=MAXIMUM_NOTE_LENGTH,
        )

    @router.get("/governance/review")
    def show_review(
        request: Request,
        signed_in: Annotated[SignedIn, Depends(current_user)],
        reviewed: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> Response:
        if not signed_in.user.caldicott_guardian:
            return _not_a_guardian(signed_in, styled)
        return review_page(request, signed_in, reviewed=reviewed)

    @router.post("/governance/review/{grant_pk}")
    def submit_review(
        request: Request,
        signed_in: Annotated[SignedIn, Depends(require_csrf)],
        form: Annotated[dict[str, str], Depends(posted_form)],
        grant_pk: Annotated[int, Path(ge=1, le=2**62)],
    ) -> Response:
        user = signed_in.user
        if not user.caldicott_guardian:
            return _not_a_guardian(signed_in, styled)
        outcome = form.get("outcome", "").strip()
        note = form.get("note", "")
        typed = Typed(grant_pk, outcome, note[: MAXIMUM_NOTE_LENGTH * 2])
        errors = []
        if outcome not in break_glass.REVIEW_OUTCOMES:
            errors.append(
                FieldError(
                    f"outcome-{grant_pk}", "Select whether this emergency access was appropriate"
                )
            )
        if len(note.strip()) > MAXIMUM_NOTE_LENGTH:
            errors.append(
                FieldError(
                    f"note-{grant_pk}", f"Note must be {MAXIMUM_NOTE_LENGTH:,} characters or fewer"
                )
            )
        if errors:
            return review_page(request, signed_in, errors=errors, typed=typed, status_code=400)

        database: Database = request.app.state.store.database
        trail: AuditTrail = request.app.state.audit
        principal = principal_for_user(user, address=address_of(request))
        patient_id = _grant_patient(database, grant_pk, user.organisation_id)
        entity = f"break-glass/{grant_pk}"
        try:
            break_glass.review(database, principal, grant_pk, outcome, note)
        except (Forbidden, NotFound, InvalidResource) as exc:
            trail.record(
                [
                    AuditRecord.for_principal(
                        principal,
                        event="break-glass-review",
                        action="U",
                        outcome="4",
                        patient_id=patient_id,
                        entity=entity,
                        reason=exc.message,
                    )
                ]
            )
            status = exc.status if isinstance(exc, Forbidden | NotFound) else 400
            return review_page(
                request,
                signed_in,
                errors=[FieldError(None, exc.message)],
                typed=typed,
                status_code=status,
            )
        trail.record(
            [
                AuditRecord.for_principal(
                    principal,
                    event="break-glass-review",
                    action="U",
                    patient_id=patient_id,
                    entity=entity,
                    reason=outcome,
                )
            ]
        )
        return RedirectResponse(f"/governance/review?reviewed={grant_pk}", status_code=303)

    return router
