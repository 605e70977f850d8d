"""Opening times as the people who run a service write them: one line per day of the week.

The directory holds opening times as FHIR `availableTime` sessions (careweave.social_prescribing
.directory.OpeningTime: days, a start and an end). The person keeping an entry up to date
thinks in days ("Tuesday 10:00 to 12:00 and 14:00 to 16:00"), so the form asks for each day
on its own line, and this module turns those lines into sessions and back:

* a day left empty is closed;
* "all day" (or "24 hours") is open all day;
* otherwise one or more ranges separated by commas, semicolons or "and"; a range is two
  times joined by "to" or a dash. A time is 24-hour ("09:30", "9.30", "0930", "14:00") or
  12-hour with am/pm ("9am", "2.30pm"); "midnight" and "noon" are understood;
* an end at or before the start runs past midnight into the next day (Friday "22:00 to
  02:00"), as FHIR and OpeningTime say.

Days with the same times are kept as one session (Monday to Friday 09:00 to 17:00 is one
`availableTime`), so an entry another system wrote reads the same after it is saved again.
Every problem is said in words about the day it is on, for the form's error summary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from itertools import pairwise
from typing import Final

from careweave.social_prescribing.directory import OpeningTime
from careweave.social_prescribing.directory_codes import DAY_NAMES, DAYS

MAX_DAY_TEXT: Final = 200
"""The longest line for one day that is read (more is a mistake, not a timetable)."""

Session = tuple[time | None, time | None]
"""One opening on a day: start and end, or (None, None) for all day."""

_ALL_DAY: Final = frozenset({"all day", "24 hours", "24hrs", "24 hrs", "open all day"})
_SPLIT: Final = re.compile(r"\s*(?:,|;|\band\b|&)\s*", re.IGNORECASE)
_RANGE: Final = re.compile(r"^(.+?)\s*(?:\bto\b|-|\u2013|\u2014|until|till)\s*(.+)$", re.IGNORECASE)
_TIME: Final = re.compile(r"^(\d{1,2})(?:[:.]?(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$", re.IGNORECASE)


@dataclass(frozen=True)
class DayProblem:
    """What is wrong with one day's line: `day` is its DAYS code."""

    day: str
    message: str


def read_time(text: str) -> time | None:
    """A time of day from what someone typed, or None when it is not one."""
    words = text.strip().lower()
    if words == "midnight":
        return time(0, 0)
    if words in ("noon", "midday"):
        return time(12, 0)
    match = _TIME.match(words)
    if match is None:
        return None
    hours, minutes, half = match.group(1), match.group(2), match.group(3)
    if minutes is None and half is None and len(hours) <= 2 and ":" not in words:
        # "10" alone is ambiguous (10am? 10pm?): ask for the minutes or am/pm.
        return None
    hour, minute = int(hours), int(minutes or 0)
    if half is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half.startswith("p") else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def read_day(day: str, text: str) -> tuple[tuple[Session, ...], DayProblem | None]:
    """The sessions one day's line holds (none: closed), or the problem with it."""
    name = DAY_NAMES[day]
    line = " ".join(text.split())
    if not line:
        return (), None
    if len(line) > MAX_DAY_TEXT:
        return (), DayProblem(day, f"{name}'s times must be {MAX_DAY_TEXT} characters or fewer")
    if line.lower() in _ALL_DAY:
        return ((None, None),), None
    example = f"Enter {name}'s times like 10:00 to 12:00, or leave it empty if it is closed"
    sessions: list[Session] = []
    for part in _SPLIT.split(line):
        if not part:
            continue
        match = _RANGE.match(part)
        if match is None:
            return (), DayProblem(day, example)
        opens, closes = read_time(match.group(1)), read_time(match.group(2))
        for typed, read in ((match.group(1), opens), (match.group(2), closes)):
            if read is None:
                return (), DayProblem(
                    day,
                    f"{name}: '{typed.strip()}' is not a time of day; use the 24-hour clock, "
                    "like 09:30 or 14:00",
                )
        if opens == closes:
            return (), DayProblem(
                day, f"{name}: a session cannot open and close at the same time ({part})"
            )
        sessions.append((opens, closes))
    if not sessions:
        return (), DayProblem(day, example)
    ordered = sorted(sessions, key=lambda s: s[0] or time.min)
    for earlier, later in pairwise(ordered):
        runs_late = earlier[1] is not None and earlier[0] is not None and earlier[1] <= earlier[0]
        if runs_late or (later[0] is not None and earlier[1] is not None and later[0] < earlier[1]):
            return (), DayProblem(
                day, f"{name}'s sessions overlap: give each time the service is open once"
            )
    return tuple(ordered), None


def sessions_from_days(
    lines: Mapping[str, str],
) -> tuple[tuple[OpeningTime, ...], list[DayProblem]]:
    """Opening times from one line per day (`lines` keyed by DAYS code; a missing day is
    closed), or every day's problem. Days with the same sessions become one OpeningTime."""
    problems: list[DayProblem] = []
    by_day: dict[str, tuple[Session, ...]] = {}
    for day in DAYS:
        sessions, problem = read_day(day, lines.get(day, ""))
        if problem is not None:
            problems.append(problem)
        elif sessions:
            by_day[day] = sessions
    problems += _overnight_overlaps(by_day)
    if problems:
        return (), problems
    grouped: dict[Session, list[str]] = {}
    for day, sessions in by_day.items():
        for session in sessions:
            grouped.setdefault(session, []).append(day)
    openings = [
        OpeningTime(tuple(days), opens, closes) for (opens, closes), days in grouped.items()
    ]
    openings.sort(key=lambda o: (DAYS.index(o.days[0]), o.opens or time.min))
    return tuple(openings), []


def _overnight_overlaps(by_day: Mapping[str, tuple[Session, ...]]) -> list[DayProblem]:
    """A session that runs past midnight (Friday 22:00 to 02:00) must be over before the next
    day's first session begins (Saturday 01:00 would be open twice): the problem is put on the
    next day, where the clash is."""
    problems = []
    for day, following in pairwise((*DAYS, DAYS[0])):
        late = [end for start, end in by_day.get(day, ()) if start and end and end <= start]
        if not late or following not in by_day:
            continue
        first_start = by_day[following][0][0]
        if first_start is None or first_start < late[-1]:
            problems.append(
                DayProblem(
                    following,
                    f"{DAY_NAMES[following]}'s sessions overlap {DAY_NAMES[day]}'s, which runs "
                    f"until {late[-1]:%H:%M}: start {DAY_NAMES[following]} after it closes",
                )
            )
    return problems


def _words(session: OpeningTime) -> str:
    if session.opens is None or session.closes is None:
        return "All day"
    return f"{session.opens:%H:%M} to {session.closes:%H:%M}"


def day_lines(openings: tuple[OpeningTime, ...]) -> dict[str, str]:
    """The form's line for each day (empty: closed) from a service's opening times."""
    per_day: dict[str, list[OpeningTime]] = {day: [] for day in DAYS}
    for session in openings:
        for day in session.days:
            per_day[day].append(session)
    return {
        day: ", ".join(_words(s) for s in sorted(found, key=lambda s: s.opens or time.min))
        for day, found in per_day.items()
    }
