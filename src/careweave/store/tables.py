"""The storage model: one row per resource, one per version, and typed search-index tables.

The resource JSON is stored as the client sent it (plus `meta`), so a read returns stored text
without re-serialising. Search-index rows belong to the current version only and are rewritten
in the same transaction as the resource they describe (see docs/adr/0001-storage-model.md).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

PrimaryKey = BigInteger().with_variant(Integer(), "sqlite")
# Binary collation on PostgreSQL makes prefix ranges (>= 'ab' AND < 'ac') match exactly what
# Python string comparison says, the same as SQLite's default BINARY collation.
LongText = Text().with_variant(Text(collation="C"), "postgresql")
Decimal = Numeric(precision=38, scale=12, asdecimal=True)

resource = Table(
    "resource",
    metadata,
    Column("pk", PrimaryKey, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("id", String(64).with_variant(String(64, collation="C"), "postgresql"), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", DateTime(timezone=False), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", Text, nullable=True),
    UniqueConstraint("resource_type", "id"),
    Index(None, "resource_type", "last_updated"),
)

resource_version = Table(
    "resource_version",
    metadata,
    Column("resource_pk", ForeignKey("resource.pk"), primary_key=True),
    Column("version_id", Integer, primary_key=True),
    Column("resource_type", String(64), nullable=False),
    Column("last_updated", DateTime(timezone=False), nullable=False),
    Column("method", String(8), nullable=False),
    Column("content", Text, nullable=True),
    Index(None, "resource_type", "last_updated"),
    Index(None, "last_updated"),
)


def _index_table(name: str, *columns: Column[object], lookup: tuple[str, ...]) -> Table:
    return Table(
        name,
        metadata,
        Column("resource_pk", ForeignKey("resource.pk"), nullable=False),
        Column("resource_type", String(64), nullable=False),
        Column("param", String(64), nullable=False),
        *columns,
        # A composite parameter's rows: the number of the element they were found in, which
        # pairs them with the same element's rows of its other components (NULL otherwise).
        Column("composite", Integer, nullable=True),
        # resource_pk last makes the lookup index covering: a search reads no table rows.
        Index(None, "resource_type", "param", *lookup, "resource_pk"),
        # For checking one candidate's values, and for rewriting a resource's rows.
        Index(None, "resource_pk", "param"),
    )


token_index = _index_table(
    "search_token",
    Column("system", LongText, nullable=True),
    Column("code", LongText, nullable=True),
    Column("text", Text, nullable=True),
    lookup=("code", "system"),
)
string_index = _index_table(
    "search_string",
    Column("normalised", LongText, nullable=False),
    Column("exact", Text, nullable=False),
    lookup=("normalised",),
)
date_index = _index_table(
    "search_date",
    Column("start", DateTime(timezone=False), nullable=False),
    Column("end", DateTime(timezone=False), nullable=False),
    lookup=("start", "end"),
)
reference_index = _index_table(
    "search_reference",
    Column("target_type", String(64), nullable=True),
    Column("target_id", String(64), nullable=True),
    Column("url", LongText, nullable=True),
    lookup=("target_type", "target_id"),
)
Index("ix_search_reference_target", reference_index.c.target_type, reference_index.c.target_id)
number_index = _index_table(
    "search_number",
    Column("value", Decimal, nullable=False),
    lookup=("value",),
)
quantity_index = _index_table(
    "search_quantity",
    Column("value", Decimal, nullable=False),
    Column("system", LongText, nullable=True),
    Column("code", LongText, nullable=True),
    Column("unit", Text, nullable=True),
    lookup=("value",),
)
uri_index = _index_table(
    "search_uri",
    Column("uri", LongText, nullable=False),
    lookup=("uri",),
)

INDEX_TABLES: tuple[Table, ...] = (
    token_index,
    string_index,
    date_index,
    reference_index,
    number_index,
    quantity_index,
    uri_index,
)
