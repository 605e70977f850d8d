"""The social prescribing pages and the directory of community services (issue 7): finding a
service, keeping the directory up to date, referring someone, the link worker's list, a
person's social prescribing episode, wellbeing, and the service's reports. Each module owns
one group of pages; the domain they call is careweave.social_prescribing.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from careweave.routing import add_routes
from careweave.web.social_prescribing import (
    directory_pages,
    episode_pages,
    referral_pages,
    report_pages,
    upkeep_pages,
    wellbeing_pages,
    worklist_pages,
)


def social_prescribing_router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)
    # Fixed paths before the episode's /people/{id}/social-prescribing/{referral}.
    for module in (
        directory_pages,
        upkeep_pages,
        worklist_pages,
        report_pages,
        referral_pages,
        wellbeing_pages,
        episode_pages,
    ):
        add_routes(router, module.router(route_class, styled))
    return router
