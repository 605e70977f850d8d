"""The integrated person summary: everything about an older person across organisations, on one
page, each item with the organisation it came from and its date.

Performance shapes this module. The page is opened many times a day for people with full
records, and every guarded search is SQL, access checks and a committed audit entry (on
PostgreSQL also planning: tens of milliseconds for a search's access conditions), so the record
is read with ONE guarded search, `Patient?_id=...` with a `_revinclude` for each kind of record
(`record_of`), not one search per kind. The organisations and staff the records name are then
read by id: the PractitionerRoles with their Organizations and Practitioners in one search, and
Organizations or Practitioners named directly only when a reference carries no display name
(an `_include` over as common a parameter as Condition.asserter walked that parameter's whole
index on SQLite). The guard filters every included record, so what the user may not see is not
on the page.

The rest is pure: `summary_from` turns the resources (dicts) into the page's sections, and
`source_of` says which organisation and day each item came from (docs/care-coordination.md).
The timeline (careweave.coordination.timeline) reads the record the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, TypeVar

from careweave.access.guard import CareRecordAccess
from careweave.coordination.care_team import Team, team_from
from careweave.coordination.codes import (
    CARE_TEAM_CATEGORY,
    CAREWEAVE_CODES,
    CAREWEAVE_EXTENSIONS,
    CLOSED_TASK_STATUSES,
    FRAILTY_DISPLAY,
    FRAILTY_FINDINGS,
    FULFIL,
    SNOMED,
    TASK_TYPE,
    code_in,
    has_code,
)
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import (
    UK,
    find_with_includes,
    reference_to,
    referenced_id,
    today,
)
from careweave.coordination.tasks import due_date
from careweave.fhir.errors import NotFound
from careweave.fhir.names import person_name

# -- codes this page reads that coordination.codes does not hold ---------------------------------
SOCIAL_CARE: Final = CAREWEAVE_CODES + "social-care"
"""The local code system of social care services, as the synthetic place writes them
(careweave.synth.clinical_codes.SOCIAL_CARE): home-care, care-home, nursing-home, ..."""
HOME_CARE: Final = "home-care"
CARE_PACKAGE_REVIEW_EXTENSION: Final = CAREWEAVE_EXTENSIONS + "care-package-review"
"""The review date of a care package ServiceRequest (docs/care-coordination.md, Social care)."""
ETHNIC_CATEGORY_EXTENSION: Final = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
)

SUMMARY_TYPES: Final = (
    "Condition",
    "MedicationStatement",
    "AllergyIntolerance",
    "Encounter",
    "Flag",
    "EpisodeOfCare",
    "ServiceRequest",
    "Task",
    "RelatedPerson",
    "CareTeam",
    "Observation",
)
"""The kinds of record the summary revincludes from the Patient. Observations are only for the
frailty findings: revincluding all of a person's costs less than a second search (on
PostgreSQL, planning a search's access conditions took 20-90 ms against 2-15 ms to check a few
included rows) while people have tens of them (at most 16 each in the synthetic place). For
records with thousands, a separate `Observation?patient=..&code=<frailty codes>` search would
be the better trade."""

DIRECTORY_INCLUDES: Final = ("PractitionerRole:organization", "PractitionerRole:practitioner")

SOURCE_ELEMENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "Condition": ("recorder", "asserter"),
    "AllergyIntolerance": ("recorder", "asserter"),
    "MedicationStatement": ("informationSource",),
    "Observation": ("performer",),
    "Encounter": ("serviceProvider", "participant.individual"),
    "EpisodeOfCare": ("managingOrganization", "careManager"),
    "ServiceRequest": ("requester",),
    "Task": ("requester", "owner"),
    "Flag": ("author",),
    "CareTeam": ("managingOrganization",),
    "CarePlan": ("author", "contributor"),
    "Communication": ("sender",),
    "QuestionnaireResponse": ("author", "source"),
    "Appointment": ("participant.actor",),
    "Goal": ("expressedBy",),
}
"""Where each kind of record says who recorded it, most telling first. When none of them
leads to an organisation, `meta.source` is used if it names one."""
OTHER_DIRECTORY_ELEMENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "ServiceRequest": ("performer",),
    "Task": ("owner",),
    "CareTeam": ("participant.member", "participant.onBehalfOf"),
}
"""Other references to the directory that the pages name (who a referral went to, who owns a
task, the care team's members)."""

DATE_ELEMENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "Condition": ("recordedDate", "onsetDateTime", "onsetPeriod.start"),
    "AllergyIntolerance": ("recordedDate", "onsetDateTime"),
    "MedicationStatement": ("dateAsserted", "effectiveDateTime", "effectivePeriod.start"),
    "Observation": ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"),
    "Encounter": ("period.start",),
    "EpisodeOfCare": ("period.start",),
    "ServiceRequest": ("authoredOn", "occurrencePeriod.start", "occurrenceDateTime"),
    "Task": ("authoredOn", "lastModified"),
    "Flag": ("period.start",),
    "CareTeam": ("period.start",),
    "CarePlan": ("created", "period.start"),
    "Communication": ("sent", "received"),
    "QuestionnaireResponse": ("authored",),
    "Appointment": ("start", "created"),
    "Goal": ("startDate", "statusDate"),
    "RelatedPerson": ("period.start",),
}
"""The day each kind of record was made, first found wins; `meta.lastUpdated` otherwise."""

_DIRECTORY_TYPES: Final = ("Organization", "PractitionerRole", "Practitioner")
_ACTIVE_CONDITION: Final = frozenset({"active", "recurrence", "relapse"})
_NOT_TRUE: Final = frozenset({"refuted", "entered-in-error"})
_CURRENT_STAY: Final = frozenset({"arrived", "triaged", "in-progress", "onleave"})
_NOT_HAPPENED: Final = frozenset({"planned", "cancelled", "entered-in-error"})
_OPEN_REFERRAL: Final = frozenset({"draft", "active", "on-hold"})
RECENT_DAYS: Final = 365


# -- dates ---------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class When:
    """A FHIR date or dateTime: a moment to put things in order by, and how precisely it was
    recorded, so that "2004" is shown as a year rather than as 1 January 2004."""

    instant: datetime
    """UTC; a date without a time is its first moment in the UK."""
    precision: str
    """"year", "month", "day" or "time"."""

    @property
    def day(self) -> date:
        """The day in the UK."""
        return self.instant.astimezone(UK).date()


def fhir_when(value: Any) -> When | None:
    """A FHIR date ("2004", "2004-10", "2004-10-14") or dateTime; None when absent or
    malformed (a bad date in someone else's record must not break the page)."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    try:
        if len(value) == 4:
            return When(_uk_midnight(date(int(value), 1, 1)), "year")
        if len(value) == 7:
            return When(_uk_midnight(date(int(value[:4]), int(value[5:7]), 1)), "month")
        if len(value) == 10:
            return When(_uk_midnight(date.fromisoformat(value)), "day")
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UK)
    return When(moment.astimezone(UTC), "time")


def _uk_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UK).astimezone(UTC)


def element(resource: Mapping[str, Any], path: str) -> list[Any]:
    """The values at a dotted path ("participant.individual"), through lists."""
    values: list[Any] = [resource]
    for name in path.split("."):
        found: list[Any] = []
        for value in values:
            if not isinstance(value, dict):
                continue
            item = value.get(name)
            if isinstance(item, list):
                found.extend(item)
            elif item is not None:
                found.append(item)
        values = found
    return values


def first_when(resource: Mapping[str, Any], paths: Iterable[str]) -> When | None:
    for path in paths:
        for value in element(resource, path):
            found = fhir_when(value)
            if found is not None:
                return found
    return None


def recorded_when(resource: Mapping[str, Any]) -> When | None:
    """The day a record was made (DATE_ELEMENTS), else when it was last written."""
    paths = DATE_ELEMENTS.get(str(resource.get("resourceType")), ())
    return first_when(resource, paths) or fhir_when(resource.get("meta", {}).get("lastUpdated"))


# -- the record, read once -----------------------------------------------------------------------


@dataclass
class PersonRecord:
    """A person's record as the asker may see it: their Patient resource, their records by
    type, and the directory entries those records name ("Type/id" -> resource)."""

    patient: dict[str, Any]
    resources: dict[str, list[dict[str, Any]]]
    directory: dict[str, dict[str, Any]]
    readable: frozenset[str] | None
    """The types the asker's role may read (None: every type); a section of a type they may not
    read is "not shared", which is not the same as "none recorded"."""

    @property
    def patient_id(self) -> str:
        return str(self.patient["id"])

    def of(self, resource_type: str) -> list[dict[str, Any]]:
        return self.resources.get(resource_type, [])

    def shared(self, *resource_types: str) -> bool:
        """True when the asker's role may read at least one of these types."""
        return self.readable is None or any(t in self.readable for t in resource_types)


def readable_types(access: CareRecordAccess) -> frozenset[str] | None:
    visibility = access.visibility
    return None if visibility is None else visibility.readable_types


def record_search(
    patient_id: str, resource_types: Sequence[str], readable: frozenset[str] | None
) -> list[tuple[str, str]]:
    """The one search that reads the person's record: the Patient and, revincluded, each kind
    of record about them. Types the asker may not read are left out (the guard would drop them
    anyway, after the database had found them)."""
    wanted = [t for t in resource_types if readable is None or t in readable]
    return [("_id", patient_id), *[("_revinclude", f"{t}:patient") for t in wanted]]


def record_of(
    access: CareRecordAccess,
    patient_id: str,
    resource_types: Sequence[str],
) -> PersonRecord:
    """The person's record of `resource_types` as the asker may see it (NotFound when the
    person is hidden from them or does not exist), with the directory entries it names.

    The directory entries are looked up by id afterwards rather than `_include`d: an include
    over a reference parameter as common as Condition.asserter walked that parameter's whole
    index on SQLite (7 ms unloaded in a 20,000-person place), a look-up by id costs well under
    a millisecond."""
    readable = readable_types(access)
    matches, included = find_with_includes(
        access, "Patient", record_search(patient_id, resource_types, readable)
    )
    patient = next((m for m in matches if m.get("id") == patient_id), None)
    if patient is None:
        raise NotFound(f"Patient/{patient_id} is not known")
    resources: dict[str, list[dict[str, Any]]] = {}
    subject = f"Patient/{patient_id}"
    _sort_in(included.values(), subject, set(resource_types), resources)
    # The person and their family are named as who wrote something (a message, a goal).
    people = [patient, *resources.get("RelatedPerson", [])]
    record = PersonRecord(patient, resources, {reference_to(p): p for p in people}, readable)
    complete_directory(access, record)
    return record


def _sort_in(
    found: Iterable[dict[str, Any]],
    subject: str,
    wanted: set[str],
    resources: dict[str, list[dict[str, Any]]],
) -> None:
    seen = {f"{r['resourceType']}/{r['id']}" for rs in resources.values() for r in rs}
    for resource in found:
        key = f"{resource['resourceType']}/{resource['id']}"
        if resource["resourceType"] in wanted and key not in seen and _is_about(resource, subject):
            resources.setdefault(str(resource["resourceType"]), []).append(resource)
            seen.add(key)


def _is_about(resource: Mapping[str, Any], subject: str) -> bool:
    """True when the record is about the person (included records may name others)."""
    for path in ("subject", "patient", "for", "participant.actor"):
        for reference in element(resource, path):
            if isinstance(reference, dict) and reference.get("reference") == subject:
                return True
    return False


def complete_directory(access: CareRecordAccess, record: PersonRecord) -> None:
    """Read the organisations and staff the record names: the PractitionerRoles (for their
    organisation, contact details and practitioner) with their Organizations and Practitioners
    in one search; then, only for references that carry no display name, the Organizations
    and Practitioners named directly (at most three searches; one for the synthetic place,
    whose references all carry display names)."""
    wanted = directory_references(record)
    for resource_type in ("PractitionerRole", "Practitioner", "Organization"):
        ids = sorted(
            rid
            for (rt, rid), needed in wanted.items()
            if rt == resource_type and needed and f"{rt}/{rid}" not in record.directory
        )
        if not ids:
            continue
        params = [("_id", ",".join(ids))]
        if resource_type == "PractitionerRole":
            params += [("_include", include) for include in DIRECTORY_INCLUDES]
        _, included = find_with_includes(access, resource_type, params)
        record.directory.update(included)


def directory_references(record: PersonRecord) -> dict[tuple[str, str], bool]:
    """Every directory entry (type, id) the record's items name, and whether it must be read:
    always for a PractitionerRole (its organisation is not in the reference), otherwise when
    some reference to it has no display name to show instead."""
    found: dict[tuple[str, str], bool] = {}
    for resources in record.resources.values():
        for resource in resources:
            resource_type = str(resource.get("resourceType"))
            paths = SOURCE_ELEMENTS.get(resource_type, ()) + OTHER_DIRECTORY_ELEMENTS.get(
                resource_type, ()
            )
            for path in paths:
                for reference in element(resource, path):
                    target = as_dict(reference).get("reference")
                    if not isinstance(target, str):
                        continue
                    kind, _, rid = target.partition("/")
                    if kind in _DIRECTORY_TYPES and rid and "/" not in rid:
                        needed = kind == "PractitionerRole" or not as_dict(reference).get("display")
                        found[(kind, rid)] = found.get((kind, rid), False) or needed
            source = _meta_source_organisation(resource)
            if source:
                found[("Organization", source)] = True
    return found


# -- where each item came from -------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Which organisation (and who there) recorded something, and when."""

    organisation: str | None
    organisation_id: str | None
    person: str | None
    when: When | None


def _source_references(resource: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for path in SOURCE_ELEMENTS.get(str(resource.get("resourceType")), ()):
        for value in element(resource, path):
            if isinstance(value, dict):
                yield value


def _meta_source_organisation(resource: Mapping[str, Any]) -> str | None:
    """The Organization's id when meta.source names one ("Organization/x", or a URL ending
    in it); other sources (a system's URI) say nothing about the organisation."""
    source = resource.get("meta", {}).get("source")
    if not isinstance(source, str):
        return None
    marker = "Organization/"
    at = source.rfind(marker)
    if at < 0 or (at > 0 and source[at - 1] != "/"):
        return None
    rid = source[at + len(marker) :].split("/")[0].split("|")[0]
    return rid or None


def source_of(resource: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]) -> Source:
    """Which organisation and person recorded `resource`, and when (SOURCE_ELEMENTS,
    DATE_ELEMENTS). An organisation comes from a reference to it, or from the PractitionerRole
    referred to; a person from a PractitionerRole's Practitioner, a Practitioner, the person
    or their carer, or the reference's display. Nothing found is None ("Not recorded")."""
    organisation_id: str | None = None
    organisation: str | None = None
    person: str | None = None
    for reference in _source_references(resource):
        org_id, org_name, who = _resolve(reference, directory)
        if org_name or org_id:
            # The person who acted for the organisation, rather than (say) the patient who
            # is an Appointment's first participant.
            organisation_id, organisation = org_id, org_name or org_id
            person = who or person
            break
        person = person or who
    if organisation is None:
        org_id = _meta_source_organisation(resource)
        if org_id:
            organisation_id = org_id
            organisation = _organisation_name(directory, org_id) or org_id
    return Source(organisation, organisation_id, person, recorded_when(resource))


def _resolve(
    reference: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> tuple[str | None, str | None, str | None]:
    """(organisation id, organisation name, person's name) a reference leads to."""
    target = reference.get("reference")
    display = reference.get("display") if isinstance(reference.get("display"), str) else None
    if not isinstance(target, str):
        return None, None, display
    kind, _, rid = target.partition("/")
    found = directory.get(target, {})
    if kind == "Organization":
        return rid, _organisation_name(directory, rid) or display, None
    if kind == "PractitionerRole":
        org_id = referenced_id(found.get("organization"), "Organization")
        practitioner_id = referenced_id(found.get("practitioner"), "Practitioner")
        practitioner = directory.get(f"Practitioner/{practitioner_id}", {})
        who = practitioner_name(practitioner) or display
        org_display = found.get("organization", {}).get("display") if found else None
        name = _organisation_name(directory, org_id) if org_id else None
        return org_id, name or (org_display if isinstance(org_display, str) else None), who
    if kind == "Practitioner":
        return None, None, practitioner_name(found) or display
    if kind in ("Patient", "RelatedPerson"):
        return None, None, (person_name(found) if found else None) or display
    return None, None, display


def _organisation_name(directory: Mapping[str, dict[str, Any]], org_id: str | None) -> str | None:
    name = directory.get(f"Organization/{org_id}", {}).get("name")
    return name if isinstance(name, str) and name.strip() else None


def practitioner_name(practitioner: Mapping[str, Any]) -> str | None:
    """ "Dr Jessica Baker": the prefix, given and family names of a Practitioner."""
    for name in practitioner.get("name") or ():
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str) and name["text"].strip():
            return str(name["text"]).strip()
        words = [p for p in name.get("prefix") or () if isinstance(p, str)]
        words += [g for g in name.get("given") or () if isinstance(g, str)]
        if isinstance(name.get("family"), str):
            words.append(name["family"])
        if words:
            return " ".join(words)
    return None


def concept_text(value: Any) -> str | None:
    """What a CodeableConcept (or the first of a list) says in words."""
    concepts = value if isinstance(value, list) else [value]
    for item in concepts:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("text"), str) and item["text"].strip():
            return str(item["text"]).strip()
        for coding in item.get("coding") or ():
            if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                return str(coding["display"])
        for coding in item.get("coding") or ():
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (records from other systems may
    hold anything)."""
    return value if isinstance(value, dict) else {}


def status_code(value: Any) -> str | None:
    """The first code of a status CodeableConcept (clinicalStatus, verificationStatus)."""
    if isinstance(value, dict):
        for coding in value.get("coding") or ():
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return None


# -- the summary ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Demographics:
    address: list[str]
    phones: list[str]
    email: str | None
    ethnicity: str | None


@dataclass(frozen=True)
class ConditionItem:
    condition_id: str
    name: str
    since: When | None
    source: Source


@dataclass(frozen=True)
class MedicineItem:
    statement_id: str
    name: str
    dose: str | None
    source: Source


@dataclass(frozen=True)
class AllergyItem:
    allergy_id: str
    substance: str
    reactions: list[str]
    criticality: str | None
    source: Source


@dataclass(frozen=True)
class FrailtyItem:
    category: str
    """"Mild frailty", "Moderate frailty" or "Severe frailty"."""
    severity: str
    source: Source


@dataclass(frozen=True)
class StayItem:
    """An encounter: an A&E attendance, an admission (with its length of stay), a visit."""

    encounter_id: str
    kind: str
    encounter_class: str | None
    reason: str | None
    start: When | None
    end: When | None
    days: int | None
    """Length of stay in days (nights) for an admission; so far, while they are still in."""
    current: bool
    discharged_to: str | None
    source: Source


@dataclass(frozen=True)
class CarePackageItem:
    """A social care service running now: a home care package, a care-home place."""

    description: str
    hours_per_week: float | None
    provider: str | None
    since: When | None
    review: When | None
    care_home: bool
    source: Source


@dataclass(frozen=True)
class CarerItem:
    related_person_id: str
    name: str
    relationship: str | None
    phones: list[str]


@dataclass(frozen=True)
class ReferralItem:
    service_request_id: str
    service: str
    to: str | None
    status: str
    task_id: str | None
    task_status: str | None
    reason: str | None
    """Why it was rejected (Task.statusReason), when it was."""
    respond_by: date | None
    overdue: bool
    source: Source


@dataclass(frozen=True)
class TaskItem:
    task_id: str
    description: str
    owner: str | None
    status: str
    task_status: str
    due: date | None
    overdue: bool
    source: Source


@dataclass(frozen=True)
class AlertItem:
    flag_id: str
    text: str
    category: str | None
    source: Source


@dataclass(frozen=True)
class PersonSummary:
    """Everything the summary page shows about one person."""

    person: PersonBanner
    """Who they are, from the Patient read with the record (so the page needs no other read)."""
    demographics: Demographics
    alerts: list[AlertItem]
    team: Team | None
    conditions: list[ConditionItem]
    medicines: list[MedicineItem]
    allergies: list[AllergyItem]
    frailty: FrailtyItem | None
    stays: list[StayItem]
    care_packages: list[CarePackageItem]
    carers: list[CarerItem]
    referrals: list[ReferralItem]
    tasks: list[TaskItem]
    not_shared: frozenset[str] = field(default_factory=frozenset)
    """Sections none of whose kinds of record the asker's role may read."""
    partly_shared: frozenset[str] = field(default_factory=frozenset)
    """Sections some of whose kinds of record the asker's role may not read."""

    @property
    def patient_id(self) -> str:
        return self.person.patient_id

    @property
    def current_stay(self) -> StayItem | None:
        return next((stay for stay in self.stays if stay.current), None)


TASK_STATUS_WORDS: Final[Mapping[str, str]] = {
    "draft": "Draft",
    "requested": "Sent, waiting for a reply",
    "received": "Received",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "ready": "Ready",
    "cancelled": "Cancelled",
    "in-progress": "In progress",
    "on-hold": "On hold",
    "failed": "Failed",
    "completed": "Completed",
    "entered-in-error": "Entered in error",
}
TASK_WORDS: Final[Mapping[str, str]] = {
    **TASK_STATUS_WORDS,
    "requested": "To do",
    "received": "To do",
}
"""A task's status in words (a referral's "requested" is "sent, waiting for a reply")."""
STAY_WORDS: Final[Mapping[str, str]] = {
    "EMER": "A&E attendance",
    "IMP": "Hospital admission",
    "ACUTE": "Hospital admission",
    "NONAC": "Hospital stay",
    "SS": "Day case",
    "OBSENC": "Observation stay",
    "HH": "Home visit",
    "AMB": "Appointment",
    "VR": "Phone or video appointment",
}
SECTION_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "alerts": ("Flag",),
    "team": ("CareTeam",),
    "conditions": ("Condition",),
    "medicines": ("MedicationStatement",),
    "allergies": ("AllergyIntolerance",),
    "frailty": ("Observation", "Condition"),
    "stays": ("Encounter",),
    "care_packages": ("EpisodeOfCare", "ServiceRequest"),
    "carers": ("RelatedPerson",),
    "referrals": ("ServiceRequest",),
    "tasks": ("Task",),
}


def person_summary(access: CareRecordAccess, patient_id: str) -> PersonSummary:
    """The summary of a person the asker may see (NotFound otherwise)."""
    record = record_of(access, patient_id, SUMMARY_TYPES)
    return summary_from(record, today())


def summary_from(record: PersonRecord, on: date) -> PersonSummary:
    """The summary of `record` as it stands on the day `on` (for "overdue" and "the last 12
    months"). Pure: resources in, sections out."""
    directory = record.directory
    packages, package_requests = care_packages(record, on)
    return PersonSummary(
        person=banner_of(record.patient),
        demographics=demographics(record.patient),
        alerts=alerts(record.of("Flag"), directory, on),
        team=care_team(record.of("CareTeam"), directory),
        conditions=conditions(record.of("Condition"), directory),
        medicines=medicines(record.of("MedicationStatement"), directory),
        allergies=allergies(record.of("AllergyIntolerance"), directory),
        frailty=frailty(record.of("Observation") + record.of("Condition"), directory),
        stays=stays(record.of("Encounter"), directory, on),
        care_packages=packages,
        carers=carers(record.of("RelatedPerson"), on),
        referrals=referrals(
            [r for r in record.of("ServiceRequest") if r.get("id") not in package_requests],
            record.of("Task"),
            directory,
            on,
        ),
        tasks=open_tasks(record.of("Task"), directory, on),
        not_shared=frozenset(
            section for section, types in SECTION_TYPES.items() if not record.shared(*types)
        ),
        partly_shared=frozenset(
            section
            for section, types in SECTION_TYPES.items()
            if record.shared(*types) and not all(record.shared(t) for t in types)
        ),
    )


def demographics(patient: Mapping[str, Any]) -> Demographics:
    address: list[str] = []
    addresses = [a for a in patient.get("address") or () if isinstance(a, dict)]
    current = [a for a in addresses if not _ended(a.get("period"))]
    home = [a for a in current if a.get("use") == "home"] or current
    if home:
        chosen = home[0]
        address = [str(line) for line in chosen.get("line") or () if isinstance(line, str)]
        address += [
            str(chosen[part])
            for part in ("city", "postalCode")
            if isinstance(chosen.get(part), str)
        ]
        if not address and isinstance(chosen.get("text"), str):
            address = [chosen["text"]]
    return Demographics(
        address=address,
        phones=telecoms(patient, "phone"),
        email=next(iter(telecoms(patient, "email")), None),
        ethnicity=next(
            (
                concept_text(ext.get("valueCodeableConcept"))
                for ext in patient.get("extension") or ()
                if isinstance(ext, dict) and ext.get("url") == ETHNIC_CATEGORY_EXTENSION
            ),
            None,
        ),
    )


def telecoms(resource: Mapping[str, Any], system: str) -> list[str]:
    """The current contact points of one kind ("phone", "email")."""
    return [
        str(t["value"])
        for t in resource.get("telecom") or ()
        if isinstance(t, dict)
        and t.get("system") == system
        and isinstance(t.get("value"), str)
        and not _ended(t.get("period"))
    ]


def _ended(period: Any, on: date | None = None) -> bool:
    if not isinstance(period, dict):
        return False
    end = fhir_when(period.get("end"))
    return end is not None and end.day < (on or today())


def alerts(
    flags: Iterable[dict[str, Any]], directory: Mapping[str, dict[str, Any]], on: date
) -> list[AlertItem]:
    found = [
        AlertItem(
            flag_id=str(flag["id"]),
            text=concept_text(flag.get("code")) or "Alert",
            category=concept_text(flag.get("category")),
            source=source_of(flag, directory),
        )
        for flag in flags
        if flag.get("status") == "active" and not _ended(flag.get("period"), on)
    ]
    return _newest_first(found)


def care_team(
    teams: Iterable[dict[str, Any]], directory: Mapping[str, dict[str, Any]]
) -> Team | None:
    """The person's shared care team (careweave.coordination.care_team), from the CareTeams
    read with the record, chosen as `team_of` chooses it: active, care-coordination
    category, the most recently updated."""
    system, code = CARE_TEAM_CATEGORY
    active = [
        t
        for t in teams
        if t.get("status") == "active" and has_code(t.get("category"), system, code)
    ]
    if not active:
        return None
    chosen = max(active, key=lambda t: str(t.get("meta", {}).get("lastUpdated", "")))
    return team_from(chosen, dict(directory))


def _is_frailty(resource: Mapping[str, Any]) -> str | None:
    return next(
        (code for code in FRAILTY_FINDINGS if has_code(resource.get("code"), SNOMED, code)), None
    )


def conditions(
    found: Iterable[dict[str, Any]], directory: Mapping[str, dict[str, Any]]
) -> list[ConditionItem]:
    """Active conditions (frailty has its own section), newest first."""
    items = [
        ConditionItem(
            condition_id=str(c["id"]),
            name=concept_text(c.get("code")) or "Condition not named",
            since=first_when(c, ("onsetDateTime", "onsetPeriod.start", "recordedDate")),
            source=source_of(c, directory),
        )
        for c in found
        if _is_active_condition(c) and _is_frailty(c) is None
    ]
    return sorted(items, key=lambda i: (i.since or i.source.when) or _NEVER, reverse=True)


def _is_active_condition(condition: Mapping[str, Any]) -> bool:
    if status_code(condition.get("verificationStatus")) in _NOT_TRUE:
        return False
    clinical = status_code(condition.get("clinicalStatus"))
    if clinical is None:
        return not any(k.startswith("abatement") for k in condition)
    return clinical in _ACTIVE_CONDITION


def medicines(
    found: Iterable[dict[str, Any]], directory: Mapping[str, dict[str, Any]]
) -> list[MedicineItem]:
    items = [
        MedicineItem(
            statement_id=str(m["id"]),
            name=concept_text(m.get("medicationCodeableConcept"))
            or str(m.get("medicationReference", {}).get("display") or "Medicine not named"),
            dose="; ".join(
                str(d["text"])
                for d in m.get("dosage") or ()
                if isinstance(d, dict) and isinstance(d.get("text"), str)
            )
            or None,
            source=source_of(m, directory),
        )
        for m in found
        if m.get("status") == "active"
    ]
    return sorted(items, key=lambda i: i.name.lower())


def allergies(
    found: Iterable[dict[str, Any]], directory: Mapping[str, dict[str, Any]]
) -> list[AllergyItem]:
    items = []
    for allergy in found:
        if status_code(allergy.get("verificationStatus")) in _NOT_TRUE:
            continue
        if status_code(allergy.get("clinicalStatus")) in ("inactive", "resolved"):
            continue
        reactions = [
            text
            for reaction in allergy.get("reaction") or ()
            if isinstance(reaction, dict)
            for text in [concept_text(m) for m in reaction.get("manifestation") or ()]
            if text
        ]
        criticality = allergy.get("criticality")
        items.append(
            AllergyItem(
                allergy_id=str(allergy["id"]),
                substance=concept_text(allergy.get("code")) or "Substance not named",
                reactions=reactions,
                criticality=criticality if isinstance(criticality, str) else None,
                source=source_of(allergy, directory),
            )
        )
    return sorted(items, key=lambda i: i.substance.lower())


def frailty(
    found: Iterable[dict[str, Any]], directory: Mapping[str, dict[str, Any]]
) -> FrailtyItem | None:
    """The latest frailty finding (codes.FRAILTY_FINDINGS) from an Observation or an active
    Condition; None when none is recorded (fitness is never coded)."""
    latest: tuple[When, FrailtyItem] | None = None
    for resource in found:
        code = _is_frailty(resource)
        if code is None:
            continue
        if resource.get("resourceType") == "Observation":
            if resource.get("status") in ("entered-in-error", "cancelled", "preliminary"):
                continue
        elif not _is_active_condition(resource):
            continue
        source = source_of(resource, directory)
        when = source.when or _NEVER
        if latest is None or when > latest[0]:
            latest = (
                when,
                FrailtyItem(FRAILTY_DISPLAY[code], FRAILTY_FINDINGS[code], source),
            )
    return latest[1] if latest else None


def stays(
    encounters: Iterable[dict[str, Any]], directory: Mapping[str, dict[str, Any]], on: date
) -> list[StayItem]:
    """Encounters that started in the last 12 months, and any stay still going on, newest
    first; an admission with its length of stay."""
    since = on - timedelta(days=RECENT_DAYS)
    items = []
    for encounter in encounters:
        status = encounter.get("status")
        if status in _NOT_HAPPENED:
            continue
        klass_value = encounter.get("class")
        klass = klass_value.get("code") if isinstance(klass_value, dict) else None
        period = as_dict(encounter.get("period"))
        start = fhir_when(period.get("start"))
        end = fhir_when(period.get("end"))
        current = status in _CURRENT_STAY and end is None
        if not current and (start is None or start.day < since):
            continue
        inpatient = klass in ("IMP", "ACUTE", "NONAC")
        days = None
        if inpatient and start is not None:
            days = ((end.day if end else on) - start.day).days
        hospitalization = encounter.get("hospitalization")
        discharged_to = (
            concept_text(hospitalization.get("dischargeDisposition"))
            if isinstance(hospitalization, dict)
            else None
        )
        kind = STAY_WORDS.get(str(klass)) or concept_text(encounter.get("type")) or "Encounter"
        items.append(
            StayItem(
                encounter_id=str(encounter["id"]),
                kind=kind,
                encounter_class=klass if isinstance(klass, str) else None,
                reason=concept_text(encounter.get("reasonCode")),
                start=start,
                end=end,
                days=days,
                current=current,
                discharged_to=discharged_to,
                source=source_of(encounter, directory),
            )
        )
    return sorted(items, key=lambda i: (i.current, i.start or _NEVER), reverse=True)


def care_packages(record: PersonRecord, on: date) -> tuple[list[CarePackageItem], set[str]]:
    """Social care running now, as the social care page defines a care package
    (careweave.coordination.social_care_packages.packages_from): a package ServiceRequest with
    the episode that runs it, or a care-home place recorded as an episode only. An episode a
    referral started (community nursing accepting a referral, say) is not a care package and
    is not shown here. Also the ids of every package's ServiceRequest, running or past, which
    are packages and so not referrals."""
    # Imported here: social_care_packages reads the record with this module's helpers.
    from careweave.coordination.social_care_packages import packages_from

    directory = record.directory
    requests = {str(r["id"]): r for r in record.of("ServiceRequest")}
    episodes = {str(e["id"]): e for e in record.of("EpisodeOfCare")}
    found = packages_from(record, on)
    items: list[CarePackageItem] = []
    for package in found:
        if not package.current:
            continue
        request = requests.get(package.service_request_id or "")
        episode = episodes.get(package.episode_id or "")
        provider = (
            _organisation_of(episode.get("managingOrganization"), directory) if episode else None
        )
        if request is not None:
            provider = _performer(request, directory) or provider
        items.append(
            CarePackageItem(
                description=concept_text(episode.get("type") if episode else None)
                or concept_text(request.get("code") if request else None)
                or package.description,
                hours_per_week=_hours_per_week(request) if request else None,
                provider=provider,
                since=_package_start(request, episode),
                review=_review(request) if request else None,
                care_home=package.care_home,
                source=package.source,
            )
        )
    return items, {p.service_request_id for p in found if p.service_request_id}


def _package_start(
    request: Mapping[str, Any] | None, episode: Mapping[str, Any] | None
) -> When | None:
    """When a package started, as the social care page reads it: what was arranged from,
    else when the provider's episode began."""
    arranged = (
        first_when(request, ("occurrencePeriod.start", "occurrenceDateTime")) if request else None
    )
    return arranged or (first_when(episode, ("period.start",)) if episode else None)


def _hours_per_week(request: Mapping[str, Any]) -> float | None:
    quantity = request.get("quantityQuantity")
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    unit = f"{quantity.get('code', '')} {quantity.get('unit', '')}".lower()
    if "wk" not in unit and "week" not in unit:
        return None
    return float(quantity["value"])


def _review(request: Mapping[str, Any]) -> When | None:
    for ext in request.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == CARE_PACKAGE_REVIEW_EXTENSION:
            return fhir_when(ext.get("valueDate") or ext.get("valueDateTime"))
    return None


def _organisation_of(reference: Any, directory: Mapping[str, dict[str, Any]]) -> str | None:
    if not isinstance(reference, dict):
        return None
    org_id, name, who = _resolve(reference, directory)
    return name or org_id or who


def _performer(request: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]) -> str | None:
    for reference in request.get("performer") or ():
        found = _organisation_of(reference, directory)
        if found:
            return found
    return None


def carers(related: Iterable[dict[str, Any]], on: date) -> list[CarerItem]:
    items = []
    for person in related:
        if person.get("active") is False or _ended(person.get("period"), on):
            continue
        relationship: list[str] = []
        for concept in person.get("relationship") or ():
            text = concept_text(concept)
            if text and text not in relationship:
                relationship.append(text)
        items.append(
            CarerItem(
                related_person_id=str(person["id"]),
                name=person_name(person) or "Name not recorded",
                relationship=", ".join(relationship) or None,
                phones=telecoms(person, "phone"),
            )
        )
    return sorted(items, key=lambda i: i.name.lower())


def is_overdue(task: Mapping[str, Any], on: date) -> bool:
    """Not closed and due before `on` (docs/care-coordination.md, "Overdue")."""
    due = due_date(task)
    return task.get("status") not in CLOSED_TASK_STATUSES and due is not None and due < on


def _is_referral_task(task: Mapping[str, Any]) -> bool:
    return has_code(task.get("code"), *FULFIL)


def referrals(
    requests: Iterable[dict[str, Any]],
    tasks: Sequence[dict[str, Any]],
    directory: Mapping[str, dict[str, Any]],
    on: date,
) -> list[ReferralItem]:
    """Open referrals (ServiceRequests draft, active or on hold), each with the status of the
    Task that carries it; a rejected one stays until the referrer closes it."""
    by_request: dict[str, dict[str, Any]] = {}
    for task in tasks:
        rid = referenced_id(task.get("focus"), "ServiceRequest")
        if rid is None:
            continue
        known = by_request.get(rid)
        if known is None or _task_order(task) > _task_order(known):
            by_request[rid] = task
    items = []
    for request in requests:
        if request.get("status") not in _OPEN_REFERRAL:
            continue
        carried = by_request.get(str(request["id"]))
        task_status = str(carried.get("status")) if carried else None
        items.append(
            ReferralItem(
                service_request_id=str(request["id"]),
                service=concept_text(request.get("code")) or "Referral",
                to=_performer(request, directory)
                or (_organisation_of(carried.get("owner"), directory) if carried else None),
                status=TASK_STATUS_WORDS.get(task_status or "", "No task recorded"),
                task_id=str(carried["id"]) if carried else None,
                task_status=task_status,
                reason=concept_text(carried.get("statusReason")) if carried else None,
                respond_by=due_date(carried) if carried else None,
                overdue=is_overdue(carried, on) if carried else False,
                source=source_of(request, directory),
            )
        )
    return _newest_first(items)


def _task_order(task: Mapping[str, Any]) -> tuple[str, str]:
    return (str(task.get("meta", {}).get("lastUpdated", "")), str(task.get("id")))


def task_description(task: Mapping[str, Any]) -> str:
    """What a task asks, in words: its description, else its code."""
    description = task.get("description")
    if isinstance(description, str) and description.strip():
        return description.strip()
    text = concept_text(task.get("code"))
    task_type = code_in(task.get("code"), TASK_TYPE)
    if task_type and text == task_type:
        return task_type.replace("-", " ").capitalize()
    return text or "Task"


def open_tasks(
    tasks: Iterable[dict[str, Any]], directory: Mapping[str, dict[str, Any]], on: date
) -> list[TaskItem]:
    """Tasks not closed (referral Tasks are shown with their referral), overdue first, then by
    due date."""
    items = [
        TaskItem(
            task_id=str(task["id"]),
            description=task_description(task),
            owner=_organisation_of(task.get("owner"), directory),
            status=TASK_WORDS.get(str(task.get("status")), str(task.get("status"))),
            task_status=str(task.get("status")),
            due=due_date(task),
            overdue=is_overdue(task, on),
            source=source_of(task, directory),
        )
        for task in tasks
        if task.get("status") not in CLOSED_TASK_STATUSES
        and not (_is_referral_task(task) and referenced_id(task.get("focus"), "ServiceRequest"))
    ]
    return sorted(items, key=lambda i: (not i.overdue, i.due or date.max, i.description))


_NEVER: Final = When(datetime(1, 1, 2, tzinfo=UTC), "day")


_Sourced = TypeVar("_Sourced", AlertItem, ReferralItem)


def _newest_first(items: list[_Sourced]) -> list[_Sourced]:
    return sorted(items, key=lambda i: i.source.when or _NEVER, reverse=True)
