"""The made-up place: its towns, neighbourhoods, streets, organisations, sites and staff.

`build_place` turns (people, seed) into a `PlaceDirectory`: the `Place` every record is written
against, plus what the place's own FHIR resources show (addresses, phone numbers, sites, staff
details) and the street table people's addresses are drawn from. It is small (a few thousand
objects for a million people) and cheap, so each worker process builds its own copy rather than
receiving one: every part of it comes from its own named `stream`, so every copy is the same.

How people are laid out, which the rest of the generator relies on: person indexes 0..N-1 run
along a line. Practices take contiguous runs of it (practice k holds indexes
`practice_ends[k-1] .. practice_ends[k] - 1`), and so do neighbourhoods (person i lives in
neighbourhood `i * M // N`), so a practice's patients live in the few neighbourhoods its run
overlaps, and every neighbourhood holds N/M people give or take one.

Everything is invented: "ZZ" ODS codes, Z01 LSOA codes, QX postcodes (no UK postcode area starts
with Q), drama telephone numbers, made-up town and street names. Any likeness to a real place,
street or organisation is coincidence.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from careweave.synth import demography
from careweave.synth.draws import stream
from careweave.synth.model import (
    IMD_EXTENSION,
    LSOA_EXTENSION,
    CareHome,
    Neighbourhood,
    Organisation,
    Place,
    Practice,
)
from careweave.synth.workforce import PER_ORGANISATION, Post, headcount, hire, phone_number

NEIGHBOURHOOD_RESIDENTS = 1_600
"""People per LSOA-sized neighbourhood (LSOAs hold about 1,000-3,000 residents, typically
~1,600; ONS Census 2011 geography)."""
MIN_NEIGHBOURHOODS = 3
TOWN_NEIGHBOURHOODS = 15
"""About one town per 15 neighbourhoods (~24,000 people), at least 2 and at most 8."""

PCN_LIST_MIN = 30_000
PCN_LIST_MAX = 50_000
"""Primary care networks cover 30,000-50,000 registered patients (NHS England Network Contract
DES); a place smaller than 30,000 has one smaller network."""
PCN_LIST_TARGET = 40_000

CARE_HOME_BEDS_PER_OLDER_PERSON = 0.04
"""Beds for 4% of people 65+: about 3-4% of people 65+ in England live in a care home (Census
2021, approximate) and homes run at about 85-90% occupancy (approximate)."""
CARE_HOME_MEAN_BEDS = 31
"""England's ~15,000 CQC-registered care homes hold ~460,000 beds (CQC, approximate)."""
NURSING_HOME_SHARE = 0.28
"""About 4,200 of the ~15,000 homes are registered with nursing (CQC, approximate)."""
NURSING_HOME_MEAN_BEDS = 50
RESIDENTIAL_HOME_MEAN_BEDS = 23

PEOPLE_PER_HOME_CARE_PROVIDER = 20_000
"""England has one domiciliary care agency per ~5,000 people (CQC, approximate); only a few
appear in records, so the generator keeps one per 20,000 people (1 to 20)."""

STREETS_PER_NEIGHBOURHOOD = 12
NEIGHBOURHOODS_PER_SECTOR = 4
SECTORS_PER_DISTRICT = 10

BOX_LATITUDE = (52.45, 52.63)
BOX_LONGITUDE = (-1.85, -1.55)
"""A box of about 20 x 20 km in the English Midlands where the place's sites and streets lie."""

_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
"""Letters a postcode's inward unit may use (never C, I, K, M, O or V)."""

_PLACE_ROOTS = (
    "Wyvern", "Brenmoor", "Caddow", "Elsmere", "Harrowden", "Kestley", "Lindholm", "Marlow",
    "Ravensdale", "Sowerby", "Thornbury", "Wendle", "Ashcombe", "Fennick", "Oldcastle",
)  # fmt: skip
_PLACE_FORMS = ("{} Vale", "Vale of {}", "{} Valley", "{} Downs", "{} and District", "{} Forest")
_TOWN_PREFIXES = (
    "Ash", "Bram", "Cald", "Dun", "Elm", "Fen", "Hart", "Kes", "Lang", "Mar", "Nor", "Oak",
    "Pen", "Red", "Sal", "Thorn", "Wel", "Wyn", "Brack", "Cold", "Hol", "Stan", "Wick", "Ather",
)  # fmt: skip
_TOWN_SUFFIXES = (
    "by", "ford", "ley", "ton", "wick", "field", "bury", "brook", "well", "stow", "thorpe",
    "mere", "combe", "hurst", "den", "worth",
)  # fmt: skip
_STREET_WORDS = (
    "Oak", "Elm", "Mill", "Church", "Station", "Victoria", "Queen's", "King's", "Park",
    "School", "Chapel", "Orchard", "Meadow", "Willow", "Beech", "Hawthorn", "Rowan", "Cedar",
    "Birch", "Holly", "Ash", "Chestnut", "Poplar", "Laburnum", "Lime", "Maple", "Sycamore",
    "Alder", "Hazel", "Juniper", "Foxglove", "Primrose", "Bluebell", "Heather", "Clover",
    "Kingfisher", "Heron", "Wren", "Lark", "Swallow", "Brook", "Bridge", "Canal", "Forge",
    "Granary", "Tannery", "Quarry", "Well", "Spring", "Marsh", "Moor", "Heath", "Hill", "Ridge",
    "Vale", "Green", "Manor", "Grange", "Abbey", "Priory", "Rectory", "Vicarage", "Windmill",
    "Cherry", "Plum", "Pear", "Apple", "Damson", "Larch", "Linden", "Fir", "Pine", "Yew",
    "Bramble", "Thistle", "Daisy", "Poppy", "Fern", "Ivy", "Lavender", "Sorrel", "Falcon",
    "Kestrel", "Robin", "Thrush", "Linnet", "Finch", "Plover", "Curlew", "Dove", "Osprey",
    "Badger", "Otter", "Fox", "Hare", "Stag", "Cobbler", "Weaver", "Miller", "Potter",
)  # fmt: skip
_STREET_TYPES = (
    "Road", "Street", "Lane", "Close", "Avenue", "Drive", "Way", "Crescent", "Grove",
    "Gardens", "Court", "Place", "Rise", "View", "Walk", "Mews",
)  # fmt: skip
_STREET_PASSES = ("", "Upper ", "Lower ", "Old ", "New ", "Little ", "Great ")
"""Prefixes that keep street names unique in a town larger than the word list allows."""
_PRACTICE_WORDS = (
    "Riverside", "Park View", "The Willows", "Mill Lane", "Church Street", "Abbey",
    "Station Road", "Orchard", "Meadowbank", "Castle", "Brookside", "Elmwood", "Beacon",
    "Kingsway", "Greenfield", "Market Square", "Hillside", "The Limes", "Priory", "Parkside",
    "Woodlands", "Bridge Street", "Valley", "Cornerstone", "Heathfield", "Northgate",
    "Southgate", "Eastgate", "Westgate", "The Grange",
)  # fmt: skip
_PRACTICE_KINDS = ("Surgery", "Medical Centre", "Health Centre", "Medical Practice")
_PCN_AREAS = ("Central", "North", "South", "East", "West", "Rural", "Villages", "Riverside")
_HOME_WORDS = (
    "Rowan", "Beech", "Cedar", "Holly", "Laurel", "Maple", "Willow", "Oak", "Elm", "Ash",
    "Hazel", "Juniper", "Larch", "Linden", "Alder", "Heather", "Bramble", "Primrose", "Meadow",
    "Orchard", "Birch", "Cherry", "Poplar", "Sycamore", "Hawthorn", "Aspen", "Blackthorn",
    "Briar", "Chestnut", "Cypress", "Elder", "Hornbeam", "Ivy", "Magnolia", "Myrtle", "Olive",
    "Rosewood", "Sorrel", "Tamarisk", "Wisteria",
)  # fmt: skip
_HOME_KINDS = ("Lodge", "House", "Court", "Grange", "Manor", "View", "Gardens", "Hall", "Mews")
_HOME_CARE_WORDS = (
    "Helping Hands", "Kindly", "Homeward", "Bluebird", "Silverline", "Open Door", "Hearthside",
    "Evergreen", "Lantern", "Steadfast", "Harbour", "Compass", "Willowbrook", "Daybreak",
    "Goodwill", "Keystone", "Lighthouse", "Springwell", "Bridgeway", "Homestead",
)  # fmt: skip
_HOME_CARE_KINDS = ("Home Care", "Care at Home", "Homecare Services", "Community Care")


# --- What the place's own resources show -------------------------------------------------------


@dataclass(frozen=True)
class Street:
    name: str
    postcode: str
    houses: int  # house numbers run 1..houses


@dataclass(frozen=True)
class OrganisationRecord:
    """An organisation with what its Organization resource shows besides its name and code."""

    organisation: Organisation
    kind: str  # a key of careweave.synth.resources.ORGANISATION_KINDS
    part_of: Organisation | None
    address: dict[str, Any]
    phone: str


@dataclass(frozen=True)
class Site:
    """A Location: a surgery, hospital, care home, hospice, office."""

    id: str
    site_code: str
    name: str
    kind: str  # a key of careweave.synth.resources.LOCATION_KINDS
    organisation: Organisation
    address: dict[str, Any]
    latitude: float
    longitude: float
    phone: str


@dataclass(frozen=True)
class PlaceDirectory:
    """The place and everything needed to write its resources and house its people."""

    place: Place
    people: int
    organisations: tuple[OrganisationRecord, ...]  # each after the one it is part of
    sites: tuple[Site, ...]
    staff: tuple[Post, ...]  # every member of staff once
    streets: Mapping[str, tuple[Street, ...]]  # by neighbourhood code
    practice_ends: tuple[int, ...]  # practice k holds person indexes [ends[k-1], ends[k])


# --- Small helpers ------------------------------------------------------------------------------


def apportion(total: int, weights: Sequence[float], minimum: int = 1) -> list[int]:
    """Split `total` into whole parts in proportion to `weights`, each at least `minimum`.

    Largest-remainder rounding, so the parts always add up to `total` exactly.
    """
    count = len(weights)
    if count == 0 or total < minimum * count:
        raise ValueError(f"cannot split {total} into {count} parts of at least {minimum}")
    weight_sum = sum(weights)
    exact = [total * weight / weight_sum for weight in weights]
    parts = [max(minimum, math.floor(share)) for share in exact]
    by_remainder = sorted(range(count), key=lambda i: (parts[i] - exact[i], i))
    surplus = sum(parts) - total
    cycle = itertools.cycle(by_remainder)
    while surplus < 0:  # give the missing units to the largest remainders first
        parts[next(cycle)] += 1
        surplus += 1
    for i in reversed(by_remainder * (1 + surplus)):  # take back any excess from the smallest
        if surplus == 0:
            break
        if parts[i] > minimum:
            parts[i] -= 1
            surplus -= 1
    return parts


def _distinct_names(rng: random.Random, names: Sequence[str], count: int) -> list[str]:
    """`count` different names from `names` in random order, numbered once they run out."""
    chosen = rng.sample(names, min(count, len(names)))
    return chosen + [f"{rng.choice(names)} {k + 2}" for k in range(count - len(chosen))]


def _coordinate(value: float, bounds: tuple[float, float]) -> float:
    return round(min(max(value, bounds[0]), bounds[1]), 5)


def address(
    *,
    line: str,
    town: str,
    district: str,
    postcode: str,
    neighbourhood: Neighbourhood | None = None,
) -> dict[str, Any]:
    """A FHIR Address in the place; with the LSOA and IMD extensions for a home."""
    result: dict[str, Any] = {}
    if neighbourhood is not None:
        result["extension"] = neighbourhood_extensions(neighbourhood)
    result["use"] = "work" if neighbourhood is None else "home"
    result["type"] = "physical"
    result["line"] = [line]
    result["city"] = town
    result["district"] = district
    result["postalCode"] = postcode
    result["country"] = "GB"
    return result


def neighbourhood_extensions(neighbourhood: Neighbourhood) -> list[dict[str, Any]]:
    return [
        {"url": LSOA_EXTENSION, "valueString": neighbourhood.code},
        {"url": IMD_EXTENSION, "valueInteger": neighbourhood.imd_decile},
    ]


# --- The build ----------------------------------------------------------------------------------


@dataclass
class _Builder:
    """Collects the organisations, sites and staff in write order while the place is built."""

    seed: int
    as_of: date
    district: str
    organisations: list[OrganisationRecord]
    sites: list[Site]
    staff: list[Post]

    def organisation(
        self,
        ods_code: str,
        name: str,
        kind: str,
        address: dict[str, Any],
        part_of: Organisation | None = None,
    ) -> Organisation:
        organisation = Organisation(id=ods_code.lower(), ods_code=ods_code, name=name)
        phone = phone_number(len(self.organisations))
        self.organisations.append(OrganisationRecord(organisation, kind, part_of, address, phone))
        return organisation

    def phone_of(self, organisation: Organisation) -> str:
        return next(r.phone for r in self.organisations if r.organisation == organisation)

    def site(
        self,
        organisation: Organisation,
        name: str,
        kind: str,
        address: dict[str, Any],
        latitude: float,
        longitude: float,
    ) -> str:
        site_id = f"loc-{organisation.id}"
        self.sites.append(
            Site(
                id=site_id,
                site_code=f"{organisation.ods_code}01",
                name=name,
                kind=kind,
                organisation=organisation,
                address=address,
                latitude=latitude,
                longitude=longitude,
                phone=self.phone_of(organisation),
            )
        )
        return site_id

    def hire(
        self, organisation: Organisation, role: str, count: int, location_id: str | None
    ) -> tuple[Post, ...]:
        posts = hire(
            seed=self.seed,
            as_of=self.as_of,
            organisation=organisation,
            role=role,
            count=count,
            location_id=location_id,
            phone=self.phone_of(organisation),
        )
        self.staff.extend(posts)
        return posts


def _names(rng: random.Random, towns: int) -> tuple[str, list[str]]:
    place = rng.choice(_PLACE_FORMS).format(rng.choice(_PLACE_ROOTS))
    combos = [p + s for p in _TOWN_PREFIXES for s in _TOWN_SUFFIXES]
    return place, rng.sample(combos, towns)


def _neighbourhoods(
    seed: int, people: int, town_names: Sequence[str]
) -> tuple[tuple[Neighbourhood, ...], list[tuple[int, int]]]:
    """The neighbourhoods in line order, and each town's (first, end) neighbourhood index."""
    count = max(MIN_NEIGHBOURHOODS, round(people / NEIGHBOURHOOD_RESIDENTS))
    layout = stream(seed, "place", "towns")
    sizes = apportion(
        count, sorted((layout.lognormvariate(0, 0.6) for _ in town_names), reverse=True)
    )
    centres = [
        (
            layout.uniform(BOX_LATITUDE[0] + 0.03, BOX_LATITUDE[1] - 0.03),
            layout.uniform(BOX_LONGITUDE[0] + 0.05, BOX_LONGITUDE[1] - 0.05),
        )
        for _ in town_names
    ]
    character = [layout.random() for _ in town_names]  # how well-off each town tends to be

    towns: list[tuple[int, int]] = []
    rows: list[
        tuple[str, str, int, float, float, float]
    ] = []  # name, town, district, lat, lon, score
    district_number = 0
    start = 0
    for town, size, (lat, lon), well_off in zip(town_names, sizes, centres, character, strict=True):
        towns.append((start, start + size))
        spread = 0.006 * math.sqrt(size)
        per_district = NEIGHBOURHOODS_PER_SECTOR * SECTORS_PER_DISTRICT
        for k in range(size):
            rng = stream(seed, "neighbourhood", start + k)
            rows.append(
                (
                    f"{town} {k // 5 + 1:03d}{'ABCDE'[k % 5]}",
                    town,
                    district_number + 1 + k // per_district,
                    _coordinate(lat + rng.gauss(0, spread), BOX_LATITUDE),
                    _coordinate(lon + rng.gauss(0, spread * 1.6), BOX_LONGITUDE),
                    well_off + rng.gauss(0, 0.35),
                )
            )
        district_number += math.ceil(size / per_district)
        start += size

    # Deprivation: the ten deciles shared out evenly (as England's LSOAs are, by definition),
    # then handed out in order of each neighbourhood's "well-off" score, so towns cluster.
    deprivation = stream(seed, "place", "deprivation")
    offset = deprivation.randrange(10)
    deciles = sorted(1 + (i * 10 + offset) // count for i in range(count))
    by_score = sorted(range(count), key=lambda j: (rows[j][5], j))
    decile_of = {j: decile for j, decile in zip(by_score, deciles, strict=True)}
    neighbourhoods = tuple(
        Neighbourhood(
            code=f"Z01{j + 1:06d}",
            name=name,
            town=town,
            imd_decile=decile_of[j],
            outward_code=f"QX{district}",
            latitude=lat,
            longitude=lon,
        )
        for j, (name, town, district, lat, lon, _) in enumerate(rows)
    )
    return neighbourhoods, towns


def _streets(
    seed: int,
    neighbourhoods: Sequence[Neighbourhood],
    towns: Sequence[tuple[int, int]],
) -> dict[str, tuple[Street, ...]]:
    """Twelve streets per neighbourhood, each its own postcode unit, names unique in a town."""
    combos = [f"{word} {kind}" for word in _STREET_WORDS for kind in _STREET_TYPES]
    units = [a + b for a in _POSTCODE_LETTERS for b in _POSTCODE_LETTERS]
    streets: dict[str, tuple[Street, ...]] = {}
    for town_index, (first, end) in enumerate(towns):
        rng = stream(seed, "streets", town_index)
        names = [
            prefix + name for prefix in _STREET_PASSES for name in rng.sample(combos, len(combos))
        ]
        name_iter = iter(names)
        for k, j in enumerate(range(first, end)):
            neighbourhood = neighbourhoods[j]
            sector = (k % (NEIGHBOURHOODS_PER_SECTOR * SECTORS_PER_DISTRICT)) // (
                NEIGHBOURHOODS_PER_SECTOR
            )
            slot = k % NEIGHBOURHOODS_PER_SECTOR
            sector_units = stream(seed, "postcodes", neighbourhood.outward_code, sector).sample(
                units, NEIGHBOURHOODS_PER_SECTOR * STREETS_PER_NEIGHBOURHOOD
            )
            own_units = sector_units[slot * STREETS_PER_NEIGHBOURHOOD :][:STREETS_PER_NEIGHBOURHOOD]
            houses = stream(seed, "houses", neighbourhood.code)
            streets[neighbourhood.code] = tuple(
                Street(
                    name=next(name_iter),
                    postcode=f"{neighbourhood.outward_code} {sector}{unit}",
                    houses=houses.randint(20, 160),
                )
                for unit in own_units
            )
    return streets


def _list_sizes(seed: int, people: int) -> list[int]:
    """Practice list sizes: lognormal draws scaled to add up to `people` exactly."""
    rng = stream(seed, "place", "practices")
    count = min(people, max(1, round(people / demography.LIST_SIZE_MEAN)))
    sigma = demography.LIST_SIZE_SIGMA
    mu = math.log(demography.LIST_SIZE_MEAN) - sigma * sigma / 2
    return apportion(people, [rng.lognormvariate(mu, sigma) for _ in range(count)])


def _networks(sizes: Sequence[int]) -> list[list[int]]:
    """Group consecutive practices into networks of about 40,000 patients.

    round(total / 40,000) networks (at least one), and each practice joins the network its
    middle patient falls in, so totals are 40,000 give or take half a practice.
    """
    total = sum(sizes)
    count = max(1, round(total / PCN_LIST_TARGET))
    groups: dict[int, list[int]] = {}
    start = 0
    for k, size in enumerate(sizes):
        groups.setdefault((2 * start + size) * count // (2 * total), []).append(k)
        start += size
    return [groups[g] for g in sorted(groups)]


def _home_address(
    builder: _Builder,
    streets: Mapping[str, tuple[Street, ...]],
    neighbourhood: Neighbourhood,
    rng: random.Random,
    *,
    residence: bool = False,
) -> dict[str, Any]:
    street = rng.choice(streets[neighbourhood.code])
    return address(
        line=f"{rng.randint(1, street.houses)} {street.name}",
        town=neighbourhood.town,
        district=builder.district,
        postcode=street.postcode,
        neighbourhood=neighbourhood if residence else None,
    )


def build_place(*, people: int, seed: int, as_of: date) -> PlaceDirectory:
    """The place for `people` registered patients generated from `seed` (same input, same place)."""
    if people < 1:
        raise ValueError("a place needs at least one person")
    naming = stream(seed, "place", "names")
    town_count = max(2, min(8, round(people / NEIGHBOURHOOD_RESIDENTS / TOWN_NEIGHBOURHOODS)))
    place_name, town_names = _names(naming, town_count)
    neighbourhoods, towns = _neighbourhoods(seed, people, town_names)
    streets = _streets(seed, neighbourhoods, towns)
    builder = _Builder(seed, as_of, place_name, [], [], [])
    main_town = town_names[0]
    main_centre = neighbourhoods[towns[0][0]]

    def located(neighbourhood: Neighbourhood, rng: random.Random) -> tuple[float, float]:
        return (
            _coordinate(neighbourhood.latitude + rng.gauss(0, 0.002), BOX_LATITUDE),
            _coordinate(neighbourhood.longitude + rng.gauss(0, 0.003), BOX_LONGITUDE),
        )

    # Integrated care board
    icb_rng = stream(seed, "org", "icb")
    icb = builder.organisation(
        "ZZQ",
        f"NHS {place_name} Integrated Care Board",
        "icb",
        _home_address(builder, streets, main_centre, icb_rng),
    )

    # Practices and their networks
    sizes = _list_sizes(seed, people)
    ends = tuple(itertools.accumulate(sizes))
    starts = (0, *ends[:-1])
    practice_rng = stream(seed, "place", "practice-names")
    practice_names = _distinct_names(
        practice_rng,
        [f"{w} {kind}" for w in _PRACTICE_WORDS for kind in _PRACTICE_KINDS],
        len(sizes),
    )
    count = len(neighbourhoods)
    served = [
        neighbourhoods[start * count // people : (end - 1) * count // people + 1]
        for start, end in zip(starts, ends, strict=True)
    ]
    groups = _networks(sizes)
    area_counts: dict[str, int] = {}
    pcns: list[Organisation] = []
    for number, group in enumerate(groups, start=1):
        town = served[group[0]][0].town
        area = _PCN_AREAS[area_counts.get(town, 0) % len(_PCN_AREAS)]
        area_counts[town] = area_counts.get(town, 0) + 1
        home = served[group[0]][len(served[group[0]]) // 2]
        pcns.append(
            builder.organisation(
                f"ZZU{number:02d}",
                f"{town} {area} Primary Care Network",
                "pcn",
                _home_address(builder, streets, home, stream(seed, "org", "pcn", number)),
                part_of=icb,
            )
        )
    practice_orgs: list[Organisation] = []
    practice_sites: list[str] = []
    pcn_of_practice: dict[int, int] = {k: g for g, group in enumerate(groups) for k in group}
    for k in range(len(sizes)):
        rng = stream(seed, "org", "practice", k)
        home = served[k][len(served[k]) // 2]
        where = _home_address(builder, streets, home, rng)
        organisation = builder.organisation(
            f"ZZP{k + 1:03d}",
            practice_names[k],
            "gp-practice",
            where,
            part_of=pcns[pcn_of_practice[k]],
        )
        practice_orgs.append(organisation)
        practice_sites.append(
            builder.site(organisation, practice_names[k], "gp-surgery", where, *located(home, rng))
        )

    # Trusts, council, hospice
    community_rng = stream(seed, "org", "community-trust")
    community_home = neighbourhoods[towns[min(1, len(towns) - 1)][0]]
    community_address = _home_address(builder, streets, community_home, community_rng)
    community_trust = builder.organisation(
        "ZZR01",
        f"{place_name} Community Health NHS Trust",
        "community-trust",
        community_address,
    )
    community_site = builder.site(
        community_trust,
        f"{community_home.town} Community Hospital",
        "community-hospital",
        community_address,
        *located(community_home, community_rng),
    )
    acute_rng = stream(seed, "org", "acute-trust")
    hospital_address = _home_address(builder, streets, main_centre, acute_rng)
    acute_trust = builder.organisation(
        "ZZR02", f"{place_name} Hospitals NHS Trust", "acute-trust", hospital_address
    )
    hospital = builder.site(
        acute_trust,
        f"{main_town} General Hospital",
        "hospital",
        hospital_address,
        *located(main_centre, acute_rng),
    )
    discharge_team = builder.organisation(
        "ZZR02DT",
        f"{main_town} General Hospital Integrated Discharge Team",
        "discharge-team",
        hospital_address,
        part_of=acute_trust,
    )
    council_rng = stream(seed, "org", "council")
    council_address = _home_address(builder, streets, main_centre, council_rng)
    council = builder.organisation(
        "ZZL01", f"{place_name} Council Adult Social Care", "council", council_address
    )
    council_site = builder.site(
        council,
        f"{main_town} Civic Centre",
        "council-office",
        council_address,
        *located(main_centre, council_rng),
    )
    hospice_rng = stream(seed, "org", "hospice")
    hospice_home = hospice_rng.choice(neighbourhoods)
    hospice_address = _home_address(builder, streets, hospice_home, hospice_rng)
    hospice = builder.organisation(
        "ZZN01", f"{hospice_home.town} and District Hospice", "hospice", hospice_address
    )
    hospice_site = builder.site(
        hospice,
        f"{hospice_home.town} and District Hospice",
        "hospice",
        hospice_address,
        *located(hospice_home, hospice_rng),
    )

    # Care homes
    older_share = sum(band.percent for band in demography.AGE_BANDS if band.low >= 65) / sum(
        band.percent for band in demography.AGE_BANDS
    )
    beds = max(1, math.ceil(people * older_share * CARE_HOME_BEDS_PER_OLDER_PERSON))
    home_count = min(beds, max(1, round(beds / CARE_HOME_MEAN_BEDS)))
    homes_rng = stream(seed, "place", "care-homes")
    nursing = [
        (homes_rng.random() < 0.5)
        if home_count == 1
        else (k == 0 or (k > 1 and homes_rng.random() < NURSING_HOME_SHARE))
        for k in range(home_count)
    ]
    bed_counts = apportion(
        beds,
        [
            (NURSING_HOME_MEAN_BEDS if is_nursing else RESIDENTIAL_HOME_MEAN_BEDS)
            * homes_rng.lognormvariate(0, 0.3)
            for is_nursing in nursing
        ],
    )
    home_names = _distinct_names(
        homes_rng, [f"{word} {kind}" for word in _HOME_WORDS for kind in _HOME_KINDS], home_count
    )
    care_home_entries: list[tuple[Organisation, str, bool, int, dict[str, Any], Neighbourhood]] = []
    for k in range(home_count):
        rng = stream(seed, "org", "care-home", k)
        home = rng.choice(neighbourhoods)
        where = _home_address(builder, streets, home, rng, residence=True)
        kind = "Nursing Home" if nursing[k] else "Care Home"
        name = f"{home_names[k]} {kind}"
        organisation = builder.organisation(
            f"ZZH{k + 1:03d}",
            name,
            "care-home-nursing" if nursing[k] else "care-home-residential",
            where,
        )
        site = builder.site(organisation, name, "care-home", where, *located(home, rng))
        care_home_entries.append((organisation, site, nursing[k], bed_counts[k], where, home))

    # Home care providers and voluntary organisations
    providers = max(1, min(20, round(people / PEOPLE_PER_HOME_CARE_PROVIDER)))
    provider_rng = stream(seed, "place", "home-care")
    provider_names = _distinct_names(
        provider_rng,
        [f"{word} {kind}" for word in _HOME_CARE_WORDS for kind in _HOME_CARE_KINDS],
        providers,
    )
    home_care: list[Organisation] = []
    for k in range(providers):
        rng = stream(seed, "org", "home-care", k)
        home_care.append(
            builder.organisation(
                f"ZZD{k + 1:03d}",
                f"{provider_names[k]} ({rng.choice(town_names)})",
                "home-care",
                _home_address(builder, streets, rng.choice(neighbourhoods), rng),
            )
        )
    voluntary_names = [
        f"Later Life {place_name}",
        f"{place_name} Carers' Centre",
        f"{place_name} Community Transport",
        f"{place_name} Memory Café Network",
        f"{place_name} Good Neighbours",
        *(f"{town} Befriending Scheme" for town in town_names[:5]),
    ]
    voluntary: list[Organisation] = []
    for k, name in enumerate(voluntary_names):
        rng = stream(seed, "org", "voluntary", k)
        voluntary.append(
            builder.organisation(
                f"ZZV{k + 1:03d}",
                name,
                "voluntary",
                _home_address(builder, streets, rng.choice(neighbourhoods), rng),
            )
        )

    # Staff: networks' shared staff, then each practice's own, care homes', everyone else's.
    network_staff: list[tuple[Post, ...]] = []
    for g, group in enumerate(groups):
        registered = sum(sizes[k] for k in group)
        base = practice_sites[group[0]]
        network_staff.append(
            tuple(
                post
                for role in ("pharmacist", "care-coordinator", "link-worker")
                for post in builder.hire(pcns[g], role, headcount(role, registered), base)
            )
        )
    practices: list[Practice] = []
    for k, organisation in enumerate(practice_orgs):
        own = tuple(
            post
            for role in ("gp", "practice-nurse", "care-navigator")
            for post in builder.hire(
                organisation, role, headcount(role, sizes[k]), practice_sites[k]
            )
        )
        practices.append(
            Practice(
                organisation=organisation,
                pcn=pcns[pcn_of_practice[k]],
                location_id=practice_sites[k],
                list_size=sizes[k],
                neighbourhoods=tuple(served[k]),
                staff=tuple(post.member for post in (*own, *network_staff[pcn_of_practice[k]])),
            )
        )
    care_homes: list[CareHome] = []
    for organisation, site, is_nursing, bed_count, where, home in care_home_entries:
        roles = {"care-home-manager": PER_ORGANISATION["care-home-manager"]}
        if is_nursing:
            roles["care-home-nurse"] = PER_ORGANISATION["care-home-nurse"]
        home_staff = tuple(
            post.member
            for role, number in roles.items()
            for post in builder.hire(organisation, role, number, site)
        )
        care_homes.append(
            CareHome(
                organisation=organisation,
                location_id=site,
                nursing=is_nursing,
                beds=bed_count,
                address=where,
                neighbourhood=home,
                staff=home_staff,
            )
        )
    place_staff: list[Post] = []
    for organisation, role, site in (
        (council, "social-worker", council_site),
        (council, "occupational-therapist", council_site),
        (community_trust, "district-nurse", community_site),
        (community_trust, "community-nurse", community_site),
        (acute_trust, "geriatrician", hospital),
        (discharge_team, "discharge-coordinator", hospital),
        (hospice, "hospice-nurse", hospice_site),
        (hospice, "palliative-care-doctor", hospice_site),
    ):
        place_staff.extend(builder.hire(organisation, role, headcount(role, people), site))
    for organisation in home_care:
        place_staff.extend(
            builder.hire(
                organisation, "home-care-manager", PER_ORGANISATION["home-care-manager"], None
            )
        )
    for organisation in voluntary:
        place_staff.extend(
            builder.hire(
                organisation,
                "voluntary-sector-worker",
                PER_ORGANISATION["voluntary-sector-worker"],
                None,
            )
        )

    place = Place(
        seed=seed,
        name=place_name,
        as_of=as_of,
        icb=icb,
        practices=tuple(practices),
        neighbourhoods=neighbourhoods,
        council=council,
        community_trust=community_trust,
        acute_trust=acute_trust,
        acute_hospital_location_id=hospital,
        discharge_team=discharge_team,
        hospice=hospice,
        care_homes=tuple(care_homes),
        voluntary_organisations=tuple(voluntary),
        home_care_providers=tuple(home_care),
        staff=tuple(post.member for post in place_staff),
    )
    return PlaceDirectory(
        place=place,
        people=people,
        organisations=tuple(builder.organisations),
        sites=tuple(builder.sites),
        staff=tuple(builder.staff),
        streets=MappingProxyType(streets),
        practice_ends=ends,
    )
