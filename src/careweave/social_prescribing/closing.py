"""Ending a person's social prescribing support, and closing the loop back to whoever referred
them, automatically, in the same transaction.

`close_episode` refuses while any onward connection is still open (naming them: record what
happened first). Then, in one transaction:

1. the outcome report to the referrer (the Communication prepared when the referral was
   accepted) is completed and sent: `sent` now, `payload` the summary (`outcome_report_text`:
   why they were referred, when they were first reached, what matters to them, their goals,
   each connection and its outcome, the wellbeing change, how and why support ended, and the
   link worker's own summary);
2. the social prescribing CarePlan is completed;
3. the referral Task is completed with the ending (statusReason, careweave
   social-prescribing-ending code) and the summary as its `Outcome` output, which
   coordination's referral page shows to both sides; the ServiceRequest is completed;
4. the service's EpisodeOfCare is finished, last: it is what keeps the link worker's sight of
   the person while the rest is written (the store refuses a change that would hide a record
   from its writer, unless the change only closes the work it records);
5. the referrer is told in careweave: a notification (careweave.coordination.notifications
   `tell`, in this transaction) to the referrer's post, or to the care staff of a referring
   organisation, who may see the report. Its words never name the person.

A self-referral's report goes to the person (Communication.recipient their Patient); people
have no in-app notifications yet, so the report in their record is how they are told.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.care_plan import stamp, writer_of
from careweave.coordination.notifications import Event, tell
from careweave.coordination.record import UK, now_instant, referenced_id, today, version_of
from careweave.coordination.tasks import MAXIMUM_TEXT_LENGTH
from careweave.fhir.errors import VersionConflict
from careweave.social_prescribing.connections import settle_requests
from careweave.social_prescribing.episode import Episode, episode_of
from careweave.social_prescribing.pathway import (
    outcome_report_of,
    prepare_outcome_report,
    social_prescribing_plan,
)
from careweave.social_prescribing.pathway_codes import ENDING_SYSTEM, ENDINGS, OUTCOMES
from careweave.social_prescribing.pathway_problems import (
    ChangedMeanwhile,
    NotAtThisStage,
    PathwayProblem,
)
from careweave.social_prescribing.pathway_record import (
    annotation,
    day_words,
    read_all,
    referral_in,
    require_service,
    stage,
    without_meta,
)
from careweave.store.repository import StoreTransaction

OUTCOME_NOTICE: Final = "social-prescribing-outcome"
"""The notification kind the referrer is told with: one of careweave.coordination
.notifications.KINDS, shown in their list as "Social prescribing outcome"."""
OUTCOME: Final = "Outcome"


def _words(items: list[str]) -> str:
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def outcome_report_text(episode: Episode, ending: str, summary: str, ended: datetime) -> str:
    """What the referrer is told, in plain words (pure: the page previews the same text)."""
    lines = [
        f"Social prescribing support ended on {day_words(ended.astimezone(UK).date())}: "
        f"{ENDINGS[ending].lower()}.",
    ]
    referred = episode.referred_at.astimezone(UK).date() if episode.referred_at else None
    reasons = _words([r.lower() for r in episode.reason_words])
    lines.append(f"Referred on {day_words(referred)} for {reasons or 'reasons not recorded'}.")
    first = episode.first_contact
    if first is not None and episode.days_to_first_contact is not None:
        days = episode.days_to_first_contact
        lines.append(
            f"First contact on {day_words(first.astimezone(UK).date())} "
            f"({days:.0f} day{'s' if round(days) != 1 else ''} after the referral)."
        )
    else:
        lines.append("The link worker was not able to speak with them.")
    if episode.what_matters:
        lines.append("What matters to them, in their words: " + " / ".join(episode.what_matters))
    if episode.goals:
        lines.append(
            "Goals: "
            + "; ".join(
                f"{g.description} ({_goal_state(g.achievement_status or g.lifecycle_status)})"
                for g in episode.goals
            )
        )
    if episode.connections:
        lines.append(
            "Connected to: "
            + "; ".join(
                f"{c.service_name} - {OUTCOMES[c.outcome].lower()}"
                + (f" ({c.reason})" if c.reason else "")
                for c in episode.connections
            )
        )
    else:
        lines.append("No onward connections were made.")
    lines += _wellbeing_lines(episode)
    if summary:
        lines.append(f"Link worker's summary: {summary}")
    return "\n".join(lines)


def _goal_state(code: str) -> str:
    return code.replace("-", " ")


def _wellbeing_lines(episode: Episode) -> list[str]:
    change = episode.wellbeing
    lines = []
    if change.ons4 and change.ons4_latest_on is not None:
        parts = [
            f"{item.name.lower()} {item.baseline} to {item.latest}"
            for item in change.ons4
            if item.baseline is not None and item.latest is not None
        ]
        if parts:
            lines.append(
                "ONS4 personal wellbeing (0-10), first to latest: " + "; ".join(parts) + "."
            )
    swemwbs = change.swemwbs
    if swemwbs is not None and swemwbs.latest_metric is not None and swemwbs.change is not None:
        lines.append(
            f"SWEMWBS metric score {swemwbs.baseline_metric:.2f} to {swemwbs.latest_metric:.2f} "
            f"({swemwbs.change:+.2f})."
        )
    return lines


def close_episode(
    access: CareRecordAccess,
    referral_id: str,
    *,
    ending: str,
    summary: str = "",
    version: int | None = None,
) -> str:
    """End the person's social prescribing support and tell the referrer (see the module
    docstring); returns the outcome report's Communication id. `version` is the referral
    Task's version the page showed."""
    if ending not in ENDINGS:
        raise PathwayProblem("Select why support is ending", "ending")
    words = summary.strip()
    if len(words) > MAXIMUM_TEXT_LENGTH:
        raise PathwayProblem(
            f"The summary must be {MAXIMUM_TEXT_LENGTH:,} characters or fewer", "summary"
        )
    episode = episode_of(access, referral_id)
    if version is not None and episode.version != version:
        raise ChangedMeanwhile()
    if not episode.open:
        raise NotAtThisStage(
            "This person's social prescribing support is not open, so it cannot end"
        )
    waiting = [c.service_name for c in episode.open_connections]
    if waiting:
        raise NotAtThisStage(
            f"Record what happened with {_words(waiting)} before ending support "
            "(or withdraw the connection)"
        )
    writer = writer_of(access)
    if episode.report_status is None:
        # Accepted outside this pathway (coordination's generic referral page): prepare the
        # report first, while the link worker can still see the person (see pathway.py).
        access.write(
            "create",
            "Communication",
            lambda tx: prepare_outcome_report(tx, referral_in(tx, referral_id), now_instant()),
        )
    ended = datetime.now(UTC).replace(microsecond=0)
    text = outcome_report_text(episode, ending, words, ended)

    def work(tx: StoreTransaction) -> str:
        referral = referral_in(tx, referral_id)
        require_service(access, tx, referral)
        if version_of(referral.task) != episode.version:
            raise ChangedMeanwhile()
        when = now_instant()
        report = outcome_report_of(tx, referral.id)
        if report is None:
            raise ChangedMeanwhile()
        sent = without_meta(report)
        sent.update(status="completed", sent=when, payload=[{"contentString": text}])
        tx.update("Communication", str(report["id"]), sent, if_match=version_of(report))
        settle_requests(tx, referral.id)
        plan = social_prescribing_plan(tx, referral)
        if plan is not None and plan.get("status") == "active":
            body = without_meta(plan)
            body["status"] = "completed"
            body.setdefault("period", {})["end"] = today().isoformat()
            tx.update("CarePlan", str(plan["id"]), stamp(body, writer), if_match=version_of(plan))
        task = without_meta(referral.task)
        task.update(
            status="completed",
            businessStatus=stage("ended"),
            statusReason=codes.concept(ENDING_SYSTEM, ending, ENDINGS[ending]),
            output=[{"type": {"text": OUTCOME}, "valueString": text}],
            lastModified=when,
        )
        task.setdefault("executionPeriod", {})["end"] = when
        task.setdefault("note", []).append(
            annotation(writer, when, f"Support ended: {ENDINGS[ending]}")
        )
        tx.update("Task", referral.task_id, task, if_match=version_of(referral.task))
        if referral.request.get("status") in ("draft", "active", "on-hold"):
            request = without_meta(referral.request)
            request["status"] = "completed"
            tx.update("ServiceRequest", referral.id, request, if_match=version_of(referral.request))
        params = [("incoming-referral", f"ServiceRequest/{referral.id}"), ("status", "active")]
        for found in read_all(tx, "EpisodeOfCare", params):
            finished = without_meta(found)
            finished["status"] = "finished"
            finished.setdefault("period", {})["end"] = today().isoformat()
            tx.update("EpisodeOfCare", str(found["id"]), finished, if_match=version_of(found))
        _tell_referrer(access, tx, referral.patient_id, referral.request, str(report["id"]), ending)
        return str(report["id"])

    try:
        result: str = access.write("update", f"ServiceRequest/{referral_id}", work)
    except VersionConflict:
        raise ChangedMeanwhile() from None
    return result


def _tell_referrer(
    access: CareRecordAccess,
    tx: StoreTransaction,
    patient_id: str,
    request: dict[str, object],
    report_id: str,
    ending: str,
) -> None:
    requester = request.get("requester")
    role = referenced_id(requester, "PractitionerRole")
    organisation = referenced_id(requester, "Organization")
    if role is None and organisation is None:
        return
    event = Event(
        OUTCOME_NOTICE,
        f"Social prescribing ended: {ENDINGS[ending].lower()}",
        patient_id,
        f"/people/{patient_id}/referrals",
        "Communication",
        report_id,
        None,
        practitioner_roles=frozenset({role} if role else ()),
        organisations=frozenset({organisation} if organisation else ()),
    )
    tell(tx.conn, access.store, [event], datetime.now(UTC).replace(tzinfo=None))
