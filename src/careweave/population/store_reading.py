"""Reading the store for the population projection: plain read-only SQL over its tables.

A population refresh reads every current resource of a few types, millions of them, so it does
not go through FHIR search (which pages, checks access per row and audits per person): it reads
the `resource` table in primary-key order, a page at a time, inside ONE read snapshot (SQLite:
a WAL read transaction; PostgreSQL: REPEATABLE READ, read only), so every page, the watermark
and the set of people who object describe the same moment. Nothing here writes to the store.

Who is left out is decided by the access layer's own rule, not a copy of it:
`careweave.access.policy.planning_visibility()` says what planning and research outputs may
draw on (everyone but people with an active national data opt-out), and
`careweave.store.visibility.patient_condition` turns it into the SQL condition every guarded
search uses; `planning_objectors` asks the database for the Patients that condition leaves out.

Changes since a watermark come from `resource_version` (indexed on `last_updated`), which holds
a row for every create, update and delete. See `careweave.population.projection` for how the
refresh uses them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, and_, bindparam, case, false, func, literal, not_, select

from careweave.access.policy import planning_visibility
from careweave.store.database import Database, as_datetime
from careweave.store.tables import reference_index, resource, resource_version
from careweave.store.visibility import patient_condition

BATCH: Final = 500
"""Ids or keys per IN list (SQLite allows 32,766 parameters; PostgreSQL more)."""


@dataclass(frozen=True)
class StoredRow:
    """One current resource row: its key, type, version, and content (None when deleted or of
    a type the refresh does not read)."""

    pk: int
    resource_type: str
    version_id: int
    deleted: bool
    content: str | None


@contextmanager
def read_snapshot(database: Database) -> Iterator[Connection]:
    """A read-only connection whose every query sees the store at one moment."""
    with database.reader.connect() as conn:
        if database.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield conn
            return
        # SQLite: the reader engine issues BEGIN (deferred); the first SELECT fixes the WAL
        # snapshot until the transaction ends.
        with conn.begin():
            yield conn


def latest_change(conn: Connection) -> datetime | None:
    """When the store last changed: the newest version's time (naive UTC), None when empty."""
    value = conn.execute(select(func.max(resource_version.c.last_updated))).scalar_one()
    return as_datetime(value) if value is not None else None


def count_current(conn: Connection, types: Collection[str]) -> int:
    """How many current resources of `types` there are (the refresh's progress total)."""
    r = resource
    query = select(func.count()).where(r.c.resource_type.in_(sorted(types)), r.c.deleted == false())
    return int(conn.execute(query).scalar_one())


def _row_columns(types: Collection[str]) -> list[Any]:
    r = resource
    # The content of other types is never sent: only rows of `types` carry it. (Filtering
    # the rows by type in WHERE instead makes SQLite walk the type index and sort.)
    content = case((r.c.resource_type.in_(sorted(types)), r.c.content), else_=literal(None))
    return [r.c.pk, r.c.resource_type, r.c.version_id, r.c.deleted, content]


def _stored(row: Sequence[Any]) -> StoredRow:
    return StoredRow(int(row[0]), str(row[1]), int(row[2]), bool(row[3]), row[4])


StoredTuple = tuple[int, str, int, str | None]
"""(key, resource type, version, content): a current resource as a page holds it."""


def current_pages(
    conn: Connection, types: Collection[str], *, page_size: int = 5_000
) -> Iterator[list[StoredTuple]]:
    """Every current resource of `types`, in primary-key pages (keyset paging, never OFFSET)."""
    r = resource
    query = (
        select(r.c.pk, r.c.resource_type, r.c.version_id, _row_columns(types)[-1])
        .where(r.c.pk > bindparam("after"), r.c.deleted == false())
        .order_by(r.c.pk)
        .limit(page_size)
    )
    after = 0
    while True:
        rows = conn.execute(query, {"after": after}).all()
        if not rows:
            return
        after = int(rows[-1][0])
        page = [(int(pk), kind, int(v), content) for pk, kind, v, content in rows if kind in types]
        if page:
            yield page


def current_of_type(conn: Connection, resource_type: str) -> list[StoredRow]:
    """Every current resource of one (small) type, such as the directory's Organizations."""
    r = resource
    rows = conn.execute(
        select(*_row_columns({resource_type}))
        .where(r.c.resource_type == resource_type, r.c.deleted == false())
        .order_by(r.c.pk)
    )
    return [_stored(row) for row in rows]


def changed_since(
    conn: Connection, since: datetime | None, types: Collection[str]
) -> list[tuple[int, int]]:
    """(key, current version) of the resources of `types` with a version written after `since`
    (naive UTC; None: ever): created, updated or deleted. Read from the version table alone
    (its newest version after `since` is the current one), so checking a large overlap costs
    no resource content."""
    v = resource_version
    query = select(v.c.resource_pk, func.max(v.c.version_id)).where(
        v.c.resource_type.in_(sorted(types))
    )
    if since is not None:
        query = query.where(v.c.last_updated > since)
    rows = conn.execute(query.group_by(v.c.resource_pk).order_by(v.c.resource_pk))
    return [(int(pk), int(version)) for pk, version in rows]


def rows_by_key(conn: Connection, pks: Sequence[int], types: Collection[str]) -> list[StoredRow]:
    """The current rows of `pks` (deleted ones too, without content)."""
    r = resource
    found: list[StoredRow] = []
    for start in range(0, len(pks), BATCH):
        batch = list(pks[start : start + BATCH])
        rows = conn.execute(select(*_row_columns(types)).where(r.c.pk.in_(batch)).order_by(r.c.pk))
        found.extend(_stored(row) for row in rows)
    return found


def rows_about(
    conn: Connection, patient_ids: Sequence[str], types: Collection[str]
) -> list[StoredRow]:
    """The current resources of `types` that are, or refer to, one of `patient_ids` (a
    superset of each person's record: the caller keeps those whose person field names them)."""
    r = resource
    ref = reference_index
    pks: set[int] = set()
    for start in range(0, len(patient_ids), BATCH):
        batch = list(patient_ids[start : start + BATCH])
        pks.update(
            conn.execute(
                select(r.c.pk).where(
                    r.c.resource_type == "Patient", r.c.id.in_(batch), r.c.deleted == false()
                )
            ).scalars()
        )
        pks.update(
            conn.execute(
                select(ref.c.resource_pk).where(
                    ref.c.target_type == "Patient",
                    ref.c.target_id.in_(batch),
                    ref.c.resource_type.in_(sorted(types)),
                )
            ).scalars()
        )
    rows = rows_by_key(conn, sorted(pks), types)
    return [row for row in rows if not row.deleted and row.resource_type in types]


def planning_objectors(conn: Connection, among: Sequence[str] | None = None) -> set[str]:
    """The ids of current Patients whom planning and research outputs must leave out, by the
    access layer's rule (planning_visibility); only those in `among`, when given."""
    r = resource
    allowed = patient_condition(planning_visibility().patients, r.c.id)
    base = and_(r.c.resource_type == "Patient", r.c.deleted == false(), not_(allowed))
    if among is None:
        return set(conn.execute(select(r.c.id).where(base)).scalars())
    found: set[str] = set()
    for start in range(0, len(among), BATCH):
        batch = list(among[start : start + BATCH])
        found.update(conn.execute(select(r.c.id).where(base, r.c.id.in_(batch))).scalars())
    return found
