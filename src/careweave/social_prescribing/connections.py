"""Onward connections: the link worker connects the person to a service in the directory, and
each connection is followed to its outcome.

A connection is a ServiceRequest and a Task, like a referral (so coordination's referral list
shows it under the person's referrals, and the service's staff are told "referral received"):

* **ServiceRequest**: category Patient referral, the `onward-connection` marker (careweave
  social-prescribing system), and the service's directory needs and R4 service-category codes,
  so reports group connections by the kind of service without reading the directory as it is
  now; `code` a careweave connection code with the service's name as text; `performer` the
  HealthcareService; `basedOn` the referral to social prescribing.
* **Task**: `fulfill`, focus the ServiceRequest, `partOf` the referral's Task, `owner` the
  Organization that runs the service: its staff (a voluntary organisation's volunteers too)
  reach the person's record only while the connection is open, as the access rules give any
  open Task's owner. `businessStatus` is the outcome (pathway_codes.OUTCOMES), and the Task
  status follows it (OUTCOME_TASK_STATUS: accepted `accepted`, attended `completed`, declined
  and withdrawn `cancelled`, not reached `failed`, turned down `rejected`).

The service's staff and the link worker's organisation may both record an outcome (the link
worker often hears it from the person); only the link worker's side withdraws a connection.

**A service that closes** keeps its history (directory_records.close_service); its open
connections then show `needs_rerouting` (worked out from the directory entry every time they
are read, so it cannot be missed or go stale), `connections_to_reroute` lists them, and
`reroute` withdraws one and connects the person to another service in one transaction. The
flag is not written onto the Task: whoever closes a service in the directory (an
administrator) may not see anyone's record, so could not write it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.care_plan import Writer, stamp, writer_of
from careweave.coordination.record import (
    find,
    if_none_exist,
    now_instant,
    referenced_id,
    submission_identifier,
    version_of,
)
from careweave.coordination.tasks import MAXIMUM_TEXT_LENGTH, sides_of
from careweave.fhir.errors import Forbidden, VersionConflict
from careweave.social_prescribing.directory import CommunityService, service_from
from careweave.social_prescribing.directory_codes import (
    NEED_SERVICE_CATEGORY,
    NEED_SYSTEM,
    NEEDS,
    SERVICE_CATEGORY,
)
from careweave.social_prescribing.pathway import ensure_plan
from careweave.social_prescribing.pathway_codes import (
    CONNECTION_CODE_SYSTEM,
    FINAL_OUTCOMES,
    OUTCOME_SYSTEM,
    OUTCOME_TASK_STATUS,
    OUTCOMES,
    PATHWAY_SYSTEM,
)
from careweave.social_prescribing.pathway_problems import (
    ChangedMeanwhile,
    NotAtThisStage,
    NotYours,
    PathwayProblem,
)
from careweave.social_prescribing.pathway_record import (
    Referral,
    advanced,
    annotation,
    check_id,
    check_token,
    day_words,
    display_of,
    outcome,
    read_all,
    read_in,
    referral_in,
    require_open_episode,
    require_service,
    uk_day,
    without_meta,
)
from careweave.store.repository import StoreTransaction

ONWARD_CONNECTION: Final = (PATHWAY_SYSTEM, "onward-connection")


@dataclass(frozen=True)
class ConnectionMade:
    service_request_id: str
    task_id: str
    created: bool


@dataclass(frozen=True)
class Connection:
    """One onward connection as the link worker's and the service's pages show it."""

    task_id: str
    service_request_id: str
    referral_id: str | None
    patient_id: str | None
    service_id: str | None
    service_name: str
    organisation_id: str | None
    organisation_name: str | None
    needs: tuple[str, ...]
    outcome: str
    outcome_words: str
    reason: str | None
    made_on: date | None
    version: int
    service_active: bool
    service_closed_on: date | None

    @property
    def open(self) -> bool:
        return self.outcome not in FINAL_OUTCOMES

    @property
    def needs_rerouting(self) -> bool:
        """Open, but the service has closed: the person needs connecting somewhere else."""
        return self.open and not self.service_active


# -- reading --------------------------------------------------------------------------------------


def is_connection(request: Mapping[str, Any]) -> bool:
    return codes.has_code(request.get("category"), *ONWARD_CONNECTION)


def outcome_of(task: Mapping[str, Any]) -> str:
    """The connection's outcome code: its businessStatus, else what its status says."""
    code = codes.code_in(task.get("businessStatus"), OUTCOME_SYSTEM)
    if code in OUTCOMES:
        return str(code)
    by_status = {status: name for name, status in OUTCOME_TASK_STATUS.items()}
    return by_status.get(str(task.get("status") or ""), "waiting")


def connection_from(
    request: Mapping[str, Any], task: Mapping[str, Any], service: CommunityService | None
) -> Connection:
    performers = request.get("performer") or [None]
    code = outcome_of(task)
    reason = task.get("statusReason")
    text = reason.get("text") if isinstance(reason, dict) else None
    return Connection(
        task_id=str(task["id"]),
        service_request_id=str(request["id"]),
        referral_id=next(
            (
                i
                for i in (referenced_id(b, "ServiceRequest") for b in request.get("basedOn") or ())
                if i
            ),
            None,
        ),
        patient_id=referenced_id(request.get("subject"), "Patient"),
        service_id=referenced_id(performers[0], "HealthcareService"),
        service_name=(service.name if service else None)
        or display_of(performers[0])
        or "A community service",
        organisation_id=referenced_id(task.get("owner"), "Organization"),
        organisation_name=display_of(task.get("owner")),
        needs=tuple(
            c
            for concept in request.get("category") or ()
            for c in [codes.code_in(concept, NEED_SYSTEM) or ""]
            if c in NEEDS
        ),
        outcome=code,
        outcome_words=OUTCOMES[code],
        reason=text if isinstance(text, str) else None,
        made_on=uk_day(request.get("authoredOn")),
        version=version_of(dict(task)),
        service_active=service.active if service else True,
        service_closed_on=service.closed_on if service else None,
    )


def _connections(access: CareRecordAccess, params: list[tuple[str, str]]) -> list[Connection]:
    system, code = ONWARD_CONNECTION
    requests = find(access, "ServiceRequest", [*params, ("category", f"{system}|{code}")])
    if not requests:
        return []
    ids = ",".join(f"ServiceRequest/{r['id']}" for r in requests)
    tasks: dict[str, dict[str, Any]] = {}
    for task in find(access, "Task", [("focus", ids)]):
        focus = referenced_id(task.get("focus"), "ServiceRequest")
        if focus and str(task.get("authoredOn", "")) >= str(
            tasks.get(focus, {}).get("authoredOn", "")
        ):
            tasks[focus] = task
    service_ids = {
        s
        for r in requests
        for s in [referenced_id((r.get("performer") or [None])[0], "HealthcareService")]
        if s
    }
    services = {
        str(s["id"]): service_from(s)
        for s in (
            find(access, "HealthcareService", [("_id", ",".join(sorted(service_ids)))])
            if service_ids
            else []
        )
    }
    listed = []
    for request in requests:
        answer = tasks.get(str(request["id"]))
        if answer is None:
            continue
        service_id = referenced_id((request.get("performer") or [None])[0], "HealthcareService")
        listed.append(connection_from(request, answer, services.get(service_id or "")))
    return sorted(listed, key=lambda c: (c.made_on or date.min, c.service_name, c.task_id))


def connections_of(access: CareRecordAccess, referral_id: str) -> list[Connection]:
    """The referral's onward connections the asker may see, oldest first."""
    check_id(referral_id, "referral")
    return _connections(access, [("based-on", f"ServiceRequest/{referral_id}")])


def connections_to_reroute(access: CareRecordAccess) -> list[Connection]:
    """Every open connection the asker may see whose service has closed: the people to
    connect somewhere else."""
    open_ones = _connections(access, [("status", "active")])
    return [c for c in open_ones if c.needs_rerouting]


# -- connecting -----------------------------------------------------------------------------------


def _service(tx: StoreTransaction, service_id: str) -> tuple[dict[str, Any], CommunityService]:
    check_id(service_id, "service")
    found = read_in(tx, "HealthcareService", service_id)
    if found is None:
        raise PathwayProblem(f"There is no service {service_id} in the directory", "service")
    service = service_from(found)
    if not service.active:
        raise NotAtThisStage(
            f"{service.name} closed on {day_words(service.closed_on)}: choose another service",
            "service",
        )
    return found, service


def connection_request(
    referral: Referral,
    service: CommunityService,
    writer: Writer,
    when: str,
    note: str,
) -> dict[str, Any]:
    """The ServiceRequest of a connection (pure, so tests and imports can build one)."""
    categories = [
        codes.concept(*codes.REFERRAL_CATEGORY, "Patient referral"),
        codes.concept(*ONWARD_CONNECTION, "Onward connection from social prescribing"),
    ]
    seen: set[str] = set()
    for need in service.needs:
        number, display = NEED_SERVICE_CATEGORY[need]
        if number not in seen:
            seen.add(number)
            categories.append(codes.concept(SERVICE_CATEGORY, number, display))
    categories += [codes.concept(NEED_SYSTEM, need, NEEDS[need]) for need in service.needs]
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "basedOn": [{"reference": f"ServiceRequest/{referral.id}"}],
        "status": "active",
        "intent": "order",
        "category": categories,
        "priority": "routine",
        "code": {
            "coding": [
                codes.coding(
                    CONNECTION_CODE_SYSTEM, "community-service", "Connection to a community service"
                )
            ],
            "text": service.name,
        },
        "subject": {"reference": f"Patient/{referral.patient_id}"},
        "authoredOn": when,
        "requester": dict(writer.reference),
        "performer": [{"reference": f"HealthcareService/{service.id}", "display": service.name}],
    }
    if note:
        request["note"] = [annotation(writer, when, note)]
    return request


def _connect(
    tx: StoreTransaction,
    referral: Referral,
    service_id: str,
    writer: Writer,
    note: str,
    token: str,
) -> ConnectionMade:
    resource, service = _service(tx, service_id)
    for existing in _open_connections(tx, referral.id):
        if (
            referenced_id((existing.get("performer") or [None])[0], "HealthcareService")
            == service_id
        ):
            raise NotAtThisStage(
                f"This person already has an open connection to {service.name}", "service"
            )
    when = now_instant()
    request = connection_request(referral, service, writer, when, note)
    request["identifier"] = [submission_identifier(token)]
    made = tx.create(request, if_none_exist=if_none_exist(token))
    provider = resource.get("providedBy") or {
        "reference": f"Organization/{service.organisation_id}"
    }
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [submission_identifier(token)],
        "partOf": [{"reference": f"Task/{referral.task_id}"}],
        "status": "requested",
        "businessStatus": outcome("waiting"),
        "intent": "order",
        "priority": "routine",
        "code": codes.concept(*codes.FULFIL, "Fulfill the focal request"),
        "description": f"Connection: {service.name}",
        "focus": {"reference": f"ServiceRequest/{made.stored.id}"},
        "for": {"reference": f"Patient/{referral.patient_id}"},
        "authoredOn": when,
        "lastModified": when,
        "requester": dict(writer.reference),
        "owner": copy.deepcopy(provider),
        "note": [annotation(writer, when, "Connection made")],
    }
    answered = tx.create(task, if_none_exist=if_none_exist(token))
    plan = ensure_plan(tx, referral, writer)
    current = tx.read("CarePlan", str(plan["id"])).as_dict()
    target = f"ServiceRequest/{made.stored.id}"
    activities = current.get("activity") or []
    if not any((a.get("reference") or {}).get("reference") == target for a in activities):
        body = without_meta(current)
        body["activity"] = [
            *activities,
            {"reference": {"reference": target, "display": service.name}},
        ]
        tx.update("CarePlan", str(plan["id"]), stamp(body, writer), if_match=version_of(current))
    moved = advanced(referral.task, "connected")
    if moved is not None and made.created:
        moved["lastModified"] = when
        moved.setdefault("note", []).append(
            annotation(writer, when, f"Connected to {service.name}")
        )
        tx.update("Task", referral.task_id, without_meta(moved), if_match=version_of(referral.task))
    return ConnectionMade(made.stored.id, answered.stored.id, made.created)


def _open_connections(tx: StoreTransaction, referral_id: str) -> list[dict[str, Any]]:
    """The referral's connections whose Task has not reached a final outcome."""
    system, code = ONWARD_CONNECTION
    requests = read_all(
        tx,
        "ServiceRequest",
        [
            ("based-on", f"ServiceRequest/{referral_id}"),
            ("category", f"{system}|{code}"),
            ("status", "active"),
        ],
    )
    still_open = []
    for request in requests:
        tasks = read_all(tx, "Task", [("focus", f"ServiceRequest/{request['id']}")])
        if any(outcome_of(t) not in FINAL_OUTCOMES for t in tasks):
            still_open.append(request)
    return still_open


def settle_requests(tx: StoreTransaction, referral_id: str) -> None:
    """Complete (attended) or revoke (any other final outcome) the ServiceRequests of
    connections whose Task ended while the request stayed active: a volunteer records
    outcomes on the Task, but their role may not change a ServiceRequest."""
    system, code = ONWARD_CONNECTION
    requests = read_all(
        tx,
        "ServiceRequest",
        [
            ("based-on", f"ServiceRequest/{referral_id}"),
            ("category", f"{system}|{code}"),
            ("status", "active"),
        ],
    )
    for request in requests:
        tasks = read_all(tx, "Task", [("focus", f"ServiceRequest/{request['id']}")])
        outcomes = {outcome_of(t) for t in tasks}
        if outcomes and outcomes <= FINAL_OUTCOMES:
            body = without_meta(request)
            body["status"] = "completed" if "attended" in outcomes else "revoked"
            tx.update("ServiceRequest", str(request["id"]), body, if_match=version_of(request))


def connect(
    access: CareRecordAccess,
    referral_id: str,
    service_id: str,
    *,
    note: str = "",
    token: str,
) -> ConnectionMade:
    """Connect the person to a directory service (the module docstring says what is written).
    A closed service, or one the person already has an open connection to, is refused."""
    check_token(token)
    words = note.strip()
    if len(words) > MAXIMUM_TEXT_LENGTH:
        raise PathwayProblem(
            f"The note must be {MAXIMUM_TEXT_LENGTH:,} characters or fewer", "note"
        )
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> ConnectionMade:
        referral = referral_in(tx, referral_id)
        require_service(access, tx, referral)
        done = tx.find_ids("ServiceRequest", if_none_exist(token))
        if done:
            tasks = tx.find_ids("Task", if_none_exist(token))
            return ConnectionMade(done[0], tasks[0] if tasks else "", False)
        require_open_episode(referral, "connect them to a service")
        return _connect(tx, referral, service_id, writer, words, token)

    try:
        result: ConnectionMade = access.write("create", "ServiceRequest", work)
    except VersionConflict:
        raise ChangedMeanwhile() from None
    return result


# -- outcomes -------------------------------------------------------------------------------------


def _connection_in(tx: StoreTransaction, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    check_id(task_id, "connection")
    task = read_in(tx, "Task", task_id)
    request_id = referenced_id((task or {}).get("focus"), "ServiceRequest")
    request = read_in(tx, "ServiceRequest", request_id) if request_id else None
    if task is None or request is None or not is_connection(request):
        raise PathwayProblem(f"There is no onward connection {task_id}")
    return task, request


def _closing(
    access: CareRecordAccess,
    tx: StoreTransaction,
    task: dict[str, Any],
    request: dict[str, Any],
    code: str,
    why: str,
    writer: Writer,
    note_words: str,
) -> None:
    """Write the connection's new outcome: its ServiceRequest first, then its Task, because
    closing the Task may end the writer's sight of the person (a volunteer's). A role that may
    not change ServiceRequests (a volunteer's) leaves it to `settle_requests`."""
    when = now_instant()
    if (
        code in FINAL_OUTCOMES
        and request.get("status") == "active"
        and _may_update_requests(access)
    ):
        body = without_meta(request)
        body["status"] = "completed" if code == "attended" else "revoked"
        tx.update("ServiceRequest", str(request["id"]), body, if_match=version_of(request))
    changed = without_meta(task)
    changed.update(
        status=OUTCOME_TASK_STATUS[code], businessStatus=outcome(code), lastModified=when
    )
    if why:
        changed["statusReason"] = {"text": why}
    else:
        changed.pop("statusReason", None)
    if code in FINAL_OUTCOMES:
        changed.setdefault("executionPeriod", {})["end"] = when
    changed.setdefault("note", []).append(annotation(writer, when, note_words))
    tx.update("Task", str(task["id"]), changed, if_match=version_of(task))


def _may_update_requests(access: CareRecordAccess) -> bool:
    try:
        access.permit("update", "ServiceRequest")
    except Forbidden:
        return False
    return True


def record_outcome(
    access: CareRecordAccess,
    connection_task_id: str,
    code: str,
    *,
    reason: str = "",
    version: int | None = None,
) -> None:
    """Record where a connection has got to: accepted, attended, declined, not reached,
    turned down (a reason is required) or withdrawn (the link worker's side only). An outcome
    that ends the connection is final."""
    if code not in OUTCOMES or code == "waiting":
        raise PathwayProblem("Select what happened with this connection", "outcome")
    why = reason.strip()
    if code == "turned-down" and not why:
        raise PathwayProblem("Enter why the service could not take them", "reason")
    if len(why) > MAXIMUM_TEXT_LENGTH:
        raise PathwayProblem(
            f"The reason must be {MAXIMUM_TEXT_LENGTH:,} characters or fewer", "reason"
        )
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> None:
        task, request = _connection_in(tx, connection_task_id)
        if version is not None and version_of(task) != version:
            raise ChangedMeanwhile()
        sides = sides_of(
            access.principal,
            task,
            lambda role_id: read_in(tx, "PractitionerRole", role_id),
            referenced_id(task.get("owner"), "Organization"),
        )
        if not (sides.receiving or sides.requesting):
            raise NotYours("Only the service or the link worker's team can record this")
        if code == "withdrawn" and not sides.requesting:
            raise NotYours("Only the link worker's team can withdraw a connection")
        current = outcome_of(task)
        if current in FINAL_OUTCOMES:
            raise NotAtThisStage(f"This connection has already ended: {OUTCOMES[current].lower()}")
        if current == code:
            raise NotAtThisStage(f"This connection is already recorded as {OUTCOMES[code].lower()}")
        words = OUTCOMES[code] + (f": {why}" if why else "")
        _closing(access, tx, task, request, code, why, writer, words)

    try:
        access.write("update", f"Task/{connection_task_id}", work)
    except VersionConflict:
        raise ChangedMeanwhile() from None


def reroute(
    access: CareRecordAccess,
    connection_task_id: str,
    service_id: str,
    *,
    token: str,
    version: int | None = None,
) -> ConnectionMade:
    """Withdraw a connection (its service has closed, or it no longer suits) and connect the
    person to `service_id` instead, in one transaction; returns the new connection."""
    check_token(token)
    writer = writer_of(access)

    def work(tx: StoreTransaction) -> ConnectionMade:
        task, request = _connection_in(tx, connection_task_id)
        if version is not None and version_of(task) != version:
            raise ChangedMeanwhile()
        referral_id = next(
            (
                i
                for i in (referenced_id(b, "ServiceRequest") for b in request.get("basedOn") or ())
                if i
            ),
            None,
        )
        if referral_id is None:
            raise PathwayProblem("This connection is not part of a social prescribing referral")
        referral = referral_in(tx, referral_id)
        require_service(access, tx, referral)
        require_open_episode(referral, "connect them to a service")
        if outcome_of(task) in FINAL_OUTCOMES:
            raise NotAtThisStage(
                "This connection has already ended: connect the person anew instead"
            )
        _, new_service = _service(tx, service_id)
        old = read_in(
            tx,
            "HealthcareService",
            referenced_id((request.get("performer") or [None])[0], "HealthcareService") or "",
        )
        old_service = service_from(old) if old else None
        why = f"Re-routed to {new_service.name}"
        if old_service is not None and not old_service.active:
            closed = day_words(old_service.closed_on)
            why = f"{old_service.name} closed on {closed}; re-routed to {new_service.name}"
        made = _connect(tx, referral, service_id, writer, "", token)
        _closing(access, tx, task, request, "withdrawn", why, writer, f"Withdrawn: {why}")
        return made

    try:
        result: ConnectionMade = access.write("create", "ServiceRequest", work)
    except VersionConflict:
        raise ChangedMeanwhile() from None
    return result
