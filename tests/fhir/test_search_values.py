"""Parsing of FHIR search values: one example per form and per error, plus properties."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.fhir.search_values import (
    DATE_MAX,
    DATE_MIN,
    DATE_PREFIXES,
    DateRange,
    DateSearch,
    NumberSearch,
    QuantitySearch,
    ReferenceSearch,
    SearchValueError,
    TokenSearch,
    escape_like,
    escape_search_value,
    normalise_string,
    parse_date_search,
    parse_fhir_date_range,
    parse_number_search,
    parse_quantity_search,
    parse_reference_search,
    parse_token_search,
    split_on_unescaped,
    split_search_values,
    unescape_search_value,
)

# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2024", datetime(2024, 1, 1), datetime(2025, 1, 1)),
        ("2024-03", datetime(2024, 3, 1), datetime(2024, 4, 1)),
        ("2024-02", datetime(2024, 2, 1), datetime(2024, 3, 1)),
        ("2024-12", datetime(2024, 12, 1), datetime(2025, 1, 1)),
        ("2024-02-29", datetime(2024, 2, 29), datetime(2024, 3, 1)),
        ("2024-03-05", datetime(2024, 3, 5), datetime(2024, 3, 6)),
        ("2024-03-05T10:00", datetime(2024, 3, 5, 10), datetime(2024, 3, 5, 10, 1)),
        ("2024-03-05T10:00Z", datetime(2024, 3, 5, 10), datetime(2024, 3, 5, 10, 1)),
        ("2024-03-05T10:00:00Z", datetime(2024, 3, 5, 10), datetime(2024, 3, 5, 10, 0, 1)),
        ("2024-03-05T10:00:00", datetime(2024, 3, 5, 10), datetime(2024, 3, 5, 10, 0, 1)),
        (
            "2024-03-05T10:00:00.123Z",
            datetime(2024, 3, 5, 10, 0, 0, 123000),
            datetime(2024, 3, 5, 10, 0, 0, 124000),
        ),
        (
            "2024-03-05T10:00:00.5Z",
            datetime(2024, 3, 5, 10, 0, 0, 500000),
            datetime(2024, 3, 5, 10, 0, 0, 600000),
        ),
        (
            "2024-03-05T10:00:00.999999Z",
            datetime(2024, 3, 5, 10, 0, 0, 999999),
            datetime(2024, 3, 5, 10, 0, 1),
        ),
        (
            "2024-03-05T10:00:00.1234567Z",
            datetime(2024, 3, 5, 10, 0, 0, 123456),
            datetime(2024, 3, 5, 10, 0, 0, 123457),
        ),
        (
            "2024-03-05T00:30:00+01:00",
            datetime(2024, 3, 4, 23, 30),
            datetime(2024, 3, 4, 23, 30, 1),
        ),
        (
            "2024-03-05T22:15:00-05:30",
            datetime(2024, 3, 6, 3, 45),
            datetime(2024, 3, 6, 3, 45, 1),
        ),
        ("2024-03-05T10:00:00-00:00", datetime(2024, 3, 5, 10), datetime(2024, 3, 5, 10, 0, 1)),
        ("2024-03-05T10:00:00+14:00", datetime(2024, 3, 4, 20), datetime(2024, 3, 4, 20, 0, 1)),
        # A leap second is read as second 59: Python datetimes cannot hold second 60.
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59), datetime(2017, 1, 1)),
        # Ranges that would end after year 9999 end at the sentinel instead.
        ("9999", datetime(9999, 1, 1), DATE_MAX),
        ("9999-12", datetime(9999, 12, 1), DATE_MAX),
        ("9999-12-31", datetime(9999, 12, 31), DATE_MAX),
        ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59), DATE_MAX),
        ("0001", datetime(1, 1, 1), datetime(2, 1, 1)),
    ],
)
def test_date_becomes_the_range_its_precision_covers(
    value: str, start: datetime, end: datetime
) -> None:
    assert parse_fhir_date_range(value) == DateRange(start, end)


def test_range_clamps_rather_than_overflows_before_year_one() -> None:
    assert parse_fhir_date_range("0001-01-01T00:30:00+01:00") == DateRange(DATE_MIN, DATE_MIN)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-13", "month 13"),
        ("2024-00", "month 00"),
        ("2024-02-30", "does not exist"),
        ("2023-02-29", "does not exist"),
        ("2024-04-31", "does not exist"),
        ("0000", "year 0000"),
        ("2024-03-05T24:00", "time of day"),
        ("2024-03-05T10:60", "time of day"),
        ("2024-03-05T10:00:61Z", "time of day"),
        ("2024-03-05T10:00+14:30", "offset"),
        ("2024-03-05T10:00+15:00", "offset"),
        ("2024-03-05T10:00+01:60", "offset"),
        ("yesterday", "not a FHIR date"),
        ("", "not a FHIR date"),
        ("2024-3", "not a FHIR date"),
        ("24", "not a FHIR date"),
        ("20240305", "not a FHIR date"),
        ("2024-03-05T10", "not a FHIR date"),
        ("2024-03-05 10:00", "not a FHIR date"),
        ("2024-03-05T10:00:00.Z", "not a FHIR date"),
        ("2024-03-05T10:00:00+0100", "not a FHIR date"),
        ("2024-03-05Z", "not a FHIR date"),
        ("\uff12\uff10\uff12\uff14", "not a FHIR date"),  # full-width digits "2024"
        ("2024-03-05\n", "not a FHIR date"),
    ],
)
def test_bad_dates_are_rejected_with_the_value_named(value: str, message: str) -> None:
    with pytest.raises(SearchValueError, match=message) as raised:
        parse_fhir_date_range(value)
    assert repr(value) in str(raised.value)


def test_date_range_must_be_naive_and_ordered() -> None:
    with pytest.raises(ValueError, match="naive"):
        DateRange(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2))
    with pytest.raises(ValueError, match="after its end"):
        DateRange(datetime(2024, 1, 2), datetime(2024, 1, 1))


def test_date_range_contains_and_overlaps_are_half_open() -> None:
    march = parse_fhir_date_range("2024-03")
    april = parse_fhir_date_range("2024-04")
    assert march.contains(datetime(2024, 3, 31, 23, 59, 59, 999999))
    assert not march.contains(datetime(2024, 4, 1))
    assert not march.overlaps(april)
    assert march.overlaps(parse_fhir_date_range("2024"))
    assert march.overlaps(parse_fhir_date_range("2024-03-31T23:59:59Z"))


@pytest.mark.parametrize("prefix", DATE_PREFIXES)
def test_date_search_reads_every_prefix(prefix: str) -> None:
    assert parse_date_search(f"{prefix}2024-03") == DateSearch(
        prefix, DateRange(datetime(2024, 3, 1), datetime(2024, 4, 1))
    )


def test_date_search_defaults_to_eq() -> None:
    assert parse_date_search("2024-03-05") == DateSearch(
        "eq", DateRange(datetime(2024, 3, 5), datetime(2024, 3, 6))
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("xx2024", "unknown prefix 'xx'"),
        ("GE2024", "unknown prefix 'GE'"),
        ("yesterday", "not a FHIR date"),
        ("ge-2024", "not a FHIR date"),
        ("ge", "not a FHIR date"),
        ("gt2024-13", "month 13"),
        ("", "not a FHIR date"),
    ],
)
def test_bad_date_searches_are_rejected(value: str, message: str) -> None:
    with pytest.raises(SearchValueError, match=message):
        parse_date_search(value)


PRECISIONS = ("year", "month", "day", "minute", "second", "fraction")


def format_at_precision(moment: datetime, precision: str, digits: int, zulu: bool) -> str:
    """Write `moment` (aware) as a FHIR date/dateTime at the given precision."""
    if precision in ("year", "month", "day"):
        utc = moment.astimezone(UTC)
        text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        return text[: {"year": 4, "month": 7, "day": 10}[precision]]
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    if zulu and minutes == 0:
        zone = "Z"
    else:
        sign = "-" if minutes < 0 else "+"
        zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
    text += f"{moment.minute:02d}"
    if precision != "minute":
        text += f":{moment.second:02d}"
    if precision == "fraction":
        text += "." + f"{moment.microsecond:06d}{'0' * 6}"[:digits]
    return text + zone


def expected_length(moment: datetime, precision: str, digits: int) -> timedelta:
    utc = moment.astimezone(UTC)
    if precision == "year":
        return datetime(utc.year + 1, 1, 1) - datetime(utc.year, 1, 1)
    if precision == "month":
        following = (
            datetime(utc.year + 1, 1, 1)
            if utc.month == 12
            else datetime(utc.year, utc.month + 1, 1)
        )
        return following - datetime(utc.year, utc.month, 1)
    return {
        "day": timedelta(days=1),
        "minute": timedelta(minutes=1),
        "second": timedelta(seconds=1),
        "fraction": timedelta(microseconds=max(1, 10 ** (6 - digits))),
    }[precision]


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets
)


@given(
    moment=moments,
    precision=st.sampled_from(PRECISIONS),
    digits=st.integers(min_value=1, max_value=9),
    zulu=st.booleans(),
)
def test_parsed_range_contains_the_instant_and_has_the_precision_length(
    moment: datetime, precision: str, digits: int, zulu: bool
) -> None:
    value = format_at_precision(moment, precision, digits, zulu)
    parsed = parse_fhir_date_range(value)
    instant = moment.astimezone(UTC).replace(tzinfo=None)
    assert parsed.contains(instant), value
    assert parsed.end - parsed.start == expected_length(moment, precision, digits), value


@given(
    moment=moments,
    precision=st.sampled_from(PRECISIONS),
    digits=st.integers(min_value=1, max_value=9),
    prefix=st.sampled_from((*DATE_PREFIXES, "")),
)
def test_date_search_round_trips_the_prefix(
    moment: datetime, precision: str, digits: int, prefix: str
) -> None:
    value = format_at_precision(moment, precision, digits, zulu=False)
    search = parse_date_search(prefix + value)
    assert search.prefix == (prefix or "eq")
    assert search.range == parse_fhir_date_range(value)


# --- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("male", TokenSearch(system=None, code="male", system_specified=False)),
        (
            "http://snomed.info/sct|871731000000106",
            TokenSearch("http://snomed.info/sct", "871731000000106", True),
        ),
        ("|local-code", TokenSearch(system=None, code="local-code", system_specified=True)),
        (
            "https://fhir.nhs.uk/Id/nhs-number|",
            TokenSearch("https://fhir.nhs.uk/Id/nhs-number", None, True),
        ),
        (r"system\|with\|bars|code", TokenSearch("system|with|bars", "code", True)),
        (r"sys|code\|part", TokenSearch("sys", "code|part", True)),
        (r"a\|b", TokenSearch(system=None, code="a|b", system_specified=False)),
        (r"x\,y\$z\\", TokenSearch(system=None, code="x,y$z\\", system_specified=False)),
        (r"c:\path", TokenSearch(system=None, code=r"c:\path", system_specified=False)),
    ],
)
def test_token_forms(value: str, expected: TokenSearch) -> None:
    assert parse_token_search(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "empty"), ("|", "neither a system nor a code"), ("a|b|c", "more than one")],
)
def test_bad_tokens_are_rejected(value: str, message: str) -> None:
    with pytest.raises(SearchValueError, match=message):
        parse_token_search(value)


@given(st.text(min_size=1), st.text(min_size=1))
def test_token_system_and_code_survive_escaping(system: str, code: str) -> None:
    raw = f"{escape_search_value(system)}|{escape_search_value(code)}"
    assert parse_token_search(raw) == TokenSearch(system, code, True)
    (alternative,) = split_search_values(raw)
    assert parse_token_search(alternative) == TokenSearch(system, code, True)


# --- numbers and quantities ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100", NumberSearch("eq", Decimal("100"), Decimal("99.5"), Decimal("100.5"))),
        ("100.00", NumberSearch("eq", Decimal("100.00"), Decimal("99.995"), Decimal("100.005"))),
        ("1e2", NumberSearch("eq", Decimal("1e2"), Decimal("50"), Decimal("150"))),
        ("1.5E3", NumberSearch("eq", Decimal("1.5e3"), Decimal("1450"), Decimal("1550"))),
        ("2.50e-1", NumberSearch("eq", Decimal("0.250"), Decimal("0.2495"), Decimal("0.2505"))),
        ("0", NumberSearch("eq", Decimal("0"), Decimal("-0.5"), Decimal("0.5"))),
        ("0.1", NumberSearch("eq", Decimal("0.1"), Decimal("0.05"), Decimal("0.15"))),
        ("-5", NumberSearch("eq", Decimal("-5"), Decimal("-5.5"), Decimal("-4.5"))),
        ("gt-0.5", NumberSearch("gt", Decimal("-0.5"), Decimal("-0.55"), Decimal("-0.45"))),
        ("ap100", NumberSearch("ap", Decimal("100"), Decimal("99.5"), Decimal("100.5"))),
    ],
)
def test_number_precision_ranges(value: str, expected: NumberSearch) -> None:
    parsed = parse_number_search(value)
    assert parsed == expected
    # Decimal equality ignores exponent; the written precision must survive too.
    assert str(parsed.value) == str(expected.value)


@pytest.mark.parametrize(
    "value", ["", "abc", "1.", ".5", "NaN", "Infinity", "01", "1e", "+5", "1,5", "gt", "zz5", "5 "]
)
def test_bad_numbers_are_rejected(value: str) -> None:
    with pytest.raises(SearchValueError, match=r"number|prefix"):
        parse_number_search(value)


@given(st.decimals(allow_nan=False, allow_infinity=False), st.sampled_from(DATE_PREFIXES))
def test_number_range_is_one_unit_in_the_last_digit_around_the_value(
    number: Decimal, prefix: str
) -> None:
    parsed = parse_number_search(prefix + str(number))
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    assert parsed.prefix == prefix
    assert parsed.low < parsed.value < parsed.high
    assert parsed.high - parsed.low == Decimal(1).scaleb(exponent)
    assert parsed.value - parsed.low == parsed.high - parsed.value


@pytest.mark.parametrize(
    ("value", "system", "code"),
    [
        ("5.4|http://unitsofmeasure.org|mg", "http://unitsofmeasure.org", "mg"),
        ("5.4||mg", None, "mg"),
        ("5.4", None, None),
        (r"5.4|http://unitsofmeasure.org|mm\|Hg", "http://unitsofmeasure.org", "mm|Hg"),
    ],
)
def test_quantity_forms(value: str, system: str | None, code: str | None) -> None:
    assert parse_quantity_search(value) == QuantitySearch(
        "eq", parse_number_search("5.4"), system, code
    )


def test_quantity_prefix_comes_from_the_number() -> None:
    parsed = parse_quantity_search("le5.4||mg")
    assert parsed.prefix == "le"
    assert parsed.number.low == Decimal("5.35")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5.4|mg", "expected number"),
        ("5.4|a|b|c", "expected number"),
        ("5.4|http://unitsofmeasure.org|", "no unit code"),
        ("abc||mg", "not a FHIR number"),
        ("||mg", "not a FHIR number"),
    ],
)
def test_bad_quantities_are_rejected(value: str, message: str) -> None:
    with pytest.raises(SearchValueError, match=message):
        parse_quantity_search(value)


# --- references ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Patient/123", ReferenceSearch("Patient", "123", None)),
        ("123", ReferenceSearch(None, "123", None)),
        ("a-b.c", ReferenceSearch(None, "a-b.c", None)),
        ("Patient/123/_history/2", ReferenceSearch("Patient", "123", None)),
        (
            "http://example.org/fhir/Patient/1",
            ReferenceSearch("Patient", "1", "http://example.org/fhir/Patient/1"),
        ),
        (
            "https://example.org/fhir/Patient/1/_history/4",
            ReferenceSearch("Patient", "1", "https://example.org/fhir/Patient/1"),
        ),
        (
            "urn:uuid:6d5f6a0c-6a4e-4f7a-9c1f-1c1f3b8e8a11",
            ReferenceSearch(None, None, "urn:uuid:6d5f6a0c-6a4e-4f7a-9c1f-1c1f3b8e8a11"),
        ),
        (
            "http://example.org/questionnaires/frailty",
            ReferenceSearch(None, None, "http://example.org/questionnaires/frailty"),
        ),
    ],
)
def test_reference_forms(value: str, expected: ReferenceSearch) -> None:
    assert parse_reference_search(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("Patient/", "not a FHIR id"),
        ("/123", "not a resource type"),
        ("patient/123", "not a resource type"),
        ("Patient/bad id", "not a FHIR id"),
        ("Patient/a_b", "not a FHIR id"),
        ("x" * 65, "not a FHIR id"),
        ("Patient/123/extra", "expected id, Type/id"),
        ("Patient/123/_history", "expected id, Type/id"),
    ],
)
def test_bad_references_are_rejected(value: str, message: str) -> None:
    with pytest.raises(SearchValueError, match=message):
        parse_reference_search(value)


# --- strings and escaping --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("José  Ñúñez", "jose nunez"),
        ("  MÜLLER\t\nStraße ", "muller strasse"),
        ("ﬁnn", "finn"),  # ligature
        ("\u00a0O\u2019Brien\u2003", "o\u2019brien"),  # no-break and em spaces
        ("İstanbul", "istanbul"),
        ("\uff33\uff4d\uff49\uff54\uff48", "smith"),  # full-width letters "Smith"
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalise_string(value: str, expected: str) -> None:
    assert normalise_string(value) == expected


@given(st.text())
def test_normalise_string_is_idempotent(value: str) -> None:
    once = normalise_string(value)
    assert normalise_string(once) == once


@given(st.text())
def test_normalise_string_makes_case_and_accents_irrelevant(value: str) -> None:
    assert normalise_string(value.upper()) == normalise_string(normalise_string(value).upper())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a,b", ["a", "b"]),
        (r"a\,b", [r"a\,b"]),
        (r"a\\,b", ["a\\\\", "b"]),
        ("a,,b", ["a", "", "b"]),
        ("", [""]),
        ("a\\", ["a\\"]),
        (r"sys\|x|code,other", [r"sys\|x|code", "other"]),
    ],
)
def test_split_search_values_keeps_escapes(raw: str, expected: list[str]) -> None:
    assert split_search_values(raw) == expected


def test_unescape_handles_the_four_escapes_and_keeps_other_backslashes() -> None:
    assert unescape_search_value(r"a\,b\|c\$d\\e\qf\\") == "a,b|c$d\\e\\qf\\"
    assert unescape_search_value("end\\") == "end\\"


def test_split_on_unescaped_needs_one_character() -> None:
    with pytest.raises(ValueError, match="single character"):
        split_on_unescaped("a||b", "||")


@given(st.lists(st.text(), min_size=1))
def test_split_search_values_inverts_escaping_and_joining(values: list[str]) -> None:
    raw = ",".join(escape_search_value(value) for value in values)
    assert [unescape_search_value(part) for part in split_search_values(raw)] == values


@contextmanager
def sqlite() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    try:
        yield connection
    finally:
        connection.close()


def like(connection: sqlite3.Connection, text: str, pattern: str) -> bool:
    row = connection.execute("SELECT ? LIKE ? ESCAPE '\\'", (text, pattern)).fetchone()
    return bool(row[0])


def test_escape_like_examples() -> None:
    assert escape_like("50%_a\\b") == "50\\%\\_a\\\\b"
    with sqlite() as connection:
        assert like(connection, "50%", escape_like("50%"))
        assert not like(connection, "500", escape_like("50%"))
        assert not like(connection, "axb", escape_like("a_b"))
        assert like(connection, "a_b and more", escape_like("a_b") + "%")


# Text a database can hold: SQLite compares C strings inside LIKE, so NUL (never valid in FHIR
# text) is left out, and the UTF-8 codec rules out lone surrogates.
sql_text = st.text(alphabet=st.characters(exclude_characters="\x00", codec="utf-8"))


@given(sql_text, sql_text.filter(bool))
def test_escaped_like_pattern_matches_only_its_literal_prefix(literal: str, suffix: str) -> None:
    with sqlite() as connection:
        assert like(connection, literal + suffix, escape_like(literal) + "%")
        assert like(connection, literal, escape_like(literal))
        assert not like(connection, literal + suffix, escape_like(literal))
