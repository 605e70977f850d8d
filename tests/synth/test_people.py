"""People of a synthetic place: NHS numbers, demographics, addresses and the Patient resource."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.fhir.nhs_number import is_valid_nhs_number
from careweave.fhir.validation import validate_resource
from careweave.synth.demography import ETHNIC_CATEGORIES, OLDEST_AGE
from careweave.synth.model import (
    ETHNIC_CATEGORY_EXTENSION,
    IMD_EXTENSION,
    LSOA_EXTENSION,
    NHS_NUMBER,
    Person,
    RecordOutcome,
)
from careweave.synth.people import (
    NHS_NUMBER_CAPACITY,
    NhsNumbers,
    Register,
    age_on,
    nhs_number_of_rank,
    patient_resource,
    years_before,
)
from careweave.synth.place import build_place

AS_OF = date(2026, 3, 31)


def share(group: list[Person], test: Callable[[Person], bool]) -> float:
    return sum(1 for person in group if test(person)) / len(group)


def check_digit(stem9: str) -> int | None:
    """The modulus 11 check digit as standards.md gives it; None when no digit can work."""
    total = sum(int(d) * w for d, w in zip(stem9, range(10, 1, -1), strict=True))
    c = 11 - (total % 11)
    return 0 if c == 11 else (None if c == 10 else c)


def test_capacity_is_the_number_of_valid_test_range_numbers() -> None:
    # Count stems 999 000 000 - 999 999 999 whose check digit is not 10, by dynamic programming
    # over the six free digits (weights 7..2) rather than with the code under test.
    ways = Counter({(9 * 10 + 9 * 9 + 9 * 8) % 11: 1})
    for weight in (7, 6, 5, 4, 3, 2):
        step: Counter[int] = Counter()
        for remainder, count in ways.items():
            for digit in range(10):
                step[(remainder + weight * digit) % 11] += count
        ways = step
    assert sum(count for r, count in ways.items() if r != 1) == NHS_NUMBER_CAPACITY


def test_numbers_by_rank_are_valid_increasing_and_in_the_test_range() -> None:
    ranks = [*range(0, 30_000), *range(899_000, 900_000)]
    numbers = [nhs_number_of_rank(rank) for rank in ranks]
    assert all(a < b for a, b in itertools.pairwise(numbers))  # so all distinct
    for number in numbers[::97]:
        assert number.startswith("999")
        assert is_valid_nhs_number(number)
        assert check_digit(number[:9]) == int(number[9])


def test_the_last_ranks_use_the_tenth_digit_no_lower_rank_uses() -> None:
    for rank in (900_000, 900_001, 904_321, NHS_NUMBER_CAPACITY - 1):
        number = nhs_number_of_rank(rank)
        assert is_valid_nhs_number(number)
        assert number[8] == "9"
        block = int(number[3:8])
        partial = {nhs_number_of_rank(block * 9 + position) for position in range(9)}
        assert number not in partial
        assert len(partial | {number}) == 10  # every last digit of this block is usable
    with pytest.raises(ValueError, match="909,091"):
        nhs_number_of_rank(NHS_NUMBER_CAPACITY)


def test_seeded_numbers_are_unique_valid_and_differ_between_seeds() -> None:
    first = NhsNumbers(1)
    numbers = [first.number(index) for index in range(20_000)]
    assert len(set(numbers)) == len(numbers)
    assert all(is_valid_nhs_number(number) for number in numbers)
    assert [first.number(index) for index in reversed(range(100))] == numbers[:100][::-1]
    second = NhsNumbers(2)
    other = [second.number(index) for index in range(20_000)]
    assert sum(a == b for a, b in zip(numbers, other, strict=True)) < 10
    assert first.number(NHS_NUMBER_CAPACITY - 1) not in numbers
    with pytest.raises(ValueError, match="909,091"):
        first.number(NHS_NUMBER_CAPACITY)


@given(
    as_of=st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31)),
    age=st.integers(min_value=0, max_value=OLDEST_AGE),
)
def test_birth_date_windows_give_exactly_the_age(as_of: date, age: int) -> None:
    latest = years_before(as_of, age)
    earliest = years_before(as_of, age + 1) + timedelta(days=1)
    assert age_on(latest, as_of) == age
    assert age_on(earliest, as_of) == age
    assert age_on(latest + timedelta(days=1), as_of) == age - 1
    assert age_on(earliest - timedelta(days=1), as_of) == age + 1


@pytest.fixture(scope="module")
def register() -> Register:
    return Register(build_place(people=6_000, seed=5, as_of=AS_OF))


def test_the_same_index_always_gives_the_same_person(register: Register) -> None:
    again = Register(build_place(people=6_000, seed=5, as_of=AS_OF))
    for index in (0, 1, 2_999, 5_999):
        assert register.person(index) == again.person(index)
    assert register.person(0) != register.person(1)
    with pytest.raises(IndexError):
        register.person(6_000)


def test_people_live_in_their_practice_area_with_consistent_ages(register: Register) -> None:
    directory = register.directory
    per_practice: Counter[str] = Counter()
    per_neighbourhood: Counter[str] = Counter()
    for index in range(register.people):
        person = register.person(index)
        assert person.patient_id == f"p{index}"
        assert age_on(person.birth_date, AS_OF) == person.age
        assert 0 <= person.age <= OLDEST_AGE
        assert person.ethnic_category in ETHNIC_CATEGORIES
        assert person.neighbourhood in person.practice.neighbourhoods
        assert person.usual_gp is not None
        assert person.usual_gp.role == "gp"
        assert person.usual_gp in person.practice.staff
        home = person.address
        streets = directory.streets[person.neighbourhood.code]
        assert home["postalCode"] in {street.postcode for street in streets}
        assert home["city"] == person.neighbourhood.town
        assert home["extension"] == [
            {"url": LSOA_EXTENSION, "valueString": person.neighbourhood.code},
            {"url": IMD_EXTENSION, "valueInteger": person.neighbourhood.imd_decile},
        ]
        per_practice[person.practice.organisation.id] += 1
        per_neighbourhood[person.neighbourhood.code] += 1
    assert {p.organisation.id: p.list_size for p in register.place.practices} == per_practice
    sizes = per_neighbourhood.values()
    assert len(per_neighbourhood) == len(register.place.neighbourhoods)
    assert max(sizes) - min(sizes) <= 1


def test_older_people_are_older_whiter_and_more_often_women(register: Register) -> None:
    people = [register.person(index) for index in range(register.people)]
    older = [p for p in people if p.age >= 65]
    children = [p for p in people if p.age < 18]
    assert 0.15 < len(older) / len(people) < 0.22
    assert any(p.age >= 90 for p in older)

    assert share(older, lambda p: p.ethnic_category == "A") > 0.78
    assert share(children, lambda p: p.ethnic_category == "A") < 0.72
    assert share([p for p in older if p.age >= 85], lambda p: p.sex == "female") > 0.5
    codes = Counter(p.ethnic_category for p in people)
    assert codes["Z"] > 0
    assert codes["99"] > 0
    assert len(codes) >= 12


def test_patient_resources_are_valid_uk_core_patients(register: Register) -> None:
    for index in range(0, register.people, 37):
        person = register.person(index)
        patient = patient_resource(person)
        assert validate_resource(patient) is patient
        assert patient["id"] == person.patient_id
        identifier = patient["identifier"][0]
        assert identifier["system"] == NHS_NUMBER
        assert identifier["value"] == person.nhs_number
        assert identifier["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "01"
        ethnicity = patient["extension"][0]
        assert ethnicity["url"] == ETHNIC_CATEGORY_EXTENSION
        assert ethnicity["valueCodeableConcept"]["coding"][0]["code"] == person.ethnic_category
        assert patient["birthDate"] == person.birth_date.isoformat()
        assert patient["address"] == [person.address]
        assert patient["managingOrganization"]["reference"] == (
            f"Organization/{person.practice.organisation.id}"
        )
        assert person.usual_gp is not None
        assert patient["generalPractitioner"][1]["reference"] == (
            f"PractitionerRole/{person.usual_gp.role_id}"
        )
        assert "deceasedDateTime" not in patient
        assert patient["active"] is True


def test_people_past_the_test_range_have_no_nhs_number_only_when_asked_for() -> None:
    # A benchmark place of 1,000,000 outgrows the 909,091 test-range numbers: the rest get
    # none, never one made up from outside the range.
    directory = build_place(people=NHS_NUMBER_CAPACITY + 5, seed=3, as_of=AS_OF)
    with pytest.raises(ValueError, match=r"at most 909,091 people.*untraced_past_capacity"):
        Register(directory)
    register = Register(directory, untraced_past_capacity=True)
    last_traced = register.person(NHS_NUMBER_CAPACITY - 1)
    assert last_traced.nhs_number is not None and is_valid_nhs_number(last_traced.nhs_number)
    assert patient_resource(last_traced)["identifier"][0]["value"] == last_traced.nhs_number
    for index in range(NHS_NUMBER_CAPACITY, NHS_NUMBER_CAPACITY + 5):
        person = register.person(index)
        assert person.nhs_number is None
        patient = patient_resource(person)
        assert validate_resource(patient) is patient
        assert "identifier" not in patient
        assert list(patient)[:5] == ["resourceType", "id", "meta", "extension", "active"]
        assert patient["managingOrganization"]["reference"] == (
            f"Organization/{person.practice.organisation.id}"
        )


def test_the_record_outcome_shows_on_the_patient(register: Register) -> None:
    person = next(
        register.person(i) for i in range(register.people) if register.person(i).age >= 65
    )
    home = register.place.care_homes[0]
    died = AS_OF - timedelta(days=40)
    outcome = RecordOutcome(deceased=died, care_home=home, marital_status="W")
    patient = patient_resource(person, outcome)
    validate_resource(patient)
    assert patient["deceasedDateTime"] == died.isoformat()
    assert patient["active"] is False
    assert patient["address"] == [home.address]
    assert patient["maritalStatus"]["coding"][0]["code"] == "W"
    unknown = patient_resource(person, RecordOutcome(marital_status="UNK"))
    validate_resource(unknown)
    assert unknown["maritalStatus"]["coding"][0]["code"] == "UNK"
    assert unknown["address"] == [person.address]
