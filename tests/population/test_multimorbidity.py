"""Multimorbidity of hand-built records: counting long-term conditions, the 2+ threshold, and
complex multimorbidity across body systems with configurable thresholds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.population.multimorbidity import long_term_condition_list, multimorbidity
from tests.population.records import AS_OF, condition

LTC = long_term_condition_list()


def code_of(condition_name: str) -> str:
    return min((c for c, n in LTC.condition_of.items() if n == condition_name), key=int)


def record_with(*conditions: str, day: str = "2019-01-01") -> list[dict[str, Any]]:
    return [condition(code_of(name), day) for name in conditions]


def test_no_conditions() -> None:
    found = multimorbidity([], AS_OF)
    assert (found.condition_count, found.multimorbid, found.complex) == (0, False, False)
    assert found.body_systems == frozenset()


def test_one_condition_is_not_multimorbidity_and_two_are() -> None:
    assert not multimorbidity(record_with("hypertension"), AS_OF).multimorbid
    found = multimorbidity(record_with("hypertension", "diabetes"), AS_OF)
    assert found.multimorbid
    assert [c.condition for c in found.conditions] == ["hypertension", "diabetes"]
    assert found.body_systems == {"circulatory", "endocrine-metabolic"}


def test_two_codes_of_one_condition_count_once() -> None:
    record = [condition("230690007"), condition("266257000")]  # stroke, TIA
    found = multimorbidity(record, AS_OF)
    assert found.condition_count == 1
    assert len(found.conditions[0].evidence) == 2
    assert found.conditions[0].label == "Stroke or transient ischaemic attack"


def test_three_conditions_in_one_system_are_not_complex() -> None:
    found = multimorbidity(
        record_with("hypertension", "heart-failure", "atrial-fibrillation"), AS_OF
    )
    assert found.condition_count == 3
    assert found.body_systems == {"circulatory"}
    assert not found.complex


def test_three_conditions_in_two_systems_are_not_complex_and_in_three_are() -> None:
    two = multimorbidity(record_with("hypertension", "heart-failure", "copd"), AS_OF)
    assert len(two.body_systems) == 2
    assert not two.complex
    three = multimorbidity(record_with("hypertension", "copd", "dementia"), AS_OF)
    assert three.body_systems == {"circulatory", "respiratory", "mental-behavioural"}
    assert three.complex


def test_the_complex_thresholds_are_configurable() -> None:
    """Kingston's definition, 4 or more conditions whatever the systems."""
    three = multimorbidity(record_with("hypertension", "copd", "dementia"), AS_OF)
    assert not three.is_complex(min_conditions=4, min_body_systems=1)
    four = multimorbidity(
        record_with("hypertension", "heart-failure", "atrial-fibrillation", "stroke-tia"), AS_OF
    )
    assert four.is_complex(min_conditions=4, min_body_systems=1)
    assert not four.complex


def test_conditions_count_as_of_the_day() -> None:
    later = (AS_OF + timedelta(days=1)).isoformat()
    record = record_with("hypertension") + record_with("diabetes", day=later)
    assert multimorbidity(record, AS_OF).condition_count == 1
    assert multimorbidity(record, AS_OF + timedelta(days=1)).condition_count == 2


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_and_mistaken_conditions_do_not_count(verification: str) -> None:
    record = [condition(code_of("copd"), verification=verification)]
    assert multimorbidity(record, AS_OF).condition_count == 0


def test_efi_only_codes_are_not_long_term_conditions() -> None:
    falls = condition("1912002")
    assert multimorbidity([falls], AS_OF).condition_count == 0


@given(st.sets(st.sampled_from(LTC.conditions)))
def test_the_count_is_the_number_of_distinct_conditions(chosen: set[str]) -> None:
    found = multimorbidity(record_with(*sorted(chosen)), AS_OF)
    assert {c.condition for c in found.conditions} == chosen
    assert found.multimorbid == (len(chosen) >= 2)
    systems = {LTC.body_system_of[c] for c in chosen}
    assert found.body_systems == systems
    assert found.complex == (len(chosen) >= 3 and len(systems) >= 3)
