"""A person's integrated record: the summary page (everything about them across organisations,
each item with where it came from and when) and their timeline (everything that happened,
newest first, filtered by kind and paged).

Both pages read the record through careweave.coordination.summary and .timeline, which read it
with one guarded search; the banner comes from the Patient read with it, so opening the page
is one recorded look at the record rather than several. A person the user has no relationship
with is "Page not found", exactly as one that does not exist.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.routing import APIRoute
from starlette.responses import Response

from careweave.coordination.people import PersonBanner
from careweave.coordination.summary import When, person_summary
from careweave.coordination.timeline import KINDS, CursorError, page_of, person_timeline
from careweave.fhir.resource_types import is_fhir_id
from careweave.web.coordination.context import StaffPage, staff_page
from careweave.web.pages import render, uk_date
from careweave.web.signed_in import PageRefused
from careweave.web.wording import london_time

_NOT_FOUND = "If you typed the web address, check it is correct."


def day_text(when: When | None) -> str:
    """The day of `when` as precisely as it was recorded: "2004", "October 2004" or
    "14 October 2004" ("" for none)."""
    if when is None:
        return ""
    day = when.day
    if when.precision == "year":
        return str(day.year)
    if when.precision == "month":
        return f"{day:%B %Y}"
    return uk_date(day)


def moment_text(when: When | None) -> str:
    """As day_text, with the UK time when one was recorded."""
    if when is not None and when.precision == "time":
        return london_time(when.instant)
    return day_text(when)


def _checked_id(patient_id: str) -> str:
    if not is_fhir_id(patient_id):
        raise PageRefused(404, _NOT_FOUND)
    return patient_id


def _practice(page: StaffPage, person: PersonBanner) -> str:
    return page.directory.organisation(person.practice_id)


def timeline_link(patient_id: str, kinds: list[str], after: str | None = None) -> str:
    """The timeline's address with the chosen kinds (and a paging position)."""
    query: list[tuple[str, str]] = [("kind", kind) for kind in kinds]
    if after:
        query.append(("after", after))
    return f"/people/{patient_id}/timeline" + (f"?{urlencode(query)}" if query else "")


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)

    @router.get("/people/{patient_id}")
    def summary_page(patient_id: str, page: Annotated[StaffPage, Depends(staff_page)]) -> Response:
        summary = person_summary(page.access, _checked_id(patient_id))
        return render(
            "coordination/person_summary.html",
            styled=styled,
            signed_in=page.signed_in,
            person=summary.person,
            practice=_practice(page, summary.person),
            record_tab="summary",
            summary=summary,
            day_text=day_text,
        )

    @router.get("/people/{patient_id}/timeline")
    def timeline_page(
        patient_id: str,
        page: Annotated[StaffPage, Depends(staff_page)],
        kind: Annotated[list[str] | None, Query()] = None,
        after: Annotated[str | None, Query(max_length=400)] = None,
    ) -> Response:
        timeline = person_timeline(page.access, _checked_id(patient_id))
        kinds = [k for k in dict.fromkeys(kind or ()) if k in KINDS]
        try:
            shown = page_of(timeline.entries, kinds, after)
        except CursorError as exc:
            raise PageRefused(400, f"{exc}: go back to the newest entries.") from None
        return render(
            "coordination/timeline.html",
            styled=styled,
            signed_in=page.signed_in,
            person=timeline.person,
            practice=_practice(page, timeline.person),
            record_tab="timeline",
            shown=shown,
            kinds=KINDS,
            chosen=kinds,
            paged=bool(after),
            newest_link=timeline_link(patient_id, kinds),
            older_link=(
                timeline_link(patient_id, kinds, shown.next_cursor) if shown.next_cursor else None
            ),
            moment_text=moment_text,
        )

    return router
