"""The discharge pages over HTTP, on SQLite and PostgreSQL: the board, starting a discharge
with the form (errors kept, stale changes shown), what it waits for, the handoff home and the
check after 48 hours."""

from __future__ import annotations

import re
from datetime import date, timedelta

from careweave.coordination.record import find, today
from tests.coordination.place import Place, csrf_of
from tests.coordination.test_discharge import admit


def _date(prefix: str, value: date) -> dict[str, str]:
    return {
        f"{prefix}-day": str(value.day),
        f"{prefix}-month": str(value.month),
        f"{prefix}-year": str(value.year),
    }


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


def test_a_discharge_coordinator_runs_a_discharge_from_the_board(place: Place) -> None:
    admit(place)
    browser = place.sign_in("dan.dc")
    board = browser.get("/discharge")
    assert board.status_code == 200
    assert "Mary Example" in board.text and "Not started" in board.text
    page = browser.get("/discharge/stay-1")
    assert page.status_code == 200 and "Start discharge to assess" in page.text

    form = {
        "csrf_token": csrf_of(page.text),
        "token": _hidden(page.text, "token"),
        "version": "0",
        "pathway": "1",
        "delay_reason": "awaiting-care-package",
        **_date("optimised", today() - timedelta(days=3)),
    }
    wrong = browser.post(
        "/discharge/stay-1/plan",
        data={**form, "pathway": "", "optimised-day": "31", "optimised-month": "2"},
    )
    assert wrong.status_code == 400
    assert "Select a discharge pathway" in wrong.text
    assert "Date medically optimised must be a real date" in wrong.text
    assert 'value="31"' in wrong.text  # what was typed is kept
    slip = browser.post("/discharge/stay-1/plan", data={**form, "optimised-year": "0001"})
    assert slip.status_code == 400  # not a delay of 740,000 days
    assert "Date medically optimised must be the same as or after 1 January 1900" in slip.text
    assert find(place.access("dan.dc"), "Task", [("focus", "Encounter/stay-1")]) == []

    saved = browser.post("/discharge/stay-1/plan", data=form, follow_redirects=False)
    assert saved.status_code == 303
    again = browser.post("/discharge/stay-1/plan", data=form, follow_redirects=False)
    assert again.status_code == 303  # the same form twice: one discharge
    [task] = find(place.access("dan.dc"), "Task", [("focus", "Encounter/stay-1")])
    board = browser.get("/discharge")
    assert "Delayed 3 days" in board.text and "Waiting for a package of care" in board.text

    page = browser.get("/discharge/stay-1")
    added = browser.post(
        "/discharge/stay-1/dependencies",
        data={
            "csrf_token": csrf_of(page.text),
            "token": _hidden(page.text, "token"),
            "kind": "care-package",
            "owner": "council",
            **_date("needed", today() + timedelta(days=1)),
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    board = browser.get("/discharge")
    assert "Package of care at home: Northshire Council Adult Social Care" in board.text

    # A stale change (someone else saved since the page was opened) is shown, not applied.
    changed = browser.post(
        "/discharge/stay-1/plan",
        data={**form, "version": "1", "pathway": "2"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    stale = browser.post("/discharge/stay-1/plan", data={**form, "version": "1", "pathway": "3"})
    assert stale.status_code == 409 and "Someone else has changed this discharge" in stale.text
    stored = place.store.read("Task", task["id"]).as_dict()
    assert stored["input"][0]["valueCodeableConcept"]["coding"][0]["code"] == "2"

    page = browser.get("/discharge/stay-1")
    missing = browser.post(
        "/discharge/stay-1/home",
        data={"csrf_token": csrf_of(page.text), "version": _hidden(page.text, "version")},
    )
    assert missing.status_code == 400
    assert "Select who must act in the first 48 hours at home" in missing.text
    home = browser.post(
        "/discharge/stay-1/home",
        data={
            "csrf_token": csrf_of(page.text),
            "token": _hidden(page.text, "token"),
            "version": _hidden(page.text, "version"),
            "handoff-community": "yes",
            "checker": "practice",
            "note": "Insulin at 8am",
        },
        follow_redirects=False,
    )
    assert home.status_code == 303
    assert "Mary Example" not in browser.get("/discharge").text
    [check] = find(
        place.access("cara.coord"),
        "Task",
        [("code", "https://fhir.careweave.example/CodeSystem/task-type|post-discharge-check")],
    )
    coordinator = place.sign_in("cara.coord")
    check_page = coordinator.get(f"/discharge/checks/{check['id']}")
    assert check_page.status_code == 200 and "Not done" in check_page.text
    recorded = coordinator.post(
        f"/discharge/checks/{check['id']}",
        data={
            "csrf_token": csrf_of(check_page.text),
            "version": "1",
            "note": "Nurse visited on day one",
        },
        follow_redirects=False,
    )
    assert recorded.status_code == 303
    assert "Nurse visited on day one" in coordinator.get(f"/discharge/checks/{check['id']}").text


def test_the_discharge_pages_hide_what_the_user_may_not_see(place: Place) -> None:
    admit(place)
    outsider = place.sign_in("hal.gp")
    assert "Mary Example" not in outsider.get("/discharge").text
    assert outsider.get("/discharge/stay-1").status_code == 404
    assert place.sign_in("mary").get("/discharge").status_code == 403
