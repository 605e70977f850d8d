"""A PostgreSQL schema of its own for one careweave store: how the test suite and the
benchmarks keep many stores in one database (each test, each benchmark run), and how an
operator could keep a trial place beside the live one.

The store's tables are created unqualified, so a store lives wherever its connections'
`search_path` points: the URL carries `options=-csearch_path=<schema>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def schema_url(base_url: str, schema: str) -> str:
    """`base_url` with its connections' search path set to `schema`."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(
            f"{schema!r} is not a plain schema name (lower-case letters, digits, underscores)"
        )
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def postgres_schema(
    base_url: str, schema: str, *, keep: bool = False
) -> Iterator[tuple[str, bool]]:
    """The URL of `schema` in the database at `base_url`, made if missing, and whether it was
    already there; dropped with everything in it at the end unless `keep`."""
    url = schema_url(base_url, schema)
    admin = create_engine(base_url)
    try:
        with admin.begin() as conn:
            existed = bool(
                conn.execute(
                    text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                    {"s": schema},
                ).first()
            )
            if not existed:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield url, existed
        finally:
            if not keep:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
