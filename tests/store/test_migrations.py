"""The Alembic migrations build exactly the schema the code expects, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from careweave.store.database import open_database
from careweave.store.migrate import current_revision, head_revision, upgrade
from careweave.store.schema import metadata


def test_upgrade_builds_the_current_schema_and_is_repeatable(database_url: str) -> None:
    database = open_database(database_url)
    try:
        assert current_revision(database) is None
        upgrade(database)
        upgrade(database)  # a second run changes nothing and does not fail
        assert current_revision(database) == head_revision()
        with database.reader.connect() as conn:
            differences = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata
            )
        assert differences == []
    finally:
        database.dispose()
