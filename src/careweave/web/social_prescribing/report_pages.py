"""The social prescribing service's report (/social-prescribing/reports), for analysts: a GET
form (which service, which period) and the report as accessible tables.

The figures come from careweave.social_prescribing.service_reports, a planning read (analysts
only; people with a national data opt-out left out; each person read is audited) published
with small numbers suppressed: a count under 10 is shown as "<10", and a figure built on too
few people is "Not shown". Nothing here computes a number.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from careweave.access.roles import Role
from careweave.coordination.record import find, today
from careweave.population.suppression import THRESHOLD
from careweave.social_prescribing.directory import is_directory_record
from careweave.social_prescribing.directory_codes import NEEDS
from careweave.social_prescribing.pathway_codes import OUTCOMES, REASONS
from careweave.social_prescribing.pathway_problems import PathwayProblem
from careweave.social_prescribing.service_reports import service_report
from careweave.social_prescribing.wellbeing import ONS4_NAMES
from careweave.web.coordination.context import StaffPage
from careweave.web.coordination.form_fields import read_date
from careweave.web.pages import render
from careweave.web.signed_in import FieldError, PageRefused
from careweave.web.social_prescribing.common import any_staff_page

FOR_ANALYSTS: Final = (
    "Service reports are made by analysts: they draw on everyone's records, so they are not "
    "part of anyone's direct care. Ask your organisation's analyst for the report."
)
DATE_PARTS: Final = ("day", "month", "year")


def analyst_page(page: Annotated[StaffPage, Depends(any_staff_page)]) -> StaffPage:
    if page.signed_in.user.role is not Role.ANALYST:
        raise PageRefused(403, FOR_ANALYSTS)
    return page


def services(page: StaffPage) -> dict[str, str]:
    """The place's organisations (not the directory's community organisations), by name."""
    found = find(page.access, "Organization", [("active", "true")])
    named = {
        str(o["id"]): str(o.get("name") or o["id"]) for o in found if not is_directory_record(o)
    }
    return dict(sorted(named.items(), key=lambda item: (item[1].casefold(), item[0])))


def _date_fields(name: str, day: date) -> dict[str, str]:
    return {
        f"{name}-day": str(day.day),
        f"{name}-month": str(day.month),
        f"{name}-year": str(day.year),
    }


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)

    @pages.get("/social-prescribing/reports")
    def report(request: Request, page: Annotated[StaffPage, Depends(analyst_page)]) -> Response:
        query = request.query_params
        choices = services(page)
        asked = query.get("searched") == "yes"
        day = today()
        typed: dict[str, str] = {
            "service": query.get("service", page.signed_in.user.organisation_id or "")[:64]
        }
        if asked:
            for name in ("start", "end"):
                typed.update({f"{name}-{p}": query.get(f"{name}-{p}", "")[:8] for p in DATE_PARTS})
        else:
            typed.update(_date_fields("start", date(day.year - 1, day.month, 1)))
            typed.update(_date_fields("end", day))
        errors: list[FieldError] = []
        published = None
        if asked:
            if typed["service"] not in choices:
                errors.append(FieldError("service", "Choose the social prescribing service"))
            start, problem = read_date(typed, "start", "Start date")
            if problem:
                errors.append(problem)
            end, problem = read_date(typed, "end", "End date")
            if problem:
                errors.append(problem)
            if not errors and start is not None and end is not None:
                try:
                    published = service_report(page.access, typed["service"], start, end)
                except PathwayProblem as exc:
                    errors.append(FieldError(exc.field, exc.message))
        return render(
            "social_prescribing/report.html",
            status_code=400 if errors else 200,
            styled=styled,
            signed_in=page.signed_in,
            current_section="reports",
            services={"": "Choose the service", **choices},
            typed=typed,
            errors=errors,
            report=published,
            service_name=choices.get(typed["service"], ""),
            reasons=REASONS,
            needs=NEEDS,
            outcomes=OUTCOMES,
            ons4_names=ONS4_NAMES,
            smallest=THRESHOLD,
        )

    return pages
