"""The one reader of UK days and times that the store, the access rules and the domain share."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from careweave.uk_time import UK, last_uk_day, uk_day, uk_day_span, uk_moment


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2026-06-10", date(2026, 6, 10)),
        ("2026-06-10T22:59:59Z", date(2026, 6, 10)),
        ("2026-06-10T23:30:00Z", date(2026, 6, 11)),  # 00:30 BST
        ("2026-06-11T00:30:00+01:00", date(2026, 6, 11)),
        ("2026-01-10T23:30:00Z", date(2026, 1, 10)),  # GMT: UTC is the UK day
        ("2026-06-10T23:30:00", date(2026, 6, 10)),  # no zone: UK local time as written
        ("2026-06", None),
        ("2026", None),
        ("2026-02-30", None),
        ("not a date", None),
        (None, None),
        (20260610, None),
    ],
)
def test_the_uk_day_of_a_fhir_date_or_datetime(value: object, day: date | None) -> None:
    assert uk_day(value) == day


def test_a_uk_day_spans_23_or_25_hours_when_the_clocks_change() -> None:
    assert uk_day_span(date(2026, 6, 11)) == (datetime(2026, 6, 10, 23), datetime(2026, 6, 11, 23))
    spring = uk_day_span(date(2026, 3, 29))
    assert spring == (datetime(2026, 3, 29, 0), datetime(2026, 3, 29, 23))
    autumn = uk_day_span(date(2026, 10, 25))
    assert autumn == (datetime(2026, 10, 24, 23), datetime(2026, 10, 26, 0))


def test_a_time_the_clocks_skip_is_no_moment_and_a_doubled_one_is_bst() -> None:
    assert uk_moment(date(2026, 3, 29), 1, 30) is None
    assert uk_moment(date(2026, 3, 29), 0, 59) == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert uk_moment(date(2026, 3, 29), 2, 0) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    doubled = uk_moment(date(2026, 10, 25), 1, 30)
    assert doubled is not None
    assert doubled.tzinfo is UK
    assert doubled.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("end", "last"),
    [
        ("2026-06-10", date(2026, 6, 10)),
        ("2026-06-10T23:30:00Z", date(2026, 6, 11)),  # 00:30 BST on 11 June
        ("2026-06", date(2026, 6, 30)),
        ("2028-02", date(2028, 2, 29)),
        ("2026-02", date(2026, 2, 28)),
        ("2026", date(2026, 12, 31)),
        ("9999-12", date(9999, 12, 31)),
        ("2026-13", None),
        ("2026-00", None),
        ("June 2026", None),
        ("0000", None),
        (None, None),
        (2026, None),
    ],
)
def test_the_last_day_of_a_period_end_reads_a_month_or_year_alone_to_its_end(
    end: object, last: date | None
) -> None:
    assert last_uk_day(end) == last
