"""Whom to offer for an MDT meeting's list: people found by case-finding, and the people in
the asker's open work (docs/care-coordination.md, "MDT meetings").

* **Case-finding**: people whose latest frailty finding (a Condition or Observation coded
  with the SNOMED CT frailty categories, careweave.coordination.codes.FRAILTY_FINDINGS) is
  moderate or severe, most frail first. A later finding of mild frailty takes them out.
* **Open work**: open Tasks (referrals included) that the asker or their organisation owns,
  or asked for.

Everything is read through the guard, so only people the asker may see are ever offered; a
search by name, date of birth or NHS number (careweave.coordination.finding) completes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.caseload import (
    OPEN_TASK_STATUSES,
    latest_frailty,
    name_order,
    search_all,
    task_words,
)
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import find, may_read, referenced_id

CANDIDATES_SHOWN: Final = 50
FINDINGS_READ: Final = 1000
"""Frailty findings read at most for case-finding: a practice's frail older people, and some."""
TASKS_READ: Final = 1000
_FRAIL: Final = {
    code: category
    for code, category in codes.FRAILTY_FINDINGS.items()
    if category in ("moderate", "severe")
}


@dataclass(frozen=True)
class Candidate:
    """Someone who could be discussed, and why they are offered."""

    person: PersonBanner
    why: str


@dataclass(frozen=True)
class Candidates:
    """People offered for a meeting's list: from case-finding (`frail`, most frail first) and
    from the asker's open tasks and referrals (`work`); `*_more` when not all are shown.
    `sees_frailty` is False when the asker's role may not read frailty findings."""

    frail: list[Candidate]
    frail_more: bool
    work: list[Candidate]
    work_more: bool
    sees_frailty: bool


def candidates(access: CareRecordAccess, leave_out: set[str]) -> Candidates:
    """People to offer for a meeting's list, leaving out `leave_out` (patient ids already on
    it). Only people the asker may see are found."""
    frail, frail_more, sees_frailty = _frail_people(access, leave_out)
    work, work_more = _people_in_my_work(access, leave_out)
    return Candidates(frail, frail_more, work, work_more, sees_frailty)


def _frail_people(
    access: CareRecordAccess, leave_out: set[str]
) -> tuple[list[Candidate], bool, bool]:
    readable = [t for t in ("Condition", "Observation") if may_read(access, t)]
    if not readable:
        return [], False, False
    wanted = ",".join(f"{codes.SNOMED}|{code}" for code in _FRAIL)
    patient_ids: list[str] = []
    for resource_type in readable:
        found, _, _ = search_all(access, resource_type, [("code", wanted)], limit=FINDINGS_READ)
        for finding in found:
            patient_id = referenced_id(finding.get("subject"), "Patient")
            if patient_id and patient_id not in leave_out and patient_id not in patient_ids:
                patient_ids.append(patient_id)
    # The latest finding decides: someone whose frailty is now recorded as mild is left out.
    latest = latest_frailty(access, patient_ids)
    frail_ids = [
        pid for pid in patient_ids if pid in latest and latest[pid].category in _FRAIL.values()
    ]
    patients = _patients(access, frail_ids)
    rank = {"severe": 0, "moderate": 1}
    ordered = sorted(
        (p for p in patients if not banner_of(p).deceased),
        key=lambda p: (rank[latest[str(p["id"])].category], name_order(p)),
    )
    offered = []
    for patient in ordered[:CANDIDATES_SHOWN]:
        frailty = latest[str(patient["id"])]
        why = f"{frailty.category.capitalize()} frailty"
        if frailty.recorded:
            why += f" (recorded {frailty.recorded.day} {frailty.recorded:%B %Y})"
        offered.append(Candidate(banner_of(patient), why))
    return offered, len(ordered) > CANDIDATES_SHOWN, True


def _people_in_my_work(
    access: CareRecordAccess, leave_out: set[str]
) -> tuple[list[Candidate], bool]:
    principal = access.principal
    mine = [
        f"{kind}/{owner}"
        for kind, owner in (
            ("PractitionerRole", principal.practitioner_role_id),
            ("Organization", principal.organisation_id),
        )
        if owner
    ]
    if not mine:
        return [], False
    reasons: dict[str, str] = {}
    patients: dict[str, dict[str, Any]] = {}
    for side, words in (("owner", "For you or your team"), ("requester", "You asked for")):
        tasks, included, _ = search_all(
            access,
            "Task",
            [
                (side, ",".join(mine)),
                ("status", ",".join(OPEN_TASK_STATUSES)),
                ("_include", "Task:patient"),
            ],
            limit=TASKS_READ,
        )
        for task in tasks:
            patient_id = referenced_id(task.get("for"), "Patient")
            patient = included.get(f"Patient/{patient_id}") if patient_id else None
            if patient is None or patient_id is None or patient_id in leave_out:
                continue
            if patient_id not in reasons:
                reasons[patient_id] = f"{words}: {task_words(task)}"
                patients[patient_id] = patient
    ordered = sorted((p for p in patients.values() if not banner_of(p).deceased), key=name_order)
    offered = [Candidate(banner_of(p), reasons[str(p["id"])]) for p in ordered[:CANDIDATES_SHOWN]]
    return offered, len(ordered) > CANDIDATES_SHOWN


def _patients(access: CareRecordAccess, patient_ids: Sequence[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(patient_ids), 100):
        batch = patient_ids[start : start + 100]
        found += find(access, "Patient", [("_id", ",".join(batch))])
    return found
