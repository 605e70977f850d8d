"""Who has looked at my record: a person's own view of the audit trail about them.

People have a right to know who has seen their health and care record (the NHS Constitution;
UK GDPR Article 15), and seeing it is the best check careweave has that access stays to those
caring for them. A carer sees the page for the person they care for, and is told so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from careweave.access.audit import AccessEntry, who_accessed
from careweave.access.roles import Role
from careweave.store.repository import FhirStore
from careweave.web.pages import render
from careweave.web.signed_in import SignedIn, current_user
from careweave.web.wording import Directory, london_time, role_words, what_was_done

PAGE_SIZE = 50
PEOPLE_ROLES = frozenset({Role.PATIENT, Role.CARER})


@dataclass(frozen=True)
class AccessRow:
    """One line of the table, in the words people read."""

    when: str
    who: str
    role: str
    organisation: str
    what: str
    emergency: bool
    refused: bool


def _row(entry: AccessEntry, signed_in: SignedIn, directory: Directory, whose: str) -> AccessRow:
    yourself = entry.username is not None and entry.username == signed_in.user.username
    return AccessRow(
        when=london_time(entry.when),
        who="You" if yourself else entry.who,
        role="" if yourself else role_words(entry.role),
        organisation=directory.organisation(entry.organisation_id),
        what=what_was_done(entry, whose),
        emergency=entry.break_glass,
        refused=entry.refused,
    )


def my_record_router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)

    @router.get("/my-record/access")
    def who_has_looked(
        request: Request,
        signed_in: Annotated[SignedIn, Depends(current_user)],
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> Response:
        user = signed_in.user
        if user.role not in PEOPLE_ROLES or user.patient_id is None:
            return render(
                "not_allowed.html",
                status_code=403,
                styled=styled,
                signed_in=signed_in,
                title="This page is for people looking at their own record",
                reasons=[
                    "People registered with careweave, and their carers, use this page to see "
                    "who has looked at their record.",
                    "Staff do not have a record of their own here. A Caldicott guardian "
                    "reviews staff access to records for their organisation.",
                ],
            )
        store: FhirStore = request.app.state.store
        directory = Directory(store)
        person = directory.person(user.patient_id)
        entries = who_accessed(
            store.database, user.patient_id, limit=PAGE_SIZE + 1, before_seq=before
        )
        older = entries[PAGE_SIZE - 1].seq if len(entries) > PAGE_SIZE else None
        whose = "their" if user.role is Role.CARER else "your"
        rows = [_row(entry, signed_in, directory, whose) for entry in entries[:PAGE_SIZE]]
        practice = directory.organisation(person.practice_id) if person.practice_id else None
        return render(
            "my_record_access.html",
            styled=styled,
            signed_in=signed_in,
            carer=user.role is Role.CARER,
            person=person,
            rows=rows,
            older=older,
            paged=before is not None,
            practice=practice,
        )

    return router
