"""What building a search's SQL costs in Python, before the database sees it.

    python -m bench.search_sql [--rounds 3000]

For the two searches of `make bench` (Patient by NHS number; Observation by patient, code and
a date range with `_include`), prints microseconds per search for: reading the parameters
(`parse_search`), building the SQLAlchemy statement (`match_conditions` and the SELECT, as the
store builds it for PostgreSQL), and SQLAlchemy's cache key for it, which every execution
computes to find the compiled SQL. No database is opened: this is the Python a search pays on
every request, whatever the database answers. One process, one thread; the median of five
passes of `--rounds` each.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from sqlalchemy import Select, select

from careweave.fhir.search_parameters import default_registry
from careweave.fhir.search_query import SearchQuery, parse_search
from careweave.store.search import match_conditions
from careweave.store.tables import resource
from careweave.store.value_lists import lists_for_dialect

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
SEARCHES: dict[str, list[tuple[str, str]]] = {
    "Patient?identifier": [("identifier", f"{NHS_NUMBER}|9990000018")],
    "Observation?subject&code&date&_include": [
        ("subject", "Patient/3d0f6b1e-0000-4000-8000-000000000001"),
        ("code", "http://snomed.info/sct|271649006"),
        ("date", "ge2024-01-01"),
        ("date", "lt2025-01-01"),
        ("_include", "Observation:subject"),
    ],
}


def statement(query: SearchQuery) -> Select[tuple[object, ...]]:
    r = resource
    return (
        select(r.c.pk, r.c.resource_type, r.c.id, r.c.content)
        .where(*match_conditions(query.resource_type, query.filters, r))
        .order_by(r.c.pk)
        .limit(query.count + 1)
    )


def per_call(action: Callable[[], object], rounds: int) -> float:
    """Median microseconds per call over five passes."""
    passes = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            action()
        passes.append((time.perf_counter() - start) / rounds * 1e6)
    return statistics.median(passes)


def measure_search(
    resource_type: str, params: list[tuple[str, str]], rounds: int
) -> tuple[float, float, float]:
    """(parse, build, cache key) microseconds for one search. The key is timed on statements
    built beforehand, as SQLAlchemy keeps each statement's key once worked out."""
    registry = default_registry()
    query = parse_search(resource_type, params, registry)
    parse = per_call(lambda: parse_search(resource_type, params, registry), rounds)
    builds, keys = [], []
    with lists_for_dialect("postgresql"):  # value lists as PostgreSQL arrays
        for _ in range(5):
            start = time.perf_counter()
            statements = [statement(query) for _ in range(rounds)]
            built = time.perf_counter()
            for each in statements:
                each._generate_cache_key()
            keyed = time.perf_counter()
            builds.append((built - start) / rounds * 1e6)
            keys.append((keyed - built) / rounds * 1e6)
    return parse, statistics.median(builds), statistics.median(keys)


def measure(rounds: int) -> dict[str, tuple[float, float, float]]:
    """(parse, build, cache key) microseconds per search, by search."""
    return {
        name: measure_search(name.partition("?")[0], params, rounds)
        for name, params in SEARCHES.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args(argv)
    print(f"{'search':42} {'parse µs':>9} {'build µs':>9} {'cache key µs':>13}")
    for name, (parse, build, key) in measure(args.rounds).items():
        print(f"{name:42} {parse:9.0f} {build:9.0f} {key:13.0f}")


if __name__ == "__main__":
    main()
