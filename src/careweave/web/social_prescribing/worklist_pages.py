"""The social prescribing list (/social-prescribing): for a link worker, referrals waiting for
triage, the people they are working with, connections waiting for an outcome and connections
to services that have closed; for a community organisation's staff, the people connected to
their services; for anyone who refers, the referrals they made and where each got to; and a
search to find someone to refer. What each list holds is in worklist.py.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from careweave.access.roles import Role
from careweave.coordination.finding import MAX_FOUND, SearchProblem, find_people
from careweave.coordination.record import today
from careweave.web.pages import render
from careweave.web.signed_in import FieldError
from careweave.web.social_prescribing.common import Page, directory_index, may_refer
from careweave.web.social_prescribing.worklist import worklist

DONE: Final = {
    "closed": "Support has ended. The referrer has been sent the outcome",
    "rejected": "You have rejected the referral. The referrer has been asked to act",
    "outcome": "The outcome has been recorded",
}


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)

    @pages.get("/social-prescribing")
    def social_prescribing_list(
        request: Request,
        page: Page,
        q: Annotated[str, Query(max_length=200)] = "",
        done: Annotated[str, Query(max_length=12)] = "",
    ) -> Response:
        services = directory_index(request).current().services
        lists = worklist(page.access, services)
        errors: list[FieldError] = []
        found = None
        if q.strip():
            try:
                found = find_people(page.access, q)
            except SearchProblem as problem:
                errors.append(FieldError("q", str(problem)))
        return render(
            "social_prescribing/worklist.html",
            status_code=400 if errors else 200,
            styled=styled,
            signed_in=page.signed_in,
            current_section="social-prescribing",
            lists=lists,
            link_worker=page.signed_in.user.role is Role.LINK_WORKER,
            may_refer=may_refer(page),
            organisation=page.directory.organisation,
            typed=q[:200],
            found=found,
            max_found=MAX_FOUND,
            errors=errors,
            today=today(),
            done=DONE.get(done),
        )

    return pages
