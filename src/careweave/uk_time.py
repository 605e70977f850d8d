"""Days and times as people in England live them, for every layer that needs one.

Records hold UTC instants ("2026-06-01T23:30:00Z") and days ("2026-06-10"); people live in
Europe/London, where that instant is 00:30 on 2 June. "Today", the day something happened and
"has this ended yet" are all about the UK day, whatever zone the server runs in. This module
sits below the store, the access rules and the domain so that all of them read a day the same
way, instead of each keeping its own copy that drifts (one took the first ten characters of
an instant, another the server's `date.today()`).
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

UK: Final = ZoneInfo("Europe/London")


def today() -> date:
    """Today in the UK: due dates, "overdue" and "has ended" are about the day people are
    living in, not the server's zone or UTC (which is yesterday until 01:00 in summer)."""
    return datetime.now(UK).date()


def uk_day(value: Any) -> date | None:
    """The UK day of a FHIR date or dateTime ("2026-11-03", "2026-11-03T23:30:00Z"); None for
    anything else, including a partial date ("2026-11") and a malformed value (a record from
    another system must not break a page).

    A date is that day as written. A dateTime with a zone is the day its instant falls on in
    the UK; one without a zone (not valid FHIR, but written by some systems) is taken as UK
    local time, its day as written."""
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        if len(value) > 10:
            moment = datetime.fromisoformat(value)
            return moment.astimezone(UK).date() if moment.tzinfo else moment.date()
    except ValueError:
        return None
    return None


def last_uk_day(end: Any) -> date | None:
    """The last UK day a period ending `end` covers: the UK day of a date or dateTime, and the
    last day of a month ("2026-06": 30 June) or year given alone, as FHIR reads a partial end.
    None when it cannot be read: callers close access on that rather than leave it open."""
    day = uk_day(end)
    if day is not None or not isinstance(end, str):
        return day
    try:
        if len(end) == 7 and end[4] == "-":
            year, month = int(end[:4]), int(end[5:])
            return date(year, month, monthrange(year, month)[1])
        if len(end) == 4:
            return date(int(end), 12, 31)
    except ValueError:
        return None
    return None


def uk_day_span(day: date) -> tuple[datetime, datetime]:
    """The UK day `day` as a half-open range of naive UTC datetimes (the form the search
    indexes hold): from its midnight to the next, 23 or 25 hours apart when the clocks
    change."""
    start = datetime.combine(day, time(0, 0), tzinfo=UK)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=UK)
    return (
        start.astimezone(UTC).replace(tzinfo=None),
        end.astimezone(UTC).replace(tzinfo=None),
    )


def uk_moment(day: date, hour: int, minute: int) -> datetime | None:
    """The aware moment a UK clock shows `hour`:`minute` on `day`; None when the clocks skip
    that time (01:00 to 01:59 on the last Sunday in March), which zoneinfo would otherwise
    quietly move an hour on. A time the clocks show twice (in October) is its first, BST."""
    local = datetime.combine(day, time(hour, minute), tzinfo=UK)
    if local.astimezone(UTC).astimezone(UK).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return local
