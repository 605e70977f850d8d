"""A person's social care tab: their care packages, Care Act needs assessments and carers'
assessments, and, for social workers, the forms that record them (an assessment, completed or
as a draft to finish later; a care package; its hours and review date; its end; a carer's
assessment).

The pages turn form fields into calls on careweave.coordination.social_care_* and show what
they refuse in the NHS.UK error pattern, keeping what was typed. Forms that create carry a
one-time token, so sending one twice records one thing; forms that change carry the version
the page showed, so a colleague's change meanwhile is shown (409), not overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination.people import PersonBanner
from careweave.coordination.record import new_submission_token, today
from careweave.coordination.referrals import organisations
from careweave.coordination.social_care import social_care_of
from careweave.coordination.social_care_assessments import (
    Assessment,
    CarersAnswers,
    NeedsAnswers,
    assessment_of,
    carers_to_assess,
    check_carers,
    check_needs,
    continue_needs_assessment,
    record_carers_assessment,
    record_needs_assessment,
)
from careweave.coordination.social_care_packages import (
    PACKAGE_TYPES,
    CarePackage,
    PackageRequest,
    change_package,
    check_package,
    end_package,
    package_of,
    record_package,
)
from careweave.coordination.social_care_questionnaires import (
    NEEDS_ASSESSMENT,
    OUTCOMES,
    QUESTIONS,
)
from careweave.coordination.social_care_rules import (
    MAXIMUM_TEXT_LENGTH,
    InvalidSocialCare,
    Problem,
    may_record,
)
from careweave.fhir.errors import NotFound, VersionConflict
from careweave.fhir.resource_types import is_fhir_id
from careweave.web.coordination.context import StaffPage, person_of, render_person_page, staff_page
from careweave.web.coordination.form_fields import form_version, read_date, typed_date
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf

Page = Annotated[StaffPage, Depends(staff_page)]
Form = Annotated[dict[str, str], Depends(posted_form)]

DONE: Final[dict[str, str]] = {
    "assessed": "The needs assessment has been recorded",
    "draft": "The needs assessment has been saved as a draft",
    "package": "The care package has been recorded",
    "changed": "The care package has been changed",
    "ended": "The care package has been ended",
    "carer-assessed": "The carer's assessment has been recorded",
}
"""The success banner a change redirects to (the social care page's `done` query value)."""
NOT_FOUND: Final = "If you typed the web address, check it is correct."
NOT_YOURS: Final = (
    "Care Act assessments and care packages are recorded by the council's social workers. "
    "You can see them on the person's social care page."
)
WRITES: Final = ("QuestionnaireResponse", "ServiceRequest", "EpisodeOfCare")
NEEDS_ORDER: Final = ("assessed_on", "unable", "impairment", "wellbeing_impact", "eligible")
PACKAGE_ORDER: Final = ("type", "hours", "provider", "start", "review", "end", "reason")
CARER_ORDER: Final = (
    "carer",
    "assessed_on",
    "sustainable",
    "wellbeing_impact",
    "outcomes_wanted",
    "eligible",
    "support_agreed",
)


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _eligible(value: str) -> bool | None:
    return {"eligible": True, "not-eligible": False}.get(value)


def _errors(
    problems: list[Problem], date_errors: list[FieldError], order: tuple[str, ...]
) -> list[FieldError]:
    """The domain's problems and the date fields' own errors, one per field, in form order."""
    dated = {e.field for e in date_errors}
    errors = [*date_errors] + [
        FieldError(p.field, p.message) for p in problems if p.field not in dated
    ]
    return sorted(errors, key=lambda e: order.index(e.field) if e.field in order else len(order))


def _dated(
    form: Mapping[str, str], name: str, what: str, *, not_after: date | None = None
) -> tuple[date | None, list[FieldError]]:
    value, error = read_date(form, name, what, not_after=not_after)
    return value, [error] if error else []


# -- what the forms typed ----------------------------------------------------------------------


def needs_typed(form: Mapping[str, str]) -> dict[str, str]:
    typed = {
        "impairment": form.get("impairment", "")[:8],
        "wellbeing_impact": form.get("wellbeing_impact", "")[:8],
        "eligible": form.get("eligible", "")[:16],
        "summary": form.get("summary", "")[: MAXIMUM_TEXT_LENGTH * 2],
        "token": form.get("token", "")[:64],
        "version": form.get("version", "")[:12],
        **typed_date(form, "assessed_on"),
    }
    for outcome in OUTCOMES:
        name = f"unable-{outcome.key}"
        typed[name] = "yes" if form.get(name) == "yes" else ""
    return typed


def needs_answers(
    typed: Mapping[str, str], assessed_on: date | None, complete: bool
) -> NeedsAnswers:
    return NeedsAnswers(
        assessed_on=assessed_on,
        unable=frozenset(o.key for o in OUTCOMES if typed.get(f"unable-{o.key}") == "yes"),
        impairment=_yes_no(typed["impairment"]),
        wellbeing_impact=_yes_no(typed["wellbeing_impact"]),
        eligible=_eligible(typed["eligible"]),
        summary=typed["summary"],
        complete=complete,
    )


def typed_from_assessment(assessment: Assessment) -> dict[str, str]:
    """A draft's answers, to fill its form in again."""

    def yes_no(value: bool | None) -> str:
        return "" if value is None else ("yes" if value else "no")

    typed = {
        "impairment": yes_no(assessment.impairment),
        "wellbeing_impact": yes_no(assessment.wellbeing_impact),
        "eligible": ""
        if assessment.eligible is None
        else ("eligible" if assessment.eligible else "not-eligible"),
        "summary": assessment.summary or "",
        "version": str(assessment.version),
    }
    if assessment.assessed_on:
        day = assessment.assessed_on
        typed.update(
            {
                "assessed_on-day": str(day.day),
                "assessed_on-month": str(day.month),
                "assessed_on-year": str(day.year),
            }
        )
    for outcome in OUTCOMES:
        typed[f"unable-{outcome.key}"] = "yes" if outcome.key in assessment.unable_keys else ""
    return typed


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)
    checked = [Depends(require_csrf)]

    def person_page(
        page: StaffPage,
        person: PersonBanner,
        template: str,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        return render_person_page(
            page,
            person,
            f"coordination/{template}",
            "social-care",
            styled=styled,
            status_code=status_code,
            maximum=MAXIMUM_TEXT_LENGTH,
            **context,
        )

    def back(patient_id: str, done: str) -> Response:
        return RedirectResponse(f"/people/{patient_id}/social-care?done={done}", status_code=303)

    def recorder(page: StaffPage) -> None:
        """Only those who record social care get its forms."""
        if not may_record(page.access, *WRITES):
            raise PageRefused(403, NOT_YOURS)

    def example(day: date) -> str:
        return f"{day.day} {day.month} {day.year}"

    # -- the picture ----------------------------------------------------------------------

    @pages.get("/people/{patient_id}/social-care")
    def show_social_care(page: Page, patient_id: str, done: str | None = None) -> Response:
        person = person_of(page, patient_id)
        return person_page(
            page,
            person,
            "social_care.html",
            picture=social_care_of(page.access, patient_id),
            done=DONE.get(done or ""),
            may_record=may_record(page.access, *WRITES),
            today=today(),
        )

    # -- needs assessments -----------------------------------------------------------------

    def needs_form(
        page: StaffPage,
        person: PersonBanner,
        *,
        typed: dict[str, str],
        draft: Assessment | None = None,
        errors: list[FieldError] | None = None,
        conflict: Assessment | None = None,
        status_code: int = 200,
    ) -> Response:
        return person_page(
            page,
            person,
            "social_care_assessment.html",
            status_code=status_code,
            typed=typed,
            draft=draft,
            errors=errors or [],
            conflict=conflict,
            outcomes=OUTCOMES,
            questions=QUESTIONS,
            example=example(today()),
        )

    def read_needs(
        form: Mapping[str, str],
    ) -> tuple[dict[str, str], NeedsAnswers, list[FieldError]]:
        typed = needs_typed(form)
        complete = form.get("action") != "draft"
        assessed_on, date_errors = _dated(
            form, "assessed_on", "Date of the assessment", not_after=today()
        )
        answers = needs_answers(typed, assessed_on, complete)
        return typed, answers, _errors(check_needs(answers), date_errors, NEEDS_ORDER)

    @pages.get("/people/{patient_id}/social-care/assessments/new")
    def new_needs_assessment(page: Page, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        recorder(page)
        return needs_form(page, person, typed={"token": new_submission_token()})

    @pages.post("/people/{patient_id}/social-care/assessments/new", dependencies=checked)
    def save_needs_assessment(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        recorder(page)
        typed, answers, errors = read_needs(form)
        if not errors:
            try:
                record_needs_assessment(page.access, patient_id, answers, typed["token"])
            except InvalidSocialCare as exc:
                errors = [FieldError(p.field, p.message) for p in exc.problems]
            else:
                return back(patient_id, "assessed" if answers.complete else "draft")
        return needs_form(page, person, typed=typed, errors=errors, status_code=400)

    def one_assessment(page: StaffPage, patient_id: str, response_id: str) -> Assessment:
        if not is_fhir_id(response_id):
            raise PageRefused(404, NOT_FOUND)
        try:
            return assessment_of(page.access, patient_id, response_id)
        except NotFound:
            raise PageRefused(404, NOT_FOUND) from None

    @pages.get("/people/{patient_id}/social-care/assessments/{response_id}")
    def show_assessment(page: Page, patient_id: str, response_id: str) -> Response:
        person = person_of(page, patient_id)
        assessment = one_assessment(page, patient_id, response_id)
        if (
            assessment.draft
            and assessment.kind == NEEDS_ASSESSMENT
            and may_record(page.access, *WRITES)
        ):
            return needs_form(
                page, person, typed=typed_from_assessment(assessment), draft=assessment
            )
        return person_page(
            page,
            person,
            "social_care_assessment_view.html",
            assessment=assessment,
            outcomes=OUTCOMES,
            questions=QUESTIONS,
        )

    @pages.post("/people/{patient_id}/social-care/assessments/{response_id}", dependencies=checked)
    def continue_assessment(page: Page, form: Form, patient_id: str, response_id: str) -> Response:
        person = person_of(page, patient_id)
        recorder(page)
        draft = one_assessment(page, patient_id, response_id)
        typed, answers, errors = read_needs(form)
        if not errors:
            try:
                continue_needs_assessment(
                    page.access, patient_id, response_id, answers, form_version(form)
                )
            except VersionConflict:
                now = one_assessment(page, patient_id, response_id)
                typed["version"] = str(now.version)
                return needs_form(
                    page, person, typed=typed, draft=now, conflict=now, status_code=409
                )
            except InvalidSocialCare as exc:
                errors = [FieldError(p.field, p.message) for p in exc.problems]
            else:
                return back(patient_id, "assessed" if answers.complete else "draft")
        return needs_form(page, person, typed=typed, draft=draft, errors=errors, status_code=400)

    # -- care packages ---------------------------------------------------------------------

    def package_form(
        page: StaffPage,
        person: PersonBanner,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        return person_page(
            page,
            person,
            "social_care_package_new.html",
            status_code=status_code,
            typed=typed,
            errors=errors or [],
            type_choices=[(kind.code, kind.name) for kind in PACKAGE_TYPES],
            type_hints={kind.code: kind.hint for kind in PACKAGE_TYPES},
            providers=organisations(page.access),
            example=example(today()),
        )

    @pages.get("/people/{patient_id}/social-care/packages/new")
    def new_package(page: Page, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        recorder(page)
        return package_form(page, person, typed={"token": new_submission_token()})

    @pages.post("/people/{patient_id}/social-care/packages/new", dependencies=checked)
    def save_package(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        recorder(page)
        typed = {
            "type": form.get("type", "")[:64],
            "hours": form.get("hours", "")[:16],
            "provider": form.get("provider", "")[:64],
            "token": form.get("token", "")[:64],
            **typed_date(form, "start"),
            **typed_date(form, "review"),
        }
        start, start_errors = _dated(form, "start", "Start date")
        review, review_errors = _dated(form, "review", "Review date")
        asked = PackageRequest(typed["type"], typed["hours"], typed["provider"], start, review)
        _, problems = check_package(page.access, asked)
        errors = _errors(problems, start_errors + review_errors, PACKAGE_ORDER)
        if not errors:
            try:
                record_package(page.access, patient_id, asked, typed["token"])
            except InvalidSocialCare as exc:
                errors = [FieldError(p.field, p.message) for p in exc.problems]
            else:
                return back(patient_id, "package")
        return package_form(page, person, typed=typed, errors=errors, status_code=400)

    def one_package(page: StaffPage, patient_id: str, request_id: str) -> CarePackage:
        if not is_fhir_id(request_id):
            raise PageRefused(404, NOT_FOUND)
        try:
            return package_of(page.access, patient_id, request_id)
        except NotFound:
            raise PageRefused(404, NOT_FOUND) from None

    def package_page(
        page: StaffPage,
        person: PersonBanner,
        package: CarePackage,
        *,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        conflict: CarePackage | None = None,
        status_code: int = 200,
    ) -> Response:
        shown = {
            "hours": "" if package.hours_per_week is None else f"{package.hours_per_week:g}",
            "version": str(package.version),
            "end_version": str(package.version),
        }
        if package.review:
            shown.update(
                {
                    "review-day": str(package.review.day),
                    "review-month": str(package.review.month),
                    "review-year": str(package.review.year),
                }
            )
        shown.update(typed or {})
        return person_page(
            page,
            person,
            "social_care_package.html",
            status_code=status_code,
            package=package,
            typed=shown,
            errors=errors or [],
            conflict=conflict,
            may_record=may_record(page.access, *WRITES),
            example=example(today()),
            today=today(),
        )

    def write_package(
        page: StaffPage,
        person: PersonBanner,
        request_id: str,
        package: CarePackage,
        typed: dict[str, str],
        errors: list[FieldError],
        write: Callable[[], object],
        *,
        version_field: str,
        done: str,
    ) -> Response:
        """Change or end a package when the form is sound: a change someone else made
        meanwhile is shown with what was typed (409), a refusal in the error pattern (400)."""
        if not errors:
            try:
                write()
            except VersionConflict:
                now = one_package(page, person.patient_id, request_id)
                typed[version_field] = str(now.version)
                return package_page(page, person, now, typed=typed, conflict=now, status_code=409)
            except InvalidSocialCare as exc:
                errors = [FieldError(p.field, p.message) for p in exc.problems]
            else:
                return back(person.patient_id, done)
        return package_page(
            page,
            person,
            package,
            typed=typed,
            errors=_errors([], errors, PACKAGE_ORDER),
            status_code=400,
        )

    @pages.get("/people/{patient_id}/social-care/packages/{request_id}")
    def show_package(page: Page, patient_id: str, request_id: str) -> Response:
        person = person_of(page, patient_id)
        return package_page(page, person, one_package(page, patient_id, request_id))

    @pages.post("/people/{patient_id}/social-care/packages/{request_id}", dependencies=checked)
    def save_package_change(page: Page, form: Form, patient_id: str, request_id: str) -> Response:
        person = person_of(page, patient_id)
        recorder(page)
        package = one_package(page, patient_id, request_id)
        typed = {
            "hours": form.get("hours", "")[:16],
            "version": form.get("version", "")[:12],
            **typed_date(form, "review"),
        }
        review, date_errors = _dated(form, "review", "Review date")
        return write_package(
            page,
            person,
            request_id,
            package,
            typed,
            list(date_errors),
            lambda: change_package(
                page.access, patient_id, request_id, typed["hours"], review, form_version(form)
            ),
            version_field="version",
            done="changed",
        )

    @pages.post("/people/{patient_id}/social-care/packages/{request_id}/end", dependencies=checked)
    def save_package_end(page: Page, form: Form, patient_id: str, request_id: str) -> Response:
        person = person_of(page, patient_id)
        recorder(page)
        package = one_package(page, patient_id, request_id)
        typed = {
            "reason": form.get("reason", "")[: MAXIMUM_TEXT_LENGTH * 2],
            "end_version": form.get("version", "")[:12],
            **typed_date(form, "end"),
        }
        end, date_errors = _dated(form, "end", "End date", not_after=today())
        return write_package(
            page,
            person,
            request_id,
            package,
            typed,
            list(date_errors),
            lambda: end_package(
                page.access, patient_id, request_id, end, typed["reason"], form_version(form)
            ),
            version_field="end_version",
            done="ended",
        )

    # -- carers' assessments ---------------------------------------------------------------

    def carers_form(
        page: StaffPage,
        person: PersonBanner,
        patient_id: str,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        return person_page(
            page,
            person,
            "social_care_carers_assessment.html",
            status_code=status_code,
            typed=typed,
            errors=errors or [],
            carers=carers_to_assess(page.access, patient_id),
            questions=QUESTIONS,
            example=example(today()),
        )

    @pages.get("/people/{patient_id}/social-care/carers-assessments/new")
    def new_carers_assessment(page: Page, patient_id: str, carer: str | None = None) -> Response:
        person = person_of(page, patient_id)
        recorder(page)
        typed = {"token": new_submission_token(), "carer": (carer or "")[:64]}
        return carers_form(page, person, patient_id, typed=typed)

    @pages.post("/people/{patient_id}/social-care/carers-assessments/new", dependencies=checked)
    def save_carers_assessment(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        recorder(page)
        typed = {
            name: form.get(name, "")[: MAXIMUM_TEXT_LENGTH * 2]
            for name in ("wellbeing_impact", "outcomes_wanted", "support_agreed")
        }
        typed.update(
            {
                "carer": form.get("carer", "")[:64],
                "sustainable": form.get("sustainable", "")[:8],
                "eligible": form.get("eligible", "")[:16],
                "token": form.get("token", "")[:64],
                **typed_date(form, "assessed_on"),
            }
        )
        assessed_on, date_errors = _dated(
            form, "assessed_on", "Date of the assessment", not_after=today()
        )
        answers = CarersAnswers(
            related_person_id=typed["carer"],
            assessed_on=assessed_on,
            sustainable=_yes_no(typed["sustainable"]),
            wellbeing_impact=typed["wellbeing_impact"],
            outcomes_wanted=typed["outcomes_wanted"],
            eligible=_eligible(typed["eligible"]),
            support_agreed=typed["support_agreed"],
        )
        errors = _errors(check_carers(answers), date_errors, CARER_ORDER)
        if not errors:
            try:
                record_carers_assessment(page.access, patient_id, answers, typed["token"])
            except InvalidSocialCare as exc:
                errors = _errors(list(exc.problems), [], CARER_ORDER)
            else:
                return back(patient_id, "carer-assessed")
        return carers_form(page, person, patient_id, typed=typed, errors=errors, status_code=400)

    return pages
