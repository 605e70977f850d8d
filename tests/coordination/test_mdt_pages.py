"""The MDT meeting pages over HTTP, signed in through the form: Cara (Riverside Surgery)
schedules a meeting with Nina (community trust) and Sam (council), puts people on the list,
records the discussion, attendance and actions; what the pages write is checked as FHIR, and
what each attendee sees is checked through the pages and the FHIR API."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from careweave.access.scopes import Scopes
from careweave.access.tokens import issue_token
from careweave.coordination import codes
from careweave.coordination.mdt import PEOPLE_COUNT_EXTENSION
from careweave.coordination.record import find, today
from tests.coordination.place import Place, csrf_of

SEVERE = "925861000000102"
MDT_TYPE = f"{codes.APPOINTMENT_TYPE}|{codes.MDT_MEETING}"


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name} on the page"
    return match.group(1)


def error_summary(page: str) -> str:
    match = re.search(r'<div class="nhsuk-error-summary".*?</ul>', page, re.S)
    assert match, "no error summary on the page"
    return html.unescape(match.group(0))


def text_of(page: str) -> str:
    """The page's words as read out, tags removed and spaces collapsed (for sentences split by
    markup); the responsive tables' repeated headings, hidden from screen readers, go too."""
    shown = re.sub(r'<span class="nhsuk-table__heading" aria-hidden="true">[^<]*</span>', " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", shown)).split())


def schedule_form(
    client: TestClient, day: date | None = None, fields: dict[str, str] | None = None
) -> dict[str, str]:
    """The schedule form as a person fills it in: today at midnight (so the meeting has
    begun) unless `day` says otherwise; Nina and Sam invited."""
    page = client.get("/mdt/new")
    assert page.status_code == 200, page.text
    when = day or today()
    data = {
        "csrf_token": csrf_of(page.text),
        "token": hidden(page.text, "token"),
        "title": "Riverside frailty MDT",
        "day-day": str(when.day),
        "day-month": str(when.month),
        "day-year": str(when.year),
        "start_time": "00:00",
        "minutes": "60",
        "location": "",
        "place": "Microsoft Teams",
        "attendee-prr-nina": "yes",
        "attendee-prr-sam": "yes",
    }
    data.update(fields or {})
    return data


def schedule(client: TestClient, day: date | None = None, **fields: str) -> str:
    response = client.post(
        "/mdt/new", data=schedule_form(client, day, fields), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/mdt/([A-Za-z0-9\-.]+)\?done=scheduled", response.headers["location"])
    assert match
    return match.group(1)


def add_to_list(
    place: Place, client: TestClient, meeting_id: str, patient: str, reason: str = "Falls"
) -> str:
    """Put `patient` on the list through the add page; the id of their Communication."""
    page = client.get(f"/mdt/{meeting_id}/people/add?q={patient}")
    assert page.status_code == 200, page.text
    response = client.post(
        f"/mdt/{meeting_id}/people/add",
        data={
            "csrf_token": csrf_of(page.text),
            "token": hidden(page.text, "token"),
            "patient": patient,
            "reason": reason,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    [communication] = find(
        place.access("cara.coord"),
        "Communication",
        [("part-of", f"Appointment/{meeting_id}"), ("subject", f"Patient/{patient}")],
    )
    return str(communication["id"])


def discuss(client: TestClient, meeting_id: str, communication_id: str, text: str) -> Any:
    page = client.get(f"/mdt/{meeting_id}/people/{communication_id}")
    assert page.status_code == 200, page.text
    return client.post(
        f"/mdt/{meeting_id}/people/{communication_id}",
        data={
            "csrf_token": csrf_of(page.text),
            "version": hidden(page.text, "version"),
            "discussion": text,
        },
        follow_redirects=False,
    )


def action_form(
    client: TestClient, meeting_id: str, communication_id: str, **fields: str
) -> dict[str, str]:
    page = client.get(f"/mdt/{meeting_id}/people/{communication_id}")
    assert page.status_code == 200, page.text
    due = today() + timedelta(days=10)
    data = {
        "csrf_token": csrf_of(page.text),
        "action_token": hidden(page.text, "action_token"),
        "description": "Falls assessment at home",
        "owner": "Organization/community",
        "due-day": str(due.day),
        "due-month": str(due.month),
        "due-year": str(due.year),
    }
    data.update(fields)
    return data


def fhir(place: Place, username: str, scopes: str = "user/*.rs") -> TestClient:
    """A FHIR API client holding `username`'s token."""
    token = issue_token(
        place.store.database,
        Scopes.parse(scopes),
        username=username,
        client_name=f"tests: {username}",
    ).token
    client = place.stack.enter_context(TestClient(place.app, base_url="http://testserver"))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def ids_in(bundle: dict[str, Any]) -> list[str]:
    return sorted(
        e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"
    )


# -- scheduling -----------------------------------------------------------------------------------


def test_cara_schedules_a_meeting_and_attendees_see_it(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    listing = cara.get("/mdt")
    assert listing.status_code == 200
    assert 'href="/mdt/new"' in listing.text
    assert re.search(r'href="/mdt"[^>]*aria-current="true"', listing.text)

    day = today() + timedelta(days=5)
    meeting_id = schedule(cara, day, start_time="2:30pm", minutes="90")
    shown = cara.get(f"/mdt/{meeting_id}?done=scheduled")
    assert "The meeting has been scheduled" in shown.text
    words = text_of(shown.text)
    assert f"{day:%A} {day.day} {day:%B %Y}, 14:30 (90 minutes)" in words
    assert "Microsoft Teams" in words
    for name, organisation in (
        ("Nina Nurse", "Northshire Community Health NHS Trust"),
        ("Sam Social", "Northshire Council Adult Social Care"),
    ):
        assert re.search(rf"{name} \(\w[\w -]*\) {organisation} Invited", words), words

    stored = place.store.read("Appointment", meeting_id).as_dict()
    assert stored["status"] == "booked" and stored["description"] == "Riverside frailty MDT"
    assert [p["actor"]["reference"] for p in stored["participant"]] == [
        "PractitionerRole/prr-cara",
        "PractitionerRole/prr-nina",
        "PractitionerRole/prr-sam",
    ]

    nina = place.sign_in("nina.nurse")
    assert f'href="/mdt/{meeting_id}">Riverside frailty MDT</a>' in nina.get("/mdt").text
    hal = place.sign_in("hal.gp")
    assert meeting_id not in hal.get("/mdt").text


def test_sending_the_schedule_form_twice_makes_one_meeting(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    data = schedule_form(cara)
    first = cara.post("/mdt/new", data=data, follow_redirects=False)
    again = cara.post("/mdt/new", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    found = find(place.access("cara.coord"), "Appointment", [("service-type", MDT_TYPE)])
    assert len(found) == 1


@pytest.mark.parametrize(
    ("fields", "message", "kept"),
    [
        ({"title": " "}, "Enter a title for the meeting", 'value="Microsoft Teams"'),
        ({"start_time": "25:00"}, "Start time must be a real time", 'value="25:00"'),
        (
            {"day-day": "1", "day-month": "1", "day-year": "2020"},
            "Date of the meeting must be today or in the future",
            'value="2020"',
        ),
        ({"day-month": ""}, "Date of the meeting must include a month", "Riverside frailty MDT"),
        ({"place": ""}, "Choose where the meeting is, or type the place", 'value="00:00"'),
        ({"minutes": "7"}, "Select how long the meeting is", "Riverside frailty MDT"),
    ],
)
def test_bad_schedule_input_shows_the_errors_and_keeps_what_was_typed(
    place: Place, fields: dict[str, str], message: str, kept: str
) -> None:
    cara = place.sign_in("cara.coord")
    response = cara.post("/mdt/new", data=schedule_form(cara, None, fields), follow_redirects=False)
    assert response.status_code == 400
    assert message in error_summary(response.text)
    assert "<title>Error:" in response.text
    assert kept in response.text
    # The people ticked stay ticked.
    assert re.search(r'name="attendee-prr-nina" type="checkbox" value="yes" checked', response.text)
    assert find(place.access("cara.coord"), "Appointment", [("service-type", MDT_TYPE)]) == []


# -- the people to discuss ------------------------------------------------------------------------


def test_people_are_offered_from_case_finding_and_search_and_added(place: Place) -> None:
    place.put(
        {
            "resourceType": "Condition",
            "id": "c-mary",
            "subject": {"reference": "Patient/mary"},
            "code": {"coding": [{"system": codes.SNOMED, "code": SEVERE}]},
            "recordedDate": "2025-01-10",
        }
    )
    cara = place.sign_in("cara.coord")
    meeting_id = schedule(cara, today() + timedelta(days=1), start_time="10:00")
    page = cara.get(f"/mdt/{meeting_id}/people/add")
    words = text_of(page.text)
    assert "People with moderate or severe frailty" in words
    assert "Mary Example NHS number 999 000 0018, born 2 March 1941 Severe frailty" in words
    assert "Joe Other" not in words
    searched = cara.get(f"/mdt/{meeting_id}/people/add?q=joe")
    assert "People matching the name" in text_of(searched.text)
    assert 'value="joe"' in searched.text
    bad = cara.get(f"/mdt/{meeting_id}/people/add?q=1234567890")
    assert bad.status_code == 400 and "Enter a valid NHS number" in error_summary(bad.text)

    # Nothing chosen: the reason typed is kept.
    response = cara.post(
        f"/mdt/{meeting_id}/people/add",
        data={
            "csrf_token": csrf_of(page.text),
            "token": hidden(page.text, "token"),
            "reason": "Three falls since June",
        },
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "Select the person to discuss" in error_summary(response.text)
    assert "Three falls since June</textarea>" in response.text

    data = {
        "csrf_token": csrf_of(page.text),
        "token": hidden(page.text, "token"),
        "patient": "mary",
        "reason": "Three falls since June",
    }
    first = cara.post(f"/mdt/{meeting_id}/people/add", data=data, follow_redirects=False)
    again = cara.post(f"/mdt/{meeting_id}/people/add", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == f"/mdt/{meeting_id}?done=added#people"
    shown = cara.get(f"/mdt/{meeting_id}?done=added")
    assert "They have been added to the list" in shown.text
    assert "Three falls since June" in shown.text
    assert 'href="/people/mary"' in shown.text
    stored = place.store.read("Appointment", meeting_id).as_dict()
    [count] = [e for e in stored["extension"] if e["url"] == PEOPLE_COUNT_EXTENSION]
    assert count["valueUnsignedInt"] == 1
    # Mary is no longer offered.
    assert 'value="mary"' not in cara.get(f"/mdt/{meeting_id}/people/add").text

    # Sid is Hilltop's: Cara cannot put him on the list, even by sending his id.
    sid = cara.post(
        f"/mdt/{meeting_id}/people/add",
        data={**data, "token": "0" * 32, "patient": "sid"},
        follow_redirects=False,
    )
    assert sid.status_code == 400
    assert "Select a person from the list" in error_summary(sid.text)


def test_an_attendee_sees_only_people_they_know_and_a_count_of_others(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    meeting_id = schedule(cara)
    mary = add_to_list(place, cara, meeting_id, "mary", "Falls")
    add_to_list(place, cara, meeting_id, "joe", "Lives alone, not eating")

    nina = place.sign_in("nina.nurse")
    page = nina.get(f"/mdt/{meeting_id}")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Mary Example" not in words and "Joe Other" not in words
    assert "Lives alone" not in words
    assert "There are 2 other people on the list whose records you cannot see" in words
    assert nina.get(f"/mdt/{meeting_id}/people/{mary}").status_code == 404

    # Through the FHIR API: Nina sees the meeting, and none of the people on its list.
    api = fhir(place, "nina.nurse")
    meetings = api.get("/fhir/R4/Appointment", params={"service-type": MDT_TYPE})
    assert meetings.status_code == 200 and ids_in(meetings.json()) == [meeting_id]
    listed = api.get("/fhir/R4/Communication", params={"part-of": f"Appointment/{meeting_id}"})
    assert listed.status_code == 200 and ids_in(listed.json()) == []
    cara_api = fhir(place, "cara.coord")
    everyone = cara_api.get(
        "/fhir/R4/Communication", params={"part-of": f"Appointment/{meeting_id}"}
    ).json()
    assert len(ids_in(everyone)) == 2 and mary in ids_in(everyone)
    # A patient's sign-in does not see the meeting at all.
    mary_api = fhir(place, "mary", "patient/*.rs")
    assert (
        ids_in(mary_api.get("/fhir/R4/Appointment", params={"service-type": MDT_TYPE}).json()) == []
    )

    # An action for Nina's organisation gives them Mary's record, and her place on the list.
    assert discuss(cara, meeting_id, mary, "Falls assessment agreed.").status_code == 303
    assert (
        cara.post(
            f"/mdt/{meeting_id}/people/{mary}/actions",
            data=action_form(cara, meeting_id, mary),
            follow_redirects=False,
        ).status_code
        == 303
    )
    words = text_of(nina.get(f"/mdt/{meeting_id}").text)
    assert "Mary Example" in words and "Joe Other" not in words
    assert "There is 1 other person on the list whose records you cannot see" in words
    listed = api.get("/fhir/R4/Communication", params={"part-of": f"Appointment/{meeting_id}"})
    assert ids_in(listed.json()) == [mary]


def test_someone_is_taken_off_the_list_before_the_meeting(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    meeting_id = schedule(cara, today() + timedelta(days=1), start_time="10:00")
    mary = add_to_list(place, cara, meeting_id, "mary")
    page = cara.get(f"/mdt/{meeting_id}/people/{mary}")
    assert "The discussion can be recorded once the meeting has started" in page.text
    stale = cara.post(
        f"/mdt/{meeting_id}/people/{mary}/remove",
        data={"csrf_token": csrf_of(page.text), "version": "99"},
        follow_redirects=False,
    )
    assert stale.status_code == 409
    response = cara.post(
        f"/mdt/{meeting_id}/people/{mary}/remove",
        data={"csrf_token": csrf_of(page.text), "version": hidden(page.text, "version")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    shown = cara.get(f"/mdt/{meeting_id}?done=removed").text
    assert "They have been taken off the list" in shown
    assert "No one is on the list yet" in shown
    assert place.store.read("Communication", mary).as_dict()["status"] == "not-done"


# -- the discussion and actions -----------------------------------------------------------------


def test_the_discussion_is_saved_and_a_stale_edit_shows_the_other_change(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    meeting_id = schedule(cara)
    mary = add_to_list(place, cara, meeting_id, "mary")
    empty = discuss(cara, meeting_id, mary, "   ")
    assert empty.status_code == 400
    assert "Enter what the meeting discussed and decided" in error_summary(empty.text)

    opened = cara.get(f"/mdt/{meeting_id}/people/{mary}").text
    saved = discuss(cara, meeting_id, mary, "Falls clinic referral agreed.")
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/mdt/{meeting_id}/people/{mary}?done=discussion#actions"
    shown = cara.get(f"/mdt/{meeting_id}/people/{mary}?done=discussion").text
    assert "The discussion has been saved" in shown
    assert "Falls clinic referral agreed.</textarea>" in shown
    assert 'action="/mdt/' in shown and "Add an action" in shown

    # Someone (Ann) edits after Cara opened the page: Cara's old form is stale.
    ann = place.sign_in("ann.gp")
    assert discuss(ann, meeting_id, mary, "Ann's version of the decision.").status_code == 303
    stale = cara.post(
        f"/mdt/{meeting_id}/people/{mary}",
        data={
            "csrf_token": csrf_of(opened),
            "version": hidden(opened, "version"),
            "discussion": "Cara's late edit",
        },
        follow_redirects=False,
    )
    assert stale.status_code == 409
    assert "Someone else changed this" in error_summary(stale.text)
    assert "Ann's version of the decision." in html.unescape(stale.text)
    assert "Cara's late edit</textarea>" in html.unescape(stale.text)
    stored = place.store.read("Communication", mary).as_dict()
    assert stored["payload"] == [{"contentString": "Ann's version of the decision."}]
    assert stored["status"] == "completed"


def test_actions_are_added_one_at_a_time_and_reach_the_owners_worklist(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    meeting_id = schedule(cara)
    mary = add_to_list(place, cara, meeting_id, "mary")
    before = cara.get(f"/mdt/{meeting_id}/people/{mary}").text
    assert "Save the discussion first" in before and "action_token" not in before
    assert discuss(cara, meeting_id, mary, "Falls assessment agreed.").status_code == 303

    bad = cara.post(
        f"/mdt/{meeting_id}/people/{mary}/actions",
        data=action_form(cara, meeting_id, mary, owner="", **{"due-month": "13"}),
        follow_redirects=False,
    )
    assert bad.status_code == 400
    summary = error_summary(bad.text)
    assert "Select who will do it" in summary and "Due date must be a real date" in summary
    assert "Falls assessment at home</textarea>" in bad.text
    assert 'name="due-month" type="text" inputmode="numeric" value="13"' in bad.text

    data = action_form(cara, meeting_id, mary)
    first = cara.post(f"/mdt/{meeting_id}/people/{mary}/actions", data=data, follow_redirects=False)
    again = cara.post(f"/mdt/{meeting_id}/people/{mary}/actions", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    second = action_form(
        cara, meeting_id, mary, description="Care Act assessment", owner="PractitionerRole/prr-sam"
    )
    assert second["action_token"] != data["action_token"]
    assert (
        cara.post(
            f"/mdt/{meeting_id}/people/{mary}/actions", data=second, follow_redirects=False
        ).status_code
        == 303
    )
    tasks = find(place.access("cara.coord"), "Task", [("based-on", f"Communication/{mary}")])
    owners = sorted((t["owner"]["reference"], t["description"]) for t in tasks)
    assert owners == [
        ("Organization/community", "Falls assessment at home"),
        ("PractitionerRole/prr-sam", "Care Act assessment"),
    ]
    assert all(codes.has_code(t["code"], codes.TASK_TYPE, "mdt-action") for t in tasks)
    shown = text_of(cara.get(f"/mdt/{meeting_id}/people/{mary}?done=action").text)
    assert "The action has been added" in shown
    assert "Falls assessment at home Northshire Community Health NHS Trust" in shown

    # On Nina's caseload, as a task for her team she can accept.
    [falls] = [t for t in tasks if t["owner"]["reference"] == "Organization/community"]
    nina = place.sign_in("nina.nurse")
    caseload = nina.get("/caseload").text
    assert f'href="/tasks/{falls["id"]}">Falls assessment at home</a>' in caseload
    assert f'action="/tasks/{falls["id"]}/accept"' in nina.get(f"/tasks/{falls['id']}").text
    sam = place.sign_in("sam.sw")
    assert "Care Act assessment" in sam.get("/caseload").text


# -- attendance and status ----------------------------------------------------------------------


def test_attendance_is_recorded_and_a_stale_form_is_refused(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    future = schedule(cara, today() + timedelta(days=1), start_time="10:00")
    assert "once the meeting has started" in cara.get(f"/mdt/{future}/attendance").text

    meeting_id = schedule(cara)
    page = cara.get(f"/mdt/{meeting_id}/attendance").text
    missing = cara.post(
        f"/mdt/{meeting_id}/attendance",
        data={
            "csrf_token": csrf_of(page),
            "version": hidden(page, "version"),
            "attended-prr-cara": "yes",
            "attended-prr-nina": "no",
        },
        follow_redirects=False,
    )
    assert missing.status_code == 400
    assert "Select whether Sam Social attended" in error_summary(missing.text)
    assert re.search(
        r'id="attended-prr-nina-no" name="attended-prr-nina" type="radio" value="no" checked',
        missing.text,
    )

    # Nina adds Dan, who came uninvited: the form Cara opened is now stale.
    nina = place.sign_in("nina.nurse")
    invite_page = nina.get(f"/mdt/{meeting_id}/attendance").text
    invited = nina.post(
        f"/mdt/{meeting_id}/attendance/add",
        data={"csrf_token": csrf_of(invite_page), "attendee-prr-dan": "yes"},
        follow_redirects=False,
    )
    assert invited.status_code == 303
    answers = {
        "csrf_token": csrf_of(page),
        "version": hidden(page, "version"),
        "attended-prr-cara": "yes",
        "attended-prr-nina": "yes",
        "attended-prr-sam": "no",
    }
    stale = cara.post(f"/mdt/{meeting_id}/attendance", data=answers, follow_redirects=False)
    assert stale.status_code == 409
    assert "Someone else changed this meeting" in error_summary(stale.text)
    assert "Did Dan Discharge attend?" in stale.text
    assert re.search(
        r'id="attended-prr-sam-no" name="attended-prr-sam" type="radio" value="no" checked',
        stale.text,
    )

    fresh = cara.get(f"/mdt/{meeting_id}/attendance").text
    response = cara.post(
        f"/mdt/{meeting_id}/attendance",
        data={**answers, "version": hidden(fresh, "version"), "attended-prr-dan": "yes"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    statuses = {
        p["actor"]["reference"].split("/")[1]: p["status"]
        for p in place.store.read("Appointment", meeting_id).as_dict()["participant"]
    }
    assert statuses == {
        "prr-cara": "accepted",
        "prr-nina": "accepted",
        "prr-sam": "declined",
        "prr-dan": "accepted",
    }
    words = text_of(cara.get(f"/mdt/{meeting_id}?done=attendance").text)
    assert "Attendance has been saved" in words
    assert re.search(
        r"Sam Social \([^)]*\) Northshire Council Adult Social Care Did not attend", words
    )


def test_a_meeting_is_marked_held_or_cancelled(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    meeting_id = schedule(cara)
    page = cara.get(f"/mdt/{meeting_id}/status").text
    nothing = cara.post(
        f"/mdt/{meeting_id}/status",
        data={"csrf_token": csrf_of(page), "version": hidden(page, "version"), "reason": "x"},
        follow_redirects=False,
    )
    assert nothing.status_code == 400
    assert "Select whether the meeting was held or is cancelled" in error_summary(nothing.text)
    stale = cara.post(
        f"/mdt/{meeting_id}/status",
        data={"csrf_token": csrf_of(page), "version": "9", "status": "fulfilled"},
        follow_redirects=False,
    )
    assert stale.status_code == 409
    held = cara.post(
        f"/mdt/{meeting_id}/status",
        data={
            "csrf_token": csrf_of(page),
            "version": hidden(page, "version"),
            "status": "fulfilled",
        },
        follow_redirects=False,
    )
    assert held.status_code == 303
    assert held.headers["location"] == f"/mdt/{meeting_id}?done=fulfilled"
    assert place.store.read("Appointment", meeting_id).as_dict()["status"] == "fulfilled"
    shown = cara.get(f"/mdt/{meeting_id}?done=fulfilled").text
    assert "The meeting has been marked as held" in shown
    assert f'href="/mdt/{meeting_id}/people/add"' not in shown
    listing = text_of(cara.get("/mdt").text)
    assert listing.index("Past meetings") < listing.index("Riverside frailty MDT")

    future = schedule(cara, today() + timedelta(days=2), start_time="09:00")
    page = cara.get(f"/mdt/{future}/status").text
    assert "Not yet: the meeting has not started" in page
    cancelled = cara.post(
        f"/mdt/{future}/status",
        data={
            "csrf_token": csrf_of(page),
            "version": hidden(page, "version"),
            "status": "cancelled",
            "reason": "Chair unwell",
        },
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    words = text_of(cara.get(f"/mdt/{future}").text)
    assert "Cancelled" in words and "Why it was cancelled Chair unwell" in words


def test_someone_not_taking_part_cannot_change_the_meeting(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    meeting_id = schedule(cara, today() + timedelta(days=1), start_time="10:00")
    hal = place.sign_in("hal.gp")
    page = hal.get(f"/mdt/{meeting_id}")
    assert page.status_code == 200
    assert f'href="/mdt/{meeting_id}/people/add"' not in page.text
    assert f'href="/mdt/{meeting_id}/status"' not in page.text
    assert hal.get(f"/mdt/{meeting_id}/people/add").status_code == 403
    refused = hal.post(
        f"/mdt/{meeting_id}/people/add",
        data={"csrf_token": csrf_of(page.text), "token": "1" * 32, "patient": "sid", "reason": "x"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert (
        find(place.access("hal.gp"), "Communication", [("part-of", f"Appointment/{meeting_id}")])
        == []
    )
    assert hal.get("/mdt/not-a-meeting").status_code == 404
