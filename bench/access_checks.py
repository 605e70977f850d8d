"""Benchmark what access checks cost: searches and reads with and without them.

    python -m bench.access_checks [--people 20000] [--seed 20261123]
        [--database sqlite|postgresql|both] [--seconds 1.0] [--postgres-url URL]

Generates a synthetic place (`careweave generate`), then for each database imports it
(`careweave import`) into a fresh SQLite file or a throwaway PostgreSQL schema (migrated by
`careweave db upgrade`, dropped at the end), loads the example information-sharing agreement,
and makes two users with tokens: a GP at the practice with the most registered patients, and a
social worker at the council. Then it times the same operations along several paths:

- `store only`: FhirStore with no visibility, the cost without access checks;
- `guard, no audit`: careweave.access.guard.CareRecordAccess as the GP, audit=None;
- `guard + audit`: the same with the real AuditTrail (every call writes its entries);
- `guard + audit (social worker)`: the social worker, whose people are reached through
  referrals, episodes and care teams rather than registration;
- `HTTP system` and `HTTP GP`: the whole app through Starlette's TestClient, with a
  platform-wide system token and with the GP's token (token look-up, routing, JSON).

In-process paths build one CareRecordAccess per call, as the API does per request (it resolves
the user's visibility: agreements, break-glass grants). The operations are
`Patient?name=<family>` (the commonest family names among the GP's patients),
`Observation?patient=<one of theirs>&code=<a code they have>`, `Condition?code=<a common code>`,
`Patient?_summary=count`, and reads of the GP's patients' Patient, Observation and Condition
records. Each is run for `--seconds` after a short warm-up, one call at a time, cycling through
its parameters. `hits/op` is the mean number of resources (or the count) an operation returned,
which shows how much less a user sees than the store holds.

Prints figures only; nothing is asserted (they depend on the machine and what else it runs).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
from fastapi.testclient import TestClient

from bench.fhir_store import DEFAULT_POSTGRES_URL, postgres_database, sqlite_database
from careweave.access.accounts import add_user
from careweave.access.audit import AuditTrail
from careweave.access.guard import CareRecordAccess
from careweave.access.principal import Principal
from careweave.access.scopes import Scopes
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.access.tokens import issue_token, principal_for_token
from careweave.api.app import create_app
from careweave.fhir.search_query import parse_search
from careweave.settings import Settings
from careweave.store.database import open_database
from careweave.store.repository import FhirStore

SNOMED = "http://snomed.info/sct"
GP_CODE = "62247001"  # General practitioner (careweave.synth.workforce)
SOCIAL_WORKER_CODE = "106328005"
Params = list[tuple[str, str]]
Search = tuple[str, Params]


def careweave(*args: str) -> str:
    """Run the `careweave` command as an operator would; its output, or exit with its error."""
    command = [sys.executable, "-c", "from careweave.cli import app; app()", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"careweave {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def lines(folder: Path, resource_type: str) -> Iterator[dict[str, Any]]:
    path = folder / f"{resource_type}.ndjson"
    if not path.exists():
        return
    with path.open("rb") as file:
        for line in file:
            if line.strip():
                yield orjson.loads(line)


def reference_id(value: Any, resource_type: str) -> str | None:
    reference = str((value or {}).get("reference", ""))
    prefix = f"{resource_type}/"
    return reference[len(prefix) :] if reference.startswith(prefix) else None


def first_code(resource: dict[str, Any]) -> str | None:
    for coding in (resource.get("code") or {}).get("coding") or []:
        if coding.get("system") and coding.get("code"):
            return f"{coding['system']}|{coding['code']}"
    return None


# -- the place, read from the generated NDJSON -----------------------------------------------------


@dataclass
class Place:
    """Who the benchmark's users are, and the parameters their operations cycle through."""

    resources: int
    practice: str
    gp_role: str
    social_worker_role: str
    registered: int  # people registered at the practice
    families: list[str]
    observation_searches: list[Search]
    condition_codes: list[str]
    reads: list[tuple[str, str]]


def roles_with_code(folder: Path, code: str) -> list[dict[str, Any]]:
    return sorted(
        (
            role
            for role in lines(folder, "PractitionerRole")
            if role.get("active", True)
            and any(
                c.get("system") == SNOMED and c.get("code") == code
                for concept in role.get("code") or []
                for c in concept.get("coding") or []
            )
        ),
        key=lambda role: str(role["id"]),
    )


def read_place(folder: Path) -> Place:
    resources = sum(1 for p in folder.glob("*.ndjson") for line in p.open("rb") if line.strip())
    registered_at: dict[str, str] = {}
    families: dict[str, str] = {}
    for patient in lines(folder, "Patient"):
        for gp in patient.get("generalPractitioner") or []:
            organisation = reference_id(gp, "Organization")
            if organisation:
                registered_at[patient["id"]] = organisation
        names = patient.get("name") or [{}]
        families[patient["id"]] = str(names[0].get("family") or "")
    practices = Counter(registered_at.values())
    gp_roles = roles_with_code(folder, GP_CODE)
    gp_role = min(
        gp_roles,
        key=lambda r: (-practices[reference_id(r["organization"], "Organization") or ""], r["id"]),
        default=None,
    )
    if gp_role is None:
        raise SystemExit("the place has no active GP PractitionerRole")
    practice = reference_id(gp_role["organization"], "Organization") or ""
    councils = {
        o["id"]
        for o in lines(folder, "Organization")
        if any(c.get("code") == "govt" for t in o.get("type") or [] for c in t.get("coding") or [])
    }
    social_workers = [
        r
        for r in roles_with_code(folder, SOCIAL_WORKER_CODE)
        if reference_id(r.get("organization"), "Organization") in councils
    ]
    if not social_workers:
        raise SystemExit("the place has no social worker at a council")
    mine = {pid for pid, organisation in registered_at.items() if organisation == practice}
    common = Counter(families[pid] for pid in mine if families[pid])
    observation_searches: list[Search] = []
    reads: list[tuple[str, str]] = [("Patient", pid) for pid in sorted(mine)[:200]]
    seen_pairs: set[tuple[str, str]] = set()
    for obs in lines(folder, "Observation"):
        pid = reference_id(obs.get("subject"), "Patient")
        code = first_code(obs)
        if pid in mine and code:
            if (pid, code) not in seen_pairs and len(observation_searches) < 300:
                seen_pairs.add((pid, code))
                observation_searches.append(("Observation", [("patient", pid), ("code", code)]))
            if len(reads) < 400:
                reads.append(("Observation", obs["id"]))
    condition_codes: Counter[str] = Counter()
    for cond in lines(folder, "Condition"):
        code = first_code(cond)
        if code:
            condition_codes[code] += 1
        if reference_id(cond.get("subject"), "Patient") in mine and len(reads) < 600:
            reads.append(("Condition", cond["id"]))
    return Place(
        resources=resources,
        practice=practice,
        gp_role=gp_role["id"],
        social_worker_role=social_workers[0]["id"],
        registered=len(mine),
        families=[family for family, _ in common.most_common(10)],
        observation_searches=observation_searches,
        condition_codes=[code for code, _ in condition_codes.most_common(5)],
        reads=reads,
    )


# -- timing ----------------------------------------------------------------------------------------


@dataclass
class Timing:
    database: str
    path: str
    operation: str
    calls: int = 0
    seconds: float = 0.0
    hits: int = 0
    errors: int = 0
    first_error: str | None = None
    latencies: list[float] = field(default_factory=list)

    def failed(self, exc: Exception) -> None:
        self.errors += 1
        self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"[:300]

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


Call = Callable[[int], int]  # the i-th call; returns how many resources it found


def time_calls(timing: Timing, call: Call, seconds: float) -> Timing:
    """Call `call` one at a time for `seconds`, after a warm-up of up to five calls (or a fifth
    of `seconds`). An operation whose first call takes longer than `seconds` is timed by that
    one call: a slow path is reported as slow without stretching the run."""

    def attempt(i: int) -> int:
        try:
            return call(i)
        except Exception as exc:  # an error is a figure to print, not a crash
            timing.failed(exc)
            return 0

    first = time.perf_counter()
    hits = attempt(0)
    took = time.perf_counter() - first
    if took >= seconds:
        timing.calls, timing.seconds, timing.hits, timing.latencies = 1, took, hits, [took]
        return timing
    warm_until = first + seconds / 5
    for i in range(1, 5):
        if time.perf_counter() > warm_until:
            break
        attempt(i)
    timing.errors, timing.first_error = 0, None  # warm-up errors recur when timed
    started = time.perf_counter()
    deadline = started + seconds
    i = 0
    while i == 0 or time.perf_counter() < deadline:
        before = time.perf_counter()
        timing.hits += attempt(i)
        timing.latencies.append(time.perf_counter() - before)
        i += 1
    timing.seconds = time.perf_counter() - started
    timing.calls = i
    return timing


# -- the paths ------------------------------------------------------------------------------------


class AccessPath(Protocol):
    """One way to the record; each call returns how many resources it found."""

    def search(self, resource_type: str, params: Params) -> int: ...

    def read(self, resource_type: str, resource_id: str) -> int: ...


def found(page_matches: int, total: int | None, params: Params) -> int:
    """What a search found: the count for _summary=count, else the page's matches."""
    return (total or 0) if ("_summary", "count") in params else page_matches


@dataclass
class StoreOnly:
    store: FhirStore

    def search(self, resource_type: str, params: Params) -> int:
        page = self.store.search(parse_search(resource_type, params, self.store.registry))
        return found(len(page.matches), page.total, params)

    def read(self, resource_type: str, resource_id: str) -> int:
        self.store.read(resource_type, resource_id)
        return 1


@dataclass
class Guarded:
    store: FhirStore
    principal: Principal
    audit: AuditTrail | None

    def search(self, resource_type: str, params: Params) -> int:
        access = CareRecordAccess(self.store, self.principal, self.audit)
        query = parse_search(resource_type, params, self.store.registry)
        page = access.search(query, f"{resource_type}?{urlencode(params)}")
        return found(len(page.matches), page.total, params)

    def read(self, resource_type: str, resource_id: str) -> int:
        CareRecordAccess(self.store, self.principal, self.audit).read(resource_type, resource_id)
        return 1


@dataclass
class OverHttp:
    client: TestClient
    token: str

    def _get(self, url: str, params: Params | None = None) -> dict[str, Any]:
        response = self.client.get(
            url, params=params, headers={"Authorization": f"Bearer {self.token}"}
        )
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:200]}")
        body: dict[str, Any] = response.json()
        return body

    def search(self, resource_type: str, params: Params) -> int:
        bundle = self._get(f"/fhir/R4/{resource_type}", params)
        matches = sum(1 for e in bundle.get("entry", []) if e["search"]["mode"] == "match")
        return found(matches, bundle.get("total"), params)

    def read(self, resource_type: str, resource_id: str) -> int:
        self._get(f"/fhir/R4/{resource_type}/{resource_id}")
        return 1


def operations(place: Place, path: AccessPath, reads: list[tuple[str, str]]) -> dict[str, Call]:
    def cycle(items: list[Any], i: int) -> Any:
        return items[i % len(items)]

    return {
        "Patient?name=<family>": lambda i: path.search(
            "Patient", [("name", cycle(place.families, i))]
        ),
        "Observation?patient&code": lambda i: path.search(*cycle(place.observation_searches, i)),
        "Condition?code=<common>": lambda i: path.search(
            "Condition", [("code", cycle(place.condition_codes, i))]
        ),
        "Patient?_summary=count": lambda i: path.search("Patient", [("_summary", "count")]),
        "read (visible)": lambda i: path.read(*cycle(reads, i)),
    }


def social_worker_reads(store: FhirStore, principal: Principal) -> list[tuple[str, str]]:
    """What the social worker may read: their people's Patient records, found as they would."""
    access = CareRecordAccess(store, principal, None)
    page = access.search(parse_search("Patient", [("_count", "200")], store.registry), "Patient")
    return [("Patient", rid) for _, rid, _ in page.matches]


def run_database(kind: str, url: str, folder: Path, place: Place, seconds: float) -> list[Timing]:
    careweave("db", "upgrade", "--database-url", url)
    started = time.perf_counter()
    careweave("import", str(folder), "--database-url", url)
    print(
        f"{kind}: imported {place.resources:,} resources in {time.perf_counter() - started:.1f} s"
    )
    store = FhirStore(open_database(url))
    database = store.database
    try:
        save_agreement(database, "bench", DEFAULT_TERMS)
        add_user(
            database, "bench.gp", "Bench GP", "gp", practitioner_role_id=place.gp_role, store=store
        )
        add_user(
            database,
            "bench.sw",
            "Bench Social Worker",
            "social-worker",
            practitioner_role_id=place.social_worker_role,
            store=store,
        )
        tokens = {
            who: issue_token(
                database, Scopes.parse(scope), username=user, client_name=f"bench {who}"
            ).token
            for who, user, scope in (
                ("gp", "bench.gp", "user/*.rs"),
                ("sw", "bench.sw", "user/*.rs"),
                ("system", None, "system/*.rs"),
            )
        }
        principals = {}
        for who in ("gp", "sw"):
            principal = principal_for_token(database, tokens[who])
            if principal is None:
                raise SystemExit(f"the {who}'s token does not work")
            principals[who] = principal
        trail = AuditTrail(database)
        sw_reads = social_worker_reads(store, principals["sw"])
        gp_sees = Guarded(store, principals["gp"], None).search("Patient", [("_summary", "count")])
        sw_sees = Guarded(store, principals["sw"], None).search("Patient", [("_summary", "count")])
        print(
            f"{kind}: the GP (PractitionerRole/{place.gp_role}) sees {gp_sees:,} people "
            f"({place.registered:,} registered at Organization/{place.practice}); the social "
            f"worker (PractitionerRole/{place.social_worker_role}) sees {sw_sees:,}",
            flush=True,
        )
        app = create_app(Settings(database_url=url), store)
        timings: list[Timing] = []
        with TestClient(app, base_url="http://bench") as client:
            paths: list[tuple[str, AccessPath, list[tuple[str, str]]]] = [
                ("store only", StoreOnly(store), place.reads),
                ("guard, no audit", Guarded(store, principals["gp"], None), place.reads),
                ("guard + audit", Guarded(store, principals["gp"], trail), place.reads),
                (
                    "guard + audit (social worker)",
                    Guarded(store, principals["sw"], trail),
                    sw_reads,
                ),
                ("HTTP system", OverHttp(client, tokens["system"]), place.reads),
                ("HTTP GP", OverHttp(client, tokens["gp"]), place.reads),
            ]
            names = list(operations(place, paths[0][1], place.reads))
            for name in names:
                for label, path, reads in paths:
                    if name == "read (visible)" and not reads:
                        continue  # the social worker sees no one: nothing to read
                    call = operations(place, path, reads)[name]
                    timings.append(time_calls(Timing(kind, label, name), call, seconds))
                    print(".", end="", flush=True)
        print()
        return timings
    finally:
        database.dispose()


@contextmanager
def database_for(kind: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        with sqlite_database(Path(tempfile.mkdtemp(prefix="sqlite-", dir=workdir)), False) as (
            url,
            _,
        ):
            yield url
    else:
        with postgres_database(postgres_url, keep=False) as (url, _):
            yield url


def print_table(timings: list[Timing]) -> None:
    header = (
        f"{'database':<11}{'path':<31}{'operation':<26}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'hits/op':>9}{'calls':>7}{'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    for t in timings:
        rate = f"{t.per_second:,.0f}" if t.per_second >= 10 else f"{t.per_second:.2f}"
        print(
            f"{t.database:<11}{t.path:<31}{t.operation:<26}{rate:>10}"
            f"{t.percentile(0.50):>10.2f}{t.percentile(0.99):>10.2f}"
            f"{(t.hits / t.calls if t.calls else 0):>9.1f}{t.calls:>7}{t.errors:>7}"
        )
    for t in timings:
        if t.first_error:
            print(f"errors in {t.database} / {t.path} / {t.operation}: {t.first_error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=1.0, help="timed per path and operation")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="careweave-access-bench-") as tmp:
        folder = Path(tmp) / "place"
        careweave(
            "generate", "--people", str(args.people), "--seed", str(args.seed), "--out", str(folder)
        )
        place = read_place(folder)
        print(
            f"place: {args.people:,} people, {place.resources:,} resources (seed {args.seed}); "
            f"families {place.families[:3]}..., condition codes {place.condition_codes[:2]}..., "
            f"{len(place.observation_searches)} Observation searches, {len(place.reads)} reads",
            flush=True,
        )
        timings: list[Timing] = []
        for kind in databases:
            with database_for(kind, Path(tmp), args.postgres_url) as url:
                timings += run_database(kind, url, folder, place, args.seconds)
    print_table(timings)
    print(f"total run time {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
