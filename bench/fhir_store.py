"""Benchmark the FHIR store end to end: import, read, vread, search and create over HTTP.

Run `python -m bench.fhir_store --help`; bench/README.md explains the method. For each database
the benchmark builds a synthetic population (bench/dataset.py), starts the real
`careweave serve` process on a free loopback port, imports the population as transaction
Bundles, restarts the server (so the first read pass is against a fresh process), then drives
reads, vreads, two searches and creates with an async load generator in this process. It prints
a table per database and writes every figure to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import itertools
import os
import platform
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.dataset import (
    CODES,
    FIRST_YEAR,
    LAST_YEAR,
    LOINC,
    NHS_NUMBER_SYSTEM,
    PlannedBundle,
    Population,
    generate,
    random_observation,
)
from bench.loadgen import (
    FHIR_JSON,
    Client,
    HttpxClient,
    Inspect,
    Measurement,
    RawClient,
    Request,
    Tally,
    drive,
    summarise,
)
from bench.server import (
    CpuUse,
    MemoryReport,
    ServerProcess,
    SourceSnapshot,
    check_snapshot,
    issue_token,
    migrate,
    snapshot_source,
)
from careweave.store.postgres_schemas import postgres_schema

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_POSTGRES_URL = (
    os.environ.get("CAREWEAVE_BENCH_POSTGRES_URL")
    or os.environ.get("CAREWEAVE_TEST_POSTGRES_URL")
    or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
AIMS = {
    "reads_per_s": 3000.0,
    "indexed_searches_per_s": 1000.0,
    "import_resources_per_s": 10000.0,
    "server_memory_mb": 500.0,
}
"""What the issue asks for on a 2-core machine with PostgreSQL."""

T = TypeVar("T")


# -- databases -----------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_database(workdir: Path, keep: bool) -> Iterator[tuple[str, Callable[[], int]]]:
    """An SQLite file in the run's temporary directory (kept with --keep-database)."""
    path = (Path(tempfile.mkdtemp(prefix="careweave-bench-")) if keep else workdir) / "bench.db"

    def size() -> int:
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))

    yield f"sqlite:///{path}", size


@contextlib.contextmanager
def postgres_database(base_url: str, keep: bool) -> Iterator[tuple[str, Callable[[], int]]]:
    """A throwaway schema `bench_<random>` in the given database, dropped at the end."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url)

    def size() -> int:
        with admin.connect() as conn:
            total = conn.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'm')"
                ),
                {"schema": schema},
            ).scalar_one()
        return int(total)

    try:
        with postgres_schema(base_url, schema, keep=keep) as (url, _):
            yield url, size
            if keep:
                print(f"kept PostgreSQL schema {schema}: {make_url(url).render_as_string()}")
    finally:
        admin.dispose()


def gather_statistics(url: str, mode: str) -> str:
    """ANALYZE the benchmark's own tables when a production database would have statistics.

    careweave itself never runs ANALYZE. On PostgreSQL, autovacuum gathers statistics soon after
    a bulk load in any normal deployment, so when this server has autovacuum off (as test
    servers often do) the `auto` mode runs ANALYZE on the benchmark's schema, as autovacuum
    would. SQLite gathers none unless told, so `auto` leaves it alone. Says what it did.
    """
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                if mode != "always":
                    return "none (SQLite gathers none by itself and careweave runs no ANALYZE)"
                conn.execute(text("ANALYZE"))
                return "ANALYZE run after the import (--analyze always)"
            autovacuum = conn.execute(text("SHOW autovacuum")).scalar_one()
            if mode == "never" or (mode == "auto" and autovacuum == "on"):
                return f"left to autovacuum (autovacuum={autovacuum}, --analyze {mode})"
            tables = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
            for table in tables:
                conn.execute(text(f'ANALYZE "{table}"'))
            return (
                f"ANALYZE run on the benchmark's tables after the import, as autovacuum would "
                f"in production (this server has autovacuum={autovacuum}; --analyze {mode})"
            )
    finally:
        engine.dispose()


# -- the population the server actually holds ------------------------------------------------


@dataclass
class Imported:
    """Server-assigned ids learned from the import responses, for sampling requests."""

    patients: list[tuple[str, str, tuple[tuple[str, int], ...]]] = field(default_factory=list)
    """(id, NHS number, (code, year) of each Observation)."""
    observations: list[str] = field(default_factory=list)
    resources: int = 0


def _location_id(entry: dict[str, Any]) -> str:
    """`Type/id/_history/n` -> id."""
    location: str = entry["response"]["location"]
    return location.split("/")[-3]


def _check_transaction_response(bundle: PlannedBundle, body: bytes, tally: Tally) -> bool:
    reply = orjson.loads(body)
    entries = reply.get("entry") or []
    if len(entries) != bundle.entries:
        tally.error("short response", f"{len(entries)} entries for {bundle.entries} sent")
        return False
    bad = [
        e["response"]["status"]
        for e in entries
        if e["response"]["status"][:3] not in {"200", "201"}
    ]
    if bad:
        tally.error("entry status", f"{len(bad)} entries answered {bad[0]}")
        return False
    return True


def _record_ids(bundle: PlannedBundle, body: bytes, imported: Imported) -> None:
    entries = orjson.loads(body)["entry"]
    for plan in bundle.patients:
        imported.patients.append(
            (_location_id(entries[plan.entry]), plan.nhs_number, plan.recorded)
        )
        imported.observations += [_location_id(entries[i]) for i in plan.observations]


async def import_population(
    client: Client, population: Population, concurrency: int, server: ServerProcess
) -> tuple[Measurement, Imported]:
    """POST every Bundle to the base URL: reference data first, then patients' records."""
    imported = Imported()
    tally = Tally()
    by_request: dict[int, PlannedBundle] = {}
    headers = (("content-type", FHIR_JSON),)
    total = population.composition.total
    started = time.perf_counter()
    next_report = [total // 10]

    def inspect(request: Request, _status: int, body: bytes, phase_tally: Tally) -> None:
        bundle = by_request[id(request)]
        if _check_transaction_response(bundle, body, phase_tally):
            imported.resources += bundle.entries
            _record_ids(bundle, body, imported)
        if imported.resources >= next_report[0]:
            next_report[0] += total // 10
            rate = imported.resources / (time.perf_counter() - started)
            print(f"    {imported.resources:,} of {total:,} ({rate:,.0f}/s so far)", flush=True)

    seconds = 0.0
    cpu = CpuUse(0.0, 0.0, 0.0)
    for bundles in (population.reference_bundles, population.patient_bundles):
        requests = [Request("POST", "", bundle.body, headers) for bundle in bundles]
        by_request.update({id(r): b for r, b in zip(requests, bundles, strict=True)})
        before = server.cpu_use()
        phase, elapsed = await drive(
            client, iter(requests), concurrency=concurrency, duration=None, inspect=inspect
        )
        cpu = cpu + (server.cpu_use() - before)
        seconds += elapsed
        tally.latencies += phase.latencies
        tally.errors.update(phase.errors)
        tally.error_examples += phase.error_examples[: 5 - len(tally.error_examples)]
    sizes = [b.entries for b in population.reference_bundles + population.patient_bundles]
    measurement = summarise(
        "import: transaction Bundles",
        tally,
        seconds=seconds,
        cpu=cpu,
        concurrency=concurrency,
        work=imported.resources,
        unit="resources",
        extra={
            "bundles": len(sizes),
            "entries_per_bundle_mean": sum(sizes) / len(sizes),
            "latency_is_per": "bundle",
        },
    )
    return measurement, imported


# -- query measurements ----------------------------------------------------------------------


def _search_matches(body: bytes) -> tuple[int, int]:
    entries = orjson.loads(body).get("entry") or []
    matches = sum(1 for e in entries if e.get("search", {}).get("mode") == "match")
    return matches, sum(1 for e in entries if e.get("search", {}).get("mode") == "include")


@dataclass
class SearchCheck:
    """Counts what searches returned, and makes a wrong answer an error (fast but wrong is
    not a result)."""

    expected: dict[int, int] = field(default_factory=dict)
    searches: int = 0
    matches: int = 0
    included: int = 0
    hits: int = 0

    def expect(self, request: Request, count: int) -> Request:
        self.expected[id(request)] = count
        return request

    def inspect(self, request: Request, _status: int, body: bytes, tally: Tally) -> None:
        matches, included = _search_matches(body)
        want = self.expected.pop(id(request))
        self.searches += 1
        self.matches += matches
        self.included += included
        self.hits += matches > 0
        wrong_include = "_include" in request.path and included != (1 if matches else 0)
        if matches != want or wrong_include:
            tally.error(
                "wrong result",
                f"{request.path}: {matches} matches, {included} included; expected {want}",
            )

    def extra(self) -> dict[str, Any]:
        n = max(self.searches, 1)
        return {
            "mean_matches": self.matches / n,
            "mean_included": self.included / n,
            "searches_with_matches": self.hits / n,
        }


class Queries:
    """The request mixes, sampled at run time from what the import really created."""

    def __init__(self, imported: Imported, practitioners: int, seed: int) -> None:
        self.imported = imported
        self.practitioners = practitioners
        self.rng = random.Random(seed)

    def cold_reads(self) -> Iterator[Request]:
        """Every patient once, in random order."""
        ids = [pid for pid, _, _ in self.imported.patients]
        self.rng.shuffle(ids)
        return (Request("GET", f"/Patient/{pid}") for pid in ids)

    def reads(self) -> Iterator[Request]:
        patients = self.imported.patients
        while True:
            yield Request("GET", f"/Patient/{self.rng.choice(patients)[0]}")

    def vreads(self) -> Iterator[Request]:
        observations = self.imported.observations
        while True:
            yield Request("GET", f"/Observation/{self.rng.choice(observations)}/_history/1")

    def identifier_searches(self, check: SearchCheck) -> Iterator[Request]:
        patients = self.imported.patients
        while True:
            _, nhs_number, _ = self.rng.choice(patients)
            query = urlencode({"identifier": f"{NHS_NUMBER_SYSTEM}|{nhs_number}"})
            yield check.expect(Request("GET", f"/Patient?{query}"), 1)

    def observation_searches(self, check: SearchCheck) -> Iterator[Request]:
        patients = self.imported.patients
        while True:
            pid, _, recorded = self.rng.choice(patients)
            code = self.rng.choice(CODES).code
            year = self.rng.randint(FIRST_YEAR, LAST_YEAR)
            query = urlencode(
                [
                    ("subject", f"Patient/{pid}"),
                    ("code", f"{LOINC}|{code}"),
                    ("date", f"ge{year}-01-01"),
                    ("date", f"lt{year + 1}-01-01"),
                    ("_include", "Observation:subject"),
                ]
            )
            want = min(sum(1 for c, y in recorded if c == code and y == year), 50)
            yield check.expect(Request("GET", f"/Observation?{query}"), want)

    def creates(self) -> Iterator[Request]:
        patients = self.imported.patients
        headers = (("content-type", FHIR_JSON),)
        while True:
            body = random_observation(
                self.rng, f"Patient/{self.rng.choice(patients)[0]}", self.practitioners
            )
            yield Request("POST", "/Observation", orjson.dumps(body), headers)


async def measure(
    name: str,
    client: Client,
    server: ServerProcess,
    requests: Iterator[Request],
    *,
    concurrency: int,
    duration: float | None,
    inspect: Inspect | None = None,
    extra: Callable[[], dict[str, Any]] | None = None,
) -> Measurement:
    before = server.cpu_use()
    tally, seconds = await drive(
        client, requests, concurrency=concurrency, duration=duration, inspect=inspect
    )
    result = summarise(
        name,
        tally,
        seconds=seconds,
        cpu=server.cpu_use() - before,
        concurrency=concurrency,
        extra=extra() if extra else None,
    )
    print(f"  {_row(result)}", flush=True)
    return result


async def query_passes(
    client: Client, server: ServerProcess, queries: Queries, args: argparse.Namespace
) -> list[Measurement]:
    c, d = args.concurrency, args.duration
    results = [
        await measure(
            "read Patient/id (cold: new server, each patient once)",
            client,
            server,
            queries.cold_reads(),
            concurrency=c,
            duration=None,
        ),
        await measure(
            "read Patient/id (warm)", client, server, queries.reads(), concurrency=c, duration=d
        ),
        await measure(
            "vread Observation/id/_history/1",
            client,
            server,
            queries.vreads(),
            concurrency=c,
            duration=d,
        ),
    ]
    by_identifier = SearchCheck()
    results.append(
        await measure(
            "search Patient?identifier=<NHS number>",
            client,
            server,
            queries.identifier_searches(by_identifier),
            concurrency=c,
            duration=d,
            inspect=by_identifier.inspect,
            extra=by_identifier.extra,
        )
    )
    by_subject = SearchCheck()
    results.append(
        await measure(
            "search Observation?subject&code&date&_include",
            client,
            server,
            queries.observation_searches(by_subject),
            concurrency=c,
            duration=d,
            inspect=by_subject.inspect,
            extra=by_subject.extra,
        )
    )
    results.append(
        await measure(
            "create Observation (POST)",
            client,
            server,
            queries.creates(),
            concurrency=c,
            duration=d,
        )
    )
    results.append(
        await measure(
            "GET / (floor: no database, no thread pool)",
            client,
            server,
            itertools.repeat(Request("GET", "/", absolute=True)),
            concurrency=c,
            duration=d,
        )
    )
    return results


# -- one database, start to finish -----------------------------------------------------------


def make_client(
    kind: str, server: ServerProcess, connections: int, timeout: float, token: str
) -> Client:
    """A load generator's HTTP client; every request carries `token`."""
    headers = (("authorization", f"Bearer {token}"),)
    if kind == "httpx":
        return HttpxClient(server.base_url, connections, timeout, headers)
    parts = urlsplit(server.base_url)
    assert parts.hostname is not None and parts.port is not None
    return RawClient(parts.hostname, parts.port, parts.path, timeout, headers)


@dataclass
class DatabaseResult:
    database: str
    import_: Measurement | None = None
    queries: list[Measurement] = field(default_factory=list)
    memory: dict[str, MemoryReport] = field(default_factory=dict)
    database_bytes: int = 0
    statistics: str = ""
    log: str = ""
    failure: str | None = None
    cpu_by_process: dict[int, float] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        measured = ([self.import_] if self.import_ else []) + self.queries
        return sum(m.errors for m in measured) + (1 if self.failure else 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "import": dataclasses.asdict(self.import_) if self.import_ else None,
            "queries": [dataclasses.asdict(m) for m in self.queries],
            "memory": {
                phase: {
                    "peak_mb": report.peak_mb,
                    "peak_rss_sum_mb": report.peak_rss_sum_mb,
                    "peak_anon_sum_mb": report.peak_anon_sum_mb,
                    "vmhwm_mb_by_pid": report.peak_hwm_mb,
                    "samples": report.samples,
                }
                for phase, report in self.memory.items()
            },
            "database_bytes": self.database_bytes,
            "planner_statistics": self.statistics,
            "server_cpu_seconds_by_process": self.cpu_by_process,
            "server_log": self.log,
            "failure": self.failure,
        }


async def bench_database(
    database: str,
    url: str,
    size: Callable[[], int],
    population: Population,
    args: argparse.Namespace,
    workdir: Path,
    snapshot: SourceSnapshot,
) -> DatabaseResult:
    result = DatabaseResult(database)
    log_path = workdir / f"server-{database}.log"
    with log_path.open("ab") as log:
        migrate(url, log, snapshot)
        token = issue_token(url, log, snapshot)

    server = ServerProcess(url, args.workers, log_path, snapshot)
    try:
        server.start()
        print(f"  importing {population.composition.total:,} resources ...", flush=True)
        client = make_client(args.client, server, args.import_concurrency, 900, token)
        try:
            result.import_, imported = await import_population(
                client, population, args.import_concurrency, server
            )
        finally:
            await client.close()
        print(f"  {_row(result.import_)}", flush=True)
    finally:
        memory = server.stop()
        if memory:
            result.memory["import"] = memory
    if result.import_.errors or not imported.patients:
        result.failure = "the import failed, so nothing else was measured"
        result.log = server.log_tail()
        return result

    result.database_bytes = size()
    result.statistics = gather_statistics(url, args.analyze)
    print(f"  planner statistics: {result.statistics}", flush=True)
    queries = Queries(imported, population.composition.practitioners, args.seed + 1)
    server = ServerProcess(url, args.workers, log_path, snapshot)
    try:
        server.start()  # a fresh process: the first read pass is cold for the server
        client = make_client(args.client, server, args.concurrency, 60, token)
        try:
            result.queries = await query_passes(client, server, queries, args)
            result.cpu_by_process = server.cpu_by_process()
            spread = ", ".join(f"{seconds:.1f}" for seconds in result.cpu_by_process.values())
            label = "server CPU seconds by process (start-up and query passes)"
            print(f"  {label}: {spread}", flush=True)
        finally:
            await client.close()
    finally:
        memory = server.stop()
        if memory:
            result.memory["queries"] = memory
    if result.errors:
        result.log = server.log_tail()
    return result


# -- output ----------------------------------------------------------------------------------

_HEADER = (
    f"{'measurement':<54}{'count':>8}{'errors':>7}{'rate':>17}"
    f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'gen CPU':>8}{'srv CPU':>8}{'oth CPU':>8}"
    f"{'srv ms/op':>10}"
)


def _row(m: Measurement) -> str:
    unit = "res/s" if m.unit == "resources" else "req/s"
    errors = f"{m.errors}!" if m.errors else "0"
    return (
        f"{m.name:<54}{m.count:>8}{errors:>7}{m.throughput:>11,.0f} {unit}"
        f"{m.p50_ms:>9.1f}{m.p95_ms:>9.1f}{m.p99_ms:>9.1f}"
        f"{m.generator_cpu:>8.2f}{m.server_cpu:>8.2f}{m.other_cpu:>8.2f}"
        f"{m.server_ms_per_op:>10.2f}"
    )


def _aims(result: DatabaseResult) -> list[str]:
    by_name = {m.name: m for m in result.queries}
    searches = [m for n, m in by_name.items() if n.startswith("search")]
    memory = max((r.peak_mb for r in result.memory.values()), default=0.0)
    checks = [
        (
            "import resources/s",
            result.import_.throughput if result.import_ else 0.0,
            AIMS["import_resources_per_s"],
            True,
        ),
        (
            "warm reads/s",
            by_name["read Patient/id (warm)"].throughput if by_name else 0.0,
            AIMS["reads_per_s"],
            True,
        ),
        (
            "indexed searches/s (slowest)",
            min((m.throughput for m in searches), default=0.0),
            AIMS["indexed_searches_per_s"],
            True,
        ),
        ("server peak memory MB", memory, AIMS["server_memory_mb"], False),
    ]
    lines = []
    for label, value, aim, higher in checks:
        met = value >= aim if higher else value < aim
        sign = ">=" if higher else "<"
        verdict = "met" if met else "NOT met"
        lines.append(f"    {label:<30}{value:>10,.0f}   aim {sign} {aim:,.0f}   {verdict}")
    return lines


def report(result: DatabaseResult, population: Population, args: argparse.Namespace) -> str:
    comp = population.composition
    lines = [
        "",
        f"== {result.database}: {comp.total:,} resources ({comp.organizations:,} Organization, "
        f"{comp.practitioners:,} Practitioner, {comp.patients:,} Patient, "
        f"{comp.observations:,} Observation) ==",
        f"server: careweave serve --workers {args.workers}; load: {args.client}, "
        f"{args.concurrency} concurrent ({args.import_concurrency} for the import), "
        f"{args.duration:g}s per timed pass; {os.cpu_count()} CPUs shared by server and load "
        "generator",
        _HEADER,
    ]
    measured = ([result.import_] if result.import_ else []) + result.queries
    lines += [_row(m) for m in measured]
    for m in measured:
        if "mean_matches" in m.extra:
            lines.append(
                f"  {m.name}: {m.extra['mean_matches']:.2f} matches per search "
                f"({m.extra['searches_with_matches']:.0%} non-empty), "
                f"{m.extra['mean_included']:.2f} included"
            )
    for phase, memory in result.memory.items():
        per_process = ", ".join(f"{mb:.0f}" for mb in memory.peak_hwm_mb.values())
        lines.append(
            f"server peak memory during {phase}: {memory.peak_mb:.0f} MB "
            f"(VmHWM per process: {per_process} MB; "
            f"sampled RSS sum {memory.peak_rss_sum_mb:.0f} MB, "
            f"of which anonymous {memory.peak_anon_sum_mb:.0f} MB)"
        )
    lines.append(f"database size after import: {result.database_bytes / 2**20:,.0f} MB")
    lines.append(f"planner statistics: {result.statistics}")
    lines.append("aims from the issue (stated for PostgreSQL on 2 cores):")
    lines += _aims(result)
    if result.failure:
        lines.append(f"FAILED: {result.failure}")
    for m in measured:
        if m.errors:
            lines.append(f"ERRORS in '{m.name}': {m.error_kinds}")
            lines += [f"    {example}" for example in m.error_examples]
    if result.errors:
        lines.append("A measurement with errors is not a result. Server log tail:")
        lines += [f"    {line}" for line in result.log.splitlines()]
    lines.append(
        "gen/srv/oth CPU: cores used by the load generator (this process), by the server's "
        "processes, and by everything else (the database server, the kernel, other jobs); "
        "srv ms/op: server CPU per request (per resource for the import)."
    )
    return "\n".join(lines)


# -- entry point -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fhir_store",
        description="Import a synthetic population through the FHIR API of a real careweave "
        "server, then measure reads, vreads, searches and creates over HTTP.",
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--resources", type=int, default=100_000, help="population size")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per timed pass")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--seed", type=int, default=20261123, help="population seed")
    parser.add_argument("--bundle-size", type=int, default=500, help="entries per Bundle")
    parser.add_argument("--import-concurrency", type=int, default=2, help="Bundles in flight")
    parser.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default="raw",
        help="load generator HTTP client: a minimal asyncio HTTP/1.1 client (raw, the default: "
        "about a tenth of httpx's CPU per request) or httpx.AsyncClient",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--analyze",
        choices=("auto", "always", "never"),
        default="auto",
        help="gather planner statistics after the import: auto = on PostgreSQL when autovacuum "
        "is off (production would have them), never on SQLite",
    )
    parser.add_argument(
        "--keep-database", action="store_true", help="keep the SQLite file / PostgreSQL schema"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--ref",
        help="measure the server as committed at this git revision (default: a copy of the "
        "working tree taken at the start, so edits during the run do not change what runs)",
    )
    args = parser.parse_args(argv)
    if args.resources < 10 or args.concurrency < 1 or args.workers < 1 or args.duration <= 0:
        parser.error("--resources >= 10, --concurrency >= 1, --workers >= 1, --duration > 0")
    return args


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed (it is, with uvicorn[standard]): less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM (and SIGINT, which a shell ignores in background jobs) unwinds like Ctrl-C, so
    the server is stopped and the PostgreSQL schema dropped on the way out."""
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def one_benchmark_at_a_time() -> Iterator[None]:
    """Two benchmarks on one machine measure each other: wait for any other run to finish."""
    path = Path(tempfile.gettempdir()) / "careweave-bench.lock"
    with path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            print(
                f"another benchmark holds {path} ({lock.read().strip() or 'unknown pid'}); "
                "waiting for it to finish ...",
                flush=True,
            )
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, _stop_on_sigterm)
    with one_benchmark_at_a_time():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    if load[0] > 0.5 * (os.cpu_count() or 1):
        print("  the machine is busy: other jobs will lower these figures (see oth CPU)")
    print(f"generating {args.resources:,} resources (seed {args.seed}) ...", flush=True)
    t0 = time.perf_counter()
    population = generate(args.resources, args.seed, args.bundle_size)
    print(f"  generated in {time.perf_counter() - t0:.1f}s: {population.composition}", flush=True)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results: list[DatabaseResult] = []
    with tempfile.TemporaryDirectory(prefix="careweave-bench-") as tmp:
        workdir = Path(tmp)
        snapshot = snapshot_source(workdir / "source", args.ref)
        check_snapshot(snapshot)
        print(f"measuring careweave as in the {snapshot.described_as}", flush=True)
        for database in databases:
            print(f"\n{database}:", flush=True)
            provision = (
                sqlite_database(workdir, args.keep_database)
                if database == "sqlite"
                else postgres_database(args.postgres_url, args.keep_database)
            )
            with provision as (url, size):
                if args.keep_database:
                    print(f"  database: {url}")
                result = _run(
                    bench_database(database, url, size, population, args, workdir, snapshot)
                )
            results.append(result)
            print(report(result, population, args), flush=True)

    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    document = {
        "benchmark": "bench.fhir_store",
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "note": "the load generator runs on the same machine as the server and database",
            "load_average_at_start": load,
        },
        "source": {"measured": snapshot.described_as, "src_sha256": snapshot.sha256},
        "population": dataclasses.asdict(population.composition),
        "aims": AIMS,
        "results": [r.as_json() for r in results],
    }
    out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    print(f"\nresults written to {out}")
    errors = sum(r.errors for r in results)
    if errors:
        print(f"{errors} errors: these figures are not a result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: the server was stopped and the database removed", file=sys.stderr)
        sys.exit(130)
