"""The Alembic migrations build exactly the schema the code expects, on both databases."""

from __future__ import annotations

import json
from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

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


def test_upgrading_to_composites_indexes_resources_already_stored(database_url: str) -> None:
    """Migration 0005 writes the composite rows of what is already in the store, so a search on
    a composite finds readings stored before it."""
    database = open_database(database_url)
    panel = {
        "resourceType": "Observation",
        "id": "bp-before",
        "meta": {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00Z"},
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 152, "system": "http://unitsofmeasure.org"},
            }
        ],
    }
    try:
        upgrade(database, "0004")
        with database.writer.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO resource (resource_type, id, version_id, last_updated, "
                    "deleted, content) VALUES ('Observation', 'bp-before', 1, :at, :deleted, "
                    ":content)"
                ),
                {"at": datetime(2026, 1, 1), "deleted": False, "content": json.dumps(panel)},
            )
        upgrade(database)
        with database.reader.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT t.code, q.value FROM search_token t JOIN search_quantity q "
                    "ON q.resource_pk = t.resource_pk AND q.composite = t.composite "
                    "AND q.param = 'component-code-value-quantity$1' "
                    "WHERE t.param = 'component-code-value-quantity$0'"
                )
            ).all()
        assert [(code, int(value)) for code, value in found] == [("8480-6", 152)]
    finally:
        database.dispose()
