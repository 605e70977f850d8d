"""The older person's record measured against its targets: the "Measured" column of the docs.

    python -m bench.older_people_statistics [--people 50000] [--seed 1]

docs/synthetic-data.md ("Targets for the statistical test") sets each target the generator aims
at beside what it gives: multimorbidity, eFI categories, polypharmacy, care, hospital use and
deaths. Those figures must come from a run anyone can repeat, so this is that run. It builds
`--people` people aged 65+ one at a time with `careweave.synth.older_person.build_older_person`,
on the small hand-made place of `careweave.synth.small_place`: the record alone, whatever the
place builder does, and in seconds where a place holding 50,000 people 65+ would take minutes
to generate and read back. Ages follow an English-like mix, 53% 65-74, 33% 75-84 and 14% 85+,
uniform within 65-74 and 75-84 and falling off exponentially above 85 (mean 4.5 years, at most
104); sex follows England's share of men at each age (ONS, `careweave.synth.demography`); the
ten IMD deciles are equally common.
Person i's age, sex and birthday come from the stream ("person", i) of `--seed`, and their
record from ("record", i), so a seed gives the same figures on any machine.

It prints every statistic of that table beside its target from
`careweave.synth.clinical_codes.TARGETS`: over all the people and, in brackets where the docs give
it, over the living (or, for home care, the packages still running), which is how the
statistical test (`careweave.synth.statistics`) counts eFI, polypharmacy and care homes. Then the
share of people on each medicine ("65+ on it" in the docs' medicines table) and polypharmacy by
age band. 50,000 people take about 10 seconds on one core.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from careweave.synth.clinical_codes import (
    AGE_BANDS,
    FRAILTY_CATEGORIES,
    MEDICINES,
    TARGETS,
    age_band,
)
from careweave.synth.demography import AGE_BANDS as ENGLAND_AGE_BANDS
from careweave.synth.demography import OLDEST_AGE
from careweave.synth.draws import stream
from careweave.synth.model import Person, Place, RecordOutcome, Sex
from careweave.synth.older_person import OlderPersonFacts, build_older_person
from careweave.synth.people import years_before
from careweave.synth.small_place import resident, small_place

AGE_MIX: Final = {"65-74": 53.0, "75-84": 33.0, "85+": 14.0}
"""Percent of people 65+ in each band: England's mix (ONS mid-year estimates, approx.)."""
OLDEST_MEAN_YEARS: Final = 4.5
"""Mean years above 85 of people 85+ (ages fall off exponentially)."""
HOUSEHOLD_COMPOSITION: Final = "224130005"
YEAR_DAYS: Final = 365
"""Days in a person-year, as the generator counts hospital use (`careweave.synth.hospital`)."""


@dataclass(frozen=True)
class PersonSummary:
    """What the statistics need of one person's record: kept instead of the record, so 50,000
    people fit in memory."""

    age: int
    imd_decile: int
    long_term_conditions: int
    efi_category: str
    medicines: tuple[str, ...]
    deceased: bool
    care_home: bool
    home_care: bool
    carer: bool
    lives_alone: bool
    household_recorded: bool
    admissions: int
    attendances: int
    exposure_days: int

    @property
    def band(self) -> str:
        return age_band(self.age)


@dataclass(frozen=True)
class Row:
    """One line of the docs' table: several figures (e.g. fit / mild / moderate / severe) with
    their targets, and the same over a subgroup (in brackets) where the docs give it."""

    statistic: str
    target: tuple[float, ...] | None
    measured: tuple[float, ...]
    decimals: int = 1
    percent: bool = True
    subgroup: str = ""  # "living" or "running", where the docs give a figure in brackets
    in_subgroup: tuple[float, ...] = ()

    def _figures(self, values: Sequence[float]) -> str:
        text = " / ".join(f"{value:.{self.decimals}f}" for value in values)
        return text + ("%" if self.percent else "")

    def cells(self) -> tuple[str, str, str]:
        """The statistic, its target and what was measured, as the docs' table writes them."""
        measured = self._figures(self.measured)
        if self.in_subgroup:
            measured += f" ({self.subgroup} {self._figures(self.in_subgroup)})"
        target = self._figures(self.target) if self.target is not None else "-"
        return self.statistic, target, measured


def print_table(heading: tuple[str, str, str], rows: Sequence[Row]) -> None:
    """Rows in aligned columns under `heading`."""
    lines = [heading, *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in (0, 1)]
    for name, target, measured in lines:
        print(f"{name:<{widths[0]}}  {target:<{widths[1]}}  {measured}")


# --- The people ---------------------------------------------------------------------------------


def draw_age(rng: random.Random) -> int:
    """An age of 65 or over from the English-like mix (`AGE_MIX`, `OLDEST_MEAN_YEARS`)."""
    band = rng.choices(AGE_BANDS, [AGE_MIX[band] for band in AGE_BANDS])[0]
    if band == "65-74":
        return rng.randint(65, 74)
    if band == "75-84":
        return rng.randint(75, 84)
    return min(85 + int(rng.expovariate(1 / OLDEST_MEAN_YEARS)), OLDEST_AGE)


def draw_sex(age: int, rng: random.Random) -> Sex:
    """Male with England's share of men at this age (ONS five-year bands)."""
    band = next(b for b in ENGLAND_AGE_BANDS if b.low <= age <= b.high)
    return "male" if rng.random() < band.male_share else "female"


def draw_birth_date(age: int, as_of: date, rng: random.Random) -> date:
    """A birthday, any day of the year, that makes the person `age` on `as_of`."""
    latest = years_before(as_of, age)
    earliest = years_before(as_of, age + 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randint(0, (latest - earliest).days))


def older_people(
    count: int, seed: int, place: Place | None = None
) -> Iterator[tuple[Person, RecordOutcome, OlderPersonFacts]]:
    """`count` people 65+ of the small place with their records, one at a time."""
    place = place or small_place()
    for index in range(count):
        rng = stream(seed, "person", index)
        age = draw_age(rng)
        sex = draw_sex(age, rng)
        person = resident(place, index, age, sex, draw_birth_date(age, place.as_of, rng))
        yield (person, *build_older_person(person, place, stream(seed, "record", index)))


def summarise(person: Person, outcome: RecordOutcome, facts: OlderPersonFacts) -> PersonSummary:
    """What the generator decided (`facts`), and from the record itself what the facts do not
    hold: whether household composition was recorded."""
    household = any(
        resource["resourceType"] == "Observation"
        and resource["code"]["coding"][0]["code"] == HOUSEHOLD_COMPOSITION
        for resource in outcome.resources
    )
    return PersonSummary(
        age=person.age,
        imd_decile=person.neighbourhood.imd_decile,
        long_term_conditions=len(facts.conditions),
        efi_category=facts.category,
        medicines=tuple(facts.medicines),
        deceased=facts.deceased is not None,
        care_home=facts.care_home,
        home_care=facts.home_care_hours is not None,
        carer=facts.carer is not None,
        lives_alone=outcome.lives_alone,
        household_recorded=household,
        admissions=facts.admissions,
        attendances=facts.attendances,
        exposure_days=facts.exposure_days,
    )


# --- The statistics -----------------------------------------------------------------------------

Predicate = Callable[[PersonSummary], bool]


def share(people: Sequence[PersonSummary], hit: Predicate) -> float:
    """Percent of `people` for whom `hit` holds (0 of nobody)."""
    return 100 * sum(hit(p) for p in people) / len(people) if people else 0.0


def _multimorbid(person: PersonSummary) -> bool:
    return person.long_term_conditions >= 2


def odds_ratio(people: Sequence[PersonSummary], hit: Predicate, exposed: Predicate) -> float:
    """Odds of `hit` among the `exposed` over its odds among the rest (nan if either is empty
    or certain)."""
    odds: list[float] = []
    for group in ([p for p in people if exposed(p)], [p for p in people if not exposed(p)]):
        hits = sum(hit(p) for p in group)
        if hits in (0, len(group)):
            return math.nan
        odds.append(hits / (len(group) - hits))
    return odds[0] / odds[1]


def _per_person_year(
    people: Sequence[PersonSummary], events: Callable[[PersonSummary], int]
) -> float:
    years = sum(p.exposure_days for p in people) / YEAR_DAYS
    return sum(events(p) for p in people) / years if years else 0.0


def _by_band(people: Sequence[PersonSummary]) -> dict[str, list[PersonSummary]]:
    return {band: [p for p in people if p.band == band] for band in AGE_BANDS}


def in_category(category: str) -> Predicate:
    return lambda person: person.efi_category == category


def on_at_least(medicines: int) -> Predicate:
    return lambda person: len(person.medicines) >= medicines


def on_medicine(key: str) -> Predicate:
    return lambda person: key in person.medicines


def _category_shares(people: Sequence[PersonSummary]) -> tuple[float, ...]:
    return tuple(share(people, in_category(category)) for category in FRAILTY_CATEGORIES)


def _polypharmacy(people: Sequence[PersonSummary]) -> tuple[float, float]:
    return share(people, on_at_least(5)), share(people, on_at_least(10))


def multimorbidity_rows(people: Sequence[PersonSummary]) -> list[Row]:
    targets = TARGETS["multimorbidity_2plus"]
    bands = _by_band(people)
    eighty = [p for p in people if p.age >= 80]
    deprived = [p for p in people if p.imd_decile in (1, 10)]
    return [
        Row(
            "Multimorbidity (2+ of the 21 conditions), 65+",
            (targets["65+"],),
            (share(people, _multimorbid),),
        ),
        Row(
            "Multimorbidity, 65-74 / 75-84 / 85+",
            tuple(targets[band] for band in AGE_BANDS),
            tuple(share(bands[band], _multimorbid) for band in AGE_BANDS),
        ),
        Row("Multimorbidity, 80+", (targets["80+"],), (share(eighty, _multimorbid),)),
        Row(
            "Multimorbidity odds ratio, IMD decile 1 vs 10",
            (TARGETS["multimorbidity_odds_ratio_decile_1_vs_10"],),
            (odds_ratio(deprived, _multimorbid, lambda p: p.imd_decile == 1),),
            decimals=2,
            percent=False,
        ),
    ]


def frailty_rows(people: Sequence[PersonSummary], living: Sequence[PersonSummary]) -> list[Row]:
    overall = TARGETS["efi_category"]
    rows = [
        Row(
            "eFI fit / mild / moderate / severe, 65+",
            tuple(overall[c] for c in FRAILTY_CATEGORIES),
            _category_shares(people),
            subgroup="living",
            in_subgroup=_category_shares(living),
        )
    ]
    bands = _by_band(people)
    for band, split in TARGETS["efi_category_by_band"].items():
        rows.append(
            Row(
                f"eFI fit / mild / moderate / severe, {band}",
                tuple(split[c] for c in FRAILTY_CATEGORIES),
                _category_shares(bands[band]),
            )
        )
    return rows


def care_rows(people: Sequence[PersonSummary], living: Sequence[PersonSummary]) -> list[Row]:
    oldest = [p for p in people if p.age >= 85]
    oldest_living = [p for p in living if p.age >= 85]
    care_home = TARGETS["care_home_share"]
    return [
        Row(
            "Polypharmacy 5+ / 10+ medicines",
            (TARGETS["polypharmacy_5plus"], TARGETS["polypharmacy_10plus"]),
            _polypharmacy(people),
            subgroup="living",
            in_subgroup=_polypharmacy(living),
        ),
        Row(
            "Household composition recorded, 65+",
            (TARGETS["household_composition_recorded"]["65+"],),
            (share(people, lambda p: p.household_recorded),),
        ),
        Row(
            "Care-home residents, 65+ / 85+",
            (care_home["65+"], care_home["85+"]),
            (share(people, lambda p: p.care_home), share(oldest, lambda p: p.care_home)),
            decimals=2,
            subgroup="living",
            in_subgroup=(
                share(living, lambda p: p.care_home),
                share(oldest_living, lambda p: p.care_home),
            ),
        ),
        Row(
            "Unpaid carer on record, 65+",
            (TARGETS["unpaid_carer_share"]["65+"],),
            (share(people, lambda p: p.carer),),
        ),
        Row(
            "Home care package, 65+",
            (TARGETS["home_care_share"]["65+"],),
            (share(people, lambda p: p.home_care),),
            decimals=2,
            subgroup="running",  # a package ends when the person dies
            in_subgroup=(share(people, lambda p: p.home_care and not p.deceased),),
        ),
        Row(
            "Lives alone, 65+",
            (TARGETS["lives_alone_share"]["65+"],),
            (share(people, lambda p: p.lives_alone),),
        ),
    ]


def hospital_and_death_rows(people: Sequence[PersonSummary]) -> list[Row]:
    categories = {c: [p for p in people if p.efi_category == c] for c in FRAILTY_CATEGORIES}
    bands = _by_band(people)
    return [
        Row(
            "Emergency admissions / person-year: fit / mild / moderate / severe",
            tuple(TARGETS["admissions_per_person_year"][c] for c in FRAILTY_CATEGORIES),
            tuple(_per_person_year(categories[c], lambda p: p.admissions) for c in categories),
            decimals=3,
            percent=False,
        ),
        Row(
            "A&E attendances (not admitted) / person-year",
            tuple(TARGETS["attendances_per_person_year"][c] for c in FRAILTY_CATEGORIES),
            tuple(_per_person_year(categories[c], lambda p: p.attendances) for c in categories),
            decimals=3,
            percent=False,
        ),
        Row(
            "Deaths in the last 12 months: 65-74 / 75-84 / 85+",
            tuple(100 * TARGETS["annual_deaths"][band] for band in AGE_BANDS),
            tuple(share(bands[band], lambda p: p.deceased) for band in AGE_BANDS),
            decimals=2,
        ),
    ]


def target_rows(people: Sequence[PersonSummary]) -> list[Row]:
    """Every statistic of the docs' "Targets for the statistical test" table, in its order."""
    living = [p for p in people if not p.deceased]
    return [
        *multimorbidity_rows(people),
        *frailty_rows(people, living),
        *care_rows(people, living),
        *hospital_and_death_rows(people),
    ]


def medicine_rows(people: Sequence[PersonSummary]) -> list[Row]:
    """Percent of people 65+ on each medicine, in the formulary's order (the docs' table), then
    polypharmacy by age band, the mean count and the share on none (the docs' paragraph)."""
    rows = [
        Row(m.display, None, (share(people, on_medicine(m.key)),), decimals=2) for m in MEDICINES
    ]
    bands = _by_band(people)
    living = [p for p in people if not p.deceased]
    for threshold in (5, 10):
        on_them = on_at_least(threshold)
        rows.append(
            Row(
                f"{threshold}+ medicines: 65+ / 65-74 / 75-84 / 85+",
                None,
                (share(people, on_them), *(share(bands[b], on_them) for b in AGE_BANDS)),
                subgroup="living",
                in_subgroup=(share(living, on_them),),
            )
        )
    mean = sum(len(p.medicines) for p in people) / len(people) if people else 0.0
    rows.append(Row("Mean number of medicines", None, (mean,), decimals=2, percent=False))
    rows.append(Row("On no medicine", None, (share(people, lambda p: not p.medicines),)))
    return rows


def measure(count: int, seed: int) -> list[PersonSummary]:
    """Build `count` people and keep what the statistics need of each."""
    return [summarise(*person) for person in older_people(count, seed)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=50_000, help="people aged 65+ to build")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    people = measure(args.people, args.seed)
    seconds = time.perf_counter() - started
    deaths = sum(p.deceased for p in people)
    print(
        f"{len(people):,} people 65+ (seed {args.seed}; {len(people) - deaths:,} living), "
        f"built in {seconds:.1f} s"
    )
    print()
    print_table(("Statistic", "Target", "Measured"), target_rows(people))
    print()
    print_table(("Medicine", "", "65+ on it"), medicine_rows(people))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
