"""Reading one person's FHIR record for population measures: dates, codes and what counts.

Every measure is computed *as of* a day, so the one question asked of each resource is "was
this on the record by then?". The rules, kept here so each measure applies them the same way
(and a columnar engine can copy them one for one):

* A day is the calendar day in Europe/London (people's day, as in GP systems): a FHIR dateTime
  with a time zone is converted first, one without is taken as written. A partial date
  ("2019", "2019-05") is its first day, so a year-only entry counts from 1 January; but the
  end of a period is its last day, so a course that ended "2019-05" ran through 31 May.
* A coded entry is a `Condition` or an `Observation` with a SNOMED CT code. GP systems record
  frailty deficits both as problems and as plain coded entries ("Housebound", "Lives alone"),
  and FHIR GP feeds carry the latter as Observations, so both are read; only the code counts,
  never an Observation's value.
* A Condition is dated by `recordedDate` (when the record learned of it), else by its onset; an
  Observation by its effective date, else `issued`. An entry with no readable date is left out:
  it cannot be placed before or after the as-of day.
* An entry that was never true of the person does not count: a Condition whose verification
  status is `entered-in-error` (recorded by mistake) or `refuted` (ruled out by a clinician), an
  Observation whose status is `entered-in-error` or `cancelled`. Every other status counts,
  including resolved and inactive problems and unconfirmed or provisional ones: the eFI is a
  case-finding tool built on "ever coded" (Clegg 2016), not a list of confirmed diagnoses.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

SNOMED: Final = "http://snomed.info/sct"
UK: Final = ZoneInfo("Europe/London")

CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
NOT_TRUE_OF_THE_PERSON: Final = frozenset({"entered-in-error", "refuted"})
"""Condition verification statuses that mean the problem is not the person's."""
NOT_AN_OBSERVATION: Final = frozenset({"entered-in-error", "cancelled"})
"""Observation statuses that mean nothing was observed."""

_YEAR: Final = re.compile(r"\d{4}")
_YEAR_MONTH: Final = re.compile(r"(\d{4})-(\d{2})")


def day_of(value: object) -> date | None:
    """The day a FHIR date, dateTime or instant falls on (Europe/London); None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        if _YEAR.fullmatch(value):
            return date(int(value), 1, 1)
        month = _YEAR_MONTH.fullmatch(value)
        if month:
            return date(int(month[1]), int(month[2]), 1)
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        return moment.astimezone(UK).date()
    return moment.date()


def codes_in(concept: object, system: str = SNOMED) -> tuple[str, ...]:
    """The codes of `system` in a CodeableConcept (in coding order)."""
    if not isinstance(concept, Mapping):
        return ()
    found = []
    for coding in concept.get("coding") or ():
        if isinstance(coding, Mapping) and coding.get("system") == system:
            code = coding.get("code")
            if isinstance(code, str) and code:
                found.append(code)
    return tuple(found)


def display_of(concept: object, code: str) -> str:
    """What a person reads for `code` in this concept: its coding's display, else the text."""
    if not isinstance(concept, Mapping):
        return code
    for coding in concept.get("coding") or ():
        if isinstance(coding, Mapping) and coding.get("code") == code:
            display = coding.get("display")
            if isinstance(display, str) and display:
                return display
    text = concept.get("text")
    return text if isinstance(text, str) and text else code


def last_day_of(value: object) -> date | None:
    """The last day a FHIR date, dateTime or instant can mean: 31 December for a year alone,
    the month's last day for a year and month, else `day_of`. A Period's end is inclusive of
    all it names (FHIR datatypes: "2019-05" as an end means the whole of May)."""
    if isinstance(value, str):
        if _YEAR.fullmatch(value):
            return date(int(value), 12, 31)
        month = _YEAR_MONTH.fullmatch(value)
        if month:
            year, number = int(month[1]), int(month[2])
            if 1 <= number <= 12:
                return date(year, number, calendar.monthrange(year, number)[1])
            return None
    return day_of(value)


def period_days(period: object) -> tuple[date | None, date | None]:
    """The first and last day of a FHIR Period (None where open or unreadable)."""
    if not isinstance(period, Mapping):
        return None, None
    return day_of(period.get("start")), last_day_of(period.get("end"))


@dataclass(frozen=True)
class Evidence:
    """One entry on the record that a measure rests on, so a clinician can see why.

    `day` is the day the entry counts from (see the module docstring); `code` and `display`
    are the coded concept that matched (for a medicine, its dm+d/SNOMED code or its text).
    """

    resource_type: str
    resource_id: str
    day: date
    code: str
    display: str

    @property
    def reference(self) -> str:
        """The FHIR relative reference of the entry, e.g. "Condition/p12-c3"."""
        return f"{self.resource_type}/{self.resource_id}"


def condition_day(resource: Mapping[str, Any]) -> date | None:
    """The day a Condition was on the record: recorded, else its onset."""
    for value in (
        resource.get("recordedDate"),
        resource.get("onsetDateTime"),
        (resource.get("onsetPeriod") or {}).get("start"),
    ):
        day = day_of(value)
        if day is not None:
            return day
    return None


def observation_day(resource: Mapping[str, Any]) -> date | None:
    """The day an Observation was made: effective, else issued."""
    for value in (
        resource.get("effectiveDateTime"),
        (resource.get("effectivePeriod") or {}).get("start"),
        resource.get("effectiveInstant"),
        resource.get("issued"),
    ):
        day = day_of(value)
        if day is not None:
            return day
    return None


def is_true_of_the_person(resource: Mapping[str, Any]) -> bool:
    """False for entries recorded in error, refuted problems and cancelled observations."""
    kind = resource.get("resourceType")
    if kind == "Condition":
        statuses = codes_in(resource.get("verificationStatus"), CONDITION_VERIFICATION)
        return not NOT_TRUE_OF_THE_PERSON.intersection(statuses)
    if kind == "Observation":
        return resource.get("status") not in NOT_AN_OBSERVATION
    return resource.get("status") != "entered-in-error"


def coded_entries(resources: Iterable[Mapping[str, Any]], as_of: date) -> Iterator[Evidence]:
    """Every SNOMED CT code on a Condition or Observation on the record by the end of `as_of`.

    One Evidence per (entry, code): an entry with two SNOMED codings yields both.
    """
    for resource in resources:
        kind = resource.get("resourceType")
        if kind == "Condition":
            day = condition_day(resource)
        elif kind == "Observation":
            day = observation_day(resource)
        else:
            continue
        if day is None or day > as_of or not is_true_of_the_person(resource):
            continue
        concept = resource.get("code")
        for code in codes_in(concept):
            yield Evidence(kind, str(resource.get("id", "")), day, code, display_of(concept, code))
