"""Tasks: the one shape every piece of work between people and organisations takes, and the
rules for how a task moves from asked for to done.

A referral's Task, a care plan action, a post-discharge check and a mention's "please reply"
are all FHIR Tasks with an `owner` (an Organization, or a PractitionerRole once assigned), a
due date in `restriction.period.end` and a code (docs/care-coordination.md). The helpers here
(`is_open`, `due_date`, `is_overdue`, `task_summary`, `tasks_for_person`) are what every
feature reads them with, so "overdue" means the same on every page.

The state machine (`next_status`, `actions_open_to`) says which changes a task may go
through and which side may make each: the team that owns the task accepts, rejects, starts and
completes it; the organisation that asked for it cancels it, and closes a rejected referral.
Refusals are `TaskProblem`s whose message is what to show the person who tried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.access.principal import Principal
from careweave.coordination import codes
from careweave.coordination.record import find, referenced_id, today, version_of
from careweave.uk_time import uk_day

CLOSED_STATUSES: Final = codes.CLOSED_TASK_STATUSES
WAITING_STATUSES: Final = frozenset({"draft", "requested", "received", "ready", "on-hold"})
"""Open statuses in which the owner has not yet taken the task on."""
MAXIMUM_TEXT_LENGTH: Final = 2000
"""The longest reason, outcome or note a person may type (about a page of writing)."""

ReadRole = Callable[[str], dict[str, Any] | None]
"""Reads a PractitionerRole by id (None when unknown): the directory, which staff may read."""


# -- reading tasks ----------------------------------------------------------------------------


def is_open(task: Mapping[str, Any]) -> bool:
    """Still to be done: not completed, cancelled, rejected, failed or entered in error."""
    return task.get("status") not in CLOSED_STATUSES


def due_date(task: Mapping[str, Any]) -> date | None:
    """The UK day the task is due (`restriction.period.end`), or None when it has no due date.

    Every page and notice reads a due date through here (or careweave.uk_time.uk_day), so a
    task due at 23:30 UTC on 10 June (00:30 BST on 11 June) is due on 11 June on the person's
    summary, the caseload, the worklist and the overdue notice alike."""
    restriction = task.get("restriction")
    period = restriction.get("period") if isinstance(restriction, dict) else None
    return uk_day(period.get("end")) if isinstance(period, dict) else None


def is_overdue(task: Mapping[str, Any], on: date | None = None) -> bool:
    """Open and due before `on` (today in the UK when not given)."""
    due = due_date(task)
    return is_open(task) and due is not None and due < (on or today())


def is_referral(task: Mapping[str, Any]) -> bool:
    """A referral's Task: code `fulfill` with a ServiceRequest as its focus."""
    return (
        codes.has_code(task.get("code"), *codes.FULFIL)
        and referenced_id(task.get("focus"), "ServiceRequest") is not None
    )


def _text_of(concept: Any) -> str | None:
    """What a CodeableConcept says in words: its text, else its first display or code."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return str(concept["text"]).strip()
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict):
            for key in ("display", "code"):
                if isinstance(coding.get(key), str) and coding[key].strip():
                    return str(coding[key]).strip()
    return None


def describe(task: Mapping[str, Any]) -> str:
    """What the task is, in words: its description, else its code's words."""
    description = task.get("description")
    if isinstance(description, str) and description.strip():
        return description.strip()
    return _text_of(task.get("code")) or "Task"


def _display(reference: Any) -> str | None:
    """The words a Reference carries for who it points at (its display), if any."""
    display = reference.get("display") if isinstance(reference, dict) else None
    return display.strip() if isinstance(display, str) and display.strip() else None


@dataclass(frozen=True)
class TaskSummary:
    """One task as lists show it (a caseload, a person's tasks, a worklist)."""

    id: str
    person_id: str | None
    description: str
    owner_organisation_id: str | None
    owner_role_id: str | None
    owner_name: str | None
    requester: str | None
    status: str
    business_status: str | None
    due: date | None
    overdue: bool
    is_referral: bool
    version: int


def task_summary(task: Mapping[str, Any], on: date | None = None) -> TaskSummary:
    """The summary of a Task resource (as read through the guard); `on` is "today"."""
    owner = task.get("owner")
    requester = task.get("requester")
    requester_words = _display(requester)
    if requester_words is None and isinstance(requester, dict):
        reference = requester.get("reference")
        requester_words = reference if isinstance(reference, str) else None
    return TaskSummary(
        id=str(task["id"]),
        person_id=referenced_id(task.get("for"), "Patient"),
        description=describe(task),
        owner_organisation_id=referenced_id(owner, "Organization"),
        owner_role_id=referenced_id(owner, "PractitionerRole"),
        owner_name=_display(owner),
        requester=requester_words,
        status=str(task.get("status") or "unknown"),
        business_status=_text_of(task.get("businessStatus")),
        due=due_date(task),
        overdue=is_overdue(task, on),
        is_referral=is_referral(task),
        version=version_of(dict(task)),
    )


def tasks_for_person(
    access: CareRecordAccess, patient_id: str, on: date | None = None
) -> list[TaskSummary]:
    """Every task for the person that the asker may see: open ones first, soonest due first,
    then closed ones."""
    day = on or today()
    found = find(access, "Task", [("patient", f"Patient/{patient_id}")])
    summaries = [task_summary(task, day) for task in found]
    return sorted(
        summaries,
        key=lambda s: (s.status in CLOSED_STATUSES, s.due or date.max, s.description, s.id),
    )


# -- who acts for which side -------------------------------------------------------------------


def organisation_acting(reference: Any, read_role: ReadRole) -> str | None:
    """The Organization a Reference acts for: itself, or a PractitionerRole's organisation."""
    organisation = referenced_id(reference, "Organization")
    if organisation is not None:
        return organisation
    role_id = referenced_id(reference, "PractitionerRole")
    if role_id is None:
        return None
    role = read_role(role_id)
    return referenced_id(role.get("organization"), "Organization") if role else None


@dataclass(frozen=True)
class Sides:
    """Which side of a task the signed-in person is on (both, when a team asks itself)."""

    receiving: bool
    requesting: bool
    assigned_to_them: bool


def sides_of(
    principal: Principal,
    task: Mapping[str, Any],
    read_role: ReadRole,
    receiving_organisation: str | None = None,
) -> Sides:
    """The receiving side is the owning organisation's staff (or the owner themselves); the
    requesting side is the staff of the organisation that asked. `receiving_organisation`
    (a referral's performer) stays the receiving team after the task is assigned to one of
    them."""
    owner = task.get("owner")
    mine = principal.practitioner_role_id
    assigned = mine is not None and referenced_id(owner, "PractitionerRole") == mine
    organisation = principal.organisation_id
    receiving_org = receiving_organisation or organisation_acting(owner, read_role)
    requesting_org = organisation_acting(task.get("requester"), read_role)
    return Sides(
        receiving=assigned or (organisation is not None and receiving_org == organisation),
        requesting=organisation is not None and requesting_org == organisation,
        assigned_to_them=assigned,
    )


# -- the state machine -------------------------------------------------------------------------


class TaskAction(StrEnum):
    """What someone can do to a task (the last part of POST /tasks/{id}/{action})."""

    ACCEPT = "accept"
    REJECT = "reject"
    START = "start"
    COMPLETE = "complete"
    ASSIGN_TO_ME = "assign-to-me"
    CANCEL = "cancel"
    CLOSE = "close"


RECEIVING_ACTIONS: Final = frozenset(
    {
        TaskAction.ACCEPT,
        TaskAction.REJECT,
        TaskAction.START,
        TaskAction.COMPLETE,
        TaskAction.ASSIGN_TO_ME,
    }
)
REQUESTING_ACTIONS: Final = frozenset({TaskAction.CANCEL, TaskAction.CLOSE})

_MOVES: Final[Mapping[TaskAction, tuple[frozenset[str], str]]] = {
    TaskAction.ACCEPT: (frozenset({"requested", "received"}), "accepted"),
    TaskAction.REJECT: (frozenset({"requested", "received", "accepted"}), "rejected"),
    TaskAction.START: (frozenset({"accepted"}), "in-progress"),
    TaskAction.COMPLETE: (frozenset({"accepted", "in-progress"}), "completed"),
    TaskAction.CANCEL: (
        frozenset(
            {"draft", "requested", "received", "ready", "on-hold", "accepted", "in-progress"}
        ),
        "cancelled",
    ),
}
"""For each status-changing action: the statuses it may start from, and where it goes."""

_ALREADY: Final[Mapping[str, str]] = {
    "accepted": "has already been accepted",
    "in-progress": "has already been started",
    "completed": "has already been completed",
    "rejected": "has already been rejected",
    "cancelled": "has been cancelled",
    "failed": "has been marked as not done",
    "entered-in-error": "was entered in error",
}


class TaskProblem(Exception):  # noqa: N818 - a refusal named for what it is, shown as a message
    """A change to a task that cannot be made; `message` is what to tell the person, and
    `field` the form field it is about (None for the page as a whole)."""

    status: int = 409

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotYourSide(TaskProblem):
    """The person is not on the side of the task that may do this."""

    status = 403


class NotNow(TaskProblem):
    """The task's status does not allow this change (it has moved on, or not far enough)."""


class ChangedSinceOpened(TaskProblem):
    """Someone else changed the task after the page was opened; nothing was saved."""

    def __init__(self) -> None:
        super().__init__("Someone else has updated this task since you opened it")


class DetailNeeded(TaskProblem):
    """A detail the change needs (a reason) is missing or too long."""

    status = 400


def noun_for(task: Mapping[str, Any]) -> str:
    return "referral" if is_referral(task) else "task"


def next_status(task: Mapping[str, Any], action: TaskAction) -> str:
    """The status `action` moves the task to, or NotNow saying in plain words why not."""
    noun = noun_for(task)
    status = str(task.get("status") or "")
    move = _MOVES.get(action)
    if move is None:
        return status
    allowed, target = move
    if status in allowed:
        return target
    if action is TaskAction.START and status in WAITING_STATUSES:
        raise NotNow(f"Accept this {noun} before you start it")
    if action is TaskAction.COMPLETE and status in WAITING_STATUSES:
        raise NotNow(f"Accept this {noun} before you complete it")
    if status == target or status in _ALREADY:
        raise NotNow(f"This {noun} {_ALREADY.get(status, 'has already moved on')}")
    raise NotNow(f"This {noun} cannot be changed that way now")


def actions_open_to(
    task: Mapping[str, Any],
    sides: Sides,
    *,
    has_role: bool,
    referral_open: bool,
) -> tuple[TaskAction, ...]:
    """The actions to offer the signed-in person, in the order the page shows them.

    `referral_open` is whether a referral's ServiceRequest is still active: a rejected
    referral waits for its referrer to close it."""
    status = str(task.get("status") or "")
    offered: list[TaskAction] = []
    if sides.receiving:
        for action in (
            TaskAction.ACCEPT,
            TaskAction.START,
            TaskAction.COMPLETE,
            TaskAction.REJECT,
        ):
            if status in _MOVES[action][0]:
                offered.append(action)
        if has_role and is_open(task) and not sides.assigned_to_them:
            offered.append(TaskAction.ASSIGN_TO_ME)
    if sides.requesting:
        if status in _MOVES[TaskAction.CANCEL][0]:
            offered.append(TaskAction.CANCEL)
        if status == "rejected" and is_referral(task) and referral_open:
            offered.append(TaskAction.CLOSE)
    return tuple(offered)


def side_refusal(action: TaskAction, noun: str) -> str:
    """Why someone on the other side may not do `action`, in plain words."""
    if action in RECEIVING_ACTIONS:
        verb = {
            TaskAction.ACCEPT: "accept",
            TaskAction.REJECT: "reject",
            TaskAction.START: "start",
            TaskAction.COMPLETE: "complete",
            TaskAction.ASSIGN_TO_ME: "take on",
        }[action]
        team = "it was sent to" if noun == "referral" else "it belongs to"
        return f"Only the team {team} can {verb} this {noun}"
    verb = "cancel" if action is TaskAction.CANCEL else "close"
    who = "made" if noun == "referral" else "asked for"
    return f"Only the organisation that {who} this {noun} can {verb} it"
