"""Reading the "find a community service" form (a GET form, so a search can be bookmarked and
reloaded without JavaScript) into a careweave.social_prescribing `ServiceSearch`, and the
messages for what cannot be searched.

The same form serves the directory page (/directory) and a person's "connect to a service"
page, where the postcode starts as the person's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Final

from starlette.datastructures import QueryParams

from careweave.social_prescribing.directory_codes import ACCESSIBILITY, DAY_NAMES, DAYS, NEEDS
from careweave.social_prescribing.directory_index import DirectoryIndex
from careweave.social_prescribing.directory_search import (
    ServiceMatch,
    ServiceSearch,
    WeeklyTime,
    search_directory,
)
from careweave.social_prescribing.postcodes import miles_to_km, normalise_postcode
from careweave.social_prescribing.problems import DirectoryProblem, NotAPostcode, UnknownPostcode
from careweave.web.signed_in import FieldError

RESULTS_SHOWN: Final = 25
DISTANCES: Final[Mapping[str, str]] = {
    "": "Any distance",
    "1": "Within 1 mile",
    "2": "Within 2 miles",
    "5": "Within 5 miles",
    "10": "Within 10 miles",
    "20": "Within 20 miles",
}
DAY_CHOICES: Final[Mapping[str, str]] = {"": "Any day", **DAY_NAMES}
_TIME: Final = re.compile(r"([01]?\d|2[0-3])[:.]([0-5]\d)")


@dataclass
class AskedSearch:
    """A search as asked on the form: what was typed (to show again), the errors to show,
    and the search and its results when it could be run."""

    typed: dict[str, str]
    needs: list[str]
    accessibility: list[str]
    asked: bool
    errors: list[FieldError] = field(default_factory=list)
    matches: list[ServiceMatch] = field(default_factory=list)
    measured: bool = False
    """Whether results are nearest first with distances (a postcode was given)."""
    searched_from: str | None = None
    """The postcode searched from, as Royal Mail writes it."""


def _chosen(values: Sequence[str], known: Mapping[str, str]) -> list[str]:
    chosen = {v for v in values if v in known}
    return [code for code in known if code in chosen]


def read_search(query: QueryParams, default_postcode: str | None = None) -> AskedSearch:
    """The form's fields; `default_postcode` fills the postcode box when the form has not
    been sent yet (the person's own, on their "connect" page)."""
    asked = query.get("searched", "") == "yes"
    postcode = query.get("postcode", "")[:20].strip()
    if not asked and not postcode and default_postcode:
        postcode = default_postcode
    typed = {
        "postcode": postcode,
        "miles": query.get("miles", "")[:4],
        "day": query.get("day", "")[:4],
        "time": query.get("time", "")[:8].strip(),
    }
    return AskedSearch(
        typed=typed,
        needs=_chosen(query.getlist("need"), NEEDS),
        accessibility=_chosen(query.getlist("access"), ACCESSIBILITY),
        asked=asked,
    )


def _open_at(asked: AskedSearch) -> WeeklyTime | None:
    day, typed_time = asked.typed["day"], asked.typed["time"]
    if day and day not in DAYS:
        asked.errors.append(FieldError("day", "Select a day from the list"))
        return None
    if not day and not typed_time:
        return None
    if not typed_time:
        asked.errors.append(FieldError("time", "Enter a time, for example 14:30"))
        return None
    match = _TIME.fullmatch(typed_time)
    if match is None:
        asked.errors.append(FieldError("time", "Enter a time written like 14:30"))
        return None
    if not day:
        asked.errors.append(FieldError("day", "Select the day they would go"))
        return None
    return WeeklyTime(day, time(int(match[1]), int(match[2])))


def run_search(index: DirectoryIndex, asked: AskedSearch) -> AskedSearch:
    """Check the form and, when it can be searched, fill `matches` (nearest first when a
    postcode was given). Every problem is an error to show beside its field."""
    if not asked.asked:
        return asked
    postcode: str | None = None
    if asked.typed["postcode"]:
        try:
            postcode = normalise_postcode(asked.typed["postcode"])
        except NotAPostcode as exc:
            asked.errors.append(FieldError("postcode", str(exc)))
    miles = asked.typed["miles"]
    if miles not in DISTANCES:
        asked.errors.append(FieldError("miles", "Select a distance from the list"))
        miles = ""
    if miles and not asked.typed["postcode"]:
        asked.errors.append(FieldError("postcode", "Enter a postcode to search within a distance"))
    moment = _open_at(asked)
    if asked.errors:
        return asked
    try:
        search = ServiceSearch(
            needs=frozenset(asked.needs),
            near_postcode=postcode,
            within_km=miles_to_km(float(miles)) if miles else None,
            open_at=moment,
            accessibility=frozenset(asked.accessibility),
            limit=RESULTS_SHOWN,
        )
        asked.matches = search_directory(index, search)
    except UnknownPostcode as exc:
        asked.errors.append(FieldError("postcode", str(exc)))
    except DirectoryProblem as exc:
        asked.errors.append(FieldError(None, str(exc)))
    asked.measured = postcode is not None and not asked.errors
    asked.searched_from = postcode
    return asked
