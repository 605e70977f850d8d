"""Discharge to assess, on SQLite and PostgreSQL: the hospital's team sees who is in, starts
the discharge, records what it waits for and from whom, hands the person over to the
community, and the coordinator's check after 48 hours closes the loop."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.coordination import codes
from careweave.coordination import discharge as d2a
from careweave.coordination.people import PersonBanner, person_banner
from careweave.coordination.record import find, new_submission_token, today
from careweave.fhir.errors import NotFound, VersionConflict
from tests.coordination.place import Place


def admit(place: Place, encounter_id: str = "stay-1", patient: str = "mary", days: int = 6) -> None:
    start = (today() - timedelta(days=days)).isoformat()
    place.put(
        {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "in-progress",
            "class": {"system": codes.V3_ACT_CODE, "code": "IMP"},
            "subject": {"reference": f"Patient/{patient}"},
            "serviceProvider": {"reference": "Organization/acute"},
            "period": {"start": start},
        }
    )


def plan(**changes: Any) -> d2a.DischargePlan:
    values: dict[str, Any] = {
        "pathway": "1",
        "medically_optimised": today() - timedelta(days=2),
        "delay_reason": "awaiting-care-package",
    }
    values.update(changes)
    return d2a.DischargePlan(**values)


def test_the_hospital_sees_its_inpatients_and_the_board_shows_the_delay(place: Place) -> None:
    dan = place.access("dan.dc")
    with pytest.raises(NotFound):
        person_banner(dan, "mary")
    admit(place)
    assert person_banner(dan, "mary").name == "Mary Example"
    [row] = d2a.discharge_board(dan)
    assert (row.encounter_id, row.task_id, row.days_in_hospital) == ("stay-1", None, 6)
    task_id = d2a.start_discharge(dan, "stay-1", plan(), new_submission_token())
    [row] = d2a.discharge_board(dan)
    assert row.task_id == task_id
    assert (row.pathway, row.days_delayed, row.delay_reason) == ("1", 2, "awaiting-care-package")
    stored = place.store.read("Task", task_id).as_dict()
    assert stored["owner"] == {"reference": "Organization/acute"}
    assert stored["focus"] == {"reference": "Encounter/stay-1"}
    assert codes.has_code(stored["code"], codes.TASK_TYPE, "discharge-to-assess")
    # Someone with no relationship sees no one on their board.
    assert d2a.discharge_board(place.access("hal.gp")) == []


def test_a_second_start_is_refused_and_a_resubmitted_form_finds_the_first(place: Place) -> None:
    admit(place)
    dan = place.access("dan.dc")
    token = new_submission_token()
    first = d2a.start_discharge(dan, "stay-1", plan(), token)
    assert d2a.start_discharge(dan, "stay-1", plan(), token) == first
    with pytest.raises(d2a.DischargeProblem, match="already been started"):
        d2a.start_discharge(dan, "stay-1", plan(), new_submission_token())
    assert [t["id"] for t in find(dan, "Task", [("focus", "Encounter/stay-1")])] == [first]


def test_bad_plans_are_refused_with_nothing_written(place: Place) -> None:
    admit(place)
    dan = place.access("dan.dc")
    with pytest.raises(d2a.DischargeProblem, match="pathway"):
        d2a.start_discharge(dan, "stay-1", plan(pathway="4"), new_submission_token())
    with pytest.raises(d2a.DischargeProblem, match="future"):
        d2a.start_discharge(
            dan,
            "stay-1",
            plan(medically_optimised=today() + timedelta(days=1)),
            new_submission_token(),
        )
    assert d2a.discharge_for(dan, "stay-1").task_id is None


def test_a_stale_change_is_detected_not_overwritten(place: Place) -> None:
    admit(place)
    dan = place.access("dan.dc")
    task_id = d2a.start_discharge(dan, "stay-1", plan(), new_submission_token())
    d2a.update_discharge(dan, task_id, 1, plan(pathway="2", delay_reason="community-bed"))
    with pytest.raises(VersionConflict):
        d2a.update_discharge(dan, task_id, 1, plan(pathway="3"))
    current = d2a.discharge_for(dan, "stay-1")
    assert (current.pathway, current.delay_reason) == ("2", "community-bed")


def test_dependencies_show_whose_move_it_is_and_give_them_the_person(place: Place) -> None:
    admit(place)
    dan = place.access("dan.dc")
    task_id = d2a.start_discharge(dan, "stay-1", plan(), new_submission_token())
    with pytest.raises(NotFound):
        person_banner(place.access("sam.sw"), "mary")
    d2a.add_dependency(
        dan, task_id, "care-package", "council", today() + timedelta(days=2), new_submission_token()
    )
    d2a.add_dependency(dan, task_id, "equipment", "community", None, new_submission_token())
    current = d2a.discharge_for(dan, "stay-1")
    assert [(d.kind, d.owner_id, d.ready) for d in current.dependencies] == [
        ("care-package", "council", False),
        ("equipment", "community", False),
    ]
    # The council's social worker now has a task for Mary, so can see her.
    assert person_banner(place.access("sam.sw"), "mary").patient_id == "mary"
    with pytest.raises(d2a.DischargeProblem, match="today or in the future"):
        d2a.add_dependency(
            dan, task_id, "transport", "acute", today() - timedelta(days=1), new_submission_token()
        )
    with pytest.raises(NotFound):
        d2a.add_dependency(dan, task_id, "transport", "nowhere", None, new_submission_token())
    assert len(d2a.discharge_for(dan, "stay-1").dependencies) == 2


def test_discharge_home_hands_over_and_the_check_closes_the_loop(place: Place) -> None:
    admit(place)
    dan = place.access("dan.dc")
    task_id = d2a.start_discharge(dan, "stay-1", plan(), new_submission_token())
    handoff = d2a.Handoff(("community", "council"), None, "riverside", "Insulin at 8am")
    with pytest.raises(VersionConflict):
        d2a.discharge_home(dan, task_id, 99, handoff, new_submission_token())
    made = d2a.discharge_home(dan, task_id, 1, handoff, new_submission_token())
    assert len(made) == 3
    encounter = place.store.read("Encounter", "stay-1").as_dict()
    assert encounter["status"] == "finished" and "end" in encounter["period"]
    assert d2a.discharge_board(dan) == []
    first, second, check = (place.store.read("Task", i).as_dict() for i in made)
    assert [t["owner"]["reference"] for t in (first, second, check)] == [
        "Organization/community",
        "Organization/council",
        "Organization/riverside",
    ]
    assert first["restriction"]["period"]["end"] == (today() + timedelta(days=2)).isoformat()
    assert "Insulin at 8am" in first["description"]
    # The hospital keeps sight of the person until the check is done.
    assert person_banner(dan, "mary").patient_id == "mary"
    with pytest.raises(d2a.DischargeProblem, match="already been discharged"):
        d2a.discharge_home(dan, task_id, 2, handoff, new_submission_token())

    cara = place.access("cara.coord")
    found = d2a.follow_up(cara, made[2])
    assert not found.all_done and len(found.handoffs) == 2
    for handoff_id, username in ((made[0], "nina.nurse"), (made[1], "sam.sw")):
        access = place.access(username)
        task = access.read("Task", handoff_id).as_dict()
        task["status"] = "completed"
        access.update("Task", handoff_id, task)
    assert d2a.follow_up(cara, made[2]).all_done
    with pytest.raises(d2a.DischargeProblem, match="what you found"):
        d2a.complete_follow_up(cara, made[2], 1, " ")
    d2a.complete_follow_up(cara, made[2], 1, "Spoke to Mary: nurse and carers came")
    assert place.store.read("Task", task_id).as_dict()["status"] == "completed"
    with pytest.raises(NotFound):
        person_banner(place.access("dan.dc"), "mary")


def test_a_stay_is_dated_by_the_uk_days_its_instants_fall_on() -> None:
    """Encounter.period holds UTC instants (discharge_home writes now_instant()): leaving at
    00:30 BST on 2 June is 23:30 UTC on 1 June, and the person was discharged on 2 June."""
    banner = PersonBanner("mary", "Mary Example", None, None, None, None, False, 1)
    stay = {
        "id": "stay-1",
        "status": "finished",
        "meta": {"versionId": "2"},
        "period": {"start": "2026-05-27T23:15:00Z", "end": "2026-06-01T23:30:00Z"},
    }
    discharge = d2a.discharge_of(banner, stay, None, [])
    assert discharge.admitted == date(2026, 5, 28)  # 00:15 BST on 28 May
    assert discharge.discharged == date(2026, 6, 2)
    assert discharge.days_in_hospital == 5
