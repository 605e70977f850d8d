"""The caseload: who a member of staff coordinates (coordinator, or cover while it lasts), what
the page says of each person (frailty, hospital, plan review, open tasks), the tasks waiting
for them and their organisation, and the filters; all through the user's access rules.

`build_caseload` writes the scenario the page tests use too. Dates are relative to today, so
the tests mean the same whenever they run.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.access.audit import who_accessed
from careweave.coordination.caseload import (
    BATCH,
    PEOPLE_PER_PAGE,
    Caseload,
    CaseloadFilters,
    CaseloadPerson,
    HospitalStay,
    PlanReview,
    caseload,
    coordinates,
    day_of,
    review_of,
    years_after,
)
from careweave.coordination.codes import (
    CARE_PLAN_CATEGORY,
    CARE_TEAM_CATEGORY,
    CARE_TEAM_ROLE,
    LAST_REVIEWED_EXTENSION,
    NEXT_REVIEW_EXTENSION,
    SNOMED,
    TASK_TYPE,
    V3_ACT_CODE,
)
from careweave.coordination.people import person_banner
from careweave.coordination.record import today
from careweave.fhir.errors import NotFound
from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM
from tests.coordination.place import Place
from tests.web.test_governance_pages import make_user

TODAY = today()
MILD, MODERATE, SEVERE = "925791000000100", "925831000000107", "925861000000102"

# Two more people: Ben (Hilltop; Cara covers for his coordinator this week) and Ida (Hilltop;
# Cara's cover for her ended last month).
EXTRA_PEOPLE = {
    "ben": ("9990000042", "Ben", "Bright", "1936-01-05", "hilltop"),
    "ida": ("9990000050", "Ida", "Idle", "1940-07-07", "hilltop"),
}


def on(days: int) -> str:
    """The day `days` from today, as a FHIR date."""
    return (TODAY + timedelta(days=days)).isoformat()


def patient(patient_id: str) -> dict[str, Any]:
    nhs_number, given, family, born, practice = EXTRA_PEOPLE[patient_id]
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
        "name": [{"use": "official", "given": [given], "family": family}],
        "gender": "male",
        "birthDate": born,
        "generalPractitioner": [{"reference": f"Organization/{practice}"}],
    }


def participant(
    role_id: str, role: str, start: str | None = None, end: str | None = None
) -> dict[str, Any]:
    period = {k: v for k, v in (("start", start or on(-400)), ("end", end)) if v}
    return {
        "role": [{"coding": [{"system": CARE_TEAM_ROLE, "code": role}], "text": role}],
        "member": {"reference": f"PractitionerRole/{role_id}"},
        "period": period,
    }


def care_team(
    team_id: str, patient_id: str, participants: list[dict[str, Any]], status: str = "active"
) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "id": team_id,
        "status": status,
        "category": [
            {"coding": [{"system": CARE_TEAM_CATEGORY[0], "code": CARE_TEAM_CATEGORY[1]}]}
        ],
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": participants,
    }


def frailty_condition(
    condition_id: str, patient_id: str, code: str, recorded: str, *, in_error: bool = False
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "id": condition_id,
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "recordedDate": recorded,
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "entered-in-error" if in_error else "confirmed",
                }
            ]
        },
    }
    if not in_error:
        condition["clinicalStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        }
    return condition


def frailty_observation(
    observation_id: str, patient_id: str, code: str, effective: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": observation_id,
        "status": "final",
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "effectiveDateTime": effective,
    }


def hospital_stay(
    encounter_id: str,
    patient_id: str,
    status: str,
    start: str,
    end: str | None = None,
    kind: str = "IMP",
) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": status,
        "class": {"system": V3_ACT_CODE, "code": kind},
        "subject": {"reference": f"Patient/{patient_id}"},
        "serviceProvider": {"reference": "Organization/acute"},
        "period": period,
    }


def care_plan(
    plan_id: str,
    patient_id: str,
    created: str,
    *,
    next_review: str | None = None,
    last_reviewed: str | None = None,
    status: str = "active",
) -> dict[str, Any]:
    extensions = [
        {"url": url, "valueDate": value}
        for url, value in (
            (NEXT_REVIEW_EXTENSION, next_review),
            (LAST_REVIEWED_EXTENSION, last_reviewed),
        )
        if value
    ]
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": plan_id,
        "status": status,
        "intent": "plan",
        "category": [
            {"coding": [{"system": CARE_PLAN_CATEGORY[0], "code": CARE_PLAN_CATEGORY[1]}]}
        ],
        "subject": {"reference": f"Patient/{patient_id}"},
        "created": created,
    }
    if extensions:
        plan["extension"] = extensions
    return plan


def task(
    task_id: str,
    patient_id: str,
    owner: str,
    status: str = "requested",
    *,
    due: str | None = None,
    requester: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id,
        "status": status,
        "intent": "order",
        "code": {
            "coding": [
                {"system": TASK_TYPE, "code": "review-care-plan", "display": "Review the care plan"}
            ]
        },
        "for": {"reference": f"Patient/{patient_id}"},
        "owner": {"reference": owner},
        "authoredOn": f"{on(-30)}T09:00:00Z",
    }
    if due:
        body["restriction"] = {"period": {"end": due}}
    if requester:
        body["requester"] = {"reference": requester}
    if description:
        body["description"] = description
    return body


def build_caseload(place: Place) -> None:
    """Cara (care coordinator, Riverside) coordinates Mary and Joe and covers Ben this week;
    her cover for Ida has ended; Lee (link worker) is only a member of Joe's team; Sam (social
    worker) covers Joe; Ann (GP) coordinates Ben and covers Mary. Sid's team is Hal's."""
    for person_id in EXTRA_PEOPLE:
        place.put(patient(person_id))
    resources = [
        care_team(
            "ct-mary",
            "mary",
            [
                participant("prr-cara", "coordinator"),
                participant("prr-ann", "cover", on(-10)),
                participant("prr-nina", "member"),
            ],
        ),
        care_team(
            "ct-joe",
            "joe",
            [
                participant("prr-cara", "coordinator"),
                participant("prr-lee", "member"),
                participant("prr-sam", "cover", on(-1), on(14)),
            ],
        ),
        care_team(
            "ct-ben",
            "ben",
            [
                participant("prr-ann", "coordinator"),
                participant("prr-cara", "cover", on(-5), on(5)),
            ],
        ),
        care_team(
            "ct-ida",
            "ida",
            [
                participant("prr-hal", "coordinator"),
                participant("prr-cara", "cover", on(-60), on(-30)),
            ],
        ),
        care_team("ct-sid", "sid", [participant("prr-hal", "coordinator")]),
        # An old team of Sid's, no longer active: it gives Cara nothing.
        care_team("ct-sid-old", "sid", [participant("prr-cara", "coordinator")], "inactive"),
        frailty_condition("c-mary-mild", "mary", MILD, on(-700)),
        frailty_observation("o-mary-severe", "mary", SEVERE, f"{on(-30)}T10:00:00Z"),
        frailty_condition("c-joe-moderate", "joe", MODERATE, on(-100)),
        frailty_condition("c-joe-wrong", "joe", SEVERE, on(-10), in_error=True),
        frailty_condition("c-sid-severe", "sid", SEVERE, on(-50)),
        hospital_stay("e-joe", "joe", "in-progress", f"{on(-3)}T08:00:00Z"),
        hospital_stay("e-mary", "mary", "finished", f"{on(-15)}T08:00:00Z", f"{on(-10)}T12:00:00Z"),
        hospital_stay("e-mary-clinic", "mary", "finished", on(-2), on(-2), kind="AMB"),
        hospital_stay("e-ben", "ben", "finished", f"{on(-45)}T08:00:00Z", f"{on(-40)}T12:00:00Z"),
        care_plan("cp-mary", "mary", on(-800), next_review=on(-35), last_reviewed=on(-400)),
        care_plan("cp-joe", "joe", on(-500), next_review=on(300), last_reviewed=on(-60)),
        care_plan("cp-joe-old", "joe", on(-900), status="revoked"),
        care_plan("cp-sid", "sid", on(-90)),
        task(
            "t-mary-late",
            "mary",
            "PractitionerRole/prr-cara",
            due=on(-20),
            requester="PractitionerRole/prr-nina",
            description="Arrange a home visit",
        ),
        task(
            "t-mary-soon-late",
            "mary",
            "PractitionerRole/prr-cara",
            "in-progress",
            due=on(-5),
            requester="Organization/acute",
        ),
        task(
            "t-joe-riverside",
            "joe",
            "Organization/riverside",
            due=on(3),
            requester="PractitionerRole/prr-sam",
            description="Check the package of care has started",
        ),
        task("t-mary-nodue", "mary", "Organization/riverside", "accepted"),
        task("t-joe-done", "joe", "PractitionerRole/prr-cara", "completed", due=on(-2)),
        task("t-mary-council", "mary", "Organization/council", due=on(-1)),
        task("t-sid-council", "sid", "Organization/council", due=on(-3)),
    ]
    for resource in resources:
        place.put(resource)


def names(found: Caseload) -> list[str]:
    return [row.person.patient_id for row in found.people]


def row(found: Caseload, patient_id: str) -> CaseloadPerson:
    return next(r for r in found.people if r.person.patient_id == patient_id)


@pytest.fixture
def scenario(place: Place) -> Place:
    build_caseload(place)
    return place


def test_the_people_cara_coordinates_or_covers_for(scenario: Place) -> None:
    found = caseload(scenario.access("cara.coord"))
    # Family-name order: Bright, Example, Other. Ida (cover ended), Sid (another
    # coordinator's team; an inactive team of Cara's) are not on it.
    assert names(found) == ["ben", "mary", "joe"]
    assert found.has_post and found.coordinated == 3
    assert found.practices == ["hilltop", "riverside"]
    mary = row(found, "mary").person
    assert (mary.name, mary.nhs_number, mary.practice_id) == (
        "Mary Example",
        "9990000018",
        "riverside",
    )
    assert mary.age is not None and mary.age >= 85


def test_an_ended_cover_gives_no_place_on_the_caseload_and_no_longer_opens_the_record(
    scenario: Place,
) -> None:
    """Cara covered Ida's coordinator until 30 days ago; she has no other relationship with
    Ida (registered at Hilltop), so ended cover leaves her nothing: not a caseload row, not
    the record (docs/access-model.md, "Care team")."""
    access = scenario.access("cara.coord")
    assert "ida" not in names(caseload(access))
    with pytest.raises(NotFound):
        person_banner(access, "ida")


def test_being_a_member_is_not_coordinating(scenario: Place) -> None:
    found = caseload(scenario.access("lee.lw"))
    assert found.has_post and found.coordinated == 0 and found.people == []


def test_a_period_decides_whether_a_participant_coordinates_on_a_day() -> None:
    team = care_team(
        "t",
        "p",
        [
            participant("a", "cover", on(-5), on(0)),
            participant("b", "cover", on(1), on(9)),
            participant("c", "member"),
            participant("d", "coordinator", on(-9), on(-1)),
        ],
    )
    assert coordinates(team, "a", TODAY)  # the last day of cover still counts
    assert not coordinates(team, "a", TODAY + timedelta(days=1))
    assert not coordinates(team, "b", TODAY) and coordinates(team, "b", TODAY + timedelta(days=1))
    assert not coordinates(team, "c", TODAY)
    assert not coordinates(team, "d", TODAY)
    assert not coordinates(team, "z", TODAY)


def test_frailty_hospital_plan_and_open_tasks_of_each_person(scenario: Place) -> None:
    found = caseload(scenario.access("cara.coord"))
    mary, joe, ben = row(found, "mary"), row(found, "joe"), row(found, "ben")
    # A care coordinator does not see Observations, so Mary's severe frailty Observation is
    # not hers to see: the mild frailty Condition is the latest she may see.
    assert mary.frailty is not None and mary.frailty.category == "mild"
    assert mary.frailty.recorded == TODAY - timedelta(days=700)
    # Joe's severe Condition was entered in error.
    assert joe.frailty is not None and joe.frailty.category == "moderate"
    assert ben.frailty is None
    assert joe.hospital == HospitalStay(in_hospital=True)
    assert mary.hospital == HospitalStay(discharged_on=TODAY - timedelta(days=10))
    assert ben.hospital == HospitalStay()  # discharged 40 days ago
    assert mary.plan == PlanReview(
        "overdue", TODAY - timedelta(days=35), TODAY - timedelta(days=400)
    )
    assert joe.plan == PlanReview("due", TODAY + timedelta(days=300), TODAY - timedelta(days=60))
    assert ben.plan == PlanReview("no-plan")
    # Mary's open tasks, whoever owns them: two of Cara's, Riverside's, the council's.
    assert (mary.open_tasks, joe.open_tasks, ben.open_tasks) == (4, 1, 0)
    assert found.sees_frailty and found.sees_hospital and found.sees_plans


def test_a_gp_sees_frailty_observations_too(scenario: Place) -> None:
    found = caseload(scenario.access("ann.gp"))
    assert names(found) == ["ben", "mary"]  # coordinator for Ben, cover for Mary
    mary = row(found, "mary")
    assert mary.frailty is not None and mary.frailty.category == "severe"


def test_what_a_role_may_not_see_is_not_searched_and_the_page_can_say_so(
    scenario: Place,
) -> None:
    found = caseload(scenario.access("sam.sw"))  # social work: no encounters
    assert names(found) == ["joe"]
    assert not found.sees_hospital and found.sees_frailty
    assert row(found, "joe").hospital == HospitalStay()
    assert row(found, "joe").frailty is not None


def test_tasks_for_me_and_my_team_overdue_first(scenario: Place) -> None:
    found = caseload(scenario.access("cara.coord"))
    assert [t.task_id for t in found.tasks] == [
        "t-mary-late",
        "t-mary-soon-late",
        "t-joe-riverside",
        "t-mary-nodue",
    ]
    assert found.overdue_tasks == 2 and not found.more_tasks
    late, soon, riverside, no_due = found.tasks
    assert (late.what, late.person_name, late.from_organisation_id) == (
        "Arrange a home visit",
        "Mary Example",
        "community",
    )
    assert late.overdue and late.due == TODAY - timedelta(days=20)
    assert (soon.what, soon.from_organisation_id) == ("Review the care plan", "acute")
    assert not riverside.overdue and riverside.from_organisation_id == "council"
    assert no_due.due is None and not no_due.overdue and no_due.from_organisation_id is None


def test_tasks_of_other_organisations_and_closed_tasks_never_show(scenario: Place) -> None:
    ids = {t.task_id for t in caseload(scenario.access("cara.coord")).tasks}
    assert not ids & {"t-joe-done", "t-mary-council", "t-sid-council"}
    # Ann (GP, Riverside) gets her organisation's tasks but not Cara's own.
    assert [t.task_id for t in caseload(scenario.access("ann.gp")).tasks] == [
        "t-joe-riverside",
        "t-mary-nodue",
    ]
    # The council's social worker gets the council's, Sid's included (the task opens his record).
    assert [t.task_id for t in caseload(scenario.access("sam.sw")).tasks] == [
        "t-sid-council",
        "t-mary-council",
    ]


def test_a_user_without_a_post_has_no_caseload_but_sees_their_organisations_tasks(
    scenario: Place,
) -> None:
    make_user(
        scenario.store.database,
        "una.unlinked",
        "Una Unlinked",
        "care-coordinator",
        organisation_id="riverside",
    )
    found = caseload(scenario.access("una.unlinked"))
    assert not found.has_post and found.people == [] and found.coordinated == 0
    assert [t.task_id for t in found.tasks] == ["t-joe-riverside", "t-mary-nodue"]


FILTER_CASES: list[tuple[CaseloadFilters, list[str]]] = [
    (CaseloadFilters(practice="riverside"), ["mary", "joe"]),
    (CaseloadFilters(practice="hilltop"), ["ben"]),
    (CaseloadFilters(frailty="mild"), ["mary"]),
    (CaseloadFilters(frailty="moderate"), ["joe"]),
    (CaseloadFilters(frailty="severe"), []),
    (CaseloadFilters(frailty="none"), ["ben"]),
    (CaseloadFilters(recently_discharged=True), ["mary"]),
    (CaseloadFilters(no_recent_review=True), ["ben", "mary"]),
    (CaseloadFilters(practice="riverside", no_recent_review=True), ["mary"]),
    (CaseloadFilters(frailty="none", recently_discharged=True), []),
    # What no form offers is ignored rather than hiding everyone.
    (CaseloadFilters(practice="acute", frailty="extreme"), ["ben", "mary", "joe"]),
]


def test_each_filter_narrows_the_people(scenario: Place) -> None:
    access = scenario.access("cara.coord")
    for filters, expected in FILTER_CASES:
        found = caseload(access, filters)
        assert names(found) == expected, filters
        assert found.coordinated == 3
        # The tasks are not filtered: they are the user's work, whoever it is for.
        assert len(found.tasks) == 4
    applied = caseload(access, CaseloadFilters(practice="acute", frailty="extreme")).filters
    assert applied == CaseloadFilters() and not applied.any


def test_coordinating_someone_registered_elsewhere_opens_their_record(scenario: Place) -> None:
    access = scenario.access("cara.coord")
    with pytest.raises(NotFound):
        person_banner(access, "sid")
    scenario.put(
        care_team(
            "ct-sid",
            "sid",
            [participant("prr-hal", "member"), participant("prr-cara", "coordinator")],
        )
    )
    found = caseload(scenario.access("cara.coord"))
    assert names(found) == ["ben", "mary", "joe", "sid"]
    sid = row(found, "sid")
    assert sid.person.practice_id == "hilltop"
    assert sid.frailty is not None and sid.frailty.category == "severe"
    assert sid.plan == PlanReview(
        "due", years_after(TODAY - timedelta(days=90), 1), TODAY - timedelta(days=90)
    )
    assert sid.open_tasks == 1  # the council's task
    assert person_banner(scenario.access("cara.coord"), "sid").name == "Sid Stranger"


def test_each_person_looked_at_is_in_their_audit_trail_with_a_short_description(
    scenario: Place,
) -> None:
    caseload(scenario.access("cara.coord"))
    entries = [
        e for e in who_accessed(scenario.store.database, "mary") if e.username == "cara.coord"
    ]
    # One entry for the page view, though several searches read Mary's records: it names the
    # first, which found her on the caseload.
    assert [e.event for e in entries] == ["search"]
    entity = entries[0].entity or ""
    assert entity.startswith("CareTeam?participant=PractitionerRole/prr-cara")
    assert len(entity) < 400
    assert not [
        e for e in who_accessed(scenario.store.database, "sid") if e.username == "cara.coord"
    ]


def test_many_people_are_asked_about_in_batches_and_shown_a_page_at_a_time(place: Place) -> None:
    """More people than one batch and one page: a filter still reads everyone's records, and
    the table shows PEOPLE_PER_PAGE people at a time."""
    count = BATCH + 5
    for n in range(count):
        patient_id = f"many-{n:03d}"
        place.put(
            {
                "resourceType": "Patient",
                "id": patient_id,
                "name": [{"given": ["Many"], "family": f"Person{n:03d}"}],
                "generalPractitioner": [{"reference": "Organization/riverside"}],
            }
        )
        place.put(
            care_team(f"ct-{patient_id}", patient_id, [participant("prr-cara", "coordinator")])
        )
    last = f"many-{count - 1:03d}"
    place.put(frailty_condition("c-last", last, SEVERE, on(-1)))
    place.put(task("t-last", last, "Organization/council"))
    access = place.access("cara.coord")
    found = caseload(access, CaseloadFilters(frailty="severe"))
    assert names(found) == [last]
    assert (found.matching, found.coordinated, found.page, found.pages) == (1, count, 1, 1)
    assert row(found, last).open_tasks == 1

    first = caseload(access)
    assert (first.matching, first.page, first.pages) == (count, 1, 3)
    assert names(first) == [f"many-{n:03d}" for n in range(PEOPLE_PER_PAGE)]
    final = caseload(access, page=99)  # past the end: the last page
    assert (final.page, final.pages) == (3, 3)
    assert names(final) == [f"many-{n:03d}" for n in range(2 * PEOPLE_PER_PAGE, count)]
    frailty = row(final, last).frailty
    assert frailty is not None and frailty.category == "severe"
    assert row(final, last).open_tasks == 1


def test_plan_review_dates() -> None:
    plan = care_plan("p", "x", on(-100))
    assert review_of(plan, TODAY) == PlanReview(
        "due", years_after(TODAY - timedelta(days=100), 1), TODAY - timedelta(days=100)
    )
    assert review_of(care_plan("p", "x", on(-400)), TODAY).status == "overdue"
    undated = care_plan("p", "x", on(0))
    del undated["created"]
    assert review_of(undated, TODAY) == PlanReview("no-date")


def test_days_and_years() -> None:
    assert day_of("2026-03-29") == date(2026, 3, 29)
    # Half past eleven at night UTC in summer is the next day in the UK.
    assert day_of("2026-07-01T23:30:00Z") == date(2026, 7, 2)
    assert day_of("2026-07") is None and day_of(None) is None and day_of("not a date") is None
    assert years_after(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert years_after(date(2025, 3, 1), -1) == date(2024, 3, 1)
