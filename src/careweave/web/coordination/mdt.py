"""The MDT meeting pages: the meetings someone organises or is invited to (/mdt), scheduling
one, a meeting's page (who is invited, who is to be discussed), choosing the people to
discuss, recording the discussion and the actions agreed for each, attendance, and marking the
meeting held or cancelled.

The pages turn form fields into calls on careweave.coordination.mdt, .mdt_attendance,
.mdt_discussions and .mdt_candidates, and show what they refuse in the NHS.UK error pattern.
Forms that create something (a meeting, a person on the list, an action) carry a one-time
token, so sending one twice makes one; forms that replace a version (attendance, the
meeting's status, a discussion, taking someone off) carry the version they showed, and a
change someone else made meanwhile is answered with 409, the page as it is now and what the
user typed. Everything works without JavaScript: actions are added one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination import mdt, mdt_attendance, mdt_candidates, mdt_discussions
from careweave.coordination.care_team import staff_to_choose
from careweave.coordination.finding import FoundPeople, SearchProblem, find_people
from careweave.coordination.record import new_submission_token, today
from careweave.web.coordination.care_team import by_organisation, profession_words
from careweave.web.coordination.caseload import described
from careweave.web.coordination.context import StaffPage, may, staff_page
from careweave.web.coordination.form_fields import read_date, typed_date
from careweave.web.pages import render
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf
from careweave.web.wording import london_day, london_time

FHIR_ID: Final = r"^[A-Za-z0-9\-.]{1,64}$"
SECTION: Final = "mdt"
DONE: Final[Mapping[str, str]] = {
    "scheduled": "The meeting has been scheduled",
    "added": "They have been added to the list",
    "removed": "They have been taken off the list",
    "discussion": "The discussion has been saved. Add the actions agreed below",
    "action": "The action has been added. It is on the owner's list of tasks",
    "attendance": "Attendance has been saved",
    "invited": "They have been added to the meeting",
    "fulfilled": "The meeting has been marked as held",
    "cancelled": "The meeting has been cancelled",
}
"""The success banner a change redirects to (the page's `done` query value)."""
FIELD_ORDER: Final = ("title", "day", "start_time", "minutes", "location", "place", "attendees")
"""The schedule form's fields in page order: the error summary lists problems in this order."""

Page = Annotated[StaffPage, Depends(staff_page)]
Form = Annotated[dict[str, str], Depends(posted_form)]
MeetingId = Annotated[str, Path(pattern=FHIR_ID)]
Checked = [Depends(require_csrf)]


def _version(form: Mapping[str, str]) -> int:
    text = form.get("version", "")
    return int(text) if text.isdigit() and len(text) < 10 else -1


def _chosen_staff(form: Mapping[str, str]) -> tuple[str, ...]:
    """The PractitionerRoles ticked in a staff checkbox list (fields `attendee-<id>`)."""
    return tuple(
        name.removeprefix("attendee-")
        for name, value in form.items()
        if name.startswith("attendee-") and value == "yes"
    )


def _field_errors(problems: Any) -> list[FieldError]:
    return [FieldError(p.field, p.message) for p in problems]


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)

    def page_of(
        page: StaffPage, template: str, *, status_code: int = 200, **context: Any
    ) -> Response:
        context.setdefault("errors", [])
        return render(
            f"coordination/{template}",
            status_code=status_code,
            styled=styled,
            signed_in=page.signed_in,
            current_section=SECTION,
            london_time=london_time,
            london_day=london_day,
            organisation=page.directory.organisation,
            profession_words=profession_words,
            **context,
        )

    def meeting_of(page: StaffPage, meeting_id: str) -> mdt.Meeting:
        return mdt.meeting(page.access, meeting_id)

    def to(path: str, done: str, anchor: str = "") -> Response:
        return RedirectResponse(f"{path}?done={done}{anchor}", status_code=303)

    def may_change(page: StaffPage, held: mdt.Meeting) -> bool:
        return mdt.takes_part(page.access.principal, held) and may(page, "update", "Appointment")

    def staff_groups(page: StaffPage, leave_out: set[str]) -> list[Any]:
        return by_organisation(
            c for c in staff_to_choose(page.access) if c.practitioner_role_id not in leave_out
        )

    # -- my meetings ------------------------------------------------------------------------

    @pages.get("/mdt")
    def list_meetings(page: Page) -> Response:
        return page_of(
            page,
            "mdt.html",
            meetings=mdt.my_meetings(page.access),
            may_schedule=may(page, "create", "Appointment"),
            me=page.access.principal.practitioner_role_id,
        )

    # -- scheduling -------------------------------------------------------------------------

    def schedule_form(
        page: StaffPage,
        typed: dict[str, str],
        chosen: tuple[str, ...] = (),
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        example = today() + timedelta(days=7)
        me = page.access.principal.practitioner_role_id
        places = mdt.places(page.access)
        found = list(errors or [])
        if not places:
            found = [FieldError("place", e.message) if e.field == "location" else e for e in found]
        return page_of(
            page,
            "mdt_new.html",
            status_code=status_code,
            typed=typed,
            chosen=set(chosen),
            errors=found,
            groups=staff_groups(page, {me} if me else set()),
            places=places,
            durations=mdt.DURATIONS,
            own_organisation=page.directory.organisation(page.access.principal.organisation_id),
            example=f"{example.day} {example.month} {example.year}",
            max_title=mdt.MAX_TITLE,
        )

    @pages.get("/mdt/new")
    def show_schedule(page: Page) -> Response:
        page.access.permit("create", "Appointment")
        return schedule_form(page, {"token": new_submission_token(), "minutes": "60"})

    @pages.post("/mdt/new", dependencies=Checked)
    def schedule(page: Page, form: Form) -> Response:
        typed = {
            "title": form.get("title", "")[: mdt.MAX_TITLE * 2],
            "start_time": form.get("start_time", "")[:20],
            "minutes": form.get("minutes", "")[:8],
            "location": form.get("location", "")[:64],
            "place": form.get("place", "")[: mdt.MAX_PLACE * 2],
            "token": form.get("token", "")[:64],
            **typed_date(form, "day"),
        }
        chosen = _chosen_staff(form)
        day, date_error = read_date(form, "day", "Date of the meeting", not_before=today())
        request = mdt.MeetingRequest(
            title=typed["title"],
            day=day,
            start_time=typed["start_time"],
            minutes=typed["minutes"],
            location_id=typed["location"],
            place=typed["place"],
            attendees=chosen,
        )
        problems = _field_errors(mdt.check_meeting(page.access, request))
        errors = [e for e in problems if not (e.field == "day" and date_error is not None)]
        if date_error is not None:
            errors.append(date_error)
        errors.sort(key=lambda e: FIELD_ORDER.index(e.field) if e.field in FIELD_ORDER else 99)
        if not errors:
            try:
                made = mdt.schedule_meeting(page.access, request, typed["token"])
            except mdt.InvalidMeeting as exc:
                errors = _field_errors(exc.problems)
            else:
                return to(f"/mdt/{made.appointment_id}", "scheduled")
        return schedule_form(page, typed, chosen, errors, 400)

    # -- one meeting ------------------------------------------------------------------------

    @pages.get("/mdt/{meeting_id}")
    def show_meeting(page: Page, meeting_id: MeetingId, done: str | None = None) -> Response:
        held = meeting_of(page, meeting_id)
        listed = mdt_discussions.people_on_list(page.access, held)
        taking_part = mdt.takes_part(page.access.principal, held)
        return page_of(
            page,
            "mdt_meeting.html",
            meeting=held,
            listed=listed,
            done=DONE.get(done or ""),
            may_change=may_change(page, held),
            may_add_people=taking_part
            and held.status == "booked"
            and may(page, "create", "Communication"),
        )

    # -- choosing people to discuss -------------------------------------------------------------

    def add_form(
        page: StaffPage,
        held: mdt.Meeting,
        typed: dict[str, str],
        *,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        listed = mdt_discussions.people_on_list(page.access, held)
        on_list = {p.person.patient_id for p in listed.people}
        query = typed.get("q", "")
        found: FoundPeople | None = None
        search_errors: list[FieldError] = []
        try:
            found = find_people(page.access, query)
        except SearchProblem as problem:
            search_errors.append(FieldError("q", str(problem)))
            status_code = 400
        return page_of(
            page,
            "mdt_people_add.html",
            status_code=status_code,
            meeting=held,
            typed=typed,
            errors=[*search_errors, *(errors or [])],
            candidates=mdt_candidates.candidates(page.access, on_list),
            found=found,
            searched_for=described(found.query) if found else "",
            on_list=on_list,
            max_reason=mdt.MAX_REASON,
            shown=mdt_candidates.CANDIDATES_SHOWN,
        )

    def open_to_add(page: StaffPage, held: mdt.Meeting) -> None:
        page.access.permit("create", "Communication")
        mdt.check_takes_part(page.access, held)
        if held.status != "booked":
            raise PageRefused(
                409, "People can be added only before the meeting is held or cancelled."
            )

    @pages.get("/mdt/{meeting_id}/people/add")
    def show_add_person(
        page: Page,
        meeting_id: MeetingId,
        q: Annotated[str, Query()] = "",
        patient: Annotated[str, Query()] = "",
    ) -> Response:
        """`q` searches at once; `patient` comes ticked (a worklist's link to add someone)."""
        held = meeting_of(page, meeting_id)
        try:
            open_to_add(page, held)
        except mdt.MeetingProblem as exc:
            raise PageRefused(exc.status, exc.message) from None
        typed = {"token": new_submission_token(), "q": q[:200], "patient": patient[:64]}
        return add_form(page, held, typed)

    @pages.post("/mdt/{meeting_id}/people/add", dependencies=Checked)
    def add_person(page: Page, form: Form, meeting_id: MeetingId) -> Response:
        held = meeting_of(page, meeting_id)
        typed = {
            "patient": form.get("patient", "")[:64],
            "reason": form.get("reason", "")[: mdt.MAX_REASON * 2],
            "token": form.get("token", "")[:64],
            "q": form.get("q", "")[:200],
        }
        errors: list[FieldError] = []
        status = 400
        if not typed["patient"]:
            errors.append(FieldError("patient", "Select the person to discuss"))
        if not typed["reason"].strip():
            errors.append(FieldError("reason", "Enter why the meeting should discuss them"))
        if not errors:
            try:
                mdt_discussions.add_person(
                    page.access, meeting_id, typed["patient"], typed["reason"], typed["token"]
                )
            except mdt.MeetingProblem as exc:
                if exc.status == 403:
                    raise PageRefused(403, exc.message) from None
                errors.append(FieldError(exc.field, exc.message))
                status = exc.status
            else:
                return to(f"/mdt/{meeting_id}", "added", "#people")
        return add_form(page, held, typed, errors=errors, status_code=status)

    # -- one person's discussion ---------------------------------------------------------------

    def person_page(
        page: StaffPage,
        held: mdt.Meeting,
        communication_id: str,
        *,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        failed: str | None = None,
        done: str | None = None,
        status_code: int = 200,
    ) -> Response:
        listed = mdt_discussions.listed_person(page.access, held, communication_id)
        taking_part = mdt.takes_part(page.access.principal, held)
        fields = dict(typed or {})
        if failed != "discussion":
            fields["discussion"] = listed.discussion or ""
        if failed != "action":
            fields.update({"action_token": new_submission_token(), "owner": "", "description": ""})
        example = today() + timedelta(days=14)
        may_record = (
            taking_part
            and held.status != "cancelled"
            and held.started()
            and may(page, "update", "Communication")
        )
        return page_of(
            page,
            "mdt_person.html",
            status_code=status_code,
            meeting=held,
            listed=listed,
            typed=fields,
            failed=failed,
            errors=errors or [],
            done=DONE.get(done or ""),
            may_record=may_record,
            may_remove=taking_part
            and held.status == "booked"
            and listed.status != "completed"
            and may(page, "update", "Communication"),
            may_add_action=may_record and listed.discussed and may(page, "create", "Task"),
            owners=mdt_discussions.owner_choices(page.access, held, listed.person.patient_id)
            if may_record and listed.discussed
            else None,
            max_discussion=mdt_discussions.MAX_DISCUSSION,
            max_action=mdt_discussions.MAX_ACTION,
            example=f"{example.day} {example.month} {example.year}",
        )

    @pages.get("/mdt/{meeting_id}/people/{communication_id}")
    def show_person(
        page: Page,
        meeting_id: MeetingId,
        communication_id: Annotated[str, Path(pattern=FHIR_ID)],
        done: str | None = None,
    ) -> Response:
        return person_page(page, meeting_of(page, meeting_id), communication_id, done=done)

    @pages.post("/mdt/{meeting_id}/people/{communication_id}", dependencies=Checked)
    def record_discussion(
        page: Page,
        form: Form,
        meeting_id: MeetingId,
        communication_id: Annotated[str, Path(pattern=FHIR_ID)],
    ) -> Response:
        held = meeting_of(page, meeting_id)
        text = form.get("discussion", "")[: mdt_discussions.MAX_DISCUSSION * 2]
        try:
            mdt_discussions.record_discussion(
                page.access, meeting_id, communication_id, _version(form), text
            )
        except mdt.MeetingProblem as exc:
            if exc.status == 403:
                raise PageRefused(403, exc.message) from None
            return person_page(
                page,
                meeting_of(page, meeting_id) if exc.status == 409 else held,
                communication_id,
                typed={"discussion": text},
                errors=[FieldError(exc.field or "discussion", exc.message)],
                failed="discussion",
                status_code=exc.status,
            )
        return to(f"/mdt/{meeting_id}/people/{communication_id}", "discussion", "#actions")

    @pages.post("/mdt/{meeting_id}/people/{communication_id}/actions", dependencies=Checked)
    def add_action(
        page: Page,
        form: Form,
        meeting_id: MeetingId,
        communication_id: Annotated[str, Path(pattern=FHIR_ID)],
    ) -> Response:
        held = meeting_of(page, meeting_id)
        typed = {
            "description": form.get("description", "")[: mdt_discussions.MAX_ACTION * 2],
            "owner": form.get("owner", "")[:100],
            "action_token": form.get("action_token", "")[:64],
            **typed_date(form, "due"),
        }
        due, date_error = read_date(form, "due", "Due date", not_before=today())
        errors: list[FieldError] = []
        if not typed["description"].strip():
            errors.append(FieldError("description", "Enter what will be done"))
        if not typed["owner"]:
            errors.append(FieldError("owner", "Select who will do it"))
        if date_error is not None:
            errors.append(date_error)
        status = 400
        if not errors:
            try:
                mdt_discussions.add_action(
                    page.access,
                    meeting_id,
                    communication_id,
                    description=typed["description"],
                    owner=typed["owner"],
                    due=due,
                    token=typed["action_token"],
                )
            except mdt.MeetingProblem as exc:
                if exc.status == 403:
                    raise PageRefused(403, exc.message) from None
                errors.append(FieldError(exc.field, exc.message))
                status = exc.status
            else:
                return to(f"/mdt/{meeting_id}/people/{communication_id}", "action", "#actions")
        return person_page(
            page,
            held,
            communication_id,
            typed=typed,
            errors=errors,
            failed="action",
            status_code=status,
        )

    @pages.post("/mdt/{meeting_id}/people/{communication_id}/remove", dependencies=Checked)
    def remove_person(
        page: Page,
        form: Form,
        meeting_id: MeetingId,
        communication_id: Annotated[str, Path(pattern=FHIR_ID)],
    ) -> Response:
        try:
            mdt_discussions.remove_person(page.access, meeting_id, communication_id, _version(form))
        except mdt.MeetingProblem as exc:
            if exc.status == 403:
                raise PageRefused(403, exc.message) from None
            return person_page(
                page,
                meeting_of(page, meeting_id),
                communication_id,
                errors=[FieldError(None, exc.message)],
                status_code=exc.status,
            )
        return to(f"/mdt/{meeting_id}", "removed", "#people")

    # -- attendance -----------------------------------------------------------------------------

    def attendance_page(
        page: StaffPage,
        held: mdt.Meeting,
        *,
        typed: dict[str, str] | None = None,
        chosen: tuple[str, ...] = (),
        errors: list[FieldError] | None = None,
        done: str | None = None,
        status_code: int = 200,
    ) -> Response:
        if typed is None:
            typed = {
                f"attended-{a.practitioner_role_id}": {"accepted": "yes", "declined": "no"}.get(
                    a.status, ""
                )
                for a in held.attendees
            }
            if not held.started():
                typed = {}
        return page_of(
            page,
            "mdt_attendance.html",
            status_code=status_code,
            meeting=held,
            typed=typed,
            chosen=set(chosen),
            errors=errors or [],
            done=DONE.get(done or ""),
            may_change=may_change(page, held),
            groups=staff_groups(page, {a.practitioner_role_id for a in held.attendees}),
            own_organisation=page.directory.organisation(page.access.principal.organisation_id),
        )

    @pages.get("/mdt/{meeting_id}/attendance")
    def show_attendance(page: Page, meeting_id: MeetingId, done: str | None = None) -> Response:
        return attendance_page(page, meeting_of(page, meeting_id), done=done)

    @pages.post("/mdt/{meeting_id}/attendance", dependencies=Checked)
    def record_attendance(page: Page, form: Form, meeting_id: MeetingId) -> Response:
        held = meeting_of(page, meeting_id)
        typed = {
            f"attended-{a.practitioner_role_id}": form.get(f"attended-{a.practitioner_role_id}", "")
            for a in held.attendees
        }
        if _version(form) != held.version:
            # Checked first: the form may not show everyone now invited.
            errors = [FieldError(None, mdt.MEETING_CHANGED)]
            return attendance_page(page, held, typed=typed, errors=errors, status_code=409)
        errors = [
            FieldError(f"attended-{a.practitioner_role_id}", f"Select whether {a.name} attended")
            for a in held.attendees
            if typed[f"attended-{a.practitioner_role_id}"] not in ("yes", "no")
        ]
        status = 400
        if not errors:
            attended = {
                a.practitioner_role_id: typed[f"attended-{a.practitioner_role_id}"] == "yes"
                for a in held.attendees
            }
            try:
                mdt_attendance.record_attendance(page.access, meeting_id, _version(form), attended)
            except mdt.MeetingProblem as exc:
                if exc.status == 403:
                    raise PageRefused(403, exc.message) from None
                errors.append(FieldError(exc.field, exc.message))
                status = exc.status
                if status == 409:
                    held = meeting_of(page, meeting_id)
            else:
                return to(f"/mdt/{meeting_id}", "attendance", "#attendees")
        return attendance_page(page, held, typed=typed, errors=errors, status_code=status)

    @pages.post("/mdt/{meeting_id}/attendance/add", dependencies=Checked)
    def invite(page: Page, form: Form, meeting_id: MeetingId) -> Response:
        chosen = _chosen_staff(form)
        try:
            mdt_attendance.add_attendees(page.access, meeting_id, chosen)
        except mdt.MeetingProblem as exc:
            if exc.status == 403:
                raise PageRefused(403, exc.message) from None
            field = "attendees" if exc.field == "attendees" else None
            return attendance_page(
                page,
                meeting_of(page, meeting_id),
                chosen=chosen,
                errors=[FieldError(field, exc.message)],
                status_code=exc.status,
            )
        return to(f"/mdt/{meeting_id}/attendance", "invited")

    # -- held or cancelled --------------------------------------------------------------------

    def status_page(
        page: StaffPage,
        held: mdt.Meeting,
        *,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
    ) -> Response:
        return page_of(
            page,
            "mdt_status.html",
            status_code=status_code,
            meeting=held,
            typed=typed or {},
            errors=errors or [],
            may_change=may_change(page, held) and held.status == "booked",
            statuses=mdt_attendance.NEW_STATUSES,
            max_reason=mdt.MAX_REASON,
        )

    @pages.get("/mdt/{meeting_id}/status")
    def show_status(page: Page, meeting_id: MeetingId) -> Response:
        return status_page(page, meeting_of(page, meeting_id))

    @pages.post("/mdt/{meeting_id}/status", dependencies=Checked)
    def change_status(page: Page, form: Form, meeting_id: MeetingId) -> Response:
        held = meeting_of(page, meeting_id)
        typed = {
            "status": form.get("status", "")[:16],
            "reason": form.get("reason", "")[: mdt.MAX_REASON * 2],
        }
        try:
            mdt_attendance.set_status(
                page.access, meeting_id, _version(form), typed["status"], typed["reason"]
            )
        except mdt.MeetingProblem as exc:
            if exc.status == 403:
                raise PageRefused(403, exc.message) from None
            return status_page(
                page,
                meeting_of(page, meeting_id) if exc.status == 409 else held,
                typed=typed,
                errors=[FieldError(exc.field, exc.message)],
                status_code=exc.status,
            )
        return to(f"/mdt/{meeting_id}", typed["status"])

    return pages
