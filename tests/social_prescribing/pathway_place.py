"""The coordination tests' place (tests/coordination/place.py) with a social prescribing
service and a few community services added, for the pathway tests on SQLite and PostgreSQL.

Added to the place:

  spn        Northshire Social Prescribing Network: the network's link worker service (not a
             GP practice, so its staff reach a person only through a referral or episode)
  pat.lw     Pat Pathway, link worker at spn
  zzc0001    Brook Good Neighbours (directory): runs `lunch` (Lunch club: lunch club,
             befriending) and `friends` (Friendship circle: befriending)
  zzc0002    Mill Lane Walkers (directory): runs `walk` (Walking group: physical activity)
  vic.vol    Vic Volunteer, volunteer at Brook Good Neighbours
  ana.analyst  Ana Analyst, analyst at the network (service reports)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, time

import pytest

from careweave.access.accounts import add_user
from careweave.coordination.record import new_submission_token, today
from careweave.social_prescribing.directory import (
    CommunityService,
    Cost,
    DirectoryOrganisation,
    OpeningTime,
    Venue,
)
from careweave.social_prescribing.directory_records import save_entries
from careweave.social_prescribing.postcodes import Position
from careweave.social_prescribing.referral_in import PathwaySettings, ReferralMade, refer
from careweave.store.repository import FhirStore
from tests.coordination.place import Place, build_place

SERVICE_ORG = "spn"
LINK_WORKER = "pat.lw"
VOLUNTEER = "vic.vol"
ANALYST = "ana.analyst"
SELF_REFERRALS = PathwaySettings(self_referral=True)

ORGANISATIONS = (
    DirectoryOrganisation("zzc0001", "Brook Good Neighbours", "ZZC0001", "hello@brook.example"),
    DirectoryOrganisation("zzc0002", "Mill Lane Walkers", "ZZC0002"),
)
HALL, PARK = Position(52.51, -1.7), Position(52.53, -1.7)
VENUES = (
    Venue("hall", "Brook Centre", "1 Brook Street", "Ashby", "QX1 2AB", HALL, "zzc0001"),
    Venue("park", "Mill Lane Park", "Mill Lane", "Ashby", "QX1 3AB", PARK, "zzc0002"),
)
SERVICES = (
    CommunityService(
        "lunch",
        "Lunch club",
        "zzc0001",
        needs=("lunch-club", "befriending"),
        venue_ids=("hall",),
        cost=Cost("charge", None, "£4.50 for lunch"),
        opening_times=(OpeningTime(("tue",), time(11, 30), time(14, 0)),),
        referral_methods=("phone", "link-worker"),
        last_checked=date(2026, 1, 5),
    ),
    CommunityService(
        "friends",
        "Friendship circle",
        "zzc0001",
        needs=("befriending",),
        venue_ids=("hall",),
        referral_methods=("link-worker",),
        last_checked=date(2026, 1, 5),
    ),
    CommunityService(
        "walk",
        "Walking group",
        "zzc0002",
        needs=("physical-activity",),
        venue_ids=("park",),
        cost=Cost("free"),
        referral_methods=("link-worker",),
        last_checked=date(2026, 1, 5),
    ),
)


def _staff(
    store: FhirStore, username: str, display: str, role: str, organisation: str, suffix: str
) -> None:
    given, _, family = display.partition(" ")
    store.update(
        "Practitioner",
        f"pr-{suffix}",
        {
            "resourceType": "Practitioner",
            "id": f"pr-{suffix}",
            "name": [{"given": [given], "family": family}],
        },
    )
    store.update(
        "PractitionerRole",
        f"prr-{suffix}",
        {
            "resourceType": "PractitionerRole",
            "id": f"prr-{suffix}",
            "active": True,
            "practitioner": {"reference": f"Practitioner/pr-{suffix}"},
            "organization": {"reference": f"Organization/{organisation}"},
            "code": [{"text": role}],
        },
    )
    add_user(
        store.database,
        username,
        display,
        role,
        organisation_id=organisation,
        practitioner_id=f"pr-{suffix}",
        practitioner_role_id=f"prr-{suffix}",
    )


def add_social_prescribing(place: Place) -> Place:
    store = place.store
    store.update(
        "Organization",
        SERVICE_ORG,
        {
            "resourceType": "Organization",
            "id": SERVICE_ORG,
            "active": True,
            "name": "Northshire Social Prescribing Network",
        },
    )
    with store.transaction() as tx:
        save_entries(tx, ORGANISATIONS, VENUES, SERVICES)
    _staff(store, LINK_WORKER, "Pat Pathway", "link-worker", SERVICE_ORG, "pat")
    _staff(store, VOLUNTEER, "Vic Volunteer", "volunteer", "zzc0001", "vic")
    add_user(store.database, ANALYST, "Ana Analyst", "analyst", organisation_id=SERVICE_ORG)
    return place


@pytest.fixture
def sp_place(store: FhirStore, database_url: str) -> Iterator[Place]:
    with ExitStack() as stack:
        yield add_social_prescribing(build_place(store, database_url, stack))


def refer_mary(
    place: Place,
    *,
    username: str = "ann.gp",
    reasons: tuple[str, ...] = ("loneliness",),
    patient: str = "mary",
    details: str = "Lives alone since her husband died; says the days are long.",
    token: str | None = None,
    self_referral: bool = False,
    settings: PathwaySettings | None = None,
) -> ReferralMade:
    return refer(
        place.access(username),
        patient,
        service_organisation_id=SERVICE_ORG,
        reasons=reasons,
        details=details,
        priority="routine",
        respond_by=today(),
        token=token or new_submission_token(),
        self_referral=self_referral,
        settings=settings,
    )
