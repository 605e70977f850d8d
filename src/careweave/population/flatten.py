"""Flattening FHIR resources into the narrow rows of the population projection.

The projection (`careweave.population.projection`) holds a few columnar tables, one row per
fact a measure reads. This module turns one resource (a dict, as stored) into those rows, and
nothing else: no database, no as-of day. It applies `careweave.population.record`'s *reading*
rules: which day an entry counts from (in Europe/London) with the very functions the reference
uses, so the two engines cannot read a date differently, and which codes a concept carries with
an equivalent written for JSON dicts (the `Mapping` checks of the reference cost several times
more, and this runs millions of times; the agreement tests hold the two together). The
*measure* rules (which statuses count, windows, thresholds, code lists) are left to the SQL in
`careweave.population.measures_sql`, over the raw statuses kept here.

Each resource belongs to at most one person: itself for a Patient, else the Patient its
`subject`, `patient`, `for` or `beneficiary` names (in that order, as `measures_for` groups a
record). Resources naming no Patient are not about one person and are not flattened.

Every row carries the resource's store primary key (`resource_pk`): where a measure takes "the
latest" of several entries on the same day, the reference takes the last in record order, and
the SQL takes the highest key, so the record order given to the reference is key order.
Empty strings are read as absent (None), so a CSV round trip cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from careweave.coordination.caseload import day_of as uk_day
from careweave.coordination.caseload import review_of
from careweave.coordination.codes import CARE_PLAN_CATEGORY, SECTION_EXTENSION
from careweave.population.clinical_frailty_scale import CFS_CODE
from careweave.population.medicines import THERAPY_TYPE, statement_span
from careweave.population.person_measures import (
    HOUSEHOLD_COMPOSITION,
    IMD_DECILE_EXTENSION,
    SOCIAL_CARE,
)
from careweave.population.record import (
    CONDITION_VERIFICATION,
    NOT_TRUE_OF_THE_PERSON,
    SNOMED,
    condition_day,
    day_of,
    display_of,
    observation_day,
    period_days,
)

PERSON_FIELDS: Final = ("subject", "patient", "for", "beneficiary")
ETHNIC_CATEGORY_EXTENSION: Final = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
)
ETHNIC_CATEGORY_SYSTEMS: Final = (
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland",
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory",
)
"""The England list (one letter, or 99) and UK Core's local sub-codes (two letters, the first
being the England category: CA English is A)."""
LSOA_EXTENSION: Final = "https://fhir.careweave.example/StructureDefinition/lsoa"
ODS_ORGANIZATION: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
ANTICIPATORY_SECTION: Final = "anticipatory"
"""The care plan note section where anticipatory (end of life) care is written."""
CLINICAL_STATUS: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ACUTE_COURSE: Final = "acute"
CONTINUOUS_COURSE: Final = "continuous"

Row = tuple[object, ...]


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # BIGINT, INTEGER, VARCHAR, DATE, BOOLEAN: the same words in DuckDB and Spark


def _columns(*pairs: tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(name, sql_type) for name, sql_type in pairs)


TABLES: Final[Mapping[str, tuple[Column, ...]]] = {
    "people": _columns(
        ("person_id", "VARCHAR"),
        ("resource_pk", "BIGINT"),
        ("birth_date", "DATE"),
        ("died_on", "DATE"),
        ("deceased_flag", "BOOLEAN"),
        ("sex", "VARCHAR"),
        ("ethnic_category", "VARCHAR"),
        ("imd_decile", "INTEGER"),
        ("practice_id", "VARCHAR"),
        ("postcode", "VARCHAR"),
        ("lsoa", "VARCHAR"),
    ),
    "coded_entries": _columns(
        ("person_id", "VARCHAR"),
        ("resource_pk", "BIGINT"),
        ("resource_type", "VARCHAR"),
        ("code_system", "VARCHAR"),
        ("code", "VARCHAR"),
        ("entry_day", "DATE"),
        ("status", "VARCHAR"),
        ("verification", "VARCHAR"),
    ),
    "household": _columns(
        ("person_id", "VARCHAR"),
        ("resource_pk", "BIGINT"),
        ("entry_day", "DATE"),
        ("status", "VARCHAR"),
        ("value_code", "VARCHAR"),
        ("value_position", "INTEGER"),
    ),
    "frailty_scale": _columns(
        ("person_id", "VARCHAR"),
        ("resource_pk", "BIGINT"),
        ("entry_day", "DATE"),
        ("status", "VARCHAR"),
        ("score", "INTEGER"),
    ),
    "medicines": _columns(
        ("person_id", "VARCHAR"),
        ("resource_pk", "BIGINT"),
        ("resource_type", "VARCHAR"),
        ("status", "VARCHAR"),
        ("intent", "VARCHAR"),
        ("course", "VARCHAR"),
        ("start_day", "DATE"),
        ("end_day", "DATE"),
        ("authored_day", "DATE"),
        ("has_validity", "BOOLEAN"),
        ("medicine_key", "VARCHAR"),
        ("display", "VARCHAR"),
    ),
    "encounters": _columns(
        ("person_id", "VARCHAR"),
        ("resource_pk", "BIGINT"),
        ("status", "VARCHAR"),
        ("class_system", "VARCHAR"),
        ("class_code", "VARCHAR"),
        ("start_day", "DATE"),
        ("end_day", "DATE"),
        ("type_code", "VARCHAR"),
    ),
    "care_episodes": _columns(
        ("person_id", "VARCHAR"),
        ("resource_pk", "BIGINT"),
        ("status", "VARCHAR"),
        ("start_day", "DATE"),
        ("end_day", "DATE"),
        ("kind", "VARCHAR"),
        ("kind_position", "INTEGER"),
    ),
    "carers": _columns(
        ("person_id", "VARCHAR"),
        ("resource_pk", "BIGINT"),
        ("relationship", "VARCHAR"),
        ("has_period", "BOOLEAN"),
        ("start_day", "DATE"),
        ("end_day", "DATE"),
        ("inactive", "BOOLEAN"),
    ),
    "care_plans": _columns(
        ("person_id", "VARCHAR"),
        ("resource_pk", "BIGINT"),
        ("status", "VARCHAR"),
        ("personalised", "BOOLEAN"),
        ("created_day", "DATE"),
        ("last_updated", "VARCHAR"),
        ("last_reviewed", "DATE"),
        ("review_due", "DATE"),
        ("anticipatory_care", "BOOLEAN"),
    ),
}
"""The projection's per-person tables and their columns (docs/population-measures.md,
"The projection", says what each holds)."""


def reference_id(value: object, resource_type: str) -> str | None:
    """The id in a literal reference to `resource_type` ("Patient/p1" -> "p1"), else None."""
    if not isinstance(value, dict):
        return None
    reference = value.get("reference")
    prefix = resource_type + "/"
    if not isinstance(reference, str) or not reference.startswith(prefix):
        return None
    found = reference[len(prefix) :].split("/", 1)[0]
    return found or None


def person_of(resource: Mapping[str, Any]) -> str | None:
    """The Patient id a resource belongs to (itself, for a Patient), else None."""
    if resource.get("resourceType") == "Patient":
        found = resource.get("id")
        return found if isinstance(found, str) and found else None
    for field in PERSON_FIELDS:
        patient = reference_id(resource.get(field), "Patient")
        if patient is not None:
            return patient
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _codings(concept: object) -> list[tuple[str | None, str]]:
    """(system, code) of every coding with a code, in order."""
    if not isinstance(concept, dict):
        return []
    found = []
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict):
            code = coding.get("code")
            if isinstance(code, str) and code:
                system = coding.get("system")
                found.append((system if isinstance(system, str) and system else None, code))
    return found


def _codes(concept: object, system: str = SNOMED) -> list[str]:
    """The codes of `system` in a CodeableConcept, in order (record.codes_in, for dicts)."""
    if not isinstance(concept, dict):
        return []
    found = []
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict) and coding.get("system") == system:
            code = coding.get("code")
            if isinstance(code, str) and code:
                found.append(code)
    return found


def _home_addresses(patient: Mapping[str, Any]) -> list[dict[str, Any]]:
    addresses = patient.get("address") or ()
    return [
        a
        for a in (addresses if isinstance(addresses, list) else ())
        if isinstance(a, dict) and a.get("use") in (None, "home")
    ]


def _extension_value(element: Mapping[str, Any], url: str, value_name: str) -> object:
    for extension in element.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == url:
            return extension.get(value_name)
    return None


def ethnic_category(patient: Mapping[str, Any]) -> str | None:
    """The NHS ethnic category code (A-S, Z, or 99) of the UK Core extension, else None."""
    concept = _extension_value(patient, ETHNIC_CATEGORY_EXTENSION, "valueCodeableConcept")
    for system, code in _codings(concept):
        if system == ETHNIC_CATEGORY_SYSTEMS[0]:
            return code
        if system == ETHNIC_CATEGORY_SYSTEMS[1]:
            return code if code == "99" else code[:1]
    return None


@dataclass(frozen=True)
class Home:
    """What the person's home addresses say: the first postcode, LSOA and IMD decile found."""

    postcode: str | None
    lsoa: str | None
    imd_decile: int | None


def home_of(patient: Mapping[str, Any]) -> Home:
    """One pass over the home addresses (use home, or no use), in order; the IMD decile as
    person_measures.imd_decile reads it (a whole number from 1 to 10)."""
    postcode = lsoa = None
    decile = None
    for address in _home_addresses(patient):
        postcode = postcode or _text(address.get("postalCode"))
        for extension in address.get("extension") or ():
            if not isinstance(extension, dict):
                continue
            url = extension.get("url")
            if url == LSOA_EXTENSION and lsoa is None:
                lsoa = _text(extension.get("valueString"))
            elif url == IMD_DECILE_EXTENSION and decile is None:
                value = extension.get("valueInteger")
                if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10:
                    decile = value
    return Home(postcode, lsoa, decile)


def practice_of(patient: Mapping[str, Any]) -> str | None:
    """The Organization id of the first generalPractitioner that is an Organization."""
    practices = patient.get("generalPractitioner") or ()
    for reference in practices if isinstance(practices, list) else ():
        found = reference_id(reference, "Organization")
        if found is not None:
            return found
    return None


def _person_row(resource: Mapping[str, Any], pk: int, person: str) -> Row:
    born = resource.get("birthDate")
    birth = day_of(born) if isinstance(born, str) and len(born) == 10 else None
    home = home_of(resource)
    return (
        person,
        pk,
        _day(birth),
        _day(day_of(resource.get("deceasedDateTime"))),
        resource.get("deceasedBoolean") is True,
        _text(resource.get("gender")),
        ethnic_category(resource),
        home.imd_decile,
        practice_of(resource),
        home.postcode,
        home.lsoa,
    )


def _verification(resource: Mapping[str, Any]) -> str | None:
    """The Condition's verification status, a never-true one (refuted, entered-in-error) first
    when it holds several, so the SQL's rule sees what the reference's intersection sees."""
    statuses = _codes(resource.get("verificationStatus"), CONDITION_VERIFICATION)
    for status in statuses:
        if status in NOT_TRUE_OF_THE_PERSON:
            return status
    return statuses[0] if statuses else None


def _course(resource: Mapping[str, Any]) -> str | None:
    """acute when the request says acute (whatever else), else continuous, else its first."""
    courses = _codes(resource.get("courseOfTherapyType"), THERAPY_TYPE)
    for wanted in (ACUTE_COURSE, CONTINUOUS_COURSE):
        if wanted in courses:
            return wanted
    return courses[0] if courses else None


def medicine_identity(concept: object) -> tuple[str, str] | None:
    """A medicine's key and display: its first SNOMED CT (dm+d) code, else "text:" + its
    case-folded text (medicines.py's identity)."""
    codes = _codes(concept)
    if codes:
        return codes[0], display_of(concept, codes[0])
    if isinstance(concept, dict):
        text = concept.get("text")
        if isinstance(text, str) and text.strip():
            return "text:" + text.strip().casefold(), text.strip()
    return None


def _medicine_row(resource: Mapping[str, Any], kind: str, pk: int, person: str) -> Row:
    identity = medicine_identity(resource.get("medicationCodeableConcept"))
    key, display = identity if identity is not None else (None, None)
    if kind == "MedicationStatement":
        start, end = statement_span(resource)
        authored = None
        has_validity = False
        course = None
        intent = None
    else:
        authored = day_of(resource.get("authoredOn"))
        dispense = resource.get("dispenseRequest")
        validity = dispense.get("validityPeriod") if isinstance(dispense, dict) else None
        has_validity = validity is not None
        start, end = period_days(validity) if has_validity else (None, None)
        start = start or authored
        course = _course(resource)
        intent = _text(resource.get("intent"))
    return (
        person,
        pk,
        kind,
        _text(resource.get("status")),
        intent,
        course,
        _day(start),
        _day(end),
        _day(authored),
        has_validity,
        key,
        display,
    )


def _encounter_row(resource: Mapping[str, Any], pk: int, person: str) -> Row | None:
    klass = resource.get("class")
    if not isinstance(klass, dict):
        return None
    start, end = period_days(resource.get("period"))
    kinds = resource.get("type") or ()
    type_code = next(
        (_codes(k)[0] for k in (kinds if isinstance(kinds, list) else ()) if _codes(k)),
        None,
    )
    return (
        person,
        pk,
        _text(resource.get("status")),
        _text(klass.get("system")),
        _text(klass.get("code")),
        _day(start),
        _day(end),
        type_code,
    )


def _episode_rows(resource: Mapping[str, Any], pk: int, person: str) -> Iterator[Row]:
    start, end = period_days(resource.get("period"))
    status = _text(resource.get("status"))
    position = 0
    kinds = resource.get("type") or ()
    for kind in kinds if isinstance(kinds, list) else ():
        for code in _codes(kind, SOCIAL_CARE):
            yield (person, pk, status, _day(start), _day(end), code, position)
            position += 1


def _carer_rows(resource: Mapping[str, Any], pk: int, person: str) -> Iterator[Row]:
    period = resource.get("period")
    start, end = period_days(period)
    inactive = resource.get("active") is False
    relationships = resource.get("relationship") or ()
    for relationship in relationships if isinstance(relationships, list) else ():
        for code in _codes(relationship, SOCIAL_CARE):
            yield (person, pk, code, period is not None, _day(start), _day(end), inactive)


def _anticipatory(plan: Mapping[str, Any]) -> bool:
    for note in plan.get("note") or ():
        if (
            isinstance(note, dict)
            and _extension_value(note, SECTION_EXTENSION, "valueCode") == ANTICIPATORY_SECTION
        ):
            return True
    return False


def _care_plan_row(resource: dict[str, Any], pk: int, person: str) -> Row:
    system, code = CARE_PLAN_CATEGORY
    categories = resource.get("category") or ()
    personalised = any(
        (system, code) == pair
        for concept in (categories if isinstance(categories, list) else ())
        for pair in _codings(concept)
    )
    review = review_of(resource, date.min)
    meta = resource.get("meta")
    updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return (
        person,
        pk,
        _text(resource.get("status")),
        personalised,
        _day(uk_day(resource.get("created"))),
        updated if isinstance(updated, str) else "",
        _day(review.last_reviewed),
        _day(review.due),
        _anticipatory(resource),
    )


def flatten_into(
    resource: dict[str, Any], pk: int, person: str, sink: Mapping[str, list[Row]]
) -> None:
    """Append the projection rows of one resource of `person` to `sink` (table -> rows)."""
    kind = resource.get("resourceType")
    if kind == "Observation":
        _observation_rows(resource, pk, person, sink)
    elif kind == "Condition":
        day = _day(condition_day(resource))
        status = _codes(resource.get("clinicalStatus"), CLINICAL_STATUS)
        clinical = status[0] if status else None
        verification = _verification(resource)
        rows = sink["coded_entries"]
        for system, code in _codings(resource.get("code")):
            rows.append((person, pk, kind, system, code, day, clinical, verification))
    elif kind in ("MedicationStatement", "MedicationRequest"):
        sink["medicines"].append(_medicine_row(resource, kind, pk, person))
    elif kind == "Patient":
        sink["people"].append(_person_row(resource, pk, person))
    elif kind == "Encounter":
        row = _encounter_row(resource, pk, person)
        if row is not None:
            sink["encounters"].append(row)
    elif kind == "EpisodeOfCare":
        sink["care_episodes"].extend(_episode_rows(resource, pk, person))
    elif kind == "RelatedPerson":
        sink["carers"].extend(_carer_rows(resource, pk, person))
    elif kind == "CarePlan":
        sink["care_plans"].append(_care_plan_row(resource, pk, person))


def flatten(resource: dict[str, Any], pk: int, person: str) -> dict[str, list[Row]]:
    """The projection rows of one resource of `person`, by table (the tables it has rows in)."""
    sink: dict[str, list[Row]] = {table: [] for table in TABLES}
    flatten_into(resource, pk, person, sink)
    return {table: rows for table, rows in sink.items() if rows}


def _observation_rows(
    resource: Mapping[str, Any], pk: int, person: str, sink: Mapping[str, list[Row]]
) -> None:
    day = _day(observation_day(resource))
    status = _text(resource.get("status"))
    rows = sink["coded_entries"]
    household = frailty = False
    for system, code in _codings(resource.get("code")):
        if system == SNOMED:
            household = household or code == HOUSEHOLD_COMPOSITION
            frailty = frailty or code == CFS_CODE
        rows.append((person, pk, "Observation", system, code, day, status, None))
    if household:
        values = _codes(resource.get("valueCodeableConcept"))
        sink["household"].extend(
            (person, pk, day, status, value, position) for position, value in enumerate(values)
        )
    if frailty:
        score = resource.get("valueInteger")
        valid = isinstance(score, int) and not isinstance(score, bool) and -(2**31) < score < 2**31
        sink["frailty_scale"].append((person, pk, day, status, score if valid else None))


FLATTENED_TYPES: Final = frozenset(
    {
        "Patient",
        "Condition",
        "Observation",
        "MedicationStatement",
        "MedicationRequest",
        "Encounter",
        "EpisodeOfCare",
        "RelatedPerson",
        "CarePlan",
    }
)
"""The resource types whose content the measures read."""
WATCHED_TYPES: Final = FLATTENED_TYPES | {"Consent"}
"""The types a refresh follows: the flattened ones, and Consent, whose change may mean a person
now objects (or no longer does) to their record being used for planning."""
