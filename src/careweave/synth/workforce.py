"""The people who work in the place: roles, how many of each, and their Practitioner resources.

Every member of staff is a Practitioner (the person) and a PractitionerRole (the post: which
organisation, where, doing what). Records name the PractitionerRole as author or performer, so a
referral from a link worker shows both who they are and whom they work for.

Role keys (`StaffMember.role`) are the words care teams use; `ROLES` lists them with the SNOMED
CT occupation code where there is one we could check (UK edition occupations hierarchy), and a
text-only CodeableConcept where there is none (care navigator, care coordinator, link worker,
discharge coordinator, care-home manager, voluntary-sector worker, home-care manager).

How many of each: `STAFFING` gives a rate per 10,000 people of the population the employer
serves, with a minimum, so a small place still has one of everyone a record may need. The rates
are rounded from published workforce statistics (sources in docs/synthetic-data.md, approximate).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from careweave.synth import demography
from careweave.synth.draws import Weighted, stream
from careweave.synth.model import (
    SNOMED,
    SYNTHETIC_ID_SYSTEM,
    UK_CORE_PROFILE,
    Organisation,
    Sex,
    StaffMember,
)


@dataclass(frozen=True)
class Role:
    """What a role key means: its title, SNOMED CT occupation (if any) and who tends to hold it."""

    key: str
    title: str
    snomed: str | None  # SNOMED CT occupation concept id, None where we know of no fitting one
    female_share: float  # approximate share of women in the role (NHS/Skills for Care figures)
    doctor: bool = False  # named "Dr ..." and given the prefix in Practitioner.name


ROLES: Mapping[str, Role] = MappingProxyType(
    {
        role.key: role
        for role in (
            Role("gp", "General practitioner", "62247001", 0.56, doctor=True),
            Role("practice-nurse", "Practice nurse", "159002008", 0.95),
            Role("pharmacist", "Clinical pharmacist", "46255001", 0.62),
            Role("care-navigator", "Care navigator", None, 0.90),
            Role("care-coordinator", "Care coordinator", None, 0.85),
            Role("link-worker", "Social prescribing link worker", None, 0.80),
            Role("social-worker", "Social worker", "106328005", 0.82),
            Role("occupational-therapist", "Occupational therapist", "80546007", 0.88),
            Role("district-nurse", "District nurse", "158997000", 0.90),
            Role("community-nurse", "Community nurse", "224540001", 0.90),
            Role("discharge-coordinator", "Discharge coordinator", None, 0.85),
            Role("geriatrician", "Care of the elderly physician", "90655003", 0.50, doctor=True),
            Role("care-home-manager", "Care home manager", None, 0.80),
            Role("care-home-nurse", "Registered nurse (care home)", "224535009", 0.85),
            Role("hospice-nurse", "Palliative care nurse", "224556006", 0.90),
            Role(
                "palliative-care-doctor",
                "Palliative care physician",
                "309359006",
                0.60,
                doctor=True,
            ),
            Role("voluntary-sector-worker", "Voluntary sector worker", None, 0.72),
            Role("home-care-manager", "Home care manager", None, 0.80),
        )
    }
)
"""Every role key the generator uses, in the order docs/synthetic-data.md lists them."""


@dataclass(frozen=True)
class Staffing:
    """How many people hold a role: `per_10000` of the population served, at least `minimum`."""

    per_10000: float
    minimum: int
    served: str  # whose numbers the rate is per: "practice list", "PCN list", "place", ...


STAFFING: Mapping[str, Staffing] = MappingProxyType(
    {
        "gp": Staffing(6.0, 1, "practice list"),
        "practice-nurse": Staffing(3.0, 1, "practice list"),
        "care-navigator": Staffing(2.0, 1, "practice list"),
        "pharmacist": Staffing(1.0, 1, "PCN list"),
        "care-coordinator": Staffing(0.4, 1, "PCN list"),
        "link-worker": Staffing(0.5, 1, "PCN list"),
        "social-worker": Staffing(3.0, 1, "place"),
        "occupational-therapist": Staffing(0.7, 1, "place"),
        "district-nurse": Staffing(1.0, 1, "place"),
        "community-nurse": Staffing(3.0, 1, "place"),
        "discharge-coordinator": Staffing(0.4, 1, "place"),
        "geriatrician": Staffing(0.33, 1, "place"),
        "hospice-nurse": Staffing(0.4, 1, "place"),
        "palliative-care-doctor": Staffing(0.1, 1, "place"),
    }
)
"""Rates per 10,000 (approximate; see docs/synthetic-data.md). Care homes, voluntary
organisations and home-care providers are staffed per organisation instead (`PER_ORGANISATION`)."""

PER_ORGANISATION: Mapping[str, int] = MappingProxyType(
    {
        "care-home-manager": 1,  # every CQC-registered home has one registered manager
        "care-home-nurse": 2,  # nursing homes only: the nurses records name (not the whole rota)
        "voluntary-sector-worker": 2,
        "home-care-manager": 1,
    }
)

STAFF_AGES = (25, 64)
"""Staff are of working age, every year equally likely (a simplification)."""

PHONE_RANGES: tuple[tuple[str, int], ...] = (
    ("01632 960", 1000),
    ("0113 496 0", 1000),
    ("020 7946 0", 1000),
)
"""Ofcom's numbers reserved for drama (01632 960000-960999, 0113 496 0000-0999,
020 7946 0000-0999): they ring nobody. Organisations take them in turn."""

EMAIL_DOMAIN = "careweave.example"
"""RFC 2606 reserves .example: no mail to these addresses can reach anyone."""

_STAFF_ETHNICITY: Weighted[str] = demography.ethnicity_for_age(40)
"""Staff ethnicity: the working-age (40-64) mix; the NHS workforce is more diverse than this."""


def phone_number(index: int) -> str:
    """The `index`-th drama number (0-based): unique for the first 3,000 organisations."""
    index %= sum(size for _, size in PHONE_RANGES)
    for prefix, size in PHONE_RANGES:
        if index < size:
            return f"{prefix}{index:03d}"
        index -= size
    raise AssertionError("unreachable")  # pragma: no cover


def headcount(role: str, served: int) -> int:
    """How many hold `role` in an organisation serving `served` people."""
    staffing = STAFFING[role]
    return max(staffing.minimum, round(served * staffing.per_10000 / 10_000))


@dataclass(frozen=True)
class Post:
    """One member of staff with everything their Practitioner and PractitionerRole show."""

    member: StaffMember
    given: str
    family: str
    gender: Sex
    location_id: str | None
    phone: str
    email: str


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def hire(
    *,
    seed: int,
    as_of: date,
    organisation: Organisation,
    role: str,
    count: int,
    location_id: str | None,
    phone: str,
) -> tuple[Post, ...]:
    """`count` people in `role` at `organisation`, each drawn from their own stream.

    Ids are `<organisation id>-<role>-<n>` (Practitioner) and the same with `-role` appended
    (PractitionerRole), so they are stable whatever else the place holds.
    """
    details = ROLES[role]
    posts = []
    for number in range(1, count + 1):
        rng = stream(seed, "staff", organisation.id, role, number)
        sex: Sex = "female" if rng.random() < details.female_share else "male"
        age = rng.randint(*STAFF_AGES)
        category = _STAFF_ETHNICITY.draw(rng)
        era = demography.era_index(as_of.year - age)
        names = demography.NAME_CHOICES[(category, sex, era)]
        given = names.given.draw(rng)
        family = names.family.draw(rng)
        practitioner_id = f"{organisation.id}-{role}-{number}"
        shown = f"Dr {given} {family}" if details.doctor else f"{given} {family}"
        member = StaffMember(
            role_id=f"{practitioner_id}-role",
            practitioner_id=practitioner_id,
            name=shown,
            role=role,
            organisation=organisation,
        )
        email = (
            f"{_ascii_word(given)}.{_ascii_word(family)}.{number}@{organisation.id}.{EMAIL_DOMAIN}"
        )
        posts.append(Post(member, given, family, sex, location_id, phone, email))
    return tuple(posts)


def role_code(role: str) -> dict[str, Any]:
    """PractitionerRole.code for a role key: SNOMED CT where we have it, else text only."""
    details = ROLES[role]
    if details.snomed is None:
        return {"text": details.title}
    return {
        "coding": [{"system": SNOMED, "code": details.snomed, "display": details.title}],
        "text": details.title,
    }


def practitioner_resource(post: Post) -> dict[str, Any]:
    member = post.member
    name: dict[str, Any] = {"use": "official", "family": post.family, "given": [post.given]}
    if ROLES[member.role].doctor:
        name["prefix"] = ["Dr"]
    return {
        "resourceType": "Practitioner",
        "id": member.practitioner_id,
        "meta": {"profile": [UK_CORE_PROFILE + "Practitioner"]},
        "identifier": [{"system": SYNTHETIC_ID_SYSTEM, "value": member.practitioner_id}],
        "active": True,
        "name": [name],
        "gender": post.gender,
    }


def practitioner_role_resource(post: Post) -> dict[str, Any]:
    member = post.member
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": member.role_id,
        "meta": {"profile": [UK_CORE_PROFILE + "PractitionerRole"]},
        "identifier": [{"system": SYNTHETIC_ID_SYSTEM, "value": member.role_id}],
        "active": True,
        "practitioner": member.practitioner_reference,
        "organization": member.organisation.reference,
        "code": [role_code(member.role)],
    }
    if post.location_id is not None:
        resource["location"] = [{"reference": f"Location/{post.location_id}"}]
    resource["telecom"] = [
        {"system": "phone", "value": post.phone, "use": "work"},
        {"system": "email", "value": post.email, "use": "work"},
    ]
    return resource
