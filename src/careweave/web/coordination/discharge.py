"""The discharge pages: the live board of people in hospital, one person's discharge to
assess (pathway, what it waits for and from whom, the handoff home), and the check after the
first 48 hours that closes the loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination import discharge as d2a
from careweave.coordination.care_team import team_of
from careweave.coordination.record import find, new_submission_token, read, today
from careweave.fhir.errors import VersionConflict
from careweave.web.coordination.context import StaffPage, may, staff_page
from careweave.web.coordination.form_fields import read_date, read_text, typed_date
from careweave.web.pages import render
from careweave.web.signed_in import FieldError, PageRefused, SignedIn, posted_form, require_csrf

FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"
STALE = (
    "Someone else has changed this discharge since you opened it. "
    "What is shown now includes their change: check it and make yours again."
)
DONE = {
    "referred": (
        "Your referral has been sent. It is shown below as something the discharge is waiting for"
    )
}
"""The success banner a change made elsewhere redirects back to (the `done` query value)."""


def _organisations(page: StaffPage) -> list[tuple[str, str]]:
    """(id, name) of every organisation, by name: the ones a dependency or handoff may go to."""
    found = find(page.access, "Organization", [])
    named = [(str(o["id"]), str(o.get("name") or o["id"])) for o in found]
    return sorted(named, key=lambda item: item[1].lower())


def _plan_from(form: Mapping[str, str]) -> tuple[d2a.DischargePlan | None, list[FieldError]]:
    errors: list[FieldError] = []
    pathway = form.get("pathway", "")
    if pathway not in d2a.PATHWAYS:
        errors.append(FieldError("pathway", "Select a discharge pathway"))
    optimised, problem = read_date(
        form, "optimised", "Date medically optimised", required=False, not_after=today()
    )
    if problem:
        errors.append(problem)
    planned, problem = read_date(form, "planned", "Planned discharge date", required=False)
    if problem:
        errors.append(problem)
    reason = form.get("delay_reason") or None
    if reason is not None and reason not in d2a.DELAY_REASONS:
        errors.append(FieldError("delay_reason", "Select a reason for the delay from the list"))
    if errors:
        return None, errors
    return d2a.DischargePlan(pathway, optimised, planned, reason), []


def _typed_plan(form: Mapping[str, str]) -> dict[str, str]:
    return {
        "pathway": form.get("pathway", ""),
        "delay_reason": form.get("delay_reason", ""),
        **typed_date(form, "optimised"),
        **typed_date(form, "planned"),
    }


def _typed_from(discharge: d2a.Discharge) -> dict[str, str]:
    """The form's fields filled from the discharge as it stands."""
    typed = {"pathway": discharge.pathway or "", "delay_reason": discharge.delay_reason or ""}
    for name, value in (
        ("optimised", discharge.medically_optimised),
        ("planned", discharge.planned_discharge),
    ):
        if value is not None:
            typed.update(
                {
                    f"{name}-day": str(value.day),
                    f"{name}-month": str(value.month),
                    f"{name}-year": str(value.year),
                }
            )
    return typed


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)

    def discharge_page(
        page: StaffPage,
        discharge: d2a.Discharge,
        *,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        form: str | None = None,
        status_code: int = 200,
        done: str | None = None,
    ) -> Response:
        organisations = _organisations(page)
        names = dict(organisations)
        team = team_of(page.access, discharge.person.patient_id)
        return render(
            "coordination/discharge.html",
            status_code=status_code,
            styled=styled,
            signed_in=page.signed_in,
            current_section="discharge",
            person=discharge.person,
            practice=page.directory.organisation(discharge.person.practice_id),
            record_tab="discharge",
            discharge=discharge,
            names=names,
            organisations=organisations,
            coordinator=team.coordinator if team else None,
            pathways=d2a.PATHWAYS,
            reasons=d2a.DELAY_REASONS,
            kinds=d2a.DEPENDENCY_KINDS,
            typed=typed if typed is not None else _typed_from(discharge),
            errors=errors or [],
            failed_form=form,
            token=new_submission_token(),
            done=DONE.get(done or ""),
            may_refer=may(page, "create", "ServiceRequest"),
        )

    @router.get("/discharge")
    def board(page: Annotated[StaffPage, Depends(staff_page)]) -> Response:
        rows = d2a.discharge_board(page.access)
        names = {oid: name for oid, name in _organisations(page)}
        return render(
            "coordination/discharge_board.html",
            styled=styled,
            signed_in=page.signed_in,
            current_section="discharge",
            rows=rows,
            names=names,
            pathways=d2a.PATHWAYS,
            reasons=d2a.DELAY_REASONS,
            kinds=d2a.DEPENDENCY_KINDS,
            delayed=sum(1 for row in rows if row.days_delayed > 0),
        )

    @router.get("/discharge/{encounter_id}")
    def show(
        page: Annotated[StaffPage, Depends(staff_page)],
        encounter_id: Annotated[str, Path(pattern=FHIR_ID)],
        done: str | None = None,
    ) -> Response:
        return discharge_page(page, d2a.discharge_for(page.access, encounter_id), done=done)

    @router.post("/discharge/{encounter_id}/plan")
    def save_plan(
        page: Annotated[StaffPage, Depends(staff_page)],
        _: Annotated[SignedIn, Depends(require_csrf)],
        form: Annotated[dict[str, str], Depends(posted_form)],
        encounter_id: Annotated[str, Path(pattern=FHIR_ID)],
    ) -> Response:
        current = d2a.discharge_for(page.access, encounter_id)
        plan, errors = _plan_from(form)
        if plan is None:
            return discharge_page(
                page, current, typed=_typed_plan(form), errors=errors, form="plan", status_code=400
            )
        try:
            version = form.get("version", "")
            if not version.isdigit():
                raise PageRefused(400, "The form was not sent as expected.")
            if current.task_id is None or version == "0":
                # The start form (version 0): sent twice, it finds the first discharge.
                d2a.start_discharge(page.access, encounter_id, plan, form.get("token", ""))
            else:
                d2a.update_discharge(page.access, current.task_id, int(version), plan)
        except d2a.DischargeProblem as exc:
            return discharge_page(
                page,
                current,
                typed=_typed_plan(form),
                errors=[FieldError(None, str(exc))],
                form="plan",
                status_code=400,
            )
        except VersionConflict:
            fresh = d2a.discharge_for(page.access, encounter_id)
            return discharge_page(
                page,
                fresh,
                typed=_typed_plan(form),
                errors=[FieldError(None, STALE)],
                form="plan",
                status_code=409,
            )
        return RedirectResponse(f"/discharge/{encounter_id}", status_code=303)

    @router.post("/discharge/{encounter_id}/dependencies")
    def add_dependency(
        page: Annotated[StaffPage, Depends(staff_page)],
        _: Annotated[SignedIn, Depends(require_csrf)],
        form: Annotated[dict[str, str], Depends(posted_form)],
        encounter_id: Annotated[str, Path(pattern=FHIR_ID)],
    ) -> Response:
        current = d2a.discharge_for(page.access, encounter_id)
        errors: list[FieldError] = []
        kind = form.get("kind", "")
        if kind not in d2a.DEPENDENCY_KINDS:
            errors.append(FieldError("kind", "Select what the discharge is waiting for"))
        owner = form.get("owner", "")
        if owner not in dict(_organisations(page)):
            errors.append(FieldError("owner", "Select the organisation that will provide it"))
        due, problem = read_date(
            form, "needed", "Date needed by", required=False, not_before=today()
        )
        if problem:
            errors.append(problem)
        description, problem = read_text(
            form, "description", "a description", required=False, limit=500
        )
        if problem:
            errors.append(problem)
        if current.task_id is None:
            errors.append(
                FieldError(None, "Start the discharge before recording what it waits for")
            )
        typed = {
            **_typed_from(current),
            "kind": kind,
            "owner": owner,
            "description": description,
            **typed_date(form, "needed"),
        }
        if errors or current.task_id is None:
            return discharge_page(
                page, current, typed=typed, errors=errors, form="dependency", status_code=400
            )
        try:
            d2a.add_dependency(
                page.access,
                current.task_id,
                kind,
                owner,
                due,
                form.get("token", ""),
                description or None,
            )
        except d2a.DischargeProblem as exc:
            return discharge_page(
                page,
                current,
                typed=typed,
                errors=[FieldError(None, str(exc))],
                form="dependency",
                status_code=400,
            )
        return RedirectResponse(f"/discharge/{encounter_id}#waiting-on", status_code=303)

    @router.post("/discharge/{encounter_id}/home")
    def discharge_home(
        page: Annotated[StaffPage, Depends(staff_page)],
        _: Annotated[SignedIn, Depends(require_csrf)],
        form: Annotated[dict[str, str], Depends(posted_form)],
        encounter_id: Annotated[str, Path(pattern=FHIR_ID)],
    ) -> Response:
        current = d2a.discharge_for(page.access, encounter_id)
        known = dict(_organisations(page))
        chosen = tuple(oid for oid in known if form.get(f"handoff-{oid}") == "yes")
        errors: list[FieldError] = []
        if not chosen:
            errors.append(
                FieldError("handoff", "Select who must act in the first 48 hours at home")
            )
        checker = form.get("checker", "")
        team = team_of(page.access, current.person.patient_id)
        coordinator = team.coordinator if team else None
        checker_role = None
        checker_organisation = None
        if checker == "coordinator" and coordinator is not None:
            checker_role = coordinator.practitioner_role_id
        elif checker == "practice" and current.person.practice_id:
            checker_organisation = current.person.practice_id
        else:
            errors.append(FieldError("checker", "Select who checks the first 48 hours at home"))
        note, problem = read_text(form, "note", "a note", required=False, limit=1000)
        if problem:
            errors.append(problem)
        version = form.get("version", "")
        if current.task_id is None or not version.isdigit():
            errors.append(FieldError(None, "Start the discharge before discharging the person"))
        typed = {**_typed_from(current), "checker": checker, "note": note}
        typed.update({f"handoff-{oid}": "yes" for oid in chosen})
        if errors or current.task_id is None:
            return discharge_page(
                page, current, typed=typed, errors=errors, form="home", status_code=400
            )
        try:
            d2a.discharge_home(
                page.access,
                current.task_id,
                int(version),
                d2a.Handoff(chosen, checker_role, checker_organisation, note),
                form.get("token", ""),
            )
        except d2a.DischargeProblem as exc:
            return discharge_page(
                page,
                current,
                typed=typed,
                errors=[FieldError(None, str(exc))],
                form="home",
                status_code=400,
            )
        except VersionConflict:
            fresh = d2a.discharge_for(page.access, encounter_id)
            return discharge_page(
                page,
                fresh,
                typed=typed,
                errors=[FieldError(None, STALE)],
                form="home",
                status_code=409,
            )
        return RedirectResponse(f"/discharge/{encounter_id}", status_code=303)

    def check_page(
        page: StaffPage,
        task_id: str,
        *,
        note: str = "",
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        try:
            found = d2a.follow_up(page.access, task_id)
        except d2a.DischargeProblem as exc:
            raise PageRefused(404, str(exc)) from None
        check = read(page.access, "Task", task_id)
        return render(
            "coordination/discharge_check.html",
            status_code=status_code,
            styled=styled,
            signed_in=page.signed_in,
            current_section="discharge",
            follow_up=found,
            check=check,
            names=dict(_organisations(page)),
            note=note,
            errors=errors or [],
        )

    @router.get("/discharge/checks/{task_id}")
    def show_check(
        page: Annotated[StaffPage, Depends(staff_page)],
        task_id: Annotated[str, Path(pattern=FHIR_ID)],
    ) -> Response:
        return check_page(page, task_id)

    @router.post("/discharge/checks/{task_id}")
    def record_check(
        page: Annotated[StaffPage, Depends(staff_page)],
        _: Annotated[SignedIn, Depends(require_csrf)],
        form: Annotated[dict[str, str], Depends(posted_form)],
        task_id: Annotated[str, Path(pattern=FHIR_ID)],
    ) -> Response:
        note, problem = read_text(form, "note", "what you found when you checked")
        version = form.get("version", "")
        if problem or not version.isdigit():
            return check_page(
                page,
                task_id,
                note=note,
                errors=[problem or FieldError(None, "The form was not sent as expected.")],
                status_code=400,
            )
        try:
            d2a.complete_follow_up(page.access, task_id, int(version), note)
        except d2a.DischargeProblem as exc:
            return check_page(
                page, task_id, note=note, errors=[FieldError(None, str(exc))], status_code=400
            )
        except VersionConflict:
            return check_page(
                page,
                task_id,
                note=note,
                errors=[
                    FieldError(None, "Someone else has updated this check since you opened it.")
                ],
                status_code=409,
            )
        return RedirectResponse(f"/discharge/checks/{task_id}", status_code=303)

    return router
