"""A person's care team pages: who their named coordinator is and how to reach them, who covers
an absence, who else is in the team (from any organisation) and who has left; and the forms
that assign the coordinator, hand over, set or end cover, and add or remove members.

The pages turn form fields into calls on careweave.coordination.care_team and show what it
refuses in the NHS.UK error pattern. Every form carries the version of the team it was read
at, so a change someone else made meanwhile is shown rather than overwritten; the forms that
create something (the team, a handover note) carry a one-time token against double submits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination.care_team import (
    CHANGED_MEANWHILE,
    HANDOVER_NOTE_LIMIT,
    CareTeamProblem,
    FormerMember,
    StaffChoice,
    Team,
    TeamMember,
    add_member,
    assign_coordinator,
    end_cover,
    end_membership,
    former_members,
    hand_over,
    set_cover,
    staff_to_choose,
    team_of,
)
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
from careweave.web.coordination.form_fields import form_version, read_date, read_text, typed_date
from careweave.web.pages import role_name
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf

DONE: Final = {
    "assigned": "The named coordinator has been assigned",
    "handed-over": "The person has been handed over to their new coordinator",
    "cover-set": "Cover has been set",
    "cover-ended": "Cover has ended",
    "added": "They have been added to the care team",
    "removed": "They have been removed from the care team",
}
"""The success banners a change redirects to (the team page's `done` query value)."""

WHO: Final = "practitioner_role"

Page = Annotated[StaffPage, Depends(staff_page)]
Form = Annotated[dict[str, str], Depends(posted_form)]


@dataclass(frozen=True)
class OrganisationGroup:
    """Team members or staff to choose from, under the organisation they work for."""

    organisation: str
    people: list[Any]


def by_organisation(people: Iterable[Any]) -> list[OrganisationGroup]:
    """`people` (TeamMembers or StaffChoices) grouped by organisation name, in name order."""
    ordered = sorted(people, key=lambda p: (p.organisation.casefold(), p.name.casefold()))
    return [
        OrganisationGroup(organisation or "Organisation not recorded", list(group))
        for organisation, group in groupby(ordered, key=lambda p: p.organisation)
    ]


def profession_words(profession: str | None) -> str:
    """A post's profession as people say it (a role code such as "social-worker" becomes
    "Social worker"; free text is shown as written)."""
    return role_name(profession) if profession else ""


def in_team(team: Team | None) -> set[str]:
    if team is None:
        return set()
    everyone = [*([team.coordinator] if team.coordinator else []), *team.cover, *team.members]
    return {m.practitioner_role_id for m in everyone}


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)
    checked = [Depends(require_csrf)]

    def show(
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
            "care-team",
            styled=styled,
            status_code=status_code,
            profession_words=profession_words,
            **context,
        )

    def to_team(person: PersonBanner, done: str | None = None) -> Response:
        query = f"?done={done}" if done else ""
        return RedirectResponse(f"/people/{person.patient_id}/care-team{query}", status_code=303)

    def to_assign(person: PersonBanner) -> Response:
        return RedirectResponse(
            f"/people/{person.patient_id}/care-team/coordinator", status_code=303
        )

    def staff_groups(page: StaffPage, leave_out: set[str]) -> list[OrganisationGroup]:
        return by_organisation(
            c for c in staff_to_choose(page.access) if c.practitioner_role_id not in leave_out
        )

    def attempt(
        change: Callable[[], object],
        errors: list[FieldError],
    ) -> tuple[bool, int]:
        """Run a domain change; False and the status to answer with when it was refused
        (its reason added to `errors`)."""
        try:
            change()
        except VersionConflict:
            errors.append(FieldError(None, CHANGED_MEANWHILE))
            return False, 409
        except CareTeamProblem as problem:
            errors.append(FieldError(problem.field, problem.message))
            return False, 400
        return True, 200

    # -- the team ------------------------------------------------------------------------------

    @pages.get("/people/{patient_id}/care-team")
    def show_team(page: Page, patient_id: str, done: str | None = None) -> Response:
        person = person_of(page, patient_id)
        team = team_of(page.access, patient_id)
        former: list[FormerMember] = (
            former_members(page.access, patient_id, team=team) if team else []
        )
        return show(
            page,
            person,
            "care_team.html",
            team=team,
            groups=by_organisation(team.members) if team else [],
            former=former,
            done=DONE.get(done or ""),
            today=today(),
            may_change=may(page, "update", "CareTeam"),
        )

    # -- assigning the coordinator ------------------------------------------------------------

    def coordinator_form(
        page: StaffPage,
        person: PersonBanner,
        team: Team | None,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        return show(
            page,
            person,
            "care_team_coordinator.html",
            status_code=status_code,
            team=team,
            groups=staff_groups(page, set()),
            typed=typed,
            errors=errors or [],
        )

    @pages.get("/people/{patient_id}/care-team/coordinator")
    def show_assign(page: Page, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        team = team_of(page.access, patient_id)
        if team is not None and team.coordinator is not None:
            return RedirectResponse(f"/people/{patient_id}/care-team/hand-over", status_code=303)
        typed = {
            "version": str(team.version_id if team else 0),
            "token": new_submission_token(),
        }
        return coordinator_form(page, person, team, typed=typed)

    @pages.post("/people/{patient_id}/care-team/coordinator", dependencies=checked)
    def submit_assign(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        typed = _typed(form, (WHO, "version", "token"))
        errors: list[FieldError] = []
        if not typed[WHO]:
            errors.append(FieldError(WHO, "Select who will be the named coordinator"))
        if not typed["token"]:
            typed["token"] = new_submission_token()
        status = 400
        if not errors:
            done, status = attempt(
                lambda: assign_coordinator(
                    page.access,
                    patient_id,
                    typed[WHO],
                    version_id=form_version(typed),
                    token=typed["token"],
                ),
                errors,
            )
            if done:
                return to_team(person, "assigned")
        team = team_of(page.access, patient_id)
        if status == 409:
            typed["version"] = str(team.version_id if team else 0)
        return coordinator_form(page, person, team, typed=typed, errors=errors, status_code=status)

    # -- handing over -------------------------------------------------------------------------

    def hand_over_form(
        page: StaffPage,
        person: PersonBanner,
        team: Team,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        coordinator = team.coordinator
        leave_out = {coordinator.practitioner_role_id} if coordinator else set()
        yourself = (
            coordinator is not None
            and coordinator.practitioner_role_id == page.access.principal.practitioner_role_id
        )
        return show(
            page,
            person,
            "care_team_hand_over.html",
            status_code=status_code,
            team=team,
            groups=staff_groups(page, leave_out),
            typed=typed,
            errors=errors or [],
            yourself=yourself,
            note_limit=HANDOVER_NOTE_LIMIT,
        )

    @pages.get("/people/{patient_id}/care-team/hand-over")
    def show_hand_over(page: Page, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        team = team_of(page.access, patient_id)
        if team is None or team.coordinator is None:
            return to_assign(person)
        typed = {
            "version": str(team.version_id),
            "token": new_submission_token(),
            "keep": "yes",
        }
        return hand_over_form(page, person, team, typed=typed)

    @pages.post("/people/{patient_id}/care-team/hand-over", dependencies=checked)
    def submit_hand_over(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        typed = _typed(form, (WHO, "note", "keep", "version", "token"))
        typed["note"] = form.get("note", "")[: HANDOVER_NOTE_LIMIT * 2]
        errors: list[FieldError] = []
        if not typed[WHO]:
            errors.append(FieldError(WHO, "Select the new coordinator"))
        note, problem = read_text(
            form, "note", "a handover note for the new coordinator", limit=HANDOVER_NOTE_LIMIT
        )
        if problem is not None:
            errors.append(problem)
        if not typed["token"]:
            typed["token"] = new_submission_token()
        status = 400
        if not errors:
            done, status = attempt(
                lambda: hand_over(
                    page.access,
                    patient_id,
                    typed[WHO],
                    note=note,
                    version_id=form_version(typed),
                    token=typed["token"],
                    keep_old_coordinator=typed["keep"] == "yes",
                ),
                errors,
            )
            if done:
                return to_team(person, "handed-over")
        team = team_of(page.access, patient_id)
        if team is None or team.coordinator is None:
            return to_team(person)
        if status == 409:
            typed["version"] = str(team.version_id)
        return hand_over_form(page, person, team, typed=typed, errors=errors, status_code=status)

    # -- cover --------------------------------------------------------------------------------

    def cover_form(
        page: StaffPage,
        person: PersonBanner,
        team: Team,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        coordinator = team.coordinator
        leave_out = {coordinator.practitioner_role_id} if coordinator else set()
        example = today() + timedelta(days=14)
        return show(
            page,
            person,
            "care_team_cover.html",
            status_code=status_code,
            team=team,
            groups=staff_groups(page, leave_out),
            typed=typed,
            errors=errors or [],
            example=f"{example.day} {example.month} {example.year}",
        )

    @pages.get("/people/{patient_id}/care-team/cover")
    def show_cover(page: Page, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        team = team_of(page.access, patient_id)
        if team is None:
            return to_assign(person)
        return cover_form(page, person, team, typed={"version": str(team.version_id)})

    @pages.post("/people/{patient_id}/care-team/cover", dependencies=checked)
    def submit_cover(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        typed = {**_typed(form, (WHO, "version")), **typed_date(form, "until")}
        errors: list[FieldError] = []
        if not typed[WHO]:
            errors.append(FieldError(WHO, "Select who will cover"))
        until, problem = read_date(form, "until", "Date cover ends", not_before=today())
        if problem is not None:
            errors.append(problem)
        status = 400
        if not errors and until is not None:
            ends: date = until
            done, status = attempt(
                lambda: set_cover(
                    page.access, patient_id, typed[WHO], until=ends, version_id=form_version(typed)
                ),
                errors,
            )
            if done:
                return to_team(person, "cover-set")
        team = _team_or_assign(page, patient_id)
        if status == 409:
            typed["version"] = str(team.version_id)
        return cover_form(page, person, team, typed=typed, errors=errors, status_code=status)

    @pages.post("/people/{patient_id}/care-team/cover/{role_id}/end", dependencies=checked)
    def submit_end_cover(page: Page, form: Form, patient_id: str, role_id: str) -> Response:
        person = person_of(page, patient_id)
        _check_id(role_id)
        errors: list[FieldError] = []
        done, status = attempt(
            lambda: end_cover(page.access, patient_id, role_id, version_id=form_version(form)),
            errors,
        )
        if done:
            return to_team(person, "cover-ended")
        return team_with_errors(page, person, errors, status)

    def team_with_errors(
        page: StaffPage, person: PersonBanner, errors: list[FieldError], status: int
    ) -> Response:
        team = team_of(page.access, person.patient_id)
        return show(
            page,
            person,
            "care_team.html",
            status_code=status,
            team=team,
            groups=by_organisation(team.members) if team else [],
            former=former_members(page.access, person.patient_id, team=team) if team else [],
            done=None,
            today=today(),
            may_change=may(page, "update", "CareTeam"),
            errors=errors,
        )

    # -- members ------------------------------------------------------------------------------

    def add_form(
        page: StaffPage,
        person: PersonBanner,
        team: Team,
        *,
        typed: dict[str, str],
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        return show(
            page,
            person,
            "care_team_add.html",
            status_code=status_code,
            team=team,
            groups=staff_groups(page, in_team(team)),
            typed=typed,
            errors=errors or [],
        )

    @pages.get("/people/{patient_id}/care-team/members/add")
    def show_add(page: Page, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        team = team_of(page.access, patient_id)
        if team is None:
            return to_assign(person)
        return add_form(page, person, team, typed={"version": str(team.version_id)})

    @pages.post("/people/{patient_id}/care-team/members/add", dependencies=checked)
    def submit_add(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        typed = _typed(form, (WHO, "version"))
        errors: list[FieldError] = []
        status = 400
        if not typed[WHO]:
            errors.append(FieldError(WHO, "Select who to add to the care team"))
        else:
            done, status = attempt(
                lambda: add_member(
                    page.access, patient_id, typed[WHO], version_id=form_version(typed)
                ),
                errors,
            )
            if done:
                return to_team(person, "added")
        team = _team_or_assign(page, patient_id)
        if status == 409:
            typed["version"] = str(team.version_id)
        return add_form(page, person, team, typed=typed, errors=errors, status_code=status)

    def remove_page(
        page: StaffPage,
        person: PersonBanner,
        team: Team,
        member: TeamMember,
        *,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        return show(
            page,
            person,
            "care_team_remove.html",
            status_code=status_code,
            team=team,
            member=member,
            yourself=member.practitioner_role_id == page.access.principal.practitioner_role_id,
            errors=errors or [],
        )

    def member_of(team: Team, role_id: str) -> TeamMember:
        for member in [*team.members, *team.cover]:
            if member.practitioner_role_id == role_id:
                return member
        if team.coordinator is not None and team.coordinator.practitioner_role_id == role_id:
            return team.coordinator
        raise PageRefused(404, "They are not in this person's care team.")

    @pages.get("/people/{patient_id}/care-team/members/{role_id}/remove")
    def show_remove(page: Page, patient_id: str, role_id: str) -> Response:
        person = person_of(page, patient_id)
        _check_id(role_id)
        team = _team_or_assign(page, patient_id)
        member = member_of(team, role_id)
        return remove_page(page, person, team, member)

    @pages.post("/people/{patient_id}/care-team/members/{role_id}/remove", dependencies=checked)
    def submit_remove(page: Page, form: Form, patient_id: str, role_id: str) -> Response:
        person = person_of(page, patient_id)
        _check_id(role_id)
        errors: list[FieldError] = []
        done, status = attempt(
            lambda: end_membership(page.access, patient_id, role_id, version_id=form_version(form)),
            errors,
        )
        if done:
            return to_team(person, "removed")
        team = team_of(page.access, patient_id)
        if team is None or role_id not in in_team(team):
            return team_with_errors(page, person, errors, status)
        return remove_page(
            page, person, team, member_of(team, role_id), errors=errors, status_code=status
        )

    return pages


def _typed(form: dict[str, str], names: Iterable[str]) -> dict[str, str]:
    """The fields as typed (trimmed and capped), to use and to show again."""
    return {name: form.get(name, "").strip()[:200] for name in names}


def _check_id(role_id: str) -> None:
    if not is_fhir_id(role_id):
        raise PageRefused(404, "If you typed the web address, check it is correct.")


def _team_or_assign(page: StaffPage, patient_id: str) -> Team:
    """The person's team, for a form that changes it; with no team yet the form cannot be
    used, and the page says to assign a coordinator first."""
    team = team_of(page.access, patient_id)
    if team is None:
        raise PageRefused(
            404,
            "This person has no care team yet. Assign a named coordinator first, from their "
            "care team page.",
        )
    return team


__all__ = ["StaffChoice", "by_organisation", "router"]
