"""The benchmark's synthetic population: valid, synthetic-range NHS numbers and determinism.

A benchmark on invalid or unrepeatable data measures nothing, so its generator is tested
like product code (its timings never are).
"""

from __future__ import annotations

import random

import orjson
from bench.dataset import generate, nhs_check_digit, synthetic_nhs_numbers

from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM, is_valid_nhs_number
from careweave.fhir.validation import validate_resource


def test_check_digits_agree_with_the_worked_examples() -> None:
    assert nhs_check_digit(999000001) == 8
    assert nhs_check_digit(999000005) == 0  # 11 becomes 0
    assert nhs_check_digit(999000000) is None  # 10: no valid number has this stem


def test_generated_nhs_numbers_are_valid_distinct_and_synthetic() -> None:
    numbers = synthetic_nhs_numbers(random.Random(7), 2000)
    assert len(set(numbers)) == 2000
    assert all(n.startswith("999") and is_valid_nhs_number(n) for n in numbers)


def test_same_seed_same_bundles_and_every_resource_is_valid() -> None:
    first, second = generate(600, seed=11), generate(600, seed=11)
    assert [b.body for b in first.bundles()] == [b.body for b in second.bundles()]
    assert [b.body for b in generate(600, seed=12).bundles()] != [b.body for b in first.bundles()]
    entries = [e for b in first.bundles() for e in orjson.loads(b.body)["entry"]]
    assert len(entries) == first.composition.total == 600
    for entry in entries:
        resource = entry["resource"]
        validate_resource(resource)
        for identifier in resource.get("identifier", []):
            if identifier.get("system") == NHS_NUMBER_SYSTEM:
                assert identifier["value"].startswith("999")
