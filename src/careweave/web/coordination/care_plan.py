"""A person's personalised care and support plan pages: the plan itself (what matters to
them in their own words, goals, actions by organisation with progress, the contingency,
crisis and anticipatory care sections, review dates), the forms that change it, a printable
copy to give to the person, and who changed what.

The pages turn form fields into calls on careweave.coordination.care_plan_actions and show
what it refuses in the NHS.UK error pattern, keeping what was typed. Forms that create
something carry a one-time token (a double submit finds the first result); forms that edit
carry the version they were read at, so a change someone else made meanwhile is shown, with
the user's text kept to apply again, rather than overwritten.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination.care_plan import (
    NOTE_TITLES,
    SECTION_TITLES,
    CarePlanView,
    PlanExists,
    PlanGoal,
    PlanInputError,
    care_plan_of,
    organisations,
    plan_history,
)
from careweave.coordination.care_plan_actions import (
    ACTION_STATUSES,
    GOAL_ACHIEVEMENT_CHOICES,
    GOAL_LIFECYCLE,
    add_action,
    add_goal,
    add_question,
    add_what_matters,
    create_plan,
    goal_voices,
    record_review,
    update_action_status,
    update_goal,
    update_sections,
)
from careweave.coordination.codes import NOTE_SECTIONS
from careweave.coordination.people import PersonBanner
from careweave.coordination.record import new_submission_token, today
from careweave.fhir.errors import VersionConflict
from careweave.fhir.resource_types import is_fhir_id
from careweave.web.coordination.context import (
    StaffPage,
    may,
    person_of,
    render_person_page,
    staff_page,
)
from careweave.web.coordination.form_fields import read_date, typed_date
from careweave.web.pages import render
from careweave.web.signed_in import FieldError, PageRefused, SignedIn, posted_form, require_csrf
from careweave.web.wording import london_time

SAVED: Final = {
    "created": "The care plan has been created",
    "exists": "This person already has a care plan",
    "sections": "The plan has been updated",
    "goal-added": "The goal has been added",
    "goal": "The goal has been updated",
    "action-added": "The action has been added",
    "action": "The action has been updated",
    "review": "The review has been recorded",
    "what-matters": "What matters has been added",
    "question": "The question has been added for the next review",
}
"""The success banners a change redirects to (the plan page's `saved` query value)."""
CHANGED_MEANWHILE: Final = "Someone else changed this plan since you opened it"
STATUS_WORDS: Final = {
    "draft": "Draft",
    "requested": "Not started",
    "received": "Received",
    "accepted": "Accepted",
    "ready": "Ready",
    "in-progress": "In progress",
    "on-hold": "On hold",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "rejected": "Rejected",
    "failed": "Failed",
    "entered-in-error": "Entered in error",
}
STATUS_TAGS: Final = {
    "completed": "nhsuk-tag--green",
    "in-progress": "nhsuk-tag--blue",
    "accepted": "nhsuk-tag--aqua-green",
    "cancelled": "nhsuk-tag--grey",
    "rejected": "nhsuk-tag--grey",
}
WORDS_FORMS: Final = {
    "what-matters": (
        "Add what matters",
        "What matters to {name}?",
        "Write it in {name}'s own words where you can.",
        add_what_matters,
    ),
    "questions": (
        "Add a question for the next review",
        "What would {name} like to ask at the next review?",
        "The question is shown on the plan until the next review.",
        add_question,
    ),
}

Page = Annotated[StaffPage, Depends(staff_page)]
Csrf = Annotated[SignedIn, Depends(require_csrf)]
Form = Annotated[dict[str, str], Depends(posted_form)]


def status_words(status: str, overdue: bool = False) -> str:
    return "Overdue" if overdue else STATUS_WORDS.get(status, status.replace("-", " ").capitalize())


def status_tag(status: str, overdue: bool = False) -> str:
    """The NHS.UK tag class for an action's status: overdue is red."""
    return "nhsuk-tag--red" if overdue else STATUS_TAGS.get(status, "nhsuk-tag--white")


def goal_words(goal: PlanGoal) -> str:
    """How a goal is going, in words: its achievement while worked on, else its state."""
    if goal.lifecycle_status == "active" and goal.achievement_status:
        return GOAL_ACHIEVEMENT_CHOICES.get(goal.achievement_status, goal.achievement_status)
    return GOAL_LIFECYCLE.get(goal.lifecycle_status, goal.lifecycle_status.capitalize())


def goal_tag(goal: PlanGoal) -> str:
    if goal.lifecycle_status == "completed" or goal.achievement_status == "achieved":
        return "nhsuk-tag--green"
    return "nhsuk-tag--blue" if goal.lifecycle_status == "active" else "nhsuk-tag--grey"


def date_fields(name: str, day: date | None) -> dict[str, str]:
    """A stored date as the three fields of a date input."""
    if day is None:
        return {f"{name}-day": "", f"{name}-month": "", f"{name}-year": ""}
    return {
        f"{name}-day": str(day.day),
        f"{name}-month": str(day.month),
        f"{name}-year": str(day.year),
    }


def _plan_or_404(page: StaffPage, patient_id: str) -> CarePlanView:
    plan = care_plan_of(page.access, patient_id)
    if plan is None:
        raise PageRefused(404, "There is no care plan for this person yet.")
    return plan


def _checked_id(value: str) -> str:
    if not is_fhir_id(value):
        raise PageRefused(404, "If you typed the web address, check it is correct.")
    return value


def _back(patient_id: str, saved: str) -> RedirectResponse:
    return RedirectResponse(f"/people/{patient_id}/care-plan?saved={saved}", status_code=303)


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)

    def show(
        template: str,
        page: StaffPage,
        person: PersonBanner,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        return render_person_page(
            page,
            person,
            template,
            "care-plan",
            styled=styled,
            status_code=status_code,
            status_words=status_words,
            status_tag=status_tag,
            goal_words=goal_words,
            goal_tag=goal_tag,
            london_time=london_time,
            **context,
        )

    # -- the plan ------------------------------------------------------------------------------

    def plan_page(
        page: StaffPage,
        person: PersonBanner,
        *,
        saved: str | None = None,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        plan = care_plan_of(page.access, person.patient_id)
        return show(
            "coordination/care_plan.html",
            page,
            person,
            status_code=status_code,
            plan=plan,
            saved=SAVED.get(saved or ""),
            typed=typed or {"token": new_submission_token()},
            errors=errors or [],
            note_titles=NOTE_TITLES,
            may_edit=may(page, "update", "CarePlan"),
            may_write_words=may(page, "create", "Communication"),
            example=_example(today() + timedelta(days=90)),
        )

    @router.get("/people/{patient_id}/care-plan")
    def show_plan(patient_id: str, page: Page, saved: str | None = None) -> Response:
        return plan_page(page, person_of(page, patient_id), saved=saved)

    @router.post("/people/{patient_id}/care-plan")
    def create(patient_id: str, _: Csrf, page: Page, form: Form) -> Response:
        person = person_of(page, patient_id)
        typed = {
            "token": form.get("token", ""),
            "about-me": form.get("about-me", ""),
            **typed_date(form, "next-review"),
        }
        next_review, problem = read_date(form, "next-review", "Next review date", required=False)
        errors = [problem] if problem else []
        if not errors:
            try:
                create_plan(
                    page.access,
                    patient_id,
                    typed["token"],
                    about_me=typed["about-me"],
                    next_review=next_review,
                )
            except PlanExists:
                return _back(patient_id, "exists")
            except PlanInputError as exc:
                errors = [FieldError(exc.field, exc.message)]
        if errors:
            return plan_page(page, person, typed=typed, errors=errors, status_code=400)
        return _back(patient_id, "created")

    @router.get("/people/{patient_id}/care-plan/print")
    def print_plan(patient_id: str, page: Page) -> Response:
        person = person_of(page, patient_id)
        return render(
            "coordination/care_plan_print.html",
            styled=styled,
            person=person,
            practice=page.directory.organisation(person.practice_id),
            plan=_plan_or_404(page, patient_id),
            note_titles=NOTE_TITLES,
            status_words=status_words,
            printed=today(),
        )

    @router.get("/people/{patient_id}/care-plan/history")
    def history(patient_id: str, page: Page) -> Response:
        person = person_of(page, patient_id)
        _plan_or_404(page, patient_id)
        return show(
            "coordination/care_plan_history.html",
            page,
            person,
            changes=plan_history(page.access, patient_id),
        )

    # -- text sections -------------------------------------------------------------------------

    def sections_page(
        page: StaffPage,
        person: PersonBanner,
        plan: CarePlanView,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        conflict: bool = False,
        status_code: int = 200,
    ) -> Response:
        return show(
            "coordination/care_plan_sections.html",
            page,
            person,
            status_code=status_code,
            plan=plan,
            typed=typed,
            errors=errors or [],
            conflict=conflict,
            note_titles=NOTE_TITLES,
        )

    @router.get("/people/{patient_id}/care-plan/sections")
    def edit_sections(patient_id: str, page: Page) -> Response:
        person = person_of(page, patient_id)
        plan = _plan_or_404(page, patient_id)
        typed = {code: plan.texts.get(code, "") for code in NOTE_SECTIONS}
        return sections_page(page, person, plan, typed={**typed, "version": str(plan.version_id)})

    @router.post("/people/{patient_id}/care-plan/sections")
    def save_sections(patient_id: str, _: Csrf, page: Page, form: Form) -> Response:
        person = person_of(page, patient_id)
        typed = {code: form.get(code, "") for code in NOTE_SECTIONS}
        version = form.get("version", "")
        try:
            update_sections(page.access, patient_id, _version(version), typed)
        except VersionConflict:
            plan = _plan_or_404(page, patient_id)
            return sections_page(
                page,
                person,
                plan,
                typed={**typed, "version": str(plan.version_id)},
                errors=[FieldError(None, CHANGED_MEANWHILE)],
                conflict=True,
                status_code=409,
            )
        except PlanInputError as exc:
            plan = _plan_or_404(page, patient_id)
            return sections_page(
                page,
                person,
                plan,
                typed={**typed, "version": version},
                errors=[FieldError(exc.field, exc.message)],
                status_code=400,
            )
        return _back(patient_id, "sections")

    # -- goals ---------------------------------------------------------------------------------

    def goal_page(
        page: StaffPage,
        person: PersonBanner,
        *,
        goal_id: str | None,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        current: PlanGoal | None = None,
        conflict: bool = False,
        status_code: int = 200,
    ) -> Response:
        return show(
            "coordination/care_plan_goal.html",
            page,
            person,
            status_code=status_code,
            goal_id=goal_id,
            typed=typed,
            errors=errors or [],
            current=current,
            conflict=conflict,
            voices=goal_voices(page.access, person.patient_id) if goal_id is None else [],
            lifecycle=GOAL_LIFECYCLE,
            achievement=GOAL_ACHIEVEMENT_CHOICES,
            example=_example(today() + timedelta(days=60)),
        )

    @router.get("/people/{patient_id}/care-plan/goals/new")
    def new_goal(patient_id: str, page: Page) -> Response:
        person = person_of(page, patient_id)
        _plan_or_404(page, patient_id)
        typed = {"token": new_submission_token(), "expressed-by": f"Patient/{patient_id}"}
        return goal_page(page, person, goal_id=None, typed=typed)

    @router.post("/people/{patient_id}/care-plan/goals")
    def create_goal(patient_id: str, _: Csrf, page: Page, form: Form) -> Response:
        person = person_of(page, patient_id)
        typed = {
            "token": form.get("token", ""),
            "description": form.get("description", ""),
            "expressed-by": form.get("expressed-by", ""),
            **typed_date(form, "target"),
        }
        target, problem = read_date(form, "target", "Target date", required=False)
        errors = [problem] if problem else []
        if not typed["description"].strip():
            errors.insert(0, FieldError("description", "Enter the goal"))
        if not errors:
            try:
                add_goal(
                    page.access,
                    patient_id,
                    typed["token"],
                    typed["description"],
                    target,
                    typed["expressed-by"] or None,
                )
            except PlanInputError as exc:
                errors = [FieldError(exc.field, exc.message)]
        if errors:
            return goal_page(
                page, person, goal_id=None, typed=typed, errors=errors, status_code=400
            )
        return _back(patient_id, "goal-added")

    @router.get("/people/{patient_id}/care-plan/goals/{goal_id}")
    def edit_goal(patient_id: str, goal_id: str, page: Page) -> Response:
        person = person_of(page, patient_id)
        goal = _plan_or_404(page, patient_id).goal(_checked_id(goal_id))
        if goal is None:
            raise PageRefused(404, "This goal is not on the person's care plan.")
        typed = {
            "version": str(goal.version_id),
            "description": goal.description,
            "lifecycle": goal.lifecycle_status,
            "achievement": goal.achievement_status or "",
            **date_fields("target", goal.target_date),
        }
        return goal_page(page, person, goal_id=goal_id, typed=typed, current=goal)

    @router.post("/people/{patient_id}/care-plan/goals/{goal_id}")
    def save_goal(patient_id: str, goal_id: str, _: Csrf, page: Page, form: Form) -> Response:
        person = person_of(page, patient_id)
        _checked_id(goal_id)
        typed = {
            "version": form.get("version", ""),
            "description": form.get("description", ""),
            "lifecycle": form.get("lifecycle", ""),
            "achievement": form.get("achievement", ""),
            **typed_date(form, "target"),
        }
        target, problem = read_date(form, "target", "Target date", required=False)
        errors = [problem] if problem else []
        if not errors:
            try:
                update_goal(
                    page.access,
                    patient_id,
                    goal_id,
                    _version(typed["version"]),
                    description=typed["description"],
                    target_date=target,
                    lifecycle_status=typed["lifecycle"],
                    achievement_status=typed["achievement"],
                )
            except VersionConflict:
                goal = _plan_or_404(page, patient_id).goal(goal_id)
                typed["version"] = str(goal.version_id) if goal else typed["version"]
                errors = [FieldError(None, CHANGED_MEANWHILE)]
                return goal_page(
                    page,
                    person,
                    goal_id=goal_id,
                    typed=typed,
                    errors=errors,
                    current=goal,
                    conflict=True,
                    status_code=409,
                )
            except PlanInputError as exc:
                errors = [FieldError(exc.field, exc.message)]
        if errors:
            current = _plan_or_404(page, patient_id).goal(goal_id)
            return goal_page(
                page,
                person,
                goal_id=goal_id,
                typed=typed,
                errors=errors,
                current=current,
                status_code=400,
            )
        return _back(patient_id, "goal")

    # -- actions -------------------------------------------------------------------------------

    def action_page(
        page: StaffPage,
        person: PersonBanner,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        return show(
            "coordination/care_plan_action.html",
            page,
            person,
            status_code=status_code,
            typed=typed,
            errors=errors or [],
            sections=SECTION_TITLES,
            owners=organisations(page.access),
            example=_example(today() + timedelta(days=14)),
        )

    @router.get("/people/{patient_id}/care-plan/actions/new")
    def new_action(patient_id: str, page: Page) -> Response:
        person = person_of(page, patient_id)
        _plan_or_404(page, patient_id)
        typed = {
            "token": new_submission_token(),
            "owner": page.signed_in.user.organisation_id or "",
        }
        return action_page(page, person, typed=typed)

    @router.post("/people/{patient_id}/care-plan/actions")
    def create_action(patient_id: str, _: Csrf, page: Page, form: Form) -> Response:
        person = person_of(page, patient_id)
        typed = {
            "token": form.get("token", ""),
            "section": form.get("section", ""),
            "description": form.get("description", ""),
            "owner": form.get("owner", ""),
            **typed_date(form, "due"),
        }
        errors = []
        if not typed["description"].strip():
            errors.append(FieldError("description", "Enter what will be done"))
        if typed["section"] not in SECTION_TITLES:
            errors.append(FieldError("section", "Select which part of the plan this action is for"))
        if not typed["owner"]:
            errors.append(FieldError("owner", "Select the organisation that will do this"))
        due, problem = read_date(form, "due", "Due date", required=True)
        if problem:
            errors.append(problem)
        elif due is not None and due < today():
            errors.append(FieldError("due", "Due date must be today or in the future"))
        if not errors and due is not None:
            try:
                add_action(
                    page.access,
                    patient_id,
                    typed["token"],
                    section=typed["section"],
                    description=typed["description"],
                    owner_organisation_id=typed["owner"],
                    due=due,
                )
            except PlanInputError as exc:
                errors = [FieldError(exc.field, exc.message)]
        if errors:
            return action_page(page, person, typed=typed, errors=errors, status_code=400)
        return _back(patient_id, "action-added")

    def status_page(
        page: StaffPage,
        person: PersonBanner,
        plan: CarePlanView,
        task_id: str,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        action = plan.action(task_id)
        if action is None:
            raise PageRefused(404, "This action is not on the person's care plan.")
        return show(
            "coordination/care_plan_action_status.html",
            page,
            person,
            status_code=status_code,
            action=action,
            section=SECTION_TITLES[action.section],
            statuses=ACTION_STATUSES,
            typed=typed,
            errors=errors or [],
        )

    @router.get("/people/{patient_id}/care-plan/actions/{task_id}")
    def edit_action(patient_id: str, task_id: str, page: Page) -> Response:
        person = person_of(page, patient_id)
        plan = _plan_or_404(page, patient_id)
        action = plan.action(_checked_id(task_id))
        typed = {"version": str(action.version_id) if action else "", "status": "", "note": ""}
        return status_page(page, person, plan, task_id, typed=typed)

    @router.post("/people/{patient_id}/care-plan/actions/{task_id}")
    def save_action(patient_id: str, task_id: str, _: Csrf, page: Page, form: Form) -> Response:
        person = person_of(page, patient_id)
        _checked_id(task_id)
        typed = {
            "version": form.get("version", ""),
            "status": form.get("status", ""),
            "note": form.get("note", ""),
        }
        try:
            update_action_status(
                page.access,
                patient_id,
                task_id,
                _version(typed["version"]),
                typed["status"],
                typed["note"],
            )
        except VersionConflict:
            plan = _plan_or_404(page, patient_id)
            action = plan.action(task_id)
            typed["version"] = str(action.version_id) if action else typed["version"]
            errors = [FieldError(None, "Someone else changed this action since you opened it")]
            return status_page(
                page, person, plan, task_id, typed=typed, errors=errors, status_code=409
            )
        except PlanInputError as exc:
            plan = _plan_or_404(page, patient_id)
            errors = [FieldError(exc.field, exc.message)]
            return status_page(
                page, person, plan, task_id, typed=typed, errors=errors, status_code=400
            )
        return _back(patient_id, "action")

    # -- review --------------------------------------------------------------------------------

    def review_page(
        page: StaffPage,
        person: PersonBanner,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        return show(
            "coordination/care_plan_review.html",
            page,
            person,
            status_code=status_code,
            plan=_plan_or_404(page, person.patient_id),
            typed=typed,
            errors=errors or [],
            example=_example(today() + timedelta(days=180)),
            today=today(),
        )

    @router.get("/people/{patient_id}/care-plan/review")
    def new_review(patient_id: str, page: Page) -> Response:
        person = person_of(page, patient_id)
        return review_page(page, person, typed={"token": new_submission_token()})

    @router.post("/people/{patient_id}/care-plan/review")
    def save_review(patient_id: str, _: Csrf, page: Page, form: Form) -> Response:
        person = person_of(page, patient_id)
        typed = {"token": form.get("token", ""), **typed_date(form, "next-review")}
        next_review, problem = read_date(form, "next-review", "Next review date", required=True)
        errors = [problem] if problem else []
        if not errors and next_review is not None:
            try:
                record_review(page.access, patient_id, typed["token"], next_review)
            except PlanInputError as exc:
                errors = [FieldError(exc.field, exc.message)]
        if errors:
            return review_page(page, person, typed=typed, errors=errors, status_code=400)
        return _back(patient_id, "review")

    # -- in their own words --------------------------------------------------------------------

    def words_page(
        page: StaffPage,
        person: PersonBanner,
        kind: str,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        title, question, hint, _ = WORDS_FORMS[kind]
        return show(
            "coordination/care_plan_words.html",
            page,
            person,
            status_code=status_code,
            kind=kind,
            title=title,
            question=question.format(name=person.name),
            hint=hint.format(name=person.name),
            typed=typed,
            errors=errors or [],
        )

    def words_routes(kind: str) -> None:
        """The form for one kind of words ("what-matters" or "questions")."""

        @router.get(f"/people/{{patient_id}}/care-plan/{kind}")
        def new_words(patient_id: str, page: Page) -> Response:
            person = person_of(page, patient_id)
            _plan_or_404(page, patient_id)
            return words_page(page, person, kind, typed={"token": new_submission_token()})

        @router.post(f"/people/{{patient_id}}/care-plan/{kind}")
        def save_words(patient_id: str, _: Csrf, page: Page, form: Form) -> Response:
            person = person_of(page, patient_id)
            typed = {"token": form.get("token", ""), "text": form.get("text", "")}
            add = WORDS_FORMS[kind][3]
            try:
                add(page.access, patient_id, typed["text"], typed["token"])
            except PlanInputError as exc:
                errors = [FieldError(exc.field, exc.message)]
                return words_page(page, person, kind, typed=typed, errors=errors, status_code=400)
            return _back(patient_id, "question" if kind == "questions" else kind)

    for kind in WORDS_FORMS:
        words_routes(kind)

    return router


def _version(text: str) -> int:
    """The version a form was read at; a missing or mangled one is never current."""
    return int(text) if text.isdigit() and len(text) < 10 else 0


def _example(day: date) -> str:
    return f"{day.day} {day.month} {day.year}"
