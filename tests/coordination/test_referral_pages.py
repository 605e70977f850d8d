"""The referrals and tasks pages over HTTP, signed in through the form: cara.coord refers mary
to community nursing, nina.nurse answers, and what the pages do is checked as FHIR."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from careweave.coordination import codes
from careweave.coordination.record import FORM_SUBMISSION_SYSTEM, find, today
from careweave.coordination.referrals import SERVICES
from tests.coordination.place import Place, csrf_of

REASON = "Leg ulcer needs dressing three times a week; she lives alone."


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name} on the page"
    return match.group(1)


def form_for(client: TestClient, patient: str = "mary", **fields: str) -> dict[str, str]:
    """The referral form's fields as a person would fill them in, with `fields` changed."""
    page = client.get(f"/people/{patient}/referrals/new")
    assert page.status_code == 200, page.text
    due = today() + timedelta(days=7)
    data = {
        "csrf_token": csrf_of(page.text),
        "token": hidden(page.text, "token"),
        "service": "community-nursing",
        "organisation": "community",
        "reason": REASON,
        "priority": "routine",
        "respond_by-day": str(due.day),
        "respond_by-month": str(due.month),
        "respond_by-year": str(due.year),
    }
    data.update(fields)
    return data


def refer(client: TestClient) -> str:
    """Make a referral through the form; the id of its Task."""
    response = client.post(
        "/people/mary/referrals/new", data=form_for(client), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/tasks/([A-Za-z0-9\-.]+)\?done=referred", response.headers["location"])
    assert match
    return match.group(1)


def act(
    client: TestClient, task_id: str, action: str, *, version: str | None = None, **fields: str
) -> Any:
    """Press `action`'s button on the task page (as it is now, or as opened at `version`)."""
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200, page.text
    data = {
        "csrf_token": csrf_of(page.text),
        "version": version or hidden(page.text, "version"),
        **fields,
    }
    return client.post(f"/tasks/{task_id}/{action}", data=data, follow_redirects=False)


def stored(place: Place, resource_type: str, resource_id: str) -> dict[str, Any]:
    return place.store.read(resource_type, resource_id).as_dict()


def error_summary(page: str) -> str:
    match = re.search(r'<div class="nhsuk-error-summary".*?</ul>', page, re.S)
    assert match, "no error summary on the page"
    return html.unescape(match.group(0))


def test_cara_refers_mary_and_the_referral_is_fhir(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    listing = cara.get("/people/mary/referrals")
    assert listing.status_code == 200
    assert 'href="/people/mary/referrals/new"' in listing.text

    page = cara.get("/people/mary/referrals/new").text
    for service in ("Community nursing", "Social care assessment", "Falls service", "Hospice"):
        assert service in page
    assert "Usually the council&#39;s adult social care team" in page
    # Each service's hint is under its radio, and read out with it.
    for number, offered in enumerate(SERVICES, start=1):
        radio_id = "service" if number == 1 else f"service-{number}"
        assert f'value="{offered.key}" aria-describedby="{radio_id}-item-hint"' in page
        assert f'id="{radio_id}-item-hint">{escape(offered.usually_from)}</div>' in page
    names = re.findall(r'<option value="[a-z]+"[^>]*>([^<]+)</option>', page)
    assert names == sorted(names, key=str.casefold)
    assert "Northshire Community Health NHS Trust" in names

    data = form_for(cara, priority="urgent")
    task_id = refer_with(cara, data)
    shown = cara.get(f"/tasks/{task_id}?done=referred")
    assert "Your referral has been sent" in shown.text
    assert "Waiting for a response" in shown.text

    [request] = find(
        place.access("cara.coord"),
        "ServiceRequest",
        [("identifier", f"{FORM_SUBMISSION_SYSTEM}|{data['token']}")],
    )
    assert codes.has_code(request["code"], codes.SNOMED, "308436005")
    assert request["performer"][0]["reference"] == "Organization/community"
    assert (request["priority"], request["reasonCode"][0]["text"]) == ("urgent", REASON)
    task = stored(place, "Task", task_id)
    assert task["focus"]["reference"] == f"ServiceRequest/{request['id']}"
    assert (
        task["restriction"]["period"]["end"]
        == date(
            int(data["respond_by-year"]), int(data["respond_by-month"]), int(data["respond_by-day"])
        ).isoformat()
    )

    listing = cara.get("/people/mary/referrals").text
    assert f'href="/tasks/{task_id}">Community nursing</a>' in listing
    assert "Waiting for a response" in listing


def refer_with(client: TestClient, data: dict[str, str]) -> str:
    response = client.post("/people/mary/referrals/new", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).split("/")[2].split("?")[0]


def test_sending_the_form_twice_makes_one_referral_and_one_task(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    data = form_for(cara)
    first = cara.post("/people/mary/referrals/new", data=data, follow_redirects=False)
    again = cara.post("/people/mary/referrals/new", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    access = place.access("cara.coord")
    assert len(find(access, "ServiceRequest", [("patient", "Patient/mary")])) == 1
    assert len(find(access, "Task", [("patient", "Patient/mary")])) == 1


@pytest.mark.parametrize(
    ("fields", "message", "kept"),
    [
        ({"service": ""}, "Select the service you are referring to", 'value="community"'),
        ({"organisation": "nowhere"}, "Select an organisation from the list", "Leg ulcer"),
        ({"reason": "   "}, "Enter why you are making this referral", 'value="community-nursing"'),
        (
            {"respond_by-day": "31", "respond_by-month": "2", "respond_by-year": "2027"},
            "Date to respond by must be a real date",
            'name="respond_by-day" type="text" inputmode="numeric" value="31"',
        ),
        (
            {"respond_by-day": "1", "respond_by-month": "1", "respond_by-year": "2020"},
            "Date to respond by must be today or in the future",
            'value="2020"',
        ),
        ({"respond_by-month": ""}, "Date to respond by must include a month", "Leg ulcer"),
    ],
)
def test_bad_input_shows_the_error_summary_and_keeps_what_was_typed(
    place: Place, fields: dict[str, str], message: str, kept: str
) -> None:
    cara = place.sign_in("cara.coord")
    response = cara.post(
        "/people/mary/referrals/new", data=form_for(cara, **fields), follow_redirects=False
    )
    assert response.status_code == 400
    assert message in error_summary(response.text)
    assert "<title>Error:" in response.text
    assert kept in response.text
    if fields.get("service") != "":
        assert re.search(
            r'value="community-nursing" aria-describedby="[^"]+" checked', response.text
        )
    assert find(place.access("cara.coord"), "ServiceRequest", [("patient", "Patient/mary")]) == []


def test_nina_accepts_and_completes_and_everyone_sees_it_completed(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    task_id = refer(cara)
    nina = place.sign_in("nina.nurse")
    page = nina.get(f"/tasks/{task_id}").text
    assert f'action="/tasks/{task_id}/accept"' in page
    assert f'action="/tasks/{task_id}/cancel"' not in page

    accepted = act(nina, task_id, "accept")
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/tasks/{task_id}?done=accept"
    episodes = find(place.access("nina.nurse"), "EpisodeOfCare", [("patient", "Patient/mary")])
    assert [(e["status"], e["managingOrganization"]["reference"]) for e in episodes] == [
        ("active", "Organization/community")
    ]

    assert act(nina, task_id, "complete", outcome="Healed after four weeks.").status_code == 303
    task = stored(place, "Task", task_id)
    assert task["status"] == "completed"
    request_id = task["focus"]["reference"].split("/")[1]
    assert stored(place, "ServiceRequest", request_id)["status"] == "completed"

    mine = nina.get("/people/mary/referrals")
    assert mine.status_code == 200
    assert "Completed" in mine.text
    theirs = nina.get(f"/tasks/{task_id}").text
    assert "Healed after four weeks." in theirs
    assert "Referral made" in theirs and "by Cara Coordinator" in theirs
    assert "Accepted" in theirs and "by Nina Nurse" in theirs
    assert 'nhsuk-tag--green">Completed' in cara.get("/people/mary/referrals").text


def test_a_rejection_needs_a_reason_and_then_needs_action_until_closed(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    task_id = refer(cara)
    nina = place.sign_in("nina.nurse")

    refused = act(nina, task_id, "reject", reason="")
    assert refused.status_code == 400
    summary = error_summary(refused.text)
    assert 'href="#reject-reason"' in summary
    assert "Enter why you are rejecting this referral" in summary
    assert stored(place, "Task", task_id)["status"] == "requested"

    why = "Not housebound: the practice nurse can dress it."
    assert act(nina, task_id, "reject", reason=why).status_code == 303
    listing = cara.get("/people/mary/referrals").text
    assert 'nhsuk-tag--red">Rejected \u2013 needs action' in listing
    page = cara.get(f"/tasks/{task_id}").text
    assert "This referral needs action" in page
    assert html.escape(why) in page
    assert nina.get("/people/mary/referrals").status_code == 200

    assert act(cara, task_id, "close").status_code == 303
    assert "Rejected \u2013 closed" in cara.get("/people/mary/referrals").text
    request_id = stored(place, "Task", task_id)["focus"]["reference"].split("/")[1]
    assert stored(place, "ServiceRequest", request_id)["status"] == "revoked"
    assert nina.get(f"/tasks/{task_id}").status_code == 404
    assert nina.get("/people/mary/referrals").status_code == 404


def test_each_side_is_refused_the_other_sides_actions(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    task_id = refer(cara)
    assert f'action="/tasks/{task_id}/accept"' not in cara.get(f"/tasks/{task_id}").text
    nina = place.sign_in("nina.nurse")

    refused = act(nina, task_id, "cancel")
    assert refused.status_code == 403
    assert "Only the organisation that made this referral can cancel it" in error_summary(
        refused.text
    )
    refused = act(cara, task_id, "accept")
    assert refused.status_code == 403
    assert "Only the team it was sent to can accept this referral" in error_summary(refused.text)
    assert stored(place, "Task", task_id)["meta"]["versionId"] == "1"
    assert act(cara, task_id, "no-such-thing").status_code == 404


def test_a_stale_accept_from_another_tab_is_detected(place: Place) -> None:
    task_id = refer(place.sign_in("cara.coord"))
    nina = place.sign_in("nina.nurse")
    opened = hidden(nina.get(f"/tasks/{task_id}").text, "version")
    assert act(nina, task_id, "accept", version=opened).status_code == 303
    stale = act(nina, task_id, "accept", version=opened)
    assert stale.status_code == 409
    assert "Someone else has updated this task since you opened it" in error_summary(stale.text)
    assert "Accepted" in stale.text
    assert stored(place, "Task", task_id)["meta"]["versionId"] == "2"
    again = act(nina, task_id, "accept")
    assert again.status_code == 409
    assert "This referral has already been accepted" in error_summary(again.text)


def test_an_overdue_referral_and_task_are_tagged_red(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    task_id = refer(cara)
    assert "Overdue" not in cara.get("/people/mary/referrals").text
    task = stored(place, "Task", task_id)
    task["restriction"]["period"]["end"] = (today() - timedelta(days=2)).isoformat()
    place.put(task)
    place.put(
        {
            "resourceType": "Task",
            "id": "rails",
            "status": "requested",
            "intent": "plan",
            "code": codes.concept(codes.TASK_TYPE, "care-plan-action"),
            "description": "Fit grab rails in the bathroom",
            "for": {"reference": "Patient/mary"},
            "owner": {"reference": "Organization/council"},
            "restriction": {"period": {"end": (today() - timedelta(days=1)).isoformat()}},
        }
    )
    listing = cara.get("/people/mary/referrals").text
    assert listing.count('nhsuk-tag--red">Overdue') == 2
    assert 'href="/tasks/rails">Fit grab rails in the bathroom</a>' in listing
    assert 'nhsuk-tag--red">Overdue' in cara.get(f"/tasks/{task_id}").text


def test_someone_with_no_relationship_gets_not_found(place: Place) -> None:
    task_id = refer(place.sign_in("cara.coord"))
    hal = place.sign_in("hal.gp")
    assert hal.get(f"/tasks/{task_id}").status_code == 404
    assert hal.get("/people/mary/referrals").status_code == 404
    assert hal.get("/people/mary/referrals/new").status_code == 404
    token = csrf_of(hal.get("/home").text)
    posted = hal.post(
        f"/tasks/{task_id}/accept",
        data={"csrf_token": token, "version": "1"},
        follow_redirects=False,
    )
    assert posted.status_code == 404
    assert stored(place, "Task", task_id)["status"] == "requested"
