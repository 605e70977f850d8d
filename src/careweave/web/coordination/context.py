"""What every coordination page starts from: the signed-in person's door to the record, and
the person the page is about.

Pages are for staff who care for people (careweave.access.roles.CARE_ROLES); a person and
their carer have their own pages (/my-care). A record the user may not see is "Page not found",
exactly as one that does not exist (the guard's NotFound becomes the 404 page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import Response

from careweave.access.accounts import principal_for_user
from careweave.access.guard import CareRecordAccess
from careweave.access.roles import CARE_ROLES
from careweave.coordination.people import PersonBanner, person_banner
from careweave.fhir.errors import Forbidden
from careweave.fhir.resource_types import is_fhir_id
from careweave.web.pages import render
from careweave.web.signed_in import PageRefused, SignedIn, address_of, current_user
from careweave.web.wording import Directory

NOT_FOR_YOUR_ROLE = (
    "This page is for staff who care for people. If you need it for your work, "
    "ask your administrator to check the role on your account."
)


def record_access(request: Request, signed_in: SignedIn) -> CareRecordAccess:
    """The signed-in user's door to the shared record, for this request."""
    cached: CareRecordAccess | None = getattr(request.state, "record_access", None)
    if cached is None:
        principal = principal_for_user(signed_in.user, address=address_of(request))
        cached = CareRecordAccess(
            request.app.state.store,
            principal,
            request.app.state.audit,
            self_referral_to=request.app.state.settings.self_referral_service,
        )
        request.state.record_access = cached
    return cached


@dataclass(frozen=True)
class StaffPage:
    """A signed-in member of care staff on a coordination page."""

    signed_in: SignedIn
    access: CareRecordAccess
    directory: Directory


def staff_page(
    request: Request, signed_in: Annotated[SignedIn, Depends(current_user)]
) -> StaffPage:
    """A dependency for staff pages: others are refused with a page saying why."""
    if signed_in.user.role not in CARE_ROLES:
        raise PageRefused(403, NOT_FOR_YOUR_ROLE)
    return StaffPage(
        signed_in, record_access(request, signed_in), Directory(request.app.state.store)
    )


def may(page: StaffPage, interaction: str, resource_type: str) -> bool:
    """Whether the user's role and scopes allow `interaction` on `resource_type`: pages offer
    only the changes the user may make (the domain still checks on every write)."""
    try:
        page.access.permit(interaction, resource_type)
    except Forbidden:
        return False
    return True


def person_of(page: StaffPage, patient_id: str) -> PersonBanner:
    """The person a page is about; "Page not found" for a malformed id, a record that does
    not exist, or one the user has no relationship with."""
    if not is_fhir_id(patient_id):
        raise PageRefused(404, "If you typed the web address, check it is correct.")
    return person_banner(page.access, patient_id)


def render_person_page(
    page: StaffPage,
    person: PersonBanner,
    template: str,
    record_tab: str,
    *,
    styled: bool,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A page of a person's record (a template extending coordination/person_base.html): the
    banner, their practice's name and the record tab it is, with the page's own `context`."""
    return render(
        template,
        status_code=status_code,
        styled=styled,
        signed_in=page.signed_in,
        person=person,
        practice=page.directory.organisation(person.practice_id),
        record_tab=record_tab,
        **context,
    )
