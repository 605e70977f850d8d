"""Time guarded point reads and one guarded search for a user of an imported place.

    python -m bench.point_reads DATABASE_URL [--user demo.gp] [--reads 300]

The place must already be imported with the demo sharing agreement and demo users loaded
(`careweave import`, `careweave sharing load demo --example`, `careweave users demo`). Reads
Patient and Observation records the user can and cannot see (found by asking the store itself),
then prints p50 and p99 per kind, plus a few searches. Prints figures only.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial

from careweave.access.accounts import get_user, principal_for_user
from careweave.access.guard import CareRecordAccess
from careweave.fhir.errors import NotFound
from careweave.fhir.search_query import parse_search
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from careweave.store.visibility import Visibility

SEARCHES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Condition", [("code", "http://snomed.info/sct|38341003")]),
    ("Patient", [("_summary", "count")]),
    ("Patient", [("family", "Smith")]),
    ("Observation", [("patient", "p100")]),
    ("Observation", [("patient", "p15000")]),
]


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    with suppress(NotFound):
        call()
    return (time.perf_counter() - start) * 1000


def _report(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:32} n={len(times):4}  p50 {statistics.median(times):7.2f} ms  p99 {p99:7.2f} ms")


def _split(
    store: FhirStore, visibility: Visibility, resource_type: str, ids: list[str], wanted: int
) -> tuple[list[str], list[str]]:
    seen: list[str] = []
    hidden: list[str] = []
    for rid in ids:
        if len(seen) >= wanted and len(hidden) >= wanted:
            break
        try:
            store.read(resource_type, rid)
        except NotFound:
            continue
        try:
            store.read(resource_type, rid, visibility=visibility)
            seen.append(rid)
        except NotFound:
            hidden.append(rid)
    return seen[:wanted], hidden[:wanted]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--user", default="demo.gp")
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()
    database = open_database(args.url)
    store = FhirStore(database)
    user = get_user(database, args.user)
    assert user is not None, f"no user {args.user}"
    visibility = CareRecordAccess(store, principal_for_user(user), None).visibility
    assert visibility is not None
    people = [f"p{n}" for n in range(1, 20001, 7)]
    observations = [f"p{n}-o1" for n in range(1, 20001, 3)]
    for resource_type, ids in (("Patient", people), ("Observation", observations)):
        seen, hidden = _split(store, visibility, resource_type, ids, args.reads)
        for label, chosen in (("visible", seen), ("hidden", hidden)):
            for rid in chosen[:20]:
                _timed(partial(store.read, resource_type, rid, visibility=visibility))
            times = [
                _timed(partial(store.read, resource_type, rid, visibility=visibility))
                for rid in chosen
            ]
            if times:
                _report(f"read {resource_type} {label}", times)
        unguarded = [_timed(partial(store.read, resource_type, rid)) for rid in seen]
        _report(f"read {resource_type} unguarded", unguarded)
    for resource_type, params in SEARCHES:
        query = parse_search(resource_type, params, store.registry)
        store.search(query, visibility=visibility)
        times = [_timed(partial(store.search, query, visibility=visibility)) for _ in range(20)]
        page = store.search(query, visibility=visibility)
        hits = page.total if page.total is not None and not page.matches else len(page.matches)
        shown = "&".join(f"{k}={v}" for k, v in params)
        _report(f"search {resource_type}?{shown[:40]} ({hits})", times)


if __name__ == "__main__":
    main()
