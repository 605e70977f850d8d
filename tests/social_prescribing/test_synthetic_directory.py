"""The synthetic directory: repeatable, valid FHIR, the documented mix, on the place's map."""

from __future__ import annotations

from datetime import date

import pytest

from careweave.fhir.validation import validate_resource
from careweave.social_prescribing.directory import resources_for
from careweave.social_prescribing.directory_index import DirectoryIndex
from careweave.social_prescribing.directory_search import ServiceSearch, search_directory
from careweave.social_prescribing.directory_staleness import is_stale
from careweave.social_prescribing.postcodes import distance_km, place_postcodes
from careweave.social_prescribing.synthetic_directory import (
    CLOSED_SHARE,
    NEED_MIX,
    SECOND_NEED_SHARE,
    SyntheticDirectory,
    generate_directory,
    need_counts,
    save_synthetic_directory,
)
from careweave.store.repository import FhirStore
from careweave.synth.place import PlaceDirectory, build_place

AS_OF = date(2026, 1, 15)


@pytest.fixture(scope="module")
def place() -> PlaceDirectory:
    return build_place(people=60_000, seed=11, as_of=AS_OF)


@pytest.fixture(scope="module")
def large(place: PlaceDirectory) -> SyntheticDirectory:
    return generate_directory(place, services=4000, seed=5, as_of=AS_OF)


def test_the_same_seed_gives_the_same_directory_and_a_larger_one_extends_it(
    place: PlaceDirectory,
) -> None:
    first = generate_directory(place, services=120, seed=5, as_of=AS_OF)
    assert generate_directory(place, services=120, seed=5, as_of=AS_OF) == first
    assert generate_directory(place, services=120, seed=6, as_of=AS_OF) != first
    bigger = generate_directory(place, services=240, seed=5, as_of=AS_OF)
    assert bigger.organisations[:20] == first.organisations
    assert [(v.name, v.postcode) for v in bigger.venues[:40]] == [
        (v.name, v.postcode) for v in first.venues
    ]


def test_every_resource_is_valid_fhir(place: PlaceDirectory) -> None:
    small = generate_directory(place, services=300, seed=5, as_of=AS_OF)
    for resource in resources_for(small.organisations, small.venues, small.services):
        validate_resource(resource)
    assert all(o.ods_code and o.ods_code.startswith("ZZC") for o in small.organisations)


def test_the_mix_is_the_documented_one(large: SyntheticDirectory) -> None:
    total = len(large.services)
    counts = need_counts(large)
    for need, percent in NEED_MIX.items():
        main_share = percent / 100
        # a service counts under its main need, and a quarter also under a second one
        assert (
            main_share * 0.85 <= counts[need] / total <= main_share * (1 + SECOND_NEED_SHARE) + 0.02
        )
    two_needs = sum(1 for s in large.services if len(s.needs) == 2) / total
    assert 0.18 <= two_needs <= SECOND_NEED_SHARE
    closed = sum(1 for s in large.services if not s.active) / total
    assert CLOSED_SHARE * 0.6 <= closed <= CLOSED_SHARE * 1.4
    stale = sum(1 for s in large.services if is_stale(s, AS_OF)) / total
    assert 0.2 <= stale <= 0.3
    past_midnight = [s for s in large.services if any(t.past_midnight for t in s.opening_times)]
    assert past_midnight, "some services run past midnight, so searches meet them"


def test_every_venue_stands_on_a_postcode_of_the_place(
    place: PlaceDirectory, large: SyntheticDirectory
) -> None:
    lookup = place_postcodes(place)
    streets = sum(len(s) for s in place.streets.values())
    assert len(lookup) == streets
    for venue in large.venues:
        assert venue.position == lookup.position_of(venue.postcode)


def test_a_saved_directory_is_searchable_from_the_place_postcodes(
    store: FhirStore, place: PlaceDirectory
) -> None:
    small = generate_directory(place, services=90, seed=5, as_of=AS_OF)
    report = save_synthetic_directory(store.transaction, small)
    assert report.created == {"Organization": 15, "Location": 30, "HealthcareService": 90}
    assert save_synthetic_directory(store.transaction, small).total("unchanged") == 135
    lookup = place_postcodes(place)
    index = DirectoryIndex(store, lookup)
    home = small.venues[0].postcode
    found = search_directory(index, ServiceSearch(near_postcode=home, limit=500))
    open_services = [s for s in small.services if s.active]
    assert len(found) == len(open_services)
    origin = lookup.position_of(home)
    for match in found:
        assert match.venue is not None and match.venue.position is not None
        nearest = min(
            distance_km(origin, v.position)
            for v in small.venues
            if v.id in match.service.venue_ids and v.position is not None
        )
        assert match.distance_km == pytest.approx(nearest)
