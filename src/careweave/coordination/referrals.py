"""Referrals between organisations: asking another team to take something on for a person,
and following it until it is done, turned down, or withdrawn.

A referral is a ServiceRequest (what is asked, of whom, why) and a Task (the work of answering
it), written together in one transaction (docs/care-coordination.md). The receiving team
accepts, rejects with a reason, starts and completes the Task; the referrer may cancel it, and
must close a rejected referral themselves, so nothing is silently dropped: until they do, it
stays on their list as a rejected referral that needs action.

Who may see the person follows from these resources (docs/access-model.md): the open
ServiceRequest and Task give the receiving team their relationship. Accepting a referral starts
the receiving service's involvement, an active EpisodeOfCare managed by the receiving
organisation (their caseload entry), so the team still sees the person once the task is done;
the store refuses any write after which the writer could no longer see what they wrote.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.access.principal import Principal
from careweave.coordination import codes
from careweave.coordination.discharge import DischargeProblem, discharge_to_refer_from
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
from careweave.coordination.tasks import (
    CLOSED_STATUSES,
    MAXIMUM_TEXT_LENGTH,
    RECEIVING_ACTIONS,
    REQUESTING_ACTIONS,
    WAITING_STATUSES,
    ChangedSinceOpened,
    DetailNeeded,
    NotNow,
    NotYourSide,
    TaskAction,
    TaskSummary,
    actions_open_to,
    describe,
    due_date,
    is_open,
    is_overdue,
    is_referral,
    next_status,
    noun_for,
    organisation_acting,
    side_refusal,
    sides_of,
    tasks_for_person,
)
from careweave.fhir.errors import Forbidden, Gone, NotFound, VersionConflict
from careweave.fhir.resource_types import is_fhir_id
from careweave.store.database import as_utc
from careweave.store.repository import StoreTransaction
from careweave.uk_time import uk_day

OPEN_REFERRAL_STATUSES: Final = frozenset({"draft", "active", "on-hold"})
"""ServiceRequest statuses in which a referral still asks something of someone."""
PRIORITIES: Final[Mapping[str, str]] = {"routine": "Routine", "urgent": "Urgent"}
"""R4 request-priority codes a referral may have, and how people say them."""
CLOSED_BY_REFERRER: Final = "Closed by the referrer"
REJECTED_NEEDS_ACTION: Final = "Rejected \u2013 needs action"
REJECTED_CLOSED: Final = "Rejected \u2013 closed"
_FINISHED_WORDS: Final = frozenset({"Completed", "Cancelled", "Closed", REJECTED_CLOSED})
OUTCOME: Final = "Outcome"
_TOKEN = re.compile(r"[0-9a-f]{32}")


# -- the services people refer to --------------------------------------------------------------


@dataclass(frozen=True)
class ReferralService:
    """A service that can be referred to: its code for ServiceRequest.code, and which kind of
    organisation usually provides it (a hint on the form; any organisation may be chosen)."""

    key: str
    name: str
    system: str
    code: str
    display: str
    usually_from: str

    def concept(self) -> dict[str, Any]:
        return {
            "coding": [codes.coding(self.system, self.code, self.display)],
            "text": self.name,
        }


def _local(key: str, name: str, usually_from: str) -> ReferralService:
    """A service with a careweave code (no checked SNOMED CT code was found for it)."""
    return ReferralService(
        key, name, codes.REFERRAL_SERVICE, key, f"Referral to {name.lower()}", usually_from
    )


SERVICES: Final[tuple[ReferralService, ...]] = (
    # SNOMED CT 306238000 |Referral to social services|: in the FHIR STU3 referral-type value
    # set expansion (fhir-typescript/fhir-typescript core/r3/dist/fhirValueSets/
    # ReferralTypeCodes.d.ts) and in the German MII oncology profiles' social services code.
    ReferralService(
        "social-care-assessment",
        "Social care assessment",
        codes.SNOMED,
        "306238000",
        "Referral to social services",
        "Usually the council's adult social care team (a Care Act needs assessment)",
    ),
    # SNOMED CT 308436005 |Refer to district nurse|: FHIR STU3 referral-type value set
    # expansion (as above); "Referral to district nurse" is the term UK practices record.
    ReferralService(
        "community-nursing",
        "Community nursing",
        codes.SNOMED,
        "308436005",
        "Refer to district nurse",
        "Usually the community health trust's district nursing team",
    ),
    # No SNOMED CT "Referral to falls service" concept was found in a public codelist (the
    # eFI falls codelist has only the Read v2 code 8Hk1.), so the code is careweave's own.
    _local(
        "falls-service",
        "Falls service",
        "Usually the community health trust's falls prevention service",
    ),
    ReferralService(
        "social-prescribing",
        "Social prescribing",
        *codes.SOCIAL_PRESCRIBING_REFERRAL,
        "Referral to social prescribing service",
        "Usually a link worker at the practice or primary care network, or a voluntary "
        "organisation",
    ),
    # SNOMED CT 308453003 |Referral to occupational therapist|: in the VSAC eCQM "Referral"
    # value set (2.16.840.1.113883.3.464.1003.101.12.1046) and the FHIR STU3 referral-type
    # value set expansion (as above).
    ReferralService(
        "occupational-therapy",
        "Occupational therapy",
        codes.SNOMED,
        "308453003",
        "Referral to occupational therapist",
        "Usually the council or the community health trust (equipment and adaptations at home)",
    ),
    # No SNOMED CT "Referral to care home" concept was found in a public codelist.
    _local(
        "care-home",
        "Care home",
        "Usually a care home; the council arranges placements it funds",
    ),
    # SNOMED CT 306205009 |Referral to hospice|: FHIR STU3 referral-type value set expansion
    # (as above).
    ReferralService(
        "hospice",
        "Hospice",
        codes.SNOMED,
        "306205009",
        "Referral to hospice",
        "Usually the local hospice (specialist palliative and end of life care)",
    ),
)
SERVICE_BY_KEY: Final[Mapping[str, ReferralService]] = {s.key: s for s in SERVICES}


def service_of(concept: Any) -> ReferralService | None:
    """The service a ServiceRequest.code names, if it is one of ours."""
    for service in SERVICES:
        if codes.has_code(concept, service.system, service.code):
            return service
    return None


def service_words(concept: Any) -> str:
    """What a ServiceRequest.code asks for, in words people use."""
    service = service_of(concept)
    if service is not None:
        return service.name
    if isinstance(concept, dict):
        if isinstance(concept.get("text"), str) and concept["text"].strip():
            return str(concept["text"]).strip()
        for coding in concept.get("coding") or ():
            if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                return str(coding["display"])
    return "Referral"


# -- making a referral -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralProblem:
    """One thing wrong with a referral as asked for; `field` is the form field it is about."""

    field: str | None
    message: str


class InvalidReferral(Exception):  # noqa: N818 - a refusal shown to the person who asked
    """The referral cannot be made as asked; nothing was saved."""

    def __init__(self, problems: Sequence[ReferralProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class ReferralMade:
    """The referral's ServiceRequest and Task; `created` is False when the same form had
    already been sent (a double submit finds the first referral)."""

    service_request_id: str
    task_id: str
    created: bool


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str


def organisations(access: CareRecordAccess) -> list[Organisation]:
    """Every organisation in the directory, by name: anyone may be referred to."""
    found = find(access, "Organization", [("_sort", "name")])
    listed = [
        Organisation(str(o["id"]), str(o.get("name") or o["id"]))
        for o in found
        if o.get("active") is not False
    ]
    return sorted(listed, key=lambda o: (o.name.casefold(), o.id))


def check_referral(
    access: CareRecordAccess,
    service: str,
    organisation_id: str,
    reason: str,
    priority: str,
    respond_by: date | None,
) -> list[ReferralProblem]:
    """Everything wrong with a referral as asked for (empty when it can be made)."""
    problems: list[ReferralProblem] = []
    if service not in SERVICE_BY_KEY:
        problems.append(ReferralProblem("service", "Select the service you are referring to"))
    if not organisation_id.strip():
        problems.append(
            ReferralProblem("organisation", "Select the organisation you are referring to")
        )
    elif not is_fhir_id(organisation_id) or (
        read_or_none(access, "Organization", organisation_id) is None
    ):
        problems.append(ReferralProblem("organisation", "Select an organisation from the list"))
    text = reason.strip()
    if not text:
        problems.append(ReferralProblem("reason", "Enter why you are making this referral"))
    elif len(text) > MAXIMUM_TEXT_LENGTH:
        problems.append(
            ReferralProblem("reason", f"Reason must be {MAXIMUM_TEXT_LENGTH:,} characters or fewer")
        )
    if priority not in PRIORITIES:
        problems.append(ReferralProblem("priority", "Select how urgent this referral is"))
    if respond_by is None:
        problems.append(ReferralProblem("respond_by", "Enter the date to respond by"))
    elif respond_by < today():
        problems.append(
            ReferralProblem("respond_by", "The date to respond by must be today or in the future")
        )
    return problems


def _actor(principal: Principal) -> dict[str, Any]:
    """A Reference to the person acting: their post, else their organisation."""
    if principal.practitioner_role_id:
        return {
            "reference": f"PractitionerRole/{principal.practitioner_role_id}",
            "display": principal.display_name,
        }
    if principal.organisation_id:
        return {"reference": f"Organization/{principal.organisation_id}"}
    raise InvalidReferral(
        [
            ReferralProblem(
                None,
                "Your account is not linked to an organisation, so you cannot make or "
                "answer referrals. Ask your administrator to check it.",
            )
        ]
    )


def make_referral(
    access: CareRecordAccess,
    patient_id: str,
    service: str,
    organisation_id: str,
    reason: str,
    priority: str,
    respond_by: date | None,
    token: str,
    part_of: str | None = None,
) -> ReferralMade:
    """Refer the person to `service` at the organisation, in one transaction.

    `part_of` is the discharge-to-assess Task the referral is made from: the referral's Task
    is then `partOf` it, so the discharge shows what it waits for (it must be an open
    discharge of the same person that the asker may see).

    Submitting the same form again (the same one-time `token`) finds the first referral and
    creates nothing. InvalidReferral says what is wrong; Forbidden that the person is not one
    the asker may see or that their role does not record referrals (nothing is saved)."""
    problems = check_referral(access, service, organisation_id, reason, priority, respond_by)
    if part_of is not None:
        try:
            discharge_to_refer_from(access, part_of, patient_id)
        except DischargeProblem as exc:
            problems.append(ReferralProblem(None, str(exc)))
    if not _TOKEN.fullmatch(token):
        problems.append(
            ReferralProblem(None, "This form was not sent as expected: open it again and retry")
        )
    if problems:
        raise InvalidReferral(problems)
    assert respond_by is not None
    chosen = SERVICE_BY_KEY[service]
    principal = access.principal
    requester = _actor(principal)
    receiving = read(access, "Organization", organisation_id)
    performer = {"reference": f"Organization/{organisation_id}"}
    if isinstance(receiving.get("name"), str):
        performer["display"] = receiving["name"]
    now = now_instant()
    subject = {"reference": f"Patient/{patient_id}"}
    service_request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [submission_identifier(token)],
        "status": "active",
        "intent": "order",
        "category": [codes.concept(*codes.REFERRAL_CATEGORY, "Patient referral")],
        "priority": priority,
        "code": chosen.concept(),
        "subject": subject,
        "authoredOn": now,
        "requester": requester,
        "performer": [performer],
        "reasonCode": [{"text": reason.strip()}],
    }

    def work(tx: StoreTransaction) -> ReferralMade:
        made = tx.create(service_request, if_none_exist=if_none_exist(token))
        request_id = made.stored.id
        if (
            not made.created
            and referenced_id(made.stored.as_dict().get("subject"), "Patient") != patient_id
        ):
            raise InvalidReferral(
                [ReferralProblem(None, "This form has already been used: open it again")]
            )
        task: dict[str, Any] = {
            "resourceType": "Task",
            "identifier": [submission_identifier(token)],
            "status": "requested",
            "intent": "order",
            "priority": priority,
            "code": codes.concept(*codes.FULFIL, "Fulfill the focal request"),
            "description": f"Referral: {chosen.name.lower()}",
            "focus": {"reference": f"ServiceRequest/{request_id}"},
            "for": subject,
            "authoredOn": now,
            "lastModified": now,
            "requester": requester,
            "owner": performer,
            "restriction": {"period": {"end": respond_by.isoformat()}},
            "note": [{"authorReference": requester, "time": now, "text": "Referral made"}],
        }
        if part_of is not None:
            task["partOf"] = [{"reference": f"Task/{part_of}"}]
        answered = tx.create(task, if_none_exist=if_none_exist(token))
        return ReferralMade(request_id, answered.stored.id, made.created)

    return access.write("create", "ServiceRequest", work)


# -- acting on a referral or task ---------------------------------------------------------------


def _read_in(tx: StoreTransaction, resource_type: str, resource_id: str) -> dict[str, Any] | None:
    try:
        return tx.read(resource_type, resource_id).as_dict()
    except (NotFound, Gone):
        return None


def _note(actor: dict[str, Any], now: str, text: str) -> dict[str, Any]:
    return {"authorReference": actor, "time": now, "text": text}


def _typed_text(text: str, *, required: str | None, field: str) -> str:
    """A reason or outcome as typed: trimmed, required when `required` says what to ask."""
    value = text.strip()
    if required and not value:
        raise DetailNeeded(required, field)
    if len(value) > MAXIMUM_TEXT_LENGTH:
        raise DetailNeeded(f"This must be {MAXIMUM_TEXT_LENGTH:,} characters or fewer", field)
    return value


def _episode_for(
    tx: StoreTransaction,
    access: CareRecordAccess,
    patient_id: str | None,
    organisation_id: str | None,
    request: Mapping[str, Any] | None,
) -> None:
    """Start the receiving service's involvement with the person: an active EpisodeOfCare
    managed by the receiving organisation, unless it already has one for them. It keeps the
    team's relationship with the person once the referral's task is closed."""
    if patient_id is None or organisation_id is None:
        return
    try:
        access.permit("create", "EpisodeOfCare")
    except Forbidden:
        return  # a role that cannot record episodes (a volunteer) keeps the task's link only
    if tx.find_ids(
        "EpisodeOfCare",
        f"patient=Patient/{patient_id}&organization=Organization/{organisation_id}&status=active",
        limit=1,
    ):
        return
    episode: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "patient": {"reference": f"Patient/{patient_id}"},
        "managingOrganization": {"reference": f"Organization/{organisation_id}"},
        "period": {"start": today().isoformat()},
    }
    if request is not None:
        if isinstance(request.get("code"), dict):
            episode["type"] = [copy.deepcopy(request["code"])]
        episode["referralRequest"] = [{"reference": f"ServiceRequest/{request['id']}"}]
    tx.create(episode)


def _cancel_episodes_from(tx: StoreTransaction, request_id: str) -> None:
    """A referral accepted and then rejected: the episode its acceptance started never
    became care, so it is cancelled (an episode that was already running is left alone)."""
    for episode_id in tx.find_ids(
        "EpisodeOfCare",
        f"incoming-referral=ServiceRequest/{request_id}&status=active",
        limit=10,
    ):
        episode = _read_in(tx, "EpisodeOfCare", episode_id)
        if episode is None:
            continue
        changed = copy.deepcopy(episode)
        changed["status"] = "cancelled"
        changed.setdefault("period", {})["end"] = today().isoformat()
        tx.update("EpisodeOfCare", episode_id, changed, if_match=version_of(episode))


def _update_request(
    tx: StoreTransaction,
    request: Mapping[str, Any],
    status: str,
    note: dict[str, Any] | None = None,
) -> None:
    changed = copy.deepcopy(dict(request))
    changed["status"] = status
    if note is not None:
        changed.setdefault("note", []).append(note)
    tx.update("ServiceRequest", str(request["id"]), changed, if_match=version_of(dict(request)))


def take_action(
    access: CareRecordAccess,
    task_id: str,
    action: TaskAction,
    *,
    version: int | None,
    reason: str = "",
    outcome: str = "",
) -> dict[str, Any]:
    """Do `action` to a task (a referral's, or any other) as the signed-in person, in one
    transaction with what it means for the referral: completing completes the ServiceRequest,
    cancelling or closing revokes it, accepting starts the receiving team's episode of care.

    `version` is the task's version the page showed: a different current version raises
    ChangedSinceOpened and saves nothing. Other refusals are TaskProblems with plain messages;
    a task the person may not see is NotFound. Returns the task as saved."""
    principal = access.principal

    def work(tx: StoreTransaction) -> dict[str, Any]:
        task = tx.read("Task", task_id).as_dict()
        noun = noun_for(task)
        if version is not None and version_of(task) != version:
            raise ChangedSinceOpened()
        request_id = referenced_id(task.get("focus"), "ServiceRequest")
        request = (
            _read_in(tx, "ServiceRequest", request_id)
            if is_referral(task) and (request_id)
            else None
        )
        receiving_org = _receiving_organisation(request)
        sides = sides_of(
            principal, task, lambda rid: _read_in(tx, "PractitionerRole", rid), receiving_org
        )
        if action in RECEIVING_ACTIONS and not sides.receiving:
            raise NotYourSide(side_refusal(action, noun))
        if action in REQUESTING_ACTIONS and not sides.requesting:
            raise NotYourSide(side_refusal(action, noun))
        actor = _actor(principal)
        now = now_instant()
        changed = copy.deepcopy(task)
        changed["lastModified"] = now
        notes = changed.setdefault("note", [])
        patient_id = referenced_id(task.get("for"), "Patient")
        episode_org = receiving_org or referenced_id(task.get("owner"), "Organization")

        if action is TaskAction.ACCEPT:
            changed["status"] = next_status(task, action)
            changed.pop("statusReason", None)
            notes.append(_note(actor, now, "Accepted"))
            if request is not None:
                _episode_for(tx, access, patient_id, episode_org, request)
        elif action is TaskAction.REJECT:
            changed["status"] = next_status(task, action)
            why = _typed_text(
                reason, required=f"Enter why you are rejecting this {noun}", field="reason"
            )
            changed["statusReason"] = {"text": why}
            notes.append(_note(actor, now, f"Rejected: {why}"))
            if request is not None:
                _cancel_episodes_from(tx, str(request["id"]))
        elif action is TaskAction.START:
            changed["status"] = next_status(task, action)
            notes.append(_note(actor, now, "Started"))
            if request is not None:
                _episode_for(tx, access, patient_id, episode_org, request)
        elif action is TaskAction.COMPLETE:
            changed["status"] = next_status(task, action)
            result = _typed_text(outcome, required=None, field="outcome")
            if result:
                changed["output"] = [{"type": {"text": OUTCOME}, "valueString": result}]
            notes.append(_note(actor, now, f"Completed: {result}" if result else "Completed"))
            if request is not None:
                _episode_for(tx, access, patient_id, episode_org, request)
                if request.get("status") in OPEN_REFERRAL_STATUSES:
                    _update_request(tx, request, "completed")
        elif action is TaskAction.ASSIGN_TO_ME:
            if not principal.practitioner_role_id:
                raise NotYourSide(
                    "Your account is not linked to a post in the staff directory, so nothing "
                    "can be assigned to you"
                )
            if not is_open(task):
                raise NotNow(f"This {noun} is closed: it cannot be assigned")
            if sides.assigned_to_them:
                raise NotNow(f"This {noun} is already assigned to you")
            changed["owner"] = actor
            notes.append(_note(actor, now, f"Assigned to {principal.display_name}"))
        elif action is TaskAction.CANCEL:
            changed["status"] = next_status(task, action)
            why = _typed_text(reason, required=None, field="reason")
            if why:
                changed["statusReason"] = {"text": why}
            notes.append(_note(actor, now, f"Cancelled: {why}" if why else "Cancelled"))
            if request is not None and request.get("status") in OPEN_REFERRAL_STATUSES:
                _update_request(tx, request, "revoked")
        elif action is TaskAction.CLOSE:
            if task.get("status") != "rejected" or request is None:
                raise NotNow(f"Only a rejected {noun} can be closed")
            if request.get("status") not in OPEN_REFERRAL_STATUSES:
                raise NotNow("This referral has already been closed")
            rejected_because = _status_reason(task) or "no reason given"
            by = _display(task.get("owner")) or "the receiving team"
            _update_request(
                tx,
                request,
                "revoked",
                _note(actor, now, f"Rejected by {by}: {rejected_because}. Closed by the referrer."),
            )
            changed["businessStatus"] = {"text": CLOSED_BY_REFERRER}
            notes.append(_note(actor, now, "Closed"))
        tx.update("Task", task_id, changed, if_match=version_of(task))
        return changed

    try:
        return access.write("update", f"Task/{task_id}", work)
    except VersionConflict:
        raise ChangedSinceOpened() from None


def _receiving_organisation(request: Mapping[str, Any] | None) -> str | None:
    if request is None:
        return None
    performers = request.get("performer") or []
    return referenced_id(performers[0], "Organization") if performers else None


def _status_reason(task: Mapping[str, Any]) -> str | None:
    reason = task.get("statusReason")
    text = reason.get("text") if isinstance(reason, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def _display(reference: Any) -> str | None:
    display = reference.get("display") if isinstance(reference, dict) else None
    return display if isinstance(display, str) and display.strip() else None


def _outcome(task: Mapping[str, Any]) -> str | None:
    for output in task.get("output") or ():
        if isinstance(output, dict) and isinstance(output.get("valueString"), str):
            return str(output["valueString"])
    return None


# -- how referrals and tasks read --------------------------------------------------------------


def status_words(
    task_status: str | None, request_status: str | None, referral: bool
) -> tuple[str, str]:
    """A referral's or task's status in plain words, with the NHS.UK tag colour to show it in.

    A rejected referral whose ServiceRequest is still active "needs action": its referrer
    must close it (or refer elsewhere)."""
    if task_status is None:
        # A ServiceRequest from another system, with no Task (yet).
        if request_status in OPEN_REFERRAL_STATUSES:
            return "Waiting for a response", "blue"
        return {
            "completed": ("Completed", "green"),
            "revoked": ("Cancelled", "grey"),
        }.get(request_status or "", ("Closed", "grey"))
    if task_status in WAITING_STATUSES:
        return ("Waiting for a response", "blue") if referral else ("To do", "blue")
    if task_status == "rejected":
        if not referral:
            return "Rejected", "orange"
        if request_status in OPEN_REFERRAL_STATUSES:
            return REJECTED_NEEDS_ACTION, "red"
        return REJECTED_CLOSED, "grey"
    return {
        "accepted": ("Accepted", "aqua-green"),
        "in-progress": ("In progress", "aqua-green"),
        "completed": ("Completed", "green"),
        "cancelled": ("Cancelled", "grey"),
        "failed": ("Could not be done", "orange"),
        "entered-in-error": ("Entered in error", "grey"),
    }.get(task_status, (task_status.replace("-", " ").capitalize(), "grey"))


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) <= 10:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ReferralSummary:
    """One referral made for a person, as their referrals page lists it."""

    service_request_id: str
    task_id: str | None
    service: str
    to_organisation_id: str | None
    to_organisation: str | None
    made_on: date | None
    made_by: str | None
    priority: str
    status: str
    colour: str
    due: date | None
    overdue: bool
    needs_action: bool


def referrals_for_person(
    access: CareRecordAccess, patient_id: str, on: date | None = None
) -> list[ReferralSummary]:
    """The referrals made for the person that the asker may see, those needing action and
    still open first, newest first within each."""
    day = on or today()
    requests = find(
        access,
        "ServiceRequest",
        [
            ("patient", f"Patient/{patient_id}"),
            ("category", f"{codes.SNOMED}|{codes.REFERRAL_CATEGORY[1]}"),
        ],
    )
    tasks_by_request: dict[str, dict[str, Any]] = {}
    for task in find(access, "Task", [("patient", f"Patient/{patient_id}")]):
        request_id = referenced_id(task.get("focus"), "ServiceRequest")
        if request_id is None or not is_referral(task):
            continue
        earlier = tasks_by_request.get(request_id)
        if earlier is None or str(task.get("authoredOn", "")) > str(earlier.get("authoredOn", "")):
            tasks_by_request[request_id] = task
    listed: list[tuple[str, ReferralSummary]] = []
    for request in requests:
        answer = tasks_by_request.get(str(request["id"]))
        task_status = str(answer["status"]) if answer and answer.get("status") else None
        words, colour = status_words(task_status, request.get("status"), True)
        performers = request.get("performer") or [None]
        summary = ReferralSummary(
            service_request_id=str(request["id"]),
            task_id=str(answer["id"]) if answer else None,
            service=service_words(request.get("code")),
            to_organisation_id=referenced_id(performers[0], "Organization"),
            to_organisation=_display(performers[0]),
            made_on=uk_day(request.get("authoredOn")),
            made_by=_display(request.get("requester")),
            priority=PRIORITIES.get(str(request.get("priority")), "Routine"),
            status=words,
            colour=colour,
            due=due_date(answer) if answer else None,
            overdue=is_overdue(answer, day) if answer else False,
            needs_action=colour == "red",
        )
        listed.append((str(request.get("authoredOn") or ""), summary))
    newest_first = [s for _, s in sorted(listed, key=lambda pair: pair[0], reverse=True)]
    return sorted(
        newest_first,
        key=lambda s: (not s.needs_action, s.status in _FINISHED_WORDS),
    )


def other_open_tasks(
    access: CareRecordAccess, patient_id: str, on: date | None = None
) -> list[TaskSummary]:
    """The person's open tasks that are not referrals (care plan actions, checks, replies)."""
    return [
        t
        for t in tasks_for_person(access, patient_id, on)
        if not t.is_referral and t.status not in CLOSED_STATUSES
    ]


@dataclass(frozen=True)
class HistoryEntry:
    """One change in a task's life: when, what, who, and any words they gave."""

    at: datetime
    what: str
    who: str | None
    detail: str | None


@dataclass(frozen=True)
class TaskDetails:
    """A task (or referral) as its page shows it, to either side."""

    id: str
    version: int
    person_id: str | None
    is_referral: bool
    title: str
    reason: str | None
    priority: str
    made_by: str | None
    made_by_organisation_id: str | None
    owner: str | None
    receiving_organisation_id: str | None
    made_at: datetime | None
    due: date | None
    overdue: bool
    status: str
    status_words: str
    colour: str
    rejection_reason: str | None
    cancel_reason: str | None
    outcome: str | None
    closed_by_referrer: bool
    history: tuple[HistoryEntry, ...]
    actions: tuple[TaskAction, ...]


_EVENTS: Final[Mapping[str, str]] = {
    "received": "Received",
    "accepted": "Accepted",
    "in-progress": "Started",
    "completed": "Completed",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "failed": "Marked as not done",
    "entered-in-error": "Marked as entered in error",
    "on-hold": "Put on hold",
    "requested": "Asked for",
}


def _history(access: CareRecordAccess, task_id: str) -> tuple[HistoryEntry, ...]:
    """The task's changes, oldest first, from its version history: what changed in each
    version, and who changed it (the note their change added)."""
    page = access.history("Task", task_id, f"Task/{task_id}/_history", count=200)
    versions = sorted(
        (v for v in page.versions if v.content is not None), key=lambda v: v.version_id
    )
    entries: list[HistoryEntry] = []
    previous: dict[str, Any] | None = None
    for stored in versions:
        current = stored.as_dict()
        notes = [n for n in current.get("note") or () if isinstance(n, dict)]
        earlier_notes = len((previous or {}).get("note") or ())
        added = notes[earlier_notes:] if len(notes) > earlier_notes else []
        who = None
        if added:
            author = added[-1].get("authorReference")
            who = _display(author) or added[-1].get("authorString") or None
        status = str(current.get("status") or "")
        detail = None
        if previous is None:
            what = "Referral made" if is_referral(current) else "Task created"
            who = who or _display(current.get("requester"))
        elif status != previous.get("status"):
            what = _EVENTS.get(status, status.replace("-", " ").capitalize())
            if status in ("rejected", "cancelled"):
                detail = _status_reason(current)
            elif status == "completed":
                detail = _outcome(current)
        elif current.get("owner") != previous.get("owner"):
            what = f"Assigned to {_display(current.get('owner')) or 'someone else'}"
        elif current.get("businessStatus") != previous.get("businessStatus"):
            business = current.get("businessStatus")
            text = business.get("text") if isinstance(business, dict) else None
            what = "Closed" if text == CLOSED_BY_REFERRER else str(text or "Updated")
        else:
            what = "Updated"
        entries.append(HistoryEntry(as_utc(stored.last_updated), what, who, detail))
        previous = current
    return tuple(entries)


def task_details(access: CareRecordAccess, task_id: str, on: date | None = None) -> TaskDetails:
    """The task and what the signed-in person may do to it (NotFound when they may not see
    it)."""
    day = on or today()
    task = read(access, "Task", task_id)
    referral = is_referral(task)
    request_id = referenced_id(task.get("focus"), "ServiceRequest")
    request = (
        read_or_none(access, "ServiceRequest", request_id) if referral and (request_id) else None
    )
    roles: dict[str, dict[str, Any] | None] = {}

    def read_role(role_id: str) -> dict[str, Any] | None:
        if role_id not in roles:
            roles[role_id] = read_or_none(access, "PractitionerRole", role_id)
        return roles[role_id]

    receiving_org = _receiving_organisation(request)
    principal = access.principal
    sides = sides_of(principal, task, read_role, receiving_org)
    request_status = request.get("status") if request else None
    actions = actions_open_to(
        task,
        sides,
        has_role=principal.practitioner_role_id is not None,
        referral_open=request_status in OPEN_REFERRAL_STATUSES,
    )
    status = str(task.get("status") or "")
    words, colour = status_words(status, request_status, referral)
    reasons = request.get("reasonCode") if request else None
    reason = None
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], dict):
        text = reasons[0].get("text")
        reason = text if isinstance(text, str) else None
    business = task.get("businessStatus")
    return TaskDetails(
        id=str(task["id"]),
        version=version_of(task),
        person_id=referenced_id(task.get("for"), "Patient"),
        is_referral=referral,
        title=service_words(request.get("code")) if request else describe(task),
        reason=reason,
        priority=PRIORITIES.get(str((request or task).get("priority")), "Routine"),
        made_by=_display(task.get("requester")),
        made_by_organisation_id=organisation_acting(task.get("requester"), read_role),
        owner=_display(task.get("owner")),
        receiving_organisation_id=receiving_org
        or organisation_acting(task.get("owner"), read_role),
        made_at=_moment((request or task).get("authoredOn")),
        due=due_date(task),
        overdue=is_overdue(task, day),
        status=status,
        status_words=words,
        colour=colour,
        rejection_reason=_status_reason(task) if status == "rejected" else None,
        cancel_reason=_status_reason(task) if status == "cancelled" else None,
        outcome=_outcome(task),
        closed_by_referrer=isinstance(business, dict)
        and business.get("text") == CLOSED_BY_REFERRER,
        history=_history(access, str(task["id"])),
        actions=actions,
    )


__all__: Sequence[str] = (
    "PRIORITIES",
    "SERVICES",
    "SERVICE_BY_KEY",
    "HistoryEntry",
    "InvalidReferral",
    "Organisation",
    "ReferralMade",
    "ReferralProblem",
    "ReferralService",
    "ReferralSummary",
    "TaskDetails",
    "check_referral",
    "make_referral",
    "organisations",
    "other_open_tasks",
    "referrals_for_person",
    "service_of",
    "status_words",
    "take_action",
    "task_details",
)
