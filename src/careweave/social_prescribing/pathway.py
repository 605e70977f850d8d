"""The link worker's side of a referral: triage (accept, or reject with a reason), the first
contact, the "what matters to me" conversation, and the plan made together.

Each function is one user action and one transaction through the asker's `CareRecordAccess`,
and only the social prescribing service the referral was sent to may do it. What each writes
(docs/social-prescribing.md has the full shapes):

* **accept**: the referral Task `accepted` and assigned to the link worker; an EpisodeOfCare
  (type the referral's code, managed by the service, care manager the link worker), which keeps
  the service's relationship with the person once the referral's Task is done; and the outcome
  report to the referrer as a Communication in `preparation` (closing.py sends it).
* **reject**: the Task `rejected` with the reason, as coordination's referrals do; the
  ServiceRequest stays active, so the referrer sees "Rejected - needs action" and closes it.
* **first contact**: a Communication (`first-contact`) with when and how (Communication.medium,
  v3 ParticipationMode) and the Task `in-progress`. Time to first contact is measured from the
  referral's `authoredOn` to the earliest contact or conversation.
* **what matters**: the conversation as a Communication (`conversation`: when, how, the link
  worker's notes) and the person's own words as coordination's "what matters to me"
  Communication, `about` the social prescribing plan and, when the person has one, their
  personalised care and support plan, so it shows on the shared plan as on this one. An
  Encounter would be the usual FHIR record of a conversation, but link workers may neither
  write nor read Encounters under the access rules (the encounters category is not theirs).
* **plan**: Goals in the person's words (expressedBy the Patient) on the social prescribing
  CarePlan (category social-prescribing-plan), made on first need and `partOf` the personalised
  care and support plan when there is one.

Each step also moves the referral Task's businessStatus on (pathway_codes.STAGES), so the
referral's history on coordination's pages reads as the pathway did.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.care_plan import WHAT_MATTERS, Writer, plan_query, stamp, writer_of
from careweave.coordination.care_plan_actions import MAX_SHORT, MAX_WORDS
from careweave.coordination.record import (
    UK,
    if_none_exist,
    now_instant,
    submission_identifier,
    today,
    version_of,
)
from careweave.coordination.tasks import MAXIMUM_TEXT_LENGTH
from careweave.fhir.errors import VersionConflict
from careweave.social_prescribing.pathway_codes import (
    CONTACT_MODES,
    PARTICIPATION_MODE,
    PATHWAY_SYSTEM,
    SOCIAL_PRESCRIBING_PLAN,
)
from careweave.social_prescribing.pathway_problems import (
    ChangedMeanwhile,
    NotAtThisStage,
    PathwayProblem,
)
from careweave.social_prescribing.pathway_record import (
    Referral,
    advanced,
    annotation,
    check_token,
    communication_kind,
    day_words,
    find_ids,
    instant,
    moment_of,
    read_all,
    referral_in,
    require_open_episode,
    require_service,
    stage,
    without_meta,
)
from careweave.store.repository import StoreTransaction

_T = TypeVar("_T")

MAX_GOALS: Final = 10
CLOCK_SKEW: Final = timedelta(minutes=5)
"""How far into the future a time typed as "now" may be (a device's clock a little ahead)."""


def _changed(referral: Referral, version: int | None) -> None:
    if version is not None and version_of(referral.task) != version:
        raise ChangedMeanwhile()


def _save_task(tx: StoreTransaction, referral: Referral, body: dict[str, Any]) -> None:
    tx.update("Task", referral.task_id, without_meta(body), if_match=version_of(referral.task))


def _write(
    access: CareRecordAccess, event: str, entity: str, work: Callable[[StoreTransaction], _T]
) -> _T:
    """One user action: one transaction, a stale If-Match answered as ChangedMeanwhile."""
    try:
        return access.write(event, entity, work)
    except VersionConflict:
        raise ChangedMeanwhile() from None


# -- triage ---------------------------------------------------------------------------------------


def accept_referral(
    access: CareRecordAccess, referral_id: str, *, version: int | None = None
) -> None:
    """Take the person on: the Task accepted and assigned to the link worker accepting it, the
    service's EpisodeOfCare started, and the outcome report to the referrer prepared."""
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> None:
        referral = referral_in(tx, referral_id)
        require_service(access, tx, referral)
        _changed(referral, version)
        if referral.status not in ("requested", "received"):
            raise NotAtThisStage(f"This referral has already been {_said(referral.status)}")
        when = now_instant()
        task = copy.deepcopy(referral.task)
        task.update(status="accepted", lastModified=when, businessStatus=stage("accepted"))
        task.pop("statusReason", None)
        if writer.reference["reference"].startswith("PractitionerRole/"):
            task["owner"] = dict(writer.reference)
        task.setdefault("note", []).append(annotation(writer, when, "Accepted"))
        _save_task(tx, referral, task)
        _start_episode(tx, referral, writer)
        prepare_outcome_report(tx, referral, when)

    _write(access, "update", f"Task/{referral_id}", work)


def _said(status: str) -> str:
    return {"accepted": "accepted", "in-progress": "accepted", "rejected": "rejected"}.get(
        status, "closed"
    )


def _start_episode(tx: StoreTransaction, referral: Referral, writer: Writer) -> None:
    params = [("incoming-referral", f"ServiceRequest/{referral.id}"), ("status", "active")]
    if find_ids(tx, "EpisodeOfCare", params):
        return
    episode: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "type": [copy.deepcopy(referral.request["code"])],
        "patient": {"reference": f"Patient/{referral.patient_id}"},
        "managingOrganization": {"reference": f"Organization/{referral.service_organisation_id}"},
        "period": {"start": today().isoformat()},
        "referralRequest": [{"reference": f"ServiceRequest/{referral.id}"}],
    }
    if writer.reference["reference"].startswith("PractitionerRole/"):
        episode["careManager"] = dict(writer.reference)
    tx.create(episode)


def prepare_outcome_report(tx: StoreTransaction, referral: Referral, when: str) -> None:
    """The report the service owes the referrer, waiting (status `preparation`) until the
    episode ends. It is written now, while the link worker has a relationship with the person,
    because the store refuses new records in the transaction that ends it (closing.py)."""
    if outcome_report_of(tx, referral.id) is not None:
        return
    requester = referral.request.get("requester")
    report: dict[str, Any] = {
        "resourceType": "Communication",
        "basedOn": [{"reference": f"ServiceRequest/{referral.id}"}],
        "status": "preparation",
        "category": [communication_kind("outcome-report")],
        "subject": {"reference": f"Patient/{referral.patient_id}"},
        "sender": {"reference": f"Organization/{referral.service_organisation_id}"},
        "note": [{"time": when, "text": "Sent to the referrer when social prescribing ends"}],
    }
    if isinstance(requester, dict) and requester.get("reference"):
        report["recipient"] = [copy.deepcopy(requester)]
    tx.create(report)


def outcome_report_of(tx: StoreTransaction, referral_id: str) -> dict[str, Any] | None:
    """The referral's outcome report Communication, if there is one."""
    kind = communication_kind("outcome-report")["coding"][0]
    found = read_all(
        tx,
        "Communication",
        [
            ("based-on", f"ServiceRequest/{referral_id}"),
            ("category", f"{kind['system']}|{kind['code']}"),
        ],
    )
    return found[0] if found else None


def reject_referral(
    access: CareRecordAccess, referral_id: str, reason: str, *, version: int | None = None
) -> None:
    """Turn the referral down with a reason (required). The referrer sees it needs action and
    closes it or refers elsewhere, as for any coordination referral; an episode started by an
    earlier acceptance is cancelled, and the prepared outcome report is not sent."""
    why = reason.strip()
    if not why:
        raise PathwayProblem("Enter why you are rejecting this referral", "reason")
    if len(why) > MAXIMUM_TEXT_LENGTH:
        raise PathwayProblem(
            f"The reason must be {MAXIMUM_TEXT_LENGTH:,} characters or fewer", "reason"
        )
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> None:
        referral = referral_in(tx, referral_id)
        require_service(access, tx, referral)
        _changed(referral, version)
        if referral.status not in ("requested", "received", "accepted"):
            raise NotAtThisStage(f"This referral has already been {_said(referral.status)}")
        when = now_instant()
        task = copy.deepcopy(referral.task)
        task.update(
            status="rejected",
            statusReason={"text": why},
            lastModified=when,
            businessStatus=stage("not-taken-on"),
        )
        task.setdefault("note", []).append(annotation(writer, when, f"Rejected: {why}"))
        _save_task(tx, referral, task)
        params = [("incoming-referral", f"ServiceRequest/{referral.id}"), ("status", "active")]
        for episode in read_all(tx, "EpisodeOfCare", params):
            ended = without_meta(episode)
            ended["status"] = "cancelled"
            ended.setdefault("period", {})["end"] = today().isoformat()
            tx.update("EpisodeOfCare", str(episode["id"]), ended, if_match=version_of(episode))
        report = outcome_report_of(tx, referral.id)
        if report is not None and report.get("status") == "preparation":
            body = without_meta(report)
            body.update(status="not-done", statusReason={"text": "The referral was rejected"})
            tx.update("Communication", str(report["id"]), body, if_match=version_of(report))

    _write(access, "update", f"Task/{referral_id}", work)


# -- contacts and conversations -------------------------------------------------------------------


def _when(at: datetime, referral: Referral, what: str) -> str:
    """`at` as a FHIR instant, once it is known to be after the referral and not ahead."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UK)
    if aware > datetime.now(UTC) + CLOCK_SKEW:
        raise PathwayProblem(f"The {what} cannot be in the future", "at")
    made = moment_of(referral.request.get("authoredOn"))
    if made is not None and aware < made - CLOCK_SKEW:
        raise PathwayProblem(
            f"The {what} cannot be before the referral was made "
            f"({day_words(made.astimezone(UK).date())})",
            "at",
        )
    return instant(aware)


def _medium(how: str) -> list[dict[str, Any]]:
    if how not in CONTACT_MODES:
        raise PathwayProblem("Select how you were in touch: in person, by phone or by video", "how")
    code, display = CONTACT_MODES[how]
    return [codes.concept(PARTICIPATION_MODE, code, display)]


def _text(value: str, field: str, what: str, limit: int, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise PathwayProblem(f"Enter {what}", field)
    if len(text) > limit:
        raise PathwayProblem(
            f"{what[0].upper()}{what[1:]} must be {limit:,} characters or fewer", field
        )
    return text


def _contact(
    referral: Referral, kind: str, sent: str, how: str, writer: Writer, words: str, token: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [submission_identifier(token)],
        "basedOn": [{"reference": f"ServiceRequest/{referral.id}"}],
        "status": "completed",
        "category": [communication_kind(kind)],
        "medium": _medium(how),
        "subject": {"reference": f"Patient/{referral.patient_id}"},
        "sent": sent,
        "recipient": [{"reference": f"Patient/{referral.patient_id}"}],
        "sender": dict(writer.reference),
    }
    if words:
        body["payload"] = [{"contentString": words}]
    return body


def _started(
    task: dict[str, Any], code: str, writer: Writer, when: str, note: str
) -> dict[str, Any]:
    """The Task as the pathway moves on: `in-progress` once the person has been reached."""
    body = advanced(task, code) or copy.deepcopy(task)
    if body.get("status") == "accepted":
        body["status"] = "in-progress"
        body.setdefault("executionPeriod", {})["start"] = when
    body["lastModified"] = when
    body.setdefault("note", []).append(annotation(writer, when, note))
    return body


def record_first_contact(
    access: CareRecordAccess,
    referral_id: str,
    *,
    at: datetime,
    how: str,
    note: str = "",
    token: str,
) -> str:
    """Record that the link worker reached the person, when and how; returns the
    Communication's id. A second first contact is refused, naming the first."""
    check_token(token)
    words = _text(note, "note", "a note", MAXIMUM_TEXT_LENGTH, required=False)
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> str:
        referral = referral_in(tx, referral_id)
        require_service(access, tx, referral)
        done = tx.find_ids("Communication", if_none_exist(token))
        if done:
            return done[0]
        require_open_episode(referral, "record a contact")
        earlier = first_contact_of(tx, referral.id)
        if earlier is not None:
            raise NotAtThisStage(
                f"The first contact was already recorded, on {day_words(earlier.date())}"
            )
        sent = _when(at, referral, "contact")
        made = tx.create(_contact(referral, "first-contact", sent, how, writer, words, token))
        _save_task(
            tx,
            referral,
            _started(referral.task, "first-contact", writer, now_instant(), "First contact made"),
        )
        return made.stored.id

    return _write(access, "create", "Communication", work)


def first_contact_of(tx: StoreTransaction, referral_id: str) -> datetime | None:
    """When the person was first reached: the earliest first contact or conversation."""
    system = communication_kind("first-contact")["coding"][0]["system"]
    found = read_all(
        tx,
        "Communication",
        [
            ("based-on", f"ServiceRequest/{referral_id}"),
            ("category", f"{system}|first-contact,{system}|conversation"),
            ("status", "completed"),
        ],
    )
    moments = [m for m in (moment_of(c.get("sent")) for c in found) if m is not None]
    return min(moments) if moments else None


@dataclass(frozen=True)
class ConversationRecorded:
    conversation_id: str
    what_matters_id: str
    plan_id: str


def record_what_matters(
    access: CareRecordAccess,
    referral_id: str,
    *,
    held_at: datetime,
    how: str,
    what_matters: str,
    notes: str = "",
    token: str,
) -> ConversationRecorded:
    """Record a "what matters to me" conversation: the link worker's notes, and what matters
    in the person's own words on their plans (see the module docstring). A conversation before
    any recorded first contact is the first contact."""
    check_token(token)
    words = _text(
        what_matters, "what_matters", "what matters to the person", MAX_WORDS, required=True
    )
    notes_text = _text(notes, "notes", "your notes", MAXIMUM_TEXT_LENGTH, required=False)
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> ConversationRecorded:
        referral = referral_in(tx, referral_id)
        require_service(access, tx, referral)
        done = tx.find_ids("Communication", if_none_exist(token))
        if done:
            words_ids = tx.find_ids("Communication", if_none_exist(token + "-w"))
            plan = social_prescribing_plan(tx, referral)
            return ConversationRecorded(
                done[0], words_ids[0] if words_ids else "", str((plan or {}).get("id", ""))
            )
        require_open_episode(referral, "record a conversation")
        sent = _when(held_at, referral, "conversation")
        conversation = tx.create(
            _contact(referral, "conversation", sent, how, writer, notes_text, token)
        )
        plan = ensure_plan(tx, referral, writer)
        about = [{"reference": f"CarePlan/{plan['id']}"}]
        personal = tx.find_ids("CarePlan", _query(plan_query(referral.patient_id)))
        if personal:
            about.insert(0, {"reference": f"CarePlan/{personal[0]}"})
        said = tx.create(
            {
                "resourceType": "Communication",
                "identifier": [submission_identifier(token + "-w")],
                "basedOn": [{"reference": f"ServiceRequest/{referral.id}"}],
                "status": "completed",
                "category": [
                    codes.concept(codes.COMMUNICATION_CATEGORY, WHAT_MATTERS, "What matters to me")
                ],
                "subject": {"reference": f"Patient/{referral.patient_id}"},
                "about": about,
                "sent": sent,
                "sender": {"reference": f"Patient/{referral.patient_id}"},
                "payload": [{"contentString": words}],
                "note": [
                    annotation(
                        writer,
                        sent,
                        f"Written down by {writer.reference.get('display') or 'the link worker'} "
                        "in a what matters conversation",
                    )
                ],
            }
        )
        when = now_instant()
        _save_task(
            tx,
            referral,
            _started(referral.task, "what-matters", writer, when, "What matters conversation held"),
        )
        return ConversationRecorded(conversation.stored.id, said.stored.id, str(plan["id"]))

    return _write(access, "create", "Communication", work)


def _query(params: Sequence[tuple[str, str]]) -> str:
    return urlencode(list(params))


# -- the plan ------------------------------------------------------------------------------------


def social_prescribing_plan(tx: StoreTransaction, referral: Referral) -> dict[str, Any] | None:
    """The referral's social prescribing CarePlan (its supportingInfo names the referral)."""
    system, code = SOCIAL_PRESCRIBING_PLAN
    plans = read_all(
        tx,
        "CarePlan",
        [("patient", f"Patient/{referral.patient_id}"), ("category", f"{system}|{code}")],
    )
    target = f"ServiceRequest/{referral.id}"
    for plan in plans:
        if any(
            isinstance(s, dict) and s.get("reference") == target
            for s in plan.get("supportingInfo") or ()
        ):
            return plan
    return None


def ensure_plan(tx: StoreTransaction, referral: Referral, writer: Writer) -> dict[str, Any]:
    """The referral's social prescribing plan, made now if there is none yet."""
    plan = social_prescribing_plan(tx, referral)
    if plan is not None:
        return plan
    system, code = SOCIAL_PRESCRIBING_PLAN
    body: dict[str, Any] = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "category": [codes.concept(system, code, "Social prescribing plan")],
        "title": "Social prescribing plan",
        "subject": {"reference": f"Patient/{referral.patient_id}"},
        "period": {"start": today().isoformat()},
        "created": now_instant(),
        "author": dict(writer.reference),
        "supportingInfo": [{"reference": f"ServiceRequest/{referral.id}"}],
    }
    personal = tx.find_ids("CarePlan", _query(plan_query(referral.patient_id)))
    if personal:
        body["partOf"] = [{"reference": f"CarePlan/{personal[0]}"}]
    made = tx.create(stamp(body, writer))
    return made.stored.as_dict()


def agree_plan(
    access: CareRecordAccess,
    referral_id: str,
    *,
    goals: Sequence[str],
    token: str,
    review_on: date | None = None,
) -> list[str]:
    """Add the goals agreed with the person, in their words, to their social prescribing plan
    (made now if need be); returns the Goals' ids. `review_on` (a date) becomes each goal's
    target date. Goal progress is recorded with careweave.coordination.care_plan_actions
    .update_goal, as on the personalised care plan."""
    check_token(token)
    typed = [g.strip() for g in goals if g.strip()]
    if not typed:
        raise PathwayProblem("Enter at least one goal, in the person's words", "goals")
    if len(typed) > MAX_GOALS:
        raise PathwayProblem(f"Agree at most {MAX_GOALS} goals at a time", "goals")
    for goal in typed:
        _text(goal, "goals", "each goal", MAX_SHORT, required=True)
    if review_on is not None and review_on < today():
        raise PathwayProblem("The review date must be today or in the future", "review_on")
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> list[str]:
        referral = referral_in(tx, referral_id)
        require_service(access, tx, referral)
        require_open_episode(referral, "agree a plan")
        plan = ensure_plan(tx, referral, writer)
        ids: list[str] = []
        for number, words in enumerate(typed, start=1):
            key = f"{token}-g{number}"
            goal: dict[str, Any] = {
                "resourceType": "Goal",
                "identifier": [submission_identifier(key)],
                "lifecycleStatus": "active",
                "category": [
                    codes.concept(PATHWAY_SYSTEM, "social-prescribing", "Social prescribing")
                ],
                "description": {"text": words},
                "subject": {"reference": f"Patient/{referral.patient_id}"},
                "startDate": today().isoformat(),
                "expressedBy": {"reference": f"Patient/{referral.patient_id}"},
            }
            if review_on is not None:
                goal["target"] = [{"dueDate": review_on.isoformat()}]
            ids.append(tx.create(stamp(goal, writer), if_none_exist=if_none_exist(key)).stored.id)
        current = tx.read("CarePlan", str(plan["id"])).as_dict()
        present = {g.get("reference") for g in current.get("goal") or () if isinstance(g, dict)}
        added = [{"reference": f"Goal/{i}"} for i in ids if f"Goal/{i}" not in present]
        if added:
            body = without_meta(current)
            body["goal"] = [*(current.get("goal") or []), *added]
            tx.update(
                "CarePlan", str(plan["id"]), stamp(body, writer), if_match=version_of(current)
            )
            when = now_instant()
            task = advanced(referral.task, "plan-agreed") or copy.deepcopy(referral.task)
            task["lastModified"] = when
            task.setdefault("note", []).append(annotation(writer, when, "Plan agreed"))
            _save_task(tx, referral, task)
        return ids

    return _write(access, "create", "Goal", work)
