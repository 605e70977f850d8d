"""Finding a person by name, date of birth or NHS number, among the people the user may see.

One box takes all three, as staff are used to on clinical systems, and what was typed decides
the search:

* **An NHS number**: 10 digits, with or without spaces (or dashes, as on some letters). It
  must pass the modulus 11 check, else "Enter a valid NHS number": a mistyped number would
  otherwise just find no one, and the user would think the person is not on careweave.
* **A date of birth**: day/month/year (15/03/1941 or 15/3/1941; dots, dashes and spaces also
  do), 15 March 1941 (or 15 Mar 1941), or 1941-03-15. A date that cannot exist is "Enter a real
  date of birth"; one with a two-digit year asks for the year in full, since 41 could be 1941
  or 2041 and the wrong one finds no one.
* **Otherwise a name**: each word must be the start of some part of the person's name (given
  name, family name, or the whole name), in any order and whatever the case or accents. So
  "Mary Example", "example mary" and "Mar Ex" all find Mary Example; commas are ignored.

The search runs through the guard, so it only ever finds people the user has a relationship
with: a person they may not see is "not found" exactly as someone who is not on careweave.
At most MAX_FOUND people are shown; past that the page asks for a narrower search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

import orjson

from careweave.access.guard import CareRecordAccess
from careweave.coordination.caseload import name_order
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import today
from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM, is_valid_nhs_number
from careweave.fhir.search_query import parse_search
from careweave.fhir.search_values import escape_search_value

MAX_FOUND: Final = 50
WHOLE_DATE: Final = "Enter a date of birth as day, month and year, like 15/3/1941"
MAX_TYPED: Final = 100
"""Longer than any name, date or NHS number; more is a mistake (or a paste of something else)."""

_ISO_DATE: Final = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_UK_DATE: Final = re.compile(r"(\d{1,2})(?:[/.-]|\s+)(\d{1,2})(?:[/.-]|\s+)(\d{2}|\d{4})")
_WORDY_DATE: Final = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]+)\.?,?\s+(\d{4})")
# fmt: off
_MONTH_NAMES: Final = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)
# fmt: on
MONTHS: Final = {
    name: number
    for number, month in enumerate(_MONTH_NAMES, start=1)
    for name in (month, month[:3], *(("sept",) if month == "september" else ()))
}
"""Month names as people type them: in full, in three letters, and "Sept"."""
_NUMBER_LIKE: Final = re.compile(r"[\d-]+")
_DATE_LIKE: Final = re.compile(r"[\d/.-]+")
_WORD_BREAKS: Final = re.compile(r"[\s,]+")

SearchKind = Literal["nhs-number", "date-of-birth", "name"]


class SearchProblem(ValueError):  # noqa: N818 - what the user is told, not a fault
    """What was typed cannot be searched for; the message says what to do."""


@dataclass(frozen=True)
class PersonQuery:
    """What was typed, understood: an NHS number (its 10 digits), a date of birth, or the
    words of a name."""

    kind: SearchKind
    nhs_number: str | None = None
    birth_date: date | None = None
    words: tuple[str, ...] = ()

    @property
    def params(self) -> list[tuple[str, str]]:
        """The FHIR search on Patient."""
        if self.kind == "nhs-number":
            return [("identifier", f"{NHS_NUMBER_SYSTEM}|{self.nhs_number}")]
        if self.kind == "date-of-birth":
            assert self.birth_date is not None
            return [("birthdate", self.birth_date.isoformat())]
        return [("name", escape_search_value(word)) for word in self.words]


@dataclass(frozen=True)
class FoundPeople:
    """The people found (in name order), and whether there were more than MAX_FOUND."""

    query: PersonQuery
    people: list[PersonBanner]
    more: bool


def understand(typed: str) -> PersonQuery | None:
    """What `typed` asks for; None when nothing was typed. SearchProblem when it cannot be
    searched for (see the module docstring)."""
    text = typed.strip()
    if not text:
        return None
    if len(text) > MAX_TYPED:
        raise SearchProblem(f"Enter {MAX_TYPED} characters or fewer")
    compact = "".join(text.split())
    if iso := _ISO_DATE.fullmatch(compact):
        year, month, day = iso.groups()
        return PersonQuery("date-of-birth", birth_date=_birth_date(year, month, day))
    if uk := _UK_DATE.fullmatch(text):
        day, month, year = uk.groups()
        if len(year) != 4:
            raise SearchProblem(WHOLE_DATE)
        return PersonQuery("date-of-birth", birth_date=_birth_date(year, month, day))
    if wordy := _WORDY_DATE.fullmatch(text):
        day, month_name, year = wordy.groups()
        if (month := MONTHS.get(month_name.lower())) is None:
            raise SearchProblem(WHOLE_DATE)
        return PersonQuery("date-of-birth", birth_date=_birth_date(year, str(month), day))
    if _NUMBER_LIKE.fullmatch(compact):
        digits = compact.replace("-", "")
        if not is_valid_nhs_number(digits):
            raise SearchProblem("Enter a valid NHS number")
        return PersonQuery("nhs-number", nhs_number=digits)
    if _DATE_LIKE.fullmatch(compact):
        raise SearchProblem(WHOLE_DATE)
    words = tuple(word for word in _WORD_BREAKS.split(text) if word)
    return PersonQuery("name", words=words)


def find_people(access: CareRecordAccess, typed: str) -> FoundPeople | None:
    """The people matching `typed` that the user may see; None when nothing was typed."""
    query = understand(typed)
    if query is None:
        return None
    params = query.params
    search = parse_search(
        "Patient",
        [*params, ("_count", str(MAX_FOUND + 1)), ("_total", "none")],
        access.store.registry,
        handling="strict",
        max_count=MAX_FOUND + 1,
    )
    entity = "Patient?" + "&".join(f"{name}={value}" for name, value in params)
    page = access.search(search, entity)
    patients = [orjson.loads(content) for _, _, content in page.matches]
    more = len(patients) > MAX_FOUND or page.next_cursor is not None
    patients.sort(key=name_order)
    return FoundPeople(query, [banner_of(p) for p in patients[:MAX_FOUND]], more)


def _birth_date(year: str, month: str, day: str) -> date:
    try:
        born = date(int(year), int(month), int(day))
    except ValueError:
        raise SearchProblem("Enter a real date of birth") from None
    if born > today():
        raise SearchProblem("Date of birth must be in the past")
    return born
