"""Finding a person by name, date of birth or NHS number: what the box understands, the clear
errors, and that only people the user may see are ever found."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from careweave.coordination import finding
from careweave.coordination.finding import PersonQuery, SearchProblem, find_people, understand
from careweave.coordination.record import today
from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM
from tests.coordination.place import Place

MARY_BORN = date(1941, 3, 2)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("9990000018", PersonQuery("nhs-number", nhs_number="9990000018")),
        (" 999 000 0018 ", PersonQuery("nhs-number", nhs_number="9990000018")),
        ("999-000-0018", PersonQuery("nhs-number", nhs_number="9990000018")),
        ("02/03/1941", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        ("2/3/1941", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        ("2.3.1941", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        ("1941-03-02", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        ("02 03 1941", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        (" 2  3 1941 ", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        ("2-3-1941", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        ("2 March 1941", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        ("2 mar 1941", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        ("2nd March, 1941", PersonQuery("date-of-birth", birth_date=MARY_BORN)),
        ("15 Sept 1941", PersonQuery("date-of-birth", birth_date=date(1941, 9, 15))),
        ("1 May 1950", PersonQuery("date-of-birth", birth_date=date(1950, 5, 1))),
        ("Mary Example", PersonQuery("name", words=("Mary", "Example"))),
        ("Example,  Mary", PersonQuery("name", words=("Example", "Mary"))),
        ("O'Brien-Smith", PersonQuery("name", words=("O'Brien-Smith",))),
        ("", None),
        ("   ", None),
    ],
)
def test_what_the_box_understands(typed: str, expected: PersonQuery | None) -> None:
    assert understand(typed) == expected


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("999 000 0019", "Enter a valid NHS number"),  # check digit wrong
        ("12345", "Enter a valid NHS number"),
        ("99900000181", "Enter a valid NHS number"),
        ("31/02/1941", "Enter a real date of birth"),
        ("1941-13-01", "Enter a real date of birth"),
        ("0/3/1941", "Enter a real date of birth"),
        ("2/3/41", "Enter a date of birth as day, month and year, like 15/3/1941"),
        ("15-03-41", "Enter a date of birth as day, month and year, like 15/3/1941"),
        ("15 03 41", "Enter a date of birth as day, month and year, like 15/3/1941"),
        ("15 Marsh 1941", "Enter a date of birth as day, month and year, like 15/3/1941"),
        ("31 April 1941", "Enter a real date of birth"),
        ("999 000 001", "Enter a valid NHS number"),
        (
            (today() + timedelta(days=1)).strftime("%d/%m/%Y"),
            "Date of birth must be in the past",
        ),
        ("x" * 101, "Enter 100 characters or fewer"),
    ],
)
def test_what_cannot_be_searched_for_says_what_to_do(typed: str, message: str) -> None:
    with pytest.raises(SearchProblem) as problem:
        understand(typed)
    assert str(problem.value) == message


def test_the_search_each_query_makes() -> None:
    assert PersonQuery("nhs-number", nhs_number="9990000018").params == [
        ("identifier", f"{NHS_NUMBER_SYSTEM}|9990000018")
    ]
    assert PersonQuery("date-of-birth", birth_date=MARY_BORN).params == [
        ("birthdate", "1941-03-02")
    ]
    # A comma is a search OR; typed inside a name it is escaped, not obeyed.
    assert PersonQuery("name", words=("a,b", "c")).params == [("name", "a\\,b"), ("name", "c")]


def found_ids(place: Place, username: str, typed: str) -> list[str]:
    found = find_people(place.access(username), typed)
    assert found is not None
    return [person.patient_id for person in found.people]


MARY_TYPED = (
    "mary",
    "Mary Example",
    "example mary",
    "EXAMPLE, Mar",
    "Mar Ex",
    "999 000 0018",
    "9990000018",
    "02/03/1941",
    "2/3/1941",
    "1941-03-02",
)


def test_cara_finds_mary_every_way(place: Place) -> None:
    for typed in MARY_TYPED:
        assert found_ids(place, "cara.coord", typed) == ["mary"], typed


def test_words_must_all_match(place: Place) -> None:
    assert found_ids(place, "cara.coord", "mary other") == []
    assert found_ids(place, "cara.coord", "other") == ["joe"]


def test_someone_the_user_may_not_see_is_not_found(place: Place) -> None:
    # Sid is registered at Hilltop: Ann (GP at Riverside) has no relationship with him.
    for typed in ("sid", "Sid Stranger", "999 000 0034", "15/06/1944"):
        assert found_ids(place, "ann.gp", typed) == [], typed
    # ... exactly as someone who is not on careweave at all.
    assert found_ids(place, "ann.gp", "Zed") == []
    assert found_ids(place, "hal.gp", "sid") == ["sid"]


def test_nothing_typed_is_no_search(place: Place) -> None:
    assert find_people(place.access("cara.coord"), "  ") is None


def test_too_many_found_says_so(place: Place, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(finding, "MAX_FOUND", 2)
    for n, given in enumerate(("Zoe", "Adam")):
        place.put(
            {
                "resourceType": "Patient",
                "id": f"example-{n}",
                "name": [{"given": [given], "family": "Example"}],
                "generalPractitioner": [{"reference": "Organization/riverside"}],
            }
        )
    found = find_people(place.access("cara.coord"), "example")
    assert found is not None and found.more
    assert len(found.people) == 2
    exact = find_people(place.access("cara.coord"), "example adam")
    assert exact is not None and not exact.more
    assert [p.name for p in exact.people] == ["Adam Example"]
