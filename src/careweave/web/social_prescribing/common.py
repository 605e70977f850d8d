"""What every social prescribing and directory page shares: who may use them, the directory
index the server keeps in memory, the person a page is about (with their postcode), and how
the domain's refusals become the NHS.UK error summary.

The directory pages are for all staff (an administrator keeps the directory, an analyst may
look something up); the pathway pages are for care staff, as coordination's are. What the
user may see and do is decided by the guard on every read and write: a page only chooses
which actions to offer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Final

from fastapi import Depends, Request

from careweave.access.roles import STAFF_ROLES, Role
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import UK, read
from careweave.fhir.resource_types import is_fhir_id
from careweave.social_prescribing.directory_index import DirectoryIndex
from careweave.social_prescribing.pathway_problems import (
    ChangedMeanwhile,
    NotAtThisStage,
    NotYours,
    PathwayProblem,
)
from careweave.social_prescribing.referral_in import PathwaySettings
from careweave.web.coordination.context import StaffPage, may, record_access, staff_page
from careweave.web.signed_in import FieldError, PageRefused, SignedIn, current_user
from careweave.web.wording import Directory

NOT_FOUND: Final = "If you typed the web address, check it is correct."
NOT_STAFF: Final = (
    "This page is for staff. If you need it for your work, ask your administrator to check "
    "the role on your account."
)

Page = Annotated[StaffPage, Depends(staff_page)]
"""Care staff (CARE_ROLES), as coordination's pages."""


def any_staff_page(
    request: Request, signed_in: Annotated[SignedIn, Depends(current_user)]
) -> StaffPage:
    """A dependency for pages every member of staff may use (the directory): care staff,
    analysts and administrators. A person or their carer is refused with a page saying why."""
    if signed_in.user.role not in STAFF_ROLES:
        raise PageRefused(403, NOT_STAFF)
    return StaffPage(
        signed_in, record_access(request, signed_in), Directory(request.app.state.store)
    )


AnyStaff = Annotated[StaffPage, Depends(any_staff_page)]


def directory_index(request: Request) -> DirectoryIndex:
    """The server's one in-memory directory (careweave.social_prescribing.directory_index),
    made on first use and kept on the app. Postcode positions come from the Locations in the
    store (each venue's and each of the place's sites): docs/directory.md says why no wider
    postcode table is loaded yet. Two first requests at once may each build one; the later
    simply replaces the earlier, which is harmless."""
    state = request.app.state
    index: DirectoryIndex | None = getattr(state, "directory_index", None)
    if index is None or index.store is not state.store:
        index = DirectoryIndex(state.store)
        state.directory_index = index
    return index


@dataclass(frozen=True)
class PersonWithPostcode:
    """The person a page is about, and the postcode of their home address (if recorded)."""

    banner: PersonBanner
    postcode: str | None


def pathway_settings(request: Request) -> PathwaySettings:
    """How the place runs its pathway (self-referral), from the app's settings: read per
    request so that every page, and the guard, follow the one settings object."""
    return PathwaySettings.of(request.app.state.settings)


def checked_id(value: str) -> str:
    if not is_fhir_id(value):
        raise PageRefused(404, NOT_FOUND)
    return value


def person_with_postcode(page: StaffPage, patient_id: str) -> PersonWithPostcode:
    """The person (one guarded read); "Page not found" when the user may not see them."""
    patient = read(page.access, "Patient", checked_id(patient_id))
    return PersonWithPostcode(banner_of(patient), home_postcode(patient))


def home_postcode(patient: dict[str, Any]) -> str | None:
    """The postcode of the person's current home address: a `home` address without an end
    date first, else the first address with a postcode."""
    addresses = [a for a in patient.get("address") or () if isinstance(a, dict)]
    current = [a for a in addresses if not (a.get("period") or {}).get("end")]
    ordered = sorted(current or addresses, key=lambda a: a.get("use") != "home")
    for address in ordered:
        code = address.get("postalCode")
        if isinstance(code, str) and code.strip():
            return code.strip()
    return None


def is_service_staff(page: StaffPage, service_organisation_id: str | None) -> bool:
    """Whether the user works for the social prescribing service a referral went to (only
    they triage and work it: careweave.social_prescribing.pathway_record.require_service)."""
    organisation = page.signed_in.user.organisation_id
    return organisation is not None and organisation == service_organisation_id


def may_refer(page: StaffPage) -> bool:
    return may(page, "create", "ServiceRequest") and may(page, "create", "Task")


def problem_errors(
    problem: PathwayProblem, fields: dict[str, str] | None = None
) -> list[FieldError]:
    """The error summary for a refusal of the pathway's: each field's problem linked to its
    input (`fields` renames a domain field to the page's input id), anything else unlinked."""
    field = problem.field
    if field is not None and fields is not None:
        field = fields.get(field, field)
    return [FieldError(field, problem.message)]


def problem_status(problem: PathwayProblem) -> int:
    """The HTTP status a refusal is shown with: a stale page or a step out of turn is a
    conflict, a step that is not the user's to take is forbidden, the rest bad input."""
    if isinstance(problem, ChangedMeanwhile | NotAtThisStage):
        return 409
    if isinstance(problem, NotYours):
        return 403
    return 400


def is_administrator(page: StaffPage) -> bool:
    return page.signed_in.user.role is Role.ADMINISTRATOR


def uk_day_of(moment: datetime) -> date:
    """The day in the UK a moment falls on (what people call the day something happened)."""
    return moment.astimezone(UK).date()
