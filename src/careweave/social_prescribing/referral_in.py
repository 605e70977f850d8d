"""Referring someone to the social prescribing service: the referral form, self-referral where
the place allows it, and refusing a second referral for a need that already has an open one.

A referral is the coordination referral shape (careweave.coordination.referrals) with the
pathway's reasons: a ServiceRequest (category Patient referral, code SNOMED CT 871731000000106
|Referral to social prescribing service|, performer the service's Organization, one
`reasonCode` per reason from the social-prescribing-reason code list, the referrer's words as
a note) and a `fulfill` Task owned by the service, written in one transaction. Coordination's
referral pages, task history and "referral received" notification therefore work on it as on
any referral.

**Self-referral** is a per-place setting (`PathwaySettings`, from careweave.settings.Settings:
`CAREWEAVE_SOCIAL_PRESCRIBING_SELF_REFERRAL`, off unless set to 1/true/yes/on, and
`CAREWEAVE_SOCIAL_PRESCRIBING_SERVICE`, the service's Organization id). The sharing agreement
cannot carry it: its terms accept no keys beyond those the access layer knows. When it is on,
the service's own staff record a self-referral made by phone, in person or on the service's
form (the requester is then the Patient), and a person signed in refers themselves to the named
service ("My care"): the access rules let the patient role create that referral and its Task
and nothing else (careweave.access.policy.PERSON_CREATES).

**Duplicates.** A referral for a person who already has an open referral to social prescribing
(its ServiceRequest draft, active or on hold) sharing a reason is refused, naming that
referral, who made it and when. The check runs inside the writing transaction, after the new
referral is written and before it commits, so two people referring at once cannot both succeed
unseen, and it sees every open referral of the person's (making a referral is a legitimate
relationship with them, even for a service that had none before).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from careweave.access.guard import CareRecordAccess
from careweave.access.roles import Role
from careweave.coordination import codes
from careweave.coordination.care_plan import Writer, writer_of
from careweave.coordination.record import (
    if_none_exist,
    now_instant,
    read_or_none,
    referenced_id,
    submission_identifier,
    today,
)
from careweave.coordination.referrals import PRIORITIES, SERVICE_BY_KEY
from careweave.coordination.tasks import MAXIMUM_TEXT_LENGTH
from careweave.fhir.resource_types import is_fhir_id
from careweave.settings import (
    SELF_REFERRAL_SERVICE_SETTING,
    SELF_REFERRAL_SETTING,
    Settings,
    read_switch,
)
from careweave.social_prescribing.pathway_codes import REASON_SYSTEM, REASONS
from careweave.social_prescribing.pathway_problems import (
    DuplicateReferral,
    InvalidReferralForm,
    PathwayProblem,
    SelfReferralNotOffered,
)
from careweave.social_prescribing.pathway_record import (
    OPEN_REQUEST_STATUSES,
    SOCIAL_PRESCRIBING,
    annotation,
    check_token,
    day_words,
    display_of,
    find_ids,
    read_in,
    stage,
    uk_day,
)
from careweave.store.repository import StoreTransaction


@dataclass(frozen=True)
class PathwaySettings:
    """How the place runs its social prescribing pathway. `self_referral`: whether people may
    refer themselves; `self_referral_service`: the Organization id of the service a person
    signed in refers themselves to (careweave.settings.Settings holds both; pages pass them
    in with `of`)."""

    self_referral: bool = False
    self_referral_service: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> PathwaySettings:
        return cls(settings.social_prescribing_self_referral, settings.social_prescribing_service)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PathwaySettings:
        values = os.environ if environ is None else environ
        service = values.get(SELF_REFERRAL_SERVICE_SETTING, "").strip() or None
        return cls(read_switch(SELF_REFERRAL_SETTING, values), service)

    @property
    def person_may_refer_themselves(self) -> bool:
        """Whether a person signed in may refer themselves (the place takes self-referrals
        and has said to which service)."""
        return self.self_referral and self.self_referral_service is not None


@dataclass(frozen=True)
class ReferralMade:
    """The referral's ServiceRequest and Task; `created` is False when the same form was
    sent again and found the first referral."""

    service_request_id: str
    task_id: str
    created: bool


def check_referral_form(
    access: CareRecordAccess,
    service_organisation_id: str,
    reasons: Sequence[str],
    details: str,
    priority: str,
    respond_by: date | None,
) -> list[tuple[str | None, str]]:
    """Everything wrong with the form, (field, message) each; empty when it can be sent."""
    problems: list[tuple[str | None, str]] = []
    if not is_fhir_id(service_organisation_id or "") or (
        read_or_none(access, "Organization", service_organisation_id) is None
    ):
        problems.append(("service", "Select the social prescribing service"))
    if not reasons:
        problems.append(("reasons", "Select at least one reason for the referral"))
    unknown = [r for r in reasons if r not in REASONS]
    if unknown:
        problems.append(("reasons", "Select reasons from the list"))
    if len(set(reasons)) != len(reasons):
        problems.append(("reasons", "Each reason can be selected once"))
    text = details.strip()
    if "other" in reasons and not text:
        problems.append(("details", "Say what the other reason is"))
    if len(text) > MAXIMUM_TEXT_LENGTH:
        problems.append(("details", f"Details must be {MAXIMUM_TEXT_LENGTH:,} characters or fewer"))
    if priority not in PRIORITIES:
        problems.append(("priority", "Select how urgent this referral is"))
    if respond_by is not None and respond_by < today():
        problems.append(("respond_by", "The date to respond by must be today or in the future"))
    return problems


def referral_request(
    patient_id: str,
    service_organisation: Mapping[str, Any],
    reasons: Sequence[str],
    details: str,
    priority: str,
    requester: dict[str, Any],
    writer: Writer,
    when: str,
    *,
    self_referral: bool,
) -> dict[str, Any]:
    """The ServiceRequest of a referral (without its form identifier): pure, so a test or an
    import can build one with a time of its own."""
    performer = {"reference": f"Organization/{service_organisation['id']}"}
    if isinstance(service_organisation.get("name"), str):
        performer["display"] = service_organisation["name"]
    words = details.strip()
    if self_referral:
        words = f"Self-referral. {words}".strip()
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [codes.concept(*codes.REFERRAL_CATEGORY, "Patient referral")],
        "priority": priority,
        "code": SERVICE_BY_KEY["social-prescribing"].concept(),
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": when,
        "requester": requester,
        "performer": [performer],
        "reasonCode": [codes.concept(REASON_SYSTEM, r, REASONS[r]) for r in reasons],
    }
    if words:
        request["note"] = [annotation(writer, when, words)]
    return request


def referral_task(
    request_id: str,
    request: Mapping[str, Any],
    respond_by: date | None,
    writer: Writer,
    when: str,
) -> dict[str, Any]:
    """The Task that asks the service to answer the referral (the coordination shape)."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "businessStatus": stage("waiting"),
        "intent": "order",
        "priority": request["priority"],
        "code": codes.concept(*codes.FULFIL, "Fulfill the focal request"),
        "description": "Referral: social prescribing",
        "focus": {"reference": f"ServiceRequest/{request_id}"},
        "for": dict(request["subject"]),
        "authoredOn": when,
        "lastModified": when,
        "requester": dict(request["requester"]),
        "owner": dict(request["performer"][0]),
        "note": [annotation(writer, when, "Referral made")],
    }
    if respond_by is not None:
        task["restriction"] = {"period": {"end": respond_by.isoformat()}}
    return task


def refer(
    access: CareRecordAccess,
    patient_id: str,
    *,
    service_organisation_id: str,
    reasons: Sequence[str],
    details: str = "",
    priority: str = "routine",
    respond_by: date | None = None,
    token: str,
    self_referral: bool = False,
    settings: PathwaySettings | None = None,
) -> ReferralMade:
    """Refer the person to the social prescribing service, in one transaction.

    `self_referral`: the person referred themselves and a member of the service's staff is
    recording it (a signed-in person referring themselves is always a self-referral). The same
    form sent twice (one `token`) finds the first referral. Raises InvalidReferralForm (each
    field's problem), SelfReferralNotOffered, DuplicateReferral (naming the open referral), or
    the guard's Forbidden/NotFound; nothing is saved then."""
    place = settings or PathwaySettings()
    principal = access.principal
    by_the_person = principal.role is Role.PATIENT
    if by_the_person and principal.patient_id != patient_id:
        raise PathwayProblem("You can only refer yourself")
    self_referral = self_referral or by_the_person
    if self_referral and not place.self_referral:
        raise SelfReferralNotOffered(
            "People cannot refer themselves to social prescribing here: a professional "
            "needs to make the referral"
        )
    if by_the_person and service_organisation_id != place.self_referral_service:
        raise SelfReferralNotOffered(
            "People refer themselves to the place's own social prescribing service only"
        )
    if self_referral and not by_the_person and principal.organisation_id != service_organisation_id:
        raise SelfReferralNotOffered(
            "Only the social prescribing service itself can record a self-referral"
        )
    check_token(token)
    if not is_fhir_id(patient_id or ""):
        raise InvalidReferralForm([(None, "Select the person you are referring")])
    problems = check_referral_form(
        access, service_organisation_id, reasons, details, priority, respond_by
    )
    if problems:
        raise InvalidReferralForm(problems)
    writer = writer_of(access)
    service = read_or_none(access, "Organization", service_organisation_id) or {
        "id": service_organisation_id
    }
    requester = {"reference": f"Patient/{patient_id}"} if self_referral else dict(writer.reference)
    when = now_instant()
    request = referral_request(
        patient_id,
        service,
        list(reasons),
        details,
        priority,
        requester,
        writer,
        when,
        self_referral=self_referral,
    )
    request["identifier"] = [submission_identifier(token)]

    def work(tx: StoreTransaction) -> ReferralMade:
        made = tx.create(request, if_none_exist=if_none_exist(token))
        request_id = made.stored.id
        if not made.created:
            if referenced_id(made.stored.as_dict().get("subject"), "Patient") != patient_id:
                raise PathwayProblem("This form has already been used: open it again")
        else:
            _refuse_duplicate(tx, patient_id, request_id, set(reasons))
        task = referral_task(request_id, request, respond_by, writer, when)
        task["identifier"] = [submission_identifier(token)]
        answered = tx.create(task, if_none_exist=if_none_exist(token))
        return ReferralMade(request_id, answered.stored.id, made.created)

    return access.write("create", "ServiceRequest", work)


def _refuse_duplicate(
    tx: StoreTransaction, patient_id: str, new_request_id: str, reasons: set[str]
) -> None:
    """DuplicateReferral when another open referral of the person's shares a reason."""
    params = [
        ("patient", f"Patient/{patient_id}"),
        ("code", "|".join(SOCIAL_PRESCRIBING)),
        ("status", ",".join(OPEN_REQUEST_STATUSES)),
    ]
    for request_id in sorted(find_ids(tx, "ServiceRequest", params)):
        if request_id == new_request_id:
            continue
        other = read_in(tx, "ServiceRequest", request_id)
        if other is None:
            continue
        shared = [r for r in REASONS if r in reasons and r in _reasons_of(other)]
        if shared:
            raise DuplicateReferral(_duplicate_message(tx, other, shared), request_id)


def _reasons_of(request: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for concept in request.get("reasonCode") or ():
        code = codes.code_in(concept, REASON_SYSTEM)
        if code:
            found.add(code)
    return found


def _duplicate_message(tx: StoreTransaction, other: Mapping[str, Any], shared: list[str]) -> str:
    needs = " and ".join(REASONS[r].lower() for r in shared)
    made_by = display_of(other.get("requester"))
    if str((other.get("requester") or {}).get("reference", "")).startswith("Patient/"):
        made_by = "the person themselves"
    to = display_of((other.get("performer") or [None])[0]) or "the social prescribing service"
    who = f" by {made_by}" if made_by else ""
    rejected = _rejected(tx, str(other["id"]))
    then = (
        f" {to} turned it down; close it on the person's referrals page before referring again."
        if rejected
        else " Add to that referral instead of making another."
    )
    return (
        f"This person already has an open referral to social prescribing for {needs} "
        f"(referral {other['id']}, made on {day_words(uk_day(other.get('authoredOn')))}{who}, "
        f"to {to}).{then}"
    )


def _rejected(tx: StoreTransaction, request_id: str) -> bool:
    params = [("focus", f"ServiceRequest/{request_id}"), ("status", "rejected")]
    return bool(find_ids(tx, "Task", params))
