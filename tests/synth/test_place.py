"""The made-up place: organisations, neighbourhoods, deprivation, streets, care homes and staff."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.fhir.validation import validate_resource
from careweave.synth.demography import AGE_BANDS
from careweave.synth.place import (
    BOX_LATITUDE,
    BOX_LONGITUDE,
    PCN_LIST_MAX,
    PCN_LIST_MIN,
    PlaceDirectory,
    apportion,
    build_place,
)
from careweave.synth.resources import place_resources
from careweave.synth.workforce import PHONE_RANGES, ROLES

AS_OF = date(2026, 3, 31)
POSTCODE = re.compile(r"QX[1-9][0-9]? [0-9][ABD-HJLNP-UW-Z]{2}")
ODS_CODE = re.compile(r"ZZ[A-Z][0-9A-Z]*")


@pytest.fixture(scope="module")
def small() -> PlaceDirectory:
    return build_place(people=300, seed=1, as_of=AS_OF)


@pytest.fixture(scope="module")
def large() -> PlaceDirectory:
    return build_place(people=160_000, seed=2, as_of=AS_OF)


@given(
    total=st.integers(min_value=0, max_value=10**6),
    weights=st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=1, max_size=40),
    minimum=st.integers(min_value=0, max_value=3),
)
def test_apportion_adds_up_and_stays_close_to_the_shares(
    total: int, weights: list[float], minimum: int
) -> None:
    if total < minimum * len(weights):
        with pytest.raises(ValueError, match="cannot split"):
            apportion(total, weights, minimum)
        return
    parts = apportion(total, weights, minimum)
    assert sum(parts) == total
    assert all(part >= minimum for part in parts)
    exact = [total * weight / sum(weights) for weight in weights]
    if all(share >= minimum + 1 for share in exact):
        assert all(abs(part - share) < 1 for part, share in zip(parts, exact, strict=True))


def test_a_small_place_still_has_every_kind_of_service(small: PlaceDirectory) -> None:
    place = small.place
    assert len(place.practices) == 1
    assert place.practices[0].list_size == 300
    assert len(place.neighbourhoods) == 3
    assert len(place.care_homes) >= 1
    assert place.voluntary_organisations
    assert place.home_care_providers
    assert place.discharge_team != place.acute_trust
    roles = {post.member.role for post in small.staff}
    expected = set(ROLES)
    if not any(home.nursing for home in place.care_homes):
        expected.discard("care-home-nurse")
    assert roles == expected


def test_the_same_seed_builds_the_same_place_and_another_seed_another() -> None:
    first = build_place(people=5_000, seed=9, as_of=AS_OF)
    assert build_place(people=5_000, seed=9, as_of=AS_OF) == first
    other = build_place(people=5_000, seed=10, as_of=AS_OF)
    assert other.place.neighbourhoods != first.place.neighbourhoods
    assert other.streets != first.streets
    assert [post.member.name for post in other.staff] != [post.member.name for post in first.staff]


def test_practice_lists_add_up_and_networks_are_30_to_50_thousand(large: PlaceDirectory) -> None:
    practices = large.place.practices
    sizes = [p.list_size for p in practices]
    assert sum(sizes) == 160_000
    assert large.practice_ends[-1] == 160_000
    assert len(practices) == 16  # one per ~10,000 patients
    assert max(sizes) > 2 * min(sizes)  # skewed, not equal shares
    by_network = Counter[str]()
    for practice in practices:
        by_network[practice.pcn.id] += practice.list_size
    assert len(by_network) == 4
    assert all(PCN_LIST_MIN <= size <= PCN_LIST_MAX for size in by_network.values())
    networks = [practice.pcn.id for practice in practices]
    assert networks == sorted(networks)  # neighbouring practices share a network


def test_deprivation_spreads_the_population_over_all_ten_deciles(large: PlaceDirectory) -> None:
    neighbourhoods = large.place.neighbourhoods
    assert len(neighbourhoods) == 100  # ~1,600 residents each
    deciles = Counter(n.imd_decile for n in neighbourhoods)
    assert set(deciles) == set(range(1, 11))
    assert all(count == 10 for count in deciles.values())  # equal populations, equal counts
    towns = {n.town for n in neighbourhoods}
    assert len(towns) >= 3
    means = [
        sum(n.imd_decile for n in neighbourhoods if n.town == town)
        / sum(1 for n in neighbourhoods if n.town == town)
        for town in towns
    ]
    assert max(means) - min(means) > 1  # towns differ: deprivation clusters


def test_codes_postcodes_and_coordinates_are_clearly_made_up(large: PlaceDirectory) -> None:
    codes = [n.code for n in large.place.neighbourhoods]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"Z01[0-9]{6}", code) for code in codes)
    postcodes = [street.postcode for streets in large.streets.values() for street in streets]
    assert len(set(postcodes)) == len(postcodes)
    assert all(POSTCODE.fullmatch(postcode) for postcode in postcodes)
    for code, streets in large.streets.items():
        outward = next(n.outward_code for n in large.place.neighbourhoods if n.code == code)
        assert all(street.postcode.startswith(outward + " ") for street in streets)
    for town in {n.town for n in large.place.neighbourhoods}:
        names = [
            street.name
            for n in large.place.neighbourhoods
            if n.town == town
            for street in large.streets[n.code]
        ]
        assert len(set(names)) == len(names)
    for site in large.sites:
        assert BOX_LATITUDE[0] <= site.latitude <= BOX_LATITUDE[1]
        assert BOX_LONGITUDE[0] <= site.longitude <= BOX_LONGITUDE[1]
        assert POSTCODE.fullmatch(site.address["postalCode"])


def test_organisations_have_zz_codes_drama_numbers_and_parents_first(
    large: PlaceDirectory,
) -> None:
    seen: set[str] = set()
    phones = []
    for record in large.organisations:
        organisation = record.organisation
        assert ODS_CODE.fullmatch(organisation.ods_code)
        assert organisation.id == organisation.ods_code.lower()
        assert organisation.id not in seen
        if record.part_of is not None:
            assert record.part_of.id in seen
        seen.add(organisation.id)
        phones.append(record.phone)
    assert len(set(phones)) == len(phones)
    prefixes = tuple(prefix for prefix, _ in PHONE_RANGES)
    assert all(phone.startswith(prefixes) for phone in phones)
    place = large.place
    assert all(p.organisation.ods_code.startswith("ZZP") for p in place.practices)
    assert all(p.pcn.ods_code.startswith("ZZU") for p in place.practices)
    assert all(h.organisation.ods_code.startswith("ZZH") for h in place.care_homes)
    assert place.icb.ods_code == "ZZQ"
    discharge = next(r for r in large.organisations if r.organisation == place.discharge_team)
    assert discharge.part_of == place.acute_trust


def test_care_homes_have_beds_for_three_to_four_percent_of_people_over_65(
    large: PlaceDirectory,
) -> None:
    older_share = sum(b.percent for b in AGE_BANDS if b.low >= 65) / sum(
        b.percent for b in AGE_BANDS
    )
    beds = sum(home.beds for home in large.place.care_homes)
    assert 0.035 <= beds / (160_000 * older_share) <= 0.045
    homes = large.place.care_homes
    assert any(home.nursing for home in homes)
    assert any(not home.nursing for home in homes)
    for home in homes:
        assert home.address["extension"][0]["valueString"] == home.neighbourhood.code
        roles = Counter(member.role for member in home.staff)
        assert roles["care-home-manager"] == 1
        assert roles["care-home-nurse"] == (2 if home.nursing else 0)


def test_staff_numbers_follow_the_population(large: PlaceDirectory) -> None:
    place = large.place
    for practice in place.practices:
        gps = practice.staff_in("gp")
        assert len(gps) == max(1, round(practice.list_size * 6 / 10_000))
        assert all(gp.organisation == practice.organisation for gp in gps)
        link_workers = practice.staff_in("link-worker")
        assert link_workers
        assert all(worker.organisation == practice.pcn for worker in link_workers)
    assert len(place.staff_in("social-worker", place.council)) == 48
    assert place.staff_in("discharge-coordinator", place.discharge_team)
    assert place.staff_in("district-nurse", place.community_trust)
    ids = [post.member.role_id for post in large.staff]
    assert len(set(ids)) == len(ids)


def test_every_place_resource_is_valid_fhir(small: PlaceDirectory) -> None:
    resources = list(place_resources(small))
    types = Counter(resource["resourceType"] for resource in resources)
    assert types["Organization"] == len(small.organisations)
    assert types["Location"] == len(small.sites)
    assert types["Practitioner"] == types["PractitionerRole"] == len(small.staff)
    for resource in resources:
        validate_resource(resource)
    gp_role = next(
        r for r in resources if r["resourceType"] == "PractitionerRole" and "-gp-" in r["id"]
    )
    assert gp_role["code"][0]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "62247001",
        "display": "General practitioner",
    }
    link_role = next(r for r in resources if r["id"].endswith("link-worker-1-role"))
    assert link_role["code"] == [{"text": "Social prescribing link worker"}]
