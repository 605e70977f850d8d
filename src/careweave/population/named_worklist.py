"""A case-finding worklist a member of care staff can act on: the people found whom they have a
legitimate relationship with, by name, and only a count of everyone else.

`careweave.population.case_finding` answers the question from the projection (which holds no
names) and splits the answer by the access layer's rule for the user (`related_people`). The
names come from the record itself, read through the guard (`CareRecordAccess`) in one search
per batch of people and audited as one look (`audited_as_one`), as the caseload is: whoever
opens a worklist has looked at the records of the people named on it, and that shows in each
person's "who looked at my record".

The count of the others leaves direct care (the user has no relationship with them), so it is
published under the small-number rule: under 10 is "<10". So is how many people with a
national data opt-out the projection leaves out; their care teams still see their records as
usual, and a page should say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import duckdb

from careweave.access.guard import CareRecordAccess
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import find
from careweave.population.case_finding import (
    CaseFindingQuery,
    WorklistPerson,
    find_cases,
    related_people,
    worklist,
)
from careweave.population.columnar import MEASURES, ORGANISATIONS
from careweave.population.suppression import Shown, shown_count

NAMED_SHOWN: Final = 100
"""People named at most, most in need first: a list longer than a team can work through is
narrowed by asking a narrower question, not by paging through thousands of records."""
BATCH: Final = 100


@dataclass(frozen=True)
class NamedPerson:
    """Someone on the worklist: who they are (from their record) and why they were found
    (their measures in the projection)."""

    person: PersonBanner
    found: WorklistPerson


@dataclass(frozen=True)
class NamedWorklist:
    """The people the user may see by name (`people`, at most NAMED_SHOWN, and how many more
    there are in `more_named`), and the published count of everyone else who matched."""

    as_of: date
    people: tuple[NamedPerson, ...]
    more_named: int
    others: Shown
    objectors_left_out: Shown

    @property
    def named(self) -> int:
        return len(self.people) + self.more_named


def _patients(access: CareRecordAccess, patient_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(patient_ids), BATCH):
        batch = ",".join(patient_ids[start : start + BATCH])
        for patient in find(access, "Patient", [("_id", batch)]):
            found[str(patient["id"])] = patient
    return found


def named_worklist(
    access: CareRecordAccess,
    con: duckdb.DuckDBPyConnection,
    query: CaseFindingQuery,
    *,
    shown: int = NAMED_SHOWN,
) -> NamedWorklist:
    """The answer to `query` for the user behind `access` (UnknownChoice or ValueError for a
    query that cannot be asked). Reading the named people's records is audited as one look."""
    result = find_cases(con, query)
    visible = related_people(access.store.database, access.visibility, result.patient_ids)
    listed = worklist(con, result, visible)
    first = listed.people[:shown]
    with access.audited_as_one():
        patients = _patients(access, [p.patient_id for p in first])
    people = tuple(
        NamedPerson(banner_of(patients[p.patient_id]), p) for p in first if p.patient_id in patients
    )
    # Someone the rule lets the user see whose record cannot be read now (deleted since the
    # projection was refreshed) is counted with the others rather than named.
    unread = len(first) - len(people)
    return NamedWorklist(
        as_of=listed.as_of,
        people=people,
        more_named=len(listed.people) - len(first),
        others=shown_count(listed.others + unread),
        objectors_left_out=shown_count(listed.objectors_excluded),
    )


def practices(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The practices people in the projection are registered with, id -> name (the ODS code,
    or the id, when the projection has no name), in name order: what a worklist can be
    narrowed to."""
    rows = con.execute(
        f"SELECT DISTINCT m.practice_id, o.name, o.ods_code FROM {MEASURES} m "
        f"LEFT JOIN {ORGANISATIONS} o ON o.organisation_id = m.practice_id "
        "WHERE m.practice_id IS NOT NULL"
    ).fetchall()
    named = {str(r[0]): str(r[1] or r[2] or r[0]) for r in rows}
    return dict(sorted(named.items(), key=lambda item: (item[1].casefold(), item[0])))
