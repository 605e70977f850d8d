"""The people an MDT meeting discusses: choosing them, what was said about each, and the
actions agreed (docs/care-coordination.md, "MDT meetings").

Each person on a meeting's list is a `Communication` with category `mdt-discussion`: `subject`
the person, `partOf` the meeting's Appointment, `reasonCode` why they are to be discussed,
status `preparation` until the discussion is recorded in `payload` (then `completed`). A
person taken off the list before the meeting is `not-done`, kept with its history. Actions
agreed are `mdt-action` Tasks `basedOn` that Communication, owned by an Organization or a
PractitionerRole, so they land on the owners' worklists like any other task and give the owner
their relationship with the person while open.

**Who sees whom.** A Communication about a person is in that person's Patient compartment, so
the guard shows an attendee only the people on the list they have a relationship with. How
many others there are cannot come from a search (it counts only what the asker may see), so
the Appointment keeps the number of people on its list in the `mdt-people-count` extension,
changed in the same transaction as every addition and removal. The page shows the list's
people the user may see and "N others" for the difference, which names no one. A
Communication another system writes through the API without changing the count is not
counted; the page never shows a negative number of others.

Whom to offer for the list is careweave.coordination.mdt_candidates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.care_plan import writer_of
from careweave.coordination.care_team import UnknownStaff, staff_member, team_of
from careweave.coordination.mdt import (
    MAX_REASON,
    ChangedMeanwhile,
    Meeting,
    MeetingProblem,
    NotNow,
    check_takes_part,
    meeting,
    meeting_in,
    moment_of,
    retrying,
    with_people_count,
)
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import (
    UK,
    find,
    find_with_includes,
    if_none_exist,
    now_instant,
    read_or_none,
    referenced_id,
    submission_identifier,
    today,
    version_of,
)
from careweave.coordination.tasks import TaskSummary, task_summary
from careweave.fhir.errors import Gone, NotFound, VersionConflict
from careweave.fhir.resource_types import is_fhir_id
from careweave.store.repository import StoreTransaction

MDT_DISCUSSION: Final = "mdt-discussion"
MDT_ACTION: Final = "mdt-action"
ON_THE_LIST: Final = ("preparation", "in-progress", "completed")
"""Communication statuses of someone still on a meeting's list (`not-done`: taken off)."""
MAX_DISCUSSION: Final = 5000
MAX_ACTION: Final = 500
_TOKEN = re.compile(r"[0-9a-f]{32}")
_STATUS_WORDS: Final = {
    "preparation": ("To discuss", "blue"),
    "in-progress": ("To discuss", "blue"),
    "completed": ("Discussed", "green"),
}


def category() -> dict[str, Any]:
    return codes.concept(codes.COMMUNICATION_CATEGORY, MDT_DISCUSSION, "MDT discussion")


def category_search() -> str:
    return f"{codes.COMMUNICATION_CATEGORY}|{MDT_DISCUSSION}"


# -- the list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedPerson:
    """Someone on a meeting's list, as its pages show them."""

    communication_id: str
    version: int
    person: PersonBanner
    reason: str | None
    status: str
    added_by: str | None
    discussion: str | None
    recorded_by: str | None
    recorded_at: datetime | None
    actions: tuple[TaskSummary, ...]

    @property
    def status_words(self) -> tuple[str, str]:
        return _STATUS_WORDS.get(self.status, ("Taken off the list", "grey"))

    @property
    def discussed(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True)
class MeetingList:
    """The people on a meeting's list the asker may see, and how many others there are."""

    people: list[ListedPerson]
    others: int


def people_on_list(access: CareRecordAccess, held: Meeting) -> MeetingList:
    """Who is on the meeting's list that the asker may see (in name order), with their
    actions; `others` counts the rest from the meeting's own count, naming no one."""
    found, included = find_with_includes(
        access,
        "Communication",
        [
            ("part-of", f"Appointment/{held.id}"),
            ("category", category_search()),
            ("_include", "Communication:subject"),
        ],
    )
    listed = [c for c in found if c.get("status") in ON_THE_LIST]
    actions = _actions_of(access, [str(c["id"]) for c in listed])
    people = [
        person
        for c in listed
        if (person := _listed(c, included, actions.get(str(c["id"]), ()))) is not None
    ]
    people.sort(key=lambda p: (p.person.name.casefold(), p.communication_id))
    return MeetingList(people, max(0, held.people_count - len(listed)))


def listed_person(access: CareRecordAccess, held: Meeting, communication_id: str) -> ListedPerson:
    """One person on the meeting's list (NotFound when the asker may not see them, or they
    are not on this meeting's list)."""
    if not is_fhir_id(communication_id):
        raise NotFound(f"Communication/{communication_id} is not known")
    found, included = find_with_includes(
        access,
        "Communication",
        [("_id", communication_id), ("_include", "Communication:subject")],
    )
    for communication in found:
        if _on_meeting(communication, held.id) and communication.get("status") in ON_THE_LIST:
            actions = _actions_of(access, [communication_id]).get(communication_id, ())
            person = _listed(communication, included, actions)
            if person is not None:
                return person
    raise NotFound(f"Communication/{communication_id} is not on this meeting's list")


def _listed(
    communication: dict[str, Any],
    included: dict[str, dict[str, Any]],
    actions: Sequence[TaskSummary],
) -> ListedPerson | None:
    patient_id = referenced_id(communication.get("subject"), "Patient")
    patient = included.get(f"Patient/{patient_id}") if patient_id else None
    if patient is None:
        return None
    notes = [n for n in communication.get("note") or () if isinstance(n, dict)]
    status = str(communication.get("status") or "preparation")
    discussed = status == "completed"
    return ListedPerson(
        communication_id=str(communication["id"]),
        version=version_of(communication),
        person=banner_of(patient),
        reason=_first_text(communication.get("reasonCode")),
        status=status,
        added_by=_display(notes[0].get("authorReference")) if notes else None,
        discussion=_payload(communication) if discussed else None,
        recorded_by=_display(communication.get("sender")) if discussed else None,
        recorded_at=moment_of(communication.get("sent")) if discussed else None,
        actions=tuple(actions),
    )


def _actions_of(
    access: CareRecordAccess, communication_ids: Sequence[str]
) -> dict[str, tuple[TaskSummary, ...]]:
    """The mdt-action Tasks the asker may see for each Communication, soonest due first."""
    by_discussion: dict[str, list[TaskSummary]] = {}
    for start in range(0, len(communication_ids), 100):
        batch = communication_ids[start : start + 100]
        tasks = find(
            access,
            "Task",
            [
                ("based-on", ",".join(f"Communication/{cid}" for cid in batch)),
                ("code", f"{codes.TASK_TYPE}|{MDT_ACTION}"),
            ],
        )
        for task in tasks:
            for based_on in task.get("basedOn") or ():
                cid = referenced_id(based_on, "Communication")
                if cid is not None and cid in batch:
                    by_discussion.setdefault(cid, []).append(task_summary(task))
    return {
        cid: tuple(sorted(found, key=lambda t: (t.due or date.max, t.description, t.id)))
        for cid, found in by_discussion.items()
    }


# -- adding and removing people ----------------------------------------------------------------


@dataclass(frozen=True)
class PersonAdded:
    communication_id: str
    created: bool


def add_person(
    access: CareRecordAccess, appointment_id: str, patient_id: str, reason: str, token: str
) -> PersonAdded:
    """Put the person on the meeting's list, saying why, and count them on the meeting, in
    one transaction. The same form sent again (its one-time `token`) finds the first entry."""
    held = meeting(access, appointment_id)
    check_takes_part(access, held)
    if held.status != "booked":
        raise NotNow("People can be added only before the meeting is held or cancelled")
    why = reason.strip()
    problems: list[tuple[str, str]] = []
    if not patient_id or not is_fhir_id(patient_id):
        problems.append(("patient", "Select the person to discuss"))
    elif read_or_none(access, "Patient", patient_id) is None:
        problems.append(("patient", "Select a person from the list"))
    if not why:
        problems.append(("reason", "Enter why the meeting should discuss them"))
    elif len(why) > MAX_REASON:
        problems.append(("reason", f"Reason must be {MAX_REASON:,} characters or fewer"))
    if problems:
        raise MeetingProblem(problems[0][1], problems[0][0])
    if not _TOKEN.fullmatch(token):
        raise MeetingProblem("This form was not sent as expected: open it again")
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> PersonAdded:
        earlier = tx.find_ids("Communication", if_none_exist(token))
        if earlier:
            return PersonAdded(earlier[0], False)
        appointment = meeting_in(tx, appointment_id)
        if appointment.get("status") != "booked":
            raise NotNow("People can be added only before the meeting is held or cancelled")
        already = tx.find_ids(
            "Communication",
            f"part-of=Appointment/{appointment_id}&subject=Patient/{patient_id}"
            f"&category={category_search()}&status={','.join(ON_THE_LIST)}",
            limit=1,
        )
        if already:
            raise MeetingProblem("They are already on this meeting's list", "patient")
        now = now_instant()
        communication: dict[str, Any] = {
            "resourceType": "Communication",
            "identifier": [submission_identifier(token)],
            "partOf": [{"reference": f"Appointment/{appointment_id}"}],
            "status": "preparation",
            "category": [category()],
            "subject": {"reference": f"Patient/{patient_id}"},
            "sender": dict(writer.reference),
            "reasonCode": [{"text": why}],
            "note": [
                {
                    "authorReference": dict(writer.reference),
                    "time": now,
                    "text": "Added to the meeting's list",
                }
            ],
        }
        made = tx.create(communication, if_none_exist=if_none_exist(token))
        counted = with_people_count(appointment, +1)
        tx.update("Appointment", appointment_id, counted, if_match=version_of(appointment))
        return PersonAdded(made.stored.id, made.created)

    return retrying(lambda: access.write("create", "Communication", work))


def remove_person(
    access: CareRecordAccess, appointment_id: str, communication_id: str, version: int
) -> None:
    """Take someone off the list before they are discussed (their Communication becomes
    `not-done`, kept with its history) and count them off the meeting."""
    held = meeting(access, appointment_id)
    check_takes_part(access, held)
    if held.status != "booked":
        raise NotNow("People can be taken off the list only before the meeting is held")
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> None:
        communication = _discussion_in(tx, appointment_id, communication_id)
        if version_of(communication) != version:
            raise ChangedMeanwhile(DISCUSSION_CHANGED)
        if communication.get("status") == "completed":
            raise NotNow("They have been discussed, so they stay on the meeting's list")
        if communication.get("status") not in ON_THE_LIST:
            raise NotNow("They have already been taken off the list")
        appointment = meeting_in(tx, appointment_id)
        if appointment.get("status") != "booked":
            raise NotNow("People can be taken off the list only before the meeting is held")
        now = now_instant()
        communication["status"] = "not-done"
        communication["statusReason"] = {"text": "Taken off the list before the meeting"}
        communication["note"] = [
            *(communication.get("note") or []),
            {
                "authorReference": dict(writer.reference),
                "time": now,
                "text": "Taken off the meeting's list",
            },
        ]
        tx.update("Communication", communication_id, communication, if_match=version)
        counted = with_people_count(appointment, -1)
        tx.update("Appointment", appointment_id, counted, if_match=version_of(appointment))

    retrying(lambda: access.write("update", f"Communication/{communication_id}", work))


DISCUSSION_CHANGED: Final = (
    "Someone else changed this since you opened the form, so your change was not saved. "
    "What is shown now includes their change: check it and make yours again."
)


# -- the discussion and its actions ------------------------------------------------------------


def record_discussion(
    access: CareRecordAccess,
    appointment_id: str,
    communication_id: str,
    version: int,
    text: str,
) -> None:
    """Record (or correct) what the meeting said about the person, on the version the form
    showed: the Communication is `completed`, with the words in its payload."""
    words = text.strip()
    if not words:
        raise MeetingProblem("Enter what the meeting discussed and decided", "discussion")
    if len(words) > MAX_DISCUSSION:
        raise MeetingProblem(
            f"Discussion must be {MAX_DISCUSSION:,} characters or fewer", "discussion"
        )
    held = meeting(access, appointment_id)
    check_takes_part(access, held)
    if held.status == "cancelled":
        raise NotNow("This meeting was cancelled, so there is no discussion to record")
    if not held.started():
        raise NotNow("You can record the discussion once the meeting has started")
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> None:
        communication = _discussion_in(tx, appointment_id, communication_id)
        if version_of(communication) != version:
            raise ChangedMeanwhile(DISCUSSION_CHANGED)
        if communication.get("status") not in ON_THE_LIST:
            raise NotNow("They were taken off the list, so there is no discussion to record")
        now = now_instant()
        first = communication.get("status") != "completed"
        communication["status"] = "completed"
        communication["payload"] = [{"contentString": words}]
        communication["sent"] = now
        communication["sender"] = dict(writer.reference)
        communication["note"] = [
            *(communication.get("note") or []),
            {
                "authorReference": dict(writer.reference),
                "time": now,
                "text": "Discussion recorded" if first else "Discussion changed",
            },
        ]
        tx.update("Communication", communication_id, communication, if_match=version)

    try:
        access.write("update", f"Communication/{communication_id}", work)
    except VersionConflict:
        raise ChangedMeanwhile(DISCUSSION_CHANGED) from None


@dataclass(frozen=True)
class OwnerChoice:
    """Who an action can be given to: `reference` is "Organization/id" or
    "PractitionerRole/id"."""

    reference: str
    name: str


@dataclass(frozen=True)
class OwnerChoices:
    """The people at the meeting, the person's care team, and every organisation."""

    attendees: list[OwnerChoice]
    care_team: list[OwnerChoice]
    organisations: list[OwnerChoice]

    def knows(self, reference: str) -> bool:
        return any(
            c.reference == reference
            for c in (*self.attendees, *self.care_team, *self.organisations)
        )


def owner_choices(access: CareRecordAccess, held: Meeting, patient_id: str) -> OwnerChoices:
    """Whom an action agreed for the person can be given to."""
    attendees = [
        OwnerChoice(
            f"PractitionerRole/{a.practitioner_role_id}",
            f"{a.name}, {a.organisation}" if a.organisation else a.name,
        )
        for a in held.attendees
    ]
    team = team_of(access, patient_id)
    members = (
        [*([team.coordinator] if team.coordinator else []), *team.cover, *team.members]
        if team
        else []
    )
    seen: set[str] = set()
    care_team = []
    for member in members:
        if member.practitioner_role_id in seen:
            continue
        seen.add(member.practitioner_role_id)
        words = f"{member.name}, {member.organisation}" if member.organisation else member.name
        if member.team_role == codes.COORDINATOR:
            words += " (named coordinator)"
        care_team.append(OwnerChoice(f"PractitionerRole/{member.practitioner_role_id}", words))
    organisations = sorted(
        (
            OwnerChoice(f"Organization/{o['id']}", str(o.get("name") or o["id"]))
            for o in find(access, "Organization", [])
            if o.get("active") is not False
        ),
        key=lambda c: (c.name.casefold(), c.reference),
    )
    return OwnerChoices(attendees, care_team, organisations)


def add_action(
    access: CareRecordAccess,
    appointment_id: str,
    communication_id: str,
    *,
    description: str,
    owner: str,
    due: date | None,
    token: str,
) -> str:
    """Record an action the meeting agreed for the person: an mdt-action Task based on their
    discussion, owned by an organisation or a post, due on `due`. Returns the Task's id; the
    same form sent again (its `token`) finds the first Task."""
    held = meeting(access, appointment_id)
    check_takes_part(access, held)
    if held.status == "cancelled":
        raise NotNow("This meeting was cancelled, so no actions were agreed")
    discussed = listed_person(access, held, communication_id)
    if not discussed.discussed:
        raise NotNow("Save the discussion before adding the actions agreed")
    what = description.strip()
    problems: list[tuple[str, str]] = []
    if not what:
        problems.append(("description", "Enter what will be done"))
    elif len(what) > MAX_ACTION:
        problems.append(("description", f"Action must be {MAX_ACTION:,} characters or fewer"))
    owner_ref = _owner(access, owner)
    if owner_ref is None:
        problems.append(("owner", "Select who will do it"))
    if due is None:
        problems.append(("due", "Enter the due date"))
    elif due < today():
        problems.append(("due", "Due date must be today or in the future"))
    if problems:
        raise MeetingProblem(problems[0][1], problems[0][0])
    if not _TOKEN.fullmatch(token):
        raise MeetingProblem("This form was not sent as expected: open it again")
    assert owner_ref is not None and due is not None
    writer = writer_of(access)
    when = held.start.astimezone(UK).date() if held.start else today()
    patient_id = discussed.person.patient_id

    def work(tx: StoreTransaction) -> str:
        communication = _discussion_in(tx, appointment_id, communication_id)
        if communication.get("status") != "completed":
            raise NotNow("Save the discussion before adding the actions agreed")
        now = now_instant()
        task: dict[str, Any] = {
            "resourceType": "Task",
            "identifier": [submission_identifier(token)],
            "status": "requested",
            "intent": "plan",
            "code": codes.concept(codes.TASK_TYPE, MDT_ACTION, "MDT action"),
            "description": what,
            "basedOn": [{"reference": f"Communication/{communication_id}"}],
            "for": {"reference": f"Patient/{patient_id}"},
            "authoredOn": now,
            "lastModified": now,
            "requester": dict(writer.reference),
            "owner": owner_ref,
            "restriction": {"period": {"end": due.isoformat()}},
            "note": [
                {
                    "authorReference": dict(writer.reference),
                    "time": now,
                    "text": f"Agreed at the MDT meeting \u201c{held.title}\u201d on "
                    f"{when.day} {when:%B %Y}",
                }
            ],
        }
        return tx.create(task, if_none_exist=if_none_exist(token)).stored.id

    return access.write("create", "Task", work)


def _owner(access: CareRecordAccess, owner: str) -> dict[str, str] | None:
    """The Reference an action's owner form value stands for, checked against the directory."""
    kind, _, owner_id = owner.partition("/")
    if not is_fhir_id(owner_id):
        return None
    if kind == "Organization":
        organisation = read_or_none(access, "Organization", owner_id)
        if organisation is None or organisation.get("active") is False:
            return None
        return {
            "reference": f"Organization/{owner_id}",
            "display": str(organisation.get("name") or owner_id),
        }
    if kind == "PractitionerRole":
        try:
            chosen = staff_member(access, owner_id)
        except UnknownStaff:
            return None
        return {"reference": f"PractitionerRole/{owner_id}", "display": chosen.name}
    return None


# -- small readers -----------------------------------------------------------------------------


def _discussion_in(
    tx: StoreTransaction, appointment_id: str, communication_id: str
) -> dict[str, Any]:
    """The person's entry on this meeting's list as the transaction sees it."""
    if not is_fhir_id(communication_id):
        raise NotFound(f"Communication/{communication_id} is not known")
    try:
        communication = tx.read("Communication", communication_id).as_dict()
    except Gone:
        raise NotFound(f"Communication/{communication_id} is not known") from None
    if not _on_meeting(communication, appointment_id):
        raise NotFound(f"Communication/{communication_id} is not on this meeting's list")
    return communication


def _on_meeting(communication: dict[str, Any], appointment_id: str) -> bool:
    if not codes.has_code(
        communication.get("category"), codes.COMMUNICATION_CATEGORY, MDT_DISCUSSION
    ):
        return False
    return any(
        referenced_id(part, "Appointment") == appointment_id
        for part in communication.get("partOf") or ()
    )


def _payload(communication: dict[str, Any]) -> str | None:
    for part in communication.get("payload") or ():
        if isinstance(part, dict) and isinstance(part.get("contentString"), str):
            return str(part["contentString"])
    return None


def _first_text(concepts: Any) -> str | None:
    for concept in concepts or ():
        if isinstance(concept, dict):
            text = concept.get("text")
            if isinstance(text, str) and text.strip():
                return text.strip()
    return None


def _display(reference: Any) -> str | None:
    display = reference.get("display") if isinstance(reference, dict) else None
    return display.strip() if isinstance(display, str) and display.strip() else None
