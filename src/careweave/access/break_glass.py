"""Break-glass: emergency access to a person's record without a legitimate relationship.

A clinician who must see a record in an emergency states why; careweave then grants access to
that one person's record for a few hours (the emergency, not the week), flags every access made
under it in the audit trail, and lists it for the organisation's Caldicott guardian to review.
It overrides the missing relationship and the person's objection to the organisation (vital
interests), never the role's categories under the sharing agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from careweave.access.principal import Principal
from careweave.access.roles import CLINICAL_ROLES
from careweave.fhir.errors import Forbidden, InvalidResource, NotFound
from careweave.store.access_tables import break_glass, user_account
from careweave.store.database import Database, as_utc, stored_time
from careweave.store.repository import FhirStore

GRANT_LENGTH = timedelta(hours=4)
REASONS: dict[str, str] = {
    "emergency-treatment": "Emergency treatment: the person needs care now",
    "unable-to-consent": "The person cannot give consent (unconscious, lacks capacity)",
    "safeguarding-emergency": "An immediate safeguarding risk",
    "urgent-discharge": "Urgent discharge or transfer of care that cannot wait",
    "other": "Another emergency (say what in the reason)",
}
MINIMUM_REASON_LENGTH = 15
REVIEW_OUTCOMES = ("appropriate", "inappropriate", "needs-follow-up")


@dataclass(frozen=True)
class Grant:
    pk: int
    username: str
    display_name: str
    organisation_id: str | None
    patient_id: str
    reason_code: str
    reason_text: str
    started: datetime
    expires: datetime
    reviewed_by: str | None
    review_outcome: str | None
    review_note: str | None


def start(
    database: Database,
    store: FhirStore,
    principal: Principal,
    patient_id: str,
    reason_code: str,
    reason_text: str,
    *,
    now: datetime | None = None,
) -> Grant:
    """Grant `principal` emergency access to one person's record, after checking the reason."""
    if principal.user_pk is None or principal.role not in CLINICAL_ROLES:
        raise Forbidden(
            "Only clinicians (GPs, nurses, discharge coordinators, care-home staff) may break "
            "the glass; ask one, or ask the person's care team to add you"
        )
    if reason_code not in REASONS:
        raise InvalidResource(
            f"'{reason_code}' is not a break-glass reason; use one of {', '.join(REASONS)}"
        )
    if len(reason_text.strip()) < MINIMUM_REASON_LENGTH:
        raise InvalidResource(
            f"Say why in at least {MINIMUM_REASON_LENGTH} characters: the Caldicott guardian "
            "reviews every use"
        )
    try:
        store.read("Patient", patient_id)
    except NotFound:
        raise NotFound(f"Patient/{patient_id} is not known") from None
    moment = now or datetime.now(UTC)
    values = {
        "user_pk": principal.user_pk,
        "patient_id": patient_id,
        "organisation_id": principal.organisation_id,
        "reason_code": reason_code,
        "reason_text": reason_text.strip(),
        "started": stored_time(moment),
        "expires": stored_time(moment + GRANT_LENGTH),
    }
    with database.write() as conn:
        pk = conn.execute(
            insert(break_glass).values(**values).returning(break_glass.c.pk)
        ).scalar_one()
    return Grant(
        pk,
        principal.username,
        principal.display_name,
        principal.organisation_id,
        patient_id,
        reason_code,
        reason_text.strip(),
        moment,
        moment + GRANT_LENGTH,
        None,
        None,
        None,
    )


def active_patients(
    database: Database, user_pk: int, now: datetime | None = None
) -> frozenset[str]:
    """The people this user currently holds an unexpired grant for."""
    at = stored_time(now or datetime.now(UTC))
    b = break_glass
    with database.read() as conn:
        rows = conn.execute(
            select(b.c.patient_id).where(
                b.c.user_pk == user_pk, b.c.expires > at, b.c.started <= at
            )
        )
        return frozenset(rows.scalars().all())


def grants(
    database: Database,
    *,
    organisation_id: str | None = None,
    unreviewed_only: bool = False,
    limit: int = 200,
) -> list[Grant]:
    """Break-glass uses, newest first, for the Caldicott guardian's review."""
    b, u = break_glass, user_account
    reviewer = user_account.alias("reviewer")
    statement = (
        select(
            b.c.pk,
            u.c.username,
            u.c.display_name,
            b.c.organisation_id,
            b.c.patient_id,
            b.c.reason_code,
            b.c.reason_text,
            b.c.started,
            b.c.expires,
            reviewer.c.username,
            b.c.review_outcome,
            b.c.review_note,
        )
        .join(u, u.c.pk == b.c.user_pk)
        .outerjoin(reviewer, reviewer.c.pk == b.c.reviewed_by)
        .order_by(b.c.started.desc(), b.c.pk.desc())
        .limit(limit)
    )
    if organisation_id is not None:
        statement = statement.where(b.c.organisation_id == organisation_id)
    if unreviewed_only:
        statement = statement.where(b.c.reviewed_at.is_(None))
    with database.read() as conn:
        rows = conn.execute(statement).all()
    return [
        Grant(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            as_utc(row[7]),
            as_utc(row[8]),
            row[9],
            row[10],
            row[11],
        )
        for row in rows
    ]


def review(
    database: Database,
    reviewer: Principal,
    grant_pk: int,
    outcome: str,
    note: str,
    *,
    now: datetime | None = None,
) -> None:
    """Record the Caldicott guardian's judgement of one use."""
    if not reviewer.caldicott_guardian or reviewer.user_pk is None:
        raise Forbidden("Only a Caldicott guardian reviews break-glass uses")
    if outcome not in REVIEW_OUTCOMES:
        raise InvalidResource(f"The outcome must be one of {', '.join(REVIEW_OUTCOMES)}")
    b = break_glass
    with database.write() as conn:
        row = conn.execute(
            select(b.c.organisation_id, b.c.user_pk).where(b.c.pk == grant_pk)
        ).first()
        if row is None or row[0] != reviewer.organisation_id:
            raise NotFound(f"No break-glass use {grant_pk} at your organisation")
        if row[1] == reviewer.user_pk:
            raise Forbidden("Nobody reviews their own break-glass use; ask another guardian")
        conn.execute(
            update(b)
            .where(b.c.pk == grant_pk)
            .values(
                reviewed_by=reviewer.user_pk,
                reviewed_at=stored_time(now or datetime.now(UTC)),
                review_outcome=outcome,
                review_note=note.strip() or None,
            )
        )
