"""Benchmark searches of the directory of community services: need + distance from a postcode
(issue 7 aims for p99 under 50 ms over 10,000 services).

    python -m bench.directory_search [--services 10000] [--searches 1000] [--seed 7]
        [--people 1000000] [--database sqlite|postgresql|both] [--postgres-url URL]

Per database, start to finish:

1. **Database**: a fresh SQLite file in a temporary directory, or a new schema
   `bench_dir_<random>` in the PostgreSQL database of `--postgres-url` (default as
   bench.fhir_store: `$CAREWEAVE_BENCH_POSTGRES_URL`, `$CAREWEAVE_TEST_POSTGRES_URL`, or the
   local server), dropped at the end.
2. **Directory**: a synthetic place of `--people` people (8 towns at a million) and a synthetic
   directory of `--services` services on it (careweave.social_prescribing.synthetic_directory),
   written in one transaction with the real write path; the time and resources/s are printed.
3. **Index**: a `DirectoryIndex` over the store; the first search reads the whole directory
   (printed as the cold load), every later one first asks the store what changed (printed
   alone as the freshness check).
4. **Searches**, one at a time, each from a postcode drawn at random from the place's (about
   7,500 at a million people), for a need drawn from the twelve, with the freshness check
   included: need + nearest 20; need + within 5 km; and need + within 5 km + open at a random
   weekday daytime + step-free access. Then one edit (a service renamed) and the search after
   it, which applies the change.

Prints figures only; nothing is asserted (they depend on the machine and what else it runs).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from datetime import time as clock_time
from pathlib import Path

from bench.fhir_store import DEFAULT_POSTGRES_URL
from careweave.social_prescribing.directory_codes import DAYS, NEEDS
from careweave.social_prescribing.directory_index import DirectoryIndex
from careweave.social_prescribing.directory_records import read_service, update_service
from careweave.social_prescribing.directory_search import (
    ServiceSearch,
    WeeklyTime,
    search_directory,
)
from careweave.social_prescribing.postcodes import place_postcodes
from careweave.social_prescribing.synthetic_directory import (
    generate_directory,
    save_synthetic_directory,
)
from careweave.store.database import open_database
from careweave.store.postgres_schemas import postgres_schema
from careweave.store.repository import FhirStore
from careweave.store.schema import metadata
from careweave.synth.place import build_place

AS_OF = date(2026, 1, 15)


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="careweave-directory-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def postgres_url(base_url: str) -> Iterator[str]:
    with postgres_schema(base_url, f"bench_dir_{uuid.uuid4().hex[:10]}") as (url, _):
        yield url


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(run: Callable[[], object], count: int) -> list[float]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return times


def row(kind: str, what: str, times: list[float], found: float | None = None) -> tuple[str, ...]:
    return (
        kind,
        what,
        f"{statistics.median(times):.2f}",
        f"{percentile(times, 0.95):.2f}",
        f"{percentile(times, 0.99):.2f}",
        f"{max(times):.2f}",
        str(len(times)),
        "" if found is None else f"{found:.1f}",
    )


def bench(kind: str, url: str, args: argparse.Namespace) -> list[tuple[str, ...]]:
    print(f"{kind}:", flush=True)
    place = build_place(people=args.people, seed=args.seed, as_of=AS_OF)
    directory = generate_directory(place, services=args.services, seed=args.seed, as_of=AS_OF)
    database = open_database(url)
    metadata.create_all(database.writer)
    store = FhirStore(database)
    rows: list[tuple[str, ...]] = []
    try:
        began = time.perf_counter()
        report = save_synthetic_directory(store.transaction, directory)
        took = time.perf_counter() - began
        written = report.total("created")
        print(f"  wrote {written:,} resources in {took:.1f} s ({written / took:,.0f}/s)")
        lookup = place_postcodes(place)
        index = DirectoryIndex(store, lookup)
        began = time.perf_counter()
        index.current()
        print(f"  cold load of the whole directory: {(time.perf_counter() - began) * 1000:.0f} ms")
        rows.append(row(kind, "freshness check alone", timed(index.current, 200)))
        postcodes = lookup.postcodes()
        needs = tuple(NEEDS)
        rng = random.Random(args.seed)
        for what, make in (
            (
                "need + nearest 20",
                lambda: ServiceSearch(
                    needs=frozenset({rng.choice(needs)}),
                    near_postcode=rng.choice(postcodes),
                    limit=20,
                ),
            ),
            (
                "need + within 5 km",
                lambda: ServiceSearch(
                    needs=frozenset({rng.choice(needs)}),
                    near_postcode=rng.choice(postcodes),
                    within_km=5,
                ),
            ),
            (
                "need + 5 km + open at + step-free",
                lambda: ServiceSearch(
                    needs=frozenset({rng.choice(needs)}),
                    near_postcode=rng.choice(postcodes),
                    within_km=5,
                    open_at=WeeklyTime(
                        rng.choice(DAYS[:5]), clock_time(rng.randint(9, 16), rng.choice((0, 30)))
                    ),
                    accessibility=frozenset({"step-free-access"}),
                ),
            ),
        ):
            found: list[int] = []

            def search(make: Callable[[], ServiceSearch] = make, found: list[int] = found) -> None:
                found.append(len(search_directory(index, make())))

            timed(search, 10)  # warm up
            found.clear()
            rows.append(row(kind, what, timed(search, args.searches), statistics.mean(found)))
        with store.transaction() as tx:
            service = read_service(tx, directory.services[0].id)
            update_service(tx, replace(service, name=service.name + " (renamed)"))
        search_after = ServiceSearch(needs=frozenset(service.needs), near_postcode=postcodes[0])
        rows.append(
            row(
                kind,
                "first search after an edit",
                timed(lambda: search_directory(index, search_after), 1),
            )
        )
        print(f"  full reads of the directory: {index.full_loads} (1 = only the cold load)")
    finally:
        database.dispose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    print(
        f"directory: {args.services:,} services on a place of {args.people:,} people "
        f"(seed {args.seed}); {args.searches} searches per row",
        flush=True,
    )
    rows: list[tuple[str, ...]] = []
    for kind in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        opener = sqlite_url() if kind == "sqlite" else postgres_url(args.postgres_url)
        with opener as url:
            rows += bench(kind, url, args)
    header = ("database", "search", "p50 ms", "p95 ms", "p99 ms", "max ms", "runs", "found")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for line in rows:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
