"""Hospital discharge to assess: the live board of people in hospital, each one's pathway and
what their discharge waits for, the handoff to the community and the check that it happened.

Delayed discharges are the pinch point where organisations most often lose each other: the
ward says the person is medically optimised, and the discharge then waits on a care package,
equipment, an assessment or a bed from someone else. Each of those dependencies is a Task owned
by the organisation that must deliver it, so everyone can see whose move it is
(docs/care-coordination.md, "Hospital discharge").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.codes import concept
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import (
    find,
    if_none_exist,
    now_instant,
    read,
    read_or_none,
    referenced_id,
    submission_identifier,
    today,
)
from careweave.fhir.resource_types import is_fhir_id
from careweave.uk_time import uk_day

PATHWAYS: Final[Mapping[str, str]] = {
    "0": "Pathway 0: home, no new support",
    "1": "Pathway 1: home with new or extra support",
    "2": "Pathway 2: short-term bed-based recovery",
    "3": "Pathway 3: long-term bed-based care",
}
"""Discharge to assess pathways (DHSC hospital discharge guidance, Annex B)."""

DELAY_REASONS: Final[Mapping[str, str]] = {
    "awaiting-care-package": "Waiting for a package of care",
    "care-home-placement": "Waiting for a care home place",
    "equipment": "Waiting for equipment or adaptations",
    "assessment": "Waiting for an assessment",
    "community-bed": "Waiting for a community bed",
    "family-choice": "Waiting for the person or family to choose",
    "housing": "Housing",
    "other": "Other",
}

DEPENDENCY_KINDS: Final[Mapping[str, str]] = {
    "care-package": "Package of care at home",
    "reablement": "Reablement",
    "equipment": "Equipment or adaptations",
    "assessment": "Assessment",
    "community-bed": "Community bed",
    "care-home-place": "Care home place",
    "transport": "Transport home",
    "medicines": "Medicines to take home",
}

REFERRAL_WORDS: Final[Mapping[str, str]] = {
    "draft": "Waiting for a response",
    "requested": "Waiting for a response",
    "received": "Waiting for a response",
    "ready": "Waiting for a response",
    "on-hold": "Waiting for a response",
    "accepted": "Accepted",
    "in-progress": "In progress",
    "completed": "Completed",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "failed": "Could not be done",
}
"""A referral's Task status as the referrals pages say it (coordination.referrals)."""

DISCHARGED: Final = "Discharged: first 48 hours at home"
FIRST_48_HOURS: Final = timedelta(hours=48)
CHECK_AFTER: Final = timedelta(days=3)
_DISPOSITION_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
DISPOSITIONS: Final[Mapping[str, tuple[str, str]]] = {
    "0": ("home", "Home"),
    "1": ("home", "Home"),
    "2": ("rehab", "Rehabilitation"),
    "3": ("long", "Long-term care"),
}


class DischargeProblem(Exception):  # noqa: N818 - a refusal shown to the user in plain words
    """What was asked cannot be done to this discharge; the message says why."""


@dataclass(frozen=True)
class Dependency:
    """One thing the discharge waits for, and whose move it is."""

    task_id: str
    version_id: int
    kind: str
    description: str
    owner_id: str | None
    status: str
    due: date | None
    referral: bool = False

    @property
    def ready(self) -> bool:
        return self.status == "completed"

    @property
    def referral_words(self) -> str:
        """Where a referral made from the discharge stands, in the words its page uses."""
        return REFERRAL_WORDS.get(self.status, self.status.replace("-", " ").capitalize())

    @property
    def closed(self) -> bool:
        return self.status in codes.CLOSED_TASK_STATUSES


@dataclass(frozen=True)
class Discharge:
    """A person in hospital and the state of their discharge."""

    person: PersonBanner
    encounter_id: str
    encounter_version: int
    hospital_id: str | None
    admitted: date | None
    in_hospital: bool
    discharged: date | None
    task_id: str | None = None
    task_version: int = 0
    pathway: str | None = None
    medically_optimised: date | None = None
    planned_discharge: date | None = None
    delay_reason: str | None = None
    owner_id: str | None = None
    dependencies: list[Dependency] = field(default_factory=list)

    @property
    def days_in_hospital(self) -> int | None:
        if self.admitted is None:
            return None
        end = self.discharged or today()
        return max(0, (end - self.admitted).days)

    @property
    def days_delayed(self) -> int:
        """Days since the person was medically optimised, while they are still in hospital."""
        if not self.in_hospital or self.medically_optimised is None:
            return 0
        return max(0, (today() - self.medically_optimised).days)

    @property
    def waiting_on(self) -> list[Dependency]:
        return [d for d in self.dependencies if not d.closed]


def _input(task: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for entry in task.get("input") or ():
        if isinstance(entry, dict) and codes.has_code(
            entry.get("type"), codes.DISCHARGE_INPUT, kind
        ):
            return entry
    return None


def _task_code(task: Mapping[str, Any]) -> str | None:
    return codes.code_in(task.get("code"), codes.TASK_TYPE)


def _is_referral(task: Mapping[str, Any]) -> bool:
    return codes.has_code(task.get("code"), *codes.FULFIL)


def _dependency(task: Mapping[str, Any]) -> Dependency:
    referral = _is_referral(task)
    kind = (
        "referral"
        if referral
        else codes.code_in(
            task.get("performerType"), codes.CAREWEAVE_CODES + "discharge-dependency"
        )
    )
    return Dependency(
        task_id=str(task["id"]),
        version_id=int(task.get("meta", {}).get("versionId", 0)),
        kind=kind or "other",
        description=str(task.get("description") or DEPENDENCY_KINDS.get(kind or "", "Other")),
        owner_id=referenced_id(task.get("owner"), "Organization"),
        status=str(task.get("status", "requested")),
        due=uk_day((task.get("restriction") or {}).get("period", {}).get("end")),
        referral=referral,
    )


def discharge_of(
    person: PersonBanner,
    encounter: Mapping[str, Any],
    task: Mapping[str, Any] | None,
    parts: Sequence[Mapping[str, Any]],
) -> Discharge:
    """A Discharge from the resources that hold it (pure, so the board can build many)."""
    period = encounter.get("period") or {}
    in_hospital = encounter.get("status") == "in-progress"
    discharge = Discharge(
        person=person,
        encounter_id=str(encounter["id"]),
        encounter_version=int(encounter.get("meta", {}).get("versionId", 0)),
        hospital_id=referenced_id(encounter.get("serviceProvider"), "Organization"),
        admitted=uk_day(period.get("start")),
        in_hospital=in_hospital,
        discharged=None if in_hospital else uk_day(period.get("end")),
    )
    if task is None:
        return discharge
    pathway = _input(task, "pathway")
    optimised = _input(task, "medically-optimised")
    planned = _input(task, "planned-discharge")
    return replace(
        discharge,
        task_id=str(task["id"]),
        task_version=int(task.get("meta", {}).get("versionId", 0)),
        pathway=codes.code_in(pathway.get("valueCodeableConcept"), codes.D2A_PATHWAY)
        if pathway
        else None,
        medically_optimised=uk_day(optimised.get("valueDateTime")) if optimised else None,
        planned_discharge=uk_day(planned.get("valueDate")) if planned else None,
        delay_reason=codes.code_in(task.get("statusReason"), codes.DISCHARGE_DELAY_REASON),
        owner_id=referenced_id(task.get("owner"), "Organization"),
        dependencies=sorted(
            (_dependency(p) for p in parts),
            key=lambda d: (d.closed, d.due or date.max, d.task_id),
        ),
    )


def _chunks(ids: list[str], size: int = 100) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def discharge_board(access: CareRecordAccess) -> list[Discharge]:
    """Everyone in hospital whom the asker may see, with their discharge, longest delayed
    first: the board a discharge hub works from each morning."""
    encounters = find(
        access,
        "Encounter",
        [
            ("class", f"{codes.INPATIENT_CLASS[0]}|{codes.INPATIENT_CLASS[1]}"),
            ("status", "in-progress"),
        ],
    )
    if not encounters:
        return []
    patient_ids = sorted(
        {pid for e in encounters if (pid := referenced_id(e.get("subject"), "Patient"))}
    )
    people: dict[str, PersonBanner] = {}
    tasks: dict[str, dict[str, Any]] = {}
    parts: dict[str, list[dict[str, Any]]] = {}
    discharge_code = f"{codes.TASK_TYPE}|discharge-to-assess"
    for chunk in _chunks(patient_ids):
        joined = ",".join(chunk)
        for patient in find(access, "Patient", [("_id", joined)]):
            people[str(patient["id"])] = banner_of(patient)
        for task in find(access, "Task", [("patient", joined), ("code", discharge_code)]):
            encounter_id = referenced_id(task.get("focus"), "Encounter")
            if encounter_id and task.get("status") not in codes.CLOSED_TASK_STATUSES:
                tasks[encounter_id] = task
        # What a discharge waits for: its dependencies and the referrals made from it.
        waited_for = f"{codes.TASK_TYPE}|discharge-dependency,{'|'.join(codes.FULFIL)}"
        for task in find(access, "Task", [("patient", joined), ("code", waited_for)]):
            parent = referenced_id((task.get("partOf") or [{}])[0], "Task")
            if parent:
                parts.setdefault(parent, []).append(task)
    board = []
    for encounter in encounters:
        patient_id = referenced_id(encounter.get("subject"), "Patient")
        if patient_id not in people:
            continue
        found = tasks.get(str(encounter["id"]))
        board.append(
            discharge_of(
                people[patient_id],
                encounter,
                found,
                parts.get(str(found["id"]), []) if found else [],
            )
        )
    board.sort(
        key=lambda d: (
            -d.days_delayed,
            d.task_id is not None,
            d.admitted or date.max,
            d.person.name,
        )
    )
    return board


def discharge_for(access: CareRecordAccess, encounter_id: str) -> Discharge:
    """One admission's discharge (NotFound when the asker may not see it)."""
    encounter = read(access, "Encounter", encounter_id)
    patient_id = referenced_id(encounter.get("subject"), "Patient")
    if patient_id is None:
        raise DischargeProblem("This hospital stay is not linked to a person")
    person = banner_of(read(access, "Patient", patient_id))
    discharge_code = f"{codes.TASK_TYPE}|discharge-to-assess"
    found = find(access, "Task", [("focus", f"Encounter/{encounter_id}"), ("code", discharge_code)])
    open_tasks = [t for t in found if t.get("status") not in codes.CLOSED_TASK_STATUSES]
    task = (open_tasks or found)[0] if found else None
    parts: list[dict[str, Any]] = []
    if task is not None:
        parts = find(access, "Task", [("part-of", f"Task/{task['id']}")])
    return discharge_of(person, encounter, task, parts)


def discharge_to_refer_from(access: CareRecordAccess, task_id: str, patient_id: str) -> str:
    """The hospital stay (Encounter id) of the open discharge a referral for the person is to
    be part of: a DischargeProblem when the Task is not one (not a discharge, finished, about
    someone else, or not one the asker may see), so a referral never hangs off the wrong
    discharge."""
    found = read_or_none(access, "Task", task_id) if is_fhir_id(task_id) else None
    if found is None or _task_code(found) != "discharge-to-assess":
        raise DischargeProblem("The discharge this referral is for could not be found")
    if referenced_id(found.get("for"), "Patient") != patient_id:
        raise DischargeProblem("The discharge this referral is for is about someone else")
    if found.get("status") in codes.CLOSED_TASK_STATUSES:
        raise DischargeProblem("The discharge this referral is for has finished")
    encounter_id = referenced_id(found.get("focus"), "Encounter")
    if encounter_id is None:
        raise DischargeProblem("The discharge this referral is for has no hospital stay")
    return encounter_id


# -- writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DischargePlan:
    """What a discharge coordinator enters to start or update a discharge."""

    pathway: str
    medically_optimised: date | None = None
    planned_discharge: date | None = None
    delay_reason: str | None = None

    def check(self) -> None:
        if self.pathway not in PATHWAYS:
            raise DischargeProblem("Select a discharge pathway")
        if self.delay_reason is not None and self.delay_reason not in DELAY_REASONS:
            raise DischargeProblem("Select a reason for the delay from the list")
        if self.medically_optimised is not None and self.medically_optimised > today():
            raise DischargeProblem("The date medically optimised cannot be in the future")


def _inputs(plan: DischargePlan) -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = [
        {
            "type": concept(codes.DISCHARGE_INPUT, "pathway", "Discharge pathway"),
            "valueCodeableConcept": concept(
                codes.D2A_PATHWAY, plan.pathway, PATHWAYS[plan.pathway]
            ),
        }
    ]
    if plan.medically_optimised is not None:
        inputs.append(
            {
                "type": concept(
                    codes.DISCHARGE_INPUT, "medically-optimised", "Medically optimised"
                ),
                "valueDateTime": plan.medically_optimised.isoformat(),
            }
        )
    if plan.planned_discharge is not None:
        inputs.append(
            {
                "type": concept(codes.DISCHARGE_INPUT, "planned-discharge", "Planned discharge"),
                "valueDate": plan.planned_discharge.isoformat(),
            }
        )
    return inputs


def _requester(access: CareRecordAccess) -> dict[str, Any]:
    principal = access.principal
    if principal.practitioner_role_id:
        return {"reference": f"PractitionerRole/{principal.practitioner_role_id}"}
    if principal.organisation_id:
        return {"reference": f"Organization/{principal.organisation_id}"}
    raise DischargeProblem("Your account is not linked to an organisation, so it cannot do this")


def start_discharge(
    access: CareRecordAccess, encounter_id: str, plan: DischargePlan, token: str
) -> str:
    """Start the discharge to assess of a person in hospital; returns the discharge Task's id.

    The hospital (the Encounter's service provider) owns the discharge. Submitting the same
    form twice finds the first discharge (one-time token), and an admission that already has
    an open discharge is refused rather than given a second one.
    """
    plan.check()
    current = discharge_for(access, encounter_id)
    if not current.in_hospital:
        raise DischargeProblem("This person is no longer in hospital")
    if current.task_id is not None:
        existing = read(access, "Task", current.task_id)
        if submission_identifier(token) in (existing.get("identifier") or []):
            return current.task_id  # the same form sent twice
        raise DischargeProblem("A discharge has already been started for this hospital stay")
    # The team that starts the discharge owns it (a hospital's discharge team may be its own
    # organisation in the directory); a system client acts for the hospital itself.
    owner = access.principal.organisation_id or current.hospital_id
    stamp = now_instant()
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [submission_identifier(token)],
        "status": "in-progress",
        "intent": "order",
        "priority": "urgent",
        "code": concept(codes.TASK_TYPE, "discharge-to-assess", "Discharge to assess"),
        "description": "Discharge to assess",
        "focus": {"reference": f"Encounter/{encounter_id}"},
        "for": {"reference": f"Patient/{current.person.patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "authoredOn": stamp,
        "lastModified": stamp,
        "requester": _requester(access),
        "owner": {"reference": f"Organization/{owner}"},
        "input": _inputs(plan),
    }
    if plan.delay_reason:
        task["statusReason"] = concept(
            codes.DISCHARGE_DELAY_REASON, plan.delay_reason, DELAY_REASONS[plan.delay_reason]
        )
    result = access.write(
        "create", "Task", lambda tx: tx.create(task, if_none_exist=if_none_exist(token))
    )
    return result.stored.id


def update_discharge(
    access: CareRecordAccess, task_id: str, version_id: int, plan: DischargePlan
) -> None:
    """Change the pathway, dates or delay reason; `version_id` is the version the form showed
    (someone else's change since then is a VersionConflict, never overwritten)."""
    plan.check()

    def work(tx: Any) -> None:
        task = tx.read("Task", task_id).as_dict()
        if _task_code(task) != "discharge-to-assess":
            raise DischargeProblem("This is not a discharge")
        if task.get("status") in codes.CLOSED_TASK_STATUSES:
            raise DischargeProblem("This discharge is finished and can no longer be changed")
        task["input"] = _inputs(plan)
        if plan.delay_reason:
            task["statusReason"] = concept(
                codes.DISCHARGE_DELAY_REASON, plan.delay_reason, DELAY_REASONS[plan.delay_reason]
            )
        else:
            task.pop("statusReason", None)
        task["lastModified"] = now_instant()
        tx.update("Task", task_id, task, if_match=version_id)

    access.write("update", f"Task/{task_id}", work)


def add_dependency(
    access: CareRecordAccess,
    task_id: str,
    kind: str,
    owner_organisation_id: str,
    due: date | None,
    token: str,
    description: str | None = None,
) -> str:
    """Record something the discharge waits for, owned by the organisation that must do it."""
    if kind not in DEPENDENCY_KINDS:
        raise DischargeProblem("Select what the discharge is waiting for")
    if due is not None and due < today():
        raise DischargeProblem("The date needed by must be today or in the future")

    def work(tx: Any) -> str:
        parent = tx.read("Task", task_id).as_dict()
        if _task_code(parent) != "discharge-to-assess":
            raise DischargeProblem("This is not a discharge")
        if parent.get("status") in codes.CLOSED_TASK_STATUSES:
            raise DischargeProblem("This discharge is finished")
        tx.read("Organization", owner_organisation_id)
        stamp = now_instant()
        body: dict[str, Any] = {
            "resourceType": "Task",
            "identifier": [submission_identifier(token)],
            "status": "requested",
            "intent": "order",
            "code": concept(codes.TASK_TYPE, "discharge-dependency", "Discharge dependency"),
            "description": (description or "").strip() or DEPENDENCY_KINDS[kind],
            "performerType": [
                concept(
                    codes.CAREWEAVE_CODES + "discharge-dependency", kind, DEPENDENCY_KINDS[kind]
                )
            ],
            "partOf": [{"reference": f"Task/{task_id}"}],
            "focus": parent.get("focus"),
            "for": parent.get("for"),
            "authoredOn": stamp,
            "lastModified": stamp,
            "requester": _requester(access),
            "owner": {"reference": f"Organization/{owner_organisation_id}"},
        }
        if due is not None:
            body["restriction"] = {"period": {"end": due.isoformat()}}
        return str(tx.create(body, if_none_exist=if_none_exist(token)).stored.id)

    result: str = access.write("create", "Task", work)
    return result


@dataclass(frozen=True)
class Handoff:
    """Who must act in the first 48 hours at home, and who checks that they did."""

    organisation_ids: tuple[str, ...]
    checker_role_id: str | None
    checker_organisation_id: str | None
    note: str = ""


def discharge_home(
    access: CareRecordAccess,
    task_id: str,
    version_id: int,
    handoff: Handoff,
    token: str,
) -> list[str]:
    """Discharge the person: the stay ends, each receiving
    organisation gets a "first 48 hours" task due two days from now, and the coordinator (or
    the practice) a check three days on that it all happened. One transaction: a handoff is
    never half-made. Returns the ids of the tasks created."""
    if not handoff.organisation_ids:
        raise DischargeProblem("Select who must act in the first 48 hours at home")
    if handoff.checker_role_id is None and handoff.checker_organisation_id is None:
        raise DischargeProblem("Select who checks that the first 48 hours went as planned")
    discharged_on = today()

    def work(tx: Any) -> list[str]:
        task = tx.read("Task", task_id).as_dict()
        if _task_code(task) != "discharge-to-assess":
            raise DischargeProblem("This is not a discharge")
        if task.get("status") in codes.CLOSED_TASK_STATUSES:
            raise DischargeProblem("This person has already been discharged")
        encounter_id = referenced_id(task.get("focus"), "Encounter")
        if encounter_id is None:
            raise DischargeProblem("This discharge is not linked to a hospital stay")
        encounter = tx.read("Encounter", encounter_id).as_dict()
        pathway_input = _input(task, "pathway")
        pathway = (
            codes.code_in(pathway_input.get("valueCodeableConcept"), codes.D2A_PATHWAY)
            if pathway_input
            else None
        ) or "0"
        stamp = now_instant()
        encounter["status"] = "finished"
        encounter.setdefault("period", {})["end"] = stamp
        code, display = DISPOSITIONS[pathway]
        encounter.setdefault("hospitalization", {})["dischargeDisposition"] = concept(
            _DISPOSITION_SYSTEM, code, display
        )
        tx.update("Encounter", encounter_id, encounter)
        # The discharge stays open until the check after the first 48 hours closes it: the
        # hospital's team keeps the person in view while the handoff is in flight, and the
        # loop is closed by someone who saw that it worked.
        if task.get("businessStatus", {}).get("text") == DISCHARGED:
            raise DischargeProblem("This person has already been discharged")
        task["businessStatus"] = {"text": DISCHARGED}
        task.pop("statusReason", None)
        task["lastModified"] = stamp
        tx.update("Task", task_id, task, if_match=version_id)
        due = (discharged_on + FIRST_48_HOURS).isoformat()
        made: list[str] = []
        for index, organisation_id in enumerate(handoff.organisation_ids):
            tx.read("Organization", organisation_id)
            body = {
                "resourceType": "Task",
                "identifier": [submission_identifier(f"{token}-48h-{index}")],
                "status": "requested",
                "intent": "order",
                "priority": "urgent",
                "code": concept(codes.TASK_TYPE, "first-48-hours", "First 48 hours at home"),
                "description": "First 48 hours at home after discharge"
                + (f": {handoff.note.strip()}" if handoff.note.strip() else ""),
                "partOf": [{"reference": f"Task/{task_id}"}],
                "focus": {"reference": f"Encounter/{encounter_id}"},
                "for": task.get("for"),
                "authoredOn": stamp,
                "lastModified": stamp,
                "requester": _requester(access),
                "owner": {"reference": f"Organization/{organisation_id}"},
                "restriction": {"period": {"end": due}},
            }
            made.append(
                str(tx.create(body, if_none_exist=if_none_exist(f"{token}-48h-{index}")).stored.id)
            )
        checker = (
            {"reference": f"PractitionerRole/{handoff.checker_role_id}"}
            if handoff.checker_role_id
            else {"reference": f"Organization/{handoff.checker_organisation_id}"}
        )
        check = {
            "resourceType": "Task",
            "identifier": [submission_identifier(f"{token}-check")],
            "status": "requested",
            "intent": "order",
            "code": concept(
                codes.TASK_TYPE, "post-discharge-check", "Check the first 48 hours at home"
            ),
            "description": "Check that the first 48 hours at home went as planned",
            "focus": {"reference": f"Task/{task_id}"},
            "for": task.get("for"),
            "authoredOn": stamp,
            "lastModified": stamp,
            "requester": _requester(access),
            "owner": checker,
            "restriction": {"period": {"end": (discharged_on + CHECK_AFTER).isoformat()}},
        }
        made.append(str(tx.create(check, if_none_exist=if_none_exist(f"{token}-check")).stored.id))
        return made

    created: list[str] = access.write("update", f"Task/{task_id}", work)
    return created


@dataclass(frozen=True)
class FollowUp:
    """The post-discharge check: each first-48-hours task and whether it was done."""

    check_task_id: str
    discharge_task_id: str
    handoffs: list[Dependency]

    @property
    def all_done(self) -> bool:
        return bool(self.handoffs) and all(h.ready for h in self.handoffs)


def complete_follow_up(
    access: CareRecordAccess, check_task_id: str, version_id: int, note: str
) -> None:
    """Record the check after the first 48 hours: the check and the discharge complete (the
    hospital's relationship with the person ends here, unless another remains)."""
    if not note.strip():
        raise DischargeProblem("Describe what you found when you checked")

    def work(tx: Any) -> None:
        check = tx.read("Task", check_task_id).as_dict()
        if _task_code(check) != "post-discharge-check":
            raise DischargeProblem("This is not a post-discharge check")
        if check.get("status") in codes.CLOSED_TASK_STATUSES:
            raise DischargeProblem("This check has already been recorded")
        stamp = now_instant()
        check["status"] = "completed"
        check["lastModified"] = stamp
        check["output"] = [{"type": {"text": "What was found"}, "valueString": note.strip()[:2000]}]
        tx.update("Task", check_task_id, check, if_match=version_id)
        discharge_id = referenced_id(check.get("focus"), "Task")
        if discharge_id is not None:
            discharge = tx.read("Task", discharge_id).as_dict()
            if discharge.get("status") not in codes.CLOSED_TASK_STATUSES:
                discharge["status"] = "completed"
                discharge["lastModified"] = stamp
                discharge["executionPeriod"] = {"end": stamp}
                tx.update("Task", discharge_id, discharge)

    access.write("update", f"Task/{check_task_id}", work)


def follow_up(access: CareRecordAccess, check_task_id: str) -> FollowUp:
    """What the post-discharge check looks at: the first-48-hours tasks of the discharge."""
    check = read(access, "Task", check_task_id)
    if _task_code(check) != "post-discharge-check":
        raise DischargeProblem("This is not a post-discharge check")
    discharge_id = referenced_id(check.get("focus"), "Task")
    if discharge_id is None:
        raise DischargeProblem("This check is not linked to a discharge")
    parts = find(access, "Task", [("part-of", f"Task/{discharge_id}")])
    handoffs = [_dependency(p) for p in parts if _task_code(p) == "first-48-hours"]
    return FollowUp(check_task_id, discharge_id, handoffs)
