"""The medicines a person took in the year before a day: the basis of both polypharmacy measures.

The eFI's polypharmacy deficit (5 or more medicines) and the population measure of heavy
polypharmacy (10 or more repeat medicines) count the same thing, so they share one rule:

* **Which records**: `MedicationStatement`s (what a GP record says the person takes; the
  synthetic place writes every repeat medicine as one) with status active, completed, stopped
  or on-hold, and `MedicationRequest`s (prescriptions) with status active, completed, stopped
  or on-hold and an order intent. A request whose `courseOfTherapyType` is `acute` is a one-off
  course, not a repeat medicine, and is not counted. Not counted: entered-in-error, not-taken,
  intended, draft, cancelled and unknown, and proposals and plans.
* **When**: a statement counts when its effective period overlaps the window (from
  `effectivePeriod`, else `effectiveDateTime` as a single day, else `dateAsserted` as the
  start), an open period running on. A request counts when it was authored in the window, or
  authored before it and still active as a continuing (repeat) prescription, or when its
  `dispenseRequest.validityPeriod` overlaps the window.
* **The window**: the `days` days ending on, and including, the as-of day (365 by default:
  a medicine taken at any time in the last year).
* **Distinct medicines**: by SNOMED CT (dm+d) code of `medicationCodeableConcept`, else by its
  text (case-folded); the same medicine on several records is one medicine. A medicine named
  only by `medicationReference` cannot be identified without the Medication resource and is
  not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from careweave.population.record import (
    Evidence,
    codes_in,
    day_of,
    display_of,
    period_days,
)

MEDICINE_WINDOW_DAYS: Final = 365
TAKEN_STATEMENT: Final = frozenset({"active", "completed", "stopped", "on-hold"})
TAKEN_REQUEST: Final = frozenset({"active", "completed", "stopped", "on-hold"})
ORDER_INTENTS: Final = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
)
ACUTE_COURSE: Final = "acute"
CONTINUOUS_COURSE: Final = "continuous"
THERAPY_TYPE: Final = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"


@dataclass(frozen=True)
class MedicineTaken:
    """One distinct medicine and the records that show it was taken in the window."""

    key: str  # its SNOMED CT (dm+d) code, or "text:<name>" when it has no code
    display: str
    evidence: tuple[Evidence, ...]


def window_start(as_of: date, days: int) -> date:
    """The first day of the `days` days ending on (and including) `as_of`."""
    if days < 1:
        raise ValueError(f"a window is at least 1 day, not {days}")
    return as_of - timedelta(days=days - 1)


def _identity(concept: object) -> tuple[str, str] | None:
    codes = codes_in(concept)
    if codes:
        return codes[0], display_of(concept, codes[0])
    if isinstance(concept, Mapping):
        text = concept.get("text")
        if isinstance(text, str) and text.strip():
            return "text:" + text.strip().casefold(), text.strip()
    return None


def _overlaps(start: date | None, end: date | None, since: date, as_of: date) -> bool:
    return start is not None and start <= as_of and (end is None or end >= since)


def statement_span(resource: Mapping[str, Any]) -> tuple[date | None, date | None]:
    """A MedicationStatement's first and last day (None where open or unreadable).

    The one reading of a statement's dates, so polypharmacy, the Cambridge score and the
    projection the SQL twins read count the same days. A period wins over a dateTime; without
    a readable start a statement counts from when it was asserted.
    """
    if "effectivePeriod" in resource:
        start, end = period_days(resource["effectivePeriod"])
        if start is None:
            start = day_of(resource.get("dateAsserted"))
        return start, end
    if "effectiveDateTime" in resource:
        day = day_of(resource["effectiveDateTime"])
        return day, day
    return day_of(resource.get("dateAsserted")), None


def statement_taken(resource: Mapping[str, Any], since: date, as_of: date) -> date | None:
    """The day a MedicationStatement's medicine was taken in the window from, or None."""
    if resource.get("status") not in TAKEN_STATEMENT:
        return None
    start, end = statement_span(resource)
    return start if _overlaps(start, end, since, as_of) else None


def request_taken(resource: Mapping[str, Any], since: date, as_of: date) -> date | None:
    """The day a MedicationRequest counts from in the window, or None."""
    if resource.get("status") not in TAKEN_REQUEST or resource.get("intent") not in ORDER_INTENTS:
        return None
    course = codes_in(resource.get("courseOfTherapyType"), THERAPY_TYPE)
    if ACUTE_COURSE in course:
        return None
    authored = day_of(resource.get("authoredOn"))
    validity = (resource.get("dispenseRequest") or {}).get("validityPeriod")
    if validity is not None:
        start, end = period_days(validity)
        start = start or authored
        return start if _overlaps(start, end, since, as_of) else None
    if authored is None or authored > as_of:
        return None
    if authored >= since:
        return authored
    ongoing = CONTINUOUS_COURSE in course and resource.get("status") == "active"
    return authored if ongoing else None


def medicines_taken(
    resources: Iterable[Mapping[str, Any]], as_of: date, *, days: int = MEDICINE_WINDOW_DAYS
) -> tuple[MedicineTaken, ...]:
    """The distinct medicines taken in the `days` days up to `as_of`, in code order."""
    since = window_start(as_of, days)
    found: dict[str, tuple[str, list[Evidence]]] = {}
    for resource in resources:
        kind = resource.get("resourceType")
        if kind == "MedicationStatement":
            day = statement_taken(resource, since, as_of)
        elif kind == "MedicationRequest":
            day = request_taken(resource, since, as_of)
        else:
            continue
        if day is None:
            continue
        identity = _identity(resource.get("medicationCodeableConcept"))
        if identity is None:
            continue
        key, display = identity
        evidence = Evidence(kind, str(resource.get("id", "")), day, key, display)
        found.setdefault(key, (display, []))[1].append(evidence)
    return tuple(
        MedicineTaken(key, display, tuple(sorted(evidence, key=_evidence_order)))
        for key, (display, evidence) in sorted(found.items())
    )


def _evidence_order(evidence: Evidence) -> tuple[date, str, str]:
    return evidence.day, evidence.resource_type, evidence.resource_id
