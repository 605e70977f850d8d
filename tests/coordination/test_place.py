"""The coordination test place itself: who can see whom before any coordination happens, so
the feature tests build on relationships that really hold (and fail if the rules change)."""

from __future__ import annotations

import pytest

from careweave.coordination.people import person_banner
from careweave.fhir.errors import NotFound
from tests.coordination.place import Place


def test_the_practice_sees_its_registered_people_and_no_one_else(place: Place) -> None:
    banner = person_banner(place.access("cara.coord"), "mary")
    assert (banner.name, banner.nhs_number, banner.practice_id) == (
        "Mary Example",
        "9990000018",
        "riverside",
    )
    assert banner.birth_date is not None and banner.age is not None and banner.age >= 85
    with pytest.raises(NotFound):
        person_banner(place.access("cara.coord"), "sid")


def test_other_organisations_have_no_relationship_until_one_is_made(place: Place) -> None:
    for username in ("nina.nurse", "sam.sw", "dan.dc", "val.vol"):
        with pytest.raises(NotFound):
            person_banner(place.access(username), "mary")
