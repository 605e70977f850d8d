"""Case-finding: which people match a practice's or PCN's question, and what a user may see of
them.

A question ("moderate or severe frailty, no care plan review in 12 months, admitted in the
last 90 days, at this practice") is a `CaseFindingQuery`; `find_cases` answers it from the
projection with the matching patient ids, most in need first. The caller decides what to show:
`worklist` names only the people the user has a legitimate relationship with (`related_people`
asks the access layer which they are: their practice's registered patients, their caseload,
...), each with the measures that explain why they were found, and gives only a count for
everyone else.

The projection leaves out people with a national data opt-out. The opt-out does not apply to
direct care, so a worklist can miss someone it would otherwise show; `CaseFindingResult` says
how many people the projection leaves out, and a page should say that their care team still
sees their records as usual.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import duckdb
from dateutil.relativedelta import relativedelta

from careweave.population.columnar import MEASURES, ORGANISATIONS, read_state
from careweave.population.efi import FRAILTY_CATEGORIES
from careweave.population.equity import objectors_excluded
from careweave.population.measures_sql import literal, one_of
from careweave.population.person_measures import ADMISSION_CLASSES, DID_NOT_HAPPEN, V3_ACT_CODE
from careweave.population.person_row import OLDER_AGE, SEGMENTS
from careweave.store.database import Database
from careweave.store.visibility import Visibility, allowed_patients


class UnknownChoice(ValueError):  # noqa: N818 - what the user is told
    """A query names a frailty category or segment that does not exist."""


@dataclass(frozen=True)
class CaseFindingQuery:
    """Who to find; every criterion given must hold (None or empty: no criterion)."""

    frailty: frozenset[str] = frozenset()
    """eFI categories: fit, mild, moderate, severe."""
    segments: frozenset[str] = frozenset()
    no_plan_review_months: int | None = None
    """No personalised care plan review in this many months (no plan at all counts)."""
    admitted_within_days: int | None = None
    """An emergency admission that began in the last N days (up to the projection's day)."""
    practice: str | None = None
    """The practice's Organization id or ODS code."""
    min_long_term_conditions: int | None = None
    min_cambridge_score: float | None = None
    """A Cambridge Multimorbidity Score of at least this (0.01 to the 20 weights' 16.33)."""
    complex_multimorbidity: bool | None = None
    polypharmacy: bool | None = None
    care_home: bool | None = None
    lives_alone: bool | None = None
    end_of_life: bool | None = None
    min_age: int = OLDER_AGE

    def check(self) -> None:
        unknown = sorted(self.frailty - set(FRAILTY_CATEGORIES)) + sorted(
            self.segments - set(SEGMENTS)
        )
        if unknown:
            raise UnknownChoice(f"Not a frailty category or segment: {', '.join(unknown)}")
        for name, value in (
            ("no_plan_review_months", self.no_plan_review_months),
            ("admitted_within_days", self.admitted_within_days),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if self.min_cambridge_score is not None and not self.min_cambridge_score > 0:
            raise ValueError(f"min_cambridge_score must be above 0, not {self.min_cambridge_score}")


@dataclass(frozen=True)
class CaseFindingResult:
    as_of: date
    patient_ids: tuple[str, ...]
    objectors_excluded: int


def _months_before(day: date, months: int) -> date:
    """The same day `months` months earlier (the month's last day when it has no such day)."""
    return day - relativedelta(months=months)


def _conditions(query: CaseFindingQuery, as_of: date) -> tuple[list[str], list[object]]:
    """SQL conditions over person_measures (alias m) and their parameters."""
    where = ["NOT m.deceased", "m.age >= ?"]
    params: list[object] = [query.min_age]
    if query.frailty:
        where.append(f"m.efi_category IN {one_of(query.frailty)}")
    if query.segments:
        where.append(f"m.segment IN {one_of(query.segments)}")
    if query.no_plan_review_months is not None:
        since = _months_before(as_of, query.no_plan_review_months)
        where.append(
            "NOT COALESCE(m.care_plan_last_reviewed >= ? AND m.care_plan_last_reviewed <= ?, FALSE)"
        )
        params += [since, as_of]
    if query.admitted_within_days is not None:
        since = as_of - timedelta(days=query.admitted_within_days - 1)
        where.append(
            "EXISTS (SELECT 1 FROM encounters e WHERE e.person_id = m.patient_id "
            f"AND e.class_system = {literal(V3_ACT_CODE)} "
            f"AND e.class_code IN {one_of(ADMISSION_CLASSES)} "
            f"AND (e.status IS NULL OR e.status NOT IN {one_of(DID_NOT_HAPPEN)}) "
            "AND e.start_day >= ? AND e.start_day <= ?)"
        )
        params += [since, as_of]
    if query.practice is not None:
        where.append(
            f"(m.practice_id = ? OR m.practice_id IN (SELECT organisation_id FROM {ORGANISATIONS} "
            "WHERE ods_code = ?))"
        )
        params += [query.practice, query.practice]
    if query.min_long_term_conditions is not None:
        where.append("m.long_term_conditions >= ?")
        params.append(query.min_long_term_conditions)
    if query.min_cambridge_score is not None:
        # The score is hundredths over 100: compare hundredths, so 2.3 finds a score of 2.30.
        where.append("ROUND(m.cambridge_score * 100) >= ?")
        params.append(round(query.min_cambridge_score * 100))
    for column, wanted in (
        ("m.complex_multimorbidity", query.complex_multimorbidity),
        ("m.polypharmacy", query.polypharmacy),
        ("m.care_home IS NOT NULL", query.care_home),
        ("COALESCE(m.lives_alone, FALSE)", query.lives_alone),
        ("m.end_of_life", query.end_of_life),
    ):
        if wanted is not None:
            where.append(column if wanted else f"NOT ({column})")
    return where, params


ORDER: Final = "m.efi_deficits DESC, m.admissions DESC, m.long_term_conditions DESC, m.patient_id"
"""Most in need first: more eFI deficits, then more admissions, then more conditions."""


def find_cases(con: duckdb.DuckDBPyConnection, query: CaseFindingQuery) -> CaseFindingResult:
    """The ids of everyone in the projection who matches `query`, most in need first."""
    query.check()
    as_of = date.fromisoformat(read_state(con)["as_of"])
    where, params = _conditions(query, as_of)
    rows = con.execute(
        f"SELECT m.patient_id FROM {MEASURES} m WHERE {' AND '.join(where)} ORDER BY {ORDER}",
        params,
    ).fetchall()
    return CaseFindingResult(as_of, tuple(str(r[0]) for r in rows), objectors_excluded(con))


@dataclass(frozen=True)
class WorklistPerson:
    """One person on a worklist and why they were found (link to their summary by id)."""

    patient_id: str
    age: int
    practice_id: str | None
    efi_category: str
    efi_deficits: int
    long_term_conditions: int
    cambridge_score: float
    admissions: int
    ae_attendances: int
    care_home: str | None
    has_care_plan: bool
    care_plan_last_reviewed: date | None
    segment: str


WORKLIST_COLUMNS: Final = (
    "patient_id",
    "age",
    "practice_id",
    "efi_category",
    "efi_deficits",
    "long_term_conditions",
    "cambridge_score",
    "admissions",
    "ae_attendances",
    "care_home",
    "has_care_plan",
    "care_plan_last_reviewed",
    "segment",
)


@dataclass(frozen=True)
class Worklist:
    """The people a user may see by name (in the result's order), and how many others matched."""

    as_of: date
    people: tuple[WorklistPerson, ...]
    others: int
    objectors_excluded: int


def related_people(
    database: Database, visibility: Visibility | None, patient_ids: Sequence[str]
) -> set[str]:
    """Those of `patient_ids` the user has a legitimate relationship with: the access layer's
    rule for them (`CareRecordAccess.visibility`; None is a platform-wide user, who sees
    everyone), evaluated by the store as for every guarded read. This reads no record, so it
    is not audited; opening a person's summary from the worklist is."""
    if visibility is None:
        return set(patient_ids)
    with database.read() as conn:
        return allowed_patients(conn, visibility, patient_ids)


def worklist(
    con: duckdb.DuckDBPyConnection, result: CaseFindingResult, visible: Collection[str]
) -> Worklist:
    """`result` split by `visible`, the patient ids the user has a legitimate relationship with:
    those by name with their measures, the rest only counted."""
    named = [p for p in result.patient_ids if p in visible]
    rows: dict[str, WorklistPerson] = {}
    for start in range(0, len(named), 1000):
        batch: Sequence[str] = named[start : start + 1000]
        marks = ", ".join("?" for _ in batch)
        for row in con.execute(
            f"SELECT {', '.join(WORKLIST_COLUMNS)} FROM {MEASURES} WHERE patient_id IN ({marks})",
            list(batch),
        ).fetchall():
            rows[str(row[0])] = WorklistPerson(*row)
    return Worklist(
        result.as_of,
        tuple(rows[p] for p in named),
        len(result.patient_ids) - len(named),
        result.objectors_excluded,
    )
