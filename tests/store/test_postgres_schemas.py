"""A store in a PostgreSQL schema of its own: made, found again, dropped unless kept."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from careweave.store.postgres_schemas import postgres_schema, schema_url
from tests.conftest import POSTGRES_URL, _postgres_reachable


def test_the_url_points_the_search_path_at_the_schema() -> None:
    url = schema_url("postgresql+psycopg://postgres@127.0.0.1:5432/test", "bench_pages")
    assert url.endswith("/test?options=-csearch_path%3Dbench_pages")
    with pytest.raises(ValueError, match="not a plain schema name"):
        schema_url(POSTGRES_URL, 'x"; DROP SCHEMA public; --')


def schemas_named(name: str) -> int:
    engine = create_engine(POSTGRES_URL)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"),
            {"s": name},
        ).scalar_one()
    engine.dispose()
    return int(count)


def test_a_schema_is_made_used_and_dropped_unless_kept() -> None:
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI must test PostgreSQL)")
        pytest.skip(problem)
    name = f"t_schemas_{uuid.uuid4().hex[:8]}"
    with postgres_schema(POSTGRES_URL, name, keep=True) as (url, existed):
        assert not existed
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE kept (n integer)"))
            assert conn.execute(text("SELECT current_schema()")).scalar_one() == name
        engine.dispose()
    assert schemas_named(name) == 1
    with postgres_schema(POSTGRES_URL, name) as (_, existed):
        assert existed  # found again, with its table: a benchmark reuses what it made
    assert schemas_named(name) == 0
