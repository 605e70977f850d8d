"""Stale entries: six calendar months without a check, listed per organisation."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from careweave.social_prescribing.directory_index import Directory
from careweave.social_prescribing.directory_staleness import (
    is_stale,
    stale_by_organisation,
    stale_from,
)
from tests.social_prescribing.conftest import SERVICES

WALK = next(s for s in SERVICES if s.id == "walk")  # checked 15 January 2025


@pytest.mark.parametrize(
    ("checked", "today", "stale"),
    [
        (date(2025, 1, 15), date(2025, 7, 14), False),
        (date(2025, 1, 15), date(2025, 7, 15), True),
        (date(2025, 8, 31), date(2026, 2, 27), False),
        (date(2025, 8, 31), date(2026, 2, 28), True),  # no 31 February: the month's last day
        (date(2023, 8, 31), date(2024, 2, 28), False),
        (date(2023, 8, 31), date(2024, 2, 29), True),  # a leap year
    ],
)
def test_an_entry_goes_stale_six_calendar_months_after_its_check(
    checked: date, today: date, stale: bool
) -> None:
    assert is_stale(replace(WALK, last_checked=checked), today) is stale


def test_never_checked_is_stale_and_closed_is_never_stale() -> None:
    never = replace(WALK, last_checked=None)
    assert stale_from(never) is None
    assert is_stale(never, date(2025, 1, 1))
    closed = replace(WALK, last_checked=date(2020, 1, 1), active=False, closed_on=date(2021, 1, 1))
    assert not is_stale(closed, date(2025, 1, 1))


def test_stale_entries_are_listed_per_organisation(directory: Directory) -> None:
    # On 15 July 2025: the walk (checked 15 Jan) and the friendship circle (never checked) are
    # stale; the night line (checked 16 Jan) is due tomorrow; the old lunch club is closed.
    lists = stale_by_organisation(directory, date(2025, 7, 15))
    assert [(e.organisation_id, [s.id for s in e.services]) for e in lists] == [
        ("zzc0001", ["friends"]),
        ("zzc0002", ["walk"]),
    ]
    assert lists[0].organisation is not None
    assert lists[0].organisation.email == "hello@zzc0001.careweave.example"
    later = stale_by_organisation(directory, date(2025, 7, 16))
    assert [s.id for s in later[0].services] == ["friends", "night"]
