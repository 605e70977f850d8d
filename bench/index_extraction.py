"""How fast search-index rows are extracted from typical resources, on one core.

Every write extracts index rows, so this bounds the store's write rate. Plain member navigation
is walked over the JSON directly (`NavigationPath`) and everything else is evaluated with
fhirpathpy; ``fast=False`` evaluates every expression with fhirpathpy. Both paths are measured
on the same resources, alternating round by round so that other load on the machine falls on
both alike, and the rows are checked to be identical before anything is timed.

The script prints a cold figure (building the registry, and indexing a first resource each
way: fhirpathpy parses the expressions it needs on first use) and then, for an Observation, a
Patient and a mix of all 29 supported types (the `careweave.examples` resources with fresh ids,
in turn), throughput in resources per second and per-resource latency p50/p95/p99, from the
median round. Resource contents are sampled at run time from a seed that is printed, so a run
can be repeated.

    .venv/bin/python bench/index_extraction.py [--resources 3000] [--rounds 3] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from careweave.examples import all_examples
from careweave.fhir.index_values import extract_index_values
from careweave.fhir.search_parameters import SearchParameterRegistry

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

OBSERVATION_CODES = [
    ("27113001", "Body weight", "kg", "kg", (40.0, 120.0)),
    ("271649006", "Systolic blood pressure", "mmHg", "mm[Hg]", (90.0, 190.0)),
    ("364075005", "Heart rate", "beats/min", "/min", (45.0, 130.0)),
    ("1104441000000107", "Serum HbA1c level", "mmol/mol", "mmol/mol", (30.0, 110.0)),
]
FAMILY_NAMES = ["Thompson", "Patel", "O'Brien", "Nowak", "Okafor", "Jones", "Khan", "Evans"]
GIVEN_NAMES = ["Margaret", "Arthur", "Siobhan", "Wojciech", "Chidi", "Eleri", "Priya", "Tom"]
POSTCODES = ["LS6 2AB", "LS11 5QT", "BD7 1DP", "HX1 2RA", "WF1 3JS"]


def observation(rng: random.Random, index: int) -> dict[str, Any]:
    code, display, unit, ucum, (low, high) = rng.choice(OBSERVATION_CODES)
    day = rng.randint(1, 28)
    effective = f"2024-03-{day:02d}T{rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}:00Z"
    return {
        "resourceType": "Observation",
        "id": f"obs-{index}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/pat-{rng.randint(1, 5000)}"},
        "encounter": {"reference": f"Encounter/enc-{rng.randint(1, 20000)}"},
        "effectiveDateTime": effective,
        "issued": f"2024-03-{day:02d}T18:00:00Z",
        "performer": [{"reference": f"Practitioner/prac-{rng.randint(1, 50)}"}],
        "valueQuantity": {
            "value": round(rng.uniform(low, high), 1),
            "unit": unit,
            "system": UCUM,
            "code": ucum,
        },
    }


def patient(rng: random.Random, index: int) -> dict[str, Any]:
    nhs_number = "9990000018"
    return {
        "resourceType": "Patient",
        "id": f"pat-{index}",
        "meta": {"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]},
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs_number}],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": rng.choice(FAMILY_NAMES),
                "given": [rng.choice(GIVEN_NAMES)],
                "prefix": [rng.choice(["Mr", "Mrs", "Ms", "Dr"])],
            }
        ],
        "telecom": [
            {"system": "phone", "value": f"0113 496 {rng.randint(0, 9999):04d}", "use": "home"},
            {"system": "email", "value": f"person{index}@example.org"},
        ],
        "gender": rng.choice(["female", "male"]),
        "birthDate": f"19{rng.randint(25, 60)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "address": [
            {
                "use": "home",
                "line": [f"{rng.randint(1, 200)} Acacia Avenue"],
                "city": "Leeds",
                "postalCode": rng.choice(POSTCODES),
                "country": "GB",
            }
        ],
        "generalPractitioner": [{"reference": "Organization/org-1"}],
        "managingOrganization": {"reference": "Organization/org-1"},
    }


def mixed(rng: random.Random, index: int) -> dict[str, Any]:
    """One of the 29 example resources, in turn, with a fresh id."""
    examples = all_examples()
    resource = examples[index % len(examples)]
    resource["id"] = f"{resource['id']}-{index}-{rng.randrange(10**6)}"
    return resource


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def timed_round(
    resources: list[dict[str, Any]], registry: SearchParameterRegistry, *, fast: bool
) -> tuple[float, list[float]]:
    """Index every resource once: resources per second, and the sorted latencies."""
    latencies: list[float] = []
    started = time.perf_counter()
    for resource in resources:
        before = time.perf_counter()
        extract_index_values(resource, registry, fast=fast)
        latencies.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return len(resources) / elapsed, latencies


def report(name: str, path: str, rate: float, latencies: list[float]) -> None:
    print(
        f"{name:<12} {path:<11} {rate:8.0f} resources/s   "
        f"p50 {percentile(latencies, 0.50) * 1e6:6.0f} us   "
        f"p95 {percentile(latencies, 0.95) * 1e6:6.0f} us   "
        f"p99 {percentile(latencies, 0.99) * 1e6:6.0f} us   "
        f"mean {statistics.fmean(latencies) * 1e6:6.0f} us"
    )


def measure(
    name: str,
    make: Callable[[random.Random, int], dict[str, Any]],
    registry: SearchParameterRegistry,
    rng: random.Random,
    count: int,
    rounds: int,
) -> None:
    resources = [make(rng, index) for index in range(count)]
    for resource in resources:  # warm both paths, and check they agree
        fast = extract_index_values(resource, registry)
        reference = extract_index_values(resource, registry, fast=False)
        if fast != reference:
            raise SystemExit(f"{name} {resource['id']}: the two paths give different rows")
    results: dict[bool, list[tuple[float, list[float]]]] = {True: [], False: []}
    for _ in range(rounds):
        for fast_path in (True, False):
            results[fast_path].append(timed_round(resources, registry, fast=fast_path))
    rates: dict[bool, float] = {}
    for fast_path, label in ((True, "walk"), (False, "fhirpathpy")):
        by_rate = sorted(results[fast_path], key=lambda result: result[0])
        rate, latencies = by_rate[len(by_rate) // 2]
        rates[fast_path] = rate
        report(name, label, rate, latencies)
    print(f"{name:<12} {'speed-up':<11} {rates[True] / rates[False]:8.1f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resources", type=int, default=3000, help="resources per type")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per path")
    parser.add_argument("--seed", type=int, default=None, help="default: sampled at run time")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    print(
        f"seed {seed}, {args.resources} resources per type, {args.rounds} rounds per path "
        "(median shown), one process, one thread"
    )

    started = time.perf_counter()
    registry = SearchParameterRegistry.load()
    loaded = time.perf_counter()
    extract_index_values(observation(rng, 0), registry)
    first = time.perf_counter()
    extract_index_values(observation(rng, 0), registry, fast=False)
    first_reference = time.perf_counter()
    print(
        f"cold: load registry {(loaded - started) * 1e3:.0f} ms (after import), "
        f"first Observation {(first - loaded) * 1e3:.1f} ms walking, "
        f"{(first_reference - first) * 1e3:.0f} ms with fhirpathpy (parsing its expressions)"
    )
    measure("Observation", observation, registry, rng, args.resources, args.rounds)
    measure("Patient", patient, registry, rng, args.resources, args.rounds)
    measure("29-type mix", mixed, registry, rng, args.resources, args.rounds)


if __name__ == "__main__":
    main()
