"""Synthetic place generation: people/s, resources/s and peak memory for each population size.

    .venv/bin/python -m bench.generate_place --people 10000 100000 [--workers 1 2] [--seed S]

Each (people, workers) pair runs `generate_place` in a fresh Python process writing to a
temporary directory (deleted afterwards), so its peak memory is its own: `getrusage` maxrss of
that process (`parent`) and the largest of its worker processes (`workers`, with --workers > 1).
Flat memory means these stay the same as the population grows. The time includes building the
place and, for workers > 1, starting the pool. The seed is sampled at run time unless given, and
printed; the clinical record is whatever `careweave.synth.older_person` currently generates.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from careweave.synth.generate import generate_place


def _one(people: int, workers: int, seed: int) -> dict[str, float]:
    """Run one generation in this process and measure it (called in a fresh subprocess)."""
    out = Path(tempfile.mkdtemp(prefix="careweave-bench-"))
    try:
        started = time.perf_counter()
        summary = generate_place(people=people, seed=seed, out=out / "place", workers=workers)
        seconds = time.perf_counter() - started
        written = sum(path.stat().st_size for path in summary.files)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "people": people,
        "workers": workers,
        "seconds": seconds,
        "older_people": summary.older_people,
        "resources": summary.total_resources,
        "megabytes": written / 1e6,
        "parent_mib": own / 1024,  # Linux reports maxrss in KiB
        "workers_mib": children / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--seed", type=int, default=None, help="default: sampled at run time")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    if args.one:
        print(json.dumps(_one(args.people[0], args.workers[0], seed)))
        return 0
    print(f"seed {seed}; one fresh process per run; peak RSS = getrusage maxrss")
    header = (
        f"{'people':>9} {'workers':>7} {'seconds':>8} {'people/s':>9} {'65+':>7} "
        f"{'resources':>10} {'resources/s':>11} {'MB out':>7} {'peak MiB':>8} {'worker MiB':>10}"
    )
    print(header)
    for people in args.people:
        for workers in args.workers:
            completed = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.generate_place",
                    "--one",
                    "--people",
                    str(people),
                    "--workers",
                    str(workers),
                    "--seed",
                    str(seed),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            run = json.loads(completed.stdout.strip().splitlines()[-1])
            seconds = run["seconds"]
            print(
                f"{people:>9,} {workers:>7} {seconds:>8.1f} {people / seconds:>9,.0f} "
                f"{run['older_people']:>7,} {run['resources']:>10,} "
                f"{run['resources'] / seconds:>11,.0f} {run['megabytes']:>7.0f} "
                f"{run['parent_mib']:>8.0f} {run['workers_mib']:>10.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
