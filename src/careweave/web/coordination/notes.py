"""A person's notes page: the notes their team have written about them, threaded, with whom
each asked to reply and whether they have; the form to write one (mentioning people from the
care team by checkbox, or anyone else in the staff directory); a reply form under each thread;
and, for the signed-in person, the notes waiting for their reply with "mark as done".

The pages turn form fields into calls on careweave.coordination.notes and show what it refuses
in the NHS.UK error pattern, keeping what was typed. Each create form carries a one-time token,
so sending it twice makes one note (and one task per mention); "mark as done" carries the task
version the page showed. Someone whose only link with the person was a mention cannot open the
person's page once they have answered, so they are told their answer was saved on a page of
its own instead of being sent back to a page they may no longer see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from careweave.coordination.notes import (
    MAXIMUM_MENTIONS,
    MAXIMUM_NOTE_LENGTH,
    InvalidNote,
    Mentionable,
    NoteProblem,
    PersonNotes,
    Thread,
    check_note,
    default_reply_by,
    mark_done,
    note_of_task,
    notes_for_person,
    others_to_mention,
    team_to_mention,
    write_note,
)
from careweave.coordination.people import PersonBanner
from careweave.coordination.record import new_submission_token, today
from careweave.coordination.tasks import TaskProblem
from careweave.fhir.resource_types import is_fhir_id
from careweave.web.coordination.care_team import by_organisation, profession_words
from careweave.web.coordination.context import StaffPage, may, person_of, staff_page
from careweave.web.coordination.form_fields import form_version, read_date, typed_date
from careweave.web.pages import render
from careweave.web.signed_in import FieldError, PageRefused, posted_form, require_csrf
from careweave.web.wording import london_time

Page = Annotated[StaffPage, Depends(staff_page)]
Form = Annotated[dict[str, str], Depends(posted_form)]

DONE: Final[Mapping[str, str]] = {
    "written": "Your note has been saved",
    "replied": "Your reply has been saved",
    "marked-done": "You have marked this as done",
}
"""The success banner a change redirects to (the page's `done` query value)."""
MENTION: Final = "mention-"
"""Prefix of each care team checkbox's name: the form reader keeps one value per name."""
OTHER: Final = "other"
THREADS_PER_PAGE: Final = 20
NOT_FOUND: Final = "If you typed the web address, check it is correct."
_ORDER: Final = ("text", "mentions", "reply_by")


def _mentions_in(form: Mapping[str, str]) -> list[str]:
    """The PractitionerRole ids the form mentions: ticked team members, then the other one."""
    chosen = [
        name.removeprefix(MENTION)
        for name, value in form.items()
        if name.startswith(MENTION) and value == "yes"
    ]
    other = form.get(OTHER, "").strip()
    if other and other not in chosen:
        chosen.append(other)
    return chosen


def _errors(problems: Sequence[NoteProblem], text_field: str) -> list[FieldError]:
    """Domain problems as the error summary shows them, linked to the form's fields."""
    return [FieldError(text_field if p.field == "text" else p.field, p.message) for p in problems]


def _page_of(threads: Sequence[Thread], page: int, showing: str | None) -> tuple[int, int]:
    """Which page of threads to show (the one holding thread `showing`, when asked) and how
    many there are."""
    pages = max(1, -(-len(threads) // THREADS_PER_PAGE))
    if showing:
        for index, thread in enumerate(threads):
            if thread.note.id == showing:
                return index // THREADS_PER_PAGE + 1, pages
    return min(max(page, 1), pages), pages


def router(route_class: type[APIRoute], styled: bool) -> APIRouter:
    pages = APIRouter(route_class=route_class, include_in_schema=False)
    checked = [Depends(require_csrf)]

    def notes_page(
        page: StaffPage,
        person: PersonBanner,
        *,
        done: str | None = None,
        typed: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
        reply_typed: dict[str, str] | None = None,
        open_reply: str | None = None,
        page_number: int = 1,
        status_code: int = 200,
    ) -> Response:
        access = page.access
        me = access.principal.practitioner_role_id
        may_write = me is not None and may(page, "create", "Communication")
        may_mention = may_write and may(page, "create", "Task")
        notes: PersonNotes = notes_for_person(access, person.patient_id)
        team: list[Mentionable] = team_to_mention(access, person.patient_id) if may_mention else []
        others = by_organisation(others_to_mention(access, team)) if may_mention else []
        shown, pages = _page_of(notes.threads, page_number, open_reply)
        due = default_reply_by()
        if typed is None:
            typed = {"token": new_submission_token(), **_date_fields("reply_by", due)}
        reply_typed = reply_typed or {}
        return render(
            "coordination/notes.html",
            status_code=status_code,
            styled=styled,
            signed_in=page.signed_in,
            person=person,
            practice=page.directory.organisation(person.practice_id),
            record_tab="notes",
            done=DONE.get(done or ""),
            errors=errors or [],
            typed=typed,
            ticked={m for m in _mentions_in(typed) if m != typed.get(OTHER)},
            threads=notes.threads[(shown - 1) * THREADS_PER_PAGE : shown * THREADS_PER_PAGE],
            more=notes.more,
            page=shown,
            pages=pages,
            waiting=notes.waiting_for(me),
            me=me,
            may_write=may_write,
            may_mention=may_mention,
            team=team,
            others=others,
            reply_typed=reply_typed,
            reply_tokens={t.note.id: new_submission_token() for t in notes.threads},
            open_reply=open_reply,
            maximum=MAXIMUM_NOTE_LENGTH,
            maximum_mentions=MAXIMUM_MENTIONS,
            due=due,
            london_time=london_time,
            profession_words=profession_words,
        )

    @pages.get("/people/{patient_id}/notes")
    def show_notes(
        page: Page,
        patient_id: str,
        done: str | None = None,
        reply: str | None = None,
        page_number: Annotated[str, Query(alias="page")] = "",
    ) -> Response:
        person = person_of(page, patient_id)
        chosen = reply if reply and is_fhir_id(reply) else None
        number = int(page_number) if page_number.isascii() and page_number.isdigit() else 1
        return notes_page(
            page, person, done=done, open_reply=chosen, page_number=min(number, 10**6)
        )

    @pages.post("/people/{patient_id}/notes", dependencies=checked)
    def write(page: Page, form: Form, patient_id: str) -> Response:
        person = person_of(page, patient_id)
        typed = {
            "text": form.get("text", "")[: MAXIMUM_NOTE_LENGTH * 2],
            "token": form.get("token", "")[:64],
            OTHER: form.get(OTHER, "")[:64],
            **{name: "yes" for name in form if name.startswith(MENTION) and len(name) < 80},
            **typed_date(form, "reply_by"),
        }
        mentions = _mentions_in(typed)
        reply_by: date | None = None
        date_error: FieldError | None = None
        if mentions:
            reply_by, date_error = read_date(
                form, "reply_by", "Date to reply by", required=False, not_before=today()
            )
        problems = check_note(typed["text"], mentions, reply_by)
        errors = _errors(problems, "text")
        if date_error is not None:
            errors = [e for e in errors if e.field != "reply_by"] + [date_error]
        if not errors:
            try:
                written = write_note(
                    page.access,
                    patient_id,
                    typed["text"],
                    token=typed["token"],
                    mentions=mentions,
                    reply_by=reply_by,
                )
            except InvalidNote as refused:
                errors = _errors(refused.problems, "text")
            else:
                return RedirectResponse(
                    f"/people/{patient_id}/notes?done=written#note-{written.communication_id}",
                    status_code=303,
                )
        errors.sort(key=lambda e: _ORDER.index(e.field) if e.field in _ORDER else len(_ORDER))
        return notes_page(page, person, typed=typed, errors=errors, status_code=400)

    @pages.post("/people/{patient_id}/notes/{note_id}/reply", dependencies=checked)
    def reply(page: Page, form: Form, patient_id: str, note_id: str) -> Response:
        person = person_of(page, patient_id)
        if not is_fhir_id(note_id):
            raise PageRefused(404, NOT_FOUND)
        field = f"reply-{note_id}"
        text = form.get("text", "")[: MAXIMUM_NOTE_LENGTH * 2]
        errors = _errors(check_note(text, (), None, reply=True), field)
        if not errors:
            try:
                written = write_note(
                    page.access,
                    patient_id,
                    text,
                    token=form.get("token", "")[:64],
                    in_response_to=note_id,
                )
            except InvalidNote as refused:
                errors = _errors(refused.problems, field)
            else:
                if not written.still_sees:
                    return RedirectResponse("/notes/answered?done=replied", status_code=303)
                return RedirectResponse(
                    f"/people/{patient_id}/notes?done=replied&reply={note_id}#note-{note_id}",
                    status_code=303,
                )
        return notes_page(
            page,
            person,
            errors=errors,
            reply_typed={note_id: text},
            open_reply=note_id,
            status_code=400,
        )

    @pages.post("/people/{patient_id}/notes/tasks/{task_id}/done", dependencies=checked)
    def done_without_reply(page: Page, form: Form, patient_id: str, task_id: str) -> Response:
        person = person_of(page, patient_id)
        if not is_fhir_id(task_id):
            raise PageRefused(404, NOT_FOUND)
        try:
            marked = mark_done(page.access, task_id, version=form_version(form))
        except TaskProblem as refused:
            return notes_page(
                page,
                person,
                errors=[FieldError(None, refused.message)],
                status_code=refused.status,
            )
        if not marked.still_sees:
            return RedirectResponse("/notes/answered?done=marked-done", status_code=303)
        return RedirectResponse(
            f"/people/{marked.patient_id or patient_id}/notes?done=marked-done", status_code=303
        )

    @pages.get("/notes/answered")
    def answered(page: Page, done: str | None = None) -> Response:
        return render(
            "coordination/notes_answered.html",
            styled=styled,
            signed_in=page.signed_in,
            done=DONE.get(done or "", "Your answer has been saved"),
        )

    @pages.get("/tasks/{task_id}/note")
    def note_of(page: Page, task_id: str) -> Response:
        if not is_fhir_id(task_id):
            raise PageRefused(404, NOT_FOUND)
        found = note_of_task(page.access, task_id)
        return RedirectResponse(
            f"/people/{found.patient_id}/notes?reply={found.thread_id}#note-{found.note_id}",
            status_code=303,
        )

    return pages


def _date_fields(name: str, day: date) -> dict[str, str]:
    return {
        f"{name}-day": str(day.day),
        f"{name}-month": str(day.month),
        f"{name}-year": str(day.year),
    }
