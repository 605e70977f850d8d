"""Time composite searches on an imported synthetic place, beside the searches they replace.

    careweave generate --people 20000 --seed 7 --out /tmp/place
    careweave import /tmp/place --database-url URL
    python -m bench.composite_search URL [--runs 30]

A composite pairs values found in one element: `component-code-value-quantity=...8462-4$gt90`
finds blood pressure panels whose diastolic reading is over 90. The same question asked with
the two plain parameters (`component-code=...8462-4&component-value-quantity=gt90`) is cheaper
but wrong: it matches a panel whose systolic reading is over 90, which is nearly every panel.
For each search the script prints its matches and, warm, the p50 and p99 of a first page of 50
without a total and of a count (`_summary=count`), platform-wide (no per-user access
conditions; `bench.access_checks` measures those). Prints figures only.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import orjson

from careweave.fhir.search_query import parse_search
from careweave.store.database import open_database
from careweave.store.repository import FhirStore

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
HBA1C = f"{SNOMED}|999791000000106"
SEARCHES: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "systolic > 140 (composite)",
        "Observation",
        [("component-code-value-quantity", f"{LOINC}|8480-6$gt140")],
    ),
    (
        "systolic > 140 (plain, unpaired)",
        "Observation",
        [("component-code", f"{LOINC}|8480-6"), ("component-value-quantity", "gt140")],
    ),
    (
        "diastolic > 90 (composite)",
        "Observation",
        [("component-code-value-quantity", f"{LOINC}|8462-4$gt90")],
    ),
    (
        "diastolic > 90 (plain, unpaired)",
        "Observation",
        [("component-code", f"{LOINC}|8462-4"), ("component-value-quantity", "gt90")],
    ),
    ("HbA1c > 58 (composite)", "Observation", [("code-value-quantity", f"{HBA1C}$gt58")]),
    ("HbA1c > 58 (plain)", "Observation", [("code", HBA1C), ("value-quantity", "gt58")]),
    (
        "systolic > 140 (combo)",
        "Observation",
        [("combo-code-value-quantity", f"{LOINC}|8480-6$gt140")],
    ),
    (
        "people with systolic > 160",
        "Patient",
        [("_has:Observation:subject:component-code-value-quantity", f"{LOINC}|8480-6$gt160")],
    ),
]


def _timed(call: Callable[[], object], runs: int) -> list[float]:
    call()
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(times):8.2f} ms  p99 {p99:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    store = FhirStore(open_database(args.url))
    panel = store.search(
        parse_search("Observation", [("component-code", f"{LOINC}|8480-6")], store.registry)
    ).matches[0]
    person = orjson.loads(panel[2])["subject"]["reference"]
    searches = [
        *SEARCHES,
        (
            f"{person}'s systolic > 140",
            "Observation",
            [("subject", person), ("component-code-value-quantity", f"{LOINC}|8480-6$gt140")],
        ),
    ]
    print(f"{'search':36} {'matches':>8}  first page of 50 (no total)       count")
    for label, resource_type, params in searches:
        page_query = parse_search(
            resource_type, [*params, ("_count", "50"), ("_total", "none")], store.registry
        )
        count_query = parse_search(resource_type, [*params, ("_summary", "count")], store.registry)
        matches = store.search(count_query).total
        page = _timed(partial(store.search, page_query), args.runs)
        count = _timed(partial(store.search, count_query), args.runs)
        print(f"{label:36} {matches:>8}  {_summary(page)}  {_summary(count)}")


if __name__ == "__main__":
    main()
