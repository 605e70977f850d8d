"""My care: the page a person, or their carer, signs in to. Who coordinates their care and
how to reach the team, coming appointments, and the care and support plan in plain words;
they can add what matters to them and questions for their next review, and the person
chooses which carers may see the plan.

It is deliberately one page (with a form per thing they can do) so that it is simple on a
phone and with a screen reader: the answer to "who do I call?" is the first thing on it.

Where the place takes self-referrals to social prescribing (careweave.settings.Settings), the
person can refer themselves from /my-care/social-prescribing: what would help, in their own
words, and how the service should contact them. It is careweave.social_prescribing.referral_in
.refer, as for a professional's referral (duplicates refused the same way); the referral
reaches the link worker's list marked as a self-referral. A carer is told to ask the person's
care team: a referral made for someone else is a professional's, or the person's own.

Once referred (by themselves or by anyone else), the person follows it on My care: where it has
got to in their words, who their link worker is, and the groups and services they were put in
touch with. While a referral is still going, the self-referral page shows it instead of the
form, so nobody fills in a form only to be told they are already referred.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.access.guard import CareRecordAccess
from careweave.access.roles import Role
from careweave.coordination.care_plan import NOTE_TITLES, NoCarePlan, PlanInputError
from careweave.coordination.care_plan_actions import MAX_WORDS, add_question, add_what_matters
from careweave.coordination.carers import CarerProblem, give_consent, withdraw_consent
from careweave.coordination.codes import CLOSED_TASK_STATUSES
from careweave.coordination.my_care import local_day_and_time, my_care
from careweave.coordination.record import UK, may_read, new_submission_token, read_or_none
from careweave.coordination.tasks import MAXIMUM_TEXT_LENGTH
from careweave.fhir.errors import NotFound
from careweave.fhir.resource_types import is_fhir_id
from careweave.social_prescribing.episode import Episode, episodes_for_person
from careweave.social_prescribing.pathway_problems import (
    DuplicateReferral,
    InvalidReferralForm,
    PathwayProblem,
    SelfReferralNotOffered,
)
from careweave.social_prescribing.referral_in import refer
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
from careweave.web.social_prescribing.common import pathway_settings

PEOPLE_ROLES: Final = frozenset({Role.PATIENT, Role.CARER})
CARERS_ASK: Final = (
    "Only the person themselves can refer themselves to social prescribing here. To refer "
    "the person you care for, ask their GP practice or someone in their care team."
)
NOT_FOR_YOUR_ROLE: Final = (
    "This page is for the person whose care it is and their carers. Staff see a person's "
    "care on their record pages."
)
DONE: Final[dict[str, str]] = {
    "referred": "Your referral has been sent to the social prescribing service. A link worker "
    "will contact you the way you asked, usually within two weeks",
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

WHAT_WOULD_HELP: Final[Mapping[str, str]] = {
    "loneliness": "I feel lonely or cut off from people",
    "low-mood": "I feel low, worried or anxious",
    "financial-worries": "I am worried about money or debt",
    "housing": "I have problems with my home",
    "carer-stress": "Looking after someone is getting too much",
    "physical-inactivity": "I would like to be more active",
    "bereavement": "Someone close to me has died",
    "memory-worries": "I am worried about my memory",
    "digital-exclusion": "I would like help getting online",
    "getting-out": "I find it hard to get out and about",
    "long-term-condition": "I would like help living with a health condition",
    "other": "Something else",
}
"""The reasons for referral (careweave.social_prescribing.pathway_codes.REASONS), in the words
a person would use about themselves."""
CONTACT_BY: Final[Mapping[str, str]] = {
    "phone": "By phone",
    "email": "By email",
    "letter": "By letter, to the address my GP practice has",
}
_PHONE: Final = re.compile(r"\+?[\d\s()-]+")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
MAX_CONTACT: Final = 200
SELF_FIELDS: Final = {"reasons": "reason", "details": "details"}
"""The domain's field names -> the self-referral form's input ids."""
WHERE_IT_IS: Final[Mapping[str, str]] = {
    "waiting": "Waiting for a link worker to contact you",
    "accepted": "A link worker has your referral and will contact you",
    "first-contact": "Your link worker has been in touch",
    "what-matters": "You have talked with your link worker about what matters to you",
    "plan-agreed": "You and your link worker have agreed a plan",
    "connected": "Your link worker has put you in touch with local groups or services",
    "ended": "Your time with the link worker has ended",
    "not-taken-on": "The service did not take this referral on",
}
"""Where a referral has got to (careweave.social_prescribing.pathway_codes.STAGES), in words
for the person it is about."""
HOW_IT_WENT: Final[Mapping[str, str]] = {
    "waiting": "waiting to hear from them",
    "accepted": "they can take you",
    "attended": "you went",
    "declined": "you decided not to go",
    "not-reached": "they could not reach you",
    "turned-down": "they could not take you",
    "withdrawn": "no longer going ahead",
}
"""How each onward connection went (careweave.social_prescribing.pathway_codes.OUTCOMES), in
words for the person."""
MOST_REFERRALS_SHOWN: Final = 3
"""Referrals listed on My care, newest first: the rest are history the care team holds."""
ALREADY_REFERRED: Final = (
    "You already have a referral to social prescribing that is still open for something you "
    "chose. The service will contact you, so you do not need to refer yourself again."
)


def read_contact(typed: Mapping[str, str]) -> tuple[str | None, list[FieldError]]:
    """How the person asked to be contacted, as a sentence for the link worker, or the
    problems with what they typed."""
    how, detail = typed.get("contact", ""), " ".join(typed.get("contact_detail", "").split())
    if how not in CONTACT_BY:
        return None, [FieldError("contact", "Select how the service should contact you")]
    if len(detail) > MAX_CONTACT:
        message = f"Your phone number or email must be {MAX_CONTACT} characters or fewer"
        return None, [FieldError("contact_detail", message)]
    if how == "phone":
        digits = sum(c.isdigit() for c in detail)
        if not detail or not _PHONE.fullmatch(detail) or not 10 <= digits <= 13:
            example = "Enter a phone number, like 01632 960 001 or 07700 900 982"
            return None, [FieldError("contact_detail", example)]
        return f"How to contact me: by phone on {detail}", []
    if how == "email":
        if not _EMAIL.fullmatch(detail):
            example = "Enter an email address in the correct format, like name@example.com"
            return None, [FieldError("contact_detail", example)]
        return f"How to contact me: by email at {detail}", []
    return "How to contact me: by letter, to my address at my GP practice", []


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
        referrals = (
            my_referrals(access, str(signed_in.user.patient_id))
            if signed_in.user.role is Role.PATIENT
            else []
        )
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
            referrals=referrals[:MOST_REFERRALS_SHOWN],
            referred=any(still_going(r) for r in referrals),
            where_it_is=WHERE_IT_IS,
            how_it_went=HOW_IT_WENT,
            referred_on=referred_on,
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

    # -- referring myself to social prescribing -----------------------------------------------

    def self_referral_page(
        request: Request,
        door: tuple[SignedIn, CareRecordAccess],
        *,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        signed_in, access = door
        place = pathway_settings(request)
        service = place.self_referral_service if place.person_may_refer_themselves else None
        found = read_or_none(access, "Organization", service) if service else None
        chosen = typed or {"token": new_submission_token()}
        going = [r for r in my_referrals(access, str(signed_in.user.patient_id)) if still_going(r)]
        return render(
            "my_care_social_prescribing.html",
            status_code=status_code,
            styled=styled,
            signed_in=signed_in,
            current_section="my-care",
            offered=found is not None,
            service_name=str((found or {}).get("name") or "the social prescribing service"),
            practice=_practice_name(access, _practice_of(access, signed_in)),
            typed=chosen,
            chosen=[code for code in WHAT_WOULD_HELP if chosen.get(f"reason-{code}") == "yes"],
            errors=errors or [],
            what_would_help=WHAT_WOULD_HELP,
            contact_by=CONTACT_BY,
            maximum=MAXIMUM_TEXT_LENGTH,
            going=going,
            where_it_is=WHERE_IT_IS,
            referred_on=referred_on,
        )

    def only_the_person(door: Door) -> tuple[SignedIn, CareRecordAccess]:
        if door[0].user.role is not Role.PATIENT:
            raise PageRefused(403, CARERS_ASK)
        return door

    @router.get("/my-care/social-prescribing")
    def refer_myself(request: Request, door: Door) -> Response:
        return self_referral_page(request, only_the_person(door))

    @router.post("/my-care/social-prescribing", dependencies=checked)
    def send_my_referral(request: Request, door: Door, form: Form) -> Response:
        signed_in, access = only_the_person(door)
        place = pathway_settings(request)
        if not place.person_may_refer_themselves:
            return self_referral_page(request, door, status_code=403)
        typed = {
            "token": form.get("token", "")[:64],
            "details": form.get("details", "")[: MAXIMUM_TEXT_LENGTH * 2],
            "contact": form.get("contact", "")[:8],
            "contact_detail": form.get("contact_detail", "")[: MAX_CONTACT * 2],
            **{f"reason-{c}": "yes" for c in WHAT_WOULD_HELP if form.get(f"reason-{c}") == "yes"},
        }
        contact, errors = read_contact(typed)
        reasons = [c for c in WHAT_WOULD_HELP if typed.get(f"reason-{c}") == "yes"]
        words = typed["details"].strip()
        if not reasons:
            message = "Select at least one thing you would like help with"
            errors.insert(0, FieldError("reason", message))
        elif "other" in reasons and not words:
            errors.insert(0, FieldError("details", "Tell us what else you would like help with"))
        if errors:
            return self_referral_page(request, door, typed=typed, errors=errors, status_code=400)
        try:
            refer(
                access,
                str(signed_in.user.patient_id),
                service_organisation_id=place.self_referral_service or "",
                reasons=reasons,
                details=f"{words}\n{contact}" if words else str(contact),
                token=typed["token"],
                settings=place,
            )
        except SelfReferralNotOffered:
            return self_referral_page(request, door, status_code=403)
        except InvalidReferralForm as exc:
            errors = [FieldError(SELF_FIELDS.get(f or "", f), m) for f, m in exc.problems]
            return self_referral_page(request, door, typed=typed, errors=errors, status_code=400)
        except DuplicateReferral:
            errors = [FieldError(None, ALREADY_REFERRED)]
            return self_referral_page(request, door, typed=typed, errors=errors, status_code=409)
        except PathwayProblem as exc:
            errors = [FieldError(None, exc.message)]
            return self_referral_page(request, door, typed=typed, errors=errors, status_code=400)
        return RedirectResponse("/my-care?done=referred", status_code=303)

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


def my_referrals(access: CareRecordAccess, patient_id: str) -> list[Episode]:
    """The person's referrals to social prescribing that the asker may see, newest first
    (none for a carer whose view does not include referrals)."""
    if not may_read(access, "ServiceRequest") or not may_read(access, "Task"):
        return []
    return episodes_for_person(access, patient_id)


def referred_on(referral: Episode) -> date | None:
    """The UK day the referral was made."""
    return referral.referred_at.astimezone(UK).date() if referral.referred_at else None


def still_going(referral: Episode) -> bool:
    """Whether the referral is waiting for, or under way with, the link worker."""
    return referral.status not in CLOSED_TASK_STATUSES and referral.stage not in (
        "ended",
        "not-taken-on",
    )


def _practice_of(access: CareRecordAccess, signed_in: SignedIn) -> str | None:
    """The person's GP practice (Patient.generalPractitioner), for "ask your practice"."""
    patient = read_or_none(access, "Patient", str(signed_in.user.patient_id))
    for reference in (patient or {}).get("generalPractitioner") or ():
        target = str((reference or {}).get("reference", ""))
        if target.startswith("Organization/"):
            return target.removeprefix("Organization/")
    return None


def _practice_name(access: CareRecordAccess, practice_id: str | None) -> str | None:
    found = read_or_none(access, "Organization", practice_id) if practice_id else None
    name = (found or {}).get("name")
    return str(name) if name else None
