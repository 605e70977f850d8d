"""The notifications page: what happened to the people a member of staff cares for.

Each signed-in member of care staff sees their own notifications (careweave.coordination.
notifications writes them when something meaningful happens), newest first, the unread ones
marked "New", and can mark one or all of them read. A person is named only while the reader
may still see their record; otherwise the row says so and has no link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination import notifications as told
from careweave.web.coordination.context import StaffPage, staff_page
from careweave.web.pages import nhs_number_text, render
from careweave.web.signed_in import FieldError, posted_form, require_csrf
from careweave.web.wording import london_time

HIDDEN_PERSON = "Someone whose record you cannot see now"
NOT_FOUND = "That notification could not be found. Choose one from your list."
DONE = {"all": "All your notifications are marked as read", "one": "Notification marked as read"}


@dataclass(frozen=True)
class NotificationRow:
    """One notification as the page shows it."""

    pk: int
    person: str
    nhs_number: str
    what: str
    text: str
    when: str
    link: str | None
    unread: bool


def _rows(page: StaffPage) -> list[NotificationRow]:
    items = told.notifications_for(page.access.store.database, _user_pk(page))
    people = told.people_named(page.access, {n.patient_id for n in items if n.patient_id})
    rows: list[NotificationRow] = []
    for item in items:
        person = people.get(item.patient_id) if item.patient_id else None
        hidden = item.patient_id is not None and person is None
        rows.append(
            NotificationRow(
                pk=item.pk,
                person=person.name if person else (HIDDEN_PERSON if hidden else ""),
                nhs_number=nhs_number_text(person.nhs_number) if person else "",
                what=item.what,
                text=item.text,
                when=london_time(item.created),
                link=None if hidden else item.link,
                unread=not item.read,
            )
        )
    return rows


def _user_pk(page: StaffPage) -> int:
    return page.signed_in.user.pk


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)

    def list_page(
        page: StaffPage,
        *,
        done: str | None = None,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        rows = _rows(page)
        return render(
            "coordination/notifications.html",
            status_code=status_code,
            styled=styled,
            signed_in=page.signed_in,
            current_section="notifications",
            rows=rows,
            unread=told.unread_count(page.access.store.database, _user_pk(page)),
            most=told.MAX_SHOWN,
            done=DONE.get(done or ""),
            errors=errors or [],
        )

    @router.get("/notifications")
    def show(
        page: Annotated[StaffPage, Depends(staff_page)],
        done: Annotated[str | None, Query(max_length=8)] = None,
    ) -> Response:
        return list_page(page, done=done)

    @router.post("/notifications/read", dependencies=[Depends(require_csrf)])
    def mark_read(
        page: Annotated[StaffPage, Depends(staff_page)],
        form: Annotated[dict[str, str], Depends(posted_form)],
    ) -> Response:
        chosen = form.get("notification", "").strip()
        if not chosen:
            told.mark_read(page.access.store.database, _user_pk(page))
            return RedirectResponse("/notifications?done=all", status_code=303)
        database = page.access.store.database
        if (
            not chosen.isdigit()
            or len(chosen) > 18
            or not told.mark_read(database, _user_pk(page), int(chosen))
        ):
            problem = FieldError(None, NOT_FOUND)
            return list_page(page, errors=[problem], status_code=400)
        return RedirectResponse("/notifications?done=one", status_code=303)

    return router
