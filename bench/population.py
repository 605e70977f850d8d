"""Benchmark the population analytics at system scale: the columnar projection's full refresh,
an incremental refresh after 1% of people changed, a case-finding query and a full equity
breakdown, with peak memory (issue 8 aims, for 1,000,000 people on a 2-core machine: full
refresh under 5 minutes, each query under 1 second, under 4 GB).

    python -m bench.population [--people 1000000] [--seed 2026] [--workdir DIR]
        [--changed 0.01] [--runs 20]

The default is the aim's 1,000,000 people. The test range 999 000 0000 - 999 999 9999 holds
only 909,091 valid NHS numbers (synthetic records use no other), so past that the place is
generated with `--untraced-past-capacity`: the last 90,909 people have no NHS number, as a
record does until a trace finds it, and are otherwise made like everyone else. Nothing here
reads NHS numbers, so they cost the same as anyone.

Set-up, as an operator would (each step is the `careweave` command, as bench/coordination_pages
does): `generate --people N --seed S` (records as of the generator's default day), then
`db upgrade` and `import` into an SQLite file (generating with `--workers 2`). With
`--workdir DIR` the place and the store are kept in DIR and reused by the next run (which
changes 1% of people again, on top; delete them to start again); without, a temporary folder
is removed at the end. The timings below do not
include the set-up, and it is long: 1,000,000 people are 4.81 million resources (the
generator writes them in about 2 minutes with two workers), and the store holds about 5.5 kB
per resource with its search indexes (27 GB). The import wrote about 2,400 resources a second
on a quiet 2-core machine (33 minutes, measured 2026-11-28), so allow 45 minutes with nothing
else running; shared with a test suite it managed about 250 a second (722,000 resources in
49 minutes).

Then, in this process:

1. **Full refresh** (`careweave.population.projection.full_refresh`): every current resource
   read from the store in key pages in one snapshot, flattened, loaded into DuckDB, measures
   computed as of the place's day. Cold: the store file was just imported, so the OS page cache
   holds some of it; a second full refresh is printed too (warm).
2. **1% changed**: `--changed` of the people (sampled at run time, the sample printed) get
   new versions through `FhirStore`, 500 writes a transaction: each person's Patient is
   updated (a new telecom),
   every second person gets a new Condition (a fall, on the as-of day), and one in fifty a
   national data opt-out (they must disappear). Then the **incremental refresh** is timed.
3. **Case-finding**: the issue's question (moderate or severe frailty, no care plan review in
   12 months, admitted in the last 90 days) through `find_cases` and `worklist` (names for the
   people of one practice, counts for the rest), on a fresh read-only connection each run.
4. **Equity**: `equity_breakdown` (13 measures by IMD decile, ethnic group, sex and age band)
   and `publishable` (suppression), a fresh connection each run.
5. Also: the segment counts, a four-quarter segment trend, and CSV and Parquet exports.

Queries: p50 headline, p95 and max beside it, over `--runs` runs after the first (cold, shown
on its own). Peak memory is this process's maximum resident set (ru_maxrss: Python, SQLite
and DuckDB together); DuckDB's own limit is `careweave.population.columnar.MEMORY_LIMIT`.
Nothing is asserted: the figures depend on the machine and on what else it runs.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from careweave.population.case_finding import CaseFindingQuery, find_cases, worklist
from careweave.population.columnar import MEMORY_LIMIT, read_state
from careweave.population.equity import equity_breakdown, publishable
from careweave.population.exports import Format, export_measures
from careweave.population.projection import (
    full_refresh,
    open_projection,
    projection_path,
    refresh,
)
from careweave.population.segmentation import segment_counts, segment_trend
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from careweave.store.tables import resource as resource_table
from careweave.synth.generate import DEFAULT_AS_OF
from careweave.synth.people import NHS_NUMBER_CAPACITY

NDOO = "https://fhir.careweave.example/CodeSystem/consent-category"
FALL = "1912002"  # Fall (event): an eFI falls code the generator writes


def careweave(*args: str, url: str | None = None) -> str:
    """Run the `careweave` command; its output, or exit with its error."""
    command = [sys.executable, "-c", "from careweave.cli import app; app()", *args]
    if url is not None:
        command += ["--database-url", url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"careweave {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed_runs(action: Callable[[], Any], runs: int) -> tuple[float, list[float], Any]:
    """(cold ms, warm ms list, last result)."""
    began = time.perf_counter()
    result = action()
    cold = (time.perf_counter() - began) * 1000
    warm = []
    for _ in range(runs):
        began = time.perf_counter()
        result = action()
        warm.append((time.perf_counter() - began) * 1000)
    return cold, warm, result


def describe(name: str, cold: float, warm: list[float], about: str) -> str:
    return (
        f"{name}: cold {cold:.0f} ms; warm p50 {statistics.median(warm):.0f} ms, "
        f"p95 {percentile(warm, 0.95):.0f} ms, max {max(warm):.0f} ms ({len(warm)} runs); {about}"
    )


def prepare(workdir: Path, people: int, seed: int) -> tuple[str, Path]:
    folder = workdir / f"place-{seed}-{people}"
    if not (folder / "Patient.ndjson").exists():
        began = time.perf_counter()
        careweave(
            "generate",
            "--people",
            str(people),
            "--seed",
            str(seed),
            "--out",
            str(folder),
            "--workers",
            "2",
            "--overwrite",
            *(["--untraced-past-capacity"] if people > NHS_NUMBER_CAPACITY else []),
        )
        print(f"generated the place in {time.perf_counter() - began:.0f} s", flush=True)
    store = workdir / f"population-{seed}-{people}.sqlite3"
    url = f"sqlite:///{store}"
    if not store.exists():
        began = time.perf_counter()
        careweave("db", "upgrade", url=url)
        careweave("import", str(folder), url=url)
        print(f"imported into SQLite in {time.perf_counter() - began:.0f} s", flush=True)
    return url, store


def change_people(store: FhirStore, share: float, seed: int, as_of: date) -> tuple[int, int]:
    """New versions for `share` of the people; returns (people changed, resources written)."""
    with store.database.read() as conn:
        ids = sorted(
            conn.execute(
                select(resource_table.c.id).where(
                    resource_table.c.resource_type == "Patient",
                    resource_table.c.deleted.is_(False),
                )
            ).scalars()
        )
    chosen = random.Random(seed).sample(ids, max(1, round(len(ids) * share)))
    mark = seed % 100_000
    written = 0
    for start in range(0, len(chosen), 500):
        with store.transaction() as tx:
            for number, patient_id in enumerate(chosen[start : start + 500], start=start):
                current = tx.read("Patient", patient_id).as_dict()
                current["telecom"] = [{"system": "phone", "value": f"07700 9{mark:05d}"}]
                tx.update("Patient", patient_id, current)
                written += 1
                subject = {"reference": f"Patient/{patient_id}"}
                if number % 2 == 0:
                    tx.create(
                        {
                            "resourceType": "Condition",
                            "code": {
                                "coding": [
                                    {
                                        "system": "http://snomed.info/sct",
                                        "code": FALL,
                                        "display": "Fall",
                                    }
                                ]
                            },
                            "subject": subject,
                            "recordedDate": as_of.isoformat(),
                        }
                    )
                    written += 1
                if number % 50 == 0:
                    tx.create(
                        {
                            "resourceType": "Consent",
                            "status": "active",
                            "scope": {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                        "code": "patient-privacy",
                                    }
                                ]
                            },
                            "category": [{"coding": [{"system": NDOO, "code": "ndoo"}]}],
                            "patient": subject,
                            "policyRule": {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                        "code": "OPTOUT",
                                    }
                                ]
                            },
                            "provision": {"type": "deny"},
                        }
                    )
                    written += 1
    return len(chosen), written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the place and store")
    parser.add_argument("--changed", type=float, default=0.01, help="share of people changed")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="careweave-population-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, workdir: Path) -> int:
    url, store_file = prepare(workdir, args.people, args.seed)
    database = open_database(url)
    store = FhirStore(database)
    path = projection_path(url)
    path.unlink(missing_ok=True)
    figures: list[str] = [
        f"place: {args.people:,} people (seed {args.seed}); "
        f"store {store_file.stat().st_size / 1e9:.2f} GB",
        f"DuckDB memory limit {MEMORY_LIMIT}",
    ]

    def tell(line: str) -> None:
        figures.append(line)
        print(line, flush=True)

    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 15:
            last[0] = time.monotonic()
            print(f"  ... {done:,} of {total:,} resources", flush=True)

    first = full_refresh(database, path, progress=progress, as_of=DEFAULT_AS_OF)
    tell(
        f"full refresh (cold): {first.seconds:.1f} s, "
        f"{first.resources_read / first.seconds:,.0f} resources/s; {first.describe()} "
        f"peak RSS {peak_mb():.0f} MB"
    )
    second = full_refresh(database, path, as_of=first.as_of)
    tell(f"full refresh (warm): {second.seconds:.1f} s; peak RSS {peak_mb():.0f} MB")
    tell(f"projection file: {path.stat().st_size / 1e6:.0f} MB")

    began = time.perf_counter()
    sample = time.time_ns() % 1_000_003  # sampled at run time (a kept store is changed again)
    changed, written = change_people(store, args.changed, sample, first.as_of)
    tell(
        f"changed {changed:,} people ({args.changed:.0%}, sample {sample}): {written:,} versions "
        f"written through FhirStore in {time.perf_counter() - began:.0f} s"
    )
    again = refresh(database, path, as_of=first.as_of)
    tell(
        f"incremental refresh: {again.seconds:.1f} s, {again.people_refreshed:,} people re-read "
        f"({again.resources_read:,} resources); {again.objectors_excluded:,} objectors now left "
        f"out (was {first.objectors_excluded:,}); peak RSS {peak_mb():.0f} MB"
    )

    question = CaseFindingQuery(
        frailty=frozenset({"moderate", "severe"}), no_plan_review_months=12, admitted_within_days=90
    )
    con = open_projection(path)
    practice_people = {
        str(r[0])
        for r in con.execute(
            "SELECT patient_id FROM person_measures WHERE practice_id = "
            "(SELECT practice_id FROM person_measures GROUP BY practice_id "
            "ORDER BY COUNT(*) DESC LIMIT 1)"
        ).fetchall()
    }
    con.close()

    def case_finding() -> tuple[int, int]:
        connection = open_projection(path)
        try:
            found = find_cases(connection, question)
            listed = worklist(connection, found, practice_people)
            return len(found.patient_ids), len(listed.people)
        finally:
            connection.close()

    cold, warm, (matched, named) = timed_runs(case_finding, args.runs)
    tell(describe("case-finding", cold, warm, f"{matched:,} matched, {named:,} named"))

    def equity() -> int:
        connection = open_projection(path)
        try:
            return len(publishable(equity_breakdown(connection)))
        finally:
            connection.close()

    cold, warm, cells = timed_runs(equity, args.runs)
    tell(describe("equity breakdown", cold, warm, f"{cells:,} published cells"))

    def segments() -> int:
        connection = open_projection(path)
        try:
            return segment_counts(connection).total
        finally:
            connection.close()

    cold, warm, older = timed_runs(segments, args.runs)
    tell(describe("segment counts", cold, warm, f"{older:,} people 65+"))

    con = open_projection(path)
    as_of = date.fromisoformat(read_state(con)["as_of"])
    began = time.perf_counter()
    segment_trend(con, [as_of - relativedelta(months=3 * q) for q in range(4)])
    tell(f"segment trend, 4 quarters: {(time.perf_counter() - began) * 1000:.0f} ms")
    kinds: tuple[Format, ...] = ("csv", "parquet")
    for kind in kinds:
        began = time.perf_counter()
        out = export_measures(con, workdir / f"measures.{kind}", kind)
        tell(
            f"export measures as {kind}: {(time.perf_counter() - began) * 1000:.0f} ms, "
            f"{out.stat().st_size / 1e6:.0f} MB"
        )
        out.unlink()
    con.close()
    tell(f"peak RSS of this process: {peak_mb():.0f} MB")
    print("\n".join(["", "summary:", *figures]))
    database.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
