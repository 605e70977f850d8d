"""The Cambridge Multimorbidity Score: a weighted count of 20 conditions that predicts GP
consultations, unplanned admission and death better than a plain count (Payne et al., CMAJ
2020). It tells a practice which of two people with "three conditions" is likely to need more.

The definition is data plus the rules here:

* **Weights**: the reduced 20-condition general-outcome score, one weight per condition, in
  `data/cambridge-multimorbidity-conditions-v<n>.csv`. Kept as hundredths, so a score is an
  exact sum (the SQL twin adds the same integers) and only becomes a decimal at the end.
* **Codes**: `data/cambridge-multimorbidity-v<n>.csv`, one named list per kind of diagnosis
  (SNOMED CT) or medicine (dm+d). A code may sit in several lists (an anti-epileptic can be an
  epilepsy medicine and a medicine for pain).
* **Rules** (`RULES`): the usage rules of the Cambridge code lists (v1.1), which say when a
  condition counts: most when a diagnosis code was ever recorded; anxiety or depression when a
  code was recorded in the last 12 months or 4 or more anxiolytics or antidepressants were
  prescribed in them; cancer when a code was recorded in the last 5 years; asthma and epilepsy
  when diagnosed and treated in the last 12 months; irritable bowel syndrome when diagnosed or
  treated with 4 or more antispasmodics; schizophrenia or bipolar disorder when diagnosed or
  ever prescribed lithium; constipation on 4 or more laxatives; a painful condition on 4 or
  more analgesics, or 4 or more anti-epileptics without epilepsy.

Diagnoses are read as every population measure reads them (`careweave.population.record`):
on the record by the end of the day, and never one refuted or entered in error.

**Prescriptions, adapted.** The rules count prescriptions issued. A GP record in FHIR, and the
synthetic place, holds a repeat medicine as one MedicationStatement (or one continuing
MedicationRequest) rather than as each issue. So, per medicine list, in the 365 days up to the
day: a repeat medicine taken in that time (the very reading of `careweave.population.medicines`
that polypharmacy counts) stands for REPEAT_ISSUES prescriptions, and each one-off (acute)
prescription authored in that time is one. "Ever prescribed" is any such record that began by
the day. docs/population-measures.md says what this changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from types import MappingProxyType
from typing import Any, Final

from careweave.population.code_lists import (
    CodeListFile,
    CodeListInfo,
    CodeListProblem,
    read_code_list,
)
from careweave.population.medicines import (
    ACUTE_COURSE,
    ORDER_INTENTS,
    TAKEN_REQUEST,
    TAKEN_STATEMENT,
    THERAPY_TYPE,
    request_taken,
    statement_span,
    statement_taken,
    window_start,
)
from careweave.population.record import (
    Evidence,
    coded_entries,
    codes_in,
    day_of,
    display_of,
    period_days,
)

CMS_CONDITIONS: Final = "cambridge-multimorbidity-conditions"
CMS_CODES: Final = "cambridge-multimorbidity"
CMS_VERSION: Final = "1"
LAST_YEAR_DAYS: Final = 365
"""The Cambridge rules' "last 12 months": the 365 days ending on, and including, the day."""
CANCER_DAYS: Final = 5 * 365
"""Cancer counts when a code was recorded in the last 5 years (1,825 days up to the day)."""
REPEAT_ISSUES: Final = 4
"""How many prescriptions a repeat medicine taken in the last 12 months stands for."""


# -- the rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnosed:
    """A code of `code_list` recorded by the day, or only in the `within_days` days up to it."""

    code_list: str
    within_days: int | None = None


@dataclass(frozen=True)
class Prescribed:
    """At least `at_least` prescriptions of `code_list` in the last 12 months, or (`ever`) any
    prescription of it that began by the day."""

    code_list: str
    at_least: int = 1
    ever: bool = False


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Rule, ...]


@dataclass(frozen=True)
class NoneOf:
    """None of `parts` holds (e.g. anti-epileptics for pain only without epilepsy)."""

    parts: tuple[Rule, ...]


Rule = Diagnosed | Prescribed | AllOf | AnyOf | NoneOf
Atom = Diagnosed | Prescribed

RULES: Final[Mapping[str, Rule]] = MappingProxyType(
    {
        "alcohol-problems": Diagnosed("alcohol-problems"),
        "anxiety-depression": AnyOf(
            (
                Diagnosed("anxiety-depression", LAST_YEAR_DAYS),
                Prescribed("anxiety-depression-medicines", REPEAT_ISSUES),
            )
        ),
        "atrial-fibrillation": Diagnosed("atrial-fibrillation"),
        "cancer": Diagnosed("cancer", CANCER_DAYS),
        "chronic-kidney-disease": Diagnosed("chronic-kidney-disease"),
        "connective-tissue-disorder": Diagnosed("connective-tissue-disorder"),
        "copd": Diagnosed("copd"),
        "coronary-heart-disease": Diagnosed("coronary-heart-disease"),
        "dementia": Diagnosed("dementia"),
        "diabetes": Diagnosed("diabetes"),
        "epilepsy": AllOf((Diagnosed("epilepsy"), Prescribed("epilepsy-medicines"))),
        "hearing-loss": Diagnosed("hearing-loss"),
        "heart-failure": Diagnosed("heart-failure"),
        "irritable-bowel-syndrome": AnyOf(
            (
                Diagnosed("irritable-bowel-syndrome"),
                Prescribed("irritable-bowel-syndrome-medicines", REPEAT_ISSUES),
            )
        ),
        "psychosis-bipolar": AnyOf(
            (
                Diagnosed("psychosis-bipolar"),
                Prescribed("psychosis-bipolar-medicines", ever=True),
            )
        ),
        "stroke-tia": Diagnosed("stroke-tia"),
        "asthma": AllOf((Diagnosed("asthma"), Prescribed("asthma-medicines"))),
        "hypertension": Diagnosed("hypertension"),
        "constipation": Prescribed("constipation-medicines", REPEAT_ISSUES),
        "painful-condition": AnyOf(
            (
                Prescribed("painful-condition-analgesics", REPEAT_ISSUES),
                AllOf(
                    (
                        Prescribed("painful-condition-antiepileptics", REPEAT_ISSUES),
                        NoneOf((Diagnosed("epilepsy"),)),
                    )
                ),
            )
        ),
    }
)
"""When each condition counts (the Cambridge usage rules; see the module docstring)."""


def atoms_of(rule: Rule) -> tuple[Atom, ...]:
    """The diagnoses and prescriptions a rule reads, in the order it names them."""
    if isinstance(rule, Diagnosed | Prescribed):
        return (rule,)
    return tuple(atom for part in rule.parts for atom in atoms_of(part))


def all_atoms() -> tuple[Atom, ...]:
    """Every atom any rule reads, once each, in a stable order (the SQL twin's columns)."""
    seen: dict[Atom, None] = {}
    for rule in RULES.values():
        for atom in atoms_of(rule):
            seen.setdefault(atom, None)
    return tuple(seen)


def diagnosis_lists() -> frozenset[str]:
    return frozenset(a.code_list for a in all_atoms() if isinstance(a, Diagnosed))


def medicine_lists() -> frozenset[str]:
    return frozenset(a.code_list for a in all_atoms() if isinstance(a, Prescribed))


# -- the data files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CambridgeCodeLists:
    """One version of the score's data: the conditions' labels and weights, and the codes."""

    conditions_info: CodeListInfo
    codes_info: CodeListInfo
    label_of: Mapping[str, str]  # condition -> its name for people
    weight_of: Mapping[str, int]  # condition -> weight in hundredths
    lists_of: Mapping[str, frozenset[str]]  # code -> the lists it is in

    @property
    def conditions(self) -> tuple[str, ...]:
        """The conditions in the order the file lists them."""
        return tuple(self.label_of)

    @property
    def top_hundredths(self) -> int:
        """The highest score possible (every condition counting), in hundredths: the bound a
        score typed into a form is checked against and the range its hint names."""
        return sum(self.weight_of.values())

    def codes_in(self, code_list: str) -> frozenset[str]:
        return frozenset(code for code, lists in self.lists_of.items() if code_list in lists)


@cache
def cambridge_code_lists(version: str = CMS_VERSION) -> CambridgeCodeLists:
    """The score's data files of `version`, read and checked."""
    conditions = read_code_list(CMS_CONDITIONS, version, ("condition", "label", "weight"))
    codes = read_code_list(CMS_CODES, version, ("list", "snomed_code", "display", "source"))
    return cambridge_lists_from(conditions, codes)


def cambridge_lists_from(conditions: CodeListFile, codes: CodeListFile) -> CambridgeCodeLists:
    """The score's data, checked against RULES: exactly their conditions, each with a weight
    of at most two decimal places; every list a rule reads has codes; no list is unread; no
    code twice in one list."""
    name = conditions.info.name
    label_of: dict[str, str] = {}
    weight_of: dict[str, int] = {}
    for row in conditions.rows:
        condition = row["condition"]
        if condition in label_of:
            raise CodeListProblem(f"{name}: {condition} is listed twice")
        label_of[condition] = row["label"]
        weight_of[condition] = _hundredths(row["weight"], f"{name}: {condition}")
    if set(label_of) != set(RULES):
        missing = sorted(set(RULES) - set(label_of))
        unknown = sorted(set(label_of) - set(RULES))
        raise CodeListProblem(
            f"{name}: the conditions differ from the rules (missing {missing}, unknown {unknown})"
        )
    lists_of: dict[str, set[str]] = {}
    read = diagnosis_lists() | medicine_lists()
    for row in codes.rows:
        code, code_list = row["snomed_code"], row["list"]
        if code_list not in read:
            raise CodeListProblem(f"{codes.info.name}: no rule reads the list {code_list!r}")
        held = lists_of.setdefault(code, set())
        if code_list in held:
            raise CodeListProblem(f"{codes.info.name}: {code} is listed twice in {code_list}")
        held.add(code_list)
    empty = sorted(read - {lst for lists in lists_of.values() for lst in lists})
    if empty:
        raise CodeListProblem(f"{codes.info.name}: no codes for {', '.join(empty)}")
    return CambridgeCodeLists(
        conditions.info,
        codes.info,
        MappingProxyType(label_of),
        MappingProxyType(weight_of),
        MappingProxyType({code: frozenset(lists) for code, lists in lists_of.items()}),
    )


def _hundredths(text: str, where: str) -> int:
    try:
        weight = Decimal(text)
    except InvalidOperation:
        raise CodeListProblem(f"{where}: the weight {text!r} is not a number") from None
    hundredths = weight * 100
    if not weight.is_finite() or weight <= 0 or hundredths != hundredths.to_integral_value():
        raise CodeListProblem(f"{where}: a weight is positive with at most 2 decimals, not {text}")
    return int(hundredths)


# -- the score of one person ---------------------------------------------------------------------


@dataclass(frozen=True)
class CambridgeConditionFound:
    """A condition that counts towards the score, its weight and what the record shows."""

    condition: str
    label: str
    weight_hundredths: int
    evidence: tuple[Evidence, ...]

    @property
    def weight(self) -> float:
        return self.weight_hundredths / 100


@dataclass(frozen=True)
class CambridgeScore:
    """A person's Cambridge Multimorbidity Score as of a day, condition by condition."""

    as_of: date
    conditions: tuple[CambridgeConditionFound, ...]
    code_lists: tuple[CodeListInfo, CodeListInfo]

    @property
    def hundredths(self) -> int:
        return sum(found.weight_hundredths for found in self.conditions)

    @property
    def score(self) -> float:
        """The score (the weights of the conditions that count, added)."""
        return self.hundredths / 100

    @property
    def condition_count(self) -> int:
        return len(self.conditions)


@dataclass
class _Prescribing:
    """One medicine list's prescriptions on a person's record."""

    last_year: int = 0
    in_last_year: list[Evidence] = field(default_factory=list)
    ever: list[Evidence] = field(default_factory=list)


def cambridge_multimorbidity_score(
    resources: Iterable[Mapping[str, Any]],
    as_of: date,
    *,
    code_lists: CambridgeCodeLists | None = None,
) -> CambridgeScore:
    """The Cambridge Multimorbidity Score of the person whose record `resources` is."""
    lists = code_lists or cambridge_code_lists()
    record = list(resources)
    diagnoses = _diagnoses(record, as_of, lists)
    prescribing = _prescribing(record, as_of, lists)
    found = []
    for condition in lists.conditions:
        evidence = _holds(RULES[condition], as_of, diagnoses, prescribing)
        if evidence is not None:
            found.append(
                CambridgeConditionFound(
                    condition,
                    lists.label_of[condition],
                    lists.weight_of[condition],
                    tuple(sorted(set(evidence), key=_order)),
                )
            )
    return CambridgeScore(as_of, tuple(found), (lists.conditions_info, lists.codes_info))


def _diagnoses(
    record: list[Mapping[str, Any]], as_of: date, lists: CambridgeCodeLists
) -> dict[str, list[Evidence]]:
    wanted = diagnosis_lists()
    found: dict[str, list[Evidence]] = {}
    for entry in coded_entries(record, as_of):
        for code_list in lists.lists_of.get(entry.code, ()):
            if code_list in wanted:
                found.setdefault(code_list, []).append(entry)
    return found


def _prescribing(
    record: list[Mapping[str, Any]], as_of: date, lists: CambridgeCodeLists
) -> dict[str, _Prescribing]:
    wanted = medicine_lists()
    since = window_start(as_of, LAST_YEAR_DAYS)
    found: dict[str, _Prescribing] = {}
    for resource in record:
        kind = resource.get("resourceType")
        if kind not in ("MedicationStatement", "MedicationRequest"):
            continue
        concept = resource.get("medicationCodeableConcept")
        codes = codes_in(concept)
        if not codes:
            continue
        code = codes[0]  # a medicine is known by its first code, as polypharmacy counts it
        counted = [c for c in lists.lists_of.get(code, ()) if c in wanted]
        if not counted:
            continue
        issues, began = _issues(resource, since, as_of)
        # One entry for every list the medicine is in, and for both counts: when it began by
        # the day, `began or as_of` is `began`, the day "ever prescribed" rests on.
        evidence = Evidence(
            str(kind), str(resource.get("id", "")), began or as_of, code, display_of(concept, code)
        )
        for code_list in counted:
            entry = found.setdefault(code_list, _Prescribing())
            if issues:
                entry.last_year += issues
                entry.in_last_year.append(evidence)
            if began is not None and began <= as_of:
                entry.ever.append(evidence)
    return found


def _issues(resource: Mapping[str, Any], since: date, as_of: date) -> tuple[int, date | None]:
    """How many prescriptions a medicine record counts for in the last 12 months, and the day
    it began (None when it is not a prescription that was taken, e.g. entered in error)."""
    if resource.get("resourceType") == "MedicationStatement":
        if resource.get("status") not in TAKEN_STATEMENT:
            return 0, None
        began, _ = statement_span(resource)
        return (REPEAT_ISSUES if statement_taken(resource, since, as_of) else 0), began
    if resource.get("status") not in TAKEN_REQUEST or resource.get("intent") not in ORDER_INTENTS:
        return 0, None
    authored = day_of(resource.get("authoredOn"))
    validity = (resource.get("dispenseRequest") or {}).get("validityPeriod")
    began = (period_days(validity)[0] if validity is not None else None) or authored
    if ACUTE_COURSE in codes_in(resource.get("courseOfTherapyType"), THERAPY_TYPE):
        one_off = authored is not None and since <= authored <= as_of
        return (1 if one_off else 0), began
    return (REPEAT_ISSUES if request_taken(resource, since, as_of) else 0), began


def _holds(
    rule: Rule,
    as_of: date,
    diagnoses: Mapping[str, list[Evidence]],
    prescribing: Mapping[str, _Prescribing],
) -> list[Evidence] | None:
    """The evidence that `rule` holds (possibly none, for NoneOf), or None when it does not."""
    if isinstance(rule, Diagnosed):
        entries = diagnoses.get(rule.code_list, [])
        if rule.within_days is not None:
            since = window_start(as_of, rule.within_days)
            entries = [e for e in entries if e.day >= since]
        return entries or None
    if isinstance(rule, Prescribed):
        entry = prescribing.get(rule.code_list)
        if entry is None:
            return None
        if rule.ever:
            return entry.ever or None
        return entry.in_last_year if entry.last_year >= rule.at_least else None
    results = [_holds(part, as_of, diagnoses, prescribing) for part in rule.parts]
    if isinstance(rule, AllOf):
        if any(r is None for r in results):
            return None
        return [e for r in results if r for e in r]
    if isinstance(rule, AnyOf):
        held = [r for r in results if r is not None]
        return [e for r in held for e in r] if held else None
    return [] if all(r is None for r in results) else None


def _order(evidence: Evidence) -> tuple[date, str, str, str]:
    return evidence.day, evidence.resource_type, evidence.resource_id, evidence.code
