"""One person's whole measure row in plain Python: the reference the SQL engine is checked
against, column for column.

`measures_for(...).row()` holds the clinical measures. The analytics also group and select
by who the person is (sex, ethnic group, practice, area, age band), by their personalised care
and support plan, and by segment; those columns are defined here, once, as rules over FHIR
resources, and `careweave.population.measures_sql` re-expresses every one of them in SQL.

Care plan columns (the plan care coordination writes, `careweave.coordination.care_plan`):

* **The plan**: the person's active personalised care and support plan (status active, category
  `personalised-care-and-support-plan`) made on or before the day (a plan with no `created`
  counts); with several, the newest by `created`, then `meta.lastUpdated`, as the caseload
  chooses (`careweave.coordination.caseload.plan_reviews`).
* **Last reviewed**: the plan's last-reviewed extension, else the day it was made
  (`careweave.coordination.caseload.review_of`). **Reviewed in the last 12 months**: that day
  falls in the year up to and including the as-of day. A review *after* the as-of day counts
  as no review: the store keeps the plan as it is now, so for a past day the review before it
  is not known (the plan's history holds it; reading history is left for later).
* **Review overdue**: the plan's next-review date (else 12 months after the last review) is
  before the day.
* **End of life**: alive on the day, and the plan has an anticipatory care section (wishes for
  the end of life, ReSPECT or DNACPR, anticipatory medicines), or the latest Clinical Frailty
  Scale rating is 9 (terminally ill). The synthetic place codes no palliative care register;
  see docs/population-measures.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any, Final

from careweave.coordination.caseload import day_of as uk_day
from careweave.coordination.caseload import review_of, years_after
from careweave.coordination.codes import CARE_PLAN_CATEGORY, SECTION_EXTENSION
from careweave.population.efi import EfiCodeList
from careweave.population.ethnicity import ethnic_group
from careweave.population.flatten import (
    ANTICIPATORY_SECTION,
    ethnic_category,
    home_of,
    practice_of,
)
from careweave.population.medicines import MEDICINE_WINDOW_DAYS
from careweave.population.multimorbidity import (
    DEFAULT_COMPLEX_THRESHOLDS,
    ComplexThresholds,
    LongTermConditionList,
)
from careweave.population.person_measures import HOSPITAL_WINDOW_DAYS, measures_for

AGE_BANDS: Final = (65, 70, 75, 80, 85, 90)
"""The first age of each band of people 65 and over: 65-69, 70-74, ... 85-89, 90+."""
TERMINALLY_ILL: Final = 9
"""The Clinical Frailty Scale level 9, terminally ill."""

MeasureRow = dict[str, str | int | float | bool | date | None]


def age_band(age: int | None) -> str:
    """ "65-69" ... "85-89", "90+", "under 65", or "unknown" without a full birth date."""
    if age is None:
        return "unknown"
    if age < AGE_BANDS[0]:
        return f"under {AGE_BANDS[0]}"
    for low, high in pairwise(AGE_BANDS):
        if age < high:
            return f"{low}-{high - 1}"
    return f"{AGE_BANDS[-1]}+"


@dataclass(frozen=True)
class CarePlanState:
    """The person's personalised care and support plan as of a day (None: no plan)."""

    last_reviewed: date | None
    review_due: date | None
    anticipatory_care: bool

    def reviewed_within_year(self, as_of: date) -> bool:
        last = self.last_reviewed
        return last is not None and years_after(as_of, -1) <= last <= as_of

    def review_overdue(self, as_of: date) -> bool:
        return self.review_due is not None and self.review_due < as_of


def _is_personalised_plan(resource: Mapping[str, Any]) -> bool:
    for concept in resource.get("category") or ():
        for coding in concept.get("coding") or () if isinstance(concept, Mapping) else ():
            if (
                isinstance(coding, Mapping)
                and (
                    coding.get("system"),
                    coding.get("code"),
                )
                == CARE_PLAN_CATEGORY
            ):
                return True
    return False


def _made(plan: Mapping[str, Any]) -> tuple[date, str]:
    meta = plan.get("meta")
    updated = meta.get("lastUpdated") if isinstance(meta, Mapping) else None
    return uk_day(plan.get("created")) or date.min, updated if isinstance(updated, str) else ""


def care_plan_state(resources: Iterable[Mapping[str, Any]], as_of: date) -> CarePlanState | None:
    """The active personalised care and support plan made by `as_of` (see the module docstring)."""
    chosen: Mapping[str, Any] | None = None
    for resource in resources:
        if resource.get("resourceType") != "CarePlan" or resource.get("status") != "active":
            continue
        if not _is_personalised_plan(resource):
            continue
        made = uk_day(resource.get("created"))
        if made is not None and made > as_of:
            continue
        if chosen is None or _made(resource) > _made(chosen):
            chosen = resource
    if chosen is None:
        return None
    review = review_of(dict(chosen), as_of)
    notes = chosen.get("note") or ()
    anticipatory = any(
        isinstance(note, Mapping)
        and any(
            isinstance(e, Mapping)
            and e.get("url") == SECTION_EXTENSION
            and e.get("valueCode") == ANTICIPATORY_SECTION
            for e in note.get("extension") or ()
        )
        for note in notes
    )
    return CarePlanState(review.last_reviewed, review.due, anticipatory)


def person_row(
    person_resources: Iterable[Mapping[str, Any]],
    as_of: date,
    *,
    hospital_window_days: int = HOSPITAL_WINDOW_DAYS,
    medicine_window_days: int = MEDICINE_WINDOW_DAYS,
    complex_thresholds: ComplexThresholds = DEFAULT_COMPLEX_THRESHOLDS,
    efi_codes: EfiCodeList | None = None,
    long_term_conditions: LongTermConditionList | None = None,
) -> MeasureRow:
    """The whole measure row of one person (their Patient and the resources about them)."""
    record = list(person_resources)
    measures = measures_for(
        record,
        as_of,
        hospital_window_days=hospital_window_days,
        medicine_window_days=medicine_window_days,
        complex_thresholds=complex_thresholds,
        efi_codes=efi_codes,
        long_term_conditions=long_term_conditions,
    )
    patient = next(r for r in record if r.get("resourceType") == "Patient")
    plan = care_plan_state(record, as_of)
    rating = measures.clinical_frailty_scale
    row: MeasureRow = dict(measures.row())
    gender = patient.get("gender")
    category = ethnic_category(patient)
    row.update(
        {
            "sex": gender if isinstance(gender, str) and gender else None,
            "ethnic_category": category,
            "ethnic_group": ethnic_group(category),
            "practice_id": practice_of(patient),
            "lsoa": home_of(patient).lsoa,
            "age_band": age_band(measures.age),
            "has_care_plan": plan is not None,
            "care_plan_last_reviewed": plan.last_reviewed if plan else None,
            "care_plan_reviewed_12m": plan is not None and plan.reviewed_within_year(as_of),
            "care_plan_review_overdue": plan is not None and plan.review_overdue(as_of),
            "end_of_life": not measures.deceased
            and (
                (plan is not None and plan.anticipatory_care)
                or (rating is not None and rating.score == TERMINALLY_ILL)
            ),
        }
    )
    row["segment"] = segment_of(row)
    return row


SEGMENTS: Final = (
    "fit",
    "long-term-conditions",
    "mild-frailty",
    "moderate-frailty",
    "severe-frailty",
    "care-home",
    "end-of-life",
)
"""The segments of the 65+ population, from least to most need."""
OLDER_AGE: Final = 65


def segment_of(row: Mapping[str, object]) -> str | None:
    """The one segment of a person 65+ alive on the day (None for anyone else): the first of
    end of life, care home, severe, moderate and mild frailty (eFI), long-term conditions
    (multimorbidity, 2+), fit. Each person is in one segment, the one of greatest need."""
    age = row["age"]
    if not isinstance(age, int) or age < OLDER_AGE or row["deceased"]:
        return None
    if row["end_of_life"]:
        return "end-of-life"
    if row["care_home"] is not None:
        return "care-home"
    category = row["efi_category"]
    if category in ("mild", "moderate", "severe"):
        return f"{category}-frailty"
    if row["multimorbidity"]:
        return "long-term-conditions"
    return "fit"
