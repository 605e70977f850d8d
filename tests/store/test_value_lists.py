"""A list of values in a condition is one array parameter on PostgreSQL (the same statement
for any number of values, which it can plan once) and IN on SQLite; both find the same rows."""

from __future__ import annotations

from sqlalchemy import select

from careweave.store.repository import FhirStore
from careweave.store.tables import resource
from careweave.store.value_lists import lists_as_arrays, lists_for, one_of


def _statement_text(store: FhirStore, ids: list[str]) -> tuple[str, list[str]]:
    with store.database.read() as conn, lists_for(conn):
        statement = select(resource.c.id).where(
            resource.c.resource_type == "Patient", one_of(resource.c.id, ids)
        )
        compiled = statement.compile(conn)
        found = sorted(conn.execute(statement).scalars().all())
    return str(compiled), found


def test_one_of_finds_the_same_rows_with_one_statement_for_any_number_of_values(
    store: FhirStore,
) -> None:
    for n in range(12):
        store.update("Patient", f"p{n}", {"resourceType": "Patient", "id": f"p{n}"})
    few_text, few = _statement_text(store, ["p1", "p3", "nobody"])
    many_text, many = _statement_text(store, [f"p{n}" for n in range(0, 12, 2)] + ["x"] * 300)
    none_text, none = _statement_text(store, [])
    assert few == ["p1", "p3"]
    assert many == ["p0", "p10", "p2", "p4", "p6", "p8"]
    assert none == []
    if store.database.dialect == "postgresql":
        assert "= ANY (" in few_text
        assert few_text == many_text == none_text
    else:
        assert " IN (" in few_text
        assert "ANY" not in few_text


def test_the_form_follows_the_connection_it_is_built_for(store: FhirStore) -> None:
    assert not lists_as_arrays()
    with store.database.read() as conn:
        with lists_for(conn):
            assert lists_as_arrays() == (store.database.dialect == "postgresql")
        assert not lists_as_arrays()


def test_conditions_can_be_built_for_a_dialect_without_a_connection() -> None:
    """bench.search_sql builds the PostgreSQL form of a search with no database to hand."""
    from sqlalchemy.dialects import postgresql, sqlite

    from careweave.store.value_lists import lists_for_dialect

    for name, dialect, form in (("postgresql", postgresql, "= ANY ("), ("sqlite", sqlite, " IN (")):
        with lists_for_dialect(name):
            assert lists_as_arrays() is (name == "postgresql")
            condition = one_of(resource.c.id, ["a", "b"])
        assert form in str(condition.compile(dialect=dialect.dialect()))
    assert lists_as_arrays() is False
