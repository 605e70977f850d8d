"""Hospital use and death: emergency admissions, A&E attendances and the date of death.

Admissions and attendances (A&E visits that did not lead to admission) happen at rates per
person-year that rise with the eFI category (Clegg 2016), over the 2 years before the record
ends, at the place's acute trust. Death comes in the 12 months before the record date, at an
annual rate by age band scaled by frailty; about 45% of deaths end an admission.

Every admission above is finished by the record date. Who is in hospital *on* the record date
is drawn separately (`in_hospital_chance`, `days_in_hospital_so_far`, `admission_in_progress`),
from the person's coordination stream (`careweave.synth.coordination`): about 0.55% of living
people 65+ (bed occupancy, see docs/synthetic-data.md), more often the frailer.
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


IN_HOSPITAL_SHARE: Final = 0.0055
"""Share of living people 65+ in an acute bed on any day (approx.): about 94,000 of England's
~101,000 general and acute beds are occupied (NHS England KH03, 2023-24, approx.), about two
thirds of them by people 65+ (HES bed days, approx., from memory), among ~10.4 million people
65+ (Census 2021): 94,000 x 0.63 / 10.4 million = 0.57%."""
_LIVING_FRAILTY_SHARE: Final = {"fit": 0.515, "mild": 0.33, "moderate": 0.117, "severe": 0.038}
"""The eFI split of the living 65+ (clinical_codes.TARGETS), to keep the average on target."""
_MEAN_ADMISSION_RATE: Final = sum(
    share * ADMISSION_RATE[category] for category, share in _LIVING_FRAILTY_SHARE.items()
)
STAY_SO_FAR_MEDIAN: Final = 8.0
STAY_SO_FAR_SIGMA: Final = 1.0
STAY_SO_FAR_MAX: Final = 120
"""Days already spent in hospital by the people in on a given day: lognormal, median 8 days,
so that about 55% have been in 7 days or more and 17% 21 days or more (NHS England's "long
stay" figures for older people, approx., from memory); at most 120 days."""


def in_hospital_chance(category: str) -> float:
    """The chance a living person 65+ is in hospital on the record date: in proportion to their
    emergency admission rate, averaging `IN_HOSPITAL_SHARE` over the eFI split."""
    return IN_HOSPITAL_SHARE * ADMISSION_RATE[category] / _MEAN_ADMISSION_RATE


def days_in_hospital_so_far(rng: random.Random) -> int:
    """How long someone in hospital on the record date has been in (0: admitted that day)."""
    days = rng.lognormvariate(math.log(STAY_SO_FAR_MEDIAN), STAY_SO_FAR_SIGMA)
    return min(int(days), STAY_SO_FAR_MAX)


def admission_reason(problems: Collection[str], rng: random.Random) -> dict[str, Any]:
    """Why an older person with these problems was admitted (weights as for every admission)."""
    return _reasons(problems).draw(rng)


def admission_in_progress(
    resource_id: str, subject: dict[str, str], admitted: int, reason: dict[str, Any], place: Place
) -> dict[str, Any]:
    """An emergency admission still going on: status in-progress, a start and no end, no
    discharge disposition (docs/care-coordination.md, "Hospital discharge")."""
    resource = _encounter(
        resource_id, INPATIENT, EMERGENCY_ADMISSION, subject, admitted, admitted, reason, place
    )
    resource["status"] = "in-progress"
    resource["period"] = {"start": _day(admitted)}
    resource["hospitalization"] = {"admitSource": FROM_EMERGENCY_DEPARTMENT}
    return resource


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
