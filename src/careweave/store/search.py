"""Answer a checked `SearchQuery` with SQL over the search-index tables.

Each filter becomes an EXISTS over its index table (values ORed inside it, filters ANDed), so
the same SQL runs on SQLite and PostgreSQL. Paging is keyset paging on the sort keys plus the
row's primary key, never OFFSET: a `next` or `previous` cursor names a position in the ordering,
so a page neither repeats nor skips a resource that kept matching while the client paged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import KeyedColumnElement

from careweave.fhir.errors import InvalidSearch
from careweave.fhir.search_parameters import COMPOSITE, composite_row_param
from careweave.fhir.search_query import Filter, Include, SearchQuery, SortKey
from careweave.fhir.search_values import (
    DATE_MAX,
    DATE_MIN,
    CompositeSearch,
    DateRange,
    DateSearch,
    NumberSearch,
    QuantitySearch,
    ReferenceSearch,
    TokenSearch,
    escape_like,
    normalise_string,
)
from careweave.store.tables import (
    date_index,
    number_index,
    quantity_index,
    reference_index,
    resource,
    string_index,
    token_index,
    uri_index,
)
from careweave.store.value_lists import lists_for, one_of
from careweave.store.visibility import (
    FEW_ROWS,
    PATIENT_COMPARTMENT,
    Visibility,
    named_patients,
    resource_condition,
    visible_pks,
)

_TABLE_BY_TYPE: dict[str, Table] = {
    "token": token_index,
    "string": string_index,
    "date": date_index,
    "reference": reference_index,
    "number": number_index,
    "quantity": quantity_index,
    "uri": uri_index,
}
_SORT_COLUMN = {
    "token": "code",
    "string": "normalised",
    "date": "start",
    "reference": "target_id",
    "number": "value",
    "quantity": "value",
    "uri": "uri",
}
_NUMBER_FLOOR = Decimal(-(10**25))
_STRING_CEILING = "\U0010ffff"


@lru_cache(maxsize=4096)
def _is(column: ColumnElement[Any], value: object) -> ColumnElement[bool]:
    """`column = value` for what searches repeat (types, parameter names, code systems, the
    row a subquery is about), built once: SQLAlchemy takes about 10 µs to build each
    comparison, and a search builds dozens that differ from the last search's only in which
    one it is. The cache holds columns of the module's tables (aliases made per search miss
    and age out); expressions are immutable, so one may serve any number of statements."""
    return column == value


@lru_cache(maxsize=1024)
def _current(r: Table) -> ColumnElement[bool]:
    """The row is the current version of a resource that has not been deleted."""
    return r.c.deleted == false()


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: matching resources' JSON text, included resources, paging cursors."""

    matches: list[tuple[str, str, str]]
    """(resource_type, id, JSON) of each match, in order."""
    included: list[tuple[str, str, str]]
    total: int | None
    next_cursor: str | None
    previous_cursor: str | None


def search(
    conn: Connection, query: SearchQuery, visibility: Visibility | None = None
) -> SearchPage:
    """One page of `query`; with `visibility`, only what it lets through, counts and
    included resources too, so what a user may not see leaves no trace in the answer."""
    with lists_for(conn):
        return _search(conn, query, visibility)


def _search(conn: Connection, query: SearchQuery, visibility: Visibility | None) -> SearchPage:
    r = resource
    where = match_conditions(query.resource_type, query.filters, r, visibility)
    if visibility is not None:
        # A search for a few ids (a person's summary starts from `Patient?_id=`) is a check of
        # a few rows: on PostgreSQL the per-row form of the access condition, which it plans
        # in a third of the time and runs from the row at hand (see visible_pks).
        few_ids = any(
            f.name == "_id" and not f.modifier and len(f.values) <= FEW_ROWS for f in query.filters
        )
        per_row = few_ids and conn.dialect.name == "postgresql"
        where.append(resource_condition(visibility, query.resource_type, r, per_row=per_row))
    unpaged_where = list(where)

    def count_all() -> int:
        statement = select(func.count()).select_from(r).where(*unpaged_where)
        return int(conn.execute(statement).scalar_one())

    if query.summary_count or query.count == 0:
        wanted = query.summary_count or query.total == "accurate"
        return SearchPage([], [], count_all() if wanted else None, None, None)

    keys = [_sort_expression(query.resource_type, k) for k in query.sort]
    keys.append((r.c.pk, False, "pk"))
    forward = True
    if query.cursor is not None:
        direction, position = _decode_cursor(query.cursor, keys)
        forward = direction == "next"
        where.append(_beyond(keys, position, forward))
    # Backward paging reads the ordering in reverse, then puts the page back in order.
    order = [expr.desc() if desc == forward else expr.asc() for expr, desc, _ in keys]
    columns = [r.c.pk, r.c.resource_type, r.c.id, r.c.content, *[e for e, _, _ in keys[:-1]]]
    rows = conn.execute(
        select(*columns).where(*where).order_by(*order).limit(query.count + 1)
    ).all()
    more = len(rows) > query.count
    rows = list(rows[: query.count])
    if not forward:
        rows.reverse()

    def position_of(row: Any) -> list[object]:
        return [*row[4:], row[0]]

    next_cursor = previous_cursor = None
    if rows:
        if (forward and more) or (not forward and query.cursor is not None):
            next_cursor = _encode_cursor("next", position_of(rows[-1]))
        if (not forward and more) or (forward and query.cursor is not None):
            previous_cursor = _encode_cursor("previous", position_of(rows[0]))
    matches = [(row[1], row[2], row[3]) for row in rows]
    included = _included(conn, query, [row[0] for row in rows], matches, visibility)
    total = None
    if query.total != "none":
        # A first page that holds every match is its own count; otherwise ask the database.
        if query.cursor is None and not more:
            total = len(rows)
        elif query.total == "accurate":
            total = count_all()
    return SearchPage(matches, included, total, next_cursor, previous_cursor)


_DRIVING_PRIORITY = {
    "token": 0,
    "reference": 0,
    "uri": 0,
    # A composite's lookup is its code, usually shared by many resources (every systolic
    # reading), so a patient or identifier beside it drives instead.
    "composite": 1,
    "string": 1,
    "quantity": 2,
    "number": 2,
}


def _driving_rank(f: Filter) -> int:
    """How well a filter can drive the query: low ranks are usually the most selective."""
    if f.modifier in {"missing", "not"} or f.name == "_lastUpdated":
        return 9
    if f.name == "_id":
        return -1
    if f.type == "has":
        return _driving_rank(f.chained) + 1 if f.chained is not None else 9
    return _DRIVING_PRIORITY.get(f.type, 3) if f.chained is None else 1


def match_conditions(
    resource_type: str, filters: list[Filter], r: Table, visibility: Visibility | None = None
) -> list[ColumnElement[bool]]:
    """The WHERE conditions for current resources of one type that pass every filter.

    The most selective-looking filter drives: it becomes `pk IN (index lookup)` and the type
    condition is left out (the lookup only holds rows of this type), so both databases start
    from that index. The other filters are correlated EXISTS checks on the few index rows of
    each candidate. Testing every resource of the type against every filter, or materialising
    every filter's matches, was orders of magnitude slower on large tables.
    """
    conditions: list[ColumnElement[bool]] = [_current(r)]
    ordered = sorted(filters, key=_driving_rank)
    if ordered and _driving_rank(ordered[0]) < 9 and ordered[0].name != "_id":
        conditions.append(filter_condition(resource_type, ordered[0], r, visibility, driving=True))
        ordered = ordered[1:]
    else:
        conditions.append(_is(r.c.resource_type, resource_type))
    conditions += [filter_condition(resource_type, f, r, visibility) for f in ordered]
    return conditions


def filter_condition(
    resource_type: str,
    f: Filter,
    r: Table,
    visibility: Visibility | None = None,
    *,
    driving: bool = False,
) -> ColumnElement[bool]:
    """The SQL condition for one filter on rows of `r` (a resource table or alias)."""
    if f.name == "_id":
        return one_of(r.c.id, [v.code for v in f.values if isinstance(v, TokenSearch) and v.code])
    if f.name == "_lastUpdated":
        return or_(
            *[
                _instant_condition(r.c.last_updated, v)
                for v in f.values
                if isinstance(v, DateSearch)
            ]
        ).self_group()
    if f.type == "has":
        return _has_condition(resource_type, f, r, visibility)
    if f.type == COMPOSITE:
        return _composite_condition(resource_type, f, r, driving=driving)
    table = _TABLE_BY_TYPE[f.type]
    param_is = _is(table.c.param, f.name)

    def having(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        if driving:
            of_type = _is(table.c.resource_type, resource_type)
            return r.c.pk.in_(select(table.c.resource_pk).where(of_type, param_is, *conditions))
        # No resource_type here (the row's resource fixes it): that leaves the databases only
        # the (resource_pk, param) index, a handful of rows, instead of a range scan over
        # every row of the parameter for each candidate.
        return exists().where(_is(table.c.resource_pk, r.c.pk), param_is, *conditions)

    if f.modifier == "missing":
        present = having()
        return not_(present) if f.values[0] is True else present
    if f.chained is not None:
        return having(_chain_condition(f, visibility))
    of_target: tuple[ColumnElement[bool], ...] = ()
    if f.type == "reference" and f.target_type is not None:
        of_target = (_is(table.c.target_type, f.target_type),)
    grouped = _grouped_values(f, table) if len(f.values) > 1 else None
    if grouped is not None:
        matching = having(*of_target, grouped)
    else:
        matching = having(*of_target, or_(*[_value_condition(f, table, v) for v in f.values]))
    if f.modifier == "not":
        return not_(matching)
    return matching


def _visible_matches(
    resource_type: str, f: Filter, alias_name: str, visibility: Visibility | None
) -> tuple[Table, list[ColumnElement[bool]]]:
    """A fresh alias of the resource table and the conditions for its rows of `resource_type`
    that pass `f` and that the user may see. Chains and reverse chains go through this: a
    match on what a hidden resource holds would tell the user what it holds."""
    rows = resource.alias(alias_name)
    conditions = match_conditions(resource_type, [f], rows, visibility)  # type: ignore[arg-type]
    if visibility is not None:
        conditions.append(resource_condition(visibility, resource_type, rows))  # type: ignore[arg-type]
    return rows, conditions  # type: ignore[return-value]


def _chain_condition(f: Filter, visibility: Visibility | None) -> ColumnElement[bool]:
    """A chain only follows references to resources the user may see."""
    assert f.chained is not None and f.target_type is not None
    target, conditions = _visible_matches(f.target_type, f.chained, "chained", visibility)
    inner = select(target.c.id).where(*conditions)
    return and_(
        _is(reference_index.c.target_type, f.target_type), reference_index.c.target_id.in_(inner)
    )


def _has_condition(
    resource_type: str, f: Filter, r: Table, visibility: Visibility | None
) -> ColumnElement[bool]:
    """`_has:Source:param:filter`: rows of `r` that a current `Source` passing the filter
    refers to through `param`. As with a chain, only sources the user may see count."""
    assert f.chained is not None and f.target_type is not None and f.param is not None
    source, conditions = _visible_matches(f.target_type, f.chained, "has_source", visibility)
    ref = reference_index.alias("has_reference")
    referred = select(ref.c.target_id).where(
        ref.c.resource_type == f.target_type,
        ref.c.param == f.param.code,
        ref.c.target_type == resource_type,
        ref.c.resource_pk.in_(select(source.c.pk).where(*conditions)),
    )
    return and_(_is(r.c.resource_type, resource_type), r.c.id.in_(referred))


def _composite_condition(
    resource_type: str, f: Filter, r: Table, *, driving: bool
) -> ColumnElement[bool]:
    """Rows of `r` with some value of `f` found together in one element, by any source.

    Each source and value is an alternative. A source that is the resource itself is its
    components' own parameters; as the only alternative, and driving, it is exactly the search
    ``code=...&value-quantity=...`` (one subquery pairing the two made PostgreSQL misjudge how
    many resources match and walk the whole resource table, 0.5-20 s instead of 0.1 s). Driving
    otherwise, the resources are `pk IN` the union of each alternative's matches; not driving,
    each candidate must pass one alternative's check on its own rows.
    """
    assert f.param is not None
    values = [value for value in f.values if isinstance(value, CompositeSearch)]
    kinds = [component.type for component in f.param.components]
    matches: list[Select[tuple[int]]] = []
    checks: list[ColumnElement[bool]] = []
    for source in f.param.sources:
        if source.plain_params:
            for value in values:
                parts = [
                    Filter(param, kind, None, None, (part,))
                    for param, kind, part in zip(
                        source.plain_params, kinds, value.parts, strict=True
                    )
                ]
                if driving and len(values) * len(f.param.sources) == 1:
                    return and_(
                        filter_condition(resource_type, parts[0], r, driving=True),
                        *[filter_condition(resource_type, part, r) for part in parts[1:]],
                    )
                if driving:
                    matches.append(_plain_tuples(resource_type, parts))
                else:
                    checks.append(
                        and_(*[filter_condition(resource_type, part, r) for part in parts])
                    )
        elif driving:
            matches.append(_stored_tuples(resource_type, kinds, source.row_param, values))
        else:
            checks.append(
                _stored_tuples(resource_type, kinds, source.row_param, values, r).exists()
            )
    if driving:
        return r.c.pk.in_(matches[0] if len(matches) == 1 else union_all(*matches))
    return or_(*checks).self_group()


def _plain_tuples(resource_type: str, parts: Sequence[Filter]) -> Select[tuple[int]]:
    """The resources of `resource_type` whose own rows pass every one of `parts` (one value
    each): the first part's index lookup, each other part an EXISTS on the same resource."""
    tables = [
        cast(Table, _TABLE_BY_TYPE[part.type].alias(f"own_{k}")) for k, part in enumerate(parts)
    ]
    first = tables[0]
    conditions = [
        first.c.resource_type == resource_type,
        first.c.param == parts[0].name,
        _value_condition(parts[0], first, parts[0].values[0]),
    ]
    for part, table in zip(parts[1:], tables[1:], strict=True):
        conditions.append(
            exists().where(
                table.c.resource_pk == first.c.resource_pk,
                table.c.param == part.name,
                _value_condition(part, table, part.values[0]),
            )
        )
    return select(first.c.resource_pk).where(*conditions)


def _stored_tuples(
    resource_type: str,
    kinds: Sequence[str],
    row_param: str,
    values: Sequence[CompositeSearch],
    of: Table | None = None,
) -> Select[tuple[int]]:
    """The resources with a tuple stored as rows (elements of a list, such as components) that
    matches one of `values`: the first component's rows and each other component's rows of the
    same element (same resource, row parameter and `composite` number) in its own table. With
    `of`, only the rows of its current row (as `filter_condition` checks a candidate)."""
    tables = [
        cast(Table, _TABLE_BY_TYPE[kind].alias(f"composite_{k}")) for k, kind in enumerate(kinds)
    ]
    first = tables[0]
    params = [composite_row_param(row_param, k) for k in range(len(kinds))]
    conditions: list[ColumnElement[bool]] = [
        first.c.resource_type == resource_type if of is None else first.c.resource_pk == of.c.pk,
        first.c.param == params[0],
    ]
    for param, table in zip(params[1:], tables[1:], strict=True):
        conditions += [
            table.c.resource_pk == first.c.resource_pk,
            table.c.param == param,
            table.c.composite == first.c.composite,
        ]
    filters = [_component_filter(param, kind) for param, kind in zip(params, kinds, strict=True)]
    conditions.append(
        or_(
            *[
                and_(
                    *[
                        _value_condition(component, table, part)
                        for component, table, part in zip(filters, tables, value.parts, strict=True)
                    ]
                )
                for value in values
            ]
        ).self_group()
    )
    return select(first.c.resource_pk).where(*conditions)


@lru_cache(maxsize=64)
def _component_filter(name: str, kind: str) -> Filter:
    """A stand-in filter for one component, so its values build the conditions a plain
    parameter of its type would."""
    return Filter(name, kind, None, None, ())


def _grouped_values(f: Filter, table: Table) -> ColumnElement[bool] | None:
    """Several values of one kind as one IN: `patient=Patient/a,Patient/b,...` is
    `target_type = 'Patient' AND target_id IN (...)`, and `code=s|a,s|b` is `system = s AND
    code IN (...)`, which both databases look up in the index. As an OR of pairs, SQLite read
    every index row of the parameter (all the Conditions' subjects in the store) instead.
    None when the values differ in kind (the OR then says what they mean)."""
    c = table.c
    if f.modifier not in ("", None, "not"):
        return None
    if f.type == "reference":
        references = [v for v in f.values if isinstance(v, ReferenceSearch)]
        if len(references) != len(f.values) or any(
            v.id is None or v.url is not None for v in references
        ):
            return None
        kinds = {v.resource_type for v in references}
        ids = sorted({v.id for v in references if v.id is not None})
        if len(kinds) != 1:
            return None
        kind = kinds.pop()
        if kind is None:
            return one_of(c.target_id, ids)
        return and_(_is(c.target_type, kind), one_of(c.target_id, ids))
    if f.type == "token":
        tokens = [v for v in f.values if isinstance(v, TokenSearch)]
        if len(tokens) != len(f.values) or any(v.code is None for v in tokens):
            return None
        shapes = {(v.system, v.system_specified) for v in tokens}
        if len(shapes) != 1:
            return None
        system, specified = shapes.pop()
        codes = sorted({v.code for v in tokens if v.code is not None})
        if system is not None:
            return and_(one_of(c.code, codes), _is(c.system, system))
        if specified:
            return and_(one_of(c.code, codes), c.system.is_(None))
        return one_of(c.code, codes)
    return None


def _value_condition(f: Filter, table: Table, value: object) -> ColumnElement[bool]:
    c = table.c
    if f.type == "string":
        assert isinstance(value, str)
        if f.modifier == "exact":
            return c.exact == value
        needle = normalise_string(value)
        if f.modifier == "contains":
            return c.normalised.like(f"%{escape_like(needle)}%", escape="\\")
        return and_(c.normalised >= needle, c.normalised < needle + _STRING_CEILING)
    if f.type == "token":
        if f.modifier == "text":
            assert isinstance(value, str)
            return func.lower(c.text).like(f"%{escape_like(value.lower())}%", escape="\\")
        assert isinstance(value, TokenSearch)
        parts = []
        if value.code is not None:
            parts.append(c.code == value.code)
        if value.system is not None:
            parts.append(_is(c.system, value.system))
        elif value.system_specified:
            parts.append(c.system.is_(None))
        return and_(*parts) if parts else true()
    if f.type == "date":
        assert isinstance(value, DateSearch)
        return date_condition(c.start, c.end, value)
    if f.type == "number":
        assert isinstance(value, NumberSearch)
        return number_condition(c.value, value)
    if f.type == "quantity":
        assert isinstance(value, QuantitySearch)
        parts = [number_condition(c.value, value.number)]
        if value.system is not None:
            parts.append(_is(c.system, value.system))
        if value.code is not None:
            parts.append(
                or_(c.code == value.code, c.unit == value.code)
                if value.system is None
                else c.code == value.code
            )
        return and_(*parts)
    if f.type == "reference":
        assert isinstance(value, ReferenceSearch)
        parts = []
        if value.id is not None:
            parts.append(c.target_id == value.id)
        if value.resource_type is not None:
            parts.append(_is(c.target_type, value.resource_type))
        local = and_(*parts)
        if value.url is not None:
            return or_(c.url == value.url, local) if parts else c.url == value.url
        return local
    assert isinstance(value, str)
    return c.uri == value


def date_condition(
    start: KeyedColumnElement[datetime] | ColumnElement[datetime],
    end: KeyedColumnElement[datetime] | ColumnElement[datetime],
    search_value: DateSearch,
) -> ColumnElement[bool]:
    """Compare stored ranges [start, end) with the search range, as R4 search.html defines."""
    p = search_value.range
    prefix = search_value.prefix
    if prefix == "eq":
        return and_(start >= p.start, end <= p.end)
    if prefix == "ne":
        return not_(and_(start >= p.start, end <= p.end))
    if prefix == "gt":
        return end > p.end
    if prefix == "lt":
        return start < p.start
    if prefix == "ge":
        return end > p.start
    if prefix == "le":
        return start < p.end
    if prefix == "sa":
        return start >= p.end
    if prefix == "eb":
        return end <= p.start
    widened = _approximately(p)
    return and_(start < widened.end, end > widened.start)


def _instant_condition(
    column: ColumnElement[datetime], search_value: DateSearch
) -> ColumnElement[bool]:
    """`_lastUpdated` is an instant: a point, not a range, so compare it with the search range."""
    p = search_value.range
    prefix = search_value.prefix
    inside = and_(column >= p.start, column < p.end)
    if prefix == "eq":
        return inside
    if prefix == "ne":
        return not_(inside)
    if prefix in {"gt", "sa"}:
        return column >= p.end
    if prefix in {"lt", "eb"}:
        return column < p.start
    if prefix == "ge":
        return column >= p.start
    if prefix == "le":
        return column < p.end
    widened = _approximately(p)
    return and_(column >= widened.start, column < widened.end)


def _approximately(p: DateRange) -> DateRange:
    """`ap`: widen by 10% of the distance from now (at least a day), as the spec suggests."""
    now = datetime.now(UTC).replace(tzinfo=None)
    gap = max(abs(now - p.start), abs(now - p.end)) / 10
    gap = max(gap, timedelta(days=1))
    start = p.start - gap if p.start - DATE_MIN > gap else DATE_MIN
    end = p.end + gap if DATE_MAX - p.end > gap else DATE_MAX
    return DateRange(start, end)


def number_condition(column: ColumnElement[Decimal], value: NumberSearch) -> ColumnElement[bool]:
    prefix = value.prefix
    if prefix == "eq":
        return and_(column >= value.low, column < value.high)
    if prefix == "ne":
        return not_(and_(column >= value.low, column < value.high))
    if prefix in {"gt", "sa"}:
        return column > value.value
    if prefix in {"lt", "eb"}:
        return column < value.value
    if prefix == "ge":
        return column >= value.value
    if prefix == "le":
        return column <= value.value
    margin = abs(value.value) / 10
    return and_(column >= value.value - margin, column <= value.value + margin)


def _sort_expression(resource_type: str, key: SortKey) -> tuple[Any, bool, str]:
    r = resource
    if key.name == "_id":
        return r.c.id, key.descending, "string"
    if key.name == "_lastUpdated":
        return r.c.last_updated, key.descending, "date"
    table = _TABLE_BY_TYPE[key.type]
    column = table.c[_SORT_COLUMN[key.type]]
    aggregate = func.max(column) if key.descending else func.min(column)
    floor: object
    if key.type == "date":
        floor, kind = DATE_MIN, "date"
    elif key.type in {"number", "quantity"}:
        floor, kind = _NUMBER_FLOOR, "number"
    else:
        floor, kind = "", "string"
    sub = (
        select(aggregate)
        .where(
            _is(table.c.resource_pk, r.c.pk),
            _is(table.c.resource_type, resource_type),
            _is(table.c.param, key.name),
        )
        .scalar_subquery()
    )
    return func.coalesce(sub, literal(floor, type_=column.type)), key.descending, kind


def _beyond(
    keys: Sequence[tuple[Any, bool, str]], position: Sequence[object], forward: bool
) -> ColumnElement[bool]:
    """Rows strictly after (forward) or before (backward) `position` in the sort order."""
    alternatives = []
    for i, (expr, desc, _) in enumerate(keys):
        later = (expr < position[i]) if desc == forward else (expr > position[i])
        equal_before = [keys[j][0] == position[j] for j in range(i)]
        alternatives.append(and_(*equal_before, later))
    return or_(*alternatives)


def _encode_cursor(direction: str, position: Sequence[object]) -> str:
    def encode(value: object) -> object:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        return value

    payload = orjson.dumps([direction, [encode(v) for v in position]])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_cursor(cursor: str, keys: Sequence[tuple[Any, bool, str]]) -> tuple[str, list[object]]:
    bad = InvalidSearch("The paging cursor (_cursor) does not belong to this search; start again")
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        direction, values = payload
        if direction not in {"next", "previous"} or len(values) != len(keys):
            raise bad
        position: list[object] = []
        for value, (_, _, kind) in zip(values, keys, strict=True):
            if kind == "date":
                position.append(datetime.fromisoformat(value))
            elif kind == "number":
                position.append(Decimal(value))
            elif kind == "pk":
                position.append(int(value))
            else:
                position.append(str(value))
        return direction, position
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise bad from None


def _included(
    conn: Connection,
    query: SearchQuery,
    page_pks: list[int],
    matches: list[tuple[str, str, str]],
    visibility: Visibility | None,
) -> list[tuple[str, str, str]]:
    if not page_pks or not (query.includes or query.revincludes):
        return []
    seen = set(page_pks)
    included: list[tuple[str, str, str]] = []
    frontier = [(pk, rt, rid) for pk, (rt, rid, _) in zip(page_pks, matches, strict=True)]
    rounds = 3 if any(i.iterate for i in query.includes + query.revincludes) else 1
    matched_reach: set[str] | None = None
    for round_number in range(rounds):
        found: list[tuple[int, str, str, str]] = []
        for inc in query.includes:
            if round_number and not inc.iterate:
                continue
            found += _forward_include(conn, inc, [f for f in frontier if f[1] == inc.source_type])
        for inc in query.revincludes:
            if round_number and not inc.iterate:
                continue
            found += _reverse_include(conn, inc, frontier)
        if visibility is not None and found:
            # The patients the matches show the user reaches, and the Patients included so
            # far, passed the access condition already: rows naming only them need no second
            # look at the relationship rules (a CareTeam's Patient only at its labels).
            about_people = any(
                row[1] == "Patient" or row[1] in PATIENT_COMPARTMENT for row in found
            )
            if matched_reach is None and about_people:
                matched_reach = _reached_by(conn, page_pks, matches)
            reached = (matched_reach or set()) | {rid for rt, rid, _ in included if rt == "Patient"}
            allowed = visible_pks(
                conn,
                visibility,
                [(row[0], row[1]) for row in found],
                reached=reached,
                patient_ids={row[0]: row[2] for row in found if row[1] == "Patient"},
            )
            found = [row for row in found if row[0] in allowed]
        frontier = []
        for pk, rt, rid, content in found:
            if pk not in seen:
                seen.add(pk)
                included.append((rt, rid, content))
                frontier.append((pk, rt, rid))
        if not frontier:
            break
    return included


def _reached_by(
    conn: Connection, page_pks: list[int], matches: list[tuple[str, str, str]]
) -> set[str]:
    """The patients a page of matches shows the user reaches: the Patients matched, and every
    patient a matched record of the patient compartment names (the access condition let the
    record through only because each of them is one the user reaches)."""
    reached = {rid for rt, rid, _ in matches if rt == "Patient"}
    by_type: dict[str, list[int]] = {}
    for pk, (rt, _, _) in zip(page_pks, matches, strict=True):
        if rt in PATIENT_COMPARTMENT:
            by_type.setdefault(rt, []).append(pk)
    if by_type:
        for patients in named_patients(conn, by_type).values():
            reached |= patients
    return reached


def _forward_include(
    conn: Connection, inc: Include, sources: list[tuple[int, str, str]]
) -> list[tuple[int, str, str, str]]:
    if not sources:
        return []
    r, ref = resource, reference_index
    conditions = [
        one_of(ref.c.resource_pk, [pk for pk, _, _ in sources]),
        _is(ref.c.resource_type, inc.source_type),
        _is(ref.c.param, inc.param.code),
        _current(r),
    ]
    if inc.target_type is not None:
        conditions.append(_is(ref.c.target_type, inc.target_type))
    rows = conn.execute(
        select(r.c.pk, r.c.resource_type, r.c.id, r.c.content)
        .join(ref, and_(ref.c.target_type == r.c.resource_type, ref.c.target_id == r.c.id))
        .where(*conditions)
        .order_by(r.c.pk)
    ).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def _reverse_include(
    conn: Connection, inc: Include, targets: list[tuple[int, str, str]]
) -> list[tuple[int, str, str, str]]:
    wanted = [(rt, rid) for _, rt, rid in targets if inc.target_type in (None, rt)]
    if not wanted:
        return []
    r, ref = resource, reference_index
    by_type: dict[str, list[str]] = {}
    for rt, rid in wanted:
        by_type.setdefault(rt, []).append(rid)
    target_match = or_(
        *[
            and_(ref.c.target_type == rt, one_of(ref.c.target_id, ids))
            for rt, ids in by_type.items()
        ]
    )
    rows = conn.execute(
        select(r.c.pk, r.c.resource_type, r.c.id, r.c.content)
        .join(ref, ref.c.resource_pk == r.c.pk)
        .where(
            _is(ref.c.resource_type, inc.source_type),
            _is(ref.c.param, inc.param.code),
            target_match,
            _current(r),
        )
        .distinct()
        .order_by(r.c.pk)
    ).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]
