"""The personalised care and support plan as people read it (docs/care-coordination.md,
"Personalised care and support plan"): what matters to the person in their own words, their
goals, the actions each organisation has agreed to, the contingency, crisis and anticipatory
care sections, review dates, and who changed what.

The plan is one FHIR `CarePlan` per person (status active, category
`care-plan-category|personalised-care-and-support-plan`) with `Goal`s, `Task` actions and
`Communication`s about it. Everything is read through the asker's `CareRecordAccess`, so
another organisation sees the plan exactly when they have a relationship with the person.
What people do to the plan (create it, edit it, add goals and actions, record a review) is
in careweave.coordination.care_plan_actions; this module holds the reading side and what
both share: how a change records who made it.

Who changed a version is recorded in two ways. Every version written here carries the
`changed-by` extension (a careweave extension, defined below) naming the person, carer or
member of staff, because that is readable by everyone who can read the plan. Where the
writer's role may also write and read Provenance (the governance category), a `Provenance`
is written in the same transaction too, for other systems; under the example sharing terms a
care coordinator may not (see `may_record_provenance`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.access.roles import Role
from careweave.coordination.caseload import PlanReview, review_of
from careweave.coordination.codes import (
    ACTION_SECTIONS,
    CARE_PLAN_CATEGORY,
    CARE_PLAN_SECTION,
    CARE_TEAM_CATEGORY,
    CARE_TEAM_ROLE,
    CAREWEAVE_EXTENSIONS,
    CLOSED_TASK_STATUSES,
    COMMUNICATION_CATEGORY,
    COORDINATOR,
    LAST_REVIEWED_EXTENSION,
    NEXT_REVIEW_EXTENSION,
    NOTE_SECTIONS,
    SECTION_EXTENSION,
    TASK_TYPE,
    code_in,
    concept,
    has_code,
)
from careweave.coordination.record import (
    UK,
    find,
    find_with_includes,
    read_or_none,
    referenced_id,
    today,
    version_of,
)
from careweave.fhir.errors import Forbidden
from careweave.fhir.names import person_name
from careweave.store.database import as_utc
from careweave.store.repository import parse_history_cursor

CHANGED_BY_EXTENSION: Final = CAREWEAVE_EXTENSIONS + "changed-by"
"""Local extension (valueReference): who wrote this version of a CarePlan, Goal or Task, so
"who changed what" can be read by everyone who may read the plan (Provenance is in the
governance category, which most roles do not see)."""
GOAL_ACHIEVEMENT: Final = "http://terminology.hl7.org/CodeSystem/goal-achievement"
"""The R4 goal-achievement code system (Goal.achievementStatus)."""
V3_DATA_OPERATION: Final = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
"""HL7 v3 DataOperation: Provenance.activity CREATE / UPDATE."""
PROVENANCE_PARTICIPANT: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
"""The R4 provenance-participant-type code system (agent.type author)."""

WHAT_MATTERS: Final = "what-matters-to-me"
QUESTION: Final = "question-for-review"
CARE_PLAN_ACTION: Final = "care-plan-action"
REVIEW_CARE_PLAN: Final = "review-care-plan"

SECTION_TITLES: Final[dict[str, str]] = {
    "health": "Health",
    "social-care": "Social care",
    "voluntary": "Voluntary and community services",
    "person": "The person and their family",
}
NOTE_TITLES: Final[dict[str, str]] = {
    "about-me": "About me: a summary of what matters",
    "contingency": "Contingency plan",
    "crisis": "Crisis plan",
    "anticipatory": "Anticipatory care and end-of-life wishes",
}
NOT_COUNTED: Final = frozenset({"cancelled", "entered-in-error"})
"""Action statuses left out of the progress total: nothing is left to do, nor was done."""

assert set(SECTION_TITLES) == set(ACTION_SECTIONS) and set(NOTE_TITLES) == set(NOTE_SECTIONS)


class PlanInputError(ValueError):
    """Something asked of the plan that cannot be done as given; `field` names the form
    field it is about (None for the whole form) and the message says what to do."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class PlanExists(PlanInputError):  # noqa: N818 - a state the page explains
    """The person already has an active plan (one active plan per person)."""

    def __init__(self) -> None:
        super().__init__(None, "This person already has a care plan")


class NoCarePlan(PlanInputError):  # noqa: N818 - a state the page explains
    """The person has no active care plan (or the asker may not see it)."""

    def __init__(self) -> None:
        super().__init__(None, "There is no care plan yet. Create one first.")


# -- who is writing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Writer:
    """The person behind a change: `reference` is what FHIR records (Patient, RelatedPerson or
    PractitionerRole, with `display`), `organisation_id` their organisation when staff."""

    reference: dict[str, str]
    organisation_id: str | None


def writer_of(access: CareRecordAccess) -> Writer:
    """Who the asker is, as a reference a change records: a person writes as their Patient,
    a carer as their RelatedPerson, staff as their PractitionerRole (else Practitioner, else
    their Organization, for an account with no post in the directory)."""
    principal = access.principal
    name = principal.display_name
    if principal.role is Role.PATIENT and principal.patient_id:
        return Writer({"reference": f"Patient/{principal.patient_id}", "display": name}, None)
    if principal.role is Role.CARER and principal.related_person_id:
        target = f"RelatedPerson/{principal.related_person_id}"
        return Writer({"reference": target, "display": name}, None)
    organisation = principal.organisation_id
    if principal.role in (Role.PATIENT, Role.CARER):
        raise Forbidden("Your account is not linked to a person's record")
    where = _organisation_name(access, organisation)
    display = f"{name}, {where}" if where else name
    if principal.practitioner_role_id:
        target = f"PractitionerRole/{principal.practitioner_role_id}"
    elif principal.practitioner_id:
        target = f"Practitioner/{principal.practitioner_id}"
    elif organisation:
        target = f"Organization/{organisation}"
    else:
        raise Forbidden("Your account is not linked to an organisation")
    return Writer({"reference": target, "display": display}, organisation)


def _organisation_name(access: CareRecordAccess, organisation_id: str | None) -> str | None:
    if not organisation_id:
        return None
    found = read_or_none(access, "Organization", organisation_id)
    name = found.get("name") if found else None
    return name if isinstance(name, str) and name.strip() else None


def stamp(resource: dict[str, Any], writer: Writer) -> dict[str, Any]:
    """`resource` with its `changed-by` extension naming `writer` (replacing any earlier)."""
    extensions = [
        e
        for e in resource.get("extension") or ()
        if not (isinstance(e, dict) and e.get("url") == CHANGED_BY_EXTENSION)
    ]
    extensions.append({"url": CHANGED_BY_EXTENSION, "valueReference": dict(writer.reference)})
    return {**resource, "extension": extensions}


def may_record_provenance(access: CareRecordAccess) -> bool:
    """Whether a change also writes a Provenance. Not yet: a Provenance whose target is a
    CarePlan is in no one's Patient compartment (R4 links Provenance to a person only through
    a Patient target), so the access rules would show it to staff with no relationship with
    the person. Until Provenance is placed in the compartment of its target's person, who
    changed what lives in the `changed-by` extension, which is read with the plan itself."""
    del access
    return False


def provenance_of(
    targets: Sequence[tuple[str, str, int]], created: bool, writer: Writer, when: str
) -> dict[str, Any]:
    """A Provenance for the versions (type, id, version) one change wrote."""
    agent: dict[str, Any] = {
        "type": concept(PROVENANCE_PARTICIPANT, "author", "Author"),
        "who": dict(writer.reference),
    }
    if writer.organisation_id and not writer.reference["reference"].startswith("Organization/"):
        agent["onBehalfOf"] = {"reference": f"Organization/{writer.organisation_id}"}
    operation = ("CREATE", "create") if created else ("UPDATE", "revise")
    return {
        "resourceType": "Provenance",
        "target": [{"reference": f"{t}/{i}/_history/{v}"} for t, i, v in targets],
        "recorded": when,
        "activity": concept(V3_DATA_OPERATION, *operation),
        "agent": [agent],
    }


# -- finding the plan --------------------------------------------------------------------------


def plan_query(patient_id: str) -> list[tuple[str, str]]:
    """The search for the person's active personalised care and support plan."""
    system, code = CARE_PLAN_CATEGORY
    return [
        ("patient", f"Patient/{patient_id}"),
        ("status", "active"),
        ("category", f"{system}|{code}"),
    ]


def active_plan(access: CareRecordAccess, patient_id: str) -> dict[str, Any] | None:
    """The person's active plan as FHIR, or None. Should another system have written more
    than one, the most recently changed is the plan."""
    plans = find(access, "CarePlan", plan_query(patient_id))
    if not plans:
        return None
    return max(plans, key=lambda p: str(p.get("meta", {}).get("lastUpdated", "")))


def care_team_of(access: CareRecordAccess, patient_id: str) -> dict[str, Any] | None:
    """The person's active shared care team, if they have one."""
    system, code = CARE_TEAM_CATEGORY
    teams = find(
        access,
        "CareTeam",
        [
            ("patient", f"Patient/{patient_id}"),
            ("status", "active"),
            ("category", f"{system}|{code}"),
        ],
    )
    if not teams:
        return None
    return max(teams, key=lambda t: str(t.get("meta", {}).get("lastUpdated", "")))


def coordinator_of(team: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """The care team's coordinator: (PractitionerRole id, Organization id), each may be None."""
    if team is None:
        return None, None
    for participant in team.get("participant") or ():
        if not isinstance(participant, dict):
            continue
        if not has_code(participant.get("role") or [], CARE_TEAM_ROLE, COORDINATOR):
            continue
        return (
            referenced_id(participant.get("member"), "PractitionerRole"),
            referenced_id(participant.get("onBehalfOf"), "Organization"),
        )
    return None, None


def extension_date(resource: dict[str, Any], url: str) -> date | None:
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == url:
            return fhir_date(extension.get("valueDate"))
    return None


def fhir_date(value: Any) -> date | None:
    """The day a FHIR date or dateTime falls on (as written), or None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def fhir_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def note_sections(plan: dict[str, Any]) -> dict[str, str]:
    """The plan's text sections (`about-me`, `contingency` ...), each its latest text."""
    sections: dict[str, str] = {}
    for note in plan.get("note") or ():
        if not isinstance(note, dict):
            continue
        code = next(
            (
                e.get("valueCode")
                for e in note.get("extension") or ()
                if isinstance(e, dict) and e.get("url") == SECTION_EXTENSION
            ),
            None,
        )
        if code in NOTE_SECTIONS and isinstance(note.get("text"), str):
            sections[str(code)] = str(note["text"])
    return sections


def referenced_ids(references: Any, resource_type: str) -> list[str]:
    found = [referenced_id(r, resource_type) for r in references or ()]
    return list(dict.fromkeys(i for i in found if i))


def activity_ids(plan: dict[str, Any]) -> list[str]:
    """Ids of the Tasks the plan's activities refer to, in plan order."""
    references = [a.get("reference") for a in plan.get("activity") or () if isinstance(a, dict)]
    return referenced_ids(references, "Task")


# -- what the plan page shows ------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenBy:
    """Who wrote something: `kind` is "person", "carer" or "staff"."""

    reference: str
    name: str
    kind: str

    @property
    def shown(self) -> str:
        if self.kind == "person":
            return f"{self.name} (the person)"
        if self.kind == "carer":
            return f"{self.name} (carer)"
        return self.name


@dataclass(frozen=True)
class InTheirWords:
    """One "what matters to me" or question for the next review."""

    communication_id: str
    text: str
    written_by: WrittenBy
    sent: datetime | None
    since_last_review: bool

    @property
    def day(self) -> date | None:
        """The day it was written, in the UK."""
        return self.sent.astimezone(UK).date() if self.sent else None


@dataclass(frozen=True)
class PlanGoal:
    goal_id: str
    version_id: int
    description: str
    target_date: date | None
    lifecycle_status: str
    achievement_status: str | None
    expressed_by: WrittenBy | None


@dataclass(frozen=True)
class ActionNote:
    """A note on an action: what happened, who wrote it and when."""

    text: str
    by: str | None
    when: datetime | None


@dataclass(frozen=True)
class PlanAction:
    task_id: str
    version_id: int
    description: str
    section: str
    owner_id: str | None
    owner: str
    due: date | None
    status: str
    notes: list[ActionNote]

    @property
    def overdue(self) -> bool:
        """Open and due before today in the UK."""
        return (
            self.status not in CLOSED_TASK_STATUSES and self.due is not None and self.due < today()
        )


@dataclass(frozen=True)
class Progress:
    """How far the actions have got: completed of those that count, and how many overdue."""

    completed: int = 0
    total: int = 0
    overdue: int = 0


def progress_of(actions: Iterable[PlanAction]) -> Progress:
    counted = [a for a in actions if a.status not in NOT_COUNTED]
    return Progress(
        completed=sum(1 for a in counted if a.status == "completed"),
        total=len(counted),
        overdue=sum(1 for a in counted if a.overdue),
    )


@dataclass(frozen=True)
class ActionSection:
    code: str
    title: str
    actions: list[PlanAction]
    progress: Progress


@dataclass(frozen=True)
class CarePlanView:
    """The person's active plan, as the plan page, the printable copy and the person's own
    page show it."""

    plan_id: str
    patient_id: str
    version_id: int
    last_updated: datetime | None
    created: date | None
    author: str | None
    care_team_id: str | None
    what_matters: list[InTheirWords]
    questions: list[InTheirWords]
    goals: list[PlanGoal]
    sections: list[ActionSection]
    progress: Progress
    texts: dict[str, str]
    next_review: date | None
    last_reviewed: date | None
    review: PlanReview
    """Where the plan is in its review cycle, as the caseload and population measures read it:
    with no next review set, a review falls due a year after the last one (or after the plan
    was made), so this page and those lists agree on whether it is overdue."""
    changed_by: str | None = None

    @property
    def actions(self) -> list[PlanAction]:
        return [a for s in self.sections for a in s.actions]

    @property
    def open_questions(self) -> list[InTheirWords]:
        """Questions asked since the last review: the ones for the next review."""
        return [q for q in self.questions if q.since_last_review]

    @property
    def review_overdue(self) -> bool:
        return self.review.status == "overdue"

    def goal(self, goal_id: str) -> PlanGoal | None:
        return next((g for g in self.goals if g.goal_id == goal_id), None)

    def action(self, task_id: str) -> PlanAction | None:
        return next((a for a in self.actions if a.task_id == task_id), None)


def care_plan_of(access: CareRecordAccess, patient_id: str) -> CarePlanView | None:
    """The person's active plan with its goals, actions and words, or None when they have
    none the asker may see."""
    plan = active_plan(access, patient_id)
    if plan is None:
        return None
    plan_id = str(plan["id"])
    names = _Names(access, patient_id)
    goals = _goals(access, plan, names)
    actions = _actions(access, plan)
    last_reviewed = extension_date(plan, LAST_REVIEWED_EXTENSION)
    words = _in_their_words(access, patient_id, plan_id, last_reviewed, names)
    sections = [
        ActionSection(code, SECTION_TITLES[code], listed, progress_of(listed))
        for code in ACTION_SECTIONS
        for listed in [[a for a in actions if a.section == code]]
    ]
    author = plan.get("author")
    return CarePlanView(
        plan_id=plan_id,
        patient_id=patient_id,
        version_id=version_of(plan),
        last_updated=fhir_instant(plan.get("meta", {}).get("lastUpdated")),
        created=fhir_date(plan.get("created")),
        author=names.shown(author) if isinstance(author, dict) else None,
        care_team_id=next(iter(referenced_ids(plan.get("careTeam"), "CareTeam")), None),
        what_matters=[w for kind, w in words if kind == WHAT_MATTERS],
        questions=[w for kind, w in words if kind == QUESTION],
        goals=goals,
        sections=sections,
        progress=progress_of(actions),
        texts=note_sections(plan),
        next_review=extension_date(plan, NEXT_REVIEW_EXTENSION),
        last_reviewed=last_reviewed,
        changed_by=names.shown(changed_by_of(plan)),
        review=review_of(plan, today()),
    )


def changed_by_of(resource: dict[str, Any]) -> dict[str, Any] | None:
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == CHANGED_BY_EXTENSION:
            value = extension.get("valueReference")
            return value if isinstance(value, dict) else None
    return None


def _goals(access: CareRecordAccess, plan: dict[str, Any], names: _Names) -> list[PlanGoal]:
    ids = referenced_ids(plan.get("goal"), "Goal")
    if not ids:
        return []
    found = {str(g["id"]): g for g in find(access, "Goal", [("_id", ",".join(ids))])}
    goals = []
    for goal_id in ids:
        goal = found.get(goal_id)
        if goal is None:
            continue
        description = goal.get("description") or {}
        targets = [t for t in goal.get("target") or () if isinstance(t, dict)]
        expressed = goal.get("expressedBy")
        goals.append(
            PlanGoal(
                goal_id=goal_id,
                version_id=version_of(goal),
                description=str(description.get("text") or "Not described"),
                target_date=fhir_date(targets[0].get("dueDate")) if targets else None,
                lifecycle_status=str(goal.get("lifecycleStatus") or "active"),
                achievement_status=code_in(goal.get("achievementStatus"), GOAL_ACHIEVEMENT),
                expressed_by=names.written_by(expressed) if isinstance(expressed, dict) else None,
            )
        )
    return goals


def _actions(access: CareRecordAccess, plan: dict[str, Any]) -> list[PlanAction]:
    ids = activity_ids(plan)
    if not ids:
        return []
    tasks, included = find_with_includes(
        access,
        "Task",
        [
            ("_id", ",".join(ids)),
            ("_include", "Task:owner"),
            ("_include:iterate", "PractitionerRole:organization"),
        ],
    )
    by_id = {str(t["id"]): t for t in tasks}
    return [action_from(by_id[i], included) for i in ids if i in by_id]


def action_from(task: dict[str, Any], included: dict[str, dict[str, Any]]) -> PlanAction:
    """A plan action from its Task and the directory entries `_include`d with it."""
    owner: dict[str, Any] = task["owner"] if isinstance(task.get("owner"), dict) else {}
    owner_ref = str(owner.get("reference") or "")
    owner_resource = included.get(owner_ref, {})
    if owner_ref.startswith("PractitionerRole/"):
        # A team or person: named by their organisation (the directory entry has no name).
        organisation = referenced_id(owner_resource.get("organization"), "Organization")
        owner_resource = included.get(f"Organization/{organisation}", {})
    owner_name = owner_resource.get("name") or owner.get("display") or "Not assigned"
    restriction = task.get("restriction") or {}
    period = restriction.get("period") if isinstance(restriction, dict) else None
    section = code_in(task.get("performerType"), CARE_PLAN_SECTION)
    notes = [
        ActionNote(
            text=str(n["text"]),
            by=n.get("authorString") or (n.get("authorReference") or {}).get("display"),
            when=fhir_instant(n.get("time")),
        )
        for n in task.get("note") or ()
        if isinstance(n, dict) and n.get("text")
    ]
    return PlanAction(
        task_id=str(task["id"]),
        version_id=version_of(task),
        description=str(task.get("description") or "Not described"),
        section=section if section in SECTION_TITLES else "health",
        owner_id=referenced_id(owner, "Organization"),
        owner=str(owner_name),
        due=fhir_date(period.get("end")) if isinstance(period, dict) else None,
        status=str(task.get("status") or "requested"),
        notes=notes,
    )


def _in_their_words(
    access: CareRecordAccess,
    patient_id: str,
    plan_id: str,
    last_reviewed: date | None,
    names: _Names,
) -> list[tuple[str, InTheirWords]]:
    """The plan's "what matters to me" and questions, newest first, each with its kind."""
    categories = ",".join(f"{COMMUNICATION_CATEGORY}|{code}" for code in (WHAT_MATTERS, QUESTION))
    found = find(
        access, "Communication", [("patient", f"Patient/{patient_id}"), ("category", categories)]
    )
    words: list[tuple[str, InTheirWords]] = []
    for communication in found:
        about = referenced_ids(communication.get("about"), "CarePlan")
        if plan_id not in about or communication.get("status") == "entered-in-error":
            continue
        kind = code_in(communication.get("category"), COMMUNICATION_CATEGORY)
        text = next(
            (
                str(p["contentString"])
                for p in communication.get("payload") or ()
                if isinstance(p, dict) and isinstance(p.get("contentString"), str)
            ),
            "",
        )
        sent = fhir_instant(communication.get("sent"))
        sender = communication.get("sender")
        words.append(
            (
                str(kind),
                InTheirWords(
                    communication_id=str(communication["id"]),
                    text=text,
                    written_by=names.written_by(sender if isinstance(sender, dict) else {}),
                    sent=sent,
                    since_last_review=(
                        last_reviewed is None
                        or sent is None
                        or sent.astimezone(UK).date() >= last_reviewed
                    ),
                ),
            )
        )
    words.sort(key=lambda pair: (pair[1].sent is not None, pair[1].sent), reverse=True)
    return words


class _Names:
    """Names of the people a plan page mentions: each reference's `display` where it has
    one, else looked up (once) through the asker's access."""

    def __init__(self, access: CareRecordAccess, patient_id: str) -> None:
        self._access = access
        self._patient_id = patient_id
        self._known: dict[str, str] = {}

    def written_by(self, reference: dict[str, Any]) -> WrittenBy:
        target = str(reference.get("reference") or "")
        kind = {"Patient": "person", "RelatedPerson": "carer"}.get(target.split("/")[0], "staff")
        return WrittenBy(target, self.shown(reference) or "Someone not recorded", kind)

    def shown(self, reference: dict[str, Any] | None) -> str | None:
        if not reference:
            return None
        display = reference.get("display")
        if isinstance(display, str) and display.strip():
            return display
        target = str(reference.get("reference") or "")
        if target not in self._known:
            self._known[target] = self._look_up(target)
        return self._known[target]

    def _look_up(self, target: str) -> str:
        kind, _, resource_id = target.partition("/")
        if kind not in ("Patient", "RelatedPerson", "PractitionerRole", "Practitioner"):
            found = read_or_none(self._access, kind, resource_id) if resource_id else None
            return str((found or {}).get("name") or target)
        if kind == "PractitionerRole":
            roles, included = find_with_includes(
                self._access,
                "PractitionerRole",
                [("_id", resource_id), ("_include", "PractitionerRole:practitioner")],
            )
            practitioner = (
                referenced_id(roles[0].get("practitioner"), "Practitioner") if roles else None
            )
            found = included.get(f"Practitioner/{practitioner}") if practitioner else None
        else:
            found = read_or_none(self._access, kind, resource_id)
        return (person_name(found) if found else None) or target


# -- who changed what --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChange:
    """One version of the plan: when, who, and what changed from the version before."""

    version_id: int
    when: datetime
    who: str
    changes: list[str]


MAX_HISTORY: Final = 1000


def plan_history(access: CareRecordAccess, patient_id: str) -> list[PlanChange]:
    """The active plan's versions, newest first, each with who made it and what changed.

    "Who" is the version's `changed-by` extension, else a Provenance targeting that version
    (when the asker may read Provenance), else "Not recorded" (a version written by another
    system that recorded neither)."""
    plan = active_plan(access, patient_id)
    if plan is None:
        raise NoCarePlan()
    plan_id = str(plan["id"])
    versions: list[tuple[int, datetime, dict[str, Any]]] = []
    cursor = None
    while len(versions) < MAX_HISTORY:
        page = access.history(
            "CarePlan",
            plan_id,
            f"CarePlan/{plan_id}/_history",
            count=100,
            cursor=parse_history_cursor(cursor) if cursor else None,
        )
        versions += [
            (v.version_id, as_utc(v.last_updated), v.as_dict())
            for v in page.versions
            if not v.deleted
        ]
        cursor = page.next_cursor
        if cursor is None:
            break
    versions.sort(key=lambda v: v[0])
    provenance = _provenance_writers(access, plan_id)
    goal_names = _goal_names(access, versions)
    action_names = _action_names(access, versions)
    names = _Names(access, patient_id)
    changes = []
    before: dict[str, Any] | None = None
    for version_id, when, content in versions:
        who = names.shown(changed_by_of(content)) or provenance.get(version_id) or "Not recorded"
        changes.append(
            PlanChange(
                version_id, when, who, what_changed(before, content, goal_names, action_names)
            )
        )
        before = content
    changes.reverse()
    return changes


def _provenance_writers(access: CareRecordAccess, plan_id: str) -> dict[int, str]:
    """Who each version was written by, from Provenance, when the asker may read it."""
    visibility = access.visibility
    if visibility is not None and "Provenance" not in visibility.readable_types:
        return {}
    found = find(access, "Provenance", [("target", f"CarePlan/{plan_id}")])
    writers: dict[int, str] = {}
    for provenance in found:
        agents = [a for a in provenance.get("agent") or () if isinstance(a, dict)]
        who = agents[0].get("who") if agents else None
        shown = who.get("display") or who.get("reference") if isinstance(who, dict) else None
        for target in provenance.get("target") or ():
            text = str(target.get("reference") or "") if isinstance(target, dict) else ""
            prefix = f"CarePlan/{plan_id}/_history/"
            if text.startswith(prefix) and text[len(prefix) :].isdigit() and shown:
                writers[int(text[len(prefix) :])] = str(shown)
    return writers


def _goal_names(
    access: CareRecordAccess, versions: list[tuple[int, datetime, dict[str, Any]]]
) -> dict[str, str]:
    ids = sorted({i for _, _, c in versions for i in referenced_ids(c.get("goal"), "Goal")})
    if not ids:
        return {}
    goals = find(access, "Goal", [("_id", ",".join(ids))])
    return {str(g["id"]): str((g.get("description") or {}).get("text") or "") for g in goals}


def _action_names(
    access: CareRecordAccess, versions: list[tuple[int, datetime, dict[str, Any]]]
) -> dict[str, str]:
    ids = sorted({i for _, _, c in versions for i in activity_ids(c)})
    if not ids:
        return {}
    tasks = find(access, "Task", [("_id", ",".join(ids))])
    return {str(t["id"]): str(t.get("description") or "") for t in tasks}


def what_changed(
    before: dict[str, Any] | None,
    after: dict[str, Any],
    goal_names: dict[str, str],
    action_names: dict[str, str],
) -> list[str]:
    """What one version changed from the one before, in words."""
    if before is None:
        return ["Plan created"]
    changes = []
    if before.get("status") != after.get("status"):
        changes.append(f"Status changed from {before.get('status')} to {after.get('status')}")
    old_texts, new_texts = note_sections(before), note_sections(after)
    for code in NOTE_SECTIONS:
        title = NOTE_TITLES[code]
        if code not in old_texts and code in new_texts:
            changes.append(f"{title} added")
        elif code in old_texts and code not in new_texts:
            changes.append(f"{title} removed")
        elif old_texts.get(code) != new_texts.get(code):
            changes.append(f"{title} changed")
    changes += _list_changes(
        referenced_ids(before.get("goal"), "Goal"),
        referenced_ids(after.get("goal"), "Goal"),
        goal_names,
        "Goal",
    )
    changes += _list_changes(activity_ids(before), activity_ids(after), action_names, "Action")
    for url, words in (
        (LAST_REVIEWED_EXTENSION, "Review recorded on"),
        (NEXT_REVIEW_EXTENSION, "Next review set for"),
    ):
        old, new = extension_date(before, url), extension_date(after, url)
        if old != new and new is not None:
            changes.append(f"{words} {new.day} {new:%B %Y}")
    if referenced_ids(before.get("careTeam"), "CareTeam") != referenced_ids(
        after.get("careTeam"), "CareTeam"
    ):
        changes.append("Care team changed")
    return changes or ["Details changed"]


def _list_changes(old: list[str], new: list[str], names: dict[str, str], what: str) -> list[str]:
    added = [f"{what} added: {names.get(i) or 'no longer available'}" for i in new if i not in old]
    removed = [
        f"{what} removed: {names.get(i) or 'no longer available'}" for i in old if i not in new
    ]
    return added + removed


# -- choices for forms -------------------------------------------------------------------------


def organisations(access: CareRecordAccess) -> list[tuple[str, str]]:
    """Every active organisation in the directory, (id, name) by name: who can own an action."""
    found = find(access, "Organization", [("active", "true")])
    listed = [(str(o["id"]), str(o.get("name") or o["id"])) for o in found]
    return sorted(listed, key=lambda pair: pair[1].lower())


def review_task_query(plan_id: str) -> list[tuple[str, str]]:
    return [
        ("based-on", f"CarePlan/{plan_id}"),
        ("code", f"{TASK_TYPE}|{REVIEW_CARE_PLAN}"),
    ]


def open_review_tasks(access: CareRecordAccess, plan_id: str) -> list[dict[str, Any]]:
    """The plan's review-care-plan Tasks not yet closed."""
    tasks = find(access, "Task", review_task_query(plan_id))
    return [t for t in tasks if t.get("status") not in CLOSED_TASK_STATUSES]
