"""Where the time goes: cProfile of the store and the API in one process, on a real database.

    python -m bench.profile_store --database sqlite|postgresql [--resources 20000]

Imports a synthetic population (bench/dataset.py) by calling `process_bundle` directly, then
profiles reads, vreads, the two searches of bench/fhir_store.py and creates, each through the
ASGI app (FastAPI routing, the store, SQLAlchemy, the driver) called in-process without HTTP.
cProfile sees only the thread it runs on, so for the profiled passes the app's thread-pool hops
(`run_in_threadpool` in the routes, in finding the caller, in FastAPI's call of a plain handler
and in its dependency solver) are replaced by direct calls; the unprofiled rate is printed with
and without that replacement, so the cost of the hops shows too. For each workload it prints
operations per second, the functions with the most time of their own, and that time summed by
package. Figures are one core, one request at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import random
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import fastapi.dependencies.utils
import fastapi.routing
import orjson
from sqlalchemy import text

import careweave.api.auth
import careweave.api.routes
from bench.dataset import CODES, LAST_YEAR, LOINC, NHS_NUMBER_SYSTEM, generate, random_observation
from bench.fhir_store import (
    DEFAULT_POSTGRES_URL,
    gather_statistics,
    postgres_database,
    sqlite_database,
)
from careweave.access.scopes import Scopes
from careweave.access.tokens import issue_token
from careweave.api.app import create_app
from careweave.settings import Settings
from careweave.store.bundles import process_bundle
from careweave.store.database import open_database
from careweave.store.migrate import upgrade
from careweave.store.repository import FhirStore

Asgi = Callable[..., Awaitable[None]]


def authorise(store: FhirStore) -> bytes:
    """The Authorization header of a new platform-wide system token, as `make bench` uses: the
    API refuses requests without one, and such a client adds no per-row access conditions
    (bench.access_checks measures those)."""
    issued = issue_token(store.database, Scopes.parse("system/*.cruds"), client_name="profile")
    return f"Bearer {issued.token}".encode()


async def call(
    app: Asgi, bearer: bytes, method: str, target: str, body: bytes = b""
) -> tuple[int, bytes]:
    """One HTTP exchange with an ASGI app, in this thread, without a network or a client."""
    path, _, query = target.partition("?")
    headers = [(b"host", b"bench"), (b"accept", b"application/fhir+json")]
    headers += [(b"authorization", bearer)]
    if body:
        headers += [(b"content-type", b"application/fhir+json")]
        headers += [(b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    delivered = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the app's blocking work on the calling thread, so cProfile sees all of it: plain
    handlers (FastAPI runs them in the pool), the awaited parts of the others, and finding the
    caller before a body is read."""
    with (
        mock.patch.object(careweave.api.routes, "run_in_threadpool", _inline),
        mock.patch.object(careweave.api.auth, "run_in_threadpool", _inline),
        mock.patch.object(fastapi.routing, "run_in_threadpool", _inline),
        mock.patch.object(fastapi.dependencies.utils, "run_in_threadpool", _inline),
    ):
        yield


_BUCKETS = (
    ("careweave/fhir/validation", "careweave.fhir.validation"),
    ("careweave/fhir/index_values", "careweave.fhir.index_values"),
    ("careweave/fhir/search_parameters", "careweave.fhir.search_parameters"),
    ("careweave/fhir", "careweave.fhir (other)"),
    ("careweave/store", "careweave.store"),
    ("careweave/api", "careweave.api"),
)


def bucket(filename: str, function: str) -> str:
    """A package name for a profile entry: what to change, at the level one can change it."""
    if filename == "~":
        for driver in ("sqlite3", "psycopg", "orjson", "pydantic_core"):
            if driver in function:
                return f"{driver} (C)"
        return "builtins (C)"
    for marker, name in _BUCKETS:
        if marker in filename:
            return name
    found = re.search(r"site-packages/([A-Za-z0-9_]+)", filename)
    if found:
        return found.group(1)
    found = re.search(r"/python3\.\d+/([A-Za-z0-9_]+)", filename)
    return f"stdlib {found.group(1)}" if found else filename


def print_profile(profile: cProfile.Profile, top: int) -> None:
    stats = pstats.Stats(profile)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in raw.values()) or 1.0
    by_bucket: dict[str, float] = defaultdict(float)
    for (filename, _line, function), (_cc, _nc, tt, _ct, _callers) in raw.items():
        by_bucket[bucket(filename, function)] += tt
    print("    own time by package:")
    for name, seconds in sorted(by_bucket.items(), key=lambda kv: -kv[1])[:12]:
        print(f"      {seconds / total:6.1%}  {name}")
    print("    careweave functions by time including what they call (cumtime):")
    ours = [kv for kv in raw.items() if "careweave/" in kv[0][0]]
    for (filename, line, function), (_cc, nc, _tt, ct, _callers) in sorted(
        ours, key=lambda kv: -kv[1][3]
    )[:top]:
        print(f"      {ct / total:6.1%} cum {nc:>9} calls  {function}  {_short(filename)}:{line}")
    print(f"    top {top} functions by own time (tottime):")
    rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, line, function), (_cc, nc, tt, ct, _callers) in rows:
        where = filename if filename == "~" else f"{_short(filename)}:{line}"
        print(
            f"      {tt / total:6.1%} own {ct / total:6.1%} cum {nc:>9} calls  {function}  {where}"
        )


def _short(filename: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def profile_import(store: FhirStore, resources: int, seed: int, top: int) -> None:
    population = generate(resources, seed)
    bundles = [orjson.loads(b.body) for b in population.reference_bundles]
    for bundle in bundles:
        process_bundle(store, bundle)
    patient_bundles = [orjson.loads(b.body) for b in population.patient_bundles]
    profile = cProfile.Profile()
    done = 0
    started = time.perf_counter()
    profile.enable()
    for bundle in patient_bundles:
        process_bundle(store, bundle)
        done += len(bundle["entry"])
    profile.disable()
    seconds = time.perf_counter() - started
    print(
        f"\n== import: process_bundle, {len(patient_bundles)} Bundles, {done} resources: "
        f"{done / seconds:,.0f} resources/s under cProfile "
        f"({seconds / done * 1000:.2f} ms per resource) =="
    )
    print_profile(profile, top)


def _sample_targets(store: FhirStore, seed: int) -> dict[str, list[str]]:
    with store.database.read() as conn:
        patients = list(
            conn.execute(
                text(
                    "SELECT r.id, t.code FROM resource r "
                    "JOIN search_token t ON t.resource_pk = r.pk "
                    "WHERE r.resource_type = 'Patient' AND t.param = 'identifier' "
                    "AND t.system = :system"
                ),
                {"system": NHS_NUMBER_SYSTEM},
            ).all()
        )
        observations = conn.execute(
            text("SELECT id FROM resource WHERE resource_type = 'Observation' LIMIT 20000")
        ).all()
    rng = random.Random(seed)
    rng.shuffle(patients)
    return {
        "patients": [row[0] for row in patients],
        "nhs_numbers": [row[1] for row in patients],
        "observations": [row[0] for row in observations],
    }


def workloads(
    targets: dict[str, list[str]], seed: int
) -> dict[str, Callable[[], tuple[str, str, bytes]]]:
    rng = random.Random(seed)
    patients, observations = targets["patients"], targets["observations"]

    def read() -> tuple[str, str, bytes]:
        return "GET", f"/fhir/R4/Patient/{rng.choice(patients)}", b""

    def vread() -> tuple[str, str, bytes]:
        return "GET", f"/fhir/R4/Observation/{rng.choice(observations)}/_history/1", b""

    def by_identifier() -> tuple[str, str, bytes]:
        query = urlencode(
            {"identifier": f"{NHS_NUMBER_SYSTEM}|{rng.choice(targets['nhs_numbers'])}"}
        )
        return "GET", f"/fhir/R4/Patient?{query}", b""

    def by_subject() -> tuple[str, str, bytes]:
        year = rng.randint(2019, LAST_YEAR)
        query = urlencode(
            [
                ("subject", f"Patient/{rng.choice(patients)}"),
                ("code", f"{LOINC}|{rng.choice(CODES).code}"),
                ("date", f"ge{year}-01-01"),
                ("date", f"lt{year + 1}-01-01"),
                ("_include", "Observation:subject"),
            ]
        )
        return "GET", f"/fhir/R4/Observation?{query}", b""

    def create() -> tuple[str, str, bytes]:
        body = random_observation(rng, f"Patient/{rng.choice(patients)}", 1)
        return "POST", "/fhir/R4/Observation", orjson.dumps(body)

    return {
        "read Patient/id": read,
        "vread Observation/id/_history/1": vread,
        "search Patient?identifier": by_identifier,
        "search Observation?subject&code&date&_include": by_subject,
        "create Observation": create,
    }


async def _run(
    app: Asgi, bearer: bytes, make: Callable[[], tuple[str, str, bytes]], seconds: float
) -> int:
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or done < 3:
        method, target, body = make()
        status, reply = await call(app, bearer, method, target, body)
        if not 200 <= status < 300:
            raise RuntimeError(f"{method} {target} answered {status}: {reply[:300]!r}")
        done += 1
    return done


def profile_api(
    store: FhirStore, url: str, seconds: float, seed: int, top: int, wanted: list[str] | None
) -> None:
    app = create_app(Settings(database_url=url), store)
    bearer = authorise(store)
    targets = _sample_targets(store, seed)
    for name, make in workloads(targets, seed).items():
        if wanted is not None and not any(name.startswith(w) for w in wanted):
            continue
        asyncio.run(_run(app, bearer, make, 0.5))  # warm: compiled SQL cache, pools, imports
        started = time.perf_counter()
        threaded = asyncio.run(_run(app, bearer, make, seconds)) / (time.perf_counter() - started)
        with single_threaded():
            started = time.perf_counter()
            inline = asyncio.run(_run(app, bearer, make, seconds)) / (time.perf_counter() - started)
            profile = cProfile.Profile()
            started = time.perf_counter()
            profile.enable()
            count = asyncio.run(_run(app, bearer, make, seconds))
            profile.disable()
            profiled = count / (time.perf_counter() - started)
        print(
            f"\n== {name}: {threaded:,.0f}/s through the ASGI app with its thread pool, "
            f"{inline:,.0f}/s on one thread, {profiled:,.0f}/s under cProfile "
            f"(one request at a time, no HTTP) =="
        )
        print_profile(profile, top)


def print_plans(store: FhirStore, seed: int) -> None:
    """The query plans of the two searches, as the database runs them."""
    targets = _sample_targets(store, seed)
    rng = random.Random(seed)
    captured: list[tuple[str, Any]] = []
    from sqlalchemy import event

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    app = create_app(Settings(database_url=store.database.url), store)
    bearer = authorise(store)
    engine = store.database.reader
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with single_threaded():
            nhs = rng.choice(targets["nhs_numbers"])
            query = urlencode({"identifier": f"{NHS_NUMBER_SYSTEM}|{nhs}"})
            asyncio.run(call(app, bearer, "GET", f"/fhir/R4/Patient?{query}"))
            identifier_statements = list(captured)
            captured.clear()
            query = urlencode(
                [
                    ("subject", f"Patient/{rng.choice(targets['patients'])}"),
                    ("code", f"{LOINC}|8480-6"),
                    ("date", "ge2023-01-01"),
                    ("date", "lt2024-01-01"),
                    ("_include", "Observation:subject"),
                ]
            )
            asyncio.run(call(app, bearer, "GET", f"/fhir/R4/Observation?{query}"))
            subject_statements = list(captured)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    for name, statements in (
        ("search Patient?identifier", identifier_statements),
        ("search Observation?subject&code&date&_include", subject_statements),
    ):
        print(f"\n== statements and plans for {name} ==")
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            print("  SQL: " + " ".join(statement.split())[:400])
            with store.database.read() as conn:
                dbapi = conn.connection.dbapi_connection
                assert dbapi is not None
                cursor = dbapi.cursor()
                if store.database.dialect == "sqlite":
                    cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                else:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                for row in cursor.fetchall():
                    print("    plan: " + " | ".join(str(v) for v in row))
                cursor.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_store", description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per profiled workload")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--database-url",
        help="profile the queries on this already populated database (e.g. one kept by "
        "`bench.fhir_store --keep-database`) instead of importing a new population; "
        "creates add Observations to it",
    )
    parser.add_argument(
        "--analyze",
        choices=("auto", "always", "never"),
        default="auto",
        help="as for bench.fhir_store: statistics after the import (auto: PostgreSQL without "
        "autovacuum)",
    )
    parser.add_argument(
        "--only", help="comma-separated workloads to profile, e.g. 'import,search Observation'"
    )
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.only.split(",")] if args.only else None
    if args.database_url:
        database = open_database(args.database_url)
        try:
            store = FhirStore(database)
            print_plans(store, args.seed)
            profile_api(store, args.database_url, args.seconds, args.seed, args.top, wanted)
        finally:
            database.dispose()
        return
    with tempfile.TemporaryDirectory(prefix="careweave-profile-") as tmp:
        provision = (
            sqlite_database(Path(tmp), keep=False)
            if args.database == "sqlite"
            else postgres_database(args.postgres_url, keep=False)
        )
        with provision as (url, _size):
            database = open_database(url)
            try:
                upgrade(database)
                store = FhirStore(database)
                if wanted is None or "import" in wanted:
                    profile_import(store, args.resources, args.seed, args.top)
                else:
                    for bundle in generate(args.resources, args.seed).bundles():
                        process_bundle(store, orjson.loads(bundle.body))
                print(f"\nplanner statistics: {gather_statistics(url, args.analyze)}")
                print_plans(store, args.seed)
                profile_api(store, url, args.seconds, args.seed, args.top, wanted)
            finally:
                database.dispose()


if __name__ == "__main__":
    main()
