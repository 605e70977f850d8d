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
  Kingston et al. use 4 or more conditions. Both thresholds are parameters of `is_complex`.

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
LTC_CODE_LIST: Final = "long-term-conditions"
LTC_CODE_LIST_VERSION: Final = "2"


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
