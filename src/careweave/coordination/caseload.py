"""A member of staff's caseload: the people they coordinate, and the tasks waiting for them and
their team. It is the landing page of a care coordinator, GP, community nurse, social worker
or link worker, so it must answer quickly however big the place is.

What a reader must know:

* **Who is on it.** A person is on the caseload when their active shared care team (CareTeam,
  category LOINC LA28865-6) lists the user's PractitionerRole as `coordinator`, or as `cover`
  during an absence. A participant whose `period` has ended (or not yet started) does not count,
  whatever its role: the cover is over. A user whose account has no PractitionerRole has no
  caseload (`Caseload.has_post` is False), only their organisation's tasks.
* **A fixed number of searches per page, never one per person.** The people come with their
  care teams (`_include=CareTeam:patient`); then one search per kind of record (frailty
  findings, hospital stays, care plans, open tasks) for up to `BATCH` people at a time, each an
  OR-list of `Patient/<id>` references. A filter reads its records for everyone it could
  leave out, and each filter narrows the people the next one asks about; what the table shows
  is then read only for the PEOPLE_PER_PAGE people on the page being shown. Kinds of record
  the user's role may not see are not searched at all, and the page says it cannot show them
  rather than showing "none". The referrals for the people coordinated (whoever made them)
  are one more search over all of them at once: a list of references is one IN in the store.
* **Questions that do not depend on each other are asked at once** (`CareRecordAccess.
  alongside`): who is coordinated alongside the worklist, then the page's people alongside
  the referrals. On PostgreSQL one search's wait for the database then overlaps another's
  Python; the audit still comes out as if they had run in that order.
* **Everything goes through the guard**, so every search is filtered by the user's access
  rules and audited: one entry per person touched by the page, written in one transaction
  (`CareRecordAccess.audited_as_one`) and naming the first query that touched them. A query
  names its list of people shortened ("[37 people]"): each entry already says whose record
  it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Final, Literal

import orjson

from careweave.access.guard import CareRecordAccess
from careweave.coordination.codes import (
    CARE_PLAN_CATEGORY,
    CARE_TEAM_CATEGORY,
    CARE_TEAM_ROLE,
    CLOSED_TASK_STATUSES,
    COORDINATOR,
    COVER,
    FRAILTY_FINDINGS,
    FULFIL,
    INPATIENT_CLASS,
    LAST_REVIEWED_EXTENSION,
    NEXT_REVIEW_EXTENSION,
    SNOMED,
    TASK_TYPE,
    code_in,
)
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import PAGE_SIZE, may_read, referenced_id, today
from careweave.coordination.referrals import REJECTED_NEEDS_ACTION, service_words, status_words
from careweave.coordination.tasks import due_date, is_overdue
from careweave.fhir.search_query import CURSOR_PARAMETER, parse_search
from careweave.uk_time import uk_day

BATCH: Final = 100
"""People asked about in one search: long enough to need few searches, short enough to keep
each statement small."""
MAX_CASELOAD: Final = 1000
"""Care teams read at most: far more than anyone coordinates; past it the page says so rather
than take seconds over a mistake in the records (someone named on every team)."""
MAX_WORKLIST: Final = 2000
"""Open tasks listed at most; past this the page says so (and shows the first ones found)."""
PEOPLE_PER_PAGE: Final = 50
"""People shown at a time: the page's searches about each person are for these only, so a
long caseload costs no more per page than a short one (beyond finding who is on it)."""
RECENT_DISCHARGE_DAYS: Final = 30
MAX_REFERRALS: Final = 50
"""Referrals for the people coordinated listed at most, newest change first; past it the
page says there are more (each person's referrals page lists all of theirs)."""
FRAILTY_FILTERS: Final = ("mild", "moderate", "severe", "none")
"""The frailty filter's values: a category from FRAILTY_FINDINGS, or "none" recorded."""

# R4 TaskStatus codes (hl7.org/fhir/R4/valueset-task-status.html) that are not closed: the
# store's token search ORs them, which the index answers better than a negated status.
_TASK_STATUSES: Final = frozenset(
    {
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    }
)
OPEN_TASK_STATUSES: Final = tuple(sorted(_TASK_STATUSES - CLOSED_TASK_STATUSES))
_IN_HOSPITAL: Final = frozenset({"in-progress", "onleave"})
_NOT_A_FINDING: Final = frozenset({"entered-in-error", "cancelled", "refuted"})

ReviewStatus = Literal["no-plan", "due", "overdue", "no-date"]


@dataclass(frozen=True)
class Frailty:
    """The latest frailty category recorded for a person, and the day it was recorded."""

    category: str
    recorded: date | None


@dataclass(frozen=True)
class HospitalStay:
    """Whether the person is in hospital now, or when they last left within the last 30 days."""

    in_hospital: bool = False
    discharged_on: date | None = None


@dataclass(frozen=True)
class PlanReview:
    """Where the person's care and support plan is in its review cycle.

    `due` is the plan's next-review date; a plan without one is due 12 months after it was
    last reviewed (or, never reviewed, after it was made). `last_reviewed` is the last review
    or, when there has been none, the day the plan was made: what "no plan review in the last
    12 months" reads."""

    status: ReviewStatus
    due: date | None = None
    last_reviewed: date | None = None


@dataclass(frozen=True)
class CaseloadPerson:
    """One row of "People I coordinate"."""

    person: PersonBanner
    frailty: Frailty | None
    hospital: HospitalStay
    plan: PlanReview
    open_tasks: int


@dataclass(frozen=True)
class WorklistTask:
    """One row of "Tasks for me and my team"."""

    task_id: str
    patient_id: str | None
    person_name: str | None
    what: str
    from_organisation_id: str | None
    due: date | None
    overdue: bool
    status: str


@dataclass(frozen=True)
class CoordinatedReferral:
    """One row of "Referrals for people you coordinate": where a referral made by anyone for
    one of them stands, so the coordinator can follow it without being its referrer."""

    task_id: str
    patient_id: str
    person_name: str
    service: str
    to_organisation_id: str | None
    to_organisation: str | None
    status: str
    colour: str
    due: date | None
    overdue: bool
    needs_action: bool


@dataclass(frozen=True)
class CaseloadFilters:
    """What the person list is narrowed to; the defaults narrow nothing."""

    practice: str | None = None
    frailty: str | None = None
    recently_discharged: bool = False
    no_recent_review: bool = False

    @property
    def any(self) -> bool:
        return bool(
            self.practice or self.frailty or self.recently_discharged or self.no_recent_review
        )


@dataclass(frozen=True)
class Caseload:
    """The caseload page's content.

    `filters` are those applied (one that cannot apply is dropped: a practice that is not among
    the people's, an unknown frailty value, one reading records the role may not see).
    `matching` counts the people left after them, `coordinated` everyone the user coordinates
    (at most MAX_CASELOAD: `more_people` says there were more), and `people` are those on
    page `page` of `pages`. `sees_frailty`, `sees_hospital` and `sees_plans` are False when
    the user's role may not read the records they come from, so the page can say so instead
    of "none"."""

    has_post: bool
    people: list[CaseloadPerson]
    matching: int
    coordinated: int
    more_people: bool
    page: int
    pages: int
    practices: list[str]
    filters: CaseloadFilters
    tasks: list[WorklistTask]
    more_tasks: bool
    sees_frailty: bool
    sees_hospital: bool
    sees_plans: bool
    referrals: list[CoordinatedReferral] = field(default_factory=list)
    more_referrals: bool = False

    @property
    def overdue_tasks(self) -> int:
        return sum(1 for task in self.tasks if task.overdue)


# -- the caseload ------------------------------------------------------------------------------


def caseload(
    access: CareRecordAccess, filters: CaseloadFilters | None = None, *, page: int = 1
) -> Caseload:
    """The signed-in user's caseload, narrowed by `filters`, with page `page` of the people
    (PEOPLE_PER_PAGE at a time, in name order; a page past the last is the last).

    Its searches are audited as one: each person looked at is one entry, written once."""
    with access.audited_as_one():
        return _caseload(access, filters, page)


def _caseload(access: CareRecordAccess, filters: CaseloadFilters | None, page: int) -> Caseload:
    now = today()
    role_id = access.principal.practitioner_role_id

    def find_people() -> tuple[dict[str, dict[str, Any]], bool]:
        return coordinated_people(access, role_id, now) if role_id else ({}, False)

    # Who is coordinated and what waits for the user do not depend on each other.
    (patients, more_people), (tasks, more_tasks) = access.alongside(
        find_people, lambda: worklist(access, now)
    )
    # Each person's banner is read from their Patient once: the practice list, the filter,
    # the table and the referrals all use it.
    banners = {patient_id: banner_of(patient) for patient_id, patient in patients.items()}
    practices = sorted({b.practice_id for b in banners.values() if b.practice_id})
    sees_frailty = may_read(access, "Condition") or may_read(access, "Observation")
    sees_hospital = may_read(access, "Encounter")
    sees_plans = may_read(access, "CarePlan")
    filters = _sensible(
        filters or CaseloadFilters(), practices, sees_frailty, sees_hospital, sees_plans
    )

    # First the filters, over everyone they could leave out ...
    people = sorted(patients.values(), key=name_order)
    if filters.practice:
        people = [p for p in people if banners[p["id"]].practice_id == filters.practice]
    frailty: dict[str, Frailty] = {}
    if filters.frailty:
        frailty = latest_frailty(access, _ids(people))
        wanted = None if filters.frailty == "none" else filters.frailty
        people = [p for p in people if _category(frailty.get(p["id"])) == wanted]
    stays: dict[str, HospitalStay] = {}
    if filters.recently_discharged:
        stays = hospital_stays(access, _ids(people), now)
        people = [p for p in people if _discharged(stays.get(p["id"]))]
    plans: dict[str, PlanReview] = {}
    if filters.no_recent_review:
        plans = plan_reviews(access, _ids(people), now)
        year_ago = years_after(now, -1)
        people = [p for p in people if _no_review_since(plans.get(p["id"]), year_ago)]

    # ... then what the page shows, for the people on this page only.
    pages = max(1, -(-len(people) // PEOPLE_PER_PAGE))
    page = min(max(page, 1), pages)
    shown = people[(page - 1) * PEOPLE_PER_PAGE : page * PEOPLE_PER_PAGE]
    ids = _ids(shown)

    def this_page() -> list[CaseloadPerson]:
        nonlocal frailty, stays, plans
        if not filters.frailty:
            frailty = latest_frailty(access, ids)
        if sees_hospital and not filters.recently_discharged:
            stays = hospital_stays(access, ids, now)
        if sees_plans and not filters.no_recent_review:
            plans = plan_reviews(access, ids, now)
        counts = open_task_counts(access, ids)
        return [
            CaseloadPerson(
                person=banners[p["id"]],
                frailty=frailty.get(p["id"]),
                hospital=stays.get(p["id"], HospitalStay()),
                plan=plans.get(p["id"], PlanReview("no-plan")),
                open_tasks=counts.get(p["id"], 0),
            )
            for p in shown
        ]

    rows, (referrals, more_referrals) = access.alongside(
        this_page, lambda: coordinated_referrals(access, patients, now, banners)
    )
    return Caseload(
        has_post=role_id is not None,
        people=rows,
        matching=len(people),
        coordinated=len(patients),
        more_people=more_people,
        page=page,
        pages=pages,
        practices=practices,
        filters=filters,
        tasks=tasks,
        more_tasks=more_tasks,
        sees_frailty=sees_frailty,
        sees_hospital=sees_hospital,
        sees_plans=sees_plans,
        referrals=referrals,
        more_referrals=more_referrals,
    )


def coordinated_people(
    access: CareRecordAccess, practitioner_role_id: str, on: date
) -> tuple[dict[str, dict[str, Any]], bool]:
    """The Patients whose active shared care team has `practitioner_role_id` as coordinator,
    or as cover, on the day `on`, keyed by id; and whether there were more care teams naming
    them than MAX_CASELOAD (only that many are read)."""
    teams, included, more = search_all(
        access,
        "CareTeam",
        [
            ("participant", f"PractitionerRole/{practitioner_role_id}"),
            ("status", "active"),
            ("category", "|".join(CARE_TEAM_CATEGORY)),
            ("_include", "CareTeam:patient"),
        ],
        limit=MAX_CASELOAD,
    )
    people: dict[str, dict[str, Any]] = {}
    for team in teams:
        patient_id = referenced_id(team.get("subject"), "Patient")
        patient = included.get(f"Patient/{patient_id}")
        if patient is not None and coordinates(team, practitioner_role_id, on):
            people[str(patient["id"])] = patient
    return people, more


def coordinates(team: dict[str, Any], practitioner_role_id: str, on: date) -> bool:
    """Whether the CareTeam has the PractitionerRole as its coordinator, or as cover, on the
    day `on` (a participant period that has ended, or not begun, does not count)."""
    for participant in team.get("participant") or ():
        if not isinstance(participant, dict):
            continue
        if referenced_id(participant.get("member"), "PractitionerRole") != practitioner_role_id:
            continue
        if code_in(participant.get("role"), CARE_TEAM_ROLE) not in (COORDINATOR, COVER):
            continue
        period = _object(participant.get("period"))
        start, end = day_of(period.get("start")), day_of(period.get("end"))
        if (start is None or start <= on) and (end is None or end >= on):
            return True
    return False


# -- what the page shows of each person ---------------------------------------------------------


def latest_frailty(access: CareRecordAccess, patient_ids: Sequence[str]) -> dict[str, Frailty]:
    """Each person's latest frailty category, from Conditions and Observations coded with a
    FRAILTY_FINDINGS code (those the user may see); people with none are left out."""
    codes = ",".join(f"{SNOMED}|{code}" for code in FRAILTY_FINDINGS)
    latest: dict[str, tuple[tuple[date, str], Frailty]] = {}
    for resource_type in ("Condition", "Observation"):
        if not patient_ids or not may_read(access, resource_type):
            continue
        for finding in for_people(access, resource_type, patient_ids, [("code", codes)]):
            patient_id = referenced_id(finding.get("subject"), "Patient")
            category = _frailty_category(finding.get("code"))
            if patient_id is None or category is None or _not_a_finding(finding):
                continue
            recorded = _recorded(finding)
            key = (recorded or date.min, _last_updated(finding))
            if patient_id not in latest or key > latest[patient_id][0]:
                latest[patient_id] = (key, Frailty(category, recorded))
    return {patient_id: frailty for patient_id, (_, frailty) in latest.items()}


def hospital_stays(
    access: CareRecordAccess, patient_ids: Sequence[str], on: date
) -> dict[str, HospitalStay]:
    """Who is in hospital (an inpatient Encounter in progress) and who left within the last
    RECENT_DISCHARGE_DAYS days (a finished one ending since); others are left out."""
    since = on - timedelta(days=RECENT_DISCHARGE_DAYS)
    # A day early: the index holds UTC, and a UK day begins an hour before UTC's in summer.
    params = [
        ("class", "|".join(INPATIENT_CLASS)),
        ("date", f"ge{(since - timedelta(days=1)).isoformat()}"),
    ]
    stays: dict[str, HospitalStay] = {}
    for encounter in for_people(access, "Encounter", patient_ids, params):
        patient_id = referenced_id(encounter.get("subject"), "Patient")
        if patient_id is None:
            continue
        stay = stays.get(patient_id, HospitalStay())
        status = encounter.get("status")
        ended = day_of(_object(encounter.get("period")).get("end"))
        if status in _IN_HOSPITAL:
            stay = replace(stay, in_hospital=True)
        elif status == "finished" and ended is not None and since <= ended <= on:
            if stay.discharged_on is None or ended > stay.discharged_on:
                stay = replace(stay, discharged_on=ended)
        else:
            continue
        stays[patient_id] = stay
    return stays


def plan_reviews(
    access: CareRecordAccess, patient_ids: Sequence[str], on: date
) -> dict[str, PlanReview]:
    """Each person's active personalised care and support plan's review state; people with no
    active plan are left out (they have "no-plan")."""
    params = [("status", "active"), ("category", "|".join(CARE_PLAN_CATEGORY))]
    chosen: dict[str, dict[str, Any]] = {}
    for plan in for_people(access, "CarePlan", patient_ids, params):
        patient_id = referenced_id(plan.get("subject"), "Patient")
        if patient_id is None:
            continue
        # One active plan per person is the rule; should there be more, the newest counts.
        if patient_id not in chosen or _made(plan) > _made(chosen[patient_id]):
            chosen[patient_id] = plan
    return {patient_id: review_of(plan, on) for patient_id, plan in chosen.items()}


def review_of(plan: dict[str, Any], on: date) -> PlanReview:
    """A CarePlan's review state on the day `on` (see PlanReview)."""
    next_review = day_of(_extension(plan, NEXT_REVIEW_EXTENSION, "valueDate"))
    last = day_of(_extension(plan, LAST_REVIEWED_EXTENSION, "valueDate")) or day_of(
        plan.get("created")
    )
    due = next_review or (years_after(last, 1) if last else None)
    if due is None:
        return PlanReview("no-date", None, last)
    return PlanReview("overdue" if due < on else "due", due, last)


def open_task_counts(access: CareRecordAccess, patient_ids: Sequence[str]) -> dict[str, int]:
    """How many open Tasks (not in a closed status) each person has, whoever owns them."""
    counts: dict[str, int] = {}
    params = [("status", ",".join(OPEN_TASK_STATUSES))]
    for task in for_people(access, "Task", patient_ids, params):
        patient_id = referenced_id(task.get("for"), "Patient")
        if patient_id is not None:
            counts[patient_id] = counts.get(patient_id, 0) + 1
    return counts


# -- referrals for the people coordinated -------------------------------------------------------


def coordinated_referrals(
    access: CareRecordAccess,
    patients: dict[str, dict[str, Any]],
    on: date,
    banners: dict[str, PersonBanner] | None = None,
) -> tuple[list[CoordinatedReferral], bool]:
    """The open referrals for the people coordinated (`patients`, keyed by id, as
    coordinated_people gives them), and the rejected ones their referrer has still to act on,
    newest change first; at most MAX_REFERRALS, and whether there were more. `banners`: the
    people's banners where already read.

    One search for everyone (the store answers a list of references as one IN), with each
    referral's ServiceRequest included: the service, the receiving organisation and whether a
    rejection has been dealt with come from it."""
    if not patients or not may_read(access, "Task"):
        return [], False
    banners = banners or {}
    ids = sorted(patients)
    fulfil = "|".join(FULFIL)
    # Rejected referrals that were dealt with are read and then left out; reading a few
    # pages' worth keeps them from crowding out the open ones.
    tasks, included, more = search_all(
        access,
        "Task",
        [
            ("patient", ",".join(f"Patient/{patient_id}" for patient_id in ids)),
            ("code", fulfil),
            ("status", ",".join(sorted({*OPEN_TASK_STATUSES, "rejected"}))),
            ("_sort", "-_lastUpdated"),
            ("_include", "Task:focus:ServiceRequest"),
        ],
        limit=MAX_REFERRALS * 4,
        people=f"[{len(ids)} {'person' if len(ids) == 1 else 'people'}]",
    )
    rows: list[tuple[str, CoordinatedReferral]] = []
    for task in tasks:
        patient_id = referenced_id(task.get("for"), "Patient")
        request_id = referenced_id(task.get("focus"), "ServiceRequest")
        if patient_id not in patients or request_id is None:
            continue
        request = included.get(f"ServiceRequest/{request_id}")
        request_status = request.get("status") if request else None
        words, colour = status_words(str(task.get("status") or ""), request_status, True)
        if task.get("status") == "rejected" and words != REJECTED_NEEDS_ACTION:
            continue  # the referrer has closed it: nothing left to follow
        performer = _object(((request or {}).get("performer") or [None])[0])
        receiving = performer or _object(task.get("owner"))
        display = receiving.get("display")
        rows.append(
            (
                _last_updated(task),
                CoordinatedReferral(
                    task_id=str(task["id"]),
                    patient_id=patient_id,
                    person_name=(banners.get(patient_id) or banner_of(patients[patient_id])).name,
                    service=service_words(request.get("code")) if request else task_words(task),
                    to_organisation_id=referenced_id(receiving, "Organization"),
                    to_organisation=display if isinstance(display, str) else None,
                    status=words,
                    colour=colour,
                    due=due_date(task),
                    overdue=is_overdue(task, on),
                    needs_action=words == REJECTED_NEEDS_ACTION,
                ),
            )
        )
    rows.sort(key=lambda pair: pair[0], reverse=True)
    listed = [row for _, row in rows]
    return listed[:MAX_REFERRALS], more or len(listed) > MAX_REFERRALS


# -- tasks for me and my team -------------------------------------------------------------------


def worklist(access: CareRecordAccess, on: date) -> tuple[list[WorklistTask], bool]:
    """The open Tasks owned by the user's PractitionerRole or their Organization: overdue
    first (longest overdue at the top), then by due date, then those with no due date; and
    whether there were more than MAX_WORKLIST."""
    principal = access.principal
    owners = [
        f"{kind}/{owner}"
        for kind, owner in (
            ("PractitionerRole", principal.practitioner_role_id),
            ("Organization", principal.organisation_id),
        )
        if owner
    ]
    if not owners:
        return [], False
    tasks, included, more = search_all(
        access,
        "Task",
        [
            ("owner", ",".join(owners)),
            ("status", ",".join(OPEN_TASK_STATUSES)),
            ("_include", "Task:patient"),
            ("_include", "Task:requester"),
        ],
        limit=MAX_WORKLIST,
    )
    rows = [_worklist_task(task, included, on) for task in tasks]
    rows.sort(key=_task_order)
    return rows, more


def _worklist_task(
    task: dict[str, Any],
    included: dict[str, dict[str, Any]],
    on: date,
) -> WorklistTask:
    patient_id = referenced_id(task.get("for"), "Patient")
    patient = included.get(f"Patient/{patient_id}") if patient_id else None
    banner = banner_of(patient) if patient else None
    due = day_of(_object(_object(task.get("restriction")).get("period")).get("end"))
    return WorklistTask(
        task_id=str(task["id"]),
        patient_id=patient_id,
        person_name=banner.name if banner else None,
        what=task_words(task),
        from_organisation_id=_requester_organisation(task.get("requester"), included),
        due=due,
        overdue=due is not None and due < on,
        status=str(task.get("status", "")),
    )


def task_words(task: dict[str, Any]) -> str:
    """What a Task asks for: its description, else its code's words."""
    description = task.get("description")
    if isinstance(description, str) and description.strip():
        return description.strip()
    code = _object(task.get("code"))
    if isinstance(code.get("text"), str) and code["text"].strip():
        return str(code["text"]).strip()
    for coding in code.get("coding") or ():
        if isinstance(coding, dict) and isinstance(coding.get("display"), str):
            return str(coding["display"])
    local = code_in(code, TASK_TYPE)
    if local:
        return local.replace("-", " ").capitalize()
    return "Task"


def _requester_organisation(requester: Any, included: dict[str, dict[str, Any]]) -> str | None:
    """Which organisation asked: the requester itself, or a PractitionerRole's organisation."""
    organisation = referenced_id(requester, "Organization")
    if organisation:
        return organisation
    role_id = referenced_id(requester, "PractitionerRole")
    role = included.get(f"PractitionerRole/{role_id}") if role_id else None
    return referenced_id(role.get("organization"), "Organization") if role else None


def _task_order(task: WorklistTask) -> tuple[int, date, str]:
    if task.due is None:
        return (2, date.max, task.task_id)
    return (0 if task.overdue else 1, task.due, task.task_id)


# -- searching through the guard ----------------------------------------------------------------


def for_people(
    access: CareRecordAccess,
    resource_type: str,
    patient_ids: Sequence[str],
    params: Sequence[tuple[str, str]],
) -> list[dict[str, Any]]:
    """Every `resource_type` the user may see about any of `patient_ids` that matches
    `params`, in one search per BATCH people. The patient list comes first, so the store
    starts from the reference index rather than from every record with, say, status active."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(patient_ids), BATCH):
        batch = patient_ids[start : start + BATCH]
        people = ",".join(f"Patient/{patient_id}" for patient_id in batch)
        named = f"[{len(batch)} {'person' if len(batch) == 1 else 'people'}]"
        matches, _, _ = search_all(
            access, resource_type, [("patient", people), *params], people=named
        )
        found += matches
    return found


def search_all(
    access: CareRecordAccess,
    resource_type: str,
    params: Sequence[tuple[str, str]],
    *,
    limit: int | None = None,
    people: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], bool]:
    """The matches of a search through the guard, following its pages, with what it
    `_include`s keyed by "Type/id", and whether more than `limit` matched (only `limit` are
    returned then). `people` stands for the patient list in the audit entry's description."""
    matches: list[dict[str, Any]] = []
    included: dict[str, dict[str, Any]] = {}
    entity = f"{resource_type}?" + "&".join(
        f"{name}={people if people and name == 'patient' else value}" for name, value in params
    )
    cursor: str | None = None
    while True:
        # No total: counting every match would be a second query the page does not need.
        page_params = [*params, ("_count", str(PAGE_SIZE)), ("_total", "none")]
        if cursor:
            page_params.append((CURSOR_PARAMETER, cursor))
        query = parse_search(
            resource_type,
            page_params,
            access.store.registry,
            handling="strict",
            max_count=PAGE_SIZE,
        )
        page = access.search(query, entity)
        matches += [_loads(content) for _, _, content in page.matches]
        included.update({f"{rt}/{rid}": _loads(content) for rt, rid, content in page.included})
        cursor = page.next_cursor
        if limit is not None and len(matches) >= limit and cursor is not None:
            return matches[:limit], included, True
        if cursor is None:
            return matches, included, False


# -- small readers ------------------------------------------------------------------------------


day_of = uk_day
"""The UK day of a FHIR date or dateTime (careweave.uk_time.uk_day, under the name the
caseload's readers use)."""


def years_after(day: date, years: int) -> date:
    """The same day `years` later (or earlier); 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _sensible(
    filters: CaseloadFilters,
    practices: Sequence[str],
    sees_frailty: bool,
    sees_hospital: bool,
    sees_plans: bool,
) -> CaseloadFilters:
    """The filters that can apply: a practice among the people's, a known frailty value, and
    nothing that reads records the user's role may not see (it would leave everyone out)."""
    return CaseloadFilters(
        practice=filters.practice if filters.practice in practices else None,
        frailty=filters.frailty if sees_frailty and filters.frailty in FRAILTY_FILTERS else None,
        recently_discharged=sees_hospital and filters.recently_discharged,
        no_recent_review=sees_plans and filters.no_recent_review,
    )


def _ids(patients: Iterable[dict[str, Any]]) -> list[str]:
    return [str(p["id"]) for p in patients]


def name_order(patient: dict[str, Any]) -> tuple[str, str, str]:
    """People are listed by family name, then given names (as a practice list is)."""
    names = [n for n in patient.get("name") or () if isinstance(n, dict)]
    name = next(
        (n for n in names if n.get("use") in ("usual", "official")), names[0] if names else {}
    )
    family = name.get("family") if isinstance(name.get("family"), str) else ""
    given = " ".join(g for g in name.get("given") or () if isinstance(g, str))
    if not family and not given:
        given = banner_of(patient).name
    return (str(family).casefold(), given.casefold(), str(patient["id"]))


def _category(frailty: Frailty | None) -> str | None:
    return frailty.category if frailty else None


def _discharged(stay: HospitalStay | None) -> bool:
    return stay is not None and stay.discharged_on is not None


def _no_review_since(plan: PlanReview | None, since: date) -> bool:
    """No plan review since `since`: no plan at all counts (the person needs one)."""
    return plan is None or plan.last_reviewed is None or plan.last_reviewed < since


def _frailty_category(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict) and coding.get("system") == SNOMED:
            category = FRAILTY_FINDINGS.get(str(coding.get("code")))
            if category:
                return category
    return None


def _not_a_finding(resource: dict[str, Any]) -> bool:
    """An Observation entered in error or cancelled, a Condition refuted or in error."""
    if resource.get("status") in _NOT_A_FINDING:
        return True
    verification = code_in(
        resource.get("verificationStatus"),
        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
    )
    return verification in _NOT_A_FINDING


def _recorded(finding: dict[str, Any]) -> date | None:
    """When a finding was made: an Observation's effective time (or issued), a Condition's
    recorded date (or onset)."""
    for name in ("effectiveDateTime", "effectiveInstant", "recordedDate", "onsetDateTime"):
        day = day_of(finding.get(name))
        if day:
            return day
    for name in ("effectivePeriod", "onsetPeriod"):
        period = finding.get(name)
        if isinstance(period, dict) and (day := day_of(period.get("start"))):
            return day
    return day_of(finding.get("issued"))


def _made(plan: dict[str, Any]) -> tuple[date, str]:
    return (day_of(plan.get("created")) or date.min, _last_updated(plan))


def _last_updated(resource: dict[str, Any]) -> str:
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else ""


def _extension(resource: dict[str, Any], url: str, value_name: str) -> Any:
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == url:
            return extension.get(value_name)
    return None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object element, or an empty one for anything else (absent or malformed)."""
    return value if isinstance(value, dict) else {}


def _loads(content: str) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(content)
    return value
