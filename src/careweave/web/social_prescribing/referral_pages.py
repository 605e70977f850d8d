"""Referring someone to social prescribing, and what careweave holds of a person's social
prescribing: /people/{id}/social-prescribing lists their referrals (each opens its episode
page) and offers the referral form to those whose role may refer.

The form asks for the reasons (careweave.social_prescribing.pathway_codes.REASONS), what the
referrer wants the link worker to know, how urgent it is and when to answer by. It carries a
one-time token, so sending it twice makes one referral. A second referral for a reason the
person already has an open referral for is refused with a message naming that referral and a
link to it (careweave.social_prescribing.referral_in).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination.record import find, new_submission_token, today
from careweave.coordination.referrals import PRIORITIES, SERVICE_BY_KEY
from careweave.coordination.tasks import MAXIMUM_TEXT_LENGTH
from careweave.social_prescribing.directory import is_directory_record
from careweave.social_prescribing.episode import episodes_for_person
from careweave.social_prescribing.pathway_codes import REASONS
from careweave.social_prescribing.pathway_problems import (
    DuplicateReferral,
    InvalidReferralForm,
    PathwayProblem,
)
from careweave.social_prescribing.referral_in import refer
from careweave.web.coordination.context import StaffPage, render_person_page
from careweave.web.coordination.form_fields import read_date, typed_date
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf
from careweave.web.social_prescribing.common import (
    Page,
    PersonWithPostcode,
    may_refer,
    pathway_settings,
    person_with_postcode,
    problem_errors,
    problem_status,
    uk_day_of,
)

Form = Annotated[dict[str, str], Depends(posted_form)]

FIELDS: Final = {"reasons": "reason", "service": "service", "details": "details"}
"""The domain's field names -> the form's input ids."""
CANNOT_REFER: Final = (
    "Your role cannot make referrals. Ask a colleague in the person's care team to refer them."
)


def social_prescribing_services(page: StaffPage) -> dict[str, str]:
    """Organisations a referral may go to, by name: those of the place, not the community
    organisations of the directory (they are connected to by link workers, not referred to)."""
    found = find(page.access, "Organization", [("active", "true")])
    places = {
        str(o["id"]): str(o.get("name") or o["id"]) for o in found if not is_directory_record(o)
    }
    return dict(sorted(places.items(), key=lambda item: (item[1].casefold(), item[0])))


def person_page(
    page: StaffPage,
    person: PersonWithPostcode,
    template: str,
    *,
    styled: bool,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A page of the person's record about social prescribing."""
    return render_person_page(
        page,
        person.banner,
        f"social_prescribing/{template}",
        "social-prescribing",
        styled=styled,
        status_code=status_code,
        current_section="social-prescribing",
        postcode=person.postcode,
        **context,
    )


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)
    checked = [Depends(require_csrf)]

    @pages.get("/people/{patient_id}/social-prescribing")
    def person_social_prescribing(page: Page, patient_id: str) -> Response:
        person = person_with_postcode(page, patient_id)
        return person_page(
            page,
            person,
            "person.html",
            styled=styled,
            episodes=episodes_for_person(page.access, patient_id),
            may_refer=may_refer(page),
            organisation=page.directory.organisation,
            day_of=uk_day_of,
        )

    def referral_form(
        request: Request,
        page: StaffPage,
        person: PersonWithPostcode,
        typed: dict[str, str],
        *,
        errors: list[FieldError] | None = None,
        duplicate_of: str | None = None,
        status_code: int = 200,
    ) -> Response:
        example = today() + timedelta(days=14)
        return person_page(
            page,
            person,
            "refer.html",
            styled=styled,
            status_code=status_code,
            typed=typed,
            errors=errors or [],
            duplicate_of=duplicate_of,
            services={
                "": "Choose the social prescribing service",
                **social_prescribing_services(page),
            },
            usually_from=SERVICE_BY_KEY["social-prescribing"].usually_from,
            reasons=REASONS,
            chosen=[code for code in REASONS if typed.get(f"reason-{code}") == "yes"],
            priorities=PRIORITIES,
            maximum=MAXIMUM_TEXT_LENGTH,
            self_referral=pathway_settings(request).self_referral,
            example=f"{example.day} {example.month} {example.year}",
        )

    @pages.get("/people/{patient_id}/social-prescribing/refer")
    def show_referral_form(request: Request, page: Page, patient_id: str) -> Response:
        person = person_with_postcode(page, patient_id)
        if not may_refer(page):
            raise PageRefused(403, CANNOT_REFER)
        return referral_form(
            request, page, person, {"token": new_submission_token(), "priority": "routine"}
        )

    @pages.post("/people/{patient_id}/social-prescribing/refer", dependencies=checked)
    def send_referral(request: Request, page: Page, form: Form, patient_id: str) -> Response:
        person = person_with_postcode(page, patient_id)
        if not may_refer(page):
            raise PageRefused(403, CANNOT_REFER)
        typed = {
            "token": form.get("token", "")[:64],
            "service": form.get("service", "")[:64],
            "details": form.get("details", "")[: MAXIMUM_TEXT_LENGTH * 2],
            "priority": form.get("priority", "")[:16],
            "self": form.get("self", "")[:4],
            **{f"reason-{c}": "yes" for c in REASONS if form.get(f"reason-{c}") == "yes"},
            **typed_date(form, "respond_by"),
        }
        respond_by, date_error = read_date(
            form, "respond_by", "Date to respond by", required=False, not_before=today()
        )
        if date_error is not None:
            return referral_form(request, page, person, typed, errors=[date_error], status_code=400)
        try:
            made = refer(
                page.access,
                patient_id,
                service_organisation_id=typed["service"],
                reasons=[c for c in REASONS if typed.get(f"reason-{c}") == "yes"],
                details=typed["details"],
                priority=typed["priority"],
                respond_by=respond_by,
                token=typed["token"],
                self_referral=typed["self"] == "yes",
                settings=pathway_settings(request),
            )
        except InvalidReferralForm as exc:
            errors = [FieldError(FIELDS.get(f or "", f), m) for f, m in exc.problems]
            return referral_form(request, page, person, typed, errors=errors, status_code=400)
        except DuplicateReferral as exc:
            return referral_form(
                request,
                page,
                person,
                typed,
                errors=[FieldError(None, exc.message)],
                duplicate_of=exc.open_referral_id,
                status_code=409,
            )
        except PathwayProblem as exc:
            errors = problem_errors(exc, FIELDS)
            return referral_form(
                request, page, person, typed, errors=errors, status_code=problem_status(exc)
            )
        return RedirectResponse(
            f"/people/{patient_id}/social-prescribing/{made.service_request_id}?done=referred",
            status_code=303,
        )

    return pages
