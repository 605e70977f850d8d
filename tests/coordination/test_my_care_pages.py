"""The person's own page (/my-care) over HTTP: what the person and their carer see, what they
may add, and how the person's choice opens and closes the plan to the carer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from careweave.coordination.care_plan import care_plan_of
from careweave.coordination.care_plan_actions import add_what_matters
from careweave.coordination.record import new_submission_token
from tests.coordination.place import Place, csrf_of
from tests.coordination.test_care_plan_pages import hidden
from tests.coordination.test_carers import plan_and_team

MY_CARE = "/my-care"


def appointment(place: Place, days: int = 3) -> datetime:
    """Mary's review with Dr Ann at the surgery, `days` from now, at 10:30 UTC."""
    start = (datetime.now(UTC) + timedelta(days=days)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )
    place.put(
        {
            "resourceType": "Location",
            "id": "riverside-surgery",
            "status": "active",
            "name": "Riverside Surgery, Mill Lane",
        }
    )
    place.put(
        {
            "resourceType": "Appointment",
            "id": "mary-review",
            "status": "booked",
            "description": "Long-term conditions review",
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (start + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "participant": [
                {"actor": {"reference": "Patient/mary"}, "status": "accepted"},
                {"actor": {"reference": "PractitionerRole/prr-ann"}, "status": "accepted"},
                {"actor": {"reference": "Location/riverside-surgery"}, "status": "accepted"},
            ],
        }
    )
    place.put(
        {
            "resourceType": "Appointment",
            "id": "mary-last-year",
            "status": "fulfilled",
            "description": "An appointment long past",
            "start": "2025-01-06T10:00:00Z",
            "end": "2025-01-06T10:20:00Z",
            "participant": [{"actor": {"reference": "Patient/mary"}, "status": "accepted"}],
        }
    )
    return start


def test_the_person_sees_whom_to_call_their_appointments_and_their_plan(place: Place) -> None:
    plan_and_team(place)
    appointment(place)
    add_what_matters(
        place.access("cara.coord"), "mary", "Getting to the allotment.", new_submission_token()
    )
    page = place.sign_in("mary").get(MY_CARE)
    assert page.status_code == 200
    html = page.text
    assert "<h1>Your care</h1>" in html
    coordinator = html.index("Your care coordinator")
    assert html.index("Cara Coordinator") > coordinator
    assert "01632 960110" in html  # Cara's phone, from her PractitionerRole
    assert "Cara Coordinator</strong>, Care coordinator" in html  # in words, not the code
    assert "Nina Nurse" in html and "Northshire Community Health NHS Trust" in html
    assert "Long-term conditions review" in html
    assert "Long-term conditions review, with Ann Example, Riverside Surgery" in html
    assert "At Riverside Surgery, Mill Lane" in html
    assert "An appointment long past" not in html
    assert "Getting to the allotment." in html
    assert "Carl Example cannot see your plan" in html
    assert 'href="/my-care" aria-current="true"' in html  # the menu says where you are


def test_the_carer_sees_the_team_and_appointments_and_the_plan_only_when_shared(
    place: Place,
) -> None:
    plan_and_team(place)
    appointment(place)
    add_what_matters(
        place.access("cara.coord"), "mary", "Getting to the allotment.", new_submission_token()
    )
    carl = place.sign_in("carl")
    before = carl.get(MY_CARE).text
    assert "<h1>Mary Example&#39;s care</h1>" in before
    assert "Cara Coordinator" in before and "Long-term conditions review" in before
    assert "has not chosen to share their care and support plan with you" in before
    assert "Getting to the allotment." not in before
    assert "Who can see your plan" not in before  # the choice is Mary's alone

    mary = place.sign_in("mary")
    page = mary.get(MY_CARE).text
    shared = mary.post(
        "/my-care/carers/carl/share", data={"csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert (shared.status_code, shared.headers["location"]) == (303, "/my-care?done=shared")
    assert "Carl Example can see your plan" in mary.get(shared.headers["location"]).text
    assert "Getting to the allotment." in carl.get(MY_CARE).text

    # Carl may not make the choice for Mary.
    refused = carl.post(
        "/my-care/carers/carl/stop-sharing",
        data={"csrf_token": csrf_of(carl.get(MY_CARE).text)},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    stopped = mary.post(
        "/my-care/carers/carl/stop-sharing",
        data={"csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert stopped.headers["location"] == "/my-care?done=stopped"
    assert "Getting to the allotment." not in carl.get(MY_CARE).text


def test_the_person_adds_what_matters_and_a_question_once_each(place: Place) -> None:
    plan_and_team(place)
    mary = place.sign_in("mary")
    page = mary.get(MY_CARE).text
    empty = mary.post(
        "/my-care/what-matters",
        data={"csrf_token": csrf_of(page), "token": hidden(page, "token"), "what-matters": " "},
        follow_redirects=False,
    )
    assert empty.status_code == 400
    assert 'href="#what-matters">Enter what matters to you' in empty.text

    data = {
        "csrf_token": csrf_of(page),
        "token": hidden(page, "token"),
        "what-matters": "Seeing my grandchildren on Sundays.",
    }
    first = mary.post("/my-care/what-matters", data=data, follow_redirects=False)
    again = mary.post("/my-care/what-matters", data=data, follow_redirects=False)
    assert (first.status_code, again.status_code) == (303, 303)
    assert "What matters to you has been added" in mary.get(first.headers["location"]).text
    question_token = page.split('action="/my-care/questions"')[1]
    asked = mary.post(
        "/my-care/questions",
        data={
            "csrf_token": csrf_of(page),
            "token": hidden(question_token, "token"),
            "question": "Can I stop one of my tablets?",
        },
        follow_redirects=False,
    )
    assert asked.headers["location"] == "/my-care?done=question"

    plan = care_plan_of(place.access("cara.coord"), "mary")
    assert plan is not None
    assert [(w.text, w.written_by.kind) for w in plan.what_matters] == [
        ("Seeing my grandchildren on Sundays.", "person")
    ]
    assert [q.text for q in plan.open_questions] == ["Can I stop one of my tablets?"]
    assert (
        "Seeing my grandchildren on Sundays."
        in place.sign_in("cara.coord").get("/people/mary/care-plan").text
    )


def test_without_a_plan_the_person_is_told_so_and_staff_cannot_use_the_page(
    place: Place,
) -> None:
    html = place.sign_in("mary").get(MY_CARE).text
    assert "You do not have a care and support plan yet" in html
    assert "You do not have a named care coordinator yet" in html
    assert "No appointments are booked." in html
    assert place.sign_in("cara.coord").get(MY_CARE).status_code == 403
    assert 'href="/my-care"' in place.sign_in("mary").get("/home").text
