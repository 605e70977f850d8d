"""The Alembic migrations build exactly the schema the code expects, on both databases."""

from __future__ import annotations

import json
from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from careweave.store.database import as_datetime, open_database
from careweave.store.migrate import current_revision, head_revision, upgrade
from careweave.store.participant_rows import index_participants
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


def test_upgrading_indexes_the_participants_of_care_teams_already_stored(
    database_url: str,
) -> None:
    """Migration 0006 writes each stored CareTeam participant's member and the last UK day it
    takes part, which the access rules pair: without them no participant of a team stored
    earlier would reach the person, and ended cover would not be told from current cover."""
    database = open_database(database_url)
    team = {
        "resourceType": "CareTeam",
        "id": "ct-before",
        "meta": {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00Z"},
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "participant": [
            {"member": {"reference": "PractitionerRole/coordinator"}},
            {
                "member": {"reference": "PractitionerRole/cover"},
                "period": {"start": "2026-06-01", "end": "2026-06-10T23:30:00Z"},
            },
        ],
    }
    try:
        upgrade(database, "0005")
        with database.writer.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO resource (resource_type, id, version_id, last_updated, "
                    "deleted, content) VALUES ('CareTeam', 'ct-before', 1, :at, :deleted, "
                    ":content)"
                ),
                {"at": datetime(2026, 1, 1), "deleted": False, "content": json.dumps(team)},
            )
        upgrade(database)
        with database.writer.begin() as conn:
            index_participants(conn)  # a second run replaces the rows, it does not add to them
        with database.reader.connect() as conn:
            members = conn.execute(
                text(
                    "SELECT target_id, composite FROM search_reference "
                    "WHERE param = 'participant:member' ORDER BY composite"
                )
            ).all()
            until = conn.execute(
                text("SELECT composite, \"end\" FROM search_date WHERE param = 'participant:until'")
            ).all()
        assert [tuple(row) for row in members] == [("coordinator", 0), ("cover", 1)]
        # 23:30 UTC on 10 June is 11 June in the UK: the cover takes part until that day ends.
        assert [(row[0], as_datetime(row[1])) for row in until] == [(1, datetime(2026, 6, 11, 23))]
    finally:
        database.dispose()
