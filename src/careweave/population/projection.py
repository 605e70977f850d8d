"""The population projection: the store's current records flattened into a DuckDB file, kept
up to date incrementally, with every person's measures as of a day.

What a reader must know:

* **Where.** Beside an SQLite store (`sqlite:///x.sqlite3` -> `x.population.duckdb`); for
  PostgreSQL, a path the caller chooses (`projection_path`). The file is a planning dataset:
  it holds no names, NHS numbers or addresses (postcode and LSOA only), and nobody who objects.
* **Who is left out.** Everyone with an active national data opt-out, by the access layer's
  own rule (`careweave.population.store_reading.planning_objectors`). Their records are not
  flattened at all; only their ids are kept (`excluded_people`), so outputs can say how many
  were left out and a refresh can bring someone back who withdraws their objection.
* **Full refresh** reads every current resource of the watched types in one read snapshot,
  a page of primary keys at a time, into a new file that replaces the old one when complete
  (readers see the old projection or the new, never half of one), and computes every
  person's measures as of the day.
* **Incremental refresh** asks the store which resources have a version written since the
  watermark (the newest version time the last refresh saw, less `overlap`, because on
  PostgreSQL a transaction that began earlier can commit later), compares their versions with
  what the projection holds (`projected_resources`), and re-flattens *whole people*: everyone
  whose record changed (a resource created, updated or deleted, or now about someone else),
  whose measures are then recomputed. Someone who now objects is removed; someone who no
  longer objects is read back in. The change of a resource type the measures do not read
  costs nothing. A transaction open for longer than `overlap` that commits after a refresh
  would be missed: after such a load, run a full refresh.
* **Measures** (`person_measures`) are computed by `careweave.population.measures_sql` as of
  one day, kept in the state; a refresh for another day, or with other windows, code lists
  or complex multimorbidity thresholds, recomputes everyone's. Every refresh, full or not,
  keeps the thresholds of the last one unless given others (3 and 3 for a new projection): a
  place's definition is a choice, not a setting of one run.

* **Readers never wait.** A DuckDB file has one writer at a time and a writer locks readers
  out, so every refresh writes a new file beside the projection (an incremental one starts
  from a copy) and renames it over the old one when complete. Readers (pages, exports) open
  the projection read only, per request (`open_projection`), and get the old file or the new.
  One refresh runs at a time (a lock file beside the projection); a second is refused.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, Concatenate, Final, Literal, ParamSpec

import duckdb
import orjson
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from careweave.coordination.record import today
from careweave.population.cambridge_multimorbidity import (
    CambridgeCodeLists,
    cambridge_code_lists,
)
from careweave.population.columnar import (
    EXCLUDED,
    MANIFEST,
    MEASURES,
    ORGANISATION_COLUMNS,
    ORGANISATIONS,
    PERSON_TABLES,
    STATE,
    RowLoader,
    connect,
    create_measures_table,
    create_tables,
    load_code_tables,
    read_state,
)
from careweave.population.efi import efi_code_list
from careweave.population.flatten import (
    ODS_ORGANIZATION,
    WATCHED_TYPES,
    Column,
    Row,
    flatten_into,
    person_of,
)
from careweave.population.measures_sql import (
    MeasureDays,
    code_list_tables,
    person_measures_query,
)
from careweave.population.medicines import MEDICINE_WINDOW_DAYS
from careweave.population.multimorbidity import (
    DEFAULT_COMPLEX_THRESHOLDS,
    ComplexThresholds,
    long_term_condition_list,
)
from careweave.population.person_measures import HOSPITAL_WINDOW_DAYS
from careweave.population.segmentation import store_segment_trend, stored_segment_trend
from careweave.population.store_reading import (
    StoredRow,
    StoredTuple,
    changed_since,
    count_current,
    current_of_type,
    current_pages,
    latest_change,
    planning_objectors,
    read_snapshot,
    rows_about,
    rows_by_key,
)
from careweave.store.database import Database

P = ParamSpec("P")
Progress = Callable[[int, int], None]
"""Called as work goes on with (resources done, resources to do)."""
DEFAULT_OVERLAP: Final = timedelta(minutes=10)
PROJECTION_SUFFIX: Final = ".population.duckdb"


class ProjectionProblem(RuntimeError):  # noqa: N818 - what the operator is told
    """The projection cannot be built or read as asked; the message says why and what to do."""


@dataclass(frozen=True)
class MeasureSettings:
    """What the measures are computed with: kept in the projection's state."""

    as_of: date
    hospital_window_days: int = HOSPITAL_WINDOW_DAYS
    medicine_window_days: int = MEDICINE_WINDOW_DAYS
    complex_thresholds: ComplexThresholds = DEFAULT_COMPLEX_THRESHOLDS

    @property
    def days(self) -> MeasureDays:
        return MeasureDays.of(
            self.as_of,
            hospital_window_days=self.hospital_window_days,
            medicine_window_days=self.medicine_window_days,
        )

    def state(self) -> dict[str, str]:
        return {
            "as_of": self.as_of.isoformat(),
            "hospital_window_days": str(self.hospital_window_days),
            "medicine_window_days": str(self.medicine_window_days),
            **self.complex_thresholds.state(),
            "efi_code_list": efi_code_list().info.name,
            "long_term_condition_list": long_term_condition_list().info.name,
            "cambridge_multimorbidity_lists": _names(cambridge_code_lists()),
        }


def _names(cambridge: CambridgeCodeLists) -> str:
    return f"{cambridge.conditions_info.name}+{cambridge.codes_info.name}"


@dataclass(frozen=True)
class RefreshSummary:
    """What a refresh did, for the operator and for every output's header."""

    kind: Literal["full", "incremental"]
    as_of: date
    people: int
    objectors_excluded: int
    resources_read: int
    people_refreshed: int
    watermark: datetime | None
    seconds: float
    complex_thresholds: ComplexThresholds = DEFAULT_COMPLEX_THRESHOLDS

    def describe(self) -> str:
        what = (
            f"{self.resources_read:,} resources read"
            if self.kind == "full"
            else f"{self.people_refreshed:,} people re-read ({self.resources_read:,} resources)"
        )
        return (
            f"{self.kind.capitalize()} refresh in {self.seconds:.1f} s: {what}; "
            f"{self.people:,} people measured as of {self.as_of.isoformat()} (complex "
            f"multimorbidity: {self.complex_thresholds.describe()}); "
            f"{self.objectors_excluded:,} people with a national data opt-out left out."
        )


def projection_path(database_url: str, path: Path | str | None = None) -> Path:
    """Where the projection of the store at `database_url` lives: `path` if given, else beside
    an SQLite file. PostgreSQL has no file to sit beside, so it needs `path`."""
    if path is not None:
        return Path(path)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        store = Path(url.database)
        return store.with_name(
            store.name.removesuffix(".sqlite3").removesuffix(".db") + PROJECTION_SUFFIX
        )
    raise ProjectionProblem(
        "A PostgreSQL store has no file to keep the population projection beside: give its "
        "path (a DuckDB file on a disk with room for about a tenth of the store's size)"
    )


def open_projection(path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a built projection (for queries, pages and exports)."""
    if not Path(path).exists():
        raise ProjectionProblem(f"There is no population projection at {path}: refresh it first")
    return connect(path, read_only=True)


@contextmanager
def refresh_lock(target: Path) -> Iterator[None]:
    """Hold the projection's refresh lock: refreshes take it (a second refresh at once is
    refused, not queued: it would rebuild what the first is building); so may anything that
    must see the file unchanged for a while, such as a backup."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{target}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProjectionProblem(
                f"Another refresh of {target} is running: wait for it to finish"
            ) from None
        yield


def _one_at_a_time(
    build: Callable[Concatenate[Database, Path | str, P], RefreshSummary],
) -> Callable[Concatenate[Database, Path | str, P], RefreshSummary]:
    """`build`, run holding the projection's refresh lock. The public refreshes are these;
    a refresh that finds no projection builds one in full under the lock it already holds."""

    @wraps(build)
    def locked(
        database: Database, path: Path | str, /, *args: P.args, **kwargs: P.kwargs
    ) -> RefreshSummary:
        with refresh_lock(Path(path)):
            return build(database, path, *args, **kwargs)

    return locked


def build_from_resources(
    path: Path | str,
    resources: Iterable[tuple[int, dict[str, Any]]],
    settings: MeasureSettings,
    *,
    objectors: Collection[str] = frozenset(),
) -> int:
    """A projection built from resources given directly ((key, body) pairs, in key order),
    not from a store: how the tests and a Spark export run the very same flattening and SQL
    over a generated place without importing it. Returns how many people it measured."""
    target = Path(path)
    if target.exists():
        target.unlink()
    con = connect(target)
    try:
        create_tables(con)
        counts = _Counts()
        organisations: list[Row] = []
        excluded = frozenset(objectors)
        with RowLoader(con) as loader:
            for pk, body in resources:
                kind = str(body.get("resourceType"))
                if kind == "Organization":
                    organisations.append(_organisation_row(body))
                elif kind in WATCHED_TYPES:
                    _project([(pk, kind, 1, body)], loader, excluded, counts=counts)
            loader.extend(EXCLUDED, ((person,) for person in sorted(excluded)))
            loader.extend(ORGANISATIONS, organisations)
        _finish(con, settings, {"kind": "resources"})
        return _count(con, MEASURES)
    finally:
        con.close()


def _full_refresh(
    database: Database,
    path: Path | str,
    *,
    as_of: date | None = None,
    hospital_window_days: int = HOSPITAL_WINDOW_DAYS,
    medicine_window_days: int = MEDICINE_WINDOW_DAYS,
    complex_thresholds: ComplexThresholds | None = None,
    progress: Progress | None = None,
    page_size: int = 5_000,
) -> RefreshSummary:
    """Rebuild the projection of `database` at `path` from scratch (see the module docstring).

    `complex_thresholds` defaults to those the projection being replaced was measured by: a
    place's chosen definition of complex multimorbidity outlives a rebuild (a scheduled full
    refresh must not quietly go back to 3 and 3). With no readable projection, 3 and 3.

    One process does it all: parsing and flattening (about 20 microseconds a resource) is
    most of the work, and handing each resource's JSON to worker processes cost as much as
    flattening it (measured: a pool of two took longer than this process alone)."""
    began = time.monotonic()
    target = Path(path)
    settings = MeasureSettings(
        as_of or today(),
        hospital_window_days,
        medicine_window_days,
        complex_thresholds or _current_thresholds(target),
    )
    building = _building(target)
    con = connect(building)
    counts = _Counts()
    try:
        create_tables(con)
        with read_snapshot(database) as store, RowLoader(con, folder=target.parent) as loader:
            watermark = latest_change(store)
            objectors = planning_objectors(store)
            total = count_current(store, WATCHED_TYPES)
            if progress is not None:
                progress(0, total)
            for page in current_pages(store, WATCHED_TYPES, page_size=page_size):
                _project(parsed(page), loader, objectors, counts=counts)
                if progress is not None:
                    progress(min(counts.resources, total), total)
            loader.extend(EXCLUDED, ((person,) for person in sorted(objectors)))
            loader.extend(ORGANISATIONS, _organisations(store))
        _finish(con, settings, {"watermark": watermark.isoformat() if watermark else ""})
        people = _count(con, MEASURES)
    except BaseException:
        con.close()
        _discard(building)
        raise
    con.close()
    _swap_in(building, target)
    return RefreshSummary(
        "full",
        settings.as_of,
        people,
        len(objectors),
        counts.resources,
        people,
        watermark,
        time.monotonic() - began,
        settings.complex_thresholds,
    )


def _current_thresholds(target: Path) -> ComplexThresholds:
    """The complex multimorbidity thresholds the projection at `target` was measured by; the
    defaults when there is none, or it cannot be read (a damaged file is one reason to
    rebuild)."""
    if not target.exists():
        return DEFAULT_COMPLEX_THRESHOLDS
    try:
        con = connect(target, read_only=True)
    except duckdb.Error:
        return DEFAULT_COMPLEX_THRESHOLDS
    try:
        return ComplexThresholds.from_state(read_state(con))
    except (duckdb.Error, ValueError):  # InvalidComplexThresholds too
        return DEFAULT_COMPLEX_THRESHOLDS
    finally:
        con.close()


def _refresh(
    database: Database,
    path: Path | str,
    *,
    as_of: date | None = None,
    complex_thresholds: ComplexThresholds | None = None,
    progress: Progress | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
) -> RefreshSummary:
    """Bring the projection at `path` up to date with `database`, re-reading only the people
    whose records changed since the last refresh; a full refresh when there is none yet.

    The measure windows are those of the last full refresh; `as_of` (default today) is the day
    the measures are for and `complex_thresholds` (default: the last refresh's) the definition
    of complex multimorbidity. A new day or new thresholds recompute everyone's measures, from
    the projection alone: re-measuring only the people whose records changed would leave
    everyone else's rows by the old definition."""
    target = Path(path)
    if not target.exists():
        return _full_refresh(
            database,
            target,
            as_of=as_of,
            complex_thresholds=complex_thresholds,
            progress=progress,
        )
    began = time.monotonic()
    building = _building(target)
    shutil.copyfile(target, building)
    if Path(f"{target}.wal").exists():  # a writer stopped without checkpointing
        shutil.copyfile(f"{target}.wal", f"{building}.wal")
    con = connect(building)
    try:
        state = read_state(con)
        if not state.get("watermark") and state.get("kind") == "resources":
            raise ProjectionProblem(f"{target} was built from files, not a store: refresh fully")
        settings = MeasureSettings(
            as_of or today(),
            int(state.get("hospital_window_days", HOSPITAL_WINDOW_DAYS)),
            int(state.get("medicine_window_days", MEDICINE_WINDOW_DAYS)),
            complex_thresholds or ComplexThresholds.from_state(state),
        )
        everyone = any(state.get(k) != v for k, v in settings.state().items())
        with read_snapshot(database) as store:
            watermark = latest_change(store)
            previous = (
                datetime.fromisoformat(state["watermark"]) if state.get("watermark") else None
            )
            since = previous - overlap if previous else None
            changed = changed_since(store, since, WATCHED_TYPES)
            affected, read = _refresh_people(con, store, changed, progress)
            con.execute(f"DELETE FROM {ORGANISATIONS}")
            with RowLoader(
                con, {ORGANISATIONS: ORGANISATION_COLUMNS}, folder=target.parent
            ) as loader:
                loader.extend(ORGANISATIONS, _organisations(store))
        latest = watermark or previous
        base = {"watermark": latest.isoformat() if latest else ""}
        _finish(
            con,
            settings,
            base,
            scope=None if everyone else "refresh_scope",
            trend=everyone or affected > 0,
        )
        people = _count(con, MEASURES)
        excluded = _count(con, EXCLUDED)
    except BaseException:
        con.close()
        _discard(building)
        raise
    con.close()
    _swap_in(building, target)
    return RefreshSummary(
        "incremental",
        settings.as_of,
        people,
        excluded,
        read,
        affected,
        watermark,
        time.monotonic() - began,
        settings.complex_thresholds,
    )


def _refresh_people(
    con: duckdb.DuckDBPyConnection,
    store: Connection,
    changed: list[tuple[int, int]],
    progress: Progress | None,
) -> tuple[int, int]:
    """Re-flatten everyone whose record changed (see the module docstring); leaves their ids in
    the temporary table `refresh_scope`. Returns (people re-read, resources read)."""
    con.execute("CREATE OR REPLACE TEMP TABLE refresh_scope (person_id VARCHAR)")
    moved = _moved(con, changed)
    people = {person for person in moved.values() if person is not None}
    for _, _, _, body in parsed(_tuples(rows_by_key(store, sorted(moved), WATCHED_TYPES))):
        person = person_of(body)
        if person is not None:
            people.add(person)
    if not people:
        return 0, 0
    ids = sorted(people)
    with RowLoader(con, {"refresh_scope": (Column("person_id", "VARCHAR"),)}) as loader:
        loader.extend("refresh_scope", ((person,) for person in ids))
    for table in PERSON_TABLES:
        if table != MEASURES:  # measures are replaced when they are recomputed
            con.execute(
                f"DELETE FROM {table} WHERE person_id IN (SELECT person_id FROM refresh_scope)"
            )
    objectors = planning_objectors(store, ids)
    records = rows_about(store, ids, WATCHED_TYPES)
    total = len(records)
    if progress is not None:
        progress(0, total)
    counts = _Counts()
    with RowLoader(con) as loader:
        _project(parsed(_tuples(records)), loader, objectors, only=people, counts=counts)
        loader.extend(EXCLUDED, ((person,) for person in sorted(objectors)))
    if progress is not None:
        progress(total, total)
    return len(ids), counts.resources


def _moved(con: duckdb.DuckDBPyConnection, changed: list[tuple[int, int]]) -> dict[int, str | None]:
    """Of the (key, version) pairs the store reports changed, those the projection does not
    hold at that version: key -> the person it held it for (None: not held)."""
    if not changed:
        return {}
    columns = (Column("resource_pk", "BIGINT"), Column("version_id", "INTEGER"))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE refresh_keys (resource_pk BIGINT, version_id INTEGER)"
    )
    with RowLoader(con, {"refresh_keys": columns}) as loader:
        loader.extend("refresh_keys", changed)
    found = con.execute(
        f"SELECT k.resource_pk, m.person_id FROM refresh_keys k "
        f"LEFT JOIN {MANIFEST} m ON m.resource_pk = k.resource_pk "
        "WHERE m.resource_pk IS NULL OR m.version_id <> k.version_id"
    ).fetchall()
    return {int(pk): (str(person) if person is not None else None) for pk, person in found}


def _organisations(store: Connection) -> Iterable[Row]:
    for _, _, _, body in parsed(_tuples(current_of_type(store, "Organization"))):
        yield _organisation_row(body)


def _organisation_row(body: Mapping[str, Any]) -> Row:
    ods = None
    for identifier in body.get("identifier") or ():
        if isinstance(identifier, Mapping) and identifier.get("system") == ODS_ORGANIZATION:
            value = identifier.get("value")
            ods = value if isinstance(value, str) and value else None
            break
    name = body.get("name")
    return (str(body.get("id")), ods, name if isinstance(name, str) and name else None)


@dataclass
class _Counts:
    resources: int = 0


def _project(
    rows: Iterable[tuple[int, str, int, dict[str, Any]]],
    loader: RowLoader,
    objectors: Collection[str],
    *,
    only: Collection[str] | None = None,
    counts: _Counts,
) -> None:
    """Flatten resources (pk, type, version, body) into the loader, and note each in the
    manifest, of the people in `only` (everyone, when None). Of objectors only the manifest
    row (key, type, version, id) is kept, so a refresh can tell their records have not changed:
    nothing they recorded is written anywhere, even a scratch file."""
    sink = loader.pending
    manifest = sink[MANIFEST]
    for pk, resource_type, version_id, body in rows:
        counts.resources += 1
        person = person_of(body)
        if person is None or (only is not None and person not in only):
            continue
        manifest.append((pk, resource_type, version_id, person))
        if person not in objectors:
            flatten_into(body, pk, person, sink)
    loader.load_full()


def parsed(page: Iterable[StoredTuple]) -> Iterator[tuple[int, str, int, dict[str, Any]]]:
    """Stored rows with their JSON parsed (rows without content are left out)."""
    for pk, resource_type, version_id, content in page:
        if content is not None:
            yield pk, resource_type, version_id, orjson.loads(content)


def _tuples(rows: Iterable[StoredRow]) -> list[StoredTuple]:
    return [(r.pk, r.resource_type, r.version_id, r.content) for r in rows]


def _finish(
    con: duckdb.DuckDBPyConnection,
    settings: MeasureSettings,
    state: dict[str, str],
    *,
    scope: str | None = None,
    trend: bool = True,
) -> None:
    """Code tables, measures (everyone's, or the `scope` table's people) and the state; and
    the dashboard's trend, unless `trend` is False and the projection already keeps one for
    its day (nobody's records changed, so the trend could not have: it costs a measure query
    per trend day, about a third of a second at 100,000 people, on every quiet refresh)."""
    load_code_tables(con, code_list_tables())
    query = person_measures_query(
        settings.days, scope=scope, complex_thresholds=settings.complex_thresholds
    )
    if scope is None:
        create_measures_table(con, query)
    else:
        con.execute(f"DELETE FROM {MEASURES} WHERE patient_id IN (SELECT person_id FROM {scope})")
        con.execute(f"INSERT INTO {MEASURES} {query}")
    _write_state(con, {**state, **settings.state()})
    if trend or stored_segment_trend(con) is None:
        store_segment_trend(con)


def _write_state(con: duckdb.DuckDBPyConnection, state: Mapping[str, str]) -> None:
    con.execute(f"DELETE FROM {STATE}")
    con.executemany(f"INSERT INTO {STATE} VALUES (?, ?)", sorted(state.items()))


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _building(target: Path) -> Path:
    """The file a refresh writes, beside the projection, replacing it when complete."""
    building = target.with_name(target.name + ".building")
    _discard(building)
    return building


def _discard(building: Path) -> None:
    for leftover in (building, Path(f"{building}.wal")):
        leftover.unlink(missing_ok=True)


def _swap_in(building: Path, target: Path) -> None:
    """Replace the projection with the one just built, in one rename: a reader has the old
    file open or the new one, never a half-written one, and never waits for the writer."""
    Path(f"{target}.wal").unlink(missing_ok=True)
    os.replace(building, target)


full_refresh = _one_at_a_time(_full_refresh)
refresh = _one_at_a_time(_refresh)
