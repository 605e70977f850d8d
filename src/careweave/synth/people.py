"""The registered population: one `Person` per index, and their Patient resource.

`Register` is built once per process from the `PlaceDirectory` and then turns any person index
into that person, drawing only from the person's own stream (`stream(seed, "person", index)`),
so a worker can start at any index and a person's facts never depend on who came before.

NHS numbers come from the reserved test range 999 000 0000 - 999 999 9999, which holds exactly
909,091 numbers with a valid modulus 11 check digit (`NHS_NUMBER_CAPACITY`). Person `index`
gets the number of rank `shuffle(index)`, where `shuffle` is a seeded permutation of
0..909,090 (a four-round Feistel network on 20 bits with cycle walking), so numbers are unique
within a place, look random, differ between seeds, and are computed per person in constant
time with no table of numbers already used.

A place larger than that (only the population benchmark asks for one, to measure 1,000,000
people) is made with `untraced_past_capacity`: people from index 909,091 on get no NHS number,
as a record does until a trace finds the person's number, and everything else as usual. No
number outside the test range is ever made up.
"""

from __future__ import annotations

import bisect
import functools
from datetime import date, timedelta
from typing import Any

from careweave.synth import demography
from careweave.synth.draws import stream
from careweave.synth.model import (
    ETHNIC_CATEGORY_EXTENSION,
    ETHNIC_CATEGORY_SYSTEM,
    MARITAL_STATUS_SYSTEM,
    NHS_NUMBER,
    NHS_NUMBER_VERIFICATION_EXTENSION,
    NHS_NUMBER_VERIFICATION_SYSTEM,
    UK_CORE_PROFILE,
    Person,
    RecordOutcome,
    StaffMember,
)
from careweave.synth.place import PlaceDirectory, neighbourhood_extensions

# --- NHS numbers --------------------------------------------------------------------------------

NHS_NUMBER_CAPACITY = 909_091
"""Valid NHS numbers in 999 000 0000 - 999 999 9999: 900,000 stems in blocks of ten with one
impossible check digit each, plus 9,091 blocks where every last stem digit works."""

_PARTIAL_RANKS = 900_000
_FEISTEL_HALF_BITS = 10
_FEISTEL_MASK = (1 << _FEISTEL_HALF_BITS) - 1
_FEISTEL_ROUNDS = 4

# Weighted digit sums of the 5 stem digits after "999" (weights 7, 6, 5, 4, 3), in two tables.
_HIGH_SUMS = tuple(243 + 7 * (n // 100) + 6 * (n // 10 % 10) + 5 * (n % 10) for n in range(1000))
_LOW_SUMS = tuple(4 * (n // 10) + 3 * (n % 10) for n in range(100))
# For a block whose digit sum leaves remainder r (mod 11): the last stem digit (weight 2) that
# would need a check digit of 10, or 10 when every last digit works.
_IMPOSSIBLE_LAST = tuple(
    next((last for last in range(10) if (r + 2 * last) % 11 == 1), 10) for r in range(11)
)


def _block_sum(block: int) -> int:
    return _HIGH_SUMS[block // 100] + _LOW_SUMS[block % 100]


@functools.cache
def _complete_blocks() -> tuple[int, ...]:
    """Blocks (stem digits 4-8) in which all ten last digits make a valid number."""
    return tuple(b for b in range(100_000) if _IMPOSSIBLE_LAST[_block_sum(b) % 11] == 10)


def nhs_number_of_rank(rank: int) -> str:
    """The `rank`-th valid test-range NHS number, 0 <= rank < NHS_NUMBER_CAPACITY.

    Ranks below 900,000 take the nine workable last digits of block `rank // 9`; the rest take
    last digit 9 of the blocks where all ten work. A bijection, though not in numeric order.
    """
    if rank < _PARTIAL_RANKS:
        block, position = divmod(rank, 9)
        total = _block_sum(block)
        impossible = _IMPOSSIBLE_LAST[total % 11]
        last = position if position < impossible else position + 1
    elif rank < NHS_NUMBER_CAPACITY:
        block = _complete_blocks()[rank - _PARTIAL_RANKS]
        total = _block_sum(block)
        last = 9
    else:
        raise ValueError(f"there are only {NHS_NUMBER_CAPACITY:,} test-range NHS numbers")
    check = (11 - (total + 2 * last) % 11) % 11
    return f"999{block:05d}{last}{check}"


class NhsNumbers:
    """A seeded one-to-one assignment of person indexes to test-range NHS numbers."""

    def __init__(self, seed: int) -> None:
        rng = stream(seed, "nhs-numbers")
        self._rounds = tuple(
            tuple(rng.getrandbits(_FEISTEL_HALF_BITS) for _ in range(1 << _FEISTEL_HALF_BITS))
            for _ in range(_FEISTEL_ROUNDS)
        )

    def _shuffle(self, value: int) -> int:
        while True:  # cycle walking: about 1.15 passes on average (2**20 / 909,091)
            left, right = value >> _FEISTEL_HALF_BITS, value & _FEISTEL_MASK
            for table in self._rounds:
                left, right = right, left ^ table[right]
            value = (left << _FEISTEL_HALF_BITS) | right
            if value < NHS_NUMBER_CAPACITY:
                return value

    def number(self, index: int) -> str:
        if not 0 <= index < NHS_NUMBER_CAPACITY:
            raise ValueError(
                f"person {index} has no NHS number: the test range holds "
                f"{NHS_NUMBER_CAPACITY:,} valid numbers"
            )
        return nhs_number_of_rank(self._shuffle(index))


def check_capacity(people: int, *, untraced_past_capacity: bool = False) -> None:
    """Refuse a place with more people than test-range NHS numbers, unless the caller has asked
    for the rest to go without one."""
    if people > NHS_NUMBER_CAPACITY and not untraced_past_capacity:
        raise ValueError(
            f"a place can hold at most {NHS_NUMBER_CAPACITY:,} people: that is how many valid "
            "NHS numbers the test range 999 000 0000 - 999 999 9999 holds (a benchmark may ask "
            "for more with untraced_past_capacity, and the rest get no NHS number)"
        )


# --- People -------------------------------------------------------------------------------------


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on `day` (a 29 February birthday counts from 1 March in other years)."""
    had_birthday = (day.month, day.day) >= (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (0 if had_birthday else 1)


class Register:
    """Every registered person of a place, made on demand from their index."""

    def __init__(self, directory: PlaceDirectory, *, untraced_past_capacity: bool = False) -> None:
        place = directory.place
        self.directory = directory
        self.place = place
        self.people = directory.people
        check_capacity(self.people, untraced_past_capacity=untraced_past_capacity)
        self._seed = place.seed
        self._ends = directory.practice_ends
        self._practices = place.practices
        self._gps: tuple[tuple[StaffMember, ...], ...] = tuple(
            practice.staff_in("gp") for practice in place.practices
        )
        self._neighbourhoods = place.neighbourhoods
        self._streets = tuple(directory.streets[n.code] for n in place.neighbourhoods)
        self._extensions = tuple(neighbourhood_extensions(n) for n in place.neighbourhoods)
        self._district = place.name
        # Birth dates by age: the first possible day and how many days are possible.
        births = []
        for age in range(demography.OLDEST_AGE + 1):
            latest = years_before(place.as_of, age)
            earliest = years_before(place.as_of, age + 1) + timedelta(days=1)
            births.append((earliest.toordinal(), latest.toordinal() - earliest.toordinal() + 1))
        self._births = tuple(births)
        self._eras = {
            year: demography.era_index(year)
            for year in range(place.as_of.year - demography.OLDEST_AGE - 1, place.as_of.year + 1)
        }
        self._nhs_numbers = NhsNumbers(self._seed)

    def person(self, index: int) -> Person:
        """Person `index` (0-based) of the place."""
        if not 0 <= index < self.people:
            raise IndexError(f"the place has {self.people} people; there is no person {index}")
        rng = stream(self._seed, "person", index)
        sex, age = demography.AGE_AND_SEX.draw(rng)
        earliest, days = self._births[age]
        birth_date = date.fromordinal(earliest + rng.randrange(days))
        category = demography.ethnicity_for_age(age).draw(rng)
        names = demography.NAME_CHOICES[(category, sex, self._eras[birth_date.year])]
        given = names.given.draw(rng)
        family = names.family.draw(rng)
        where = index * len(self._neighbourhoods) // self.people
        neighbourhood = self._neighbourhoods[where]
        street = rng.choice(self._streets[where])
        k = bisect.bisect_right(self._ends, index)
        usual_gp = rng.choice(self._gps[k])
        home = {
            "extension": self._extensions[where],
            "use": "home",
            "type": "physical",
            "line": [f"{rng.randint(1, street.houses)} {street.name}"],
            "city": neighbourhood.town,
            "district": self._district,
            "postalCode": street.postcode,
            "country": "GB",
        }
        return Person(
            index=index,
            patient_id=f"p{index}",
            nhs_number=self._nhs_numbers.number(index) if index < NHS_NUMBER_CAPACITY else None,
            sex=sex,
            birth_date=birth_date,
            age=age,
            ethnic_category=category,
            given=given,
            family=family,
            practice=self._practices[k],
            neighbourhood=neighbourhood,
            address=home,
            usual_gp=usual_gp,
        )


# --- The Patient resource -----------------------------------------------------------------------

_PATIENT_META = {"profile": [UK_CORE_PROFILE + "Patient"]}
_VERIFIED = [
    {
        "url": NHS_NUMBER_VERIFICATION_EXTENSION,
        "valueCodeableConcept": {
            "coding": [
                {
                    "system": NHS_NUMBER_VERIFICATION_SYSTEM,
                    "code": "01",
                    "display": "Number present and verified",
                }
            ]
        },
    }
]
_ETHNICITY_EXTENSIONS = {
    code: [
        {
            "url": ETHNIC_CATEGORY_EXTENSION,
            "valueCodeableConcept": {
                "coding": [{"system": ETHNIC_CATEGORY_SYSTEM, "code": code, "display": display}]
            },
        }
    ]
    for code, display in demography.ETHNIC_CATEGORIES.items()
}
MARITAL_STATUS_DISPLAY = {
    "A": "Annulled",
    "D": "Divorced",
    "I": "Interlocutory",
    "L": "Legally Separated",
    "M": "Married",
    "P": "Polygamous",
    "S": "Never Married",
    "T": "Domestic partner",
    "U": "unmarried",
    "W": "Widowed",
}
"""HL7 v3 MaritalStatus codes (FHIR R4 marital-status value set); "UNK" is v3 NullFlavor."""
_NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"


def marital_status(code: str) -> dict[str, Any]:
    if code == "UNK":
        coding = {"system": _NULL_FLAVOR, "code": "UNK", "display": "unknown"}
    else:
        coding = {
            "system": MARITAL_STATUS_SYSTEM,
            "code": code,
            "display": MARITAL_STATUS_DISPLAY[code],
        }
    return {"coding": [coding]}


def patient_resource(person: Person, outcome: RecordOutcome | None = None) -> dict[str, Any]:
    """The UK Core Patient for `person`; `outcome` (people 65+) adds death, marital status and a
    care home address."""
    practice = person.practice.organisation.reference
    general_practitioner = [practice]
    if person.usual_gp is not None:
        general_practitioner.append(person.usual_gp.role_reference)
    deceased = outcome.deceased if outcome is not None else None
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": person.patient_id,
        "meta": _PATIENT_META,
        "extension": _ETHNICITY_EXTENSIONS[person.ethnic_category],
    }
    if person.nhs_number is not None:
        resource["identifier"] = [
            {"extension": _VERIFIED, "system": NHS_NUMBER, "value": person.nhs_number}
        ]
    resource |= {
        "active": deceased is None,
        "name": [{"use": "official", "family": person.family, "given": [person.given]}],
        "gender": person.sex,
        "birthDate": person.birth_date.isoformat(),
    }
    if deceased is not None:
        resource["deceasedDateTime"] = deceased.isoformat()
    care_home = outcome.care_home if outcome is not None else None
    resource["address"] = [care_home.address if care_home is not None else person.address]
    if outcome is not None and outcome.marital_status is not None:
        resource["maritalStatus"] = marital_status(outcome.marital_status)
    resource["generalPractitioner"] = general_practitioner
    resource["managingOrganization"] = practice
    return resource
