"""The date input of every coordination form: the NHS.UK date input pattern's messages, and
dates only between 1900 and 2099, so a slip of the year is not saved."""

from __future__ import annotations

from datetime import date

import pytest

from careweave.web.coordination.form_fields import read_date


def typed(day: str, month: str, year: str) -> dict[str, str]:
    return {"due-day": day, "due-month": month, "due-year": year}


@pytest.mark.parametrize(
    ("day", "month", "year", "expected"),
    [
        ("1", "1", "1900", date(1900, 1, 1)),
        ("31", "12", "2099", date(2099, 12, 31)),
        (" 07 ", "03", "2026", date(2026, 3, 7)),
        ("29", "2", "2028", date(2028, 2, 29)),
    ],
)
def test_a_real_date_in_range_is_read(day: str, month: str, year: str, expected: date) -> None:
    assert read_date(typed(day, month, year), "due", "Due date") == (expected, None)


@pytest.mark.parametrize(
    ("day", "month", "year", "message"),
    [
        ("", "", "", "Enter the due date"),
        ("1", "", "2026", "Due date must include a month"),
        ("", "", "2026", "Due date must include a day and month"),
        ("31", "4", "2026", "Due date must be a real date"),
        ("29", "2", "2027", "Due date must be a real date"),
        ("1", "1", "26", "Due date must be a real date"),
        ("1", "Jan", "2026", "Due date must be a real date"),
        ("\u0661", "1", "2026", "Due date must be a real date"),  # an Arabic-Indic 1
        ("1", "1", "\uff12\uff10\uff12\uff16", "Due date must be a real date"),  # full-width
        ("\u00b2", "1", "2026", "Due date must be a real date"),  # a superscript 2
        ("31", "12", "1899", "Due date must be the same as or after 1 January 1900"),
        ("1", "1", "0001", "Due date must be the same as or after 1 January 1900"),
        ("1", "1", "2100", "Due date must be the same as or before 31 December 2099"),
        ("9", "9", "9999", "Due date must be the same as or before 31 December 2099"),
    ],
)
def test_what_cannot_be_a_date_says_what_to_do(
    day: str, month: str, year: str, message: str
) -> None:
    value, problem = read_date(typed(day, month, year), "due", "Due date")
    assert value is None and problem is not None
    assert (problem.field, problem.message) == ("due", message)


def test_the_range_is_checked_before_today_or_in_the_future() -> None:
    value, problem = read_date(
        typed("1", "1", "1066"), "due", "Due date", not_before=date(2026, 11, 30)
    )
    assert value is None and problem is not None
    assert problem.message == "Due date must be the same as or after 1 January 1900"
    assert read_date(typed("", "", ""), "due", "Due date", required=False) == (None, None)
