"""Multimorbidity: how many long-term conditions a person lives with, and across how many body
systems, as of a day.

The conditions and their SNOMED CT codes are a versioned data file
(`data/long-term-conditions-v<n>.csv`), one body system per condition. A condition is present
when the record carries any of its codes by the end of the as-of day, read as for the eFI
(`careweave.population.record`: refuted and entered-in-error entries never count, a resolved one
still does, since a long-term condition on the record is part of the person's history of care).

* **Multimorbidity**: 2 or more of the conditions (NICE NG56; NHS England's "MLTC").
* **Complex multimorbidity**: has no single definition. By default 3 or more conditions
  across 3 or more body systems (Harrison et al. 2014, as used by e.g. Head et al. 2021);
  Kingston et al. use 4 or more conditions. Both thresholds are parameters of `is_complex`,
  and a `ComplexThresholds` is how a place chooses them: the projection keeps the pair it
  measured with in its state, and everything that names the measure to people says which.

The Cambridge Multimorbidity Score, a weighted count of another 20 conditions, is
`careweave.population.cambridge_multimorbidity`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from types import MappingProxyType
from typing import Any, Final

from careweave.population.code_lists import (
    CodeListFile,
    CodeListInfo,
    CodeListProblem,
    one_group_per_code,
    read_code_list,
)
from careweave.population.record import Evidence, coded_entries

MULTIMORBIDITY_CONDITIONS: Final = 2
COMPLEX_CONDITIONS: Final = 3
COMPLEX_BODY_SYSTEMS: Final = 3
COMPLEX_STATE_KEYS: Final = ("complex_conditions", "complex_body_systems")
"""Where a projection's state keeps the complex multimorbidity thresholds it measured with."""
LTC_CODE_LIST: Final = "long-term-conditions"
LTC_CODE_LIST_VERSION: Final = "2"


class InvalidComplexThresholds(ValueError):  # noqa: N818 - what the operator is told
    """Thresholds of complex multimorbidity that define no sensible measure; says which."""


@dataclass(frozen=True)
class ComplexThresholds:
    """The definition of complex multimorbidity a place uses: at least `conditions` long-term
    conditions across at least `body_systems` body systems.

    There is no single definition (shared/standards.md section 4), so an ICS chooses: the
    default 3 and 3 is Harrison et al. 2014's; Kingston et al.'s 4+ conditions is
    `ComplexThresholds(4, 1)`. Refused (InvalidComplexThresholds): anything but whole numbers,
    fewer than 2 conditions (1 condition is not multimorbidity), fewer than 1 body system, and
    more body systems than conditions (each condition is in one body system, so nobody could
    have it: a typing slip, not a definition)."""

    conditions: int = COMPLEX_CONDITIONS
    body_systems: int = COMPLEX_BODY_SYSTEMS

    def __post_init__(self) -> None:
        for value, what, least in (
            (self.conditions, "conditions", MULTIMORBIDITY_CONDITIONS),
            (self.body_systems, "body systems", 1),
        ):
            if type(value) is not int or value < least:
                raise InvalidComplexThresholds(
                    f"The complex multimorbidity threshold of {what} must be a whole number, "
                    f"{least} or more, not {value!r}"
                )
        if self.body_systems > self.conditions:
            raise InvalidComplexThresholds(
                f"Complex multimorbidity cannot ask for {self.body_systems} body systems with "
                f"only {self.conditions} conditions: each condition is in one body system"
            )

    def describe(self) -> str:
        """The definition in words, for labels ("3 or more conditions in 3 or more body
        systems"; with 1 body system, the conditions alone, as Kingston et al. put it)."""
        conditions = f"{self.conditions} or more conditions"
        if self.body_systems == 1:
            return conditions
        return f"{conditions} in {self.body_systems} or more body systems"

    def short(self) -> str:
        """The definition in a table's few words ("3+ conditions, 3+ body systems")."""
        conditions = f"{self.conditions}+ conditions"
        if self.body_systems == 1:
            return conditions
        return f"{conditions}, {self.body_systems}+ body systems"

    def state(self) -> dict[str, str]:
        """The thresholds as a projection's state keeps them."""
        return dict(
            zip(COMPLEX_STATE_KEYS, (str(self.conditions), str(self.body_systems)), strict=True)
        )

    @classmethod
    def from_state(cls, state: Mapping[str, str]) -> ComplexThresholds:
        """The thresholds a projection measured with. A projection made before they could be
        chosen has none in its state: it was measured with the defaults."""
        conditions, systems = (state.get(key) for key in COMPLEX_STATE_KEYS)
        return cls(
            int(conditions) if conditions else COMPLEX_CONDITIONS,
            int(systems) if systems else COMPLEX_BODY_SYSTEMS,
        )


DEFAULT_COMPLEX_THRESHOLDS: Final = ComplexThresholds()
"""3 or more conditions in 3 or more body systems (Harrison et al. 2014)."""


@dataclass(frozen=True)
class LongTermConditionList:
    """The long-term conditions of one version of the data file, with their codes."""

    info: CodeListInfo
    condition_of: Mapping[str, str]  # SNOMED code -> condition
    label_of: Mapping[str, str]  # condition -> what people call it
    body_system_of: Mapping[str, str]  # condition -> body system

    @property
    def conditions(self) -> tuple[str, ...]:
        """The conditions in the order the file lists them."""
        return tuple(self.label_of)


@cache
def long_term_condition_list(version: str = LTC_CODE_LIST_VERSION) -> LongTermConditionList:
    """The long-term condition list of `version` (`data/long-term-conditions-v<version>.csv`)."""
    columns = ("condition", "label", "body_system", "snomed_code", "display")
    return long_term_conditions_from(read_code_list(LTC_CODE_LIST, version, columns))


def long_term_conditions_from(file: CodeListFile) -> LongTermConditionList:
    """The long-term conditions a file holds, checked: one condition per code, and one label
    and one body system per condition."""
    condition_of = one_group_per_code(file, "condition")
    label_of: dict[str, str] = {}
    body_system_of: dict[str, str] = {}
    for row in file.rows:
        condition = row["condition"]
        for table, column in ((label_of, "label"), (body_system_of, "body_system")):
            known = table.setdefault(condition, row[column])
            if known != row[column]:
                raise CodeListProblem(
                    f"{file.info.name}: {condition} has two {column}s, {known!r} and "
                    f"{row[column]!r}"
                )
    return LongTermConditionList(
        file.info,
        MappingProxyType(condition_of),
        MappingProxyType(label_of),
        MappingProxyType(body_system_of),
    )


@dataclass(frozen=True)
class ConditionFound:
    """A long-term condition on the record, and every entry that evidences it (earliest first)."""

    condition: str
    label: str
    body_system: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Multimorbidity:
    """A person's long-term conditions as of a day (in the code list's order)."""

    as_of: date
    conditions: tuple[ConditionFound, ...]
    code_list: CodeListInfo

    @property
    def condition_count(self) -> int:
        return len(self.conditions)

    @property
    def body_systems(self) -> frozenset[str]:
        return frozenset(found.body_system for found in self.conditions)

    @property
    def multimorbid(self) -> bool:
        """Two or more long-term conditions."""
        return self.condition_count >= MULTIMORBIDITY_CONDITIONS

    def is_complex(
        self,
        *,
        min_conditions: int = COMPLEX_CONDITIONS,
        min_body_systems: int = COMPLEX_BODY_SYSTEMS,
    ) -> bool:
        """At least `min_conditions` conditions across at least `min_body_systems` systems
        (Kingston's 4+ conditions: `min_conditions=4, min_body_systems=1`)."""
        return self.condition_count >= min_conditions and len(self.body_systems) >= min_body_systems

    def complex_by(self, thresholds: ComplexThresholds) -> bool:
        """Complex multimorbidity by the place's chosen definition."""
        return self.is_complex(
            min_conditions=thresholds.conditions, min_body_systems=thresholds.body_systems
        )

    @property
    def complex(self) -> bool:
        """Complex multimorbidity by the default thresholds (3+ conditions, 3+ body systems)."""
        return self.is_complex()


def multimorbidity(
    resources: Iterable[Mapping[str, Any]],
    as_of: date,
    *,
    code_list: LongTermConditionList | None = None,
) -> Multimorbidity:
    """The long-term conditions of the person whose record `resources` is, as of `as_of`."""
    codes = code_list or long_term_condition_list()
    evidence: dict[str, list[Evidence]] = {}
    for entry in coded_entries(resources, as_of):
        condition = codes.condition_of.get(entry.code)
        if condition is not None:
            evidence.setdefault(condition, []).append(entry)
    found = tuple(
        ConditionFound(
            condition,
            codes.label_of[condition],
            codes.body_system_of[condition],
            tuple(sorted(evidence[condition], key=_order)),
        )
        for condition in codes.conditions
        if condition in evidence
    )
    return Multimorbidity(as_of, found, codes.info)


def _order(evidence: Evidence) -> tuple[date, str, str, str]:
    return evidence.day, evidence.resource_type, evidence.resource_id, evidence.code
