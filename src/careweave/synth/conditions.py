"""Long-term conditions and other coded problems of an older person, as Condition resources.

Each problem is present with probability sigmoid(intercept(age, sex) + loading * z), where z is
the person's latent health propensity (normal, mean shifted by deprivation). Intercepts are
fitted once, at import, so that the average over the propensity and over deprivation deciles
equals the target prevalence of each age band at its typical age; between those ages the
intercept is interpolated, so prevalence rises smoothly with age rather than in steps.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final

from careweave.synth.clinical_codes import (
    ANCHOR_AGES,
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    CONDITION_LOADING,
    CONDITION_PREVALENCE,
    CONDITION_VERIFICATION,
    DEPRIVATION_SHIFT,
    LONG_TERM_CONDITIONS,
    OTHER_CONDITION_LOADING,
    OTHER_CONDITION_PREVALENCE,
    OTHER_CONDITIONS,
    Problem,
    concept,
)
from careweave.synth.draws import Weighted
from careweave.synth.model import SNOMED

MIN_AGE: Final = 65
MAX_AGE: Final = 110

_GRID = tuple(NormalDist().inv_cdf((i + 0.5) / 24) for i in range(24))
_DECILE_SHIFTS = tuple(DEPRIVATION_SHIFT * (5.5 - decile) / 4.5 for decile in range(1, 11))


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def latent_mean(imd_decile: int) -> float:
    """Mean latent health propensity in a deprivation decile (1 = most deprived)."""
    return DEPRIVATION_SHIFT * (5.5 - imd_decile) / 4.5


def fit_intercept(prevalence: float, loading: float) -> float:
    """The intercept giving `prevalence` on average over propensity and deprivation deciles."""
    target = min(max(prevalence, 1e-6), 1 - 1e-6)
    points = [loading * (shift + z) for shift in _DECILE_SHIFTS for z in _GRID]
    intercept = math.log(target / (1 - target))
    for _ in range(30):
        values = [sigmoid(intercept + point) for point in points]
        mean = sum(values) / len(values)
        slope = sum(v * (1 - v) for v in values) / len(values)
        step = (mean - target) / max(slope, 1e-9)
        intercept -= step
        if abs(step) < 1e-7:
            break
    return intercept


def intercepts_by_age(anchors: Sequence[float], loading: float) -> tuple[float, ...]:
    """Intercepts for every age MIN_AGE..MAX_AGE, interpolated between the band anchors.

    `anchors` are prevalences (fractions) at the anchor ages; outside them the slope of the
    nearest segment is carried on for at most 5 years, then held.
    """
    fitted = [fit_intercept(p, loading) for p in anchors]
    ages = ANCHOR_AGES
    values: list[float] = []
    for age in range(MIN_AGE, MAX_AGE + 1):
        if age <= ages[0]:
            a = max(age, ages[0] - 5)
            slope = (fitted[1] - fitted[0]) / (ages[1] - ages[0])
            values.append(fitted[0] + slope * (a - ages[0]))
        elif age >= ages[-1]:
            a = min(age, ages[-1] + 5)
            slope = (fitted[-1] - fitted[-2]) / (ages[-1] - ages[-2])
            values.append(fitted[-1] + slope * (a - ages[-1]))
        else:
            segment = 0 if age < ages[1] else 1
            lo, hi = ages[segment], ages[segment + 1]
            t = (age - lo) / (hi - lo)
            values.append(fitted[segment] * (1 - t) + fitted[segment + 1] * t)
    return tuple(values)


@dataclass(frozen=True)
class _Fitted:
    problem: Problem
    loading: float
    male: tuple[float, ...]
    female: tuple[float, ...]
    codes: Weighted[tuple[str, str]]


def _fit_conditions(
    problems: Sequence[Problem],
    prevalence: dict[str, tuple[float, float, float, float, float, float]],
    loadings: dict[str, float],
) -> tuple[_Fitted, ...]:
    fitted = []
    for problem in problems:
        values = prevalence[problem.key]
        loading = loadings[problem.key]
        fitted.append(
            _Fitted(
                problem,
                loading,
                intercepts_by_age([v / 100 for v in values[:3]], loading),
                intercepts_by_age([v / 100 for v in values[3:]], loading),
                code_choice(problem),
            )
        )
    return tuple(fitted)


def code_choice(problem: Problem) -> Weighted[tuple[str, str]]:
    return Weighted(
        [(code, display) for code, display, _ in problem.codes],
        [weight for _, _, weight in problem.codes],
    )


_CONDITIONS: Final = _fit_conditions(LONG_TERM_CONDITIONS, CONDITION_PREVALENCE, CONDITION_LOADING)
_OTHER_CONDITIONS: Final = _fit_conditions(
    OTHER_CONDITIONS, OTHER_CONDITION_PREVALENCE, OTHER_CONDITION_LOADING
)


def chance_of_any(keys: Collection[str], age: int, sex: str) -> float:
    """The chance that a person of this age and sex has at least one of the conditions `keys`.

    Averaged, as the intercepts were fitted, over the latent propensity and the ten deprivation
    deciles (each a tenth of people): this is what a share of people with any of the conditions
    should come to, given how the conditions cluster.
    """
    index = min(max(age, MIN_AGE), MAX_AGE) - MIN_AGE
    chosen = [f for f in (*_CONDITIONS, *_OTHER_CONDITIONS) if f.problem.key in keys]
    total = 0.0
    for shift in _DECILE_SHIFTS:
        for z in _GRID:
            none = 1.0
            for fitted in chosen:
                intercept = fitted.male[index] if sex == "male" else fitted.female[index]
                none *= 1 - sigmoid(intercept + fitted.loading * (shift + z))
            total += 1 - none
    return total / (len(_DECILE_SHIFTS) * len(_GRID))


@dataclass
class Diagnosis:
    """A problem the person has: which code, and when it started (days before the record end)."""

    key: str
    code: str
    display: str
    onset_years_before: float
    deficit: str | None
    event: bool = False
    resource_id: str = ""


def draw_conditions(age: int, sex: str, z: float, rng: random.Random) -> list[Diagnosis]:
    """The long-term conditions of one person (at most one code per condition)."""
    found = _draw(_CONDITIONS, age, sex, z, rng)
    if sex == "male":
        _no_postmenopausal_osteoporosis_in_men(found)
    return found


def draw_other_conditions(age: int, sex: str, z: float, rng: random.Random) -> list[Diagnosis]:
    """The other long-standing conditions of one person (epilepsy, irritable bowel syndrome,
    schizophrenia or bipolar disorder, alcohol problems, connective tissue disorders), drawn
    the same way as the long-term conditions but outside the generator's multimorbidity
    targets (careweave's measure counts them since long-term-conditions-v2)."""
    return _draw(_OTHER_CONDITIONS, age, sex, z, rng)


def _draw(
    conditions: Sequence[_Fitted], age: int, sex: str, z: float, rng: random.Random
) -> list[Diagnosis]:
    index = min(max(age, MIN_AGE), MAX_AGE) - MIN_AGE
    found: list[Diagnosis] = []
    for fitted in conditions:
        intercept = fitted.male[index] if sex == "male" else fitted.female[index]
        if rng.random() < sigmoid(intercept + fitted.loading * z):
            code, display = fitted.codes.draw(rng)
            found.append(
                Diagnosis(
                    fitted.problem.key, code, display, _onset(age, rng), fitted.problem.deficit
                )
            )
    return found


def _no_postmenopausal_osteoporosis_in_men(found: list[Diagnosis]) -> None:
    for diagnosis in found:
        if diagnosis.key == "osteoporosis":
            diagnosis.code, diagnosis.display = "18040001", "Senile osteoporosis"


def _onset(age: int, rng: random.Random) -> float:
    """Years before the record end that a long-term condition was first recorded (at 40+)."""
    years = rng.expovariate(1 / 8.0)
    return min(years, max(age - 40, 1))


_ACTIVE: Final = concept("active", "Active", CONDITION_CLINICAL)
_RESOLVED: Final = concept("resolved", "Resolved", CONDITION_CLINICAL)
_CONFIRMED: Final = concept("confirmed", "Confirmed", CONDITION_VERIFICATION)
_PROBLEM_LIST: Final = [concept("problem-list-item", "Problem List Item", CONDITION_CATEGORY)]


def condition_resource(
    resource_id: str,
    code: str,
    display: str,
    subject: dict[str, str],
    onset: str,
    recorder: dict[str, str] | None,
    *,
    event: bool = False,
) -> dict[str, Any]:
    """One Condition: a coded problem on the GP problem list (an event is recorded resolved)."""
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": resource_id,
        "clinicalStatus": _RESOLVED if event else _ACTIVE,
        "verificationStatus": _CONFIRMED,
        "category": _PROBLEM_LIST,
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
        "subject": subject,
        "onsetDateTime": onset,
        "recordedDate": onset,
    }
    if recorder is not None:
        resource["recorder"] = recorder
        resource["asserter"] = recorder
    return resource
