"""Recording a person's wellbeing on their social prescribing referral: ONS4 personal wellbeing
(four questions, 0 to 10) and SWEMWBS (seven statements, none of the time to all of the time),
at the start and again at the end, on one page with the two questionnaires as fieldsets.

Both, either or one are recorded: ONS4 with at least one answer, SWEMWBS only with all seven
(a partial SWEMWBS cannot be scored, careweave.social_prescribing.wellbeing). Everything is
checked before anything is saved, so a mistake in one questionnaire saves neither. The form
carries a one-time token (one per questionnaire), so sending it twice records each once. The
episode page then shows the change, with the SWEMWBS metric score.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Annotated, Final

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination.record import new_submission_token, today
from careweave.social_prescribing.episode import Episode, episode_of
from careweave.social_prescribing.pathway_problems import PathwayProblem
from careweave.social_prescribing.wellbeing import (
    ONS4_ITEMS,
    SWEMWBS_ANSWERS,
    SWEMWBS_ITEMS,
    Ons4,
    Swemwbs,
    record_ons4,
    record_swemwbs,
)
from careweave.web.coordination.context import StaffPage, may
from careweave.web.coordination.form_fields import read_date, typed_date
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf
from careweave.web.social_prescribing.common import (
    NOT_FOUND,
    Page,
    PersonWithPostcode,
    checked_id,
    is_service_staff,
    person_with_postcode,
    problem_status,
)
from careweave.web.social_prescribing.referral_pages import person_page

Form = Annotated[dict[str, str], Depends(posted_form)]

ONS4_SCORES: Final[Mapping[str, str]] = {str(n): str(n) for n in range(11)}
SWEMWBS_CHOICES: Final[Mapping[str, str]] = {str(k): v for k, v in SWEMWBS_ANSWERS.items()}
ONS4_FIELDS: Final = {item: f"ons4-{item}" for item in ONS4_ITEMS}
SWEMWBS_FIELDS: Final = {item: f"swemwbs-{item}" for item in SWEMWBS_ITEMS}


def read_answers(
    form: Mapping[str, str],
) -> tuple[Ons4 | None, Swemwbs | None, list[FieldError]]:
    """The two questionnaires' answers, each None when left wholly blank, or the errors."""
    errors: list[FieldError] = []
    ons: dict[str, int | None] = {}
    for item, name in ONS4_FIELDS.items():
        value = form.get(name, "")
        if value and value not in ONS4_SCORES:
            errors.append(FieldError(name, "Choose an answer from 0 to 10"))
        ons[item] = int(value) if value in ONS4_SCORES else None
    swemwbs = [form.get(name, "") for name in SWEMWBS_FIELDS.values()]
    answered = [v for v in swemwbs if v]
    if answered and len(answered) < len(swemwbs):
        for name, value in zip(SWEMWBS_FIELDS.values(), swemwbs, strict=True):
            if not value:
                errors.append(
                    FieldError(
                        name,
                        "Answer every SWEMWBS statement: it cannot be scored with one missing",
                    )
                )
    for name, value in zip(SWEMWBS_FIELDS.values(), swemwbs, strict=True):
        if value and value not in SWEMWBS_CHOICES:
            errors.append(FieldError(name, "Choose an answer from the list"))
    if not any(v is not None for v in ons.values()) and not answered:
        errors.append(
            FieldError(
                ONS4_FIELDS["life-satisfaction"],
                "Answer the ONS4 questions, the SWEMWBS statements, or both",
            )
        )
    if errors:
        return None, None, errors
    ons4 = (
        Ons4(**{item.replace("-", "_"): score for item, score in ons.items()})
        if any(v is not None for v in ons.values())
        else None
    )
    scored = Swemwbs(tuple(int(v) for v in swemwbs)) if answered else None
    return ons4, scored, []


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)
    checked = [Depends(require_csrf)]
    path = "/people/{patient_id}/social-prescribing/{referral_id}/wellbeing"

    def episode_for(
        page: StaffPage, patient_id: str, referral_id: str
    ) -> tuple[PersonWithPostcode, Episode]:
        person = person_with_postcode(page, patient_id)
        episode = episode_of(page.access, checked_id(referral_id))
        if episode.patient_id != patient_id:
            raise PageRefused(404, NOT_FOUND)
        if not (
            is_service_staff(page, episode.service_organisation_id)
            and may(page, "create", "QuestionnaireResponse")
        ):
            raise PageRefused(
                403, "Only the social prescribing service the referral was sent to can do this."
            )
        return person, episode

    def form_page(
        page: StaffPage,
        person: PersonWithPostcode,
        episode: Episode,
        typed: dict[str, str],
        *,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        change = episode.wellbeing
        first = change.ons4_responses == 0 and change.swemwbs_responses == 0
        return person_page(
            page,
            person,
            "wellbeing.html",
            styled=styled,
            status_code=status_code,
            episode=episode,
            base=f"/people/{episode.patient_id}/social-prescribing/{episode.referral_id}",
            typed=typed,
            errors=errors or [],
            first=first,
            ons4_items=ONS4_ITEMS,
            ons4_fields=ONS4_FIELDS,
            ons4_scores=ONS4_SCORES,
            swemwbs_items=SWEMWBS_ITEMS,
            swemwbs_fields=SWEMWBS_FIELDS,
            swemwbs_choices=SWEMWBS_CHOICES,
        )

    @pages.get(path)
    def show_wellbeing(page: Page, patient_id: str, referral_id: str) -> Response:
        person, episode = episode_for(page, patient_id, referral_id)
        return form_page(page, person, episode, {"token": new_submission_token()})

    @pages.post(path, dependencies=checked)
    def save_wellbeing(page: Page, form: Form, patient_id: str, referral_id: str) -> Response:
        person, episode = episode_for(page, patient_id, referral_id)
        names = [*ONS4_FIELDS.values(), *SWEMWBS_FIELDS.values()]
        typed = {name: form.get(name, "")[:2] for name in names}
        typed["token"] = form.get("token", "")[:64]
        typed.update(typed_date(form, "answered_on"))
        answered_on, date_error = read_date(
            form, "answered_on", "Date answered", required=False, not_after=today()
        )
        ons4, swemwbs, errors = read_answers(form)
        if date_error is not None:
            errors.insert(0, date_error)
        if errors:
            return form_page(page, person, episode, typed, errors=errors, status_code=400)
        answered_at = None
        if answered_on is not None and answered_on < today():
            answered_at = datetime.combine(answered_on, time(12, 0))  # a paper form, that day
        token = typed["token"]
        try:
            if ons4 is not None:
                record_ons4(
                    page.access,
                    patient_id,
                    ons4,
                    token=f"{token}-ons4",
                    referral_id=episode.referral_id,
                    answered_at=answered_at,
                )
            if swemwbs is not None:
                record_swemwbs(
                    page.access,
                    patient_id,
                    swemwbs,
                    token=f"{token}-swemwbs",
                    referral_id=episode.referral_id,
                    answered_at=answered_at,
                )
        except PathwayProblem as exc:
            return form_page(
                page,
                person,
                episode,
                typed,
                errors=[FieldError(None, exc.message)],
                status_code=problem_status(exc),
            )
        return RedirectResponse(
            f"/people/{patient_id}/social-prescribing/{referral_id}?done=wellbeing#wellbeing",
            status_code=303,
        )

    return pages
