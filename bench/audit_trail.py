"""Benchmark the audit trail: `AuditTrail.record` (group commit) and `verify_chain`.

    python -m bench.audit_trail [--database sqlite|postgresql|both] [--records 4000]
        [--threads 1,8] [--batch-sizes 1,10] [--postgres-url URL]

For each database (an SQLite file in a temporary directory, or a throwaway PostgreSQL schema
`bench_<random>` dropped at the end, as bench/fhir_store.py makes them; tables from the schema's
metadata), and for each number of threads and batch size (entries per `record` call), it records
`--records` entries split evenly between the threads, each thread calling `record` in a loop as
request handlers would, and prints entries/s, calls/s, and how many callers shared each commit
(group commit at work). Then it verifies the whole chain and prints rows/s. The chain grows
across runs, so later runs append to a longer log, as a live server does.

Nothing is asserted: the figures depend on the machine (2 shared cores when this was written),
its disk (every commit waits for it on SQLite) and what else runs.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event

from bench.fhir_store import DEFAULT_POSTGRES_URL, postgres_database, sqlite_database
from careweave.access.audit import AuditRecord, AuditTrail, verify_chain
from careweave.store.database import Database, open_database
from careweave.store.schema import metadata


def sample_record(thread: int, number: int) -> AuditRecord:
    """A typical entry: a GP reading one Observation of one of many people."""
    patient = f"p{(thread * 7919 + number) % 20000}"
    return AuditRecord(
        event="read",
        action="R",
        outcome="0",
        username=f"user{thread}.gp",
        display_name=f"Dr Bench User {thread}",
        role="gp",
        organisation_id="org-bench",
        practitioner_role_id=f"pr{thread}",
        patient_id=patient,
        entity=f"Observation/{patient}-o{number}",
        reason=None,
        break_glass=False,
        address="10.0.0.1",
        recorded=datetime.now(UTC),
    )


@contextmanager
def bench_database(kind: str, workdir: Path, postgres_url: str) -> Iterator[Database]:
    if kind == "sqlite":
        with sqlite_database(workdir, keep=False) as (url, _):
            database = open_database(url)
            metadata.create_all(database.writer)
            try:
                yield database
            finally:
                database.dispose()
        return
    with postgres_database(postgres_url, keep=False) as (url, _):
        database = open_database(url)
        metadata.create_all(database.writer)
        try:
            yield database
        finally:
            database.dispose()


def measure_record(
    database: Database, records: int, threads: int, batch_size: int
) -> tuple[float, int, int]:
    """(seconds, record calls, commits) for `records` entries from `threads` threads."""
    trail = AuditTrail(database)
    commits = [0]

    def count_commit(_conn: object) -> None:
        commits[0] += 1

    event.listen(database.writer, "commit", count_commit)
    calls_per_thread = max(1, records // (threads * batch_size))
    start = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def work(thread: int) -> None:
        start.wait()
        try:
            for call in range(calls_per_thread):
                trail.record(
                    [sample_record(thread, call * batch_size + i) for i in range(batch_size)]
                )
        except BaseException as error:
            failures.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    event.remove(database.writer, "commit", count_commit)
    if failures:
        raise failures[0]
    return elapsed, calls_per_thread * threads, commits[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--records", type=int, default=4000, help="entries per run")
    parser.add_argument("--threads", default="1,8", help="comma-separated thread counts")
    parser.add_argument("--batch-sizes", default="1,10", help="entries per record() call")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    thread_counts = [int(n) for n in args.threads.split(",")]
    batch_sizes = [int(n) for n in args.batch_sizes.split(",")]
    print(
        f"{'database':<11}{'threads':>8}{'batch':>7}{'entries/s':>11}{'calls/s':>10}"
        f"{'commits':>9}{'calls/commit':>14}"
    )
    with tempfile.TemporaryDirectory(prefix="careweave-audit-bench-") as tmp:
        for kind in kinds:
            with bench_database(kind, Path(tmp), args.postgres_url) as database:
                for threads in thread_counts:
                    for batch_size in batch_sizes:
                        seconds, calls, commits = measure_record(
                            database, args.records, threads, batch_size
                        )
                        print(
                            f"{kind:<11}{threads:>8}{batch_size:>7}"
                            f"{calls * batch_size / seconds:>11,.0f}{calls / seconds:>10,.0f}"
                            f"{commits:>9,}{calls / max(commits, 1):>14.1f}",
                            flush=True,
                        )
                began = time.perf_counter()
                report = verify_chain(database)
                seconds = time.perf_counter() - began
                state = "intact" if report.ok else f"{report.problem_count} problems"
                print(
                    f"{kind:<11}verify: {report.checked:,} entries in {seconds:.2f} s, "
                    f"{report.checked / seconds:,.0f} rows/s, chain {state}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
