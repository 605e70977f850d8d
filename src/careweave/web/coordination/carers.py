"""A person's carers page: the unpaid carers around them with how to reach them, whether each
may see the care plan (the person's consent, recorded here when they give it to staff), the
forms to record a carer, change their details or record that they no longer care, and a link
to their carer's assessment.

The pages turn form fields into calls on careweave.coordination.carers. Recording a carer
carries a one-time token (a double submit makes one RelatedPerson); changes carry the version
the page showed, so a change someone else made meanwhile is shown, not overwritten.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination.carers import (
    RELATIONSHIPS,
    Carer,
    CarerDetails,
    CarerProblem,
    carer_of,
    carers_of,
    check_details,
    give_consent,
    record_carer,
    stop_caring,
    update_carer,
    withdraw_consent,
)
from careweave.coordination.people import PersonBanner
from careweave.coordination.record import new_submission_token
from careweave.fhir.errors import NotFound, VersionConflict
from careweave.fhir.resource_types import is_fhir_id
from careweave.web.coordination.context import (
    StaffPage,
    may,
    person_of,
    render_person_page,
    staff_page,
)
from careweave.web.coordination.form_fields import form_version
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf

Page = Annotated[StaffPage, Depends(staff_page)]
Form = Annotated[dict[str, str], Depends(posted_form)]

DONE: Final[dict[str, str]] = {
    "recorded": "The carer has been recorded",
    "changed": "The carer's details have been changed",
    "stopped": "The carer is recorded as no longer caring for this person",
    "consented": "The person's consent has been recorded: their carer can now see the care plan",
    "withdrawn": "Consent withdrawn: the carer can no longer see the care plan",
    "no-consent": "There was no consent to withdraw",
}
FIELDS: Final = ("given", "family", "relationship", "phone", "email")
NOT_FOUND: Final = "If you typed the web address, check it is correct."


def details_from(form: dict[str, str]) -> tuple[dict[str, str], CarerDetails]:
    """What was typed (to put back into the form) and the details it gives."""
    typed = {name: form.get(name, "")[:300] for name in FIELDS}
    typed["main_carer"] = "yes" if form.get("main_carer") == "yes" else ""
    typed["token"] = form.get("token", "")[:64]
    typed["version"] = form.get("version", "")[:12]
    details = CarerDetails(
        given=typed["given"].strip(),
        family=typed["family"].strip(),
        relationship_code=typed["relationship"],
        phone=typed["phone"],
        email=typed["email"],
        main_carer=typed["main_carer"] == "yes",
    )
    return typed, details


def typed_from(carer: Carer) -> dict[str, str]:
    return {
        "given": carer.given,
        "family": carer.family,
        "relationship": carer.relationship_code or "",
        "phone": carer.phone or "",
        "email": carer.email or "",
        "main_carer": "yes" if carer.main_carer else "",
        "version": str(carer.version_id),
    }


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
            "carers",
            styled=styled,
            status_code=status_code,
            **context,
        )

    def one_carer(page: StaffPage, patient_id: str, related_person_id: str) -> Carer:
        if not is_fhir_id(related_person_id):
            raise PageRefused(404, NOT_FOUND)
        try:
            return carer_of(page.access, patient_id, related_person_id)
        except NotFound:
            raise PageRefused(404, NOT_FOUND) from None

    def back(patient_id: str, done: str) -> Response:
        return RedirectResponse(f"/people/{patient_id}/carers?done={done}", status_code=303)

    @pages.get("/people/{patient_id}/carers")
    def show_carers(page: Page, patient_id: str, done: str | None = None) -> Response:
        person = person_of(page, patient_id)
        return person_page(
            page,
            person,
            "carers.html",
            carers=carers_of(page.access, patient_id),
            done=DONE.get(done or ""),
            may_record=may(page, "create", "RelatedPerson"),
            may_consent=may(page, "create", "Consent"),
        )

    # -- recording and changing a carer -----------------------------------------------------

    def carer_form(
        page: StaffPage,
        person: PersonBanner,
        *,
        carer: Carer | None,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        conflict: Carer | None = None,
        status_code: int = 200,
    ) -> Response:
        return person_page(
            page,
            person,
            "carer_form.html",
            status_code=status_code,
            carer=carer,
            typed=typed,
            errors=errors or [],
            conflict=conflict,
            relationships=RELATIONSHIPS,
        )

    @pages.get("/people/{patient_id}/carers/new")
    def new_carer(page: Page, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        page.access.permit("create", "RelatedPerson")
        return carer_form(page, person, carer=None, typed={"token": new_submission_token()})

    @pages.post("/people/{patient_id}/carers/new", dependencies=checked)
    def save_new_carer(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        typed, details = details_from(form)
        errors = [FieldError(p.field or "given", p.message) for p in check_details(details)]
        if not errors:
            try:
                record_carer(page.access, patient_id, details, typed["token"])
            except CarerProblem as exc:
                errors = [FieldError(exc.field or "given", exc.message)]
            else:
                return back(patient_id, "recorded")
        return carer_form(page, person, carer=None, typed=typed, errors=errors, status_code=400)

    @pages.get("/people/{patient_id}/carers/{related_person_id}/change")
    def change_carer(page: Page, patient_id: str, related_person_id: str) -> Response:
        person = person_of(page, patient_id)
        carer = one_carer(page, patient_id, related_person_id)
        page.access.permit("update", "RelatedPerson")
        return carer_form(page, person, carer=carer, typed=typed_from(carer))

    @pages.post("/people/{patient_id}/carers/{related_person_id}/change", dependencies=checked)
    def save_carer(page: Page, form: Form, patient_id: str, related_person_id: str) -> Response:
        person = person_of(page, patient_id)
        carer = one_carer(page, patient_id, related_person_id)
        typed, details = details_from(form)
        errors = [FieldError(p.field or "given", p.message) for p in check_details(details)]
        if not errors:
            try:
                update_carer(
                    page.access, patient_id, related_person_id, details, form_version(form)
                )
            except VersionConflict:
                now = one_carer(page, patient_id, related_person_id)
                typed["version"] = str(now.version_id)
                return carer_form(
                    page, person, carer=now, typed=typed, conflict=now, status_code=409
                )
            except CarerProblem as exc:
                errors = [FieldError(exc.field or "given", exc.message)]
            else:
                return back(patient_id, "changed")
        return carer_form(page, person, carer=carer, typed=typed, errors=errors, status_code=400)

    @pages.post("/people/{patient_id}/carers/{related_person_id}/stop", dependencies=checked)
    def record_stopped(page: Page, form: Form, patient_id: str, related_person_id: str) -> Response:
        person_of(page, patient_id)
        one_carer(page, patient_id, related_person_id)
        stop_caring(page.access, patient_id, related_person_id, form_version(form))
        return back(patient_id, "stopped")

    # -- the person's consent for the carer to see the plan ----------------------------------

    @pages.post("/people/{patient_id}/carers/{related_person_id}/consent", dependencies=checked)
    def record_consent(page: Page, form: Form, patient_id: str, related_person_id: str) -> Response:
        person = person_of(page, patient_id)
        carer = one_carer(page, patient_id, related_person_id)
        if form.get("agreed") != "yes":
            return person_page(
                page,
                person,
                "carers.html",
                status_code=400,
                carers=carers_of(page.access, patient_id),
                done=None,
                may_record=may(page, "create", "RelatedPerson"),
                may_consent=may(page, "create", "Consent"),
                errors=[
                    FieldError(
                        f"agreed-{carer.related_person_id}",
                        f"Confirm that {person.name} has agreed to {carer.name} seeing their "
                        "care plan",
                    )
                ],
            )
        give_consent(
            page.access,
            patient_id,
            related_person_id,
            form.get("token", "")[:64] or new_submission_token(),
            recorded_by_organisation=page.signed_in.user.organisation_id,
        )
        return back(patient_id, "consented")

    @pages.post(
        "/people/{patient_id}/carers/{related_person_id}/consent/withdraw", dependencies=checked
    )
    def record_withdrawal(page: Page, patient_id: str, related_person_id: str) -> Response:
        person_of(page, patient_id)
        one_carer(page, patient_id, related_person_id)
        withdrawn = withdraw_consent(page.access, patient_id, related_person_id)
        return back(patient_id, "withdrawn" if withdrawn else "no-consent")

    return pages
