"""The versioned resource store: every create, update and delete is a new version.

All writes happen inside a `StoreTransaction`: the resource row, its version row and its
search-index rows are written on one database transaction, and referential integrity is checked
when the transaction ends (so a transaction Bundle may refer forwards to its own entries). If
anything raises, nothing of the transaction is kept.

**Write observers.** Work that must commit or roll back with a write (in-app notifications, the
FHIR Subscription outbox) registers a `WriteObserver` on the `FhirStore`
(`FhirStore.observe_writes`). Each write transaction that wrote at least one version calls every
observer once, after its integrity checks and with every buffered row written (search indexes
included), before it commits: ``observer(connection, versions)``. An observer writes its own rows
on that connection; if it raises, nothing of the transaction is kept. The bulk import
(`put_prepared`) is not observed unless it asks (``observe=True``). With no observer registered
the store keeps no list of versions, so the hook costs one `is None` test per version.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson
from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from careweave.fhir.errors import (
    Conflict,
    DanglingReference,
    Forbidden,
    Gone,
    InvalidResource,
    InvalidSearch,
    MalformedRequest,
    NotFound,
    RequestMismatch,
    VersionConflict,
)
from careweave.fhir.index_values import (
    DateValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
    extract_index_values,
    references_in,
)
from careweave.fhir.search_parameters import SearchParameterRegistry, default_registry
from careweave.fhir.search_query import SearchQuery, parse_search
from careweave.fhir.validation import validate_resource
from careweave.store.database import Database, PointQuery, as_datetime
from careweave.store.search import SearchPage, match_conditions
from careweave.store.search import search as run_search
from careweave.store.tables import (
    INDEX_TABLES,
    date_index,
    number_index,
    quantity_index,
    reference_index,
    resource,
    resource_version,
    string_index,
    token_index,
    uri_index,
)
from careweave.store.visibility import (
    Visibility,
    content_visible,
    labels_of,
    pairs_in,
    resource_condition,
    visible_pks,
)

_PATIENT_REFERENCE = re.compile(r'"reference":\s*"Patient/([A-Za-z0-9\-.]{1,64})"')


_REFERENCE = re.compile(r'"reference":\s*"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})"')


def patients_named(content: str) -> frozenset[str]:
    """Every Patient a resource's JSON refers to (the access guard's audit uses it too)."""
    return frozenset(_PATIENT_REFERENCE.findall(content))


def _references_in(content: str) -> set[tuple[str, str]]:
    """Every literal (type, id) reference in a resource's JSON."""
    return set(_REFERENCE.findall(content))


_INTEGRITY_BATCH = 500
_PK_BLOCK = 256
_FIRST_PK_BLOCK = 1
_WRITE_ORDER: tuple[Table, ...] = (resource, resource_version, *INDEX_TABLES)

_INDEX_KINDS: tuple[tuple[Table, str, tuple[str, ...]], ...] = tuple(
    (table, attribute, tuple(f.name for f in fields(value_type)))
    for table, attribute, value_type in (
        (token_index, "tokens", TokenValue),
        (string_index, "strings", StringValue),
        (date_index, "dates", DateValue),
        (reference_index, "references", ReferenceValue),
        (number_index, "numbers", NumberValue),
        (quantity_index, "quantities", QuantityValue),
        (uri_index, "uris", UriValue),
    )
)
"""Each index table, the `IndexValues` attribute that fills it, and its value columns (each
index value's fields are named as its table's columns), in the order of `INDEX_TABLES`."""
_INDEX_GETTERS = tuple(attrgetter(*names) for _, _, names in _INDEX_KINDS)
_COLUMNS: Mapping[Table, tuple[str, ...]] = {
    resource: ("pk", "resource_type", "id", "version_id", "last_updated", "deleted", "content"),
    resource_version: (
        "resource_pk",
        "version_id",
        "resource_type",
        "last_updated",
        "method",
        "content",
    ),
    **{table: ("resource_pk", "resource_type", *names) for table, _, names in _INDEX_KINDS},
}
"""The column order of the rows buffered for each table."""

# Stand-ins for meta.versionId and meta.lastUpdated in a prepared resource's JSON. They hold a
# NUL, which no stored resource may (see `prepare_resource`), so each occurs exactly once.
_VERSION_MARK = "\x00versionId"
_UPDATED_MARK = "\x00lastUpdated"
_VERSION_SLOT = '"\\u0000versionId"'
_UPDATED_SLOT = '"\\u0000lastUpdated"'

PutOutcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class StoredResource:
    """One version of a resource as stored: `content` is its JSON text (None once deleted)."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: str | None
    method: str = "PUT"

    def as_dict(self) -> dict[str, Any]:
        if self.content is None:
            raise ValueError(f"{self.resource_type}/{self.id} version {self.version_id} is deleted")
        value: dict[str, Any] = orjson.loads(self.content)
        return value

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"


@dataclass(frozen=True)
class WriteResult:
    """What a write did: `created` for 201 versus 200; `stored` is the version now current."""

    stored: StoredResource
    created: bool
    changed: bool = True


WriteObserver = Callable[[Connection, Sequence[StoredResource]], None]
"""Called in each observed write transaction before it commits, with the transaction's
connection and the versions it wrote, in the order written (a delete is a version with
`deleted` set and no content). See the module docstring."""

Vet = Callable[["StoreTransaction", str, str, str | None, dict[str, Any]], None]
"""Checks one write in a user's transaction before it is made: (the transaction, "create" or
"update", the resource type, the current content as stored or None when there is none, the
new body). Raises to refuse; the transaction is then not kept."""


def format_instant(moment: datetime) -> str:
    """FHIR `instant` text for a naive-UTC datetime, with microseconds and a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class PreparedResource:
    """A resource made ready to store before its version and time are known.

    Every write goes through `prepare_resource`, so a single write and the bulk import store
    the same JSON and the same search-index rows. The bulk import prepares resources in worker
    processes, away from the database that decides each one's version: `template` is the JSON
    to store with stand-ins for ``meta.versionId`` and ``meta.lastUpdated``, which `content`
    fills in. `index_rows` holds, per table of `INDEX_TABLES`, the value columns of each row
    (without `resource_pk` and `resource_type`); `references` are the literal references the
    integrity check must resolve. Plain strings and tuples, so it is cheap to send between
    processes.
    """

    resource_type: str
    id: str
    template: str
    index_rows: tuple[tuple[tuple[Any, ...], ...], ...]
    references: tuple[tuple[str, str], ...]

    def content(self, version_id: int, last_updated: datetime) -> str:
        """The JSON text stored for this resource as version `version_id` at `last_updated`."""
        return self.render(str(version_id), format_instant(last_updated))

    def render(self, version_id: str, last_updated: str) -> str:
        """`content` from the text of the version and of the instant (`format_instant`)."""
        return self.template.replace(_VERSION_SLOT, f'"{version_id}"', 1).replace(
            _UPDATED_SLOT, f'"{last_updated}"', 1
        )


def prepare_resource(
    resource_type: str,
    resource_id: str,
    body: dict[str, Any],
    registry: SearchParameterRegistry,
) -> PreparedResource:
    """What storing `body` (already validated) as `resource_type`/`resource_id` will write.

    The JSON keeps the client's content and key order, with `resourceType`, `id` and `meta` set
    by the store. Search-index rows are extracted from that JSON; no search parameter reads
    ``meta.versionId`` or ``meta.lastUpdated`` (``_lastUpdated`` is answered from a column), so
    the stand-ins do not change them. Raises `InvalidResource` for a NUL character.
    """
    meta = dict(body.get("meta") or {})
    meta["versionId"] = _VERSION_MARK
    meta["lastUpdated"] = _UPDATED_MARK
    stored_body = {"resourceType": resource_type, "id": resource_id, **body}
    stored_body["id"] = resource_id
    stored_body["meta"] = meta
    template = orjson.dumps(stored_body).decode()
    if template.count("\\u0000") != 2 and _holds_nul([resource_type, resource_id, body]):
        # FHIR strings may not hold control characters, and PostgreSQL text cannot hold
        # NUL: refuse it the same way on both databases.
        raise InvalidResource(
            f"The {resource_type} contains a NUL (\\u0000) character, which FHIR strings "
            "may not hold"
        )
    values = extract_index_values(stored_body, registry)
    index_rows = tuple(
        tuple(map(getter, getattr(values, attribute)))
        for getter, (_, attribute, _) in zip(_INDEX_GETTERS, _INDEX_KINDS, strict=True)
    )
    key = (resource_type, resource_id)
    references = tuple(ref for ref in references_in(stored_body) if ref != key)
    return PreparedResource(resource_type, resource_id, template, index_rows, references)


@dataclass
class StoreTransaction:
    """Reads and writes on one database transaction; see the module docstring.

    Rows of newly created resources (resource, version and index rows) are buffered and
    written with one executemany per table: per-statement overhead, not the database, was most
    of the cost of importing a Bundle. Every use of `conn` writes the buffer first, so any read
    in the transaction sees every write before it.
    """

    _connection: Connection
    registry: SearchParameterRegistry
    # Set by the access layer for a user's transaction: what they may see, a check that they
    # may do an interaction ("read", "search", "create", "update", "delete") on a type, and
    # the record of what they touched, for the audit trail. None: the store's own work.
    visibility: Visibility | None = None
    permit: Callable[[str, str], None] | None = None
    # Set by the access layer too: a check of one create or update against what the record
    # held before (None: nothing) and what it is to hold, for rules that depend on the record
    # and not only its type (an organisation's staff change their own directory entries).
    vet: Vet | None = None
    touched: list[Touched] = field(default_factory=list)
    # The versions written, for the write observers; None when there are none to tell, so
    # nothing is kept (see the module docstring).
    observed: list[StoredResource] | None = None
    _written: dict[tuple[str, str], Sequence[tuple[str, str]]] = field(default_factory=dict)
    # Updated records the user could see before their change: the content then and now.
    _seen_before: dict[tuple[str, str], str] = field(default_factory=dict)
    _changed_to: dict[tuple[str, str], str] = field(default_factory=dict)
    _deleted: set[tuple[str, str]] = field(default_factory=set)
    _pending: dict[Table, list[tuple[Any, ...]]] = field(default_factory=dict)
    _free_pks: list[int] = field(default_factory=list)
    _pk_block: int = _FIRST_PK_BLOCK

    @property
    def conn(self) -> Connection:
        """The transaction's connection, with every buffered row already written."""
        self.flush()
        return self._connection

    def flush(self) -> None:
        """Write buffered rows, parents before children (resource, version, index tables)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        postgres = self._connection.dialect.name == "postgresql"
        for table in _WRITE_ORDER:
            rows = pending.get(table)
            if rows and postgres:
                _copy_rows(self._connection, table, rows)
            elif rows:
                _insert_rows(self._connection, table, rows)

    def _buffer(self, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows to write at the next flush, each in the column order `_COLUMNS` gives."""
        self._pending.setdefault(table, []).extend(rows)

    def _allocate_pk(self) -> int:
        """A primary key for a new resource, without a round trip per resource.

        PostgreSQL hands out blocks from the table's sequence, growing fourfold from one key
        to `_PK_BLOCK`: a single create takes one value (a fixed block of 256 cost it a
        tenth of its time, and left 255 keys unused), a Bundle of hundreds a handful of
        round trips. SQLite, whose one writer holds the database lock (BEGIN IMMEDIATE) for
        the whole transaction, counts on from max(pk).
        """
        if not self._free_pks:
            conn = self._connection
            if conn.dialect.name == "postgresql":
                size, self._pk_block = self._pk_block, min(self._pk_block * 4, _PK_BLOCK)
                self._free_pks = list(
                    conn.execute(
                        text(
                            "SELECT nextval(pg_get_serial_sequence('resource', 'pk')) "
                            "FROM generate_series(1, :n)"
                        ),
                        {"n": size},
                    ).scalars()
                )
                self._free_pks.reverse()
            else:
                self.flush()
                top = conn.execute(select(func.max(resource.c.pk))).scalar_one() or 0
                self._free_pks = list(range(top + _PK_BLOCK, top, -1))
        return self._free_pks.pop()

    # -- reads -------------------------------------------------------------------------------

    def _allow(self, interaction: str, resource_type: str) -> None:
        if self.permit is not None:
            self.permit(interaction, resource_type)

    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        self._allow("read", resource_type)
        if self.visibility is None:
            stored = read_current(self.conn, resource_type, resource_id)
        else:
            stored = read_visible(
                self.conn, self.visibility, self.registry, resource_type, resource_id
            )
        self.touched.append(Touched("read", resource_type, resource_id, stored.content))
        return stored

    def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredResource:
        self._allow("vread", resource_type)
        if self.visibility is None:
            stored = read_version(self.conn, resource_type, resource_id, version_id)
        else:
            stored = read_version_visible(
                self.conn, self.visibility, self.registry, resource_type, resource_id, version_id
            )
        self.touched.append(Touched("vread", resource_type, resource_id, stored.content))
        return stored

    def search(self, query: SearchQuery) -> SearchPage:
        self._allow("search", query.resource_type)
        page = run_search(self.conn, query, self.visibility)
        for rt, rid, content in [*page.matches, *page.included]:
            self.touched.append(Touched("search", rt, rid, content))
        return page

    def find_ids(self, resource_type: str, query_string: str, limit: int = 2) -> list[str]:
        """Ids of current resources matching a search query string (for conditional writes)."""
        self._allow("search", resource_type)
        pairs = parse_qsl(query_string, keep_blank_values=True)
        if not pairs:
            raise InvalidSearch(f"The condition '{query_string}' has no search parameters")
        query = parse_search(resource_type, pairs, self.registry, handling="strict")
        if not query.filters:
            raise InvalidSearch(
                f"The condition '{query_string}' has no search criteria, so it would match "
                f"every {resource_type}; give at least one search parameter"
            )
        r = resource
        conditions = match_conditions(resource_type, query.filters, r, self.visibility)
        if self.visibility is not None:
            conditions.append(resource_condition(self.visibility, resource_type, r))
        rows = self.conn.execute(select(r.c.id).where(*conditions).limit(limit)).all()
        return [row[0] for row in rows]

    def find_one(
        self, resource_type: str, query_string: str, *, undone: str, named: str = "The condition"
    ) -> str | None:
        """The id of the one current resource a conditional interaction's query matches, or
        None when none does.

        Several matches are a 412 (FHIR R4 http.html): the server must not pick one. `undone`
        says what was therefore not done, and `named` how the client gave the condition.
        """
        matches = self.find_ids(resource_type, query_string)
        if len(matches) > 1:
            raise VersionConflict(
                f"{named} '{query_string}' matches more than one {resource_type}, so nothing was "
                f"{undone}; make the condition more specific"
            )
        return matches[0] if matches else None

    # -- writes ------------------------------------------------------------------------------

    def create(
        self,
        body: dict[str, Any],
        *,
        resource_type: str | None = None,
        if_none_exist: str | None = None,
        resource_id: str | None = None,
    ) -> WriteResult:
        """Create a resource with a new server-assigned id (`resource_id` is for bundles that
        assign ids to `urn:uuid:` entries up front)."""
        validate_resource(body, expected_type=resource_type)
        rtype = body["resourceType"]
        self._allow("create", rtype)
        if if_none_exist:
            existing = self.find_one(rtype, if_none_exist, undone="created", named="If-None-Exist")
            if existing is not None:
                return WriteResult(self.read(rtype, existing), created=False, changed=False)
        if self.vet is not None:
            self.vet(self, "create", rtype, None, body)
        new_id = resource_id or str(uuid.uuid4())
        return self._write_new(rtype, new_id, body, version_id=1, pk=None, method="POST")

    def update(
        self,
        resource_type: str,
        resource_id: str,
        body: dict[str, Any],
        *,
        if_match: int | None = None,
    ) -> WriteResult:
        """Update (or create, with the client's id) a resource; `if_match` guards the version."""
        if not isinstance(body, dict) or "id" not in body:
            raise RequestMismatch(
                "An update must carry the resource's id in the body, the same as in the URL",
                expression=[f"{resource_type}.id"],
            )
        validate_resource(body, expected_type=resource_type, expected_id=resource_id)
        self._allow("update", resource_type)
        current = self._lock_current(resource_type, resource_id)
        self._check_visible(resource_type, resource_id, current)
        if self.vet is not None:
            before = None if current is None or current[3] else current[4]
            self.vet(self, "update", resource_type, before, body)
        if current is None:
            if if_match is not None:
                raise VersionConflict(
                    f"{resource_type}/{resource_id} does not exist, so version {if_match} "
                    "cannot be current"
                )
            return self._write_new(
                resource_type, resource_id, body, version_id=1, pk=None, method="PUT"
            )
        pk, version_id, last_updated, deleted, content = current
        if if_match is not None and if_match != version_id:
            raise VersionConflict(
                f"{resource_type}/{resource_id} is at version {version_id}, not {if_match}: "
                "someone else changed it; read it again and reapply your change"
            )
        if not deleted and content is not None and _same_content(content, body):
            unchanged = StoredResource(
                resource_type, resource_id, version_id, last_updated, False, content
            )
            return WriteResult(unchanged, created=False, changed=False)
        result = self._write_new(
            resource_type,
            resource_id,
            body,
            version_id=version_id + 1,
            pk=pk,
            method="PUT",
            after=last_updated,
        )
        return WriteResult(result.stored, created=deleted)

    def conditional_update(
        self, resource_type: str, query_string: str, body: dict[str, Any]
    ) -> WriteResult:
        """`PUT Type?query`: none matches -> create; one -> update it; several -> 412."""
        if not isinstance(body, dict):
            raise MalformedRequest(
                f"A FHIR resource must be a JSON object, not {type(body).__name__}"
            )
        self._allow("update", resource_type)
        match = self.find_one(resource_type, query_string, undone="updated")
        if match is None:
            body_id = body.get("id")
            if body_id is not None:
                return self.update(resource_type, str(body_id), body)
            return self.create(body, resource_type=resource_type)
        if body.get("id") not in (None, match):
            raise InvalidResource(
                f"The body's id '{body.get('id')}' is not the id of the matching resource "
                f"'{match}'",
                expression=[f"{resource_type}.id"],
            )
        return self.update(resource_type, match, {**body, "id": match})

    def conditional_delete(self, resource_type: str, query_string: str) -> str | None:
        """`DELETE Type?query`: deletes the one match and returns its id; several -> 412."""
        self._allow("delete", resource_type)
        match = self.find_one(resource_type, query_string, undone="deleted")
        if match is not None:
            self.delete(resource_type, match)
        return match

    def delete(
        self, resource_type: str, resource_id: str, *, if_match: int | None = None
    ) -> StoredResource | None:
        """Delete by writing a deleted version. Deleting what is already gone changes nothing."""
        self._allow("delete", resource_type)
        current = self._lock_current(resource_type, resource_id)
        self._check_visible(resource_type, resource_id, current)
        if current is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        pk, version_id, last_updated, deleted, _ = current
        if if_match is not None and if_match != version_id:
            raise VersionConflict(
                f"{resource_type}/{resource_id} is at version {version_id}, not {if_match}"
            )
        if deleted:
            return None
        now = max(utc_now(), last_updated + timedelta(microseconds=1))
        new_version = version_id + 1
        self.conn.execute(
            update(resource)
            .where(resource.c.pk == pk)
            .values(version_id=new_version, last_updated=now, deleted=True, content=None)
        )
        self.conn.execute(
            insert(resource_version).values(
                resource_pk=pk,
                version_id=new_version,
                resource_type=resource_type,
                last_updated=now,
                method="DELETE",
                content=None,
            )
        )
        _clear_index(self.conn, pk)
        self._deleted.add((resource_type, resource_id))
        self._written.pop((resource_type, resource_id), None)
        self.touched.append(Touched("delete", resource_type, resource_id, current[4]))
        deletion = StoredResource(
            resource_type, resource_id, new_version, now, True, None, method="DELETE"
        )
        if self.observed is not None:
            self.observed.append(deletion)
        return deletion

    def _check_visible(
        self,
        resource_type: str,
        resource_id: str,
        current: tuple[int, int, datetime, bool, str | None] | None,
    ) -> None:
        """Changing a record the user may not see is answered as if it were not there."""
        if self.visibility is None or current is None:
            return
        pk, version_id, _, deleted, _ = current
        if deleted:
            visible = _deleted_visible(
                self.conn, self.visibility, self.registry, resource_type, pk, version_id
            )
        else:
            visible = bool(visible_pks(self.conn, self.visibility, [(pk, resource_type)]))
        if not visible:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if not deleted and current[4] is not None:
            self._seen_before.setdefault((resource_type, resource_id), current[4])

    def check_written_visible(self) -> None:
        """What a user writes must be something they may see: a user cannot record anything
        about a person they have no relationship with, nor hide a record from themselves."""
        if self.visibility is None or not self._written:
            return
        keys = sorted(self._written)
        r = resource
        rows = self.conn.execute(
            select(r.c.pk, r.c.resource_type, r.c.id).where(
                pairs_in(r.c.resource_type, r.c.id, keys)
            )
        ).all()
        allowed = visible_pks(self.conn, self.visibility, [(row[0], row[1]) for row in rows])
        refused = sorted(
            f"{row[1]}/{row[2]}"
            for row in rows
            if row[0] not in allowed and not self._closed_out((row[1], row[2]))
        )
        if refused:
            raise Forbidden(
                f"{', '.join(refused[:5])} would be about a person you have no legitimate "
                "relationship with, or in a category your role may not see; nothing was saved"
            )

    def _closed_out(self, key: tuple[str, str]) -> bool:
        """True for an update that took a record out of the user's sight only by closing
        the work it records (completing the task that was their link to the person, say):
        they could see it before, it is about the same people, and it carries the same
        security labels. Moving a record to another person, or labelling it out of one's own
        sight, is still refused."""
        before, after = self._seen_before.get(key), self._changed_to.get(key)
        if before is None or after is None:
            return False
        old, new = orjson.loads(before), orjson.loads(after)
        return bool(
            patients_named(before) == patients_named(after)
            and labels_of(old) == labels_of(new)
            and self.visibility is not None
            and self.visibility.may_read_type(key[0])
        )

    # -- integrity ---------------------------------------------------------------------------

    def check_integrity(self) -> None:
        """Every reference written must resolve, and nothing may still refer to what was deleted.

        Runs once at the end of the transaction, so entries may refer to each other in any order.
        """
        dangling = self.dangling_references()
        if dangling:
            missing = sorted({ref for refs in dangling.values() for ref in refs})
            sources = [f"{src[0]}/{src[1]}" for src in dangling]
            shown = ", ".join(f"{t}/{i}" for t, i in missing[:5])
            raise DanglingReference(
                f"{', '.join(sources[:5])} refers to {shown}, which "
                f"{'is' if len(missing) == 1 else 'are'} not in the store",
            )
        if self._deleted:
            self._check_no_referrers()

    def existing(self, refs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those of `refs` (type, id) that are current resources, this transaction's included."""
        return _existing(self.conn, refs)

    def _visible_existing(self, refs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those of `refs` that exist and, in a user's transaction, that the user may see: a
        reference to a hidden record must fail exactly as one to no record, or the error
        would tell the user the hidden record exists."""
        found = _existing(self.conn, refs)
        if self.visibility is None or not found:
            return found
        r = resource
        rows = self.conn.execute(
            select(r.c.pk, r.c.resource_type, r.c.id).where(
                pairs_in(r.c.resource_type, r.c.id, sorted(found))
            )
        ).all()
        allowed = visible_pks(self.conn, self.visibility, [(row[0], row[1]) for row in rows])
        return {(row[1], row[2]) for row in rows if row[0] in allowed}

    def dangling_references(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """For each resource written in this transaction whose references do not all resolve
        (to the store or to this transaction's writes), the references that do not; in the
        order the resources were written. Empty when everything resolves."""
        wanted = {
            ref for refs in self._written.values() for ref in refs if ref not in self._written
        }
        missing = wanted - self._visible_existing(wanted)
        if not missing:
            return {}
        # A record the user could see may keep the references it already had, though what
        # they point at is now out of the user's sight (see `_closed_out`): they must exist.
        held = {
            source: _references_in(self._seen_before[source]) & missing
            for source in self._written
            if source in self._seen_before
        }
        still_there = _existing(self.conn, set().union(*held.values())) if held else set()
        dangling = {}
        for source, refs in self._written.items():
            kept = held.get(source, set()) & still_there
            bad = [ref for ref in refs if ref in missing and ref not in kept]
            if bad:
                dangling[source] = bad
        return dangling

    def _check_no_referrers(self) -> None:
        ref, r = reference_index, resource
        targets = sorted(self._deleted)
        for start in range(0, len(targets), _INTEGRITY_BATCH):
            chunk = targets[start : start + _INTEGRITY_BATCH]
            rows = self.conn.execute(
                select(r.c.resource_type, r.c.id, ref.c.target_type, ref.c.target_id)
                .join(r, r.c.pk == ref.c.resource_pk)
                .where(
                    pairs_in(ref.c.target_type, ref.c.target_id, chunk),
                    r.c.deleted == false(),
                )
                .limit(6)
            ).all()
            referrers = [row for row in rows if (row[0], row[1]) != (row[2], row[3])]
            if referrers:
                names = ", ".join(f"{row[0]}/{row[1]}" for row in referrers[:5])
                raise Conflict(
                    f"{referrers[0][2]}/{referrers[0][3]} cannot be deleted: {names} still "
                    "refer to it. Delete or update those first."
                )

    # -- internals ---------------------------------------------------------------------------

    def _lock_current(
        self, resource_type: str, resource_id: str
    ) -> tuple[int, int, datetime, bool, str | None] | None:
        r = resource
        row = self.conn.execute(
            select(r.c.pk, r.c.version_id, r.c.last_updated, r.c.deleted, r.c.content)
            .where(r.c.resource_type == resource_type, r.c.id == resource_id)
            .with_for_update()
        ).first()
        return None if row is None else (row[0], row[1], row[2], row[3], row[4])

    def _write_new(
        self,
        resource_type: str,
        resource_id: str,
        body: dict[str, Any],
        *,
        version_id: int,
        pk: int | None,
        method: str,
        after: datetime | None = None,
    ) -> WriteResult:
        now = utc_now()
        if after is not None and now <= after:
            now = after + timedelta(microseconds=1)
        prepared = prepare_resource(resource_type, resource_id, body, self.registry)
        content = prepared.content(version_id, now)
        if pk is None:
            pk = self._allocate_pk()
            self._buffer(
                resource, [(pk, resource_type, resource_id, version_id, now, False, content)]
            )
        else:
            self.conn.execute(
                update(resource)
                .where(resource.c.pk == pk)
                .values(version_id=version_id, last_updated=now, deleted=False, content=content)
            )
            _clear_index(self.conn, pk)
        self._buffer_version(prepared, pk, version_id, now, method, content)
        stored = StoredResource(
            resource_type, resource_id, version_id, now, False, content, method=method
        )
        event = "create" if version_id == 1 else "update"
        self.touched.append(Touched(event, resource_type, resource_id, content))
        if self.observed is not None:
            self.observed.append(stored)
        return WriteResult(stored, created=version_id == 1)

    def _buffer_version(
        self,
        prepared: PreparedResource,
        pk: int,
        version_id: int,
        now: datetime,
        method: str,
        content: str,
    ) -> None:
        """Buffer a new current version's version row and index rows (its resource row is
        written, or updated, by the caller) and remember its references for the check."""
        rtype = prepared.resource_type
        self._buffer(resource_version, [(pk, version_id, rtype, now, method, content)])
        for table, rows in zip(INDEX_TABLES, prepared.index_rows, strict=True):
            if rows:
                self._buffer(table, [(pk, rtype, *row) for row in rows])
        key = (rtype, prepared.id)
        self._written[key] = prepared.references
        if key in self._seen_before:
            self._changed_to[key] = content
        self._deleted.discard(key)

    # -- bulk writes -------------------------------------------------------------------------

    def put_prepared(
        self, batch: Sequence[PreparedResource], *, observe: bool = False
    ) -> list[PutOutcome]:
        """Store each resource under its own id, as `update` would, a whole batch at a time.

        For a bulk import: the current rows of the batch are read at once (one query; on SQLite
        one per type and block) instead of one locking read per resource; only new or changed
        resources are written, so importing the same data again adds no versions. One that occurs
        twice is stored twice, in order. Returns what happened to each resource, in order.
        The caller checks integrity (`dangling_references`) before the transaction ends.
        The versions written are shown to the write observers only when `observe` is true: a
        bulk load is not a stream of events to notify people of.
        """
        outcomes: list[PutOutcome] = []
        segment: list[PreparedResource] = []
        keys: set[tuple[str, str]] = set()
        for item in batch:
            key = (item.resource_type, item.id)
            if key in keys:  # the second occurrence must see the first one's write
                outcomes += self._put_segment(segment, observe)
                segment, keys = [], set()
            segment.append(item)
            keys.add(key)
        outcomes += self._put_segment(segment, observe)
        return outcomes

    def _put_segment(
        self, segment: Sequence[PreparedResource], observe: bool = False
    ) -> list[PutOutcome]:
        """`put_prepared` for resources with distinct (type, id)."""
        if not segment:
            return []
        current = self._current_rows([(item.resource_type, item.id) for item in segment])
        now = utc_now()
        stamp = format_instant(now)
        outcomes: list[PutOutcome] = []
        writes: list[tuple[PreparedResource, int | None, int, datetime, str]] = []
        for item in segment:
            row = current.get((item.resource_type, item.id))
            if row is None:
                writes.append((item, None, 1, now, item.render("1", stamp)))
                outcomes.append("created")
                continue
            pk, version_id, last_updated, deleted, stored = row
            if not deleted and stored is not None:
                again = item.content(version_id, last_updated)
                if again == stored or _same_content(stored, orjson.loads(again)):
                    outcomes.append("unchanged")
                    continue
            at = max(now, last_updated + timedelta(microseconds=1))
            writes.append((item, pk, version_id + 1, at, item.content(version_id + 1, at)))
            outcomes.append("created" if deleted else "updated")
        replaced = [
            (pk, version, at, content) for _, pk, version, at, content in writes if pk is not None
        ]
        if replaced:
            self.conn.execute(
                update(resource)
                .where(resource.c.pk == bindparam("b_pk"))
                .values(
                    version_id=bindparam("b_version"),
                    last_updated=bindparam("b_at"),
                    deleted=False,
                    content=bindparam("b_content"),
                ),
                [
                    {"b_pk": pk, "b_version": version, "b_at": at, "b_content": content}
                    for pk, version, at, content in replaced
                ],
            )
            _clear_indexes(self.conn, [pk for pk, _, _, _ in replaced])
        observed = self.observed if observe else None
        for item, known_pk, version, at, content in writes:
            target = known_pk
            if target is None:
                target = self._allocate_pk()
                row_values = (target, item.resource_type, item.id, 1, at, False, content)
                self._buffer(resource, [row_values])
            self._buffer_version(item, target, version, at, "PUT", content)
            if observed is not None:
                observed.append(
                    StoredResource(item.resource_type, item.id, version, at, False, content)
                )
        return outcomes

    def _current_rows(
        self, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, int, datetime, bool, str | None]]:
        """The current row of each (type, id) that has one, locked as `_lock_current` locks."""
        r = resource
        found: dict[tuple[str, str], tuple[int, int, datetime, bool, str | None]] = {}
        if self.conn.dialect.name == "postgresql":
            columns = "r.resource_type, r.id, r.pk, r.version_id, r.last_updated, r.deleted"
            for row in _rows_by_key(self.conn, f"{columns}, r.content", keys, "FOR UPDATE OF r"):
                found[(row[0], row[1])] = (row[2], row[3], row[4], row[5], row[6])
            return found
        for start in range(0, len(keys), _INTEGRITY_BATCH):
            chunk = keys[start : start + _INTEGRITY_BATCH]
            rows = self.conn.execute(
                select(
                    r.c.resource_type,
                    r.c.id,
                    r.c.pk,
                    r.c.version_id,
                    r.c.last_updated,
                    r.c.deleted,
                    r.c.content,
                )
                .where(pairs_in(r.c.resource_type, r.c.id, chunk))
                .with_for_update()
            ).all()
            for row in rows:
                found[(row[0], row[1])] = (row[2], row[3], row[4], row[5], row[6])
        return found


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _copy_rows(conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """Bulk-write rows with PostgreSQL's COPY on the transaction's own connection.

    An executemany sends one INSERT per row; COPY streams them all, several times faster.
    Each row holds the table's `_COLUMNS` in order.
    """
    names = ", ".join(f'"{name}"' for name in _COLUMNS[table])
    driver = conn.connection.driver_connection
    assert driver is not None
    with (
        driver.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _insert_rows(conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """Bulk-write rows with one executemany of the driver (SQLite).

    Each value is converted as SQLAlchemy would bind it (its column type's bind processor:
    timestamps to text, decimals to floats), without SQLAlchemy's per-row work for an
    `insert()`, which cost more than SQLite's own. Each row holds the table's `_COLUMNS`.
    """
    columns = _COLUMNS[table]
    dialect = conn.dialect
    processors = [
        (index, processor)
        for index, name in enumerate(columns)
        if (processor := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    if processors:
        converted = []
        for row in rows:
            values = list(row)
            for index, processor in processors:
                values[index] = processor(values[index])
            converted.append(tuple(values))
        rows = converted
    names = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)


def _same_content(stored: str, body: dict[str, Any]) -> bool:
    """True when an update would change nothing but `meta.versionId`/`meta.lastUpdated`.

    Such an update keeps the current version (as FHIR servers may), so re-loading the same data
    is idempotent and history only records real changes.
    """

    def comparable(value: dict[str, Any]) -> dict[str, Any]:
        meta = {
            k: v
            for k, v in (value.get("meta") or {}).items()
            if k not in {"versionId", "lastUpdated"}
        }
        rest = {k: v for k, v in value.items() if k != "meta"}
        return {**rest, "meta": meta} if meta else rest

    current: dict[str, Any] = orjson.loads(stored)
    return comparable(current) == comparable(body)


def _rows_by_key(
    conn: Connection, columns: str, pairs: Sequence[tuple[str, str]], suffix: str = ""
) -> Sequence[Any]:
    """PostgreSQL: `columns` of the resources `r` with these (type, id) pairs, and `suffix`.

    The pairs are joined as arrays, so each one is a lookup on the unique (type, id) index
    whatever the planner's statistics say. A table being loaded has none, and the planner then
    answered `type = x AND id IN (...)` by reading every resource of the type: at 20,000
    resources a bulk import spent 40% of its time there.
    """
    query = text(
        f"SELECT {columns} FROM unnest(CAST(:types AS text[]), CAST(:ids AS text[])) AS k(t, i) "
        f"JOIN resource r ON r.resource_type = k.t AND r.id = k.i {suffix}"
    )
    types, ids = [t for t, _ in pairs], [i for _, i in pairs]
    return conn.execute(query, {"types": types, "ids": ids}).all()


def _existing(conn: Connection, refs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    ordered = sorted(refs)
    if conn.dialect.name == "postgresql" and ordered:
        rows = _rows_by_key(conn, "r.resource_type, r.id", ordered, "WHERE NOT r.deleted")
        return {(row[0], row[1]) for row in rows}
    r = resource
    for start in range(0, len(ordered), _INTEGRITY_BATCH):
        chunk = ordered[start : start + _INTEGRITY_BATCH]
        rows = conn.execute(
            select(r.c.resource_type, r.c.id).where(
                pairs_in(r.c.resource_type, r.c.id, chunk), r.c.deleted == false()
            )
        ).all()
        found.update((row[0], row[1]) for row in rows)
    return found


def _clear_index(conn: Connection, pk: int) -> None:
    for table in INDEX_TABLES:
        conn.execute(delete(table).where(table.c.resource_pk == pk))


def _clear_indexes(conn: Connection, pks: list[int]) -> None:
    for start in range(0, len(pks), _INTEGRITY_BATCH):
        chunk = pks[start : start + _INTEGRITY_BATCH]
        for table in INDEX_TABLES:
            conn.execute(delete(table).where(table.c.resource_pk.in_(chunk)))


_CURRENT = select(
    resource.c.version_id, resource.c.last_updated, resource.c.deleted, resource.c.content
).where(resource.c.resource_type == bindparam("rtype"), resource.c.id == bindparam("rid"))
_VERSION = (
    select(
        resource_version.c.version_id,
        resource_version.c.last_updated,
        resource_version.c.method,
        resource_version.c.content,
    )
    .join(resource, resource.c.pk == resource_version.c.resource_pk)
    .where(
        resource.c.resource_type == bindparam("rtype"),
        resource.c.id == bindparam("rid"),
        resource_version.c.version_id == bindparam("vid"),
    )
)
_CURRENT_POINT = PointQuery(_CURRENT)
_VERSION_POINT = PointQuery(_VERSION)


def _current_from_row(
    row: Sequence[Any] | None, resource_type: str, resource_id: str
) -> StoredResource:
    if row is None:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    version_id, last_updated, deleted, content = row
    if deleted:
        raise Gone(f"{resource_type}/{resource_id} was deleted (version {version_id})")
    return StoredResource(
        resource_type, resource_id, version_id, as_datetime(last_updated), False, content
    )


def _version_from_row(
    row: Sequence[Any] | None, resource_type: str, resource_id: str, version_id: int
) -> StoredResource:
    if row is None:
        raise _no_such_version(resource_type, resource_id, version_id)
    _, last_updated, method, content = row
    if method == "DELETE":
        raise Gone(f"Version {version_id} of {resource_type}/{resource_id} is its deletion")
    return StoredResource(
        resource_type, resource_id, version_id, as_datetime(last_updated), False, content, method
    )


def read_current(conn: Connection, resource_type: str, resource_id: str) -> StoredResource:
    row = conn.execute(_CURRENT, {"rtype": resource_type, "rid": resource_id}).first()
    return _current_from_row(row, resource_type, resource_id)


_LARGEST_VERSION = 2**31 - 1


def _no_such_version(resource_type: str, resource_id: str, version_id: int) -> NotFound:
    return NotFound(f"{resource_type}/{resource_id} has no version {version_id}")


def _check_version_range(resource_type: str, resource_id: str, version_id: int) -> None:
    """A version beyond the column's range cannot exist (and PostgreSQL would refuse to look)."""
    if not 0 < version_id <= _LARGEST_VERSION:
        raise _no_such_version(resource_type, resource_id, version_id)


def read_version(
    conn: Connection, resource_type: str, resource_id: str, version_id: int
) -> StoredResource:
    _check_version_range(resource_type, resource_id, version_id)
    params = {"rtype": resource_type, "rid": resource_id, "vid": version_id}
    row = conn.execute(_VERSION, params).first()
    return _version_from_row(row, resource_type, resource_id, version_id)


@dataclass(frozen=True)
class Touched:
    """One resource a transaction read or wrote, with its JSON (None once deleted), so the
    audit trail can say whose record it was."""

    event: str
    resource_type: str
    resource_id: str
    content: str | None


def read_visible(
    conn: Connection,
    visibility: Visibility,
    registry: SearchParameterRegistry,
    resource_type: str,
    resource_id: str,
) -> StoredResource:
    """Read the current version if `visibility` lets it through.

    A record the user may not see is answered exactly as one that does not exist, and both
    paths run the same queries, so neither the message nor the time taken tells them apart.
    A deleted record is Gone only to those who could see what it last held.
    """
    r = resource
    row = conn.execute(
        select(r.c.pk, r.c.version_id, r.c.last_updated, r.c.deleted, r.c.content).where(
            r.c.resource_type == resource_type, r.c.id == resource_id
        )
    ).first()
    pk = row[0] if row is not None else -1
    if row is not None and row[3]:
        visible = _deleted_visible(conn, visibility, registry, resource_type, pk, row[1])
    else:
        visible = bool(visible_pks(conn, visibility, [(pk, resource_type)]))
    if row is None or not visible:
        raise NotFound(f"{resource_type}/{resource_id} is not known")
    return _current_from_row(row[1:], resource_type, resource_id)


def _deleted_visible(
    conn: Connection,
    visibility: Visibility,
    registry: SearchParameterRegistry,
    resource_type: str,
    pk: int,
    deleted_version: int,
) -> bool:
    """Whether the user could see what a deleted resource held before its deletion."""
    v = resource_version
    content = conn.execute(
        select(v.c.content)
        .where(v.c.resource_pk == pk, v.c.version_id < deleted_version, v.c.content.is_not(None))
        .order_by(v.c.version_id.desc())
        .limit(1)
    ).scalar()
    if content is None:
        return False
    return content_visible(conn, visibility, resource_type, content, registry)


@dataclass(frozen=True)
class HistoryPage:
    versions: list[StoredResource]
    next_cursor: str | None


def read_history(
    conn: Connection,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    since: datetime | None = None,
    at: tuple[datetime, datetime] | None = None,
    count: int = 50,
    cursor: tuple[datetime, int, int] | None = None,
    visibility: Visibility | None = None,
    registry: SearchParameterRegistry | None = None,
) -> HistoryPage:
    """Versions newest first, keyset-paged on (last_updated, resource pk, version).

    `since` keeps versions made at or after it; `at`, a half-open range ``[start, end)``,
    keeps versions that were current at some moment in it (made before its end and not
    replaced by its start), which is what the record looked like then.

    With `visibility`, each version is shown only if the user could see what it held (index
    rows describe only current versions, so old versions are judged from their own JSON); a
    page may then hold fewer than `count` entries, and `next` still carries on after it."""
    r, v = resource, resource_version
    conditions = []
    if resource_type is not None:
        conditions.append(v.c.resource_type == resource_type)
    if resource_id is not None:
        conditions.append(r.c.id == resource_id)
    if since is not None:
        conditions.append(v.c.last_updated >= since)
    if at is not None:
        start, end = at
        later = resource_version.alias("later")
        replaced = (
            select(later.c.version_id)
            .where(
                later.c.resource_pk == v.c.resource_pk,
                later.c.version_id > v.c.version_id,
                later.c.last_updated <= start,
            )
            .exists()
        )
        conditions += [v.c.last_updated < end, ~replaced]
    if cursor is not None:
        at_cursor, pk, version_id = cursor
        conditions.append(
            or_(
                v.c.last_updated < at_cursor,
                and_(v.c.last_updated == at_cursor, v.c.resource_pk < pk),
                and_(
                    v.c.last_updated == at_cursor,
                    v.c.resource_pk == pk,
                    v.c.version_id < version_id,
                ),
            )
        )
    if resource_id is not None and resource_type is not None:
        if visibility is not None:
            assert registry is not None
            read_or_gone(conn, visibility, registry, resource_type, resource_id)
        exists_row = conn.execute(
            select(r.c.pk).where(r.c.resource_type == resource_type, r.c.id == resource_id)
        ).first()
        if exists_row is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
    rows = conn.execute(
        select(
            v.c.resource_type,
            r.c.id,
            v.c.version_id,
            v.c.last_updated,
            v.c.method,
            v.c.content,
            v.c.resource_pk,
        )
        .join(r, r.c.pk == v.c.resource_pk)
        .where(*conditions)
        .order_by(v.c.last_updated.desc(), v.c.resource_pk.desc(), v.c.version_id.desc())
        .limit(count + 1)
    ).all()
    versions = [
        StoredResource(row[0], row[1], row[2], row[3], row[4] == "DELETE", row[5], row[4])
        for row in rows[:count]
        if visibility is None
        or _version_visible(conn, visibility, registry, row[0], row[6], row[2], row[5])
    ]
    next_cursor = None
    if len(rows) > count:
        last = rows[count - 1]
        next_cursor = f"{format_instant(last[3])}~{last[6]}~{last[2]}"
    return HistoryPage(versions, next_cursor)


def read_or_gone(
    conn: Connection,
    visibility: Visibility,
    registry: SearchParameterRegistry,
    resource_type: str,
    resource_id: str,
) -> None:
    """NotFound unless the user may see the resource (current, or deleted: what it held)."""
    with suppress(Gone):
        read_visible(conn, visibility, registry, resource_type, resource_id)


def _version_visible(
    conn: Connection,
    visibility: Visibility,
    registry: SearchParameterRegistry | None,
    resource_type: str,
    pk: int,
    version_id: int,
    content: str | None,
) -> bool:
    assert registry is not None
    if content is None:
        return _deleted_visible(conn, visibility, registry, resource_type, pk, version_id)
    return content_visible(conn, visibility, resource_type, content, registry)


def read_version_visible(
    conn: Connection,
    visibility: Visibility,
    registry: SearchParameterRegistry,
    resource_type: str,
    resource_id: str,
    version_id: int,
) -> StoredResource:
    """vread for a user: the version must hold what they may see, and the resource too."""
    read_or_gone(conn, visibility, registry, resource_type, resource_id)
    _check_version_range(resource_type, resource_id, version_id)
    params = {"rtype": resource_type, "rid": resource_id, "vid": version_id}
    row = conn.execute(_VERSION, params).first()
    if row is not None:
        pk = conn.execute(
            select(resource.c.pk).where(
                resource.c.resource_type == resource_type, resource.c.id == resource_id
            )
        ).scalar_one()
        if not _version_visible(conn, visibility, registry, resource_type, pk, version_id, row[3]):
            raise _no_such_version(resource_type, resource_id, version_id)
    return _version_from_row(row, resource_type, resource_id, version_id)


def parse_history_cursor(cursor: str) -> tuple[datetime, int, int]:
    try:
        at, pk, version_id = cursor.split("~")
        return datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ"), int(pk), int(version_id)
    except ValueError:
        raise InvalidSearch("The history paging cursor is not valid; start again") from None


class FhirStore:
    """Entry point for every transport: short reads, and write transactions."""

    def __init__(self, database: Database, registry: SearchParameterRegistry | None = None) -> None:
        self.database = database
        self.registry = registry or default_registry()
        # Replaced, never changed in place, so a transaction starting on another thread reads
        # one consistent tuple without a lock.
        self._observers: tuple[tuple[str, WriteObserver], ...] = ()

    def observe_writes(self, name: str, observer: WriteObserver) -> None:
        """Call `observer` in every write transaction from now on (see the module docstring).

        `name` says what it is for; registering a name again replaces that observer, so
        building an app twice on one store does not tell anyone twice."""
        kept = tuple((n, o) for n, o in self._observers if n != name)
        self._observers = (*kept, (name, observer))

    @contextmanager
    def transaction(
        self,
        *,
        visibility: Visibility | None = None,
        permit: Callable[[str, str], None] | None = None,
        vet: Vet | None = None,
    ) -> Iterator[StoreTransaction]:
        """A write transaction; `visibility`, `permit` and `vet` make it a user's (see
        StoreTransaction): their reads are filtered, each write is checked, and what they write
        must be visible to them when the transaction ends, or nothing of it is kept."""
        observers = self._observers
        with self.database.write() as conn:
            tx = StoreTransaction(
                conn,
                self.registry,
                visibility=visibility,
                permit=permit,
                vet=vet,
                observed=[] if observers else None,
            )
            yield tx
            # Visibility first: a reference to someone the user may not see must not be told
            # apart from a reference to no one, which the integrity check would report.
            tx.check_written_visible()
            tx.check_integrity()
            tx.flush()
            if tx.observed:
                versions = tuple(tx.observed)
                for _, observer in observers:
                    observer(conn, versions)

    def read(
        self, resource_type: str, resource_id: str, *, visibility: Visibility | None = None
    ) -> StoredResource:
        if visibility is not None:
            with self.database.read() as conn:
                return read_visible(conn, visibility, self.registry, resource_type, resource_id)
        row = _CURRENT_POINT.fetch_one(self.database, rtype=resource_type, rid=resource_id)
        return _current_from_row(row, resource_type, resource_id)

    def vread(
        self,
        resource_type: str,
        resource_id: str,
        version_id: int,
        *,
        visibility: Visibility | None = None,
    ) -> StoredResource:
        if visibility is not None:
            with self.database.read() as conn:
                return read_version_visible(
                    conn, visibility, self.registry, resource_type, resource_id, version_id
                )
        _check_version_range(resource_type, resource_id, version_id)
        row = _VERSION_POINT.fetch_one(
            self.database, rtype=resource_type, rid=resource_id, vid=version_id
        )
        return _version_from_row(row, resource_type, resource_id, version_id)

    def search(self, query: SearchQuery, *, visibility: Visibility | None = None) -> SearchPage:
        with self.database.read() as conn:
            return run_search(conn, query, visibility)

    def history(self, *, visibility: Visibility | None = None, **kwargs: Any) -> HistoryPage:
        with self.database.read() as conn:
            return read_history(conn, visibility=visibility, registry=self.registry, **kwargs)

    def create(self, body: dict[str, Any], **kwargs: Any) -> WriteResult:
        with self.transaction() as tx:
            return tx.create(body, **kwargs)

    def update(
        self, resource_type: str, resource_id: str, body: dict[str, Any], **kwargs: Any
    ) -> WriteResult:
        with self.transaction() as tx:
            return tx.update(resource_type, resource_id, body, **kwargs)

    def delete(self, resource_type: str, resource_id: str, **kwargs: Any) -> StoredResource | None:
        with self.transaction() as tx:
            return tx.delete(resource_type, resource_id, **kwargs)


__all__: Sequence[str] = (
    "FhirStore",
    "HistoryPage",
    "PreparedResource",
    "PutOutcome",
    "StoreTransaction",
    "StoredResource",
    "Touched",
    "WriteObserver",
    "WriteResult",
    "format_instant",
    "parse_history_cursor",
    "patients_named",
    "prepare_resource",
)
