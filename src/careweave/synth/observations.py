"""Measurements on an older person's record: blood pressure, weight and BMI, HbA1c and eGFR.

Readings fall in the 2 years before the record ends (the record date, or death) and agree with
the problems on the record: HbA1c of 48 mmol/mol or more only with diabetes, eGFR below 60 only
with chronic kidney disease (in the stage coded), and a falling weight with weight loss, so a
value-based rule (eGFR < 60 -> CKD, as some eFI implementations use) finds the same deficits.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from datetime import date
from typing import Any, Final

from careweave.synth.clinical_codes import (
    BLOOD_PRESSURE,
    BMI,
    BODY_WEIGHT,
    DIASTOLIC,
    EGFR,
    EGFR_UNIT,
    HBA1C,
    KG,
    KG_M2,
    LABORATORY,
    MM_HG,
    MMOL_MOL,
    SYSTOLIC,
    VITAL_SIGNS,
)

WINDOW_DAYS: Final = 730
EGFR_RANGE_BY_CKD_CODE: Final[dict[str, tuple[float, float]]] = {
    "700378005": (45.0, 59.0),  # stage 3A
    "700379002": (30.0, 44.0),  # stage 3B
    "431857002": (15.0, 29.0),  # stage 4
    "433146000": (6.0, 14.0),  # stage 5
}


def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else (high if value > high else value)


def _quantity(value: float, unit: dict[str, str], digits: int = 0) -> dict[str, Any]:
    number: float | int = round(value, digits) if digits else round(value)
    return {"value": number, **unit}


def _observation(
    resource_id: str,
    category: list[dict[str, Any]],
    code: dict[str, Any],
    subject: dict[str, str],
    when: int,
    performer: dict[str, str] | None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": category,
        "code": code,
        "subject": subject,
        "effectiveDateTime": _day(when),
    }
    if performer is not None:
        resource["performer"] = [performer]
    return resource


def observations(
    new_id: Callable[[], str],
    subject: dict[str, str],
    end: int,
    age: int,
    sex: str,
    problems: Collection[str],
    ckd_code: str | None,
    clinician: dict[str, str] | None,
    laboratory: dict[str, str],
    rng: random.Random,
) -> list[dict[str, Any]]:
    """The person's measurements over the 2 years before `end` (a date ordinal)."""
    start = end - WINDOW_DAYS
    found: list[dict[str, Any]] = []

    def when() -> int:
        return rng.randint(start, end)

    hypertensive = "hypertension" in problems
    for _ in range(1 + (2 if hypertensive else 0) + (rng.random() < 0.5)):
        systolic = _clamp(rng.gauss(139.0 if hypertensive else 131.0, 14.0), 90.0, 200.0)
        diastolic = _clamp(rng.gauss(77.0 - 0.25 * (age - 70), 9.0), 45.0, 110.0)
        resource = _observation(new_id(), VITAL_SIGNS, BLOOD_PRESSURE, subject, when(), clinician)
        resource["component"] = [
            {"code": SYSTOLIC, "valueQuantity": _quantity(systolic, MM_HG)},
            {"code": DIASTOLIC, "valueQuantity": _quantity(diastolic, MM_HG)},
        ]
        found.append(resource)

    height = rng.gauss(1.74, 0.07) if sex == "male" else rng.gauss(1.61, 0.065)
    weight = _clamp(rng.gauss(81.0, 13.0) if sex == "male" else rng.gauss(69.0, 12.0), 38, 160)
    readings = 2 if "weight_loss" in problems else 1 + (rng.random() < 0.4)
    days = sorted(when() for _ in range(readings))
    for n, day in enumerate(days):
        if "weight_loss" in problems and n == len(days) - 1:
            weight *= 1 - rng.uniform(0.06, 0.12)
        resource = _observation(new_id(), VITAL_SIGNS, BODY_WEIGHT, subject, day, clinician)
        resource["valueQuantity"] = _quantity(weight, KG, 1)
        found.append(resource)
        resource = _observation(new_id(), VITAL_SIGNS, BMI, subject, day, clinician)
        resource["valueQuantity"] = _quantity(weight / (height * height), KG_M2, 1)
        found.append(resource)

    diabetic = "diabetes" in problems
    hba1c_readings = rng.randint(2, 3) if diabetic else int(rng.random() < 0.25)
    for _ in range(hba1c_readings):
        value = (
            _clamp(rng.gauss(57.0, 11.0), 40.0, 120.0)
            if diabetic
            else _clamp(rng.gauss(39.0, 3.5), 28.0, 47.0)
        )
        resource = _observation(new_id(), LABORATORY, HBA1C, subject, when(), laboratory)
        resource["valueQuantity"] = _quantity(value, MMOL_MOL)
        found.append(resource)

    monitored = ckd_code is not None or diabetic or hypertensive or age >= 75
    egfr_readings = (
        rng.randint(2, 3)
        if ckd_code is not None
        else (1 + (rng.random() < 0.5))
        if monitored
        else int(rng.random() < 0.5)
    )
    for _ in range(egfr_readings):
        if ckd_code is not None:
            low, high = EGFR_RANGE_BY_CKD_CODE[ckd_code]
            value = rng.uniform(low, high)
        else:
            value = _clamp(rng.gauss(82.0 - 0.6 * (age - 65), 9.0), 60.0, 110.0)
        resource = _observation(new_id(), LABORATORY, EGFR, subject, when(), laboratory)
        resource["valueQuantity"] = _quantity(value, EGFR_UNIT)
        found.append(resource)
    return found
