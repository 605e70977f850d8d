"""Hospital use and death: emergency admissions, A&E attendances and the date of death.

Admissions and attendances (A&E visits that did not lead to admission) happen at rates per
person-year that rise with the eFI category (Clegg 2016), over the 2 years before the record
ends, at the place's acute trust. Death comes in the 12 months before the record date, at an
annual rate by age band scaled by frailty; about 45% of deaths end an admission.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection
from datetime import date
from typing import Any, Final

from careweave.synth.clinical_codes import (
    ADMISSION_RATE,
    ADMISSION_REASONS,
    ANNUAL_MORTALITY,
    ATTENDANCE_RATE,
    DIED_IN_HOSPITAL,
    DISCHARGED_TO,
    EMERGENCY,
    EMERGENCY_ADMISSION,
    EMERGENCY_DEPARTMENT_VISIT,
    EMERGENCY_PRIORITY,
    FRAILTY_CATEGORIES,
    FROM_EMERGENCY_DEPARTMENT,
    HOSPITAL_YEARS,
    INPATIENT,
    MORTALITY_MULTIPLIER,
    age_band,
    concept,
)
from careweave.synth.draws import Weighted
from careweave.synth.model import Place

FRAILTY_SHARE_BY_BAND: Final[dict[str, tuple[float, float, float, float]]] = {
    "65-74": (0.599, 0.295, 0.086, 0.020),
    "75-84": (0.458, 0.349, 0.145, 0.048),
    "85+": (0.337, 0.364, 0.203, 0.096),
}
"""The eFI split each age band comes out with (measured on 50,000 generated people); used to
scale frailty multipliers so each band's overall annual mortality stays on target."""

_MORTALITY_SCALE: Final = {
    band: sum(
        share * MORTALITY_MULTIPLIER[category]
        for share, category in zip(shares, FRAILTY_CATEGORIES, strict=True)
    )
    for band, shares in FRAILTY_SHARE_BY_BAND.items()
}


def annual_mortality(age: int, category: str) -> float:
    band = age_band(age)
    return ANNUAL_MORTALITY[band] * MORTALITY_MULTIPLIER[category] / _MORTALITY_SCALE[band]


def draw_death(age: int, category: str, as_of: int, rng: random.Random) -> int | None:
    """The day (ordinal) of death in the 12 months before `as_of`, or None if alive."""
    if rng.random() < annual_mortality(age, category):
        return as_of - rng.randint(0, 364)
    return None


def poisson(mean: float, rng: random.Random) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _reasons(problems: Collection[str]) -> Weighted[dict[str, Any]]:
    items, weights = [], []
    for code, display, weight, needs in ADMISSION_REASONS:
        if not needs or any(key in problems for key in needs):
            items.append(concept(code, display))
            weights.append(weight)
    return Weighted(items, weights)


def _encounter(
    resource_id: str,
    klass: dict[str, str],
    kind: list[dict[str, Any]],
    subject: dict[str, str],
    start: int,
    end: int,
    reason: dict[str, Any],
    place: Place,
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": resource_id,
        "status": "finished",
        "class": klass,
        "type": kind,
        "priority": EMERGENCY_PRIORITY,
        "subject": subject,
        "period": {"start": _day(start), "end": _day(end)},
        "reasonCode": [reason],
        "location": [{"location": {"reference": f"Location/{place.acute_hospital_location_id}"}}],
        "serviceProvider": place.acute_trust.reference,
    }


def hospital_encounters(
    new_id: Callable[[], str],
    subject: dict[str, str],
    as_of: int,
    end: int,
    died: bool,
    category: str,
    problems: Collection[str],
    in_care_home: bool,
    place: Place,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Admissions and A&E attendances between 2 years before `as_of` and `end` (death or as_of).

    Returned in date order; a death in hospital ends the last admission on the day of death.
    """
    start = as_of - 365 * HOSPITAL_YEARS
    years = max(end - start, 0) / 365.0
    reasons = _reasons(problems)
    admissions: list[tuple[int, int, str]] = []
    for _ in range(poisson(ADMISSION_RATE[category] * years, rng)):
        admitted = rng.randint(start, max(start, end - 1))
        stay = max(1, round(rng.lognormvariate(1.7, 0.7)))
        disposition = "home"
        if not in_care_home:
            roll = rng.random()
            disposition = "rehab" if roll < 0.08 else ("long" if roll < 0.1 else "home")
        admissions.append((admitted, min(admitted + stay, end), disposition))
    if died and rng.random() < DIED_IN_HOSPITAL:
        stay = max(1, round(rng.lognormvariate(1.9, 0.8)))
        admissions.append((max(start, end - stay), end, "exp"))
    attendances = [
        rng.randint(start, end) for _ in range(poisson(ATTENDANCE_RATE[category] * years, rng))
    ]
    events: list[tuple[int, int, str, bool]] = [(a, b, d, True) for a, b, d in admissions]
    events.extend((day, day, "", False) for day in attendances)
    events.sort(key=lambda event: (event[0], event[1], event[3]))
    found = []
    for begin, finish, disposition, admitted_in in events:
        if admitted_in:
            resource = _encounter(
                new_id(),
                INPATIENT,
                EMERGENCY_ADMISSION,
                subject,
                begin,
                finish,
                reasons.draw(rng),
                place,
            )
            resource["hospitalization"] = {
                "admitSource": FROM_EMERGENCY_DEPARTMENT,
                "dischargeDisposition": DISCHARGED_TO[disposition],
            }
        else:
            resource = _encounter(
                new_id(),
                EMERGENCY,
                EMERGENCY_DEPARTMENT_VISIT,
                subject,
                begin,
                finish,
                reasons.draw(rng),
                place,
            )
        found.append(resource)
    return found
