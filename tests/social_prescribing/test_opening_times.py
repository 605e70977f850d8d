"""Opening times typed one line per day (careweave.social_prescribing.opening_times): what is
read, what is refused and with which words, and that a service's times survive being shown on
the form and sent back unchanged."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.social_prescribing.directory import OpeningTime
from careweave.social_prescribing.directory_codes import DAYS
from careweave.social_prescribing.opening_times import (
    day_lines,
    read_day,
    read_time,
    sessions_from_days,
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("09:30", time(9, 30)),
        ("9.30", time(9, 30)),
        ("0930", time(9, 30)),
        ("14:00", time(14, 0)),
        ("9am", time(9, 0)),
        ("2.30pm", time(14, 30)),
        ("12pm", time(12, 0)),
        ("12am", time(0, 0)),
        ("noon", time(12, 0)),
        ("midnight", time(0, 0)),
        ("10", None),  # am or pm?
        ("25:00", None),
        ("10:75", None),
        ("13pm", None),
        ("ten", None),
    ],
)
def test_a_time_of_day_is_read_as_people_write_it(typed: str, expected: time | None) -> None:
    assert read_time(typed) == expected


def test_a_day_holds_sessions_all_day_or_nothing() -> None:
    assert read_day("mon", "") == ((), None)
    assert read_day("mon", "All day") == (((None, None),), None)
    assert read_day("tue", "14:00 to 16:00, 10am-12pm") == (
        ((time(10), time(12)), (time(14), time(16))),
        None,
    )
    assert read_day("fri", "22:00 to 02:00") == (((time(22), time(2)),), None)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "banana",
            "Enter Wednesday's times like 10:00 to 12:00, or leave it empty if it is closed",
        ),
        ("25:00 to 26:00", "Wednesday: '25:00' is not a time of day"),
        ("10 to 12", "Wednesday: '10' is not a time of day"),
        ("10:00 to 10:00", "Wednesday: a session cannot open and close at the same time"),
        ("10:00 to 12:00, 11:00 to 13:00", "Wednesday's sessions overlap"),
        ("all day, 10:00 to 12:00", "Enter Wednesday's times like 10:00 to 12:00"),
        ("x" * 201, "Wednesday's times must be 200 characters or fewer"),
    ],
)
def test_a_day_that_cannot_be_read_says_why_in_words(typed: str, message: str) -> None:
    sessions, problem = read_day("wed", typed)
    assert sessions == ()
    assert problem is not None and problem.day == "wed"
    assert problem.message.startswith(message)


def test_days_with_the_same_times_become_one_session_and_every_problem_is_listed() -> None:
    openings, problems = sessions_from_days(
        {"mon": "9am to 5pm", "tue": "09:00-17:00", "fri": "22:00 to 02:00", "sun": "all day"}
    )
    assert problems == []
    assert openings == (
        OpeningTime(("mon", "tue"), time(9), time(17)),
        OpeningTime(("fri",), time(22), time(2)),
        OpeningTime(("sun",)),
    )
    _, problems = sessions_from_days({"mon": "soon", "thu": "9 to 5"})
    assert [p.day for p in problems] == ["mon", "thu"]


def test_a_session_past_midnight_must_close_before_the_next_day_opens() -> None:
    openings, problems = sessions_from_days({"fri": "22:00 to 02:00", "sat": "02:00 to 05:00"})
    assert problems == [] and len(openings) == 2
    for saturday in ("01:00 to 05:00", "all day"):
        _, problems = sessions_from_days({"fri": "22:00 to 02:00", "sat": saturday})
        assert [(p.day, p.message) for p in problems] == [
            (
                "sat",
                "Saturday's sessions overlap Friday's, which runs until 02:00: "
                "start Saturday after it closes",
            )
        ]
    # Sunday night runs into Monday morning: the week wraps round.
    _, problems = sessions_from_days({"sun": "20:00 to 01:30", "mon": "01:00 to 03:00"})
    assert [p.day for p in problems] == ["mon"]
    # Only the first session of the next day can clash, and only with the last late one.
    _, problems = sessions_from_days({"fri": "09:00 to 12:00", "sat": "00:30 to 02:00"})
    assert problems == []


_TIMES = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
_SESSIONS = st.lists(
    st.builds(
        OpeningTime,
        st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True).map(tuple),
        _TIMES,
        _TIMES,
    ).filter(lambda o: o.opens != o.closes and not o.past_midnight),
    max_size=4,
)


@given(_SESSIONS)
def test_times_shown_on_the_form_and_sent_back_are_the_same_times(
    openings: list[OpeningTime],
) -> None:
    lines = day_lines(tuple(openings))
    read, problems = sessions_from_days(lines)
    if problems:
        # Only sessions that overlap on a day are refused; say so rather than lose them.
        assert all("overlap" in p.message for p in problems)
        return
    assert day_lines(read) == lines
    for day in DAYS:
        for at in (time(0), time(9, 15), time(12, 30), time(17, 45), time(23, 45)):
            assert any(o.is_open(day, at) for o in read) == any(
                o.is_open(day, at) for o in openings
            )
