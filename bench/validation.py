"""How long validating one resource takes: our one-pass check, and the library's pydantic models.

Every create, update, Bundle entry and bulk-imported line is validated, so this bounds the
write rate. `validate_resource` walks the JSON once, driven by the fhir.resources model
metadata; `library_issues` runs fhir.resources' own ``model_validate``, the reference the tests
hold the walk to (and what validation ran, on top of a walk, before). Both are measured on the
same resources, alternating round by round so that other load on the machine falls on both
alike; before anything is timed, every resource is checked to be valid both ways.

The resources are the 29 `careweave.examples` (one of each supported type) with fresh ids and
dates sampled at run time from a seed that is printed, so a run can be repeated. The script
prints a cold figure (the first resource of each type: both sides build their per-type
machinery on first use) and then, from the median round, throughput in resources per second on
one core and per-resource latency p50/p95/p99.

    .venv/bin/python bench/validation.py [--resources 3000] [--rounds 5] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from careweave.examples import all_examples
from careweave.fhir.validation import findings, library_issues, validate_resource


def resources(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """`count` examples, the 29 types in turn, each with a fresh id and a sampled date."""
    examples = all_examples()
    made: list[dict[str, Any]] = []
    for index in range(count):
        resource = examples[index % len(examples)]
        resource = {**resource, "id": f"{resource['id']}-{index}-{rng.randrange(10**6)}"}
        resource["meta"] = {
            **resource.get("meta", {}),
            "lastUpdated": f"20{rng.randint(19, 25)}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
        }
        made.append(resource)
    return made


def cold(function: str) -> str:
    """Milliseconds to validate one example of each type in a new interpreter, after imports."""
    code = (
        "import time\n"
        "from careweave.examples import all_examples\n"
        f"from careweave.fhir.validation import {function} as validate\n"
        "examples = all_examples()\n"
        "started = time.perf_counter()\n"
        "for resource in examples:\n"
        "    validate(resource)\n"
        "print(round((time.perf_counter() - started) * 1e3))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return run.stdout.strip()


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def timed_round(
    batch: list[dict[str, Any]], validate: Callable[[dict[str, Any]], object]
) -> tuple[float, list[float]]:
    """Validate every resource once: resources per second, and the sorted latencies."""
    latencies: list[float] = []
    started = time.perf_counter()
    for resource in batch:
        before = time.perf_counter()
        validate(resource)
        latencies.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return len(batch) / elapsed, latencies


def report(label: str, rate: float, latencies: list[float]) -> None:
    print(
        f"{label:<26} {rate:8.0f} resources/s   "
        f"p50 {percentile(latencies, 0.50) * 1e6:6.0f} us   "
        f"p95 {percentile(latencies, 0.95) * 1e6:6.0f} us   "
        f"p99 {percentile(latencies, 0.99) * 1e6:6.0f} us   "
        f"mean {statistics.fmean(latencies) * 1e6:6.0f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resources", type=int, default=3000, help="resources per round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per validator")
    parser.add_argument("--seed", type=int, default=None, help="default: sampled at run time")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    print(
        f"seed {seed}, {args.resources} resources per round (the 29 example types in turn), "
        f"{args.rounds} rounds per validator (median shown), one process, one thread"
    )
    batch = resources(rng, args.resources)
    print(
        f"cold, in a fresh process: the first resource of each of the 29 types "
        f"{cold('validate_resource')} ms walking, {cold('library_issues')} ms with the "
        "library's models (both import the library's model modules on first use)"
    )

    for resource in batch:
        if findings(resource) or library_issues(resource):
            raise SystemExit(f"{resource['resourceType']}/{resource['id']} is not valid both ways")

    validators: dict[str, Callable[[dict[str, Any]], object]] = {
        "walk (validate_resource)": validate_resource,
        "library (model_validate)": library_issues,
    }
    results: dict[str, list[tuple[float, list[float]]]] = {name: [] for name in validators}
    for _ in range(args.rounds):
        for name, validate in validators.items():
            results[name].append(timed_round(batch, validate))
    rates: dict[str, float] = {}
    for name, rounds in results.items():
        rate, latencies = sorted(rounds, key=lambda result: result[0])[len(rounds) // 2]
        rates[name] = rate
        report(name, rate, latencies)
    walk, library = rates.values()
    print(f"{'speed-up':<26} {walk / library:8.1f} x")


if __name__ == "__main__":
    main()
