"""Finding a community service (/directory) and each service's own page.

The search is a GET form read by service_finder.py and answered from the server's in-memory
directory (careweave.social_prescribing.directory_index): need, distance from a postcode
(the person's own when the page is opened from their record), open on a day and time, and
accessibility; results nearest first with the distance in miles. Entries not checked for six
months are marked "Not checked for over 6 months" in words, not by colour alone.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from careweave.access.policy import may_update_entry
from careweave.coordination.record import today
from careweave.social_prescribing.directory import CommunityService
from careweave.social_prescribing.directory_codes import (
    ACCESSIBILITY,
    COST_KINDS,
    NEEDS,
    REFERRAL_METHODS,
)
from careweave.social_prescribing.directory_staleness import (
    is_stale,
    stale_by_organisation,
    stale_from,
)
from careweave.web.pages import render
from careweave.web.signed_in import PageRefused
from careweave.web.social_prescribing.common import (
    NOT_FOUND,
    AnyStaff,
    checked_id,
    directory_index,
    person_with_postcode,
)
from careweave.web.social_prescribing.service_finder import (
    DAY_CHOICES,
    DISTANCES,
    read_search,
    run_search,
)

SERVICE_DONE: Final = {
    "checked": "The entry is recorded as checked and still correct",
    "changed": "The entry has been changed",
    "closed": "The service is recorded as closed. Its history is kept",
}


def last_checked_words(service: CommunityService) -> str:
    """ "Checked 1 June 2026", or "Never checked"."""
    if service.last_checked is None:
        return "Never checked"
    return f"Checked {service.last_checked.day} {service.last_checked:%B %Y}"


def finder_context() -> dict[str, Any]:
    """The choices every page with the search form offers."""
    return {
        "needs": NEEDS,
        "accessibility": ACCESSIBILITY,
        "distances": DISTANCES,
        "day_choices": DAY_CHOICES,
        "methods": REFERRAL_METHODS,
        "cost_kinds": COST_KINDS,
        "is_stale": is_stale,
        "stale_from": stale_from,
        "last_checked_words": last_checked_words,
    }


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)

    @pages.get("/directory")
    def find_a_service(request: Request, page: AnyStaff, person: str = "") -> Response:
        about = person_with_postcode(page, person) if person else None
        asked = read_search(request.query_params, about.postcode if about else None)
        index = directory_index(request)
        run_search(index, asked)
        own = page.signed_in.user.organisation_id
        stale = stale_by_organisation(index.current(), today()) if own else []
        return render(
            "social_prescribing/directory.html",
            status_code=400 if asked.errors else 200,
            styled=styled,
            signed_in=page.signed_in,
            current_section="directory",
            asked=asked,
            errors=asked.errors,
            person=about,
            today=today(),
            own_due=next((s for s in stale if s.organisation_id == own), None),
            **finder_context(),
        )

    @pages.get("/directory/services/{service_id}")
    def service_page(request: Request, page: AnyStaff, service_id: str, done: str = "") -> Response:
        directory = directory_index(request).current()
        service = directory.services.get(checked_id(service_id))
        if service is None:
            raise PageRefused(404, NOT_FOUND)
        organisation = directory.organisation_of(service)
        own = page.signed_in.user.organisation_id == service.organisation_id
        return render(
            "social_prescribing/service.html",
            styled=styled,
            signed_in=page.signed_in,
            current_section="directory",
            service=service,
            organisation=organisation,
            venues=directory.venues_of(service),
            today=today(),
            done=SERVICE_DONE.get(done),
            may_change=may_update_entry(page.access.principal, service.organisation_id),
            own_organisation=own,
            **finder_context(),
        )

    return pages
