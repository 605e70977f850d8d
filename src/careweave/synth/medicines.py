"""Medicines an older person takes, drawn from their problems, as MedicationStatements.

Each medicine has indications (problem keys, each with a chance) and the first indication on the
record is its recorded reason, so every medicine has an indicating Condition. Some medicines also
come with others (a PPI to protect the stomach from an antiplatelet or anticoagulant, a laxative
with an opioid, calcium and vitamin D with a bisphosphonate): they then take the reason of the
medicine that brought them. Alternatives of one class are not prescribed together. Codes are
dm+d concepts carried as SNOMED CT codings (dm+d ids are SNOMED CT UK Drug Extension concepts);
see clinical_codes.MEDICINES for each code and where it was checked.

The record of someone who died keeps their medicines, closed: status completed, the effective
period ending on the day of death.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from careweave.synth.clinical_codes import (
    MEDICINES,
    PRESCRIBING_LOADING,
    PRESCRIBING_SHIFT,
    PRESCRIBING_SPREAD,
    Medicine,
)
from careweave.synth.model import SNOMED


class CodedProblem(Protocol):
    """What prescribing needs to know of a problem on the record: its code."""

    @property
    def code(self) -> str: ...


@dataclass(frozen=True)
class Prescription:
    medicine: Medicine
    reason_key: str  # the problem it is for
    companion: str | None = None  # the medicine it came with, if it came with one


def _logit(chance: float) -> float:
    chance = min(max(chance, 1e-6), 1 - 1e-6)
    return math.log(chance / (1 - chance))


def _chance(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-logit))


_Plan = tuple[Medicine, tuple[tuple[str, float], ...], float]
_PLAN: Final[tuple[_Plan, ...]] = tuple(
    (
        medicine,
        tuple((key, _logit(chance)) for key, chance in medicine.indications),
        _logit(medicine.companion_chance),
    )
    for medicine in MEDICINES
)
"""Each medicine with the log-odds of its chances, computed once (drawing is on the hot path)."""


def _reason(
    medicine: Medicine,
    indications: tuple[tuple[str, float], ...],
    problems: Mapping[str, CodedProblem],
) -> tuple[str, float] | None:
    """The first indication on the record (and the log-odds of its chance), or None."""
    for key, logit in indications:
        problem = problems.get(key)
        if problem is not None and (
            not medicine.reason_codes or problem.code in medicine.reason_codes
        ):
            return key, logit
    return None


def prescribing_shift(z: float, rng: random.Random) -> float:
    """How much more (or less) than average this person is prescribed, in log-odds.

    It rises with the latent health propensity (sicker, frailer people are prescribed more for
    the same problems, and see more prescribers) and varies between people for other reasons
    (practice habits, how often they consult); it widens the spread of medicine counts so the
    share on 10+ medicines is realistic (tuned, see TARGETS).
    """
    return PRESCRIBING_SHIFT + PRESCRIBING_LOADING * z + PRESCRIBING_SPREAD * rng.gauss(0.0, 1.0)


def draw_medicines(
    problems: Mapping[str, CodedProblem], rng: random.Random, shift: float = 0.0
) -> list[Prescription]:
    """The repeat medicines of someone with these problems (keyed by problem key).

    Every chance is moved by `shift` log-odds (`prescribing_shift`). Medicines are considered in
    `MEDICINES` order, so the companions and alternatives a medicine names have already been
    decided when it is.
    """
    taken: dict[str, Prescription] = {}
    for medicine, indications, companion_logit in _PLAN:
        if medicine.unless and not taken.keys().isdisjoint(medicine.unless):
            continue
        reason = _reason(medicine, indications, problems)
        if reason is not None and rng.random() < _chance(reason[1] + shift):
            taken[medicine.key] = Prescription(medicine, reason[0])
            continue
        for key in medicine.companions:
            if key in taken:
                if rng.random() < _chance(companion_logit + shift):
                    companion = taken[key]
                    taken[medicine.key] = Prescription(
                        medicine, companion.reason_key, companion.medicine.key
                    )
                break
    return list(taken.values())


_CONCEPTS: Final[dict[str, dict[str, Any]]] = {
    medicine.key: {
        "coding": [{"system": SNOMED, "code": medicine.code, "display": medicine.display}],
        "text": medicine.display,
    }
    for medicine in MEDICINES
}
_DOSAGES: Final[dict[str, list[dict[str, str]]]] = {
    medicine.key: [{"text": medicine.dosage}] for medicine in MEDICINES
}


def medication_statement(
    resource_id: str,
    prescription: Prescription,
    subject: dict[str, str],
    start: str,
    asserted: str,
    reason: dict[str, str],
    source: dict[str, str] | None,
    ended: str | None = None,
) -> dict[str, Any]:
    """A MedicationStatement for a repeat medicine, with its reason and dosage.

    `ended` (the day of death) closes it: status completed and the period ending that day.
    """
    key = prescription.medicine.key
    period = {"start": start} if ended is None else {"start": start, "end": ended}
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": resource_id,
        "status": "active" if ended is None else "completed",
        "medicationCodeableConcept": _CONCEPTS[key],
        "subject": subject,
        "effectivePeriod": period,
        "dateAsserted": asserted,
        "reasonReference": [reason],
        "dosage": _DOSAGES[key],
    }
    if source is not None:
        resource["informationSource"] = source
    return resource
