"""The person's timeline: everything that happened to them across organisations, newest first.

Admissions, A&E attendances, visits and assessments; conditions diagnosed; referrals made and
each change of their status; tasks; the care plan created and updated; notes and messages;
appointments and meetings; episodes of care started and ended; death. Each entry says when,
what happened in plain words, which organisation it came from, and where to read more.

The record is read as the summary reads it (careweave.coordination.summary.record_of: one
guarded search for the whole record), plus the version history of the referral Tasks and care
plans, which is where their status changes are. `timeline_from` is pure (resources in, entries
out), so it is tested without a database; `page_of` filters by kind and pages with a cursor
(the position of the last entry shown), so a page neither repeats nor skips an entry when new
ones arrive while someone reads.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination.codes import (
    CLOSED_TASK_STATUSES,
    COMMUNICATION_CATEGORY,
    FULFIL,
    code_in,
    has_code,
)
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import referenced_id
from careweave.coordination.summary import (
    HOME_CARE,
    SOCIAL_CARE,
    STAY_WORDS,
    TASK_STATUS_WORDS,
    PersonRecord,
    Source,
    When,
    as_dict,
    concept_text,
    fhir_when,
    first_when,
    record_of,
    source_of,
    status_code,
    task_description,
)
from careweave.fhir.errors import Gone, NotFound
from careweave.store.database import as_utc

TIMELINE_TYPES: Final = (
    "Encounter",
    "Condition",
    "ServiceRequest",
    "Task",
    "CarePlan",
    "Communication",
    "Appointment",
    "EpisodeOfCare",
    "QuestionnaireResponse",
    "RelatedPerson",  # not shown: names the family and carers who wrote messages
)
KINDS: Final[Mapping[str, str]] = {
    "encounters": "Hospital, A&E and visits",
    "conditions": "Conditions diagnosed",
    "referrals": "Referrals",
    "tasks": "Tasks",
    "care-plan": "Care plan",
    "messages": "Notes and messages",
    "appointments": "Appointments and meetings",
    "episodes": "Episodes of care",
    "assessments": "Assessments",
    "death": "Death",
}
"""The kinds of entry, as the filter names them."""
PAGE_SIZE: Final = 50
MAX_HISTORIES: Final = 30
"""Referral Tasks and care plans whose version history is read (the most recent ones); older
ones show their current status only."""
HISTORY_VERSIONS: Final = 100

_COMMUNICATION_WORDS: Final[Mapping[str, str]] = {
    "note": "Note",
    "handover": "Coordinator handed over",
    "what-matters-to-me": "What matters to me",
    "question-for-review": "Question for the next review",
    "mdt-discussion": "Discussed at a team meeting (MDT)",
}
_ASSESSMENT_WORDS: Final[Mapping[str, str]] = {
    "care-act-needs-assessment": "Care Act needs assessment",
    "carers-assessment": "Carer's assessment",
}
_REFERRAL_CHANGES: Final[Mapping[str, str]] = {
    "requested": "sent",
    "received": "received",
    "accepted": "accepted",
    "rejected": "rejected",
    "in-progress": "started",
    "on-hold": "put on hold",
    "completed": "completed",
    "cancelled": "cancelled",
    "failed": "could not be done",
}
_NOT_HAPPENED: Final = frozenset({"planned", "cancelled", "entered-in-error"})
_EXCERPT: Final = 160


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened."""

    when: When
    kind: str
    what: str
    organisation: str | None
    person: str | None
    link: str | None
    key: str
    """Unique within the timeline ("Encounter/e1/start"): orders entries at the same moment
    and marks a position for the next page."""

    @property
    def position(self) -> tuple[datetime, str]:
        return (self.when.instant, self.key)


@dataclass(frozen=True)
class Version:
    """One stored version of a record, with the moment it was written."""

    resource: dict[str, Any]
    written: datetime


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None
    """Where the next ("Older entries") page starts, None on the last page."""
    total: int
    """How many entries of the chosen kinds there are in all."""


class CursorError(ValueError):
    """A paging position that is not one this timeline made."""


@dataclass(frozen=True)
class PersonTimeline:
    person: PersonBanner
    entries: list[TimelineEntry]
    """Newest first."""


def person_timeline(access: CareRecordAccess, patient_id: str) -> PersonTimeline:
    """Every entry of the person's timeline the asker may see, newest first, and who they
    are (NotFound when the person is hidden from the asker or does not exist)."""
    record = record_of(access, patient_id, TIMELINE_TYPES)
    entries = timeline_from(record, histories_of(access, record))
    return PersonTimeline(banner_of(record.patient), entries)


def histories_of(access: CareRecordAccess, record: PersonRecord) -> dict[str, list[Version]]:
    """The version history ("Type/id" -> versions, oldest first) of the most recent referral
    Tasks and care plans: where a referral's status changes and a plan's updates are."""
    wanted = [t for t in record.of("Task") if _referral_of(t)] + record.of("CarePlan")
    wanted.sort(key=lambda r: str(r.get("meta", {}).get("lastUpdated", "")), reverse=True)
    histories: dict[str, list[Version]] = {}
    for resource in wanted[:MAX_HISTORIES]:
        resource_type, resource_id = str(resource["resourceType"]), str(resource["id"])
        reference = f"{resource_type}/{resource_id}"
        try:
            page = access.history(
                resource_type, resource_id, f"{reference}/_history", count=HISTORY_VERSIONS
            )
        except (NotFound, Gone):
            continue
        histories[reference] = [
            Version(version.as_dict(), as_utc(version.last_updated))
            for version in reversed(page.versions)
            if not version.deleted and version.content is not None
        ]
    return histories


def timeline_from(
    record: PersonRecord, histories: Mapping[str, Sequence[Version]] | None = None
) -> list[TimelineEntry]:
    """The timeline of a record, newest first. Pure: resources (and the versions of referral
    Tasks and care plans, when read) in, entries out."""
    histories = histories or {}
    directory = record.directory
    patient_id = record.patient_id
    requests = {str(r["id"]): r for r in record.of("ServiceRequest")}
    entries: list[TimelineEntry] = []
    for encounter in record.of("Encounter"):
        entries += _encounter_entries(encounter, directory)
    for condition in record.of("Condition"):
        entries += _condition_entries(condition, directory)
    for request in requests.values():
        entries += _request_entries(request, directory)
    for task in record.of("Task"):
        carried = requests.get(_referral_of(task) or "")
        key = f"Task/{task['id']}"
        if _referral_of(task):
            entries += _referral_changes(task, carried, histories.get(key), directory)
        else:
            entries += _task_entries(task, directory)
    for plan in record.of("CarePlan"):
        entries += _plan_entries(
            plan, histories.get(f"CarePlan/{plan['id']}"), directory, patient_id
        )
    for communication in record.of("Communication"):
        entries += _communication_entries(communication, directory)
    for appointment in record.of("Appointment"):
        entries += _appointment_entries(appointment, directory)
    for episode in record.of("EpisodeOfCare"):
        entries += _episode_entries(episode, directory)
    for response in record.of("QuestionnaireResponse"):
        entries += _assessment_entries(response, directory)
    entries += _death_entries(record.patient)
    return sorted(entries, key=lambda e: e.position, reverse=True)


def page_of(
    entries: Sequence[TimelineEntry],
    kinds: Iterable[str] = (),
    cursor: str | None = None,
    size: int = PAGE_SIZE,
) -> TimelinePage:
    """One page of `entries` (newest first) of the chosen `kinds` (all when none), starting
    after `cursor`. CursorError for a cursor this function did not make."""
    chosen = set(kinds) & set(KINDS)
    shown = [e for e in entries if not chosen or e.kind in chosen]
    if cursor:
        after = decode_cursor(cursor)
        shown_after = [e for e in shown if e.position < after]
    else:
        shown_after = shown
    page = shown_after[:size]
    more = len(shown_after) > size
    return TimelinePage(page, encode_cursor(page[-1]) if more and page else None, len(shown))


def encode_cursor(entry: TimelineEntry) -> str:
    text = f"{entry.when.instant.isoformat()}|{entry.key}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        instant, _, key = text.partition("|")
        moment = datetime.fromisoformat(instant)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorError("That link to older entries is not valid") from None
    if moment.tzinfo is None or not key:
        raise CursorError("That link to older entries is not valid")
    return moment, key


# -- entries of each kind ------------------------------------------------------------------------


def _entry(
    when: When | None,
    kind: str,
    what: str,
    source: Source,
    key: str,
    link: str | None = None,
) -> list[TimelineEntry]:
    """An entry, or none when there is no date to place it at."""
    if when is None:
        return []
    return [TimelineEntry(when, kind, what, source.organisation, source.person, link, key)]


def _encounter_entries(
    encounter: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> list[TimelineEntry]:
    if encounter.get("status") in _NOT_HAPPENED:
        return []
    klass = as_dict(encounter.get("class")).get("code")
    period = as_dict(encounter.get("period"))
    reason = concept_text(encounter.get("reasonCode"))
    source = source_of(encounter, directory)
    key = f"Encounter/{encounter['id']}"
    inpatient = klass in ("IMP", "ACUTE", "NONAC")
    if inpatient:
        what = "Admitted to hospital" + (f": {reason}" if reason else "")
    else:
        kind_words = STAY_WORDS.get(str(klass)) or concept_text(encounter.get("type")) or "Visit"
        what = kind_words + (f": {reason}" if reason else "")
    entries = _entry(fhir_when(period.get("start")), "encounters", what, source, key + "/start")
    end = fhir_when(period.get("end"))
    if inpatient and end is not None and encounter.get("status") == "finished":
        start = fhir_when(period.get("start"))
        stay = f" after {(end.day - start.day).days} days" if start else ""
        disposition = concept_text(
            as_dict(encounter.get("hospitalization")).get("dischargeDisposition")
        )
        where = f" (to: {disposition})" if disposition else ""
        entries += _entry(
            end, "encounters", f"Discharged from hospital{stay}{where}", source, key + "/end"
        )
    return entries


def _condition_entries(
    condition: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> list[TimelineEntry]:
    if status_code(condition.get("verificationStatus")) in ("refuted", "entered-in-error"):
        return []
    name = concept_text(condition.get("code")) or "A condition"
    source = source_of(condition, directory)
    key = f"Condition/{condition['id']}"
    diagnosed = first_when(condition, ("onsetDateTime", "onsetPeriod.start", "recordedDate"))
    entries = _entry(diagnosed, "conditions", f"Diagnosed: {name}", source, key + "/onset")
    resolved = first_when(condition, ("abatementDateTime", "abatementPeriod.start"))
    entries += _entry(resolved, "conditions", f"No longer active: {name}", source, key + "/end")
    return entries


def _request_entries(
    request: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> list[TimelineEntry]:
    if request.get("status") == "entered-in-error":
        return []
    service = concept_text(request.get("code")) or "a service"
    to = _performer_name(request, directory)
    source = source_of(request, directory)
    key = f"ServiceRequest/{request['id']}"
    if has_code(request.get("code"), SOCIAL_CARE, HOME_CARE):
        what = f"Care package requested: {service}" + (f" from {to}" if to else "")
    else:
        what = f"Referral made: {service}" + (f" to {to}" if to else "")
    when = first_when(request, ("authoredOn", "occurrencePeriod.start", "occurrenceDateTime"))
    return _entry(when, "referrals", what, source, key + "/made")


def _referral_changes(
    task: Mapping[str, Any],
    request: Mapping[str, Any] | None,
    versions: Sequence[Version] | None,
    directory: Mapping[str, dict[str, Any]],
) -> list[TimelineEntry]:
    """Each change of a referral Task's status (from its versions; only the current status
    when the history was not read). Being sent is the referral itself, so is not repeated."""
    service = concept_text(request.get("code")) if request else None
    what_for = f"Referral for {service}" if service else "Referral"
    link = f"/tasks/{task['id']}"
    if not versions:
        versions = [Version(dict(task), _written(task))]
    entries: list[TimelineEntry] = []
    previous: str | None = None
    for number, version in enumerate(versions):
        status = str(version.resource.get("status"))
        if status == previous:
            continue
        previous = status
        if status in ("requested", "draft") or status not in _REFERRAL_CHANGES:
            continue
        by = _organisation_name(version.resource.get("owner"), directory)
        if status == "cancelled":
            by = _organisation_name(version.resource.get("requester"), directory)
        reason = concept_text(version.resource.get("statusReason"))
        what = f"{what_for} {_REFERRAL_CHANGES[status]}" + (f" ({reason})" if reason else "")
        source = Source(by, None, None, None)
        # When the change happened, as the Task says (lastModified), else when it was saved:
        # records loaded from elsewhere were all saved at once.
        when = first_when(version.resource, ("lastModified",)) or When(version.written, "time")
        entries += _entry(when, "referrals", what, source, f"Task/{task['id']}/v{number}", link)
    return entries


def _task_entries(
    task: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> list[TimelineEntry]:
    if task.get("status") == "entered-in-error":
        return []
    description = task_description(task)
    source = source_of(task, directory)
    key = f"Task/{task['id']}"
    link = f"/tasks/{task['id']}"
    entries = _entry(
        first_when(task, ("authoredOn",)) or source.when,
        "tasks",
        f"Task set: {description}",
        source,
        key + "/set",
        link,
    )
    status = str(task.get("status"))
    if status in CLOSED_TASK_STATUSES:
        closed = first_when(task, ("executionPeriod.end", "lastModified"))
        closed = closed or fhir_when(task.get("meta", {}).get("lastUpdated"))
        owner = _organisation_name(task.get("owner"), directory)
        words = TASK_STATUS_WORDS.get(status, status).lower()
        closer = Source(owner or source.organisation, None, None, None)
        entries += _entry(
            closed, "tasks", f"Task {words}: {description}", closer, key + "/closed", link
        )
    return entries


def _plan_entries(
    plan: Mapping[str, Any],
    versions: Sequence[Version] | None,
    directory: Mapping[str, dict[str, Any]],
    patient_id: str,
) -> list[TimelineEntry]:
    link = f"/people/{patient_id}/care-plan"
    key = f"CarePlan/{plan['id']}"
    source = source_of(plan, directory)
    created = first_when(plan, ("created",))
    entries: list[TimelineEntry] = []
    if versions:
        for number, version in enumerate(versions):
            written = When(version.written, "time")
            version_source = source_of(version.resource, directory)
            if number == 0:
                entries += _entry(
                    created or written,
                    "care-plan",
                    "Care and support plan created",
                    version_source,
                    f"{key}/v0",
                    link,
                )
                continue
            status = version.resource.get("status")
            what = (
                "Care and support plan replaced by a new plan"
                if status == "revoked" and versions[number - 1].resource.get("status") != "revoked"
                else "Care and support plan updated"
            )
            entries += _entry(written, "care-plan", what, version_source, f"{key}/v{number}", link)
        return entries
    entries += _entry(
        created or source.when,
        "care-plan",
        "Care and support plan created",
        source,
        f"{key}/v0",
        link,
    )
    updated = fhir_when(plan.get("meta", {}).get("lastUpdated"))
    version_number = int(plan.get("meta", {}).get("versionId", 1) or 1)
    if version_number > 1 and updated is not None:
        entries += _entry(
            updated, "care-plan", "Care and support plan updated", source, f"{key}/latest", link
        )
    return entries


def _communication_entries(
    communication: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> list[TimelineEntry]:
    if communication.get("status") in ("entered-in-error", "not-done"):
        return []
    category = code_in(communication.get("category"), COMMUNICATION_CATEGORY)
    if category == "mdt-discussion" and communication.get("status") != "completed":
        return []
    label = _COMMUNICATION_WORDS.get(category or "", "Message")
    text = next(
        (
            str(p["contentString"]).strip()
            for p in communication.get("payload") or ()
            if isinstance(p, dict) and isinstance(p.get("contentString"), str)
        ),
        "",
    )
    if len(text) > _EXCERPT:
        text = text[: _EXCERPT - 1].rstrip() + "…"
    what = f"{label}: {text}" if text else label
    source = source_of(communication, directory)
    when = first_when(communication, ("sent", "received")) or source.when
    return _entry(when, "messages", what, source, f"Communication/{communication['id']}")


def _appointment_entries(
    appointment: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> list[TimelineEntry]:
    status = appointment.get("status")
    if status in ("entered-in-error", "proposed", "waitlist"):
        return []
    about = (
        appointment.get("description")
        if isinstance(appointment.get("description"), str)
        else concept_text(appointment.get("serviceType"))
    )
    what = "Appointment" + (f": {about}" if about else "")
    if status == "cancelled":
        what += " (cancelled)"
    elif status == "noshow":
        what += " (did not attend)"
    source = source_of(appointment, directory)
    return _entry(
        first_when(appointment, ("start",)) or source.when,
        "appointments",
        what,
        source,
        f"Appointment/{appointment['id']}",
    )


def _episode_entries(
    episode: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> list[TimelineEntry]:
    if episode.get("status") == "entered-in-error":
        return []
    name = concept_text(episode.get("type")) or "Episode of care"
    source = source_of(episode, directory)
    period = as_dict(episode.get("period"))
    key = f"EpisodeOfCare/{episode['id']}"
    entries = _entry(
        fhir_when(period.get("start")), "episodes", f"{name} started", source, key + "/start"
    )
    entries += _entry(
        fhir_when(period.get("end")), "episodes", f"{name} ended", source, key + "/end"
    )
    return entries


def _assessment_entries(
    response: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> list[TimelineEntry]:
    status = response.get("status")
    if status in ("entered-in-error", "stopped"):
        return []
    questionnaire = str(response.get("questionnaire") or "")
    name = next(
        (
            words
            for code, words in _ASSESSMENT_WORDS.items()
            if questionnaire.rstrip("/").split("/")[-1].split("|")[0] == code
        ),
        "Assessment",
    )
    what = f"{name} {'started' if status == 'in-progress' else 'completed'}"
    source = source_of(response, directory)
    return _entry(
        source.when, "assessments", what, source, f"QuestionnaireResponse/{response['id']}"
    )


def _death_entries(patient: Mapping[str, Any]) -> list[TimelineEntry]:
    died = fhir_when(patient.get("deceasedDateTime"))
    nobody = Source(None, None, None, None)
    return _entry(died, "death", "Died", nobody, f"Patient/{patient['id']}/death")


# -- helpers -------------------------------------------------------------------------------------


def _referral_of(task: Mapping[str, Any]) -> str | None:
    """The ServiceRequest a referral Task carries (code fulfil, focus the request)."""
    if not has_code(task.get("code"), *FULFIL):
        return None
    return referenced_id(task.get("focus"), "ServiceRequest")


def _written(resource: Mapping[str, Any]) -> datetime:
    when = fhir_when(resource.get("meta", {}).get("lastUpdated")) or first_when(
        resource, ("lastModified", "authoredOn")
    )
    return when.instant if when else datetime.fromisoformat("1900-01-01T00:00:00+00:00")


def _organisation_name(reference: Any, directory: Mapping[str, dict[str, Any]]) -> str | None:
    """The organisation a reference names, directly or through a PractitionerRole."""
    if not isinstance(reference, dict):
        return None
    probe = {"resourceType": "Flag", "author": reference}
    return source_of(probe, directory).organisation


def _performer_name(
    request: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> str | None:
    for reference in request.get("performer") or ():
        name = _organisation_name(reference, directory)
        if name:
            return name
    return None
