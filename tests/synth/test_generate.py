"""`generate_place`: byte-for-byte determinism, valid FHIR, unique NHS numbers, references that
resolve, file order, workers, and the summary."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from careweave.fhir.index_values import references_in
from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM, is_valid_nhs_number
from careweave.fhir.validation import validate_resource
from careweave.population.code_lists import is_snomed_id
from careweave.population.record import SNOMED
from careweave.synth.generate import (
    DEFAULT_AS_OF,
    NHS_NUMBER_CAPACITY,
    GenerationSummary,
    generate_place,
)
from careweave.synth.people import age_on


def read(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Every NDJSON file of `directory` as lists of resources, by file name."""
    return {
        path.name: [orjson.loads(line) for line in path.read_bytes().splitlines()]
        for path in sorted(directory.glob("*.ndjson"))
    }


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationSummary, Path]:
    out = tmp_path_factory.mktemp("place")
    return generate_place(people=400, seed=11, out=out), out


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes(
    tmp_path: Path,
) -> None:
    generate_place(people=600, seed=3, out=tmp_path / "a")
    generate_place(people=600, seed=3, out=tmp_path / "b")
    generate_place(people=600, seed=4, out=tmp_path / "c")
    first = file_bytes(tmp_path / "a")
    assert first == file_bytes(tmp_path / "b")
    other = file_bytes(tmp_path / "c")
    assert other["Patient.ndjson"] != first["Patient.ndjson"]
    assert other["Organization.ndjson"] != first["Organization.ndjson"]


def test_workers_write_exactly_what_one_process_writes(tmp_path: Path) -> None:
    done: list[int] = []
    one = generate_place(people=1_500, seed=8, out=tmp_path / "one")
    two = generate_place(
        people=1_500, seed=8, out=tmp_path / "two", workers=2, progress=done.append
    )
    assert file_bytes(tmp_path / "one") == file_bytes(tmp_path / "two")
    assert one.resources == two.resources
    assert one.older_people == two.older_people
    assert done == sorted(done)
    assert done[-1] == 1_500
    assert not (tmp_path / "two" / ".careweave-parts").exists()


def test_every_line_is_a_valid_fhir_r4_resource(
    generated: tuple[GenerationSummary, Path],
) -> None:
    _, out = generated
    for name, resources in read(out).items():
        for resource in resources:
            assert f"{resource['resourceType']}.ndjson" == name
            validate_resource(resource)


def snomed_codes(value: Any) -> set[str]:
    """Every code of a SNOMED CT coding anywhere in a resource (dm+d ids are SNOMED CT ids)."""
    if isinstance(value, dict):
        found = {str(value["code"])} if value.get("system") == SNOMED and "code" in value else set()
        return found.union(*(snomed_codes(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(snomed_codes(v) for v in value))
    return set()


def test_every_snomed_code_written_has_a_valid_check_digit(
    generated: tuple[GenerationSummary, Path],
) -> None:
    """A mistyped digit would never match a code list; the generator once had one (lactulose)."""
    _, out = generated
    codes = {
        code for resources in read(out).values() for r in resources for code in snomed_codes(r)
    }
    assert len(codes) > 100
    assert sorted(code for code in codes if not is_snomed_id(code)) == []


def test_nhs_numbers_are_valid_unique_and_patients_numbered_in_order(
    generated: tuple[GenerationSummary, Path],
) -> None:
    _, out = generated
    patients = read(out)["Patient.ndjson"]
    assert [patient["id"] for patient in patients] == [f"p{i}" for i in range(400)]
    numbers = [
        identifier["value"]
        for patient in patients
        for identifier in patient["identifier"]
        if identifier["system"] == NHS_NUMBER_SYSTEM
    ]
    assert len(numbers) == 400
    assert len(set(numbers)) == 400
    assert all(number.startswith("999") and is_valid_nhs_number(number) for number in numbers)


def test_every_reference_resolves_and_same_type_targets_come_first(
    generated: tuple[GenerationSummary, Path],
) -> None:
    _, out = generated
    files = read(out)
    ids = {(r["resourceType"], r["id"]) for resources in files.values() for r in resources}
    assert len(ids) == sum(len(resources) for resources in files.values())  # no id twice
    checked = 0
    for resources in files.values():
        seen: set[tuple[str, str]] = set()
        for resource in resources:
            for target in references_in(resource):
                assert target in ids, f"{resource['resourceType']}/{resource['id']} -> {target}"
                if target[0] == resource["resourceType"]:
                    assert target in seen, f"{target} is referenced before it is written"
                checked += 1
            seen.add((resource["resourceType"], resource["id"]))
    assert checked > 2_000


def test_the_summary_counts_what_was_written(generated: tuple[GenerationSummary, Path]) -> None:
    summary, out = generated
    files = read(out)
    assert summary.out == out
    assert summary.people == 400
    assert summary.as_of == DEFAULT_AS_OF
    assert summary.resources == {
        name.removesuffix(".ndjson"): len(resources) for name, resources in files.items()
    }
    assert sorted(path.name for path in summary.files) == sorted(files)
    assert summary.files[:5] == tuple(
        out / f"{t}.ndjson"
        for t in ("Organization", "Location", "Practitioner", "PractitionerRole", "Patient")
    )
    assert summary.total_resources == sum(len(resources) for resources in files.values())
    ages = Counter(
        age_on(date.fromisoformat(patient["birthDate"]), DEFAULT_AS_OF) >= 65
        for patient in files["Patient.ndjson"]
    )
    assert summary.older_people == ages[True]
    assert summary.place_name in files["Organization.ndjson"][0]["name"]


def test_refuses_more_people_than_there_are_nhs_numbers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"at most 909,091.*no NHS number to go beyond it"):
        generate_place(people=NHS_NUMBER_CAPACITY + 1, seed=1, out=tmp_path)
    assert not list(tmp_path.iterdir())  # refused before anything is written
    with pytest.raises(ValueError, match="at least 1 person"):
        generate_place(people=0, seed=1, out=tmp_path)
    with pytest.raises(ValueError, match="workers"):
        generate_place(people=10, seed=1, out=tmp_path, workers=0)
    assert not list(tmp_path.iterdir())  # refused before writing anything


def test_refuses_to_mix_with_an_earlier_place_unless_told_to_overwrite(tmp_path: Path) -> None:
    generate_place(people=200, seed=1, out=tmp_path)
    stale = tmp_path / "Goal.ndjson"
    stale.write_bytes(b"{}\n")
    with pytest.raises(ValueError, match="already holds"):
        generate_place(people=200, seed=2, out=tmp_path)
    summary = generate_place(people=200, seed=2, out=tmp_path, overwrite=True)
    assert not stale.exists()
    assert sorted(tmp_path.glob("*.ndjson")) == sorted(summary.files)
