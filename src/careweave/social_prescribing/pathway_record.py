"""What every step of the social prescribing pathway shares: finding a referral and its Task
inside a transaction, telling which side the signed-in person is on, and writing times, notes
and references the same way.

A referral to social prescribing is a coordination referral (careweave.coordination.referrals):
a ServiceRequest coded SNOMED CT 871731000000106 and a `fulfill` Task focused on it, so the
referral lists, the task history and the notifications of care coordination show it as they
show any referral. The pathway adds to that shape; it never changes what it means.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final
from urllib.parse import urlencode

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.care_plan import Writer
from careweave.coordination.record import UK, referenced_id, version_of
from careweave.coordination.tasks import Sides, sides_of
from careweave.fhir.errors import Gone, NotFound
from careweave.fhir.resource_types import is_fhir_id
from careweave.social_prescribing.pathway_codes import (
    COMMUNICATION_SYSTEM,
    COMMUNICATIONS,
    OUTCOME_SYSTEM,
    OUTCOMES,
    STAGE_SYSTEM,
    STAGES,
)
from careweave.social_prescribing.pathway_problems import NotAtThisStage, NotYours, PathwayProblem
from careweave.store.repository import StoreTransaction

SOCIAL_PRESCRIBING: Final = codes.SOCIAL_PRESCRIBING_REFERRAL
OPEN_REQUEST_STATUSES: Final = ("draft", "active", "on-hold")
_TOKEN: Final = re.compile(r"[A-Za-z0-9-]{8,64}")


def check_token(token: str) -> None:
    """A form's one-time token (careweave.coordination.record.new_submission_token)."""
    if not _TOKEN.fullmatch(token or ""):
        raise PathwayProblem("This form was not sent as expected: open it again and retry")


def check_id(value: str, what: str) -> str:
    """`value` when it is a FHIR id, else a problem naming `what` was not found."""
    if not is_fhir_id(value or ""):
        raise NotFound(f"There is no {what} {value!r}")
    return value


# -- time ----------------------------------------------------------------------------------------


def instant(moment: datetime) -> str:
    """A FHIR dateTime in UTC to the second; a naive `moment` is taken as UK time."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UK)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def moment_of(value: Any) -> datetime | None:
    """The aware moment a FHIR dateTime names (None for a date alone or not a dateTime)."""
    if not isinstance(value, str) or len(value) <= 10:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def uk_day(value: Any) -> date | None:
    """The UK day a FHIR date or dateTime falls on."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    moment = moment_of(value)
    return moment.astimezone(UK).date() if moment else None


def day_words(day: date | None) -> str:
    """ "3 March 2026", as people write a day."""
    return f"{day.day} {day:%B %Y}" if day else "an unknown day"


# -- FHIR pieces ----------------------------------------------------------------------------------


def annotation(writer: Writer, when: str, text: str) -> dict[str, Any]:
    """An Annotation by `writer`. R4 Annotation.authorReference may not be a
    PractitionerRole, so staff are named by `authorString` (as the care plan does)."""
    reference = writer.reference["reference"]
    if reference.split("/")[0] in ("Patient", "RelatedPerson", "Practitioner", "Organization"):
        return {"authorReference": dict(writer.reference), "time": when, "text": text}
    return {
        "authorString": writer.reference.get("display") or reference,
        "time": when,
        "text": text,
    }


def stage(code: str) -> dict[str, Any]:
    return codes.concept(STAGE_SYSTEM, code, STAGES[code])


def outcome(code: str) -> dict[str, Any]:
    return codes.concept(OUTCOME_SYSTEM, code, OUTCOMES[code])


def communication_kind(code: str) -> dict[str, Any]:
    return codes.concept(COMMUNICATION_SYSTEM, code, COMMUNICATIONS[code])


def without_meta(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def display_of(reference: Any) -> str | None:
    display = reference.get("display") if isinstance(reference, dict) else None
    return display.strip() if isinstance(display, str) and display.strip() else None


def payload_text(communication: Mapping[str, Any]) -> str:
    return "\n".join(
        str(p["contentString"])
        for p in communication.get("payload") or ()
        if isinstance(p, dict) and isinstance(p.get("contentString"), str)
    )


def is_social_prescribing_referral(request: Mapping[str, Any]) -> bool:
    return codes.has_code(request.get("code"), *SOCIAL_PRESCRIBING)


# -- the referral in a transaction ------------------------------------------------------------


@dataclass(frozen=True)
class Referral:
    """A referral to social prescribing as read in one transaction: its ServiceRequest and
    its (newest) Task, and who the service is."""

    request: dict[str, Any]
    task: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.request["id"])

    @property
    def task_id(self) -> str:
        return str(self.task["id"])

    @property
    def patient_id(self) -> str:
        patient = referenced_id(self.request.get("subject"), "Patient")
        if patient is None:
            raise PathwayProblem("This referral is not about a person")
        return patient

    @property
    def service_organisation_id(self) -> str | None:
        performers = self.request.get("performer") or [None]
        return referenced_id(performers[0], "Organization")

    @property
    def status(self) -> str:
        return str(self.task.get("status") or "")


def read_in(tx: StoreTransaction, resource_type: str, resource_id: str) -> dict[str, Any] | None:
    try:
        return tx.read(resource_type, resource_id).as_dict()
    except (NotFound, Gone):
        return None


def referral_in(tx: StoreTransaction, referral_id: str) -> Referral:
    """The social prescribing referral `referral_id` (its ServiceRequest id) and its Task, as
    the transaction's user may see them; NotFound otherwise."""
    check_id(referral_id, "referral")
    request = read_in(tx, "ServiceRequest", referral_id)
    if request is None or not is_social_prescribing_referral(request):
        raise NotFound(f"There is no referral to social prescribing {referral_id}")
    query = urlencode({"focus": f"ServiceRequest/{referral_id}", "code": "|".join(codes.FULFIL)})
    tasks = [read_in(tx, "Task", task_id) for task_id in tx.find_ids("Task", query, limit=20)]
    found = [t for t in tasks if t is not None]
    if not found:
        raise NotFound(f"The referral {referral_id} has no task to answer it")
    newest = max(found, key=lambda t: (str(t.get("authoredOn") or ""), version_of(t)))
    return Referral(request, newest)


def service_side(access: CareRecordAccess, tx: StoreTransaction, referral: Referral) -> Sides:
    """Which side of the referral the signed-in person is on (the social prescribing
    service receives it; the referrer's organisation made it)."""
    return sides_of(
        access.principal,
        referral.task,
        lambda role_id: read_in(tx, "PractitionerRole", role_id),
        referral.service_organisation_id,
    )


def require_service(access: CareRecordAccess, tx: StoreTransaction, referral: Referral) -> None:
    """Only the social prescribing service's own staff work the referral."""
    if not service_side(access, tx, referral).receiving:
        raise NotYours("Only the social prescribing service the referral was sent to can do this")


def require_open_episode(referral: Referral, doing: str) -> None:
    """The service has taken the person on and not yet ended their support."""
    status = referral.status
    if status in ("requested", "received", "draft", "ready", "on-hold"):
        raise NotAtThisStage(f"Accept the referral before you {doing}")
    if status not in ("accepted", "in-progress"):
        raise NotAtThisStage(
            f"This person's social prescribing support has ended: you cannot {doing}"
        )


def find_ids(
    tx: StoreTransaction, resource_type: str, params: Sequence[tuple[str, str]]
) -> list[str]:
    """Ids of `resource_type` matching `params` that the user may see (up to 500)."""
    return tx.find_ids(resource_type, urlencode(list(params)), limit=500)


def read_all(
    tx: StoreTransaction, resource_type: str, params: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    found = (read_in(tx, resource_type, i) for i in find_ids(tx, resource_type, params))
    return [r for r in found if r is not None]


STAGE_ORDER: Final = (
    "waiting",
    "accepted",
    "first-contact",
    "what-matters",
    "plan-agreed",
    "connected",
)


def stage_of(task: Mapping[str, Any]) -> str | None:
    return codes.code_in(task.get("businessStatus"), STAGE_SYSTEM)


def advanced(task: Mapping[str, Any], code: str) -> dict[str, Any] | None:
    """`task` moved on to stage `code`, or None when it is there or further already (a
    second conversation does not move a person "back" from being connected)."""
    current = stage_of(task)
    if current in STAGE_ORDER and STAGE_ORDER.index(current) >= STAGE_ORDER.index(code):
        return None
    moved = copy.deepcopy(dict(task))
    moved["businessStatus"] = stage(code)
    return moved
