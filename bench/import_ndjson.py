"""Benchmark `careweave import`: bulk NDJSON import into SQLite and PostgreSQL.

    python -m bench.import_ndjson [--resources 100000] [--database sqlite|postgresql|both]
        [--workers 1,2] [--batch-size 2000] [--seed 20261123] [--place-people N]
        [--postgres-url URL] [--profile]

First writes a synthetic place as one NDJSON file per resource type into a temporary folder:
by default this module's own population (N/5000 Organizations, N/250 Practitioners, then
Patients, each with two Conditions and 12-35 Observations; every reference crosses files);
with ``--place-people N``, the place generator `careweave.synth.generate.generate_place`
instead. Then, for each database and each ``--workers`` value, on a fresh database (SQLite file
or throwaway PostgreSQL schema, migrated as `careweave db upgrade` would), it imports the folder
twice in a child process: the first import writes everything, the second finds everything
unchanged (what re-running after a failure costs). Per run it prints resources/s over the whole
import (worker start-up included), the ANALYZE that follows on PostgreSQL, batches, the peak
resident memory of the importing process and of its largest worker, and where the CPU went: CPU
microseconds per resource in the importing process, in its workers, and in the PostgreSQL
server processes of its connections (read from /proc: the server must run on the same machine).
Rates move with whatever else the machine runs; the CPU figures much less, so they are the ones
to compare between changes.

Each import runs in its own process so that its peak memory is its own. Nothing is asserted:
the figures depend on the machine (2 shared cores when this was written) and on what else runs.
``--profile`` adds a cProfile of the importing process (not the workers) for workers=1.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from sqlalchemy import event

from bench.dataset import (
    CODES,
    DIASTOLIC,
    HEART_RATE,
    OCCASIONAL,
    SYSTOLIC,
    observation,
    organization,
    organization_id,
    patient,
    practitioner,
    practitioner_id,
    synthetic_nhs_numbers,
)
from bench.fhir_store import DEFAULT_POSTGRES_URL, postgres_database, sqlite_database

if TYPE_CHECKING:
    from careweave.store.bulk_import import ImportPlan
    from careweave.store.repository import FhirStore

ROOT = Path(__file__).resolve().parent.parent
SNOMED = "http://snomed.info/sct"
CONDITIONS = (
    ("38341003", "Hypertensive disorder"),
    ("44054006", "Type 2 diabetes mellitus"),
    ("13645005", "Chronic obstructive lung disease"),
    ("49436004", "Atrial fibrillation"),
    ("84114007", "Heart failure"),
    ("709044004", "Chronic kidney disease"),
    ("396275006", "Osteoarthritis"),
    ("52448006", "Dementia"),
    ("35489007", "Depressive disorder"),
)
_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


def condition(cid: str, subject: str, recorder: str, rng: random.Random) -> dict[str, Any]:
    code, display = rng.choice(CONDITIONS)
    onset = datetime(2000, 1, 1) + timedelta(days=rng.randrange(24 * 365))
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"system": _CONDITION_CLINICAL, "code": "active"}]},
        "category": [{"coding": [{"system": _CONDITION_CATEGORY, "code": "problem-list-item"}]}],
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
        "subject": {"reference": subject},
        "onsetDateTime": onset.strftime("%Y-%m-%d"),
        "recorder": {"reference": recorder},
    }


def write_population(folder: Path, resources: int, seed: int) -> dict[str, int]:
    """Exactly `resources` resources as <Type>.ndjson files in `folder`; returns counts by type.

    Streams: one patient's resources are written before the next patient is drawn.
    """
    rng = random.Random(seed)
    organizations = max(1, resources // 5000)
    practitioners = max(1, resources // 250)
    counts = {"Organization": organizations, "Practitioner": practitioners}
    counts |= {"Patient": 0, "Condition": 0, "Observation": 0}
    budget = resources - organizations - practitioners
    with ExitStack() as files:

        def open_file(rtype: str) -> IO[bytes]:
            return files.enter_context((folder / f"{rtype}.ndjson").open("wb"))

        out = {rtype: open_file(rtype) for rtype in counts}
        for i in range(organizations):
            out["Organization"].write(orjson.dumps(organization(i, rng)) + b"\n")
        for i in range(practitioners):
            out["Practitioner"].write(orjson.dumps(practitioner(i, rng)) + b"\n")
        nhs_numbers = iter(synthetic_nhs_numbers(rng, budget // 10 + 1))
        person = 0
        while budget > 0:
            pid = f"pat-{person:07d}"
            subject = f"Patient/{pid}"
            org = f"Organization/{organization_id(rng.randrange(organizations))}"
            gp = f"Practitioner/{practitioner_id(rng.randrange(practitioners))}"
            body = {"id": pid, **patient(next(nhs_numbers), rng, org)}
            out["Patient"].write(orjson.dumps(body) + b"\n")
            budget -= 1
            counts["Patient"] += 1
            for k in range(min(2, budget)):
                body = condition(f"cond-{person:07d}-{k}", subject, gp, rng)
                out["Condition"].write(orjson.dumps(body) + b"\n")
                budget -= 1
                counts["Condition"] += 1
            visits = []
            for _ in range(rng.randint(3, 7)):
                when = datetime(2019, 1, 1) + timedelta(minutes=rng.randrange(7 * 525_600))
                kinds = [
                    SYSTOLIC,
                    DIASTOLIC,
                    HEART_RATE,
                    *rng.sample(OCCASIONAL, rng.randint(1, 3)),
                ]
                visits += [(kind, when) for kind in kinds]
            for k, (kind, when) in enumerate(visits[:budget]):
                body = {"id": f"obs-{person:07d}-{k}", **observation(kind, when, rng, subject, gp)}
                out["Observation"].write(orjson.dumps(body) + b"\n")
                budget -= 1
                counts["Observation"] += 1
            person += 1
    assert sum(counts.values()) == resources and CODES
    return counts


def write_place(folder: Path, people: int, seed: int) -> dict[str, int]:
    """The place generator's output (careweave.synth.generate), counted by file."""
    try:
        from careweave.synth.generate import generate_place
    except ImportError as exc:
        raise SystemExit(f"--place-people needs careweave.synth.generate: {exc}") from None
    generate_place(people=people, seed=seed, out=folder)
    return {
        p.stem: sum(1 for line in p.open("rb") if line.strip())
        for p in sorted(folder.glob("*.ndjson"))
    }


# -- one import, in a child process ------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process, from /proc (Linux); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DescendantPeaks:
    """Peak resident memory (VmHWM) and CPU time of every process descended from this one,
    sampled from /proc every `interval` seconds (pool workers are children of the fork server,
    not of this process, so RUSAGE_CHILDREN never sees them). The CPU time of a process is as
    last sampled, so up to `interval` of a worker's last moments may be missed. Linux only;
    elsewhere it reports nothing."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peaks_kb: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DescendantPeaks:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(stat.parent.name)] = int(fields[1])
        mine, grew = {os.getpid()}, True
        while grew:
            found = {pid for pid, parent in parents.items() if parent in mine} - mine
            mine |= found
            grew = bool(found)
        for pid in mine - {os.getpid()}:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            used = cpu_seconds(pid)
            if used is not None:
                self.cpu[pid] = max(used, self.cpu.get(pid, 0.0))
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    kb = int(line.split()[1])
                    self.peaks_kb[pid] = max(kb, self.peaks_kb.get(pid, 0))

    @property
    def largest_mb(self) -> float:
        return max(self.peaks_kb.values(), default=0) / 1024

    def total_cpu(self) -> float:
        self.sample()
        return sum(self.cpu.values())


def run_one(url: str, folder: Path, workers: int, batch_size: int, profile: bool) -> None:
    """Import `folder` into the (migrated) database at `url` twice; print JSON figures."""
    from careweave.store.bulk_import import plan_import
    from careweave.store.database import open_database
    from careweave.store.repository import FhirStore

    store = FhirStore(open_database(url))
    backends: set[int] = set()
    if store.database.dialect == "postgresql":  # same machine: its server processes' CPU

        def remember(connection: Any, _: Any) -> None:
            backends.add(connection.info.backend_pid)

        event.listen(store.database.writer, "connect", remember)
    plan = plan_import(folder)
    figures: dict[str, Any] = {}
    profiler = cProfile.Profile() if profile else None
    peaks = DescendantPeaks()

    def database_cpu() -> float:
        return sum(cpu_seconds(pid) or 0.0 for pid in backends)

    with peaks:
        for label in ("first", "again"):
            before = (time.process_time(), peaks.total_cpu(), database_cpu())
            figures[label] = import_once(store, plan, workers, batch_size, profiler, label)
            after = (time.process_time(), peaks.total_cpu(), database_cpu())
            spent = [b - a for a, b in zip(before, after, strict=True)]
            figures[label]["cpu_s"] = dict(
                zip(("parent", "workers", "database"), spent, strict=True)
            )
    store.database.dispose()
    figures["peak_parent_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["peak_worker_mb"] = peaks.largest_mb
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(25)
        figures["profile"] = text.getvalue()
    print(orjson.dumps(figures).decode())


def import_once(
    store: FhirStore,
    plan: ImportPlan,
    workers: int,
    batch_size: int,
    profiler: cProfile.Profile | None,
    label: str,
) -> dict[str, Any]:
    from careweave.store.bulk_import import import_ndjson

    profiled = profiler is not None and label == "first"
    started = time.perf_counter()
    if profiled and profiler is not None:
        profiler.enable()
    report = import_ndjson(store, plan, batch_size=batch_size, workers=workers)
    if profiled and profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - started
    return {
        "resources": report.resources,
        "created": report.created,
        "unchanged": report.unchanged,
        "batches": report.batches,
        "import_s": report.seconds,
        "wall_s": wall,  # with the ANALYZE that follows a large import on PostgreSQL
    }


def measure(url: str, folder: Path, workers: int, batch_size: int, profile: bool) -> dict[str, Any]:
    from careweave.store.database import open_database
    from careweave.store.migrate import upgrade

    database = open_database(url)
    upgrade(database)
    database.dispose()
    command = [sys.executable, "-m", "bench.import_ndjson", "--one", url, str(folder)]
    command += ["--workers", str(workers), "--batch-size", str(batch_size)]
    command += ["--profile"] if profile else []
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the import failed:\n{done.stderr}")
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


@contextmanager
def database_for(kind: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        fresh = Path(tempfile.mkdtemp(prefix="sqlite-", dir=workdir))
        with sqlite_database(fresh, keep=False) as (url, _):
            yield url
    else:
        with postgres_database(postgres_url, keep=False) as (url, _):
            yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to run")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--place-people", type=int, default=None)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("URL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        run_one(args.one[0], Path(args.one[1]), int(args.workers), args.batch_size, args.profile)
        return 0
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    worker_counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="careweave-import-bench-") as tmp:
        folder = Path(tmp) / "place"
        folder.mkdir()
        started = time.perf_counter()
        if args.place_people:
            counts = write_place(folder, args.place_people, args.seed)
        else:
            counts = write_population(folder, args.resources, args.seed)
        size = sum(p.stat().st_size for p in folder.glob("*.ndjson"))
        print(
            f"input: {sum(counts.values()):,} resources, {size / 2**20:.1f} MiB of NDJSON "
            f"({', '.join(f'{t} {n:,}' for t, n in counts.items())}), written in "
            f"{time.perf_counter() - started:.1f} s; batch size {args.batch_size}"
        )
        print(
            "resources/s over the whole import (first: all new; again: all unchanged); CPU "
            "microseconds per resource (first import) in the importing process, its workers and "
            "the PostgreSQL server processes of its connections (ANALYZE included)"
        )
        header = (
            f"{'database':<11}{'workers':>8}{'resources/s':>13}{'again/s':>10}{'ANALYZE s':>11}"
            f"{'batches':>9}{'parent MB':>11}{'worker MB':>11}"
            f"{'parent us':>11}{'workers us':>12}{'server us':>11}"
        )
        print(header)
        for kind in databases:
            for workers in worker_counts:
                with database_for(kind, Path(tmp), args.postgres_url) as url:
                    profile = args.profile and workers == 1
                    result = measure(url, folder, workers, args.batch_size, profile)
                first, again = result["first"], result["again"]
                rate = first["resources"] / first["import_s"]
                print(
                    f"{kind:<11}{workers:>8}{rate:>13,.0f}"
                    f"{again['resources'] / again['import_s']:>10,.0f}"
                    f"{first['wall_s'] - first['import_s']:>11.1f}{first['batches']:>9}"
                    f"{result['peak_parent_mb']:>11.0f}{result['peak_worker_mb']:>11.0f}"
                    + "".join(
                        f"{first['cpu_s'][part] / first['resources'] * 1e6:>{width}.0f}"
                        for part, width in (("parent", 11), ("workers", 12), ("database", 11))
                    ),
                    flush=True,
                )
                if again["unchanged"] != again["resources"] or first["created"] != sum(
                    counts.values()
                ):
                    print(f"  unexpected counts: {first} / {again}")
                if "profile" in result:
                    print(result["profile"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
