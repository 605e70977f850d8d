"""What people do to the personalised care and support plan: create it, edit its sections,
add and update goals and actions, record a review, and add what matters to the person and
their questions for the next review (docs/care-coordination.md).

Each change is one transaction through the asker's `CareRecordAccess`: the plan, the Goal or
Task it adds and (where the role may) a Provenance are written together or not at all. Forms
that create something carry a one-time token, written as an identifier and used for a
conditional create, so a double-submitted form finds what the first made. Edits of the
plan's text write with `If-Match` the version the form was read at: a stale edit raises
VersionConflict rather than overwriting someone else's change. Adding a goal or an action
only appends to the plan, so it writes with the version read in the same transaction and
tries again if another change landed in between.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

from careweave.access.guard import CareRecordAccess
from careweave.coordination.care_plan import (
    CARE_PLAN_ACTION,
    GOAL_ACHIEVEMENT,
    NOTE_TITLES,
    QUESTION,
    REVIEW_CARE_PLAN,
    SECTION_TITLES,
    WHAT_MATTERS,
    NoCarePlan,
    PlanExists,
    PlanInputError,
    Writer,
    active_plan,
    care_team_of,
    coordinator_of,
    may_record_provenance,
    open_review_tasks,
    plan_query,
    provenance_of,
    referenced_ids,
    stamp,
    writer_of,
)
from careweave.coordination.codes import (
    CARE_PLAN_CATEGORY,
    CARE_PLAN_SECTION,
    COMMUNICATION_CATEGORY,
    LAST_REVIEWED_EXTENSION,
    NEXT_REVIEW_EXTENSION,
    NOTE_SECTIONS,
    SECTION_EXTENSION,
    TASK_TYPE,
    concept,
    has_code,
)
from careweave.coordination.record import (
    find,
    if_none_exist,
    now_instant,
    read,
    read_or_none,
    referenced_id,
    submission_identifier,
    today,
    version_of,
)
from careweave.fhir.errors import NotFound, VersionConflict
from careweave.fhir.names import person_name
from careweave.store.repository import StoreTransaction

_T = TypeVar("_T")

MAX_SECTION: Final = 3000
"""Per text section: four full sections must still fit the 16 KB a form may post."""
MAX_WORDS: Final = 2000
MAX_SHORT: Final = 500
MAX_NOTE: Final = 1000
ACTION_STATUSES: Final[dict[str, str]] = {
    "accepted": "Accepted",
    "in-progress": "In progress",
    "completed": "Completed",
    "cancelled": "Cancelled",
}
"""What an action's owner can move it to (the Task workflow, docs/care-coordination.md)."""
GOAL_LIFECYCLE: Final[dict[str, str]] = {
    "active": "Working towards it",
    "on-hold": "On hold",
    "completed": "Finished",
    "cancelled": "No longer wanted",
}
GOAL_ACHIEVEMENT_CHOICES: Final[dict[str, str]] = {
    "in-progress": "In progress",
    "improving": "Improving",
    "no-change": "No change",
    "worsening": "Getting worse",
    "achieved": "Achieved",
    "not-achieved": "Not achieved",
}
_TOKEN = re.compile(r"[A-Za-z0-9-]{8,64}")
_ATTEMPTS = 3


# -- the plan ----------------------------------------------------------------------------------


def create_plan(
    access: CareRecordAccess,
    patient_id: str,
    token: str,
    *,
    about_me: str = "",
    next_review: date | None = None,
) -> str:
    """Create the person's plan (one active plan per person) and return its id; submitting
    the same form again returns the plan the first submission made. With `next_review`, the
    first review-care-plan Task is created too, owned by the coordinator's organisation."""
    _check_token(token)
    about_me = _text(about_me, "about-me", "the summary", MAX_SECTION, required=False)
    if next_review is not None and next_review <= today():
        raise PlanInputError("next-review", "Next review date must be in the future")
    writer = writer_of(access)
    team = care_team_of(access, patient_id)
    coordinator_role, _ = coordinator_of(team)
    author = (
        {"reference": f"PractitionerRole/{coordinator_role}"}
        if coordinator_role
        else dict(writer.reference)
    )
    owner = _review_owner(team, writer)
    when = now_instant()
    provenance = may_record_provenance(access)
    system, code = CARE_PLAN_CATEGORY

    def work(tx: StoreTransaction) -> str:
        made = tx.find_ids("CarePlan", if_none_exist(token))
        if made:
            return made[0]
        if tx.find_ids("CarePlan", urlencode(plan_query(patient_id))):
            raise PlanExists()
        plan: dict[str, Any] = {
            "resourceType": "CarePlan",
            "identifier": [submission_identifier(token)],
            "status": "active",
            "intent": "plan",
            "category": [concept(system, code, "Personalised care and support plan")],
            "title": "Personalised care and support plan",
            "subject": {"reference": f"Patient/{patient_id}"},
            "created": when,
            "author": author,
        }
        if team is not None:
            plan["careTeam"] = [{"reference": f"CareTeam/{team['id']}"}]
        if about_me:
            plan["note"] = [_section_note("about-me", about_me, writer, when)]
        if next_review is not None:
            plan["extension"] = [_date_extension(NEXT_REVIEW_EXTENSION, next_review)]
        plan_id = tx.create(stamp(plan, writer)).stored.id
        targets = [("CarePlan", plan_id, 1)]
        if next_review is not None and owner is not None:
            task = _review_task(plan_id, patient_id, owner, next_review, writer, when)
            targets.append(("Task", tx.create(task).stored.id, 1))
        if provenance:
            tx.create(provenance_of(targets, True, writer, when))
        return plan_id

    return access.write("create", "CarePlan", work)


def update_sections(
    access: CareRecordAccess, patient_id: str, version: int, sections: Mapping[str, str]
) -> int:
    """Write the plan's text sections as typed on a form read at `version`; returns the
    plan's version now. A section left empty is removed. VersionConflict when someone else
    changed the plan since `version` (nothing is written)."""
    typed = {
        code: _text(sections[code], code, NOTE_TITLES[code].lower(), MAX_SECTION, required=False)
        for code in NOTE_SECTIONS
        if code in sections
    }
    plan = _plan_or_refuse(access, patient_id)
    plan_id = str(plan["id"])
    writer = writer_of(access)
    when = now_instant()
    provenance = may_record_provenance(access)

    def work(tx: StoreTransaction) -> int:
        current = tx.read("CarePlan", plan_id).as_dict()
        notes = _merged_notes(current.get("note") or [], typed, writer, when)
        if notes == (current.get("note") or []):
            return version_of(current)  # nothing to change, so nothing to overwrite
        body = _without_meta(current)
        if notes:
            body["note"] = notes
        else:
            body.pop("note", None)
        result = tx.update("CarePlan", plan_id, stamp(body, writer), if_match=version)
        if provenance and result.changed:
            targets = [("CarePlan", plan_id, result.stored.version_id)]
            tx.create(provenance_of(targets, False, writer, when))
        return result.stored.version_id

    return access.write("update", f"CarePlan/{plan_id}", work)


def record_review(access: CareRecordAccess, patient_id: str, token: str, next_review: date) -> None:
    """Record that the plan was reviewed today: the plan's last-reviewed date is today and
    its next review `next_review`; open review-care-plan Tasks are completed and the next one
    is created, owned by the coordinator's organisation and due on `next_review`. Submitting
    the same form again changes nothing more."""
    _check_token(token)
    if next_review <= today():
        raise PlanInputError("next-review", "Next review date must be in the future")
    plan = _plan_or_refuse(access, patient_id)
    plan_id = str(plan["id"])
    writer = writer_of(access)
    owner = _review_owner(care_team_of(access, patient_id), writer)
    if owner is None:
        raise PlanInputError(None, "There is no organisation to own the next review")
    provenance = may_record_provenance(access)

    def attempt() -> None:
        open_tasks = open_review_tasks(access, plan_id)
        when = now_instant()

        def work(tx: StoreTransaction) -> None:
            task = _review_task(plan_id, patient_id, owner, next_review, writer, when, token)
            made = tx.create(task, if_none_exist=if_none_exist(token))
            if not made.created:
                return
            targets = [("Task", made.stored.id, 1)]
            current = tx.read("CarePlan", plan_id).as_dict()
            body = _with_dates(
                _without_meta(current),
                {LAST_REVIEWED_EXTENSION: today(), NEXT_REVIEW_EXTENSION: next_review},
            )
            result = tx.update(
                "CarePlan", plan_id, stamp(body, writer), if_match=version_of(current)
            )
            targets.append(("CarePlan", plan_id, result.stored.version_id))
            for open_task in open_tasks:
                done = _without_meta(open_task)
                done.update(status="completed", lastModified=when)
                done["executionPeriod"] = {**(open_task.get("executionPeriod") or {}), "end": when}
                updated = tx.update(
                    "Task",
                    str(open_task["id"]),
                    stamp(done, writer),
                    if_match=version_of(open_task),
                )
                targets.append(("Task", str(open_task["id"]), updated.stored.version_id))
            if provenance:
                tx.create(provenance_of(targets, False, writer, when))

        access.write("update", f"CarePlan/{plan_id}", work)

    _retrying(attempt)


# -- goals -------------------------------------------------------------------------------------


def goal_voices(access: CareRecordAccess, patient_id: str) -> list[tuple[str, str]]:
    """Whose words a goal can be in: (reference, who) for the person, their carers and the
    asker."""
    person = read(access, "Patient", patient_id)
    voices = [(f"Patient/{patient_id}", f"{person_name(person) or 'The person'} (the person)")]
    for carer in find(access, "RelatedPerson", [("patient", f"Patient/{patient_id}")]):
        voices.append(
            (f"RelatedPerson/{carer['id']}", f"{person_name(carer) or 'Their carer'} (carer)")
        )
    writer = writer_of(access)
    if writer.reference["reference"] not in {v[0] for v in voices}:
        voices.append((writer.reference["reference"], f"{writer.reference['display']} (you)"))
    return voices


def add_goal(
    access: CareRecordAccess,
    patient_id: str,
    token: str,
    description: str,
    target_date: date | None,
    expressed_by: str | None = None,
) -> str:
    """Add a goal in the words of `expressed_by` (a reference from `goal_voices`; the person
    when None) to the plan; returns the Goal's id."""
    _check_token(token)
    description = _text(description, "description", "the goal", MAX_SHORT)
    if target_date is not None and target_date < today():
        raise PlanInputError("target", "Target date must be today or in the future")
    voice = expressed_by or f"Patient/{patient_id}"
    voices = dict(goal_voices(access, patient_id))
    if voice not in voices:
        raise PlanInputError("expressed-by", "Select whose words these are")
    plan_id = str(_plan_or_refuse(access, patient_id)["id"])
    writer = writer_of(access)
    provenance = may_record_provenance(access)

    def work(tx: StoreTransaction) -> str:
        when = now_instant()
        goal: dict[str, Any] = {
            "resourceType": "Goal",
            "identifier": [submission_identifier(token)],
            "lifecycleStatus": "active",
            "achievementStatus": _achievement("in-progress"),
            "description": {"text": description},
            "subject": {"reference": f"Patient/{patient_id}"},
            "startDate": today().isoformat(),
            "expressedBy": {"reference": voice, "display": voices[voice].rsplit(" (", 1)[0]},
        }
        if target_date is not None:
            goal["target"] = [{"dueDate": target_date.isoformat()}]
        made = tx.create(stamp(goal, writer), if_none_exist=if_none_exist(token))
        goal_id = made.stored.id
        _append_to_plan(
            tx,
            plan_id,
            "goal",
            {"reference": f"Goal/{goal_id}"},
            writer,
            when,
            ("Goal", goal_id, made.stored.version_id) if made.created else None,
            provenance,
        )
        return goal_id

    return _retrying(lambda: access.write("create", "Goal", work))


def update_goal(
    access: CareRecordAccess,
    patient_id: str,
    goal_id: str,
    version: int,
    *,
    description: str,
    target_date: date | None,
    lifecycle_status: str,
    achievement_status: str,
) -> None:
    """Change a goal as typed on a form read at `version` (VersionConflict if stale)."""
    description = _text(description, "description", "the goal", MAX_SHORT)
    if lifecycle_status not in GOAL_LIFECYCLE:
        raise PlanInputError("lifecycle", "Select whether the goal is still being worked on")
    if achievement_status not in GOAL_ACHIEVEMENT_CHOICES:
        raise PlanInputError("achievement", "Select how the goal is going")
    writer = writer_of(access)
    provenance = may_record_provenance(access)

    def work(tx: StoreTransaction) -> None:
        goal = tx.read("Goal", goal_id).as_dict()
        if referenced_id(goal.get("subject"), "Patient") != patient_id:
            raise NotFound(f"Goal/{goal_id} is not known")
        body = _without_meta(goal)
        body.update(
            description={**(goal.get("description") or {}), "text": description},
            lifecycleStatus=lifecycle_status,
            achievementStatus=_achievement(achievement_status),
        )
        if target_date is not None:
            body["target"] = [{"dueDate": target_date.isoformat()}]
        else:
            body.pop("target", None)
        result = tx.update("Goal", goal_id, stamp(body, writer), if_match=version)
        if provenance and result.changed:
            targets = [("Goal", goal_id, result.stored.version_id)]
            tx.create(provenance_of(targets, False, writer, now_instant()))

    access.write("update", f"Goal/{goal_id}", work)


# -- actions -----------------------------------------------------------------------------------


def add_action(
    access: CareRecordAccess,
    patient_id: str,
    token: str,
    *,
    section: str,
    description: str,
    owner_organisation_id: str,
    due: date,
) -> str:
    """Add an action owned by an organisation to the plan: a care-plan-action Task that the
    plan's activity refers to, written together. Returns the Task's id. The owning
    organisation's staff reach the person's record while the action is open."""
    _check_token(token)
    if section not in SECTION_TITLES:
        raise PlanInputError("section", "Select which part of the plan this action is for")
    description = _text(description, "description", "what will be done", MAX_SHORT)
    if due < today():
        raise PlanInputError("due", "Due date must be today or in the future")
    owner = (
        read_or_none(access, "Organization", owner_organisation_id)
        if re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", owner_organisation_id)
        else None
    )
    if owner is None:
        raise PlanInputError("owner", "Select the organisation that will do this")
    plan_id = str(_plan_or_refuse(access, patient_id)["id"])
    writer = writer_of(access)
    provenance = may_record_provenance(access)

    def work(tx: StoreTransaction) -> str:
        when = now_instant()
        task = {
            "resourceType": "Task",
            "identifier": [submission_identifier(token)],
            "status": "requested",
            "intent": "plan",
            "code": concept(TASK_TYPE, CARE_PLAN_ACTION, "Care plan action"),
            "description": description,
            "basedOn": [{"reference": f"CarePlan/{plan_id}"}],
            "for": {"reference": f"Patient/{patient_id}"},
            "authoredOn": when,
            "lastModified": when,
            "requester": dict(writer.reference),
            "owner": {
                "reference": f"Organization/{owner['id']}",
                "display": str(owner.get("name") or owner["id"]),
            },
            "restriction": {"period": {"end": due.isoformat()}},
            "performerType": [concept(CARE_PLAN_SECTION, section, SECTION_TITLES[section])],
        }
        made = tx.create(stamp(task, writer), if_none_exist=if_none_exist(token))
        task_id = made.stored.id
        activity = {"reference": {"reference": f"Task/{task_id}", "display": description}}
        _append_to_plan(
            tx,
            plan_id,
            "activity",
            activity,
            writer,
            when,
            ("Task", task_id, made.stored.version_id) if made.created else None,
            provenance,
        )
        return task_id

    return _retrying(lambda: access.write("create", "Task", work))


def update_action_status(
    access: CareRecordAccess,
    patient_id: str,
    task_id: str,
    version: int,
    status: str,
    note: str = "",
) -> None:
    """Move an action on (accepted, in progress, completed or cancelled), with a note; a
    cancelled action needs one, saying why. VersionConflict if the form was stale."""
    if status not in ACTION_STATUSES:
        raise PlanInputError("status", "Select where this action has got to")
    note = _text(note, "note", "a note", MAX_NOTE, required=status == "cancelled")
    writer = writer_of(access)
    provenance = may_record_provenance(access)

    def work(tx: StoreTransaction) -> None:
        when = now_instant()
        task = tx.read("Task", task_id).as_dict()
        if referenced_id(task.get("for"), "Patient") != patient_id or not has_code(
            task.get("code"), TASK_TYPE, CARE_PLAN_ACTION
        ):
            raise NotFound(f"Task/{task_id} is not known")
        body = _without_meta(task)
        body.update(status=status, lastModified=when)
        period = dict(task.get("executionPeriod") or {})
        if status in ("in-progress", "completed"):
            period.setdefault("start", when)
        if status == "completed":
            period["end"] = when
        if period:
            body["executionPeriod"] = period
        if status == "cancelled":
            body["statusReason"] = {"text": note}
        if note:
            body["note"] = [*(task.get("note") or []), _annotation(note, writer, when)]
        result = tx.update("Task", task_id, stamp(body, writer), if_match=version)
        if provenance and result.changed:
            targets = [("Task", task_id, result.stored.version_id)]
            tx.create(provenance_of(targets, False, writer, when))

    access.write("update", f"Task/{task_id}", work)


# -- in their own words ------------------------------------------------------------------------


def add_what_matters(access: CareRecordAccess, patient_id: str, text: str, token: str) -> str:
    """Add what matters to the person, in the words of whoever is writing: the person
    themselves, their carer or staff. Returns the Communication's id."""
    return _add_words(access, patient_id, text, token, WHAT_MATTERS, "What matters to me")


def add_question(access: CareRecordAccess, patient_id: str, text: str, token: str) -> str:
    """Add a question for the next review of the plan. Returns the Communication's id."""
    return _add_words(access, patient_id, text, token, QUESTION, "Question for the next review")


def _add_words(
    access: CareRecordAccess, patient_id: str, text: str, token: str, kind: str, display: str
) -> str:
    _check_token(token)
    words = _text(text, "text", "what you want to say", MAX_WORDS)
    plan_id = str(_plan_or_refuse(access, patient_id)["id"])
    writer = writer_of(access)
    body = {
        "resourceType": "Communication",
        "identifier": [submission_identifier(token)],
        "status": "completed",
        "category": [concept(COMMUNICATION_CATEGORY, kind, display)],
        "subject": {"reference": f"Patient/{patient_id}"},
        "about": [{"reference": f"CarePlan/{plan_id}"}],
        "sent": now_instant(),
        "sender": dict(writer.reference),
        "payload": [{"contentString": words}],
    }
    return access.write(
        "create",
        "Communication",
        lambda tx: tx.create(body, if_none_exist=if_none_exist(token)).stored.id,
    )


# -- shared pieces -----------------------------------------------------------------------------


def _plan_or_refuse(access: CareRecordAccess, patient_id: str) -> dict[str, Any]:
    plan = active_plan(access, patient_id)
    if plan is None:
        raise NoCarePlan()
    return plan


def _check_token(token: str) -> None:
    if not _TOKEN.fullmatch(token or ""):
        raise PlanInputError(None, "This form has expired. Go back to the care plan and try again.")


def _text(value: str, field: str, what: str, limit: int, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise PlanInputError(field, f"Enter {what}")
    if len(text) > limit:
        raise PlanInputError(
            field, f"{what[0].upper()}{what[1:]} must be {limit:,} characters or fewer"
        )
    return text


def _retrying(attempt: Callable[[], _T]) -> _T:
    """Run `attempt` again when a change that landed in between made its If-Match stale."""
    for tries in range(_ATTEMPTS):
        try:
            return attempt()
        except VersionConflict:
            if tries == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _append_to_plan(
    tx: StoreTransaction,
    plan_id: str,
    element: str,
    entry: dict[str, Any],
    writer: Writer,
    when: str,
    created: tuple[str, str, int] | None,
    provenance: bool,
) -> None:
    """Add `entry` to the plan's `element` (goal or activity) unless it is there already (a
    double-submitted form), with the Provenance of the change."""
    plan = tx.read("CarePlan", plan_id).as_dict()
    existing = plan.get(element) or []
    target = entry.get("reference")
    if element == "activity":
        target = entry["reference"].get("reference")
        present = [a.get("reference", {}).get("reference") for a in existing if isinstance(a, dict)]
    else:
        present = [g.get("reference") for g in existing if isinstance(g, dict)]
    if target in present:
        return
    body = _without_meta(plan)
    body[element] = [*existing, entry]
    result = tx.update("CarePlan", plan_id, stamp(body, writer), if_match=version_of(plan))
    if provenance:
        targets: list[tuple[str, str, int]] = [created] if created else []
        targets.append(("CarePlan", plan_id, result.stored.version_id))
        tx.create(provenance_of(targets, False, writer, when))


def _review_owner(team: dict[str, Any] | None, writer: Writer) -> str | None:
    """Who owns the plan's reviews: the coordinator's organisation, else the team's managing
    organisation, else the writer's own."""
    _, coordinator_organisation = coordinator_of(team)
    managing = referenced_ids((team or {}).get("managingOrganization"), "Organization")
    return coordinator_organisation or next(iter(managing), None) or writer.organisation_id


def _review_task(
    plan_id: str,
    patient_id: str,
    owner: str,
    due: date,
    writer: Writer,
    when: str,
    token: str | None = None,
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "plan",
        "code": concept(TASK_TYPE, REVIEW_CARE_PLAN, "Review care plan"),
        "description": "Review the personalised care and support plan",
        "basedOn": [{"reference": f"CarePlan/{plan_id}"}],
        "for": {"reference": f"Patient/{patient_id}"},
        "authoredOn": when,
        "lastModified": when,
        "requester": dict(writer.reference),
        "owner": {"reference": f"Organization/{owner}"},
        "restriction": {"period": {"end": due.isoformat()}},
    }
    if token:
        task["identifier"] = [submission_identifier(token)]
    return stamp(task, writer)


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def _date_extension(url: str, day: date) -> dict[str, str]:
    return {"url": url, "valueDate": day.isoformat()}


def _with_dates(resource: dict[str, Any], dates: Mapping[str, date]) -> dict[str, Any]:
    kept = [
        e
        for e in resource.get("extension") or ()
        if not (isinstance(e, dict) and e.get("url") in dates)
    ]
    added = [_date_extension(url, day) for url, day in dates.items()]
    return {**resource, "extension": [*added, *kept]}


def _achievement(code: str) -> dict[str, Any]:
    return concept(GOAL_ACHIEVEMENT, code, GOAL_ACHIEVEMENT_CHOICES.get(code))


def _annotation(text: str, writer: Writer, when: str) -> dict[str, Any]:
    """An Annotation by `writer`. R4 Annotation.authorReference may not be a PractitionerRole,
    so staff are named by `authorString`."""
    reference = writer.reference["reference"]
    author: dict[str, Any]
    if reference.split("/")[0] in ("Patient", "RelatedPerson", "Practitioner", "Organization"):
        author = {"authorReference": dict(writer.reference)}
    else:
        author = {"authorString": writer.reference.get("display") or reference}
    return {**author, "time": when, "text": text}


def _section_note(code: str, text: str, writer: Writer, when: str) -> dict[str, Any]:
    return {
        "extension": [{"url": SECTION_EXTENSION, "valueCode": code}],
        **_annotation(text, writer, when),
    }


def _merged_notes(
    notes: Sequence[Any], typed: Mapping[str, str], writer: Writer, when: str
) -> list[Any]:
    """The plan's notes with the typed sections in place: an unchanged section keeps its
    note (and so who wrote it and when), a changed one is a new note, an emptied one goes."""
    kept: list[Any] = []
    current: dict[str, dict[str, Any]] = {}
    for note in notes:
        code = _section_of(note)
        if code is not None and code in typed:
            current.setdefault(code, note)
        else:
            kept.append(note)
    for code in NOTE_SECTIONS:
        if code not in typed or not typed[code]:
            continue
        old = current.get(code)
        if old is not None and old.get("text") == typed[code]:
            kept.append(old)
        else:
            kept.append(_section_note(code, typed[code], writer, when))
    return kept


def _section_of(note: Any) -> str | None:
    if not isinstance(note, dict):
        return None
    for extension in note.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == SECTION_EXTENSION:
            code = extension.get("valueCode")
            return str(code) if code in NOTE_SECTIONS else None
    return None
