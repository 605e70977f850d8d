"""Frailty: the eFI deficits that are not long-term conditions, and the eFI of a record.

The eFI (Clegg et al. 2016) counts 36 deficits. Sixteen come from the long-term conditions; the
others (falls, mobility problems, incontinence, ...) are drawn here, from the same latent
propensity, so a person's deficits cluster with their conditions. Polypharmacy, social
vulnerability and requirement for care follow from the medicines, household and care the
record holds. `draw_other_problems` adds problems that are not deficits but are reasons for
medicines (constipation, reflux, vitamin D deficiency). `deficits_from_resources` is the
reference computation of the eFI from a record: the generator's intended deficits must equal it
(the tests check this person by person).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from careweave.synth.clinical_codes import (
    BPH,
    EFI_DEFICIT_CODES,
    EXTRA_DEFICIT_LOADING,
    EXTRA_DEFICIT_PREVALENCE,
    EXTRA_DEFICITS,
    OTHER_PROBLEM_LOADING,
    OTHER_PROBLEM_PREVALENCE,
    OTHER_PROBLEMS,
    POLYPHARMACY_THRESHOLD,
    Problem,
    efi_category,
)
from careweave.synth.conditions import (
    MAX_AGE,
    MIN_AGE,
    Diagnosis,
    code_choice,
    intercepts_by_age,
    sigmoid,
)
from careweave.synth.draws import Weighted
from careweave.synth.model import SNOMED


@dataclass(frozen=True)
class _Fitted:
    problem: Problem
    intercepts: tuple[float, ...]
    codes: Weighted[tuple[str, str]]


_EXTRAS: Final = tuple(
    _Fitted(
        problem,
        intercepts_by_age(
            [v / 100 for v in EXTRA_DEFICIT_PREVALENCE[problem.key]], EXTRA_DEFICIT_LOADING
        ),
        code_choice(problem),
    )
    for problem in EXTRA_DEFICITS
)
_OTHERS: Final = tuple(
    _Fitted(
        problem,
        intercepts_by_age(
            [v / 100 for v in OTHER_PROBLEM_PREVALENCE[problem.key]], OTHER_PROBLEM_LOADING
        ),
        code_choice(problem),
    )
    for problem in OTHER_PROBLEMS
)
_BPH_CODE: Final = BPH.codes[0]


def _event_onset(age: int, rng: random.Random) -> float:
    """Years before the record end of a recorded event (falls are mostly recent)."""
    return min(rng.expovariate(1 / 2.5), max(age - 60, 0.5))


def _problem_onset(age: int, rng: random.Random) -> float:
    return min(rng.expovariate(1 / 5.0), max(age - 50, 1))


def draw_extra_deficits(
    age: int, sex: str, z: float, has_dementia: bool, rng: random.Random
) -> list[Diagnosis]:
    """The non-condition eFI deficits of one person, each as one coded problem."""
    index = min(max(age, MIN_AGE), MAX_AGE) - MIN_AGE
    found: list[Diagnosis] = []
    for fitted in _EXTRAS:
        problem = fitted.problem
        if problem.key == "memory_problems" and has_dementia:
            continue  # dementia already gives the memory deficit
        if rng.random() < sigmoid(fitted.intercepts[index] + EXTRA_DEFICIT_LOADING * z):
            code, display = fitted.codes.draw(rng)
            key = problem.key
            if key == "urinary_system_disease" and sex == "male" and rng.random() < 0.5:
                key, code, display = BPH.key, _BPH_CODE[0], _BPH_CODE[1]
            onset = _event_onset(age, rng) if problem.event else _problem_onset(age, rng)
            found.append(Diagnosis(key, code, display, onset, problem.deficit, problem.event))
    return found


def draw_other_problems(age: int, z: float, rng: random.Random) -> list[Diagnosis]:
    """Problems that are not eFI deficits but are common reasons for medicines (constipation,
    reflux), from the same latent propensity, so they cluster with frailty too."""
    index = min(max(age, MIN_AGE), MAX_AGE) - MIN_AGE
    found: list[Diagnosis] = []
    for fitted in _OTHERS:
        if rng.random() < sigmoid(fitted.intercepts[index] + OTHER_PROBLEM_LOADING * z):
            code, display = fitted.codes.draw(rng)
            found.append(
                Diagnosis(fitted.problem.key, code, display, _problem_onset(age, rng), None)
            )
    return found


def deficits_of(diagnoses: Iterable[Diagnosis], medicine_count: int) -> set[str]:
    """The eFI deficits a set of coded problems and a medicine count amount to."""
    deficits = {d.deficit for d in diagnoses if d.deficit is not None}
    if medicine_count >= POLYPHARMACY_THRESHOLD:
        deficits.add("polypharmacy")
    return deficits


_TAKEN: Final = frozenset({"active", "completed"})
"""MedicationStatement statuses that count towards polypharmacy."""


def deficits_from_resources(resources: Iterable[Mapping[str, Any]]) -> set[str]:
    """The eFI deficits of a record, computed only from its FHIR resources.

    A deficit is present when any Condition carries one of its codes (`EFI_DEFICIT_CODES`),
    whatever its status; polypharmacy when there are 5 or more distinct medicine codes among
    MedicationStatements that are active, or completed (a repeat medicine whose record was
    closed, as at death: the eFI of a person who died is their eFI when they died). This is the
    computation population analytics should match.
    """
    deficits: set[str] = set()
    medicines: set[str] = set()
    for resource in resources:
        kind = resource.get("resourceType")
        if kind == "Condition":
            for coding in resource.get("code", {}).get("coding", ()):
                if coding.get("system") == SNOMED and coding.get("code") in EFI_DEFICIT_CODES:
                    deficits.add(EFI_DEFICIT_CODES[coding["code"]])
        elif kind == "MedicationStatement" and resource.get("status") in _TAKEN:
            for coding in resource.get("medicationCodeableConcept", {}).get("coding", ()):
                if coding.get("system") == SNOMED:
                    medicines.add(coding["code"])
    if len(medicines) >= POLYPHARMACY_THRESHOLD:
        deficits.add("polypharmacy")
    return deficits


def category_of(deficits: set[str]) -> str:
    return efi_category(len(deficits))
