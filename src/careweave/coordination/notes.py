"""Notes and messages between the people caring for someone, and mentions that ask for a reply
(docs/care-coordination.md, "Notes, messages and mentions").

A note is a `Communication` (category `note`) about the person, from the writer's
PractitionerRole. Mentioning someone (chosen from the person's care team, or anyone in the
staff directory; never guessed from the words) makes them a `recipient` and gives them a
`respond-to-message` Task, owned by their PractitionerRole and due by a date, written in the same
transaction as the note. A reply is a note `inResponseTo` another; it completes the replier's
own open mention tasks in that thread in its transaction, and "mark as done" completes one
without a reply.

Who may read notes is the access rules' business, not this module's: a note is part of the
person's coordination record. The open Task is itself a legitimate relationship
(careweave.access.policy, the Task owner link), so someone mentioned from another organisation
can read the note, and the rest of the record their role may see, until they have answered.
Because the store keeps no one from writing what they could not see afterwards, a reply from
someone whose only link is the mention is saved in two steps: the reply (with the task still
open, pointing at it), then the task closed, which is the one change the store lets take a
record out of its writer's sight.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.care_team import (
    StaffChoice,
    TeamMember,
    UnknownStaff,
    member_from,
    staff_member,
    staff_to_choose,
    team_of,
)
from careweave.coordination.caseload import OPEN_TASK_STATUSES, search_all
from careweave.coordination.people import person_banner
from careweave.coordination.record import (
    find,
    if_none_exist,
    now_instant,
    read_or_none,
    referenced_id,
    submission_identifier,
    today,
    version_of,
)
from careweave.coordination.tasks import (
    ChangedSinceOpened,
    NotNow,
    NotYourSide,
    TaskSummary,
    is_open,
    task_summary,
)
from careweave.fhir.errors import Gone, NotFound, VersionConflict
from careweave.fhir.resource_types import is_fhir_id
from careweave.store.repository import StoreTransaction

NOTE: Final = "note"
RESPOND_TO_MESSAGE: Final = "respond-to-message"
MAXIMUM_NOTE_LENGTH: Final = 5000
"""The longest note or reply (as long as a handover note: a couple of pages)."""
MAXIMUM_MENTIONS: Final = 10
"""People one note may ask to reply: a note to more people is a meeting."""
REPLY_WORKING_DAYS: Final = 2
"""A mention's reply is due this many working days after the note, unless the writer says."""
MAXIMUM_NOTES: Final = 2000
"""Notes read for one person's page at most; past it the page says some are not shown."""
THREAD_DEPTH: Final = 50
"""How far up a chain of replies is followed to find the note that began the thread."""
_TOKEN: Final = re.compile(r"[0-9a-f]{32}")
_REPLIED: Final = "Replied"
_CLOSED_WORDS: Final[Mapping[str, tuple[str, str]]] = {
    "completed": ("Done without a reply", "green"),
    "cancelled": ("Cancelled", "grey"),
    "rejected": ("Declined", "orange"),
    "failed": ("Could not be done", "orange"),
    "entered-in-error": ("Entered in error", "grey"),
}
_DONE_WITHOUT_REPLY: Final = "Marked as done without a reply"


# -- due dates ----------------------------------------------------------------------------------


def working_days_after(day: date, days: int) -> date:
    """The day `days` working days (Monday to Friday) after `day`. Bank holidays are not
    known to careweave, so they count as working days."""
    moved = day
    left = days
    while left > 0:
        moved += timedelta(days=1)
        if moved.weekday() < 5:
            left -= 1
    return moved


def default_reply_by(on: date | None = None) -> date:
    """When a mention's reply is due unless the writer chooses another day."""
    return working_days_after(on or today(), REPLY_WORKING_DAYS)


# -- who can be mentioned -----------------------------------------------------------------------


@dataclass(frozen=True)
class Mentionable:
    """Someone the writer may mention: a member of the person's care team."""

    practitioner_role_id: str
    name: str
    profession: str | None
    organisation: str
    team_role: str  # coordinator | cover | member


def team_to_mention(access: CareRecordAccess, patient_id: str) -> list[Mentionable]:
    """The person's care team, coordinator first, without the writer themselves: whom a note
    usually asks. Empty when the person has no team (or the asker may not see it)."""
    team = team_of(access, patient_id)
    if team is None:
        return []
    me = access.principal.practitioner_role_id
    listed: dict[str, Mentionable] = {}
    everyone: list[TeamMember] = [
        *([team.coordinator] if team.coordinator else []),
        *team.cover,
        *team.members,
    ]
    for member in everyone:
        if member.practitioner_role_id == me or member.practitioner_role_id in listed:
            continue
        listed[member.practitioner_role_id] = Mentionable(
            member.practitioner_role_id,
            member.name,
            member.profession,
            member.organisation,
            member.team_role,
        )
    return list(listed.values())


def others_to_mention(
    access: CareRecordAccess, leave_out: Sequence[Mentionable] = ()
) -> list[StaffChoice]:
    """Everyone else in the staff directory (any organisation), without the writer and those
    in `leave_out` (the care team the form already lists)."""
    skip = {m.practitioner_role_id for m in leave_out}
    me = access.principal.practitioner_role_id
    return [
        c
        for c in staff_to_choose(access)
        if c.practitioner_role_id not in skip and c.practitioner_role_id != me
    ]


# -- writing a note ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteProblem:
    """One thing wrong with a note as written; `field` is the form field it is about."""

    field: str | None
    message: str


class InvalidNote(Exception):  # noqa: N818 - a refusal shown to the person who wrote
    """The note cannot be saved as written; nothing was saved."""

    def __init__(self, problems: Sequence[NoteProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class NoteWritten:
    """What writing a note did.

    `created` is False when the same form had already been sent (nothing new was written).
    `completed` are the writer's own mention tasks the reply answered. `still_sees` is False
    when answering ended the writer's only link with the person: their page is then closed
    to them, so the web page must not send them back to it."""

    communication_id: str
    task_ids: tuple[str, ...]
    created: bool
    completed: tuple[str, ...] = ()
    still_sees: bool = True


def plain_lines(text: str) -> str:
    """Text with the line breaks a browser sends (CR LF) as plain LF, so the limit counts
    what was typed and the note reads the same everywhere."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_note(
    text: str,
    mentions: Sequence[str],
    reply_by: date | None,
    *,
    reply: bool = False,
    on: date | None = None,
) -> list[NoteProblem]:
    """What is wrong with a note's words, mentions and reply date (empty when none is)."""
    problems: list[NoteProblem] = []
    words = plain_lines(text).strip()
    what = "reply" if reply else "note"
    if not words:
        problems.append(NoteProblem("text", f"Enter your {what}"))
    elif len(words) > MAXIMUM_NOTE_LENGTH:
        problems.append(
            NoteProblem(
                "text",
                f"Your {what} must be {MAXIMUM_NOTE_LENGTH:,} characters or fewer",
            )
        )
    chosen = _distinct(mentions)
    if len(chosen) > MAXIMUM_MENTIONS:
        problems.append(
            NoteProblem("mentions", f"Mention {MAXIMUM_MENTIONS} people or fewer in one note")
        )
    if chosen and reply_by is not None and reply_by < (on or today()):
        problems.append(
            NoteProblem("reply_by", "The date to reply by must be today or in the future")
        )
    return problems


def write_note(
    access: CareRecordAccess,
    patient_id: str,
    text: str,
    *,
    token: str,
    mentions: Sequence[str] = (),
    reply_by: date | None = None,
    in_response_to: str | None = None,
) -> NoteWritten:
    """Write a note about the person, from the signed-in member of staff's post, asking each
    of `mentions` (PractitionerRole ids) to reply by `reply_by` (two working days when not
    given). With `in_response_to` it is a reply, which completes the writer's open mention
    tasks in that thread.

    The note and its tasks are one transaction, and the form's one-time `token` makes a second
    submission find the first note. InvalidNote says what is wrong (nothing is saved);
    NotFound that the person, or the note replied to, is not one the asker may see; Forbidden
    that their role may not write notes."""
    day = today()
    chosen = _distinct(mentions)
    text = plain_lines(text)
    problems = check_note(text, chosen, reply_by, reply=in_response_to is not None, on=day)
    if not _TOKEN.fullmatch(token):
        problems.append(
            NoteProblem(None, "This form was not sent as expected: open the page again and retry")
        )
    principal = access.principal
    if principal.practitioner_role_id is None:
        problems.append(
            NoteProblem(
                None,
                "Your account is not linked to a post in the staff directory, so notes cannot "
                "say who wrote them. Ask your administrator to check it.",
            )
        )
    access.permit("create", "Communication")
    if chosen:
        access.permit("create", "Task")
    person = person_banner(access, patient_id)
    recipients: list[StaffChoice] = []
    for role_id in chosen:
        if role_id == principal.practitioner_role_id:
            problems.append(NoteProblem("mentions", "You cannot mention yourself"))
            continue
        try:
            recipients.append(staff_member(access, role_id))
        except UnknownStaff:
            problems.append(
                NoteProblem("mentions", "Select people to mention from the lists on the page")
            )
    parent: dict[str, Any] | None = None
    if in_response_to is not None:
        parent = _note_or_none(access, patient_id, in_response_to)
        if parent is None:
            problems.append(
                NoteProblem(
                    None,
                    "The note you are replying to cannot be found. It may have been "
                    "removed, or you may no longer be able to see it.",
                )
            )
    if problems:
        raise InvalidNote(_unique(problems))
    assert principal.practitioner_role_id is not None
    due = reply_by or default_reply_by(day)
    author = _staff_reference(principal.practitioner_role_id, principal.display_name)
    now = _now_precisely()
    note = _note_body(patient_id, text.strip(), author, recipients, now, token, parent)

    def tasks_for(note_id: str) -> list[dict[str, Any]]:
        return [
            _mention_task(patient_id, note_id, author, who, due, now, person.name)
            for who in recipients
        ]

    def work(tx: StoreTransaction, *, close_link: bool) -> NoteWritten:
        made = tx.create(note, if_none_exist=if_none_exist(token))
        note_id = made.stored.id
        if not made.created:
            earlier = made.stored.as_dict()
            if referenced_id(earlier.get("subject"), "Patient") != patient_id:
                raise InvalidNote(
                    [NoteProblem(None, "This form has already been used: open the page again")]
                )
            found = tx.find_ids("Task", f"focus=Communication/{note_id}", limit=MAXIMUM_MENTIONS)
            return NoteWritten(note_id, tuple(found), created=False)
        made_tasks = tuple(tx.create(task).stored.id for task in tasks_for(note_id))
        answered: tuple[str, ...] = ()
        if parent is not None:
            answered = _answer_my_tasks(tx, patient_id, parent, note_id, author, now, close_link)
            if close_link and answered and not _still_sees(tx, patient_id):
                raise _OnlyLink()
        return NoteWritten(note_id, made_tasks, created=True, completed=answered)

    try:
        return access.write("create", "Communication", lambda tx: work(tx, close_link=True))
    except _OnlyLink:
        pass
    # The mention was the writer's only link with the person: save the reply while it holds,
    # then close the tasks it answered (see the module docstring).
    written = access.write("create", "Communication", lambda tx: work(tx, close_link=False))
    closed = _close_answered(access, written.completed, principal.practitioner_role_id)
    return NoteWritten(
        written.communication_id,
        written.task_ids,
        written.created,
        completed=closed,
        still_sees=read_or_none(access, "Patient", patient_id) is not None,
    )


def _now_precisely() -> str:
    """Now in UTC to the millisecond: replies in a quick exchange keep their order."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _OnlyLink(Exception):  # noqa: N818 - a signal out of the transaction, never shown
    """Answering would end the writer's only link with the person in the same transaction."""


def _still_sees(tx: StoreTransaction, patient_id: str) -> bool:
    try:
        tx.read("Patient", patient_id)
    except (NotFound, Gone):
        return False
    return True


def _answer_my_tasks(
    tx: StoreTransaction,
    patient_id: str,
    parent: dict[str, Any],
    reply_id: str,
    author: dict[str, Any],
    now: str,
    close: bool,
) -> tuple[str, ...]:
    """The writer's open mention tasks about any note of the thread `parent` is in, each
    pointed at the reply (`output`) and, when `close`, completed. Their ids."""
    me = referenced_id(author, "PractitionerRole")
    query = (
        f"owner=PractitionerRole/{me}&patient=Patient/{patient_id}"
        f"&code={codes.TASK_TYPE}|{RESPOND_TO_MESSAGE}&status={','.join(OPEN_TASK_STATUSES)}"
    )
    thread = _root_in(tx, parent)
    answered: list[str] = []
    for task_id in tx.find_ids("Task", query, limit=200):
        task = _read_in(tx, "Task", task_id)
        if task is None or not is_open(task):
            continue
        focus = referenced_id(task.get("focus"), "Communication")
        about = _read_in(tx, "Communication", focus) if focus else None
        if about is None or _root_in(tx, about) != thread:
            continue
        changed = copy.deepcopy(task)
        changed["lastModified"] = now
        changed.setdefault("output", []).append(
            {
                "type": {"text": "Reply"},
                "valueReference": {"reference": f"Communication/{reply_id}"},
            }
        )
        changed.setdefault("note", []).append(
            {"authorReference": author, "time": now, "text": _REPLIED}
        )
        if close:
            changed["status"] = "completed"
        tx.update("Task", task_id, changed, if_match=version_of(task))
        answered.append(task_id)
    return tuple(answered)


def _close_answered(
    access: CareRecordAccess, task_ids: Sequence[str], role_id: str | None
) -> tuple[str, ...]:
    """Complete tasks a reply has already answered (the second step of an outsider's reply);
    one someone else closed meanwhile is left as it is."""

    def work(tx: StoreTransaction) -> tuple[str, ...]:
        closed: list[str] = []
        for task_id in task_ids:
            task = _read_in(tx, "Task", task_id)
            if task is None or not is_open(task):
                continue
            if referenced_id(task.get("owner"), "PractitionerRole") != role_id:
                continue
            changed = copy.deepcopy(task)
            changed["status"] = "completed"
            changed["lastModified"] = now_instant()
            tx.update("Task", task_id, changed, if_match=version_of(task))
            closed.append(task_id)
        return tuple(closed)

    if not task_ids:
        return ()
    return access.write("update", "Task", work)


def _root_in(tx: StoreTransaction, note: dict[str, Any]) -> str:
    """The id of the note that began `note`'s thread, following `inResponseTo` as far as the
    writer can see."""
    current = note
    for _ in range(THREAD_DEPTH):
        parent_id = _parent_id(current)
        parent = _read_in(tx, "Communication", parent_id) if parent_id else None
        if parent is None or not _is_note(parent):
            break
        current = parent
    return str(current["id"])


def _read_in(tx: StoreTransaction, resource_type: str, resource_id: str) -> dict[str, Any] | None:
    try:
        return tx.read(resource_type, resource_id).as_dict()
    except (NotFound, Gone):
        return None


def _note_or_none(access: CareRecordAccess, patient_id: str, note_id: str) -> dict[str, Any] | None:
    """A note about the person that the asker may see, else None."""
    if not is_fhir_id(note_id):
        return None
    note = read_or_none(access, "Communication", note_id)
    if note is None or not _is_note(note):
        return None
    if referenced_id(note.get("subject"), "Patient") != patient_id:
        return None
    return note


def _staff_reference(role_id: str, name: str | None) -> dict[str, Any]:
    reference: dict[str, Any] = {"reference": f"PractitionerRole/{role_id}"}
    if name:
        reference["display"] = name
    return reference


def _note_body(
    patient_id: str,
    text: str,
    author: dict[str, Any],
    recipients: Sequence[StaffChoice],
    now: str,
    token: str,
    parent: dict[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [submission_identifier(token)],
        "status": "completed",
        "category": [codes.concept(codes.COMMUNICATION_CATEGORY, NOTE, "Note")],
        "subject": {"reference": f"Patient/{patient_id}"},
        "sent": now,
        "sender": author,
        "payload": [{"contentString": text}],
    }
    if recipients:
        body["recipient"] = [
            _staff_reference(who.practitioner_role_id, who.name) for who in recipients
        ]
    if parent is not None:
        body["inResponseTo"] = [{"reference": f"Communication/{parent['id']}"}]
    return body


def _mention_task(
    patient_id: str,
    note_id: str,
    author: dict[str, Any],
    who: StaffChoice,
    due: date,
    now: str,
    person_name: str,
) -> dict[str, Any]:
    writer = author.get("display") or "a colleague"
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": codes.concept(codes.TASK_TYPE, RESPOND_TO_MESSAGE, "Respond to a message"),
        "description": f"Reply to {writer}'s note about {person_name}",
        "focus": {"reference": f"Communication/{note_id}"},
        "for": {"reference": f"Patient/{patient_id}"},
        "authoredOn": now,
        "lastModified": now,
        "requester": author,
        "owner": _staff_reference(who.practitioner_role_id, who.name),
        "restriction": {"period": {"end": due.isoformat()}},
        "note": [{"authorReference": author, "time": now, "text": "Mentioned in a note"}],
    }


# -- marking a mention done without replying -----------------------------------------------------


@dataclass(frozen=True)
class MarkedDone:
    """A mention task completed without a reply; `still_sees` as in NoteWritten."""

    task_id: str
    patient_id: str | None
    still_sees: bool


def mark_done(access: CareRecordAccess, task_id: str, *, version: int) -> MarkedDone:
    """The mentioned person says no reply is needed: their mention task, as they saw it at
    `version`, is completed. Only the person mentioned may do this (NotYourSide); a task
    already closed is NotNow, and one changed since it was shown is ChangedSinceOpened."""
    if not is_fhir_id(task_id):
        raise NotFound(f"Task/{task_id} is not known")
    access.permit("update", "Task")
    me = access.principal.practitioner_role_id

    def work(tx: StoreTransaction) -> dict[str, Any]:
        task = tx.read("Task", task_id).as_dict()
        if not is_mention_task(task):
            raise NotFound(f"Task/{task_id} is not a request to reply to a note")
        if me is None or referenced_id(task.get("owner"), "PractitionerRole") != me:
            raise NotYourSide("Only the person mentioned can mark this as done")
        if not is_open(task):
            raise NotNow("This has already been done")
        if version_of(task) != version:
            raise ChangedSinceOpened()
        now = now_instant()
        changed = copy.deepcopy(task)
        changed["status"] = "completed"
        changed["lastModified"] = now
        changed.setdefault("note", []).append(
            {
                "authorReference": _staff_reference(me, access.principal.display_name),
                "time": now,
                "text": _DONE_WITHOUT_REPLY,
            }
        )
        tx.update("Task", task_id, changed, if_match=version)
        return changed

    try:
        done = access.write("update", f"Task/{task_id}", work)
    except VersionConflict:
        raise ChangedSinceOpened() from None
    patient_id = referenced_id(done.get("for"), "Patient")
    sees = patient_id is not None and read_or_none(access, "Patient", patient_id) is not None
    return MarkedDone(task_id, patient_id, sees)


def is_mention_task(task: Mapping[str, Any]) -> bool:
    """A request to reply to a note: task-type `respond-to-message` about a Communication."""
    return (
        codes.has_code(task.get("code"), codes.TASK_TYPE, RESPOND_TO_MESSAGE)
        and referenced_id(task.get("focus"), "Communication") is not None
    )


@dataclass(frozen=True)
class NoteOfTask:
    """Where a mention task's note is: whose record, the note, and the thread it is in."""

    patient_id: str
    note_id: str
    thread_id: str


def note_of_task(access: CareRecordAccess, task_id: str) -> NoteOfTask:
    """The note a mention task asks about (NotFound when the task is not one, or the asker
    may not see it or its note)."""
    if not is_fhir_id(task_id):
        raise NotFound(f"Task/{task_id} is not known")
    task = access.read("Task", task_id).as_dict()
    note_id = referenced_id(task.get("focus"), "Communication")
    patient_id = referenced_id(task.get("for"), "Patient")
    if not is_mention_task(task) or note_id is None or patient_id is None:
        raise NotFound(f"Task/{task_id} is not a request to reply to a note")
    note = _note_or_none(access, patient_id, note_id)
    if note is None:
        raise NotFound(f"Communication/{note_id} is not known")
    thread = note
    for _ in range(THREAD_DEPTH):
        parent_id = _parent_id(thread)
        parent = _note_or_none(access, patient_id, parent_id) if parent_id else None
        if parent is None:
            break
        thread = parent
    return NoteOfTask(patient_id, note_id, str(thread["id"]))


# -- reading a person's notes -------------------------------------------------------------------


@dataclass(frozen=True)
class Who:
    """Who wrote a note, or was mentioned in one, as the page names them."""

    practitioner_role_id: str | None
    name: str
    profession: str | None
    organisation: str


@dataclass(frozen=True)
class Mention:
    """Someone a note asked to reply, and where their request stands (no task: another system
    named them a recipient without asking for a reply)."""

    who: Who
    task: TaskSummary | None
    replied: bool

    @property
    def waiting(self) -> bool:
        return self.task is not None and self.task.status not in codes.CLOSED_TASK_STATUSES

    @property
    def status(self) -> tuple[str, str] | None:
        """Where the request stands in words, with the NHS.UK tag colour to show it in
        (None when no reply was asked for)."""
        task = self.task
        if task is None:
            return None
        if self.waiting:
            return ("Overdue", "red") if task.overdue else ("Waiting for a reply", "blue")
        if self.replied:
            return "Replied", "green"
        return _CLOSED_WORDS.get(task.status, ("Closed", "grey"))


@dataclass(frozen=True)
class Note:
    id: str
    text: str
    author: Who
    sent: datetime | None
    mentions: tuple[Mention, ...]
    in_response_to: str | None
    written: str = ""
    """When the store saved it (meta.lastUpdated): orders notes sent in the same instant."""

    @property
    def order(self) -> tuple[datetime, str, str]:
        return (self.sent or datetime.min.replace(tzinfo=UTC), self.written, self.id)


@dataclass(frozen=True)
class Thread:
    """A note and the replies to it (and to them), oldest reply first."""

    note: Note
    replies: tuple[Note, ...]

    @property
    def latest(self) -> tuple[datetime, str, str]:
        """When the newest note of the thread was sent (and saved)."""
        return max(n.order for n in (self.note, *self.replies))

    @property
    def notes(self) -> tuple[Note, ...]:
        return (self.note, *self.replies)

    def asks(self, practitioner_role_id: str | None) -> bool:
        """Whether a note of the thread waits for a reply from `practitioner_role_id`."""
        return practitioner_role_id is not None and any(
            m.waiting and m.who.practitioner_role_id == practitioner_role_id
            for n in self.notes
            for m in n.mentions
        )


@dataclass(frozen=True)
class PersonNotes:
    """A person's notes as threads, the one with the newest note first; `more` is True when
    there were more notes than MAXIMUM_NOTES (only that many were read)."""

    threads: list[Thread]
    more: bool

    def waiting_for(self, practitioner_role_id: str | None) -> list[tuple[Thread, Note, Mention]]:
        """The notes waiting for a reply from `practitioner_role_id`: each with its thread
        and the mention."""
        if practitioner_role_id is None:
            return []
        return [
            (thread, note, mention)
            for thread in self.threads
            for note in thread.notes
            for mention in note.mentions
            if mention.waiting and mention.who.practitioner_role_id == practitioner_role_id
        ]


def notes_for_person(
    access: CareRecordAccess, patient_id: str, on: date | None = None
) -> PersonNotes:
    """The person's notes that the asker may see, threaded, with who wrote each (name, post
    and organisation), whom it mentioned and where each mention's task stands. Two guarded
    searches: the notes with their writers' and recipients' directory entries, and the
    mention tasks."""
    day = on or today()
    found, directory, more = search_all(
        access,
        "Communication",
        [
            ("patient", f"Patient/{patient_id}"),
            ("category", f"{codes.COMMUNICATION_CATEGORY}|{NOTE}"),
            ("_include", "Communication:sender:PractitionerRole"),
            ("_include", "Communication:recipient:PractitionerRole"),
            ("_include:iterate", "PractitionerRole:practitioner"),
            ("_include:iterate", "PractitionerRole:organization"),
        ],
        limit=MAXIMUM_NOTES,
    )
    tasks = find(
        access,
        "Task",
        [
            ("patient", f"Patient/{patient_id}"),
            ("code", f"{codes.TASK_TYPE}|{RESPOND_TO_MESSAGE}"),
        ],
    )
    return PersonNotes(threads_from(found, directory, tasks, day), more)


def threads_from(
    notes: Sequence[dict[str, Any]],
    directory: dict[str, dict[str, Any]],
    tasks: Sequence[dict[str, Any]],
    on: date,
) -> list[Thread]:
    """Notes (Communications), the directory entries they name ("Type/id" -> resource) and
    their mention tasks, as threads. Pure, so the threading is tested without a store."""
    by_id = {
        str(n["id"]): n for n in notes if _is_note(n) and n.get("status") != "entered-in-error"
    }
    asks: dict[tuple[str, str], dict[str, Any]] = {}
    for task in sorted(tasks, key=lambda t: str(t.get("authoredOn") or "")):
        focus = referenced_id(task.get("focus"), "Communication")
        owner = referenced_id(task.get("owner"), "PractitionerRole")
        if focus and owner and is_mention_task(task):
            asks[(focus, owner)] = task
    read = {note_id: _note_from(n, directory, asks, on) for note_id, n in by_id.items()}
    roots: dict[str, list[Note]] = {}
    for note_id, note in read.items():
        root = _root_among(note_id, by_id)
        if root != note_id:
            roots.setdefault(root, []).append(note)
    threads = [
        Thread(note, tuple(sorted(roots.get(note_id, []), key=lambda n: n.order)))
        for note_id, note in read.items()
        if _root_among(note_id, by_id) == note_id
    ]
    return sorted(threads, key=lambda t: t.latest, reverse=True)


def _root_among(note_id: str, notes: Mapping[str, dict[str, Any]]) -> str:
    """The note that began `note_id`'s thread among `notes`; a reply to a note not among them
    (not shown to the asker) begins its own thread. Loops are broken where they close."""
    seen = {note_id}
    current = note_id
    for _ in range(THREAD_DEPTH):
        parent = _parent_id(notes[current])
        if parent is None or parent not in notes or parent in seen:
            break
        seen.add(parent)
        current = parent
    return current


def _note_from(
    note: dict[str, Any],
    directory: dict[str, dict[str, Any]],
    asks: Mapping[tuple[str, str], dict[str, Any]],
    on: date,
) -> Note:
    note_id = str(note["id"])
    mentions: list[Mention] = []
    seen: set[str] = set()
    for recipient in note.get("recipient") or ():
        who = _who(recipient, directory)
        key = who.practitioner_role_id or who.name
        if key in seen:
            continue
        seen.add(key)
        task = asks.get((note_id, who.practitioner_role_id or ""))
        mentions.append(
            Mention(
                who,
                task_summary(task, on) if task else None,
                replied=bool(task and _reply_of(task)),
            )
        )
    return Note(
        id=note_id,
        text=_text_of(note),
        author=_who(note.get("sender"), directory),
        sent=_moment(note.get("sent")),
        mentions=tuple(mentions),
        in_response_to=_parent_id(note),
        written=str(note.get("meta", {}).get("lastUpdated") or ""),
    )


def _who(reference: Any, directory: dict[str, dict[str, Any]]) -> Who:
    role_id = referenced_id(reference, "PractitionerRole")
    if role_id is not None:
        # The care team's reader of a post and its directory entries: a mention names a post
        # the way a team participant does.
        member = member_from({"member": reference}, directory)
        if member is not None:
            return Who(role_id, member.name, member.profession, member.organisation)
    display = reference.get("display") if isinstance(reference, dict) else None
    name = display.strip() if isinstance(display, str) and display.strip() else "Someone"
    return Who(role_id, name, None, "")


def _reply_of(task: Mapping[str, Any]) -> str | None:
    for output in task.get("output") or ():
        if isinstance(output, dict):
            reply = referenced_id(output.get("valueReference"), "Communication")
            if reply:
                return reply
    return None


def _is_note(resource: Mapping[str, Any]) -> bool:
    return codes.has_code(resource.get("category"), codes.COMMUNICATION_CATEGORY, NOTE)


def _parent_id(note: Mapping[str, Any]) -> str | None:
    for reference in note.get("inResponseTo") or ():
        parent = referenced_id(reference, "Communication")
        if parent:
            return parent
    return None


def _text_of(note: Mapping[str, Any]) -> str:
    return "\n\n".join(
        str(p["contentString"]).strip()
        for p in note.get("payload") or ()
        if isinstance(p, dict) and isinstance(p.get("contentString"), str)
    )


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) <= 10:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _distinct(values: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        value = value.strip()
        if value and value not in seen:
            seen.append(value)
    return seen


def _unique(problems: Sequence[NoteProblem]) -> list[NoteProblem]:
    kept: list[NoteProblem] = []
    for problem in problems:
        if problem not in kept:
            kept.append(problem)
    return kept


__all__: Sequence[str] = (
    "MAXIMUM_MENTIONS",
    "MAXIMUM_NOTE_LENGTH",
    "InvalidNote",
    "MarkedDone",
    "Mention",
    "Mentionable",
    "Note",
    "NoteOfTask",
    "NoteProblem",
    "NoteWritten",
    "PersonNotes",
    "Thread",
    "Who",
    "check_note",
    "default_reply_by",
    "is_mention_task",
    "mark_done",
    "note_of_task",
    "notes_for_person",
    "others_to_mention",
    "team_to_mention",
    "threads_from",
    "working_days_after",
    "write_note",
)
