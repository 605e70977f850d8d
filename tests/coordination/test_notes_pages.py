"""The notes page over HTTP, signed in through the form: cara.coord writes about mary and asks
sam.sw (in mary's care team) or nina.nurse (not in it) to reply; what the pages do is checked
as FHIR."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from careweave.coordination.care_team import add_member, assign_coordinator
from careweave.coordination.notes import default_reply_by
from careweave.coordination.record import find, new_submission_token, today
from careweave.coordination.referrals import make_referral
from tests.coordination.place import Place, csrf_of

WORDS = "Mary's daughter rang: she is worried about Mary managing the stairs."


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name} on the page"
    return match.group(1)


def error_summary(page: str) -> str:
    match = re.search(r'<div class="nhsuk-error-summary".*?</ul>', page, re.S)
    assert match, "no error summary on the page"
    return html.unescape(match.group(0))


def stored(place: Place, resource_type: str, resource_id: str) -> dict[str, Any]:
    return place.store.read(resource_type, resource_id).as_dict()


@pytest.fixture
def team_place(place: Place) -> Place:
    """Mary's care team: cara.coord coordinates, with sam.sw from the council."""
    cara = place.access("cara.coord")
    made = assign_coordinator(cara, "mary", "prr-cara", version_id=0, token=new_submission_token())
    add_member(cara, "mary", "prr-sam", version_id=int(made["meta"]["versionId"]))
    return place


def note_form(client: TestClient, **fields: str) -> dict[str, str]:
    """The write-a-note form as a person would fill it in, with `fields` changed."""
    page = client.get("/people/mary/notes")
    assert page.status_code == 200, page.text
    data = {
        "csrf_token": csrf_of(page.text),
        "token": hidden(page.text, "token"),
        "text": WORDS,
    }
    due = default_reply_by()
    data.update(
        {
            "reply_by-day": str(due.day),
            "reply_by-month": str(due.month),
            "reply_by-year": str(due.year),
        }
    )
    data.update(fields)
    return data


def post_note(client: TestClient, data: dict[str, str]) -> str:
    """Send the form; the new note's id (from where the page redirects)."""
    response = client.post("/people/mary/notes", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    match = re.fullmatch(
        r"/people/mary/notes\?done=written#note-([A-Za-z0-9\-.]+)", response.headers["location"]
    )
    assert match, response.headers["location"]
    return match.group(1)


def mention_tasks(place: Place, note_id: str) -> list[dict[str, Any]]:
    return find(place.access("cara.coord"), "Task", [("focus", f"Communication/{note_id}")])


def test_the_form_offers_the_care_team_by_name_post_and_organisation(team_place: Place) -> None:
    page = team_place.sign_in("cara.coord").get("/people/mary/notes")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'aria-current="page">Notes</a>' in page.text
    assert (
        '<input class="nhsuk-checkboxes__input" id="mentions" name="mention-prr-sam"' in page.text
    )
    assert "Sam Social" in text and "Social worker, Northshire Council Adult Social Care" in text
    # The writer is not offered to themselves; others are in the list of everyone else.
    assert 'name="mention-prr-cara"' not in page.text
    assert '<option value="prr-nina">Nina Nurse (Nurse)</option>' in page.text
    due = default_reply_by()
    assert f'name="reply_by-day" type="text" inputmode="numeric" value="{due.day}"' in page.text
    assert "No notes have been written about Mary Example that you can see." in page.text


def test_a_note_with_a_mention_is_saved_and_shown_after_a_redirect(team_place: Place) -> None:
    cara = team_place.sign_in("cara.coord")
    note_id = post_note(cara, note_form(cara, **{"mention-prr-sam": "yes"}))
    shown = cara.get("/people/mary/notes?done=written")
    assert "Your note has been saved" in shown.text
    assert f'id="note-{note_id}"' in shown.text
    assert WORDS in html.unescape(shown.text)
    assert "Waiting for a reply" in shown.text
    note = stored(team_place, "Communication", note_id)
    assert note["recipient"][0]["reference"] == "PractitionerRole/prr-sam"
    [task] = mention_tasks(team_place, note_id)
    assert task["restriction"]["period"]["end"] == default_reply_by().isoformat()
    assert task["owner"]["reference"] == "PractitionerRole/prr-sam"


def test_line_breaks_typed_are_kept_as_lines(team_place: Place) -> None:
    cara = team_place.sign_in("cara.coord")
    note_id = post_note(cara, note_form(cara, text="First line\r\nSecond line"))
    assert stored(team_place, "Communication", note_id)["payload"][0]["contentString"] == (
        "First line\nSecond line"
    )
    assert "First line<br>Second line" in cara.get("/people/mary/notes").text


def test_a_note_that_cannot_be_saved_comes_back_with_what_was_typed(team_place: Place) -> None:
    cara = team_place.sign_in("cara.coord")
    past = today() - timedelta(days=1)
    data = note_form(
        cara,
        **{
            "mention-prr-sam": "yes",
            "other": "prr-nina",
            "reply_by-day": str(past.day),
            "reply_by-month": str(past.month),
            "reply_by-year": str(past.year),
        },
    )
    response = cara.post("/people/mary/notes", data=data, follow_redirects=False)
    assert response.status_code == 400
    summary = error_summary(response.text)
    assert '<a href="#reply_by">Date to reply by must be today or in the future</a>' in summary
    assert "<title>Error: Notes" in response.text
    assert WORDS in html.unescape(response.text)
    ticked = (
        'name="mention-prr-sam" type="checkbox" value="yes" aria-describedby="mentions-item-hint"'
    )
    assert f"{ticked} checked" in response.text
    assert '<option value="prr-nina" selected>' in response.text

    empty = cara.post("/people/mary/notes", data={**data, "text": "  "}, follow_redirects=False)
    assert empty.status_code == 400
    assert '<a href="#text">Enter your note</a>' in error_summary(empty.text)
    assert (
        find(team_place.access("cara.coord"), "Communication", [("patient", "Patient/mary")]) == []
    )
    assert find(team_place.access("cara.coord"), "Task", [("patient", "Patient/mary")]) == []


def test_a_mention_of_someone_not_in_the_directory_is_refused(team_place: Place) -> None:
    cara = team_place.sign_in("cara.coord")
    response = cara.post(
        "/people/mary/notes",
        data=note_form(cara, **{"other": "prr-ghost"}),
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "Select people to mention from the lists on the page" in error_summary(response.text)


def test_sending_the_form_twice_makes_one_note_and_one_task_per_mention(
    team_place: Place,
) -> None:
    cara = team_place.sign_in("cara.coord")
    data = note_form(cara, **{"mention-prr-sam": "yes", "other": "prr-nina"})
    first = cara.post("/people/mary/notes", data=data, follow_redirects=False)
    again = cara.post("/people/mary/notes", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    access = team_place.access("cara.coord")
    [note] = find(access, "Communication", [("patient", "Patient/mary")])
    tasks = find(access, "Task", [("patient", "Patient/mary")])
    assert sorted(t["owner"]["reference"] for t in tasks) == [
        "PractitionerRole/prr-nina",
        "PractitionerRole/prr-sam",
    ]
    assert all(t["focus"]["reference"] == f"Communication/{note['id']}" for t in tasks)


def test_the_mention_is_on_sams_worklist_and_his_reply_completes_it(team_place: Place) -> None:
    cara = team_place.sign_in("cara.coord")
    note_id = post_note(cara, note_form(cara, **{"mention-prr-sam": "yes"}))
    [task] = mention_tasks(team_place, note_id)

    sam = team_place.sign_in("sam.sw")
    caseload = html.unescape(sam.get("/caseload").text)
    assert (
        f'href="/tasks/{task["id"]}">Reply to Cara Coordinator\'s note about Mary Example</a>'
        in caseload
    )
    task_page = sam.get(f"/tasks/{task['id']}").text
    assert f'href="/tasks/{task["id"]}/note">Read the note and reply</a>' in task_page
    to_note = sam.get(f"/tasks/{task['id']}/note", follow_redirects=False)
    assert to_note.status_code == 303
    assert to_note.headers["location"] == f"/people/mary/notes?reply={note_id}#note-{note_id}"

    page = sam.get(f"/people/mary/notes?reply={note_id}")
    assert "Waiting for your reply" in page.text
    assert f'id="reply-{note_id}"' in page.text
    assert "Replying also marks your task to reply as done." in page.text
    assert "Replying also marks" not in cara.get("/people/mary/notes").text
    assert re.search(r"<details class=\"nhsuk-details nhsuk-u-margin-bottom-0\" open>", page.text)
    token = re.search(
        rf'action="/people/mary/notes/{note_id}/reply".*?name="token" value="([0-9a-f]+)"',
        page.text,
        re.S,
    )
    assert token
    replied = sam.post(
        f"/people/mary/notes/{note_id}/reply",
        data={
            "csrf_token": csrf_of(page.text),
            "token": token.group(1),
            "text": "Visiting Thursday.",
        },
        follow_redirects=False,
    )
    assert replied.status_code == 303
    assert replied.headers["location"].startswith("/people/mary/notes?done=replied")
    done = stored(team_place, "Task", task["id"])
    assert done["status"] == "completed"
    after = sam.get(replied.headers["location"]).text
    assert "Your reply has been saved" in after
    assert "Waiting for your reply" not in after
    assert "Visiting Thursday." in after
    assert ">Replied</strong>" in after
    assert "Reply to Cara" not in sam.get("/caseload").text


def test_an_empty_reply_is_refused_under_its_note(team_place: Place) -> None:
    cara = team_place.sign_in("cara.coord")
    note_id = post_note(cara, note_form(cara))
    page = cara.get("/people/mary/notes")
    response = cara.post(
        f"/people/mary/notes/{note_id}/reply",
        data={"csrf_token": csrf_of(page.text), "token": new_submission_token(), "text": " "},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert f'<a href="#reply-{note_id}">Enter your reply</a>' in error_summary(response.text)
    assert f'id="reply-{note_id}-error"' in response.text


def test_a_nurse_at_another_organisation_sees_the_note_then_answers_and_is_told(
    team_place: Place,
) -> None:
    nina = team_place.sign_in("nina.nurse")
    assert nina.get("/people/mary/notes").status_code == 404
    cara = team_place.sign_in("cara.coord")
    note_id = post_note(cara, note_form(cara, **{"other": "prr-nina"}))

    page = nina.get("/people/mary/notes")
    assert page.status_code == 200
    assert WORDS in html.unescape(page.text)
    assert "Waiting for your reply" in page.text
    token = re.search(
        rf'action="/people/mary/notes/{note_id}/reply".*?name="token" value="([0-9a-f]+)"',
        page.text,
        re.S,
    )
    assert token
    replied = nina.post(
        f"/people/mary/notes/{note_id}/reply",
        data={"csrf_token": csrf_of(page.text), "token": token.group(1), "text": "Will visit."},
        follow_redirects=False,
    )
    assert replied.status_code == 303
    assert replied.headers["location"] == "/notes/answered?done=replied"
    told = nina.get("/notes/answered?done=replied")
    assert "Your reply has been saved" in told.text and "closed to you again" in told.text
    assert nina.get("/people/mary/notes").status_code == 404
    assert "Will visit." in cara.get("/people/mary/notes").text


def test_mark_as_done_without_replying_and_a_stale_page_is_refused(team_place: Place) -> None:
    cara = team_place.sign_in("cara.coord")
    note_id = post_note(cara, note_form(cara, **{"mention-prr-sam": "yes"}))
    [task] = mention_tasks(team_place, note_id)
    sam = team_place.sign_in("sam.sw")
    page = sam.get("/people/mary/notes").text
    url = f"/people/mary/notes/tasks/{task['id']}/done"
    assert f'action="{url}"' in page
    stale = sam.post(
        url, data={"csrf_token": csrf_of(page), "version": "7"}, follow_redirects=False
    )
    assert stale.status_code == 409
    assert "Someone else has updated this task since you opened it" in error_summary(stale.text)
    assert stored(team_place, "Task", task["id"])["status"] == "requested"

    done = sam.post(
        url,
        data={"csrf_token": csrf_of(page), "version": hidden(page, "version")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/people/mary/notes?done=marked-done"
    assert stored(team_place, "Task", task["id"])["status"] == "completed"
    after = sam.get(done.headers["location"]).text
    assert "You have marked this as done" in after
    assert ">Done without a reply</strong>" in after

    # The writer may not mark someone else's request done.
    cara_page = cara.get("/people/mary/notes").text
    refused = cara.post(
        url, data={"csrf_token": csrf_of(cara_page), "version": "2"}, follow_redirects=False
    )
    assert refused.status_code == 403


def test_no_relationship_no_notes_page(team_place: Place) -> None:
    hal = team_place.sign_in("hal.gp")
    assert hal.get("/people/mary/notes").status_code == 404
    page = hal.get("/people/sid/notes")
    assert page.status_code == 200
    forged = hal.post(
        "/people/mary/notes",
        data={"csrf_token": csrf_of(page.text), "token": new_submission_token(), "text": "x"},
        follow_redirects=False,
    )
    assert forged.status_code == 404
    assert (
        find(team_place.access("cara.coord"), "Communication", [("patient", "Patient/mary")]) == []
    )


def test_the_person_themselves_cannot_open_the_staff_notes_page(team_place: Place) -> None:
    mary = team_place.sign_in("mary")
    response = mary.get("/people/mary/notes")
    assert response.status_code == 403
    assert "This page is for staff who care for people" in html.unescape(response.text)


def test_a_form_without_the_session_token_changes_nothing(team_place: Place) -> None:
    cara = team_place.sign_in("cara.coord")
    data = note_form(cara)
    del data["csrf_token"]
    assert cara.post("/people/mary/notes", data=data, follow_redirects=False).status_code == 403
    assert (
        find(team_place.access("cara.coord"), "Communication", [("patient", "Patient/mary")]) == []
    )


def test_a_task_that_is_not_a_mention_has_no_note(team_place: Place) -> None:
    made = make_referral(
        team_place.access("cara.coord"),
        "mary",
        "community-nursing",
        "community",
        "Dressings",
        "routine",
        today() + timedelta(days=7),
        new_submission_token(),
    )
    cara = team_place.sign_in("cara.coord")
    assert "Read the note and reply" not in cara.get(f"/tasks/{made.task_id}").text
    assert cara.get(f"/tasks/{made.task_id}/note", follow_redirects=False).status_code == 404
    assert cara.get("/tasks/no-such-task/note", follow_redirects=False).status_code == 404
