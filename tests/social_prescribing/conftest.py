"""A small hand-made directory whose distances are known by construction.

Everything lies on the meridian 1.7 degrees west, north of ORIGIN (postcode QX1 1AA): a
venue `km` kilometres north is at latitude 52.5 + km / KM_PER_DEGREE, and the haversine distance
along a meridian is exactly that. The services:

  lunch      Lunch club at the hall (1 km), Tuesdays 11:30-14:00, step-free, hearing loop
  walk       Walking group at the park (3 km), Mon and Thu 10:00-11:00, step-free
  night      Night owls phone line at the office (8 km), Fri and Sat 22:00-02:00
  friends    Friendship circle at the hall (1 km) AND the library (20 km), no times
  phoneline  Telephone befriending with no venue, weekdays 09:00-17:00
  closed     Old lunch club at the library (20 km), closed 2025-03-01
"""

from __future__ import annotations

import math
from datetime import date, time

import pytest

from careweave.social_prescribing.directory import (
    CommunityService,
    Cost,
    DirectoryOrganisation,
    OpeningTime,
    Venue,
)
from careweave.social_prescribing.directory_index import Directory
from careweave.social_prescribing.postcodes import EARTH_RADIUS_KM, Position, PostcodeLookup
from tests.social_prescribing.pathway_place import sp_place

__all__ = ["directory", "sp_place"]

KM_PER_DEGREE = math.pi / 180 * EARTH_RADIUS_KM
ORIGIN = Position(52.5, -1.7)
ORIGIN_POSTCODE = "QX1 1AA"
TODAY = date(2025, 7, 15)


def north(km: float) -> Position:
    return Position(ORIGIN.latitude + km / KM_PER_DEGREE, ORIGIN.longitude)


ORGANISATIONS = (
    DirectoryOrganisation(
        "zzc0001", "Brook Good Neighbours", "ZZC0001", "hello@zzc0001.careweave.example"
    ),
    DirectoryOrganisation(
        "zzc0002", "Mill Lane Walkers", "ZZC0002", None, "https://walk.careweave.example"
    ),
)
VENUES = (
    Venue("hall", "Brook Centre", "1 Brook Street", "Ashby", "QX1 2AB", north(1), "zzc0001"),
    Venue("park", "Mill Lane Park", "Mill Lane", "Ashby", "QX1 3AB", north(3), "zzc0002"),
    Venue("office", "Good Neighbours Office", "8 High Street", "Bramley", "QX2 1AB", north(8)),
    Venue("library", "Bramley Library", "20 Church Street", "Bramley", "QX3 1AB", north(20)),
)  # fmt: skip
SERVICES = (
    CommunityService(
        "lunch",
        "Lunch club",
        "zzc0001",
        "A two-course lunch and company",
        needs=("lunch-club", "befriending"),
        venue_ids=("hall",),
        eligibility="Aged 65 and over",
        cost=Cost("charge", None, "£4.50 for lunch"),
        accessibility=frozenset({"step-free-access", "hearing-loop"}),
        opening_times=(OpeningTime(("tue",), time(11, 30), time(14, 0)),),
        referral_methods=("phone", "drop-in"),
        phone="01632 960001",
        last_checked=date(2025, 6, 1),
    ),
    CommunityService(
        "walk",
        "Walking group",
        "zzc0002",
        needs=("physical-activity",),
        venue_ids=("park",),
        cost=Cost("free"),
        accessibility=frozenset({"step-free-access"}),
        opening_times=(OpeningTime(("mon", "thu"), time(10, 0), time(11, 0)),),
        referral_methods=("link-worker",),
        last_checked=date(2025, 1, 15),
    ),
    CommunityService(
        "night",
        "Night owls phone line",
        "zzc0001",
        needs=("befriending", "mental-wellbeing"),
        venue_ids=("office",),
        opening_times=(OpeningTime(("fri", "sat"), time(22, 0), time(2, 0)),),
        referral_methods=("phone",),
        last_checked=date(2025, 1, 16),
    ),
    CommunityService(
        "friends",
        "Friendship circle",
        "zzc0001",
        needs=("befriending",),
        venue_ids=("library", "hall"),
        accessibility=frozenset({"step-free-access", "hearing-loop", "accessible-toilet"}),
        referral_methods=("email",),
        email="friends@zzc0001.careweave.example",
    ),
    CommunityService(
        "phoneline",
        "Telephone befriending",
        "zzc0001",
        needs=("befriending",),
        opening_times=(OpeningTime(("mon", "tue", "wed", "thu", "fri"), time(9, 0), time(17, 0)),),
        referral_methods=("phone",),
        last_checked=date(2025, 7, 1),
    ),
    CommunityService(
        "closed",
        "Old lunch club",
        "zzc0002",
        needs=("lunch-club",),
        venue_ids=("library",),
        opening_times=(OpeningTime(("tue",), time(12, 0), time(14, 0)),),
        last_checked=date(2024, 1, 1),
        active=False,
        closed_on=date(2025, 3, 1),
    ),
)
POSTCODES = PostcodeLookup({ORIGIN_POSTCODE: ORIGIN, "QX9 9ZZ": north(50)})


@pytest.fixture
def directory() -> Directory:
    return Directory.of(
        {o.id: o for o in ORGANISATIONS},
        {v.id: v for v in VENUES},
        {s.id: s for s in SERVICES},
        POSTCODES,
    )
