"""`Patient/[id]/$everything`: one person's record across every organisation, a page at a time.

A GP system or a hospital's discharge team asking the shared record for "everything about this
person" should get the Patient and every resource in the person's compartment (FHIR R4
compartmentdefinition-patient, the same table the access rules use) that the caller may see,
not one search per type. The page is one keyset-paged query over the resource table: the
resources whose compartment parameters name the person, each type under the caller's access
conditions, in primary-key order, so a `next` page neither repeats nor skips anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Select, and_, false, or_, select, union_all

from careweave.store.tables import reference_index, resource
from careweave.store.visibility import PATIENT_COMPARTMENT, Visibility, resource_condition


@dataclass(frozen=True)
class EverythingPage:
    matches: list[tuple[str, str, str]]
    """(resource_type, id, JSON) of each resource, in the order they were first stored."""
    next_cursor: str | None


def patient_everything(
    conn: Connection,
    patient_id: str,
    types: Sequence[str],
    *,
    since: datetime | None = None,
    count: int = 50,
    cursor: int | None = None,
    visibility: Visibility | None = None,
) -> EverythingPage:
    """A page of the Patient `patient_id` and the resources of `types` in their compartment.

    `types` are the types the caller may search (the caller checks scopes and roles); with
    `visibility`, each type's rows also pass the user's access conditions. `since` keeps what
    changed at or after it; `cursor` is the last primary key of the previous page."""
    r = resource
    named = reference_index.alias("names_patient")
    in_compartment = [t for t in types if t in PATIENT_COMPARTMENT]
    lookups: list[Select[tuple[int]]] = [
        select(named.c.resource_pk).where(
            named.c.target_type == "Patient",
            named.c.target_id == patient_id,
            or_(
                *[
                    and_(named.c.resource_type == t, named.c.param.in_(PATIENT_COMPARTMENT[t]))
                    for t in in_compartment
                ]
            )
            if in_compartment
            else false(),
        )
    ]
    if "Patient" in types:
        # One IN over a union, not "IN (...) OR the Patient": an OR there made PostgreSQL read
        # the whole resource table (300 ms) instead of the person's few index rows.
        person = resource.alias("person")
        lookups.append(
            select(person.c.pk).where(
                person.c.resource_type == "Patient", person.c.id == patient_id
            )
        )
    members = lookups[0] if len(lookups) == 1 else union_all(*lookups)
    conditions: list[ColumnElement[bool]] = [r.c.deleted == false(), r.c.pk.in_(members)]
    if visibility is not None:
        conditions.append(
            or_(
                *[
                    and_(r.c.resource_type == t, resource_condition(visibility, t, r))
                    for t in {*in_compartment, "Patient"} & set(types)
                ]
            )
        )
    if since is not None:
        conditions.append(r.c.last_updated >= since)
    if cursor is not None:
        conditions.append(r.c.pk > cursor)
    rows = conn.execute(
        select(r.c.pk, r.c.resource_type, r.c.id, r.c.content)
        .where(*conditions)
        .order_by(r.c.pk)
        .limit(count + 1)
    ).all()
    page = rows[:count]
    next_cursor = str(page[-1][0]) if len(rows) > count else None
    return EverythingPage([(row[1], row[2], row[3]) for row in page], next_cursor)
