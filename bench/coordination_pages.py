"""Benchmark the server time of the care coordination pages people open most: a person's
integrated summary (for a person with a full record) and a coordinator's caseload, in a
synthetic place of `--people` people (issue 6 aims for p99 under 150 ms on both databases).

    python -m bench.coordination_pages [--people 100000] [--seed 2026] [--requests 200]
        [--database sqlite|postgresql|both] [--workdir DIR] [--postgres-url URL]

Set-up, as an operator would (each step is the `careweave` command): `generate --people N
--as-of today` (the coordination record is written as of the day it runs), then per database
`db upgrade`, `import`, `sharing load --example` and `users demo`. With `--workdir DIR` the
place and the SQLite database are kept in DIR and the PostgreSQL schema `bench_pages_<seed>_<N>`
is kept, so a second run skips straight to the timing (delete them to start again).

Timing: the app runs in-process (`create_app`, as `careweave serve` builds it, a long-running
server) behind
Starlette's TestClient, signed in through the real sign-in form, so each figure is the whole
server-side request: session look-up, the access rules, every guarded search, the audit entries
written, and rendering the page. One request at a time, after 5 warm-up requests.

- **Summary**: `GET /people/{id}` as `demo.care-coordinator` for the person with the largest
  record (resources naming them) among the people in that coordinator's caseload.
- **Caseload**: `GET /caseload` as `demo.care-coordinator` (its people and tasks).

Prints figures only; nothing is asserted (they depend on the machine and what else it runs).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from bench.fhir_store import DEFAULT_POSTGRES_URL
from careweave.api.app import create_app
from careweave.settings import Settings
from careweave.store.database import open_database
from careweave.store.postgres_schemas import postgres_schema
from careweave.store.repository import FhirStore
from careweave.web.settings import WebSettings, find_frontend_dir

PASSWORD = "bench-password-2026-pages"
COORDINATOR = "demo.care-coordinator"


def careweave(*args: str, url: str | None = None) -> str:
    """Run the `careweave` command; its output, or exit with its error."""
    command = [sys.executable, "-c", "from careweave.cli import app; app()", *args]
    if url is not None:
        command += ["--database-url", url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"careweave {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def record_sizes(folder: Path) -> Counter[str]:
    """Resources per person: each resource counted for every Patient it names."""
    sizes: Counter[str] = Counter()
    pattern = re.compile(rb'"reference":\s*"Patient/([A-Za-z0-9.-]+)"')
    for path in folder.glob("*.ndjson"):
        with path.open("rb") as file:
            for line in file:
                for patient in set(pattern.findall(line)):
                    sizes[patient.decode()] += 1
    return sizes


def coordinated_by(store: FhirStore, role_id: str) -> set[str]:
    """The people whose active CareTeam has `role_id` as a participant."""
    from careweave.fhir.search_query import parse_search

    people: set[str] = set()
    params = [("participant", f"PractitionerRole/{role_id}"), ("status", "active")]
    page = store.search(parse_search("CareTeam", [*params, ("_count", "1000")], store.registry))
    for _, _, content in page.matches:
        subject = str((orjson.loads(content).get("subject") or {}).get("reference", ""))
        if subject.startswith("Patient/"):
            people.add(subject.removeprefix("Patient/"))
    return people


def sign_in(client: TestClient, username: str) -> None:
    form = client.get("/sign-in").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if match is None:
        raise SystemExit("no sign-in form")
    answer = client.post(
        "/sign-in",
        data={"csrf_token": match.group(1), "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    if answer.status_code != 303:
        raise SystemExit(f"could not sign in as {username}: {answer.status_code}")


def timed(client: TestClient, path: str, requests: int) -> list[float]:
    for _ in range(5):
        answer = client.get(path)
        if answer.status_code != 200:
            raise SystemExit(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"GET {path} answered {answer.status_code}")
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def prepare(url: str, folder: Path) -> None:
    began = time.perf_counter()
    careweave("db", "upgrade", url=url)
    careweave("import", str(folder), url=url)
    careweave("sharing", "load", "Bench place shared care record", "--example", url=url)
    careweave("users", "demo", "--password", PASSWORD, url=url)
    print(f"  set up in {time.perf_counter() - began:.0f} s", flush=True)


def run(kind: str, url: str, sizes: Counter[str], requests: int) -> list[tuple[str, ...]]:
    database = open_database(url)
    store = FhirStore(database)
    try:
        from careweave.access.accounts import get_user

        user = get_user(database, COORDINATOR)
        if user is None or user.practitioner_role_id is None:
            raise SystemExit(f"no {COORDINATOR} with a post")
        caseload = coordinated_by(store, user.practitioner_role_id)
        if not caseload:
            raise SystemExit(f"{COORDINATOR} coordinates no one")
        person = max(caseload, key=lambda p: (sizes[p], p))
        web = WebSettings(frontend_dir=find_frontend_dir(), secret_key=b"bench key " * 4)
        app = create_app(Settings(database_url=url), store, web=web, long_running=True)
        rows: list[tuple[str, ...]] = []
        with TestClient(app, base_url="http://testserver") as client:
            sign_in(client, COORDINATOR)
            for page, path, about in (
                ("person summary", f"/people/{person}", f"{sizes[person]} resources"),
                ("caseload", "/caseload", f"{len(caseload)} people in care teams"),
            ):
                times = timed(client, path, requests)
                rows.append(
                    (
                        kind,
                        page,
                        about,
                        f"{statistics.median(times):.1f}",
                        f"{percentile(times, 0.9):.1f}",
                        f"{percentile(times, 0.99):.1f}",
                        f"{max(times):.1f}",
                        str(len(times)),
                    )
                )
                print(f"  {page}: p50 {rows[-1][3]} ms, p99 {rows[-1][5]} ms", flush=True)
        return rows
    finally:
        database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the place and databases")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    keep = args.workdir is not None
    import tempfile

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="careweave-pages-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    folder = workdir / f"place-{args.seed}-{args.people}"
    if not (folder / "Patient.ndjson").exists():
        began = time.perf_counter()
        careweave(
            "generate",
            "--people",
            str(args.people),
            "--seed",
            str(args.seed),
            "--as-of",
            date.today().isoformat(),
            "--out",
            str(folder),
            "--overwrite",
        )
        print(f"generated the place in {time.perf_counter() - began:.0f} s", flush=True)
    sizes = record_sizes(folder)
    resources = sum(1 for p in folder.glob("*.ndjson") for line in p.open("rb") if line.strip())
    print(f"place: {args.people:,} people, {resources:,} resources (seed {args.seed})", flush=True)
    rows: list[tuple[str, ...]] = []
    for kind in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        print(f"{kind}:", flush=True)
        if kind == "sqlite":
            path = workdir / f"pages-{args.seed}-{args.people}.db"
            url = f"sqlite:///{path}"
            if not path.exists():
                prepare(url, folder)
            rows += run(kind, url, sizes, args.requests)
        else:
            schema = f"bench_pages_{args.seed}_{args.people}"
            with postgres_schema(args.postgres_url, schema, keep=keep) as (url, existed):
                if not existed:
                    prepare(url, folder)
                rows += run(kind, url, sizes, args.requests)
    header = ("database", "page", "for", "p50 ms", "p90 ms", "p99 ms", "max ms", "requests")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if not keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
