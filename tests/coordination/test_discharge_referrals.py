"""Referrals made from a discharge, on SQLite and PostgreSQL: their Tasks are `partOf` the
discharge-to-assess Task, so the discharge page and the board show them among what the
discharge is waiting for, with where each stands; a referral cannot be hung off a discharge
that is not an open one of the same person."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from careweave.coordination import codes
from careweave.coordination import discharge as d2a
from careweave.coordination.record import FORM_SUBMISSION_SYSTEM, find, new_submission_token, today
from careweave.coordination.referrals import InvalidReferral, make_referral, take_action
from careweave.coordination.tasks import TaskAction
from careweave.web.pages import uk_date
from tests.coordination.place import Place, csrf_of
from tests.coordination.test_discharge import admit, plan
from tests.coordination.test_discharge_pages import _date, _hidden

REASON = "Needs insulin twice a day once home; lives alone."
COMMUNITY = "Northshire Community Health NHS Trust"


def started(place: Place, encounter_id: str = "stay-1", patient: str = "mary") -> str:
    """Admit the person and start their discharge as Dan; the discharge Task's id."""
    admit(place, encounter_id, patient)
    return d2a.start_discharge(place.access("dan.dc"), encounter_id, plan(), new_submission_token())


def refer_from(place: Place, part_of: str | None, patient: str = "mary", token: str = "") -> str:
    made = make_referral(
        place.access("dan.dc"),
        patient,
        "community-nursing",
        "community",
        REASON,
        "urgent",
        today() + timedelta(days=2),
        token or new_submission_token(),
        part_of,
    )
    return made.task_id


def referrals_made(place: Place) -> list[dict[str, object]]:
    return find(
        place.access("dan.dc"),
        "Task",
        [("patient", "Patient/mary"), ("code", "|".join(codes.FULFIL))],
    )


def test_a_referral_from_a_discharge_is_part_of_it_and_shown_as_waited_for(place: Place) -> None:
    discharge_id = started(place)
    dan = place.access("dan.dc")
    equipment_id = d2a.add_dependency(
        dan, discharge_id, "equipment", "council", None, new_submission_token(), "Hospital bed"
    )
    token = new_submission_token()
    task_id = refer_from(place, discharge_id, token=token)
    assert refer_from(place, discharge_id, token=token) == task_id  # sent twice: one referral
    ordinary = refer_from(place, None)

    stored = place.store.read("Task", task_id).as_dict()
    assert stored["partOf"] == [{"reference": f"Task/{discharge_id}"}]
    assert "partOf" not in place.store.read("Task", ordinary).as_dict()

    found = d2a.discharge_for(dan, "stay-1")
    by_id = {d.task_id: d for d in found.dependencies}
    assert set(by_id) == {task_id, equipment_id}  # not the ordinary referral
    referral = by_id[task_id]
    assert (referral.referral, referral.kind, referral.owner_id) == (True, "referral", "community")
    assert (referral.status, referral.referral_words) == ("requested", "Waiting for a response")
    assert referral.due == today() + timedelta(days=2)
    assert referral.description == "Referral: community nursing"
    # The dependency recorded before is still there, as it was.
    equipment = by_id[equipment_id]
    assert (equipment.referral, equipment.kind, equipment.description, equipment.owner_id) == (
        False,
        "equipment",
        "Hospital bed",
        "council",
    )

    [row] = d2a.discharge_board(dan)
    assert {d.task_id for d in row.waiting_on} == {task_id, equipment_id}

    take_action(place.access("nina.nurse"), task_id, TaskAction.ACCEPT, version=1)
    accepted = {d.task_id: d for d in d2a.discharge_for(dan, "stay-1").dependencies}[task_id]
    assert (accepted.status, accepted.referral_words) == ("accepted", "Accepted")
    [row] = d2a.discharge_board(dan)
    assert [d.status for d in row.waiting_on if d.referral] == ["accepted"]


def test_a_referral_cannot_be_part_of_a_discharge_that_is_not_an_open_one_of_the_person(
    place: Place,
) -> None:
    mary_discharge = started(place)
    joe_discharge = started(place, "stay-2", "joe")
    dan = place.access("dan.dc")
    dependency = d2a.add_dependency(
        dan, mary_discharge, "transport", "acute", None, new_submission_token()
    )
    for part_of, problem in (
        (joe_discharge, "about someone else"),
        (dependency, "could not be found"),  # a Task, but not a discharge
        ("no-such-task", "could not be found"),
        ("not an id!", "could not be found"),
    ):
        with pytest.raises(InvalidReferral, match=problem):
            refer_from(place, part_of)
    # A discharge that has finished takes no more referrals.
    finished = place.store.read("Task", joe_discharge).as_dict()
    place.put({**finished, "status": "completed"})
    with pytest.raises(InvalidReferral, match="has finished"):
        refer_from(place, joe_discharge, patient="joe")
    assert referrals_made(place) == []
    with pytest.raises(d2a.DischargeProblem):
        d2a.discharge_to_refer_from(dan, mary_discharge, "joe")
    assert d2a.discharge_to_refer_from(dan, mary_discharge, "mary") == "stay-1"


def test_dan_refers_from_the_discharge_page_and_comes_back_to_it(place: Place) -> None:
    admit(place)
    dan = place.sign_in("dan.dc")
    before = dan.get("/discharge/stay-1")
    assert "Refer to another service" not in before.text  # no discharge started yet
    started_page = dan.post(
        "/discharge/stay-1/plan",
        data={
            "csrf_token": csrf_of(before.text),
            "token": _hidden(before.text, "token"),
            "version": "0",
            "pathway": "1",
        },
    )
    assert started_page.status_code == 200
    [discharge] = find(place.access("dan.dc"), "Task", [("focus", "Encounter/stay-1")])
    link = f"/people/mary/referrals/new?discharge={discharge['id']}"
    assert f'href="{link}">Refer to another service' in started_page.text

    form_page = dan.get(link)
    assert form_page.status_code == 200
    assert _hidden(form_page.text, "discharge") == discharge["id"]
    assert 'href="/discharge/stay-1">Cancel and go back' in form_page.text
    due = today() + timedelta(days=1)
    data = {
        "csrf_token": csrf_of(form_page.text),
        "token": _hidden(form_page.text, "token"),
        "discharge": discharge["id"],
        "service": "community-nursing",
        "organisation": "community",
        "reason": REASON,
        "priority": "urgent",
        **_date("respond_by", due),
    }
    missing = dan.post("/people/mary/referrals/new", data={**data, "reason": ""})
    assert missing.status_code == 400
    assert _hidden(missing.text, "discharge") == discharge["id"]  # kept for the next try

    sent = dan.post("/people/mary/referrals/new", data=data, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == "/discharge/stay-1?done=referred#waiting-on"
    again = dan.post("/people/mary/referrals/new", data=data, follow_redirects=False)
    assert again.status_code == 303
    [referral] = find(
        place.access("dan.dc"),
        "Task",
        [("identifier", f"{FORM_SUBMISSION_SYSTEM}|{data['token']}")],
    )
    assert referral["partOf"] == [{"reference": f"Task/{discharge['id']}"}]

    page = dan.get(sent.headers["location"]).text
    assert "nhsuk-notification-banner--success" in page
    assert "Your referral has been sent" in page
    waiting = page.split('id="waiting-on"', 1)[1].split("</table>", 1)[0]
    row = re.search(
        rf'href="/tasks/{referral["id"]}">Referral: community nursing</a>.*?</tr>', waiting, re.S
    )
    assert row, waiting
    assert COMMUNITY in row.group(0) and uk_date(due) in row.group(0)
    assert "Waiting for a response" in row.group(0)
    assert "Your referral has been sent" not in dan.get("/discharge/stay-1").text

    board = dan.get("/discharge").text
    assert (
        f"Referral: community nursing: {COMMUNITY} (waiting for a response, due {uk_date(due)})"
        in board
    )

    take_action(place.access("nina.nurse"), referral["id"], TaskAction.ACCEPT, version=1)
    accepted = dan.get("/discharge/stay-1").text.split('id="waiting-on"', 1)[1]
    assert 'nhsuk-tag--blue">Accepted</strong>' in accepted
    assert f"Referral: community nursing: {COMMUNITY} (accepted" in dan.get("/discharge").text


def test_the_referral_form_refuses_a_discharge_that_is_not_an_open_one_of_the_person(
    place: Place,
) -> None:
    started(place)
    joe_discharge = started(place, "stay-2", "joe")
    dan = place.sign_in("dan.dc")
    assert dan.get("/people/mary/referrals/new?discharge=no-such-task").status_code == 404
    wrong = dan.get(f"/people/mary/referrals/new?discharge={joe_discharge}")
    assert wrong.status_code == 404 and "about someone else" in wrong.text
    # A form sent with another person's discharge in it (altered by hand) makes nothing.
    page = dan.get("/people/mary/referrals/new")
    assert 'name="discharge"' not in page.text  # an ordinary referral carries none
    due = today() + timedelta(days=1)
    tampered = dan.post(
        "/people/mary/referrals/new",
        data={
            "csrf_token": csrf_of(page.text),
            "token": _hidden(page.text, "token"),
            "discharge": joe_discharge,
            "service": "community-nursing",
            "organisation": "community",
            "reason": REASON,
            "priority": "urgent",
            **_date("respond_by", due),
        },
    )
    assert tampered.status_code == 404
    assert referrals_made(place) == []
    # Someone with no relationship with Mary is not shown the form at all.
    outsider = place.sign_in("hal.gp")
    assert outsider.get(f"/people/mary/referrals/new?discharge={joe_discharge}").status_code == 404
