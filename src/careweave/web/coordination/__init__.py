"""The care coordination pages: caseload, a person's integrated record, their care team and
plan, referrals and tasks, and notifications. Each module owns one group of pages; the domain
they call is careweave.coordination.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from careweave.routing import add_routes
from careweave.web.coordination import (
    care_plan,
    care_team,
    carers,
    caseload,
    discharge,
    mdt,
    notes,
    notifications,
    person,
    referrals,
    social_care,
)


def coordination_router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)
    for module in (
        caseload,
        person,
        care_team,
        care_plan,
        referrals,
        carers,
        social_care,
        discharge,
        mdt,
        notes,
        notifications,
    ):
        add_routes(router, module.router(route_class, styled))
    return router
