"""Referrals and tasks pages: a person's referrals and open tasks, the form to refer them to
another organisation, and one task's page, where each side sees where it stands and does what
is theirs to do (accept, reject, start, complete, take it on, cancel, close).

The pages turn form fields into calls on careweave.coordination.referrals and show what it
refuses in the NHS.UK error pattern. The referral form carries a one-time token, so sending it
twice makes one referral; every action carries the task version the page showed, so a change
someone else made meanwhile is reported instead of overwritten.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination.discharge import DischargeProblem, discharge_to_refer_from
from careweave.coordination.people import PersonBanner
from careweave.coordination.record import new_submission_token, today
from careweave.coordination.referrals import (
    PRIORITIES,
    SERVICES,
    InvalidReferral,
    TaskDetails,
    check_referral,
    make_referral,
    organisations,
    other_open_tasks,
    referrals_for_person,
    take_action,
    task_details,
)
from careweave.coordination.tasks import MAXIMUM_TEXT_LENGTH, TaskAction, TaskProblem
from careweave.fhir.resource_types import is_fhir_id
from careweave.web.coordination.context import (
    StaffPage,
    may,
    person_of,
    render_person_page,
    staff_page,
)
from careweave.web.coordination.form_fields import form_version, read_date, typed_date
from careweave.web.pages import render
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf
from careweave.web.wording import london_time

Page = Annotated[StaffPage, Depends(staff_page)]
Form = Annotated[dict[str, str], Depends(posted_form)]

DONE: Final[dict[str, str]] = {
    "referred": "Your referral has been sent",
    "accept": "You have accepted this referral",
    "reject": "You have rejected this referral. The team that made it has been asked to act",
    "start": "You have started this work",
    "complete": "You have marked this as completed",
    "assign-to-me": "This has been assigned to you",
    "cancel": "This has been cancelled",
    "close": "This referral has been closed",
}
"""The success banner a change redirects to (the task page's `done` query value)."""
ACTION_FIELDS: Final = {"reason", "outcome"}
NOT_FOUND: Final = "If you typed the web address, check it is correct."


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
            "referrals",
            styled=styled,
            status_code=status_code,
            **context,
        )

    # -- a person's referrals and tasks ---------------------------------------------------

    @pages.get("/people/{patient_id}/referrals")
    def show_referrals(page: Page, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        day = today()
        return person_page(
            page,
            person,
            "referrals.html",
            referrals=referrals_for_person(page.access, patient_id, day),
            tasks=other_open_tasks(page.access, patient_id, day),
            organisation=page.directory.organisation,
            may_refer=may(page, "create", "ServiceRequest"),
        )

    # -- making a referral ----------------------------------------------------------------

    def referral_form(
        page: StaffPage,
        person: PersonBanner,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
        from_stay: str | None = None,
    ) -> Response:
        example = today() + timedelta(days=14)
        return person_page(
            page,
            person,
            "referral_new.html",
            status_code=status_code,
            typed=typed,
            errors=errors or [],
            service_choices=[(service.key, service.name) for service in SERVICES],
            service_hints={service.key: service.usually_from for service in SERVICES},
            priorities=PRIORITIES,
            organisations=organisations(page.access),
            maximum=MAXIMUM_TEXT_LENGTH,
            example=f"{example.day} {example.month} {example.year}",
            from_stay=from_stay,
        )

    def stay_of(page: StaffPage, patient_id: str, discharge: str) -> str:
        """The hospital stay of the discharge a referral is made from (validated: an open
        discharge of this person that the user may see)."""
        try:
            return discharge_to_refer_from(page.access, discharge, patient_id)
        except DischargeProblem as exc:
            raise PageRefused(404, str(exc)) from None

    @pages.get("/people/{patient_id}/referrals/new")
    def show_referral_form(page: Page, patient_id: str, discharge: str = "") -> Response:
        person = person_of(page, patient_id)
        page.access.permit("create", "ServiceRequest")
        stay = stay_of(page, patient_id, discharge) if discharge else None
        typed = {"token": new_submission_token(), "priority": "routine", "discharge": discharge}
        return referral_form(page, person, typed=typed, from_stay=stay)

    @pages.post("/people/{patient_id}/referrals/new", dependencies=checked)
    def send_referral(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        typed = {
            "service": form.get("service", "")[:64],
            "organisation": form.get("organisation", "")[:64],
            "reason": form.get("reason", "")[: MAXIMUM_TEXT_LENGTH * 2],
            "priority": form.get("priority", "")[:16],
            "token": form.get("token", "")[:64],
            "discharge": form.get("discharge", "")[:64],
            **typed_date(form, "respond_by"),
        }
        part_of = typed["discharge"] or None
        stay = stay_of(page, patient_id, part_of) if part_of else None
        respond_by, date_error = read_date(
            form, "respond_by", "Date to respond by", not_before=today()
        )
        problems = check_referral(
            page.access,
            typed["service"],
            typed["organisation"],
            typed["reason"],
            typed["priority"],
            respond_by,
        )
        errors = [
            FieldError(p.field, p.message)
            for p in problems
            if not (p.field == "respond_by" and date_error is not None)
        ]
        if date_error is not None:
            errors.append(date_error)
        order = ["service", "organisation", "reason", "priority", "respond_by"]
        errors.sort(key=lambda e: order.index(e.field) if e.field in order else len(order))
        if not errors:
            try:
                made = make_referral(
                    page.access,
                    patient_id,
                    typed["service"],
                    typed["organisation"],
                    typed["reason"],
                    typed["priority"],
                    respond_by,
                    typed["token"],
                    part_of,
                )
            except InvalidReferral as exc:
                errors = [FieldError(p.field, p.message) for p in exc.problems]
            else:
                if stay is not None:
                    # Made from a discharge: back to what the discharge is waiting for.
                    return RedirectResponse(
                        f"/discharge/{stay}?done=referred#waiting-on", status_code=303
                    )
                return RedirectResponse(f"/tasks/{made.task_id}?done=referred", status_code=303)
        return referral_form(
            page, person, typed=typed, errors=errors, status_code=400, from_stay=stay
        )

    # -- one task ------------------------------------------------------------------------

    def task_page(
        page: StaffPage,
        details: TaskDetails,
        *,
        done: str | None = None,
        errors: list[FieldError] | None = None,
        typed: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        person = person_of(page, details.person_id) if details.person_id else None
        context: dict[str, Any] = {
            "task": details,
            "done": DONE.get(done or ""),
            "errors": errors or [],
            "typed": typed or {},
            "organisation": page.directory.organisation,
            "london_time": london_time,
            "maximum": MAXIMUM_TEXT_LENGTH,
        }
        if person is None:
            return render(
                "coordination/task_standalone.html",
                status_code=status_code,
                styled=styled,
                signed_in=page.signed_in,
                **context,
            )
        return person_page(page, person, "task.html", status_code=status_code, **context)

    def task_of(page: StaffPage, task_id: str) -> TaskDetails:
        if not is_fhir_id(task_id):
            raise PageRefused(404, NOT_FOUND)
        return task_details(page.access, task_id)

    @pages.get("/tasks/{task_id}")
    def show_task(page: Page, task_id: str, done: str | None = None) -> Response:
        return task_page(page, task_of(page, task_id), done=done)

    @pages.post("/tasks/{task_id}/{action}", dependencies=checked)
    def act_on_task(page: Page, form: Form, task_id: str, action: str) -> Response:
        if not is_fhir_id(task_id):
            raise PageRefused(404, NOT_FOUND)
        try:
            chosen = TaskAction(action)
        except ValueError:
            raise PageRefused(404, NOT_FOUND) from None
        typed = {
            "action": chosen.value,
            "reason": form.get("reason", "")[: MAXIMUM_TEXT_LENGTH * 2],
            "outcome": form.get("outcome", "")[: MAXIMUM_TEXT_LENGTH * 2],
        }
        try:
            take_action(
                page.access,
                task_id,
                chosen,
                version=form_version(form),
                reason=typed["reason"],
                outcome=typed["outcome"],
            )
        except TaskProblem as exc:
            field = f"{chosen.value}-{exc.field}" if exc.field in ACTION_FIELDS else None
            return task_page(
                page,
                task_of(page, task_id),
                errors=[FieldError(field, exc.message)],
                typed=typed,
                status_code=exc.status,
            )
        return RedirectResponse(f"/tasks/{task_id}?done={chosen.value}", status_code=303)

    return pages
