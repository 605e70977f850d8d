"""My care: the page a person, or their carer, signs in to. Who coordinates their care and
how to reach the team, coming appointments, and the care and support plan in plain words;
they can add what matters to them and questions for their next review, and the person
chooses which carers may see the plan.

It is deliberately one page (with a form per thing they can do) so that it is simple on a
phone and with a screen reader: the answer to "who do I call?" is the first thing on it.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.access.guard import CareRecordAccess
from careweave.access.roles import Role
from careweave.coordination.care_plan import NOTE_TITLES, NoCarePlan, PlanInputError
from careweave.coordination.care_plan_actions import MAX_WORDS, add_question, add_what_matters
from careweave.coordination.carers import CarerProblem, give_consent, withdraw_consent
from careweave.coordination.my_care import local_day_and_time, my_care
from careweave.coordination.record import new_submission_token, read_or_none
from careweave.fhir.errors import NotFound
from careweave.fhir.resource_types import is_fhir_id
from careweave.web.coordination.care_plan import status_words
from careweave.web.coordination.care_team import profession_words
from careweave.web.coordination.context import record_access
from careweave.web.pages import render
from careweave.web.signed_in import (
    FieldError,
    PageRefused,
    SignedIn,
    current_user,
    posted_form,
    require_csrf,
)

PEOPLE_ROLES: Final = frozenset({Role.PATIENT, Role.CARER})
NOT_FOR_YOUR_ROLE: Final = (
    "This page is for the person whose care it is and their carers. Staff see a person's "
    "care on their record pages."
)
DONE: Final[dict[str, str]] = {
    "what-matters": "What matters to you has been added to the plan",
    "question": "Your question has been added for the next review",
    "shared": "Your care plan is now shared with your carer",
    "stopped": "Your care plan is no longer shared with that carer",
}


def person_door(
    request: Request, signed_in: Annotated[SignedIn, Depends(current_user)]
) -> tuple[SignedIn, CareRecordAccess]:
    """A dependency: the signed-in person or carer and their door to the record."""
    if signed_in.user.role not in PEOPLE_ROLES or not signed_in.user.patient_id:
        raise PageRefused(403, NOT_FOR_YOUR_ROLE)
    return signed_in, record_access(request, signed_in)


Door = Annotated[tuple[SignedIn, CareRecordAccess], Depends(person_door)]
Form = Annotated[dict[str, str], Depends(posted_form)]


def my_care_router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    router = APIRouter(route_class=route_class, include_in_schema=False)
    checked = [Depends(require_csrf)]

    def page(
        door: tuple[SignedIn, CareRecordAccess],
        *,
        done: str | None = None,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        signed_in, access = door
        care = my_care(access)
        fresh = {"what-token": new_submission_token(), "question-token": new_submission_token()}
        return render(
            "my_care.html",
            status_code=status_code,
            styled=styled,
            signed_in=signed_in,
            current_section="my-care",
            care=care,
            done=DONE.get(done or ""),
            typed={**fresh, **(typed or {})},
            errors=errors or [],
            maximum=MAX_WORDS,
            note_titles=NOTE_TITLES,
            status_words=status_words,
            profession_words=profession_words,
            appointment_time=local_day_and_time,
            practice=_practice_name(access, care.person.practice_id),
        )

    @router.get("/my-care")
    def show(door: Door, done: str | None = None) -> Response:
        return page(door, done=done)

    def add_words(door: Door, form: Form, kind: str) -> Response:
        signed_in, access = door
        field = "what-matters" if kind == "what-matters" else "question"
        token_field = "what-token" if kind == "what-matters" else "question-token"
        typed = {field: form.get(field, "")[: MAX_WORDS * 2], token_field: form.get("token", "")}
        adding = add_what_matters if kind == "what-matters" else add_question
        patient_id = str(signed_in.user.patient_id)
        try:
            adding(access, patient_id, typed[field], typed[token_field])
        except NoCarePlan:
            errors = [FieldError(field, "You do not have a care plan yet. Ask your care team.")]
        except PlanInputError as exc:
            message = exc.message
            if exc.field == "text" and not typed[field].strip():
                message = (
                    "Enter what matters to you" if kind == "what-matters" else "Enter your question"
                )
            errors = [FieldError(field if exc.field else None, message)]
        else:
            return RedirectResponse(
                f"/my-care?done={'what-matters' if kind == 'what-matters' else 'question'}",
                status_code=303,
            )
        return page(door, typed=typed, errors=errors, status_code=400)

    @router.post("/my-care/what-matters", dependencies=checked)
    def what_matters(door: Door, form: Form) -> Response:
        return add_words(door, form, "what-matters")

    @router.post("/my-care/questions", dependencies=checked)
    def question(door: Door, form: Form) -> Response:
        return add_words(door, form, "question")

    def own_choice(door: Door, related_person_id: str) -> tuple[str, CareRecordAccess]:
        signed_in, access = door
        if signed_in.user.role is not Role.PATIENT:
            raise PageRefused(403, "Only the person whose plan it is can choose who sees it.")
        if not is_fhir_id(related_person_id):
            raise PageRefused(404, "If you typed the web address, check it is correct.")
        return str(signed_in.user.patient_id), access

    @router.post("/my-care/carers/{related_person_id}/share", dependencies=checked)
    def share(door: Door, form: Form, related_person_id: str) -> Response:
        patient_id, access = own_choice(door, related_person_id)
        try:
            give_consent(
                access,
                patient_id,
                related_person_id,
                form.get("token", "")[:64] or new_submission_token(),
            )
        except NotFound:
            raise PageRefused(404, "If you typed the web address, check it is correct.") from None
        except CarerProblem as exc:
            return page(door, errors=[FieldError(None, exc.message)], status_code=400)
        return RedirectResponse("/my-care?done=shared", status_code=303)

    @router.post("/my-care/carers/{related_person_id}/stop-sharing", dependencies=checked)
    def stop_sharing(door: Door, related_person_id: str) -> Response:
        patient_id, access = own_choice(door, related_person_id)
        withdraw_consent(access, patient_id, related_person_id)
        return RedirectResponse("/my-care?done=stopped", status_code=303)

    return router


def _practice_name(access: CareRecordAccess, practice_id: str | None) -> str | None:
    found = read_or_none(access, "Organization", practice_id) if practice_id else None
    name = (found or {}).get("name")
    return str(name) if name else None
