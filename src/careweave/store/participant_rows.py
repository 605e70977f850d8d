"""Write the care team participant rows of CareTeams stored before they were indexed.

Migration 0006 calls this once: every later write extracts them with the rest (see
`careweave.fhir.index_values.PARTICIPANT_MEMBER`). Without them a CareTeam stored earlier
would give none of its participants a relationship with the person, so the migration must
write them before the access rules read them. It reads the current version of each CareTeam
in batches by primary key, replaces just those rows and leaves every other index row as it
was, so running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from sqlalchemy import Connection, delete, false, select

from careweave.fhir.index_values import (
    PARTICIPANT_MEMBER,
    PARTICIPANT_UNTIL,
    extract_index_values,
)
from careweave.fhir.search_parameters import SearchParameterRegistry, default_registry
from careweave.store.tables import date_index, reference_index, resource

_BATCH = 2000


def index_participants(conn: Connection, registry: SearchParameterRegistry | None = None) -> int:
    """Write the participant rows of every current CareTeam; returns how many had any."""
    registry = registry or default_registry()
    for table, param in ((reference_index, PARTICIPANT_MEMBER), (date_index, PARTICIPANT_UNTIL)):
        conn.execute(
            delete(table).where(table.c.resource_type == "CareTeam", table.c.param == param)
        )
    indexed = 0
    after = 0
    while True:
        batch = conn.execute(
            select(resource.c.pk, resource.c.content)
            .where(
                resource.c.resource_type == "CareTeam",
                resource.c.deleted == false(),
                resource.c.pk > after,
            )
            .order_by(resource.c.pk)
            .limit(_BATCH)
        ).all()
        if not batch:
            return indexed
        references: list[dict[str, Any]] = []
        dates: list[dict[str, Any]] = []
        for pk, content in batch:
            values = extract_index_values(orjson.loads(content), registry)
            rows = {"resource_pk": pk, "resource_type": "CareTeam"}
            members = [r for r in values.references if r.param == PARTICIPANT_MEMBER]
            references += [{**rows, **asdict(r)} for r in members]
            dates += [{**rows, **asdict(d)} for d in values.dates if d.param == PARTICIPANT_UNTIL]
            indexed += bool(members)
        if references:
            conn.execute(reference_index.insert(), references)
        if dates:
            conn.execute(date_index.insert(), dates)
        after = batch[-1].pk
