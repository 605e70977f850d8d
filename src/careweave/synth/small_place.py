"""A small place made by hand, to build older people's records without the place builder.

The record of a person aged 65+ (`careweave.synth.older_person`) needs a place to refer to: a
practice and its staff, care homes, a council, an acute trust, home care providers. This one is
written out in full, so what is measured or tested on it is the record alone, whatever the place
builder (`careweave.synth.place`) does: the record's tests use it, and
`bench.older_people_statistics` measures the record's statistics on it. One practice serves ten
neighbourhoods, one in each IMD decile, so a person's deprivation is set by which of them they
live in.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from careweave.synth.model import (
    CareHome,
    Neighbourhood,
    Organisation,
    Person,
    Place,
    Practice,
    Sex,
    StaffMember,
)

__all__ = ["SMALL_PLACE_AS_OF", "resident", "small_place"]

SMALL_PLACE_AS_OF: Final = date(2025, 3, 31)
"""The day the small place's records are as of."""


def _organisation(number: int, name: str) -> Organisation:
    return Organisation(id=f"org{number}", ods_code=f"ZZ{number:03d}", name=name)


def _neighbourhoods() -> tuple[Neighbourhood, ...]:
    return tuple(
        Neighbourhood(
            code=f"Z0100{decile:04d}",
            name=f"Millbrook 00{decile}A",
            town="Millbrook",
            imd_decile=decile,
            outward_code="QX4",
            latitude=52.0,
            longitude=-1.0,
        )
        for decile in range(1, 11)
    )


def small_place(as_of: date = SMALL_PLACE_AS_OF) -> Place:
    """Wyvern Vale: one surgery (two GPs, a practice nurse), its network, three care homes (one
    nursing), a council with a social worker, two home care providers and the NHS trusts."""
    hoods = _neighbourhoods()
    surgery = _organisation(1, "Millbrook Surgery")
    staff = (
        StaffMember("role-gp1", "prac-gp1", "Dr Priya Shah", "gp", surgery),
        StaffMember("role-gp2", "prac-gp2", "Dr Tom Hale", "gp", surgery),
        StaffMember("role-pn1", "prac-pn1", "Ann Lee", "practice-nurse", surgery),
    )
    practice = Practice(
        surgery, _organisation(2, "Millbrook PCN"), "loc-surgery", 9000, hoods, staff
    )
    council = _organisation(3, "Wyvern Council")
    homes = tuple(
        CareHome(
            _organisation(10 + n, f"Care home {n}"),
            f"loc-home{n}",
            nursing,
            40,
            {"use": "home", "line": [f"{n} Care Road"], "city": "Millbrook"},
            hoods[n],
            (),
        )
        for n, nursing in enumerate((False, True, False))
    )
    return Place(
        seed=7,
        name="Wyvern Vale",
        as_of=as_of,
        icb=_organisation(4, "Wyvern ICB"),
        practices=(practice,),
        neighbourhoods=hoods,
        council=council,
        community_trust=_organisation(5, "Wyvern Community Trust"),
        acute_trust=_organisation(6, "Wyvern Hospitals"),
        acute_hospital_location_id="loc-acute",
        discharge_team=_organisation(7, "Discharge team"),
        hospice=_organisation(8, "Hospice"),
        care_homes=homes,
        voluntary_organisations=(),
        home_care_providers=(
            _organisation(20, "Care at Home Ltd"),
            _organisation(21, "Helping Hands"),
        ),
        staff=(StaffMember("role-sw1", "prac-sw1", "Sam Okafor", "social-worker", council),),
    )


def resident(place: Place, index: int, age: int, sex: Sex, birth_date: date) -> Person:
    """Person number `index` of the small place, registered at its practice and living in
    neighbourhood `index % 10` (so deciles are equally common): only age, sex and birth date
    differ between people, as only they (and the decile) shape an older person's record."""
    practice = place.practices[0]
    return Person(
        index=index,
        patient_id=f"p{index}",
        nhs_number="9990000018",
        sex=sex,
        birth_date=birth_date,
        age=age,
        ethnic_category="A",
        given="Ada",
        family="Lovelace",
        practice=practice,
        neighbourhood=practice.neighbourhoods[index % len(practice.neighbourhoods)],
        address={"use": "home", "line": ["1 High Street"], "city": "Millbrook"},
    )
