"""NHS number validation against the worked examples and the algorithm in standards.md §1."""

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.fhir.errors import Issue
from careweave.fhir.nhs_number import (
    NHS_NUMBER_SYSTEM,
    ODS_ORGANIZATION_SYSTEM,
    check_nhs_number_identifiers,
    is_valid_nhs_number,
)


def nhs_check_digit(stem9: str) -> int | None:
    """The modulus 11 check digit as standards.md gives it; None when no digit can work."""
    total = sum(int(d) * w for d, w in zip(stem9, range(10, 1, -1), strict=True))
    c = 11 - (total % 11)
    return 0 if c == 11 else (None if c == 10 else c)


def in_scottish_chi_range_without_date(number: str) -> bool:
    """The library also rejects CHI-range numbers whose first six digits are not DDMMYY."""
    if not 100_000_000 <= int(number) <= 3_112_999_999:  # the library's CHI range
        return False
    try:
        datetime.strptime(number[:6], "%d%m%y")
    except ValueError:
        return True
    return False


def test_system_uris_match_uk_core() -> None:
    assert NHS_NUMBER_SYSTEM == "https://fhir.nhs.uk/Id/nhs-number"
    assert ODS_ORGANIZATION_SYSTEM == "https://fhir.nhs.uk/Id/ods-organization-code"


@pytest.mark.parametrize(
    "number",
    [
        "9990000018",
        "9990000026",
        "9990000034",
        "9990000042",
        "9990000050",  # 11 - remainder = 11, so the check digit is 0
        "9990000069",
        "9990000077",
        "9999999999",
        "9434765919",
    ],
)
def test_worked_valid_examples(number: str) -> None:
    assert is_valid_nhs_number(number)


@pytest.mark.parametrize(
    "number",
    [
        "9990000019",  # check digit mismatch (should be 8)
        "9990000000",  # stem gives 10: no valid check digit
        "9991234560",  # stem 999123456 also gives 10
        "9991234561",
    ],
)
def test_worked_invalid_examples(number: str) -> None:
    assert not is_valid_nhs_number(number)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "999000001",  # nine digits
        "99900000180",  # eleven digits
        "999 000 0018",  # the library accepts spaces; a FHIR identifier value must not have them
        "999-000-0018",
        " 9990000018",
        "9990000018\n",
        "999000001a",
        "+990000018",
        "٩٩٩٠٠٠٠٠١٨",  # Arabic-Indic digits, which str.isdigit() and the library accept
    ],
)
def test_rejects_anything_but_ten_ascii_digits(value: str) -> None:
    assert not is_valid_nhs_number(value)


def test_rejects_chi_range_number_that_is_not_a_date_of_birth() -> None:
    # Both pass modulus 11; 01/32/00 is no date of birth, so no CHI number can start so.
    assert nhs_check_digit("013200000") == 8
    assert not is_valid_nhs_number("0132000008")
    assert nhs_check_digit("010150000") == 9
    assert is_valid_nhs_number("0101500009")


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_appending_the_check_digit_gives_a_valid_number(stem: str) -> None:
    check = nhs_check_digit(stem)
    if check is None:
        assert not any(is_valid_nhs_number(stem + str(digit)) for digit in range(10))
        return
    number = stem + str(check)
    assert is_valid_nhs_number(number) is not in_scottish_chi_range_without_date(number)
    for other in set(range(10)) - {check}:
        assert not is_valid_nhs_number(stem + str(other))


@given(st.integers(min_value=0, max_value=999_999))
def test_every_synthetic_range_number_follows_modulus_11(offset: int) -> None:
    stem = f"999{offset:06d}"
    check = nhs_check_digit(stem)
    for digit in range(10):
        assert is_valid_nhs_number(stem + str(digit)) is (digit == check)


def patient(*identifiers: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "Patient", "identifier": list(identifiers)}


def test_identifiers_with_valid_nhs_numbers_pass() -> None:
    resource = patient(
        {"system": NHS_NUMBER_SYSTEM, "value": "9990000018"},
        {"system": "https://example.org/mrn", "value": "not an nhs number"},
    )
    assert check_nhs_number_identifiers(resource) == []


def test_each_bad_nhs_number_is_reported_at_its_value() -> None:
    resource = patient(
        {"system": NHS_NUMBER_SYSTEM, "value": "9990000018"},
        {"system": NHS_NUMBER_SYSTEM, "value": "9990000019"},
        {"system": "https://example.org/mrn", "value": "9990000019"},
        {"system": NHS_NUMBER_SYSTEM, "value": "999 000 0018"},
    )
    issues = check_nhs_number_identifiers(resource)
    assert [issue.expression for issue in issues] == [
        ("Patient.identifier[1].value",),
        ("Patient.identifier[3].value",),
    ]
    assert all(issue.severity == "error" and issue.code == "value" for issue in issues)
    assert "check digit" in issues[0].diagnostics
    assert "10 digits" in issues[1].diagnostics


def test_missing_or_non_string_value_is_reported() -> None:
    resource = {
        "resourceType": "RelatedPerson",
        "identifier": [{"system": NHS_NUMBER_SYSTEM}, {"system": NHS_NUMBER_SYSTEM, "value": 9}],
    }
    assert check_nhs_number_identifiers(resource) == [
        Issue(
            "error",
            "required",
            "An NHS number identifier must have a value",
            ("RelatedPerson.identifier[0].value",),
        ),
        Issue(
            "error",
            "value",
            "9 is not an NHS number: write it as exactly 10 digits with no spaces or other "
            "characters",
            ("RelatedPerson.identifier[1].value",),
        ),
    ]


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Patient"},
        {"resourceType": "Patient", "identifier": "9990000019"},
        {"resourceType": "Patient", "identifier": ["9990000019", None]},
    ],
)
def test_malformed_identifier_elements_are_left_to_structural_validation(
    resource: dict[str, object],
) -> None:
    assert check_nhs_number_identifiers(resource) == []
