"""The caseload, a member of staff's landing page (/caseload), and "Find a person" (/people).

Both are GET pages: the caseload's filters and the search box are GET forms, so a filtered
list or a search can be bookmarked, reloaded and shared with no JavaScript, and nothing is
changed by either. What is shown comes from careweave.coordination.caseload and .finding,
through the user's access rules.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.routing import APIRoute
from starlette.responses import Response

from careweave.coordination.caseload import (
    MAX_CASELOAD,
    MAX_REFERRALS,
    CaseloadFilters,
    caseload,
)
from careweave.coordination.finding import MAX_FOUND, PersonQuery, SearchProblem, find_people
from careweave.web.coordination.context import StaffPage, staff_page
from careweave.web.pages import nhs_number_text, render, uk_date
from careweave.web.signed_in import FieldError

FRAILTY_CHOICES = {
    "mild": "Mild frailty",
    "moderate": "Moderate frailty",
    "severe": "Severe frailty",
    "none": "No frailty recorded",
}
TICKED = "yes"
OPEN_QUOTE = "\N{LEFT SINGLE QUOTATION MARK}"
CLOSE_QUOTE = "\N{RIGHT SINGLE QUOTATION MARK}"


def counted(number: int, one: str, many: str) -> str:
    """ "1 person", "12 people"."""
    return f"{number:,} {one if number == 1 else many}"


def address(filters: CaseloadFilters, page: int) -> str:
    """The caseload's address showing `page` with `filters` (so paging keeps them)."""
    query = [
        (name, value)
        for name, value in (
            ("practice", filters.practice or ""),
            ("frailty", filters.frailty or ""),
            ("discharged", TICKED if filters.recently_discharged else ""),
            ("no_review", TICKED if filters.no_recent_review else ""),
            ("page", str(page) if page > 1 else ""),
        )
        if value
    ]
    return "/caseload" + (f"?{urlencode(query)}" if query else "")


def described(query: PersonQuery) -> str:
    """What was searched for, as the results say it: "NHS number 999 000 0018"."""
    if query.kind == "nhs-number":
        return f"NHS number {nhs_number_text(query.nhs_number)}"
    if query.kind == "date-of-birth":
        return f"date of birth {uk_date(query.birth_date)}"
    return f"the name {OPEN_QUOTE}{' '.join(query.words)}{CLOSE_QUOTE}"


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)

    @router.get("/caseload")
    def show_caseload(
        page: Annotated[StaffPage, Depends(staff_page)],
        practice: Annotated[str, Query()] = "",
        frailty: Annotated[str, Query()] = "",
        discharged: Annotated[str, Query()] = "",
        no_review: Annotated[str, Query()] = "",
        page_number: Annotated[str, Query(alias="page")] = "",
    ) -> Response:
        asked = CaseloadFilters(
            practice=practice or None,
            frailty=frailty or None,
            recently_discharged=discharged == TICKED,
            no_recent_review=no_review == TICKED,
        )
        number = int(page_number) if page_number.isascii() and page_number.isdigit() else 1
        found = caseload(page.access, asked, page=min(number, 10**6))
        organisation = page.signed_in.user.organisation_id
        names = {
            org_id: page.directory.organisation(org_id)
            for org_id in {
                *found.practices,
                *(p.person.practice_id for p in found.people if p.person.practice_id),
                *(t.from_organisation_id for t in found.tasks if t.from_organisation_id),
                *(r.to_organisation_id for r in found.referrals if r.to_organisation_id),
                *([organisation] if organisation else []),
            }
        }
        summary = [counted(found.matching, "person", "people")] if found.has_post else []
        summary.append(counted(found.overdue_tasks, "overdue task", "overdue tasks"))
        return render(
            "coordination/caseload.html",
            styled=styled,
            signed_in=page.signed_in,
            caseload=found,
            names=names,
            organisation=names.get(organisation or "", "your organisation"),
            summary=", ".join(summary),
            frailty_choices=FRAILTY_CHOICES,
            ticked=TICKED,
            max_caseload=MAX_CASELOAD,
            max_referrals=MAX_REFERRALS,
            previous_page=address(found.filters, found.page - 1) if found.page > 1 else None,
            next_page=address(found.filters, found.page + 1) if found.page < found.pages else None,
        )

    @router.get("/people")
    def find_a_person(
        page: Annotated[StaffPage, Depends(staff_page)],
        q: Annotated[str, Query()] = "",
    ) -> Response:
        typed = q[:200]
        try:
            found = find_people(page.access, q)
        except SearchProblem as problem:
            return render(
                "coordination/find_person.html",
                status_code=400,
                styled=styled,
                signed_in=page.signed_in,
                typed=typed,
                errors=[FieldError("q", str(problem))],
                found=None,
                searched_for="",
                practices={},
                max_found=MAX_FOUND,
            )
        practices = {}
        searched_for = ""
        if found is not None:
            practices = {
                p.practice_id: page.directory.organisation(p.practice_id)
                for p in found.people
                if p.practice_id
            }
            searched_for = described(found.query)
        return render(
            "coordination/find_person.html",
            styled=styled,
            signed_in=page.signed_in,
            typed=typed,
            found=found,
            searched_for=searched_for,
            practices=practices,
            max_found=MAX_FOUND,
        )

    return router
