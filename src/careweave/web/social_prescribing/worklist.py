"""What the social prescribing list (/social-prescribing) shows a member of staff, read in a
few guarded searches rather than one episode at a time:

* for the staff of a social prescribing service (the organisation referrals are sent to):
  referrals waiting for triage, the people they are working with, onward connections waiting
  for an outcome, and connections to services that have since closed (to re-route);
* for the staff of an organisation that runs community services (a voluntary organisation):
  the people connected to its services who are waiting to start;
* for anyone who refers: the referrals to social prescribing they made, and where each got
  to, including the outcome sent back when support ended.

Everything is read through the user's `CareRecordAccess`, so each list holds only what the
access rules let them see. The pieces (a referral's Task, an onward connection) are read as
careweave.social_prescribing reads them (`connection_from`, the same codes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.people import banner_of
from careweave.coordination.record import find, referenced_id, version_of
from careweave.social_prescribing.connections import (
    ONWARD_CONNECTION,
    Connection,
    connection_from,
    is_connection,
)
from careweave.social_prescribing.directory import CommunityService
from careweave.social_prescribing.pathway_codes import REASON_SYSTEM, REASONS, STAGES
from careweave.social_prescribing.pathway_record import (
    SOCIAL_PRESCRIBING,
    display_of,
    stage_of,
    uk_day,
)

BATCH: Final = 80
"""References per search (each is part of the query string)."""
MADE_SHOWN: Final = 50
WAITING: Final = frozenset({"draft", "requested", "received", "ready", "on-hold"})
WORKING: Final = frozenset({"accepted", "in-progress"})
OPEN_TASK: Final = "draft,requested,received,accepted,ready,in-progress,on-hold"


@dataclass(frozen=True)
class ReferralRow:
    """A referral to social prescribing as a list shows it."""

    referral_id: str
    task_id: str
    version: int
    patient_id: str
    person_name: str
    nhs_number: str | None
    task_status: str
    request_status: str
    stage: str | None
    referred_on: date | None
    referred_by: str | None
    to_organisation_id: str | None
    reasons: tuple[str, ...]
    due: date | None
    urgent: bool
    rejection_reason: str | None

    @property
    def where(self) -> str:
        """Where the referral has got to, in words (never by colour alone)."""
        if self.task_status in WAITING:
            return "Waiting for the link worker"
        if self.task_status in WORKING:
            return STAGES.get(self.stage or "", "Accepted")
        if self.task_status == "completed":
            return "Support ended: outcome sent"
        if self.task_status == "rejected":
            return "Not taken on"
        return "Withdrawn"


@dataclass(frozen=True)
class ConnectionRow:
    """An onward connection, with whom it is for."""

    connection: Connection
    person_name: str
    referral: ReferralRow | None


@dataclass(frozen=True)
class Worklist:
    waiting: list[ReferralRow]
    working: list[ReferralRow]
    awaiting_outcome: list[ConnectionRow]
    to_reroute: list[ConnectionRow]
    at_our_services: list[ConnectionRow]
    made: list[ReferralRow]


def _batches(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), BATCH):
        yield values[start : start + BATCH]


def _find_many(
    access: CareRecordAccess,
    resource_type: str,
    name: str,
    values: Sequence[str],
    params: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for batch in _batches(sorted(set(values))):
        found += find(access, resource_type, [(name, ",".join(batch)), *params])
    return found


def _people(access: CareRecordAccess, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    return {str(p["id"]): p for p in _find_many(access, "Patient", "_id", list(ids))}


def _newest_tasks(tasks: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each referral's newest fulfil Task, by the ServiceRequest it is focused on."""
    newest: dict[str, dict[str, Any]] = {}
    for task in tasks:
        focus = referenced_id(task.get("focus"), "ServiceRequest")
        if focus is None:
            continue
        key = (str(task.get("authoredOn") or ""), version_of(task))
        held = newest.get(focus)
        if held is None or key >= (str(held.get("authoredOn") or ""), version_of(held)):
            newest[focus] = task
    return newest


def _row(
    request: dict[str, Any], task: dict[str, Any], patient: dict[str, Any] | None
) -> ReferralRow:
    banner = banner_of(patient) if patient else None
    restriction = task.get("restriction") if isinstance(task.get("restriction"), dict) else {}
    period = (restriction or {}).get("period") or {}
    reason = task.get("statusReason")
    return ReferralRow(
        referral_id=str(request["id"]),
        task_id=str(task["id"]),
        version=version_of(task),
        patient_id=referenced_id(request.get("subject"), "Patient") or "",
        person_name=banner.name if banner else "Someone whose record you cannot see",
        nhs_number=banner.nhs_number if banner else None,
        task_status=str(task.get("status") or ""),
        request_status=str(request.get("status") or ""),
        stage=stage_of(task),
        referred_on=uk_day(request.get("authoredOn")),
        referred_by=(
            "Self-referral"
            if str((request.get("requester") or {}).get("reference", "")).startswith("Patient/")
            else display_of(request.get("requester"))
        ),
        to_organisation_id=referenced_id((request.get("performer") or [None])[0], "Organization"),
        reasons=tuple(
            REASONS[code]
            for concept in request.get("reasonCode") or ()
            for code in [codes.code_in(concept, REASON_SYSTEM) or ""]
            if code in REASONS
        ),
        due=uk_day(period.get("end")),
        urgent=request.get("priority") in ("urgent", "asap", "stat"),
        rejection_reason=(
            str(reason["text"])
            if task.get("status") == "rejected" and isinstance(reason, dict) and reason.get("text")
            else None
        ),
    )


def referral_rows(access: CareRecordAccess, requests: list[dict[str, Any]]) -> list[ReferralRow]:
    """Each referral with its Task and person (referrals with no Task the user can see are
    left out: there is nothing for them to act on)."""
    refs = [f"ServiceRequest/{r['id']}" for r in requests]
    tasks = _newest_tasks(
        _find_many(access, "Task", "focus", refs, [("code", "|".join(codes.FULFIL))])
    )
    people = _people(
        access, {p for r in requests if (p := referenced_id(r.get("subject"), "Patient"))}
    )
    rows = []
    for request in requests:
        task = tasks.get(str(request["id"]))
        if task is None:
            continue
        patient_id = referenced_id(request.get("subject"), "Patient") or ""
        rows.append(_row(request, task, people.get(patient_id)))
    return rows


def _connections(
    access: CareRecordAccess,
    requests: list[dict[str, Any]],
    services: Mapping[str, CommunityService],
    tasks: Iterable[dict[str, Any]] | None = None,
) -> list[Connection]:
    if not requests:
        return []
    if tasks is None:
        refs = [f"ServiceRequest/{r['id']}" for r in requests]
        tasks = _find_many(access, "Task", "focus", refs)
    newest = _newest_tasks(tasks)
    found = []
    for request in requests:
        task = newest.get(str(request["id"]))
        if task is None:
            continue
        service_id = referenced_id((request.get("performer") or [None])[0], "HealthcareService")
        found.append(connection_from(request, task, services.get(service_id or "")))
    return found


def worklist(access: CareRecordAccess, services: Mapping[str, CommunityService]) -> Worklist:
    """The lists for the signed-in user (see the module docstring); `services` is the
    directory's (to say which connections are to services that have closed)."""
    principal = access.principal
    organisation = principal.organisation_id
    sp_code = "|".join(SOCIAL_PRESCRIBING)
    rows: list[ReferralRow] = []
    if organisation:
        requests = find(
            access,
            "ServiceRequest",
            [
                ("performer", f"Organization/{organisation}"),
                ("code", sp_code),
                ("status", "draft,active,on-hold"),
            ],
        )
        rows = referral_rows(access, requests)
    waiting = sorted(
        (r for r in rows if r.task_status in WAITING),
        key=lambda r: (not r.urgent, r.due or date.max, r.referred_on or date.min),
    )
    working = sorted(
        (r for r in rows if r.task_status in WORKING),
        key=lambda r: (r.person_name.casefold(), r.referral_id),
    )
    by_referral = {r.referral_id: r for r in working}
    system, code = ONWARD_CONNECTION
    connection_requests = _find_many(
        access,
        "ServiceRequest",
        "based-on",
        [f"ServiceRequest/{r}" for r in by_referral],
        [("category", f"{system}|{code}")],
    )
    open_ones = [c for c in _connections(access, connection_requests, services) if c.open]
    awaiting = [
        ConnectionRow(c, by_referral[c.referral_id].person_name, by_referral[c.referral_id])
        for c in open_ones
        if c.referral_id in by_referral
    ]
    return Worklist(
        waiting=waiting,
        working=working,
        awaiting_outcome=[row for row in awaiting if not row.connection.needs_rerouting],
        to_reroute=[row for row in awaiting if row.connection.needs_rerouting],
        at_our_services=_at_our_services(access, organisation, services),
        made=_made(access),
    )


def _at_our_services(
    access: CareRecordAccess, organisation: str | None, services: Mapping[str, CommunityService]
) -> list[ConnectionRow]:
    """Open connections owned by the user's organisation, when it runs community services."""
    if not organisation or not any(s.organisation_id == organisation for s in services.values()):
        return []
    tasks = find(access, "Task", [("owner", f"Organization/{organisation}"), ("status", OPEN_TASK)])
    focus = [f for t in tasks if (f := referenced_id(t.get("focus"), "ServiceRequest"))]
    requests = [r for r in _find_many(access, "ServiceRequest", "_id", focus) if is_connection(r)]
    connections = [c for c in _connections(access, requests, services, tasks) if c.open]
    people = _people(access, {c.patient_id for c in connections if c.patient_id})
    rows = [
        ConnectionRow(
            c,
            banner_of(people[c.patient_id]).name
            if c.patient_id in people
            else "Someone whose record you cannot see",
            None,
        )
        for c in connections
    ]
    return sorted(rows, key=lambda r: (r.connection.made_on or date.min, r.person_name))


def _made(access: CareRecordAccess) -> list[ReferralRow]:
    """The referrals to social prescribing the user made, newest first."""
    role = access.principal.practitioner_role_id
    if not role:
        return []
    requests = find(
        access,
        "ServiceRequest",
        [("requester", f"PractitionerRole/{role}"), ("code", "|".join(SOCIAL_PRESCRIBING))],
    )
    rows = referral_rows(access, requests)
    rows.sort(key=lambda r: (r.referred_on or date.min, r.referral_id), reverse=True)
    return rows[:MADE_SHOWN]
