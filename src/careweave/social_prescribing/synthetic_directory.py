"""A made-up directory of community services for a synthetic place, seeded and repeatable.

`generate_directory(place, services=N, seed=S, as_of=D)` places N services run by made-up
community organisations at made-up venues on the place's own streets, so searching from any
postcode of the place finds services around it. The mix follows what social prescribing link
workers refer older people to most (activity, befriending, lunch clubs, advice); every rate is
a constant below, and docs/directory.md shows what a 10,000-service directory comes out as.
The rates are careweave's own plausible choices, not measured national figures.

Everything is invented: "ZZC" ODS-style codes (no real ODS code starts ZZ), drama telephone
numbers (Ofcom's reserved ranges), `careweave.example` email and web addresses (RFC 2606), and
names made from word lists. Each organisation, venue and service draws from its own named
random stream (careweave.synth.draws), so the same place, seed and size give the same
directory, and a larger directory starts with the smaller one's organisations and venue
sites (who runs each venue, and which services run where, are drawn among all of them).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Final

from careweave.social_prescribing.directory import (
    CommunityService,
    Cost,
    DirectoryOrganisation,
    OpeningTime,
    Venue,
)
from careweave.social_prescribing.directory_codes import NEEDS
from careweave.social_prescribing.directory_records import (
    OpenTransaction,
    SaveReport,
    save_entries,
)
from careweave.social_prescribing.postcodes import PostcodeLookup, place_postcodes
from careweave.synth.demography import ENGLISH_GIVEN_NAMES, SURNAMES
from careweave.synth.draws import Weighted, stream
from careweave.synth.place import PlaceDirectory, Street
from careweave.synth.workforce import EMAIL_DOMAIN, phone_number

NEED_MIX: Final[Mapping[str, float]] = {
    "physical-activity": 16,
    "befriending": 14,
    "lunch-club": 9,
    "arts-and-creativity": 9,
    "mental-wellbeing": 8,
    "carers-support": 7,
    "benefits-advice": 7,
    "digital-skills": 7,
    "housing": 6,
    "memory-support": 6,
    "bereavement": 5,
    "transport": 6,
}
"""Percent of services whose main need is each category."""
SECOND_NEED_SHARE: Final = 0.25
"""Services that also meet a second need (a lunch club is also company)."""
SERVICES_PER_ORGANISATION: Final = 6
SERVICES_PER_VENUE: Final = 3
SECOND_VENUE_SHARE: Final = 0.08
"""Services run at two venues (the same group meeting in two towns)."""
COST_MIX: Final[Mapping[str, float]] = {"free": 60, "donation": 20, "charge": 20}
"""Percent free, free with donations welcome, and charged (lunch clubs charge more often)."""
ACCESSIBILITY_RATES: Final[Mapping[str, float]] = {
    "step-free-access": 0.75,
    "accessible-toilet": 0.60,
    "accessible-parking": 0.45,
    "hearing-loop": 0.30,
    "dementia-friendly": 0.30,
    "large-print": 0.25,
    "quiet-space": 0.20,
    "bsl-interpreter": 0.10,
}
"""Share of services with each feature (memory support is always dementia friendly)."""
REFERRAL_RATES: Final[Mapping[str, float]] = {
    "phone": 0.85,
    "link-worker": 0.70,
    "email": 0.50,
    "drop-in": 0.30,
    "online-form": 0.15,
    "letter": 0.05,
}
"""Share of services taking each way of referring (every service takes at least one)."""
CHECKED_WITHIN_SIX_MONTHS: Final = 0.75
"""Entries checked in the last 180 days; the rest 181-720 days ago (so about a quarter are
stale), except NEVER_CHECKED_SHARE never checked."""
NEVER_CHECKED_SHARE: Final = 0.02
CLOSED_SHARE: Final = 0.03
"""Services that have closed (in the last year) and stay in the directory as history."""
NO_TIMES_SHARE: Final = 0.03
"""Services with no regular times ("by appointment")."""
NIGHT_LINE_SHARE: Final = 0.02
"""Befriending and wellbeing services that are evening phone lines running past midnight."""

_NEED_CHOICE: Final = Weighted(tuple(NEED_MIX), tuple(NEED_MIX.values()))
_COST_CHOICE: Final = Weighted(tuple(COST_MIX), tuple(COST_MIX.values()))

_SERVICE_NAMES: Final[Mapping[str, tuple[str, ...]]] = {
    "physical-activity": ("Chair-based exercise", "Walking group", "Tai chi", "Seated yoga",
                          "Strength and balance class", "Bowls club", "Tea dance", "Swim for life"),
    "befriending": ("Telephone befriending", "Good neighbours visiting", "Coffee and chat",
                    "Men's shed", "Friendship circle", "Befriending visits"),
    "lunch-club": ("Lunch club", "Community lunch", "Friday fish and chips", "Soup and sandwich"),
    "arts-and-creativity": ("Craft circle", "Community choir", "Knit and natter", "Art group",
                            "Reminiscence theatre", "Gardening club"),
    "mental-wellbeing": ("Wellbeing cafe", "Talking group", "Mindfulness for beginners",
                         "Peer support group"),
    "carers-support": ("Carers' drop-in", "Carers' support group", "Carers' respite sitting",
                       "Young at heart carers' cafe"),
    "benefits-advice": ("Benefits check", "Money and debt advice", "Pension credit help",
                        "Attendance allowance form help"),
    "digital-skills": ("Digital buddies", "Tablet and smartphone help", "Online shopping class",
                       "Get online drop-in"),
    "housing": ("Housing options advice", "Home adaptations advice", "Warm homes advice",
                "Handyperson service"),
    "memory-support": ("Memory cafe", "Singing for the brain", "Dementia carers' group",
                       "Memory walk"),
    "bereavement": ("Bereavement cafe", "Bereavement support group", "Widows and widowers club"),
    "transport": ("Community transport", "Dial-a-ride", "Volunteer car scheme",
                  "Shopping bus"),
}  # fmt: skip
_ORGANISATION_KINDS: Final = (
    "{street} Good Neighbours, {town}", "{street} Community Association, {town}",
    "{street} Older People's Forum, {town}", "{street} Volunteers, {town}",
    "Friends of {street} Park, {town}", "{street} Carers Network, {town}",
    "{street} Community Transport, {town}", "{street} Leisure Trust, {town}",
    "{street} Advice Centre, {town}", "{street} Methodist Church, {town}",
    "{street} Wellbeing Collective, {town}", "{street} Arts Partnership, {town}",
    "{street} Memory Cafe Group, {town}", "{street} Housing Association, {town}",
    "{street} Residents' Association, {town}", "{street} Bowls Club, {town}",
    "{street} Walking Friends, {town}", "St {saint}'s Church, {street} Road, {town}",
)  # fmt: skip
_SAINTS: Final = ("Mary", "John", "Peter", "Andrew", "Michael", "Luke", "Anne", "Margaret")
_VENUE_KINDS: Final = (
    "{street} Community Centre", "St {saint}'s Church Hall", "{town} Library",
    "{town} Leisure Centre", "{street} Village Hall", "The {street} Hub", "{town} Methodist Hall",
    "{town} Scout Hut", "{street} Sports Pavilion", "{town} Civic Hall",
)  # fmt: skip
_ELIGIBILITY: Final[Mapping[str, tuple[str, ...]]] = {
    "carers-support": ("Unpaid carers of any age",),
    "memory-support": ("People living with memory loss or dementia and those who care for them",),
    "bereavement": ("Anyone who has lost someone close to them",),
    "transport": ("People who cannot use buses easily, aged 60 and over or disabled",),
}
_GENERAL_ELIGIBILITY: Final = (
    "Aged 65 and over",
    "Aged 55 and over",
    "Adults of any age",
    "Anyone living in {town}",
    "Aged 60 and over, living in {town}",
)
_TITLES: Final = ("Coordinator", "Volunteer coordinator", "Manager", "Group leader", "Adviser")
_GIVEN: Final = ENGLISH_GIVEN_NAMES[-1][1] + ENGLISH_GIVEN_NAMES[-1][2]
_FAMILY: Final = SURNAMES["english"]


@dataclass(frozen=True)
class SyntheticDirectory:
    organisations: tuple[DirectoryOrganisation, ...]
    venues: tuple[Venue, ...]
    services: tuple[CommunityService, ...]


def generate_directory(
    place: PlaceDirectory, *, services: int, seed: int, as_of: date
) -> SyntheticDirectory:
    """N services for `place` (see the module docstring); `as_of` is the day it describes."""
    if services < 1:
        raise ValueError("a directory needs at least one service")
    lookup = place_postcodes(place)
    neighbourhoods = place.place.neighbourhoods
    organisations: list[DirectoryOrganisation] = []
    names: dict[str, int] = {}
    for k in range(max(1, math.ceil(services / SERVICES_PER_ORGANISATION))):
        organisation = _organisation(seed, k, place)
        names[organisation.name] = names.get(organisation.name, 0) + 1
        if names[organisation.name] > 1:  # a second "Ashby Good Neighbours" is numbered
            organisation = replace(
                organisation, name=f"{organisation.name} {names[organisation.name]}"
            )
        organisations.append(organisation)
    by_id = {o.id: o for o in organisations}
    venues = []
    for k in range(max(1, math.ceil(services / SERVICES_PER_VENUE))):
        rng = stream(seed, "directory", "venue", k)
        neighbourhood = rng.choice(neighbourhoods)
        street = rng.choice(place.streets[neighbourhood.code])
        owner = organisations[rng.randrange(len(organisations))]
        venues.append(_venue(k, rng, street, neighbourhood.town, owner, lookup))
    made = [
        _service(seed, k, organisations, by_id, venues, as_of, phone_number(k))
        for k in range(services)
    ]
    return SyntheticDirectory(tuple(organisations), tuple(venues), tuple(made))


def _organisation(seed: int, k: int, place: PlaceDirectory) -> DirectoryOrganisation:
    rng = stream(seed, "directory", "organisation", k)
    neighbourhood = rng.choice(place.place.neighbourhoods)
    street = rng.choice(place.streets[neighbourhood.code])
    name = rng.choice(_ORGANISATION_KINDS).format(
        town=neighbourhood.town, street=_street_word(street.name), saint=rng.choice(_SAINTS)
    )
    ods = f"ZZC{k + 1:04d}"
    oid = ods.lower()
    return DirectoryOrganisation(
        id=oid,
        name=name,
        ods_code=ods,
        email=f"hello@{oid}.{EMAIL_DOMAIN}",
        website=f"https://{oid}.{EMAIL_DOMAIN}",
    )


_STREET_PREFIXES: Final = ("Upper", "Lower", "Old", "New", "Little", "Great")


def _street_word(street: str) -> str:
    """The street's own word ("Oak" from "Upper Oak Road"), to name a venue after."""
    words = street.split()
    return words[1] if words[0] in _STREET_PREFIXES and len(words) > 2 else words[0]


def _venue(
    k: int,
    rng: random.Random,
    street: Street,
    town: str,
    owner: DirectoryOrganisation,
    lookup: PostcodeLookup,
) -> Venue:
    word = _street_word(street.name)
    name = rng.choice(_VENUE_KINDS).format(street=word, town=town, saint=rng.choice(_SAINTS))
    return Venue(
        id=f"venue-{k + 1:05d}",
        name=name,
        address_line=f"{rng.randint(1, street.houses)} {street.name}",
        town=town,
        postcode=street.postcode,
        position=lookup.position_of(street.postcode),
        organisation_id=owner.id,
    )


def _service(
    seed: int,
    k: int,
    organisations: list[DirectoryOrganisation],
    by_id: Mapping[str, DirectoryOrganisation],
    venues: list[Venue],
    as_of: date,
    phone: str,
) -> CommunityService:
    rng = stream(seed, "directory", "service", k)
    need = _NEED_CHOICE.draw(rng)
    needs = [need]
    if rng.random() < SECOND_NEED_SHARE:
        other = _NEED_CHOICE.draw(rng)
        if other != need:
            needs.append(other)
    # Services cluster: most run at a venue their own organisation manages.
    venue = venues[rng.randrange(len(venues))]
    owner = by_id.get(venue.organisation_id or "")
    organisation = owner if owner and rng.random() < 0.7 else rng.choice(organisations)
    venue_ids = [venue.id]
    if rng.random() < SECOND_VENUE_SHARE:
        second = venues[rng.randrange(len(venues))]
        if second.id != venue.id:
            venue_ids.append(second.id)
    sid = f"service-{k + 1:06d}"
    label = rng.choice(_SERVICE_NAMES[need])
    closed = rng.random() < CLOSED_SHARE
    return CommunityService(
        id=sid,
        name=f"{label}, {venue.town}",
        organisation_id=organisation.id,
        description=f"{label} for older people in and around {venue.town}. "
        f"Run by {organisation.name}.",
        needs=tuple(needs),
        venue_ids=tuple(venue_ids),
        eligibility=rng.choice(_ELIGIBILITY.get(need, _GENERAL_ELIGIBILITY)).format(
            town=venue.town
        ),
        cost=_cost(rng, need),
        accessibility=frozenset(
            f
            for f, rate in ACCESSIBILITY_RATES.items()
            if rng.random() < rate or (f == "dementia-friendly" and need == "memory-support")
        ),
        opening_times=_opening_times(rng, need),
        referral_methods=_referral_methods(rng, need),
        phone=phone,
        email=f"{sid}@{organisation.id}.{EMAIL_DOMAIN}",
        website=f"https://{organisation.id}.{EMAIL_DOMAIN}/{sid}",
        contact_name=f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}",
        contact_title=rng.choice(_TITLES),
        last_checked=_last_checked(rng, as_of),
        active=not closed,
        closed_on=as_of - timedelta(days=rng.randint(1, 365)) if closed else None,
    )


def _cost(rng: random.Random, need: str) -> Cost:
    kind = "charge" if need == "lunch-club" and rng.random() < 0.8 else _COST_CHOICE.draw(rng)
    if kind != "charge":
        return Cost(kind)
    if need == "lunch-club":
        return Cost(kind, Decimal(rng.choice(("4.00", "4.50", "5.00", "5.50", "6.00"))),
                    "for a two-course lunch")  # fmt: skip
    return Cost(kind, Decimal(rng.choice(("1.00", "2.00", "2.50", "3.00", "4.00"))), "a session")


_PATTERNS: Final[Mapping[str, tuple[int, int, tuple[time, time]]]] = {
    # need: (fewest days, most days, (start, end))
    "physical-activity": (1, 2, (time(10, 0), time(11, 0))),
    "befriending": (5, 5, (time(9, 0), time(17, 0))),
    "lunch-club": (1, 1, (time(11, 30), time(14, 0))),
    "arts-and-creativity": (1, 1, (time(14, 0), time(16, 0))),
    "mental-wellbeing": (1, 2, (time(18, 30), time(20, 0))),
    "carers-support": (1, 1, (time(10, 0), time(12, 0))),
    "benefits-advice": (2, 5, (time(9, 30), time(16, 30))),
    "digital-skills": (1, 1, (time(10, 0), time(12, 0))),
    "housing": (5, 5, (time(9, 0), time(17, 0))),
    "memory-support": (1, 1, (time(14, 0), time(16, 0))),
    "bereavement": (1, 1, (time(18, 30), time(20, 30))),
    "transport": (5, 6, (time(8, 0), time(18, 0))),
}


def _opening_times(rng: random.Random, need: str) -> tuple[OpeningTime, ...]:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    if rng.random() < NO_TIMES_SHARE:
        return ()
    if need in ("befriending", "mental-wellbeing") and rng.random() < NIGHT_LINE_SHARE * 3:
        return (OpeningTime(("fri", "sat"), time(22, 0), time(2, 0)),)
    if need == "transport" and rng.random() < 0.1:
        return (OpeningTime(days),)  # on call every day
    fewest, most, (start, end) = _PATTERNS[need]
    count = rng.randint(fewest, most)
    weekdays = days[:5] if count <= 5 else days[:6]
    chosen = tuple(sorted(rng.sample(weekdays, count), key=days.index))
    shift = timedelta(minutes=30 * rng.randint(-2, 2)) if count <= 2 else timedelta()
    opens = _shifted(start, shift)
    closes = _shifted(end, shift)
    return (OpeningTime(chosen, opens, closes),)


def _shifted(at: time, by: timedelta) -> time:
    minutes = at.hour * 60 + at.minute + int(by.total_seconds() // 60)
    return time(minutes // 60, minutes % 60)


def _referral_methods(rng: random.Random, need: str) -> tuple[str, ...]:
    methods = [m for m, rate in REFERRAL_RATES.items() if rng.random() < rate]
    if need in ("lunch-club", "physical-activity", "arts-and-creativity") and rng.random() < 0.4:
        methods.append("drop-in")
    return tuple(dict.fromkeys(methods)) or ("phone",)


def _last_checked(rng: random.Random, as_of: date) -> date | None:
    if rng.random() < NEVER_CHECKED_SHARE:
        return None
    if rng.random() < CHECKED_WITHIN_SIX_MONTHS:
        return as_of - timedelta(days=rng.randint(0, 180))
    return as_of - timedelta(days=rng.randint(181, 720))


def save_synthetic_directory(
    open_transaction: OpenTransaction, directory: SyntheticDirectory
) -> SaveReport:
    """Write a generated directory in one transaction (re-running it changes nothing)."""
    with open_transaction() as tx:
        return save_entries(tx, directory.organisations, directory.venues, directory.services)


def need_counts(directory: SyntheticDirectory) -> dict[str, int]:
    """Services per need category (a service with two needs counts in both)."""
    counts = dict.fromkeys(NEEDS, 0)
    for service in directory.services:
        for need in service.needs:
            counts[need] += 1
    return counts
