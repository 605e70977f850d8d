"""Searching the directory: need, distance, radius, opening times, accessibility, closures."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.social_prescribing.directory import (
    CommunityService,
    OpeningTime,
    Venue,
)
from careweave.social_prescribing.directory_codes import DAYS
from careweave.social_prescribing.directory_index import Directory
from careweave.social_prescribing.directory_search import (
    ServiceMatch,
    ServiceSearch,
    WeeklyTime,
    find_services,
)
from careweave.social_prescribing.postcodes import (
    Position,
    PostcodeLookup,
    distance_km,
    km_to_miles,
    miles_to_km,
)
from careweave.social_prescribing.problems import DirectoryProblem, NotAPostcode, UnknownPostcode
from tests.social_prescribing.conftest import ORIGIN, ORIGIN_POSTCODE


def ids(matches: list[ServiceMatch]) -> list[str]:
    return [m.service.id for m in matches]


def test_a_need_finds_the_services_for_it_and_no_others(directory: Directory) -> None:
    found = find_services(directory, ServiceSearch(needs=frozenset({"lunch-club"})))
    assert ids(found) == ["lunch"]  # the closed lunch club is left out
    befriending = find_services(directory, ServiceSearch(needs=frozenset({"befriending"})))
    assert ids(befriending) == ["friends", "lunch", "night", "phoneline"]  # name order


def test_services_near_a_postcode_come_nearest_first_with_their_distance(
    directory: Directory,
) -> None:
    search = ServiceSearch(needs=frozenset({"befriending"}), near_postcode="qx11aa")
    found = find_services(directory, search)
    # The friendship circle meets at the hall (1 km) as well as the library (20 km); the
    # phone line has no venue, so it has no distance and is left out.
    assert [(m.service.id, round(m.distance_km or 0, 6)) for m in found] == [
        ("friends", 1.0),
        ("lunch", 1.0),
        ("night", 8.0),
    ]
    assert found[0].venue is not None and found[0].venue.id == "hall"
    assert found[2].distance_miles == pytest.approx(8 / 1.609344)


def test_a_radius_keeps_only_what_is_within_it(directory: Directory) -> None:
    near = ServiceSearch(near_postcode=ORIGIN_POSTCODE, within_km=3.5)
    assert ids(find_services(directory, near)) == ["friends", "lunch", "walk"]
    assert ids(find_services(directory, ServiceSearch(near=ORIGIN, within_km=0.5))) == []
    miles = ServiceSearch(near=ORIGIN, within_km=miles_to_km(5))  # 8.05 km
    assert ids(find_services(directory, miles)) == ["friends", "lunch", "walk", "night"]


def test_open_at_a_time_finds_sessions_that_cover_it(directory: Directory) -> None:
    def open_at(day: str, hour: int, minute: int = 0) -> list[str]:
        search = ServiceSearch(open_at=WeeklyTime(day, time(hour, minute)))
        return ids(find_services(directory, search))

    assert open_at("tue", 12) == ["lunch", "phoneline"]
    assert open_at("tue", 14) == ["phoneline"]  # the lunch club closes at 14:00
    assert open_at("tue", 11, 29) == ["phoneline"]
    assert open_at("thu", 10, 30) == ["phoneline", "walk"]
    # The night line opens Friday and Saturday at 22:00 and runs to 02:00 the next day.
    assert open_at("fri", 23) == ["night"]
    assert open_at("sat", 1, 59) == ["night"]
    assert open_at("sun", 1) == ["night"]
    assert open_at("sat", 2) == []
    assert open_at("fri", 1) == []  # Thursday night it is not open
    # The friendship circle lists no times, so it is never "open at" a time.
    assert "friends" not in open_at("mon", 10)


def test_accessibility_asks_for_every_feature(directory: Directory) -> None:
    both = ServiceSearch(accessibility=frozenset({"step-free-access", "hearing-loop"}))
    assert ids(find_services(directory, both)) == ["friends", "lunch"]
    toilet = ServiceSearch(accessibility=frozenset({"accessible-toilet"}))
    assert ids(find_services(directory, toilet)) == ["friends"]


def test_closed_services_are_left_out_unless_asked_for(directory: Directory) -> None:
    everything = ServiceSearch(needs=frozenset({"lunch-club"}), include_closed=True)
    found = find_services(directory, everything)
    assert ids(found) == ["lunch", "closed"]
    assert not found[1].service.active


def test_the_criteria_combine_and_the_limit_cuts_the_nearest(directory: Directory) -> None:
    search = ServiceSearch(
        needs=frozenset({"befriending"}),
        near_postcode=ORIGIN_POSTCODE,
        open_at=WeeklyTime("tue", time(12)),
        accessibility=frozenset({"hearing-loop"}),
    )
    assert ids(find_services(directory, search)) == ["lunch"]
    nearest = ServiceSearch(near_postcode=ORIGIN_POSTCODE, limit=2)
    assert ids(find_services(directory, nearest)) == ["friends", "lunch"]


def test_an_unknown_postcode_is_a_clear_error_not_an_empty_list(directory: Directory) -> None:
    with pytest.raises(UnknownPostcode) as unknown:
        find_services(directory, ServiceSearch(near_postcode="qx8 8xx"))
    assert str(unknown.value) == (
        "The postcode QX8 8XX is not one careweave knows the position of, so it cannot find "
        "services near it; check it, or search from another postcode"
    )
    with pytest.raises(NotAPostcode) as bad:
        find_services(directory, ServiceSearch(near_postcode="near the church"))
    assert str(bad.value) == ("'near the church' is not a postcode (a postcode looks like QX4 2AB)")


def test_a_venue_postcode_is_a_place_to_search_from(directory: Directory) -> None:
    # QX3 1AB is not in the lookup table, but the library's Location is there.
    found = find_services(directory, ServiceSearch(near_postcode="QX3 1AB", within_km=1))
    assert ids(found) == ["friends"]
    assert found[0].venue is not None and found[0].venue.id == "library"
    assert found[0].distance_km == pytest.approx(0.0, abs=1e-9)


def test_search_questions_that_make_no_sense_are_refused() -> None:
    with pytest.raises(DirectoryProblem, match="'knitting' is not a need the directory knows"):
        ServiceSearch(needs=frozenset({"knitting"}))
    with pytest.raises(DirectoryProblem, match="needs a postcode"):
        ServiceSearch(within_km=5)
    with pytest.raises(DirectoryProblem, match="'lift' is not an accessibility feature"):
        ServiceSearch(accessibility=frozenset({"lift"}))
    with pytest.raises(DirectoryProblem, match="not a day of the week"):
        WeeklyTime("monday", time(9))


def test_a_moment_is_read_in_uk_time() -> None:
    # 23:30 UTC on Friday 4 July 2025 is 00:30 on Saturday in London (BST).
    moment = WeeklyTime.of(datetime(2025, 7, 4, 23, 30, tzinfo=UTC))
    assert moment == WeeklyTime("sat", time(0, 30))


# -- properties ---------------------------------------------------------------------------------

positions = st.builds(
    Position,
    st.floats(min_value=52.3, max_value=52.8, allow_nan=False),
    st.floats(min_value=-2.0, max_value=-1.4, allow_nan=False),
)


@given(
    origin=positions, places=st.lists(positions, min_size=1, max_size=25), radius=st.floats(0, 40)
)
def test_results_are_in_distance_order_and_within_the_radius(
    origin: Position, places: list[Position], radius: float
) -> None:
    venues = {
        f"v{i}": Venue(f"v{i}", "V", "1 Street", "T", "QX1 1AA", p) for i, p in enumerate(places)
    }
    services = {
        f"s{i}": CommunityService(f"s{i}", f"S{i}", "o", needs=("housing",), venue_ids=(f"v{i}",))
        for i in range(len(places))
    }
    directory = Directory.of({}, venues, services, PostcodeLookup({}))
    found = find_services(
        directory,
        ServiceSearch(needs=frozenset({"housing"}), near=origin, within_km=radius, limit=100),
    )
    distances = [m.distance_km for m in found]
    assert None not in distances
    assert distances == sorted(d for d in distances if d is not None)
    expected = sorted(i for i, p in enumerate(places) if distance_km(origin, p) <= radius)
    assert sorted(int(m.service.id[1:]) for m in found) == expected


def _minutes(day: str, at: time) -> int:
    return DAYS.index(day) * 1440 + at.hour * 60 + at.minute


@given(
    days=st.sets(st.sampled_from(DAYS), min_size=1),
    opens=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    closes=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    day=st.sampled_from(DAYS),
    at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
def test_a_session_is_open_exactly_in_its_minutes_of_the_week(
    days: set[str], opens: time, closes: time, day: str, at: time
) -> None:
    """Reference: lay each session out as minutes of a circular week (a session whose end is
    at or before its start ends the next day) and look the moment up."""
    session = OpeningTime(tuple(days), opens, closes)
    start_offset, end_offset = opens.hour * 60 + opens.minute, closes.hour * 60 + closes.minute
    length = (
        end_offset - start_offset if end_offset > start_offset else end_offset + 1440 - start_offset
    )
    covered = {
        (DAYS.index(d) * 1440 + start_offset + k) % (7 * 1440) for d in days for k in range(length)
    }
    assert session.is_open(day, at) == (_minutes(day, at) in covered)


def test_km_and_miles_convert_both_ways() -> None:
    assert km_to_miles(miles_to_km(3.0)) == pytest.approx(3.0)
    assert miles_to_km(1) == pytest.approx(1.609344)
