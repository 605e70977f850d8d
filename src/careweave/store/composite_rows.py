"""Write the composite search-index rows of resources stored before composites were indexed.

Migration 0005 calls this once: every other write extracts composite rows with the rest (see
`careweave.fhir.index_values`), so only resources already in the store need it. It reads the
current version of each resource of a type that has composite parameters, in batches by primary
key, and adds just those rows, leaving every other index row as it was.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

import orjson
from sqlalchemy import Connection, Table, false, select

from careweave.fhir.index_values import IndexValues, extract_index_values
from careweave.fhir.search_parameters import COMPOSITE, SearchParameterRegistry, default_registry
from careweave.store.tables import INDEX_TABLES, resource

_BATCH = 2000
_TABLES: tuple[tuple[str, Table], ...] = tuple(
    zip((f.name for f in fields(IndexValues)), INDEX_TABLES, strict=True)
)
"""Each `IndexValues` list and the table its rows go to (both in the same order)."""


def types_with_composites(registry: SearchParameterRegistry) -> list[str]:
    """The resource types that have at least one composite search parameter."""
    return [
        resource_type
        for resource_type in registry.resource_types()
        if any(p.type == COMPOSITE for p in registry.for_type(resource_type).values())
    ]


def index_composites(conn: Connection, registry: SearchParameterRegistry | None = None) -> int:
    """Add the composite rows of every current resource; returns how many resources had any."""
    registry = registry or default_registry()
    types = types_with_composites(registry)
    indexed = 0
    after = 0
    while True:
        batch = conn.execute(
            select(resource.c.pk, resource.c.resource_type, resource.c.content)
            .where(
                resource.c.resource_type.in_(types),
                resource.c.deleted == false(),
                resource.c.pk > after,
            )
            .order_by(resource.c.pk)
            .limit(_BATCH)
        ).all()
        if not batch:
            return indexed
        rows: dict[str, list[dict[str, Any]]] = {attribute: [] for attribute, _ in _TABLES}
        for pk, resource_type, content in batch:
            values = extract_index_values(orjson.loads(content), registry)
            found = _composite_rows(values, pk, resource_type)
            indexed += any(found.values())
            for attribute, table_rows in found.items():
                rows[attribute] += table_rows
        for attribute, table in _TABLES:
            if rows[attribute]:
                conn.execute(table.insert(), rows[attribute])
        after = batch[-1].pk


def _composite_rows(
    values: IndexValues, pk: int, resource_type: str
) -> dict[str, list[dict[str, Any]]]:
    return {
        attribute: [
            {"resource_pk": pk, "resource_type": resource_type, **asdict(row)}
            for row in getattr(values, attribute)
            if row.composite is not None
        ]
        for attribute, _ in _TABLES
    }
