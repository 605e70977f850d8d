"""`column IN (values)` written so that PostgreSQL plans it once, whatever the values.

An IN list is one bound parameter per value, so each length is a different statement to
PostgreSQL: a page about 298 people and one about 297 are planned separately, and the planning
of a search under the access rules (10-15 ms) cost more than running it. And once psycopg
prepares a statement PostgreSQL may settle on a generic plan, in which `target_id IN ($4, ...,
$301)` is no longer an index condition but a filter over every row of the parameter: the
caseload's referrals search took 45 ms instead of 8. As `column = ANY($1)`, one array
parameter, the statement text is the same for any number of values and the generic plan still
looks the values up in the index. SQLite has no arrays and does not keep plans between
statements, so it keeps IN.

Which form to write is decided when the condition is built, from the connection it is built
for (`lists_for`), so SQLAlchemy's cache keeps the two forms apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import ColumnElement, Connection, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

_AS_ARRAY: ContextVar[bool] = ContextVar("careweave_value_lists_as_arrays", default=False)


@contextmanager
def lists_for(conn: Connection) -> Iterator[None]:
    """Conditions built inside are for `conn`'s database."""
    with lists_for_dialect(conn.dialect.name):
        yield


@contextmanager
def lists_for_dialect(name: str) -> Iterator[None]:
    """Conditions built inside are for a database of this dialect ("postgresql", "sqlite")."""
    token = _AS_ARRAY.set(name == "postgresql")
    try:
        yield
    finally:
        _AS_ARRAY.reset(token)


def lists_as_arrays() -> bool:
    """Whether conditions built now are for PostgreSQL (part of any cache of conditions)."""
    return _AS_ARRAY.get()


def one_of(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column` is one of `values`: `= ANY(array)` for PostgreSQL, IN elsewhere."""
    listed = list(values)
    if _AS_ARRAY.get():
        return column == any_(bindparam(None, listed, type_=ARRAY(column.type)))
    return column.in_(listed)
