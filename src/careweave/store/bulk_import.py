"""Bulk import of NDJSON files into the store: batch by batch, resumable, in reference order.

The input is what a bulk export or the synthetic place generator writes: a folder with one
``<ResourceType>.ndjson`` file per resource type, one resource per line, resources referring to
each other across files. What a reader must know:

* **Order.** Files are loaded in `IMPORT_ORDER` of their resource type (the types others refer
  to first), then other types alphabetically; lines in file order. A file named for a resource
  type may hold only that type, as the FHIR Bulk Data specification says.
* **References.** The store keeps referential integrity after every transaction, so a resource
  is written only once everything it refers to is in the store or in the same transaction. One
  that refers forwards (an Encounter to the Condition diagnosed there, when each refers to the
  other) waits, and is written with the batch that brings what it refers to; at most
  `MAX_WAITING` resources wait at once. A reference to something found nowhere in the import
  stops it at the end (or when too many wait) naming the line that refers; everything else has
  been imported by then.
* **Batches.** Every `batch_size` resources are written in ONE transaction. A bad line (not
  JSON, not valid FHIR, no id, a NUL) stops the import with its file and line: the batch it is
  in is not kept, earlier batches are. Each resource keeps its id and an unchanged resource
  gets no new version, so running the same import again after fixing the line resumes where it
  stopped and duplicates nothing.
* **Speed.** Parsing, validation, serialisation and search-index extraction (most of the CPU)
  run in worker processes on chunks of lines, in order; the parent only reads lines and writes
  batches (COPY on PostgreSQL), looking up the current rows of a whole batch at once. Single
  writes and the bulk import both go through `careweave.store.repository.prepare_resource`, so
  a bulk-imported resource is stored exactly as a single write would store it.
* **Memory** stays flat: files are streamed, and at most a few batches' worth of lines (and the
  resources waiting for references) are held between the reader, the workers and the writer.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path

import orjson
from sqlalchemy.exc import SQLAlchemyError

from careweave.fhir.errors import FhirError
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES
from careweave.fhir.search_parameters import SearchParameterRegistry, default_registry
from careweave.fhir.validation import validate_resource
from careweave.store.database import Database
from careweave.store.repository import FhirStore, PreparedResource, prepare_resource
from careweave.store.tables import INDEX_TABLES, resource, resource_version

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "IMPORT_ORDER",
    "ImportFailed",
    "ImportFile",
    "ImportPlan",
    "ImportReport",
    "default_workers",
    "import_ndjson",
    "plan_import",
]

IMPORT_ORDER: tuple[str, ...] = (
    "Organization",
    "Location",
    "HealthcareService",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "RelatedPerson",
    "Group",
    "Encounter",
    "Condition",
    "ServiceRequest",
    "CareTeam",
    "EpisodeOfCare",
    "Observation",
    "MedicationStatement",
    "AllergyIntolerance",
    "Goal",
    "CarePlan",
    "Task",
    "Flag",
)
"""Resource types in the order their files are loaded, then other types alphabetically: what
others refer to comes first. A ServiceRequest refers to the Encounter it came from, an
EpisodeOfCare to its referral (ServiceRequest) and team (CareTeam), a MedicationStatement to the
Condition it treats, a CarePlan to its Goals."""

DEFAULT_BATCH_SIZE = 2000
CHUNK_LINES = 50
"""Lines per task sent to a worker: enough work (tens of milliseconds) to hide the cost of
sending it, few enough that the workers stay evenly busy."""
MAX_WAITING = 20_000
"""How many resources may wait, at most, for the resources they refer to (see the module
docstring); beyond that the import stops rather than hold an unbounded amount in memory."""
ANALYZE_AFTER = 1000
"""On PostgreSQL, gather planner statistics when an import wrote at least this many
resources: without them the planner may scan a table for a search an index answers."""

_BOM = b"\xef\xbb\xbf"


class ImportFailed(Exception):  # noqa: N818 (named for the situation, as careweave.fhir.errors)
    """The import stopped at `path`:`line` (both None when no line is to blame) for `reason`.

    `report` says what was committed; `unwritten` counts the resources read (valid so far) that
    were not: the batch with a bad line, and any resources still waiting for what they refer to.
    Running the import again after the fix imports them.
    """

    def __init__(
        self,
        reason: str,
        report: ImportReport,
        path: Path | None = None,
        line: int | None = None,
        unwritten: int = 0,
    ) -> None:
        self.reason = reason
        self.report = report
        self.path = path
        self.line = line
        self.unwritten = unwritten
        super().__init__(f"{self.location}: {reason}" if self.location else reason)

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)


@dataclass(frozen=True)
class ImportFile:
    """One NDJSON file to load; `resource_type` is the type its name announces, if any."""

    path: Path
    resource_type: str | None
    size: int


@dataclass(frozen=True)
class ImportPlan:
    """The files to load, in load order, and what in the folder was left out."""

    files: tuple[ImportFile, ...]
    ignored: tuple[Path, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class ImportReport:
    """What an import has committed so far (or in all, once it has finished).

    `path` and `line` are the last line committed, `bytes_done` the bytes read up to its end,
    counted over every file of the plan (for a progress bar against `ImportPlan.total_bytes`).
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    batches: int = 0
    bytes_done: int = 0
    path: Path | None = None
    line: int = 0
    seconds: float = 0.0

    @property
    def resources(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def written(self) -> int:
        """Resources that got a new version (created or updated)."""
        return self.created + self.updated

    @property
    def per_second(self) -> float:
        return self.resources / self.seconds if self.seconds > 0 else 0.0


def _announced_type(path: Path) -> str | None:
    """`Patient` for Patient.ndjson (and Patient.001.ndjson); None when the name is no type."""
    stem = path.name.split(".", 1)[0]
    return stem if stem in SUPPORTED_RESOURCE_TYPES else None


def _load_rank(file: ImportFile) -> tuple[int, str, str]:
    rtype = file.resource_type
    rank = IMPORT_ORDER.index(rtype) if rtype in IMPORT_ORDER else len(IMPORT_ORDER)
    return rank, rtype or file.path.name, file.path.name


def plan_import(source: Path) -> ImportPlan:
    """The files of `source` (a folder of .ndjson files, or one .ndjson file) in load order.

    In a folder, anything that is not an .ndjson file (including sub-folders) is left out and
    listed in `ignored`. Raises `ImportFailed` when there is nothing to load.
    """
    empty = ImportReport()
    if not source.exists():
        raise ImportFailed(f"{source} does not exist", empty)
    if source.is_dir():
        children = sorted(source.iterdir())
        chosen = [p for p in children if p.is_file() and p.suffix == ".ndjson"]
        ignored = tuple(p for p in children if p not in chosen)
        if not chosen:
            raise ImportFailed(f"{source} holds no .ndjson files", empty)
    elif source.suffix == ".ndjson":
        chosen, ignored = [source], ()
    else:
        raise ImportFailed(f"{source} is not an .ndjson file (one resource per line)", empty)
    files = [ImportFile(p, _announced_type(p), p.stat().st_size) for p in chosen]
    return ImportPlan(tuple(sorted(files, key=_load_rank)), ignored)


# -- preparing lines (in worker processes) -----------------------------------------------------


class _Rejected(Exception):  # noqa: N818
    """A line that cannot be imported; the message says why, without its position."""


def _explain(exc: FhirError) -> str:
    """A validation error as one line: the message and the first few problems."""
    details = [
        f"{issue.expression[0]}: {issue.diagnostics}" if issue.expression else issue.diagnostics
        for issue in exc.issues
        if issue.diagnostics != exc.message
    ]
    if not details:
        return exc.message
    more = f"; and {len(details) - 3} more" if len(details) > 3 else ""
    return f"{exc.message} ({'; '.join(details[:3])}{more})"


def prepare_line(
    raw: bytes, expected_type: str | None, registry: SearchParameterRegistry
) -> PreparedResource:
    """Parse, validate and prepare one NDJSON line; raises `_Rejected` saying what is wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Rejected(f"not valid JSON: {exc.msg} at character {exc.pos + 1}") from None
    if not isinstance(body, dict):
        raise _Rejected(f"not a JSON object (a FHIR resource) but a JSON {type(body).__name__}")
    rtype = body.get("resourceType")
    if expected_type is not None and rtype != expected_type:
        raise _Rejected(
            f"a {rtype!r} resource, but the file is named for {expected_type} resources only"
        )
    if "id" not in body:
        raise _Rejected("the resource has no id: every resource keeps its id in an import")
    try:
        validate_resource(body)
        return prepare_resource(body["resourceType"], body["id"], body, registry)
    except FhirError as exc:
        raise _Rejected(_explain(exc)) from None


def _prepare_lines(
    expected_type: str | None,
    lines: Sequence[bytes],
    registry: SearchParameterRegistry | None = None,
) -> tuple[list[PreparedResource], str | None]:
    """The prepared resources of `lines` up to the first bad one, and why that one is bad."""
    registry = registry or default_registry()
    prepared: list[PreparedResource] = []
    for raw in lines:
        try:
            prepared.append(prepare_line(raw, expected_type, registry))
        except _Rejected as exc:
            return prepared, str(exc)
    return prepared, None


def _start_worker() -> None:
    default_registry()  # build it once, before the first task


# -- reading lines (in the parent) -------------------------------------------------------------


@dataclass
class _Chunk:
    """Consecutive non-empty lines of one file, with where each one is."""

    file: ImportFile
    lines: list[bytes] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # bytes read, over all files, at its end


def _read_chunks(plan: ImportPlan, chunk_lines: int) -> Iterator[_Chunk]:
    before = 0
    for file in plan.files:
        position = before
        chunk = _Chunk(file)
        with file.path.open("rb") as stream:
            for number, line in enumerate(stream, start=1):
                position += len(line)
                if number == 1 and line.startswith(_BOM):
                    line = line[len(_BOM) :]
                if not line.strip():
                    continue
                chunk.lines.append(line)
                chunk.numbers.append(number)
                chunk.ends.append(position)
                if len(chunk.lines) >= chunk_lines:
                    yield chunk
                    chunk = _Chunk(file)
        if chunk.lines:
            yield chunk
        before += file.size


Prepared = tuple[_Chunk, list[PreparedResource], str | None]


def _prepare_here(
    chunks: Iterator[_Chunk], registry: SearchParameterRegistry
) -> Iterator[Prepared]:
    for chunk in chunks:
        yield chunk, *_prepare_lines(chunk.file.resource_type, chunk.lines, registry)


def _prepare_in_pool(chunks: Iterator[_Chunk], pool: Pool, in_flight: int) -> Iterator[Prepared]:
    """Chunks prepared by the pool, in order, with at most `in_flight` chunks outstanding.

    (`Pool.imap` would read the whole input ahead of the workers, holding it in memory.)
    """
    pending: deque[tuple[_Chunk, AsyncResult[tuple[list[PreparedResource], str | None]]]]
    pending = deque()
    for chunk in chunks:
        args = (chunk.file.resource_type, chunk.lines)
        pending.append((chunk, pool.apply_async(_prepare_lines, args)))
        if len(pending) >= in_flight:
            done, result = pending.popleft()
            yield done, *result.get()
    while pending:
        done, result = pending.popleft()
        yield done, *result.get()


@contextmanager
def _worker_pool(workers: int) -> Iterator[Pool]:
    # A fork server starts workers from a clean process with careweave already imported: no
    # copy of the parent's threads, locks or database connections, and no import per worker.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload([__name__])
    pool = context.Pool(workers, initializer=_start_worker)
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


# -- writing batches (in the parent) -----------------------------------------------------------

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Entry:
    """A prepared resource and the line it came from."""

    resource: PreparedResource
    file: ImportFile
    line: int
    end: int  # bytes read, over all files, at the end of its line

    @property
    def key(self) -> Key:
        return self.resource.resource_type, self.resource.id


def _hold_back(
    entries: Sequence[_Entry], absent: set[Key]
) -> tuple[set[Key], dict[Key, list[Key]]]:
    """Which resources must wait: those referring to something `absent` (neither in the store
    nor among `entries`), and those referring to a resource that waits. Also returns, for each
    resource that refers to something absent, what that is."""
    missing: dict[Key, list[Key]] = {}
    for entry in entries:
        gone = [ref for ref in entry.resource.references if ref in absent]
        if gone:
            missing.setdefault(entry.key, []).extend(gone)
    held = set(missing)
    if not held:
        return held, missing
    referrers: dict[Key, set[Key]] = {}
    for entry in entries:
        for ref in entry.resource.references:
            referrers.setdefault(ref, set()).add(entry.key)
    queue = list(held)
    while queue:
        for referrer in referrers.get(queue.pop(), ()):
            if referrer not in held:
                held.add(referrer)
                queue.append(referrer)
    return held, missing


@dataclass(frozen=True)
class _Round:
    """What writing one batch (with the resources still waiting) left behind."""

    report: ImportReport
    waiting: list[_Entry]
    missing: dict[Key, list[Key]]


def _write_round(store: FhirStore, entries: list[_Entry], report: ImportReport) -> _Round:
    """Write, in one transaction, every resource of `entries` whose references resolve."""
    try:
        with store.transaction() as tx:
            keys = {entry.key for entry in entries}
            wanted = {ref for e in entries for ref in e.resource.references if ref not in keys}
            held, missing = _hold_back(entries, wanted - tx.existing(wanted))
            ready = [entry for entry in entries if entry.key not in held]
            outcomes = tx.put_prepared([entry.resource for entry in ready])
            dangling = tx.dangling_references()
            if dangling:  # a target was deleted after it was looked up
                first = next(entry for entry in ready if entry.key in dangling)
                reason = _refers_to_nothing(first, dangling[first.key], "in the store")
                raise ImportFailed(reason, report, first.file.path, first.line, len(entries))
    except SQLAlchemyError as exc:
        reason = f"the database refused the batch that starts here: {exc.__class__.__name__}: "
        reason += str(getattr(exc, "orig", exc))
        first = entries[0]
        raise ImportFailed(reason, report, first.file.path, first.line, len(entries)) from exc
    last = entries[-1]
    report = replace(
        report,
        created=report.created + outcomes.count("created"),
        updated=report.updated + outcomes.count("updated"),
        unchanged=report.unchanged + outcomes.count("unchanged"),
        batches=report.batches + (1 if ready else 0),
        bytes_done=last.end,
        path=last.file.path,
        line=last.line,
    )
    return _Round(report, [entry for entry in entries if entry.key in held], missing)


def _refers_to_nothing(entry: _Entry, missing: Sequence[Key], where: str) -> str:
    rtype, rid = entry.key
    names = ", ".join(f"{t}/{i}" for t, i in missing[:5])
    return f"{rtype}/{rid} refers to {names}, which {'is' if len(missing) == 1 else 'are'} {where}"


def _waiting_failure(done: _Round, limit: int | None) -> ImportFailed:
    """The failure for the first waiting resource (in import order) whose reference is found
    nowhere: at the end of the import (`limit` None), or when too many resources wait."""
    first = next((e for e in done.waiting if e.key in done.missing), done.waiting[0])
    missing = done.missing.get(first.key, [])
    if limit is None:
        where = "neither in the store nor anywhere in the import"
    else:
        last = done.waiting[-1]
        where = (
            f"not in the store nor in the import as far as {last.file.path.name}:{last.line}; "
            f"more than {limit:,} resources are waiting for what they refer to, so the import "
            "stops (load the files they refer to first)"
        )
    reason = _refers_to_nothing(first, missing, where)
    return ImportFailed(reason, done.report, first.file.path, first.line, len(done.waiting))


def gather_statistics(database: Database) -> None:
    """ANALYZE the store's tables (only those: the database may hold other schemas)."""
    if database.dialect != "postgresql":
        return
    names = ", ".join(f'"{t.name}"' for t in (resource, resource_version, *INDEX_TABLES))
    with database.write() as conn:
        conn.exec_driver_sql(f"ANALYZE {names}")


def import_ndjson(
    store: FhirStore,
    plan: ImportPlan,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 1,
    on_progress: Callable[[ImportReport], None] | None = None,
    analyze_after: int = ANALYZE_AFTER,
    max_waiting: int = MAX_WAITING,
) -> ImportReport:
    """Load the files of `plan` into `store`; see the module docstring.

    `workers` > 1 prepares lines in that many worker processes (which use the default search
    parameter registry, so `store` must too; and, as always with multiprocessing, a script
    that calls this needs an ``if __name__ == "__main__":`` guard). `on_progress` is called
    after every committed batch. Raises `ImportFailed` with the file and line of the first bad
    line; what was committed before it stays committed.
    """
    if batch_size < 1 or workers < 1:
        raise ValueError("batch_size and workers must each be at least 1")
    if workers > 1 and store.registry is not default_registry():
        raise ValueError("worker processes use the default search parameter registry")
    started = time.monotonic()
    done = _Round(ImportReport(), [], {})
    chunks = _read_chunks(plan, CHUNK_LINES)
    try:
        with _preparation(chunks, store.registry, workers, batch_size) as prepared:
            batch: list[_Entry] = []
            for chunk, resources, problem in prepared:
                for index, item in enumerate(resources):
                    batch.append(_Entry(item, chunk.file, chunk.numbers[index], chunk.ends[index]))
                    if len(batch) >= batch_size:
                        done = _write_round(store, done.waiting + batch, done.report)
                        batch = []
                        if len(done.waiting) > max_waiting:
                            raise _waiting_failure(done, max_waiting)
                        done = replace(
                            done, report=replace(done.report, seconds=time.monotonic() - started)
                        )
                        if on_progress is not None:
                            on_progress(done.report)
                if problem is not None:
                    line = chunk.numbers[len(resources)]
                    unwritten = len(batch) + len(done.waiting)
                    raise ImportFailed(problem, done.report, chunk.file.path, line, unwritten)
            if batch:
                done = _write_round(store, done.waiting + batch, done.report)
            if done.waiting:
                raise _waiting_failure(done, None)
    except ImportFailed as failure:
        # What was committed before a bad line is as searchable as a complete import. (After
        # a database error, the database is not asked for anything more.)
        written = failure.report.written >= analyze_after
        if written and not isinstance(failure.__cause__, SQLAlchemyError):
            gather_statistics(store.database)
        raise
    report = replace(done.report, seconds=time.monotonic() - started)
    if report.written >= analyze_after:
        gather_statistics(store.database)
    if on_progress is not None:
        on_progress(report)
    return report


@contextmanager
def _preparation(
    chunks: Iterator[_Chunk], registry: SearchParameterRegistry, workers: int, batch_size: int
) -> Iterator[Iterator[Prepared]]:
    if workers == 1:
        yield _prepare_here(chunks, registry)
        return
    # Enough chunks in flight to keep the workers busy while the parent writes a batch (tasks
    # are only handed out as results are taken): two batches' worth.
    in_flight = 4 * workers + 2 * (batch_size // CHUNK_LINES + 1)
    with _worker_pool(workers) as pool:
        yield _prepare_in_pool(chunks, pool, in_flight)


def default_workers() -> int:
    """One worker process per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1
