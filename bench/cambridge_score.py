"""The Cambridge Multimorbidity Score over a generated place: the figures of
docs/population-measures.md ("Measured over a generated place").

    python -m bench.cambridge_score [--people 20000] [--seed 2026] [--as-of 2026-03-31]
        [--workers 1] [--workdir DIR]

The docs describe how the score is spread in a synthetic place. Those figures must come from a
run anyone can repeat, and from what an analyst of that place would get rather than from a
second implementation of the score, so this takes the product's own path, step for step what
an operator runs: `careweave generate` (`careweave.synth.generate.generate_place`) writes the
place as NDJSON; `careweave db upgrade` and `careweave import` load it into a new SQLite store;
`careweave population refresh --full --as-of DAY` (`careweave.population.projection`) builds
the population projection. Its `person_measures` rows (what `careweave population export`
writes) give each person's score, count of the 20 conditions, eFI, long-term conditions,
admissions in the year, age and IMD decile. People with a national data opt-out are not in
them, as they are in no planning output.

Which of the 20 conditions count for someone is not a measure column, so each person's record
is read back from the store and scored by `careweave.population.cambridge_multimorbidity`, the
Python reference the projection's SQL is held to. Its score and condition count must equal the
projection's for every person, or the run says for how many they do not and fails.

Over the people aged 65+ and alive on the day it prints: the mean score, median, 90th centile
(linear between order statistics, as numpy's default) and highest; the share counting 2 or
more of the 20 conditions and the share counting each condition; the mean score by eFI
category, age band and IMD decile; and Pearson's r of the score with the long-term condition
count, the eFI deficit count and emergency admissions in the 365 days up to the day. 20,000
people take about 45 seconds on 2 cores, most of it the import. `--workdir DIR` keeps the place,
the store and the projection in DIR, to look at afterwards (e.g. `careweave population
export --database-url sqlite:///DIR/careweave.sqlite3`).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Final, Protocol

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from careweave.population.cambridge_multimorbidity import (
    cambridge_code_lists,
    cambridge_multimorbidity_score,
)
from careweave.population.columnar import MEASURES
from careweave.population.flatten import WATCHED_TYPES, person_of
from careweave.population.person_row import AGE_BANDS, age_band
from careweave.population.projection import RefreshSummary, full_refresh, open_projection
from careweave.population.store_reading import read_snapshot, rows_about
from careweave.store.bulk_import import ImportReport, import_ndjson, plan_import
from careweave.store.database import open_database
from careweave.store.migrate import upgrade
from careweave.store.repository import FhirStore
from careweave.synth.generate import DEFAULT_AS_OF, GenerationSummary, generate_place

OLDER_AGE: Final = 65
EFI_CATEGORIES: Final = ("fit", "mild", "moderate", "severe")
IMD_DECILES: Final = tuple(range(1, 11))
FIVE_CONDITIONS: Final = (
    "irritable-bowel-syndrome",
    "connective-tissue-disorder",
    "alcohol-problems",
    "epilepsy",
    "psychosis-bipolar",
)
"""The conditions the generator records for the score alone: the docs' "five conditions"."""
RECORDS_AT_ONCE: Final = 500
"""People whose records are read from the store in one go."""

Record = list[dict[str, Any]]


class Advance(Protocol):
    """Says how far a step of the run has got (and, once known, how far it has to go)."""

    def __call__(self, done: int, total: int | None = None) -> None: ...


Step = Callable[[str, int | None], Advance]
"""Starts a step of the run: (what it does, how much there is to do, if known) -> its Advance."""


def _nowhere(done: int, total: int | None = None) -> None:
    """An Advance that shows nothing (the tests run quietly)."""


def _quietly(_what: str, _total: int | None) -> Advance:
    return _nowhere


# --- The place, the product's way ---------------------------------------------------------------


@dataclass(frozen=True)
class MeasuredPlace:
    """A generated place imported into a store and refreshed: where it is, and what generating
    and refreshing reported (people measured, people with an opt-out left out)."""

    database_url: str
    projection: Path
    generated: GenerationSummary
    refresh: RefreshSummary


def measure_place(
    people: int, seed: int, as_of: date, workdir: Path, *, workers: int = 1, step: Step = _quietly
) -> MeasuredPlace:
    """Generate a place in `workdir`, import it into a new SQLite store there and refresh its
    population projection as of `as_of`: `careweave generate`, `db upgrade`, `import` and
    `population refresh --full`."""
    folder = workdir / "place"
    generated = generate_place(
        people=people,
        seed=seed,
        out=folder,
        as_of=as_of,
        progress=step("Generating the place (people)", people),
    )
    stored = workdir / "careweave.sqlite3"
    url = f"sqlite:///{stored}"
    database = open_database(url)
    try:
        upgrade(database)
        plan = plan_import(folder)
        imported = step("Importing it into SQLite (bytes)", plan.total_bytes)

        def show(report: ImportReport) -> None:
            imported(report.bytes_done)

        import_ndjson(FhirStore(database), plan, workers=workers, on_progress=show)
        refreshed = step("Refreshing the population projection (resources)", None)
        projection = workdir / "careweave.population.duckdb"
        summary = full_refresh(database, projection, as_of=as_of, progress=refreshed)
    finally:
        database.dispose()
    return MeasuredPlace(url, projection, generated, summary)


# --- The people 65+ and their scores ------------------------------------------------------------


@dataclass(frozen=True)
class OlderPerson:
    """A person 65+ and alive on the day, as the projection's measure row has them, with the
    conditions that count towards their score (read from their record)."""

    patient_id: str
    age: int
    efi_category: str
    efi_deficits: int
    long_term_conditions: int
    cambridge_conditions: int
    cambridge_score: float
    admissions: int
    imd_decile: int | None
    counted: frozenset[str] = frozenset()

    @property
    def age_band(self) -> str:
        return age_band(self.age)


MEASURE_QUERY: Final = f"""
SELECT patient_id, age, efi_category, efi_deficits, long_term_conditions,
  cambridge_conditions, cambridge_score, admissions, imd_decile
FROM {MEASURES}
WHERE age >= {OLDER_AGE} AND NOT deceased
ORDER BY patient_id"""


def older_people(projection: Path) -> list[OlderPerson]:
    """Everyone 65+ and alive on the projection's day, from their measure rows."""
    con = open_projection(projection)
    try:
        rows = con.execute(MEASURE_QUERY).fetchall()
    finally:
        con.close()
    return [
        OlderPerson(
            patient_id=str(row[0]),
            age=int(row[1]),
            efi_category=str(row[2]),
            efi_deficits=int(row[3]),
            long_term_conditions=int(row[4]),
            cambridge_conditions=int(row[5]),
            cambridge_score=float(row[6]),
            admissions=int(row[7]),
            imd_decile=None if row[8] is None else int(row[8]),
        )
        for row in rows
    ]


def records_of(database_url: str, patient_ids: Sequence[str]) -> Iterator[tuple[str, Record]]:
    """Each person's current record in the store (their Patient and what is about them), read
    in one snapshot, a few hundred people at a time."""
    database = open_database(database_url)
    try:
        with read_snapshot(database) as store:
            for start in range(0, len(patient_ids), RECORDS_AT_ONCE):
                wanted = patient_ids[start : start + RECORDS_AT_ONCE]
                found: dict[str, Record] = {person: [] for person in wanted}
                for row in rows_about(store, wanted, WATCHED_TYPES):
                    body = orjson.loads(row.content or "{}")
                    person = person_of(body)
                    if person in found:
                        found[person].append(body)
                yield from found.items()
    finally:
        database.dispose()


def with_conditions(
    people: Sequence[OlderPerson],
    records: Iterable[tuple[str, Record]],
    as_of: date,
    done: Advance = _nowhere,
) -> tuple[list[OlderPerson], list[str]]:
    """The people with the conditions their records count, and the ids of those whose score
    or condition count from the record differs from the projection's (none, when the two
    engines agree as their tests hold)."""
    by_id = {person.patient_id: person for person in people}
    scored: list[OlderPerson] = []
    differing: list[str] = []
    for patient_id, record in records:
        person = by_id[patient_id]
        score = cambridge_multimorbidity_score(record, as_of)
        if (score.hundredths, score.condition_count) != (
            round(person.cambridge_score * 100),
            person.cambridge_conditions,
        ):
            differing.append(patient_id)
        names = frozenset(found.condition for found in score.conditions)
        scored.append(replace(person, counted=names))
        done(len(scored))
    return scored, differing


# --- The figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreFigures:
    """The score's distribution over people 65+ and alive: what the docs' paragraph states."""

    people: int
    mean: float
    median: float
    centile_90: float
    highest: float
    two_or_more: float  # percent counting 2 or more of the 20 conditions
    counting: Mapping[str, float]  # condition -> percent for whom it counts
    by_efi_category: Mapping[str, float]  # mean score; nan for nobody
    by_age_band: Mapping[str, float]
    by_imd_decile: Mapping[int, float]
    r_long_term_conditions: float
    r_efi_deficits: float
    r_admissions: float


def percent(hits: int, people: int) -> float:
    return 100 * hits / people if people else math.nan


def mean_score(people: Iterable[OlderPerson]) -> float:
    """The mean score (nan of nobody: a group the place happens not to have)."""
    scores = [person.cambridge_score for person in people]
    return statistics.fmean(scores) if scores else math.nan


def pearson_r(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson's r (nan when either is constant or there are fewer than two people)."""
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:
        return math.nan


def age_bands() -> tuple[str, ...]:
    """The measures' bands of people 65+: 65-69 ... 85-89, 90+."""
    return tuple(age_band(low) for low in AGE_BANDS)


def score_figures(people: Sequence[OlderPerson]) -> ScoreFigures:
    """Every figure of the docs' paragraph, over `people` (65+ and alive, with the conditions
    their records count)."""
    if len(people) < 2:
        raise ValueError(f"{len(people)} people 65+ alive: too few to describe")
    paired = [person.cambridge_score for person in people]  # in the people's order, for r
    scores = sorted(paired)
    count = len(people)
    return ScoreFigures(
        people=count,
        mean=statistics.fmean(scores),
        median=statistics.median(scores),
        centile_90=statistics.quantiles(scores, n=10, method="inclusive")[-1],
        highest=scores[-1],
        two_or_more=percent(sum(p.cambridge_conditions >= 2 for p in people), count),
        counting={
            condition: percent(sum(condition in p.counted for p in people), count)
            for condition in cambridge_code_lists().conditions
        },
        by_efi_category={
            category: mean_score(p for p in people if p.efi_category == category)
            for category in EFI_CATEGORIES
        },
        by_age_band={
            band: mean_score(p for p in people if p.age_band == band) for band in age_bands()
        },
        by_imd_decile={
            decile: mean_score(p for p in people if p.imd_decile == decile)
            for decile in IMD_DECILES
        },
        r_long_term_conditions=pearson_r(paired, [p.long_term_conditions for p in people]),
        r_efi_deficits=pearson_r(paired, [p.efi_deficits for p in people]),
        r_admissions=pearson_r(paired, [p.admissions for p in people]),
    )


# --- Printing -----------------------------------------------------------------------------------


def report(place: MeasuredPlace, figures: ScoreFigures, differing: Sequence[str]) -> str:
    """The figures as the docs quote them, each with enough context to place it."""
    generated, refresh = place.generated, place.refresh
    labels = cambridge_code_lists().label_of
    order = [*FIVE_CONDITIONS, *(c for c in labels if c not in FIVE_CONDITIONS)]
    width = max(len(labels[c]) for c in order)
    lines = [
        f"Place: {generated.people:,} people (seed {generated.seed}, as of "
        f"{generated.as_of.isoformat()}), {generated.older_people:,} of them 65+ (alive or not)",
        f"Projection: {refresh.people:,} people measured; {refresh.objectors_excluded:,} with "
        "a national data opt-out left out",
        f"Aged 65+ and alive on the day, measured: {figures.people:,}",
        _agreement(figures.people, differing),
        "",
        f"Mean score {figures.mean:.2f}, median {figures.median:.2f}, "
        f"90th centile {figures.centile_90:.2f}, highest {figures.highest:.2f}",
        f"Counting 2 or more of the 20 conditions: {figures.two_or_more:.1f}%",
        "",
        "Share for whom each condition counts (first the five the generator records for the "
        "score alone):",
        *(f"  {labels[c]:<{width}}  {figures.counting[c]:5.1f}%" for c in order),
        "",
        "Mean score by eFI category: " + _means(figures.by_efi_category),
        "Mean score by age band: " + _means(figures.by_age_band),
        "Mean score by IMD decile (1 = most deprived): " + _means(figures.by_imd_decile),
        "",
        "Pearson r of the score with: "
        f"long-term condition count {figures.r_long_term_conditions:.2f}, "
        f"eFI deficit count {figures.r_efi_deficits:.2f}, "
        f"emergency admissions in the year {figures.r_admissions:.2f}",
    ]
    return "\n".join(lines)


def _agreement(people: int, differing: Sequence[str]) -> str:
    if not differing:
        return f"Scored again from each record (the Python reference): the same for all {people:,}"
    shown = ", ".join(differing[:5])
    return (
        f"Scored again from each record (the Python reference): DIFFERENT for "
        f"{len(differing):,} of {people:,} (e.g. {shown})"
    )


def _means(means: Mapping[str, float] | Mapping[int, float]) -> str:
    return ", ".join(f"{group} {mean:.2f}" for group, mean in means.items())


# --- The run ------------------------------------------------------------------------------------


@contextmanager
def progress_bars() -> Iterator[Step]:
    """Rich progress bars on stderr, one per step, so stdout holds only the figures."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bars:

        def step(what: str, total: int | None) -> Advance:
            task = bars.add_task(what, total=total)

            def advance(done: int, total: int | None = None) -> None:
                bars.update(task, completed=done, total=total)  # None: total unchanged

            return advance

        yield step


def run(
    people: int,
    seed: int,
    as_of: date,
    workdir: Path,
    *,
    workers: int = 1,
    step: Step = _quietly,
) -> tuple[MeasuredPlace, list[OlderPerson], list[str]]:
    """The whole run but printing: the place measured, its people 65+ alive with the
    conditions their records count, and the ids of any whose two scores differ."""
    place = measure_place(people, seed, as_of, workdir, workers=workers, step=step)
    older = older_people(place.projection)
    scoring = step("Scoring each record again (people 65+ alive)", len(older))
    records = records_of(place.database_url, [person.patient_id for person in older])
    scored, differing = with_conditions(older, records, as_of, scoring)
    return place, scored, differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000, help="people in the place")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--as-of", type=date.fromisoformat, default=DEFAULT_AS_OF)
    parser.add_argument("--workers", type=int, default=1, help="import worker processes")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the place, store and projection here"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir {args.workdir} is not empty: give a new or empty folder")
    with tempfile.TemporaryDirectory(prefix="careweave-cambridge-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        with progress_bars() as step:
            place, scored, differing = run(
                args.people, args.seed, args.as_of, workdir, workers=args.workers, step=step
            )
    print(report(place, score_figures(scored), differing))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
