"""A synthetic population, generated at run time from a seed, as FHIR transaction Bundles.

The same `resources` and `seed` always give byte-for-byte the same Bundles, so two runs import
the same population. What the server assigns (ids, `meta`) differs from run to run, which is why
the load generator samples its ids from the import responses rather than from this module.

Composition, for N resources: N/5000 Organizations (GP practices with ODS-style codes) and
N/250 Practitioners, loaded first with client-chosen ids (`PUT`); then Patients, each with a
synthetic NHS number and 3-7 visits between 2019 and 2025 at which 4-6 Observations (LOINC
codes, UCUM quantities) were recorded. A patient and their Observations travel in the same
Bundle (`POST` with `urn:uuid:` fullUrls, as exported records usually arrive), and the last
patient's Observations are cut so that the total is exactly N.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
GMC_SYSTEM = "https://fhir.hl7.org.uk/Id/gmc-number"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

FIRST_YEAR = 2019
LAST_YEAR = 2025
_START = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
_SPAN_MINUTES = int((datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC) - _START).total_seconds() // 60)

SYNTHETIC_NHS_STEMS = range(999_000_000, 1_000_000_000)
"""The first nine digits of the synthetic NHS numbers 999 000 0000 - 999 999 9999."""


@dataclass(frozen=True)
class Loinc:
    """A LOINC-coded quantity with a plausible range for older adults."""

    code: str
    display: str
    category: str
    unit: str
    ucum: str
    mean: float
    spread: float
    low: float
    high: float
    decimals: int


SYSTOLIC = Loinc(
    "8480-6", "Systolic blood pressure", "vital-signs", "mmHg", "mm[Hg]", 138, 18, 85, 220, 0
)
DIASTOLIC = Loinc(
    "8462-4", "Diastolic blood pressure", "vital-signs", "mmHg", "mm[Hg]", 80, 10, 45, 120, 0
)
HEART_RATE = Loinc(
    "8867-4", "Heart rate", "vital-signs", "beats/minute", "/min", 74, 12, 40, 140, 0
)
OCCASIONAL: tuple[Loinc, ...] = (
    Loinc("29463-7", "Body weight", "vital-signs", "kg", "kg", 76, 15, 38, 160, 1),
    Loinc("39156-5", "Body mass index", "vital-signs", "kg/m2", "kg/m2", 27, 5, 15, 50, 1),
    Loinc("8310-5", "Body temperature", "vital-signs", "Cel", "Cel", 36.8, 0.4, 35, 40, 1),
    Loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "laboratory", "%", "%",
                6.4, 1.0, 4.0, 14.0, 1),
    Loinc("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma", "laboratory",
                "mmol/L", "mmol/L", 5.0, 1.0, 2.0, 10.0, 1),
    Loinc("33914-3", "Glomerular filtration rate/1.73 sq M.predicted", "laboratory",
                "mL/min/1.73m2", "mL/min/{1.73_m2}", 62, 18, 5, 120, 0),
)  # fmt: skip
CODES: tuple[Loinc, ...] = (SYSTOLIC, DIASTOLIC, HEART_RATE, *OCCASIONAL)

_FAMILY = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Khan", "Begum", "Ali",
    "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore",
)  # fmt: skip
_GIVEN = {
    "female": ("Margaret", "Patricia", "Susan", "Jean", "Mary", "Elizabeth", "Joan", "Ann",
               "Barbara", "Dorothy", "Shirley", "Irene", "Nasreen", "Gurpreet", "Maureen"),
    "male": ("John", "David", "Michael", "Peter", "Robert", "William", "James", "Brian",
             "Alan", "Kenneth", "George", "Mohammed", "Anil", "Derek", "Colin"),
}  # fmt: skip
_TOWNS = ("Leeds", "Bradford", "Wakefield", "Harrogate", "Halifax", "Huddersfield", "York")


def nhs_check_digit(stem: int) -> int | None:
    """The modulus 11 check digit for a nine-digit stem, or None when the stem cannot be used.

    Weights 10 down to 2 multiply the digits; the check digit is 11 minus the remainder mod 11,
    where 11 becomes 0 and 10 means no valid NHS number has this stem.
    """
    digits = f"{stem:09d}"
    if len(digits) != 9:
        raise ValueError(f"an NHS number stem has nine digits, not {digits!r}")
    total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def synthetic_nhs_numbers(rng: random.Random, count: int) -> list[str]:
    """`count` distinct valid NHS numbers from the synthetic range, in random order."""
    usable = len(SYNTHETIC_NHS_STEMS) * 10 // 11  # one stem in eleven has check digit 10
    if count > usable:
        raise ValueError(f"the synthetic range holds about {usable} NHS numbers, not {count}")
    numbers: list[str] = []
    want = count + count // 8 + 16
    while len(numbers) < count:
        numbers.clear()
        for stem in rng.sample(SYNTHETIC_NHS_STEMS, min(want, len(SYNTHETIC_NHS_STEMS))):
            check = nhs_check_digit(stem)
            if check is not None:
                numbers.append(f"{stem}{check}")
                if len(numbers) == count:
                    break
        want *= 2
    return numbers


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _instant(rng: random.Random) -> datetime:
    return _START + timedelta(minutes=rng.randrange(_SPAN_MINUTES))


def organization_id(index: int) -> str:
    return f"bench-org-{index:05d}"


def practitioner_id(index: int) -> str:
    return f"bench-prac-{index:05d}"


def organization(index: int, rng: random.Random) -> dict[str, Any]:
    town = rng.choice(_TOWNS)
    return {
        "resourceType": "Organization",
        "id": organization_id(index),
        "identifier": [{"system": ODS_SYSTEM, "value": f"B{index:05d}"}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": f"{rng.choice(_FAMILY)} Medical Practice, {town}",
        "address": [{"use": "work", "line": [f"{index + 1} High Street"], "city": town}],
    }


def practitioner(index: int, rng: random.Random) -> dict[str, Any]:
    gender = rng.choice(("female", "male"))
    return {
        "resourceType": "Practitioner",
        "id": practitioner_id(index),
        "identifier": [{"system": GMC_SYSTEM, "value": f"{7_000_000 + index}"}],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": rng.choice(_FAMILY),
                "given": [rng.choice(_GIVEN[gender])],
                "prefix": ["Dr"],
            }
        ],
        "gender": gender,
    }


def patient(nhs_number: str, rng: random.Random, organization_ref: str) -> dict[str, Any]:
    gender = rng.choice(("female", "male"))
    born = datetime(1925, 1, 1) + timedelta(days=rng.randrange(40 * 365))
    town = rng.choice(_TOWNS)
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": rng.choice(_FAMILY),
                "given": [rng.choice(_GIVEN[gender])],
            }
        ],
        "gender": gender,
        "birthDate": born.strftime("%Y-%m-%d"),
        "address": [
            {
                "use": "home",
                "line": [f"{rng.randint(1, 200)} {rng.choice(_FAMILY)} Road"],
                "city": town,
                "postalCode": f"LS{rng.randint(1, 29)} {rng.randint(1, 9)}"
                f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
                "country": "GB",
            }
        ],
        "generalPractitioner": [{"reference": organization_ref}],
        "managingOrganization": {"reference": organization_ref},
    }


def observation(
    kind: Loinc,
    when: datetime,
    rng: random.Random,
    subject_ref: str,
    performer_ref: str,
) -> dict[str, Any]:
    value = rng.gauss(kind.mean, kind.spread)
    value = round(min(max(value, kind.low), kind.high), kind.decimals)
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": kind.category,
                        "display": kind.category.replace("-", " ").title(),
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": LOINC, "code": kind.code, "display": kind.display}],
            "text": kind.display,
        },
        "subject": {"reference": subject_ref},
        "effectiveDateTime": when.strftime("%Y-%m-%dT%H:%M:00Z"),
        "performer": [{"reference": performer_ref}],
        "valueQuantity": {
            "value": int(value) if kind.decimals == 0 else value,
            "unit": kind.unit,
            "system": UCUM,
            "code": kind.ucum,
        },
    }


def random_observation(rng: random.Random, subject_ref: str, practitioners: int) -> dict[str, Any]:
    """One Observation for the create benchmark: any code, any time in the range."""
    return observation(
        rng.choice(CODES),
        _instant(rng),
        rng,
        subject_ref,
        f"Practitioner/{practitioner_id(rng.randrange(practitioners))}",
    )


@dataclass(frozen=True)
class PatientPlan:
    """Where one patient sits in its Bundle, so the import can learn the server's ids."""

    nhs_number: str
    entry: int
    observations: range
    recorded: tuple[tuple[str, int], ...]
    """(LOINC code, year) of each of the patient's Observations, to check search results."""


@dataclass(frozen=True)
class PlannedBundle:
    body: bytes
    entries: int
    patients: tuple[PatientPlan, ...] = ()


@dataclass(frozen=True)
class Composition:
    organizations: int
    practitioners: int
    patients: int
    observations: int

    @property
    def total(self) -> int:
        return self.organizations + self.practitioners + self.patients + self.observations


@dataclass
class Population:
    """The whole synthetic population as Bundles, in the order they must be imported."""

    composition: Composition
    reference_bundles: list[PlannedBundle] = field(default_factory=list)
    patient_bundles: list[PlannedBundle] = field(default_factory=list)

    def bundles(self) -> list[PlannedBundle]:
        return self.reference_bundles + self.patient_bundles


def _transaction(entries: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def generate(resources: int, seed: int, bundle_size: int = 500) -> Population:
    """The population of exactly `resources` resources; see the module docstring."""
    if resources < 10:
        raise ValueError("a population needs at least 10 resources")
    rng = random.Random(seed)
    organizations = max(1, resources // 5000)
    practitioners = max(1, resources // 250)
    budget = resources - organizations - practitioners
    reference = [organization(i, rng) for i in range(organizations)]
    reference += [practitioner(i, rng) for i in range(practitioners)]
    population = Population(Composition(organizations, practitioners, 0, 0))
    for chunk in _chunks(reference, bundle_size):
        puts = [
            {
                "fullUrl": f"{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in chunk
        ]
        population.reference_bundles.append(PlannedBundle(_transaction(puts), len(puts)))

    # Each patient takes at least 13 resources (or what is left), so budget/10 + 1 suffice.
    nhs_numbers = synthetic_nhs_numbers(rng, budget // 10 + 1)
    patients = observations = 0
    entries: list[dict[str, Any]] = []
    plans: list[PatientPlan] = []

    def flush() -> None:
        if entries:
            population.patient_bundles.append(
                PlannedBundle(_transaction(entries), len(entries), tuple(plans))
            )
            entries.clear()
            plans.clear()

    while budget > 0:
        if patients == len(nhs_numbers):
            raise RuntimeError("ran out of NHS numbers; this is a bug in the budget estimate")
        nhs_number = nhs_numbers[patients]
        patient_url = f"urn:uuid:{_uuid(rng)}"
        org_ref = f"Organization/{organization_id(rng.randrange(organizations))}"
        first = len(entries)
        entries.append(
            {
                "fullUrl": patient_url,
                "resource": patient(nhs_number, rng, org_ref),
                "request": {"method": "POST", "url": "Patient"},
            }
        )
        budget -= 1
        patients += 1
        gp_ref = f"Practitioner/{practitioner_id(rng.randrange(practitioners))}"
        visits = []
        for _ in range(rng.randint(3, 7)):
            when = _instant(rng)
            recorded = [SYSTOLIC, DIASTOLIC, HEART_RATE]
            recorded += rng.sample(OCCASIONAL, rng.randint(1, 3))
            visits += [(m, when) for m in recorded]
        visits = visits[:budget]
        for kind, when in visits:
            entries.append(
                {
                    "fullUrl": f"urn:uuid:{_uuid(rng)}",
                    "resource": observation(kind, when, rng, patient_url, gp_ref),
                    "request": {"method": "POST", "url": "Observation"},
                }
            )
        budget -= len(visits)
        observations += len(visits)
        plans.append(
            PatientPlan(
                nhs_number,
                first,
                range(first + 1, len(entries)),
                tuple((m.code, when.year) for m, when in visits),
            )
        )
        if len(entries) >= bundle_size:
            flush()
    flush()
    population.composition = Composition(organizations, practitioners, patients, observations)
    assert population.composition.total == resources
    return population
