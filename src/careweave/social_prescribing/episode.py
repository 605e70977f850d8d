"""A person's time with the social prescribing service, read back as the link worker's page
shows it: the referral and its reasons, the contacts and conversations, what matters in their
words, the plan's goals, the onward connections, the wellbeing change, and how it ended.

Everything is read through the asker's `CareRecordAccess`, so a voluntary organisation's
volunteer sees what the access rules give them while they hold an open connection, and the
referrer sees what their relationship with the person gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.care_plan import GOAL_ACHIEVEMENT, WHAT_MATTERS
from careweave.coordination.record import find, read, referenced_id, version_of
from careweave.fhir.errors import NotFound
from careweave.social_prescribing.connections import Connection, connections_of
from careweave.social_prescribing.pathway_codes import (
    COMMUNICATION_SYSTEM,
    CONTACT_MODES,
    ENDING_SYSTEM,
    PARTICIPATION_MODE,
    REASON_SYSTEM,
    REASONS,
    SOCIAL_PRESCRIBING_PLAN,
    STAGES,
)
from careweave.social_prescribing.pathway_record import (
    check_id,
    display_of,
    is_social_prescribing_referral,
    moment_of,
    payload_text,
    stage_of,
    uk_day,
)
from careweave.social_prescribing.wellbeing import WellbeingChange, wellbeing_change


@dataclass(frozen=True)
class Contact:
    """A contact with the person: the first contact, or a "what matters" conversation."""

    kind: str
    at: datetime | None
    how: str | None
    by: str | None
    notes: str


@dataclass(frozen=True)
class GoalView:
    goal_id: str
    description: str
    lifecycle_status: str
    achievement_status: str | None
    target_date: date | None


@dataclass(frozen=True)
class Episode:
    """One referral to social prescribing and everything that followed from it."""

    referral_id: str
    task_id: str
    version: int
    patient_id: str
    status: str
    stage: str | None
    referred_at: datetime | None
    referred_by: str | None
    self_referral: bool
    reasons: tuple[str, ...]
    details: str | None
    service_organisation_id: str | None
    link_worker: str | None
    rejection_reason: str | None
    contacts: tuple[Contact, ...]
    what_matters: tuple[str, ...]
    plan_id: str | None
    goals: tuple[GoalView, ...]
    connections: tuple[Connection, ...]
    wellbeing: WellbeingChange
    ended_on: date | None
    ending: str | None
    outcome_summary: str | None
    report_status: str | None
    """The outcome report's Communication status: preparation, completed (sent), not-done."""

    @property
    def stage_words(self) -> str:
        return STAGES.get(self.stage or "", "Waiting for the link worker")

    @property
    def reason_words(self) -> tuple[str, ...]:
        return tuple(REASONS[r] for r in self.reasons)

    @property
    def first_contact(self) -> datetime | None:
        moments = [c.at for c in self.contacts if c.at is not None]
        return min(moments) if moments else None

    @property
    def days_to_first_contact(self) -> float | None:
        first = self.first_contact
        if first is None or self.referred_at is None:
            return None
        return (first - self.referred_at).total_seconds() / 86400

    @property
    def open(self) -> bool:
        return self.status in ("accepted", "in-progress")

    @property
    def open_connections(self) -> tuple[Connection, ...]:
        return tuple(c for c in self.connections if c.open)

    @property
    def referrer_told(self) -> bool:
        return self.report_status == "completed"


def _how(communication: dict[str, Any]) -> str | None:
    for medium in communication.get("medium") or ():
        code = codes.code_in(medium, PARTICIPATION_MODE)
        for name, (mode, _) in CONTACT_MODES.items():
            if code == mode:
                return name
    return None


def _task_of(access: CareRecordAccess, referral_id: str) -> dict[str, Any]:
    tasks = find(
        access,
        "Task",
        [("focus", f"ServiceRequest/{referral_id}"), ("code", "|".join(codes.FULFIL))],
    )
    if not tasks:
        raise NotFound(f"The referral {referral_id} has no task to answer it")
    return max(tasks, key=lambda t: (str(t.get("authoredOn") or ""), version_of(t)))


def episode_of(access: CareRecordAccess, referral_id: str) -> Episode:
    """The episode that began with the referral `referral_id` (NotFound when the asker may
    not see it, or it is not a referral to social prescribing)."""
    request = read(access, "ServiceRequest", check_id(referral_id, "referral"))
    if not is_social_prescribing_referral(request):
        raise NotFound(f"There is no referral to social prescribing {referral_id}")
    patient_id = referenced_id(request.get("subject"), "Patient") or ""
    task = _task_of(access, referral_id)
    communications = find(access, "Communication", [("based-on", f"ServiceRequest/{referral_id}")])
    contacts: list[Contact] = []
    words: list[tuple[str, str]] = []
    report_status: str | None = None
    for communication in communications:
        kind = codes.code_in(communication.get("category"), COMMUNICATION_SYSTEM)
        if kind in ("first-contact", "conversation") and communication.get("status") == "completed":
            contacts.append(
                Contact(
                    str(kind),
                    moment_of(communication.get("sent")),
                    _how(communication),
                    display_of(communication.get("sender")),
                    payload_text(communication),
                )
            )
        elif kind == "outcome-report":
            report_status = str(communication.get("status") or "")
        elif codes.has_code(
            communication.get("category"), codes.COMMUNICATION_CATEGORY, WHAT_MATTERS
        ):
            words.append((str(communication.get("sent") or ""), payload_text(communication)))
    contacts.sort(key=lambda c: (c.at is None, c.at))
    plan = _plan(access, patient_id, referral_id)
    status = str(task.get("status") or "")
    reason = task.get("statusReason")
    requester = str((request.get("requester") or {}).get("reference") or "")
    notes = [n for n in request.get("note") or () if isinstance(n, dict)]
    execution = task.get("executionPeriod") if isinstance(task.get("executionPeriod"), dict) else {}
    return Episode(
        referral_id=str(request["id"]),
        task_id=str(task["id"]),
        version=version_of(task),
        patient_id=patient_id,
        status=status,
        stage=stage_of(task),
        referred_at=moment_of(request.get("authoredOn")),
        referred_by=display_of(request.get("requester")),
        self_referral=requester.startswith("Patient/"),
        reasons=tuple(
            r
            for concept in request.get("reasonCode") or ()
            for r in [codes.code_in(concept, REASON_SYSTEM) or ""]
            if r in REASONS
        ),
        details=str(notes[0].get("text")) if notes and notes[0].get("text") else None,
        service_organisation_id=referenced_id(
            (request.get("performer") or [None])[0], "Organization"
        ),
        link_worker=display_of(task.get("owner")),
        rejection_reason=(
            str(reason.get("text")) if status == "rejected" and isinstance(reason, dict) else None
        ),
        contacts=tuple(contacts),
        what_matters=tuple(text for _, text in sorted(words)),
        plan_id=str(plan["id"]) if plan else None,
        goals=_goals(access, plan),
        connections=tuple(connections_of(access, referral_id)),
        wellbeing=wellbeing_change(access, patient_id, referral_id=referral_id),
        ended_on=uk_day((execution or {}).get("end")) if status == "completed" else None,
        ending=codes.code_in(reason, ENDING_SYSTEM) if status == "completed" else None,
        outcome_summary=next(
            (
                str(o["valueString"])
                for o in task.get("output") or ()
                if isinstance(o, dict) and isinstance(o.get("valueString"), str)
            ),
            None,
        ),
        report_status=report_status,
    )


def _plan(access: CareRecordAccess, patient_id: str, referral_id: str) -> dict[str, Any] | None:
    system, code = SOCIAL_PRESCRIBING_PLAN
    plans = find(
        access, "CarePlan", [("patient", f"Patient/{patient_id}"), ("category", f"{system}|{code}")]
    )
    target = f"ServiceRequest/{referral_id}"
    for plan in plans:
        if any(
            isinstance(s, dict) and s.get("reference") == target
            for s in plan.get("supportingInfo") or ()
        ):
            return plan
    return None


def _goals(access: CareRecordAccess, plan: dict[str, Any] | None) -> tuple[GoalView, ...]:
    ids = [i for i in (referenced_id(g, "Goal") for g in (plan or {}).get("goal") or ()) if i]
    if not ids:
        return ()
    found = {str(g["id"]): g for g in find(access, "Goal", [("_id", ",".join(ids))])}
    goals = []
    for goal_id in ids:
        goal = found.get(goal_id)
        if goal is None:
            continue
        targets = [t for t in goal.get("target") or () if isinstance(t, dict)]
        goals.append(
            GoalView(
                goal_id=goal_id,
                description=str((goal.get("description") or {}).get("text") or ""),
                lifecycle_status=str(goal.get("lifecycleStatus") or "active"),
                achievement_status=codes.code_in(goal.get("achievementStatus"), GOAL_ACHIEVEMENT),
                target_date=uk_day(targets[0].get("dueDate")) if targets else None,
            )
        )
    return tuple(goals)


def episodes_for_person(access: CareRecordAccess, patient_id: str) -> list[Episode]:
    """Every referral of the person's to social prescribing the asker may see, newest first."""
    requests = find(
        access,
        "ServiceRequest",
        [
            ("patient", f"Patient/{check_id(patient_id, 'person')}"),
            ("code", "|".join(codes.SOCIAL_PRESCRIBING_REFERRAL)),
        ],
    )
    episodes = []
    for request in requests:
        try:
            episodes.append(episode_of(access, str(request["id"])))
        except NotFound:
            continue
    return sorted(
        episodes, key=lambda e: e.referred_at.isoformat() if e.referred_at else "", reverse=True
    )
