"""The care team pages over HTTP, signed in through the form: what each person sees, each
form's errors, double submits and stale forms, and that what the pages do is FHIR."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from careweave.coordination.care_team import (
    CHANGED_MEANWHILE,
    add_member,
    assign_coordinator,
    team_of,
)
from careweave.coordination.codes import COMMUNICATION_CATEGORY
from careweave.coordination.record import find, new_submission_token, today
from tests.coordination.place import Place, csrf_of

TEAM = "/people/mary/care-team"


def text_of(page: str) -> str:
    """The page's words, tags removed and whitespace folded, for asserting what people read."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name} field"
    return match.group(1)


def form_of(client: TestClient, url: str) -> tuple[str, dict[str, str]]:
    """A form page and the hidden fields it carries."""
    page = client.get(url)
    assert page.status_code == 200, page.text
    fields = {"csrf_token": csrf_of(page.text), "version": hidden(page.text, "version")}
    if 'name="token"' in page.text:
        fields["token"] = hidden(page.text, "token")
    return page.text, fields


def post(client: TestClient, url: str, data: dict[str, str]) -> Any:
    return client.post(url, data=data, follow_redirects=False)


def assign_cara(place: Place) -> None:
    assign_coordinator(
        place.access("cara.coord"), "mary", "prr-cara", version_id=0, token=new_submission_token()
    )


def version_now(place: Place) -> int:
    team = team_of(place.access("cara.coord"), "mary")
    assert team is not None
    return team.version_id


def test_a_person_with_no_coordinator_is_offered_one(place: Place) -> None:
    client = place.sign_in("cara.coord")
    page = client.get(TEAM)
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Mary Example has no named coordinator" in words
    assert f'href="{TEAM}/coordinator"' in page.text
    assert 'aria-current="page">Care team' in page.text


def test_assigning_through_the_form_shows_the_coordinator_and_is_fhir(place: Place) -> None:
    client = place.sign_in("cara.coord")
    form, fields = form_of(client, f"{TEAM}/coordinator")
    # Staff of every organisation, grouped by organisation.
    assert '<optgroup label="Northshire Community Health NHS Trust">' in form
    assert '<optgroup label="Hilltop Practice">' in form
    assert '<option value="prr-nina">Nina Nurse (Nurse)</option>' in form
    assert fields["version"] == "0" and fields["token"]

    done = post(client, f"{TEAM}/coordinator", {**fields, "practitioner_role": "prr-cara"})
    assert done.status_code == 303
    assert done.headers["location"] == f"{TEAM}?done=assigned"
    page = client.get(done.headers["location"])
    words = text_of(page.text)
    assert "The named coordinator has been assigned" in words
    assert "Named coordinator Cara Coordinator" in words
    assert 'href="mailto:cara.coord@example.org"' in page.text
    assert 'href="tel:01632960110"' in page.text

    (care_team,) = find(place.access("cara.coord"), "CareTeam", [("patient", "Patient/mary")])
    assert care_team["participant"][0]["member"] == {"reference": "PractitionerRole/prr-cara"}
    assert care_team["managingOrganization"] == [{"reference": "Organization/riverside"}]


def test_a_double_submitted_assign_form_makes_one_care_team(place: Place) -> None:
    client = place.sign_in("cara.coord")
    _, fields = form_of(client, f"{TEAM}/coordinator")
    for _ in range(2):
        answer = post(client, f"{TEAM}/coordinator", {**fields, "practitioner_role": "prr-cara"})
        assert answer.status_code == 303
    assert len(find(place.access("cara.coord"), "CareTeam", [("patient", "Patient/mary")])) == 1


def test_assigning_with_nothing_chosen_or_an_unknown_post_shows_the_error(place: Place) -> None:
    client = place.sign_in("cara.coord")
    _, fields = form_of(client, f"{TEAM}/coordinator")
    empty = post(client, f"{TEAM}/coordinator", fields)
    assert empty.status_code == 400
    assert "There is a problem" in empty.text
    assert 'href="#practitioner_role">Select who will be the named coordinator' in empty.text
    unknown = post(client, f"{TEAM}/coordinator", {**fields, "practitioner_role": "prr-nobody"})
    assert unknown.status_code == 400
    assert 'href="#practitioner_role">Select someone from the list' in unknown.text
    assert "<title>Error: " in unknown.text
    # The one-time token is kept, so a corrected submission still cannot be doubled.
    assert hidden(unknown.text, "token") == fields["token"]
    assert team_of(place.access("cara.coord"), "mary") is None


def test_members_are_grouped_by_organisation_with_their_contact_details(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("cara.coord")
    for who in ("prr-sam", "prr-ann", "prr-nina"):
        _, fields = form_of(client, f"{TEAM}/members/add")
        answer = post(client, f"{TEAM}/members/add", {**fields, "practitioner_role": who})
        assert answer.status_code == 303, answer.text
    page = client.get(TEAM).text
    headings = re.findall(r"<h3>([^<]+)</h3>", page)
    assert headings == [
        "Northshire Community Health NHS Trust",
        "Northshire Council Adult Social Care",
        "Riverside Surgery",
    ]
    assert 'href="mailto:sam.sw@example.org"' in page
    # Those already in the team are not offered again.
    form, _ = form_of(client, f"{TEAM}/members/add")
    assert 'value="prr-sam"' not in form and 'value="prr-cara"' not in form


def test_adding_someone_already_in_the_team_says_so(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("cara.coord")
    _, fields = form_of(client, f"{TEAM}/members/add")
    answer = post(client, f"{TEAM}/members/add", {**fields, "practitioner_role": "prr-cara"})
    assert answer.status_code == 400
    assert "Cara Coordinator is already in this person&#39;s care team" in answer.text
    assert version_now(place) == 1


def test_a_stale_form_shows_the_conflict_and_changes_nothing(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("cara.coord")
    _, fields = form_of(client, f"{TEAM}/members/add")
    # Someone else changes the team after the form was opened.
    add_member(place.access("ann.gp"), "mary", "prr-sam", version_id=1)
    answer = post(client, f"{TEAM}/members/add", {**fields, "practitioner_role": "prr-nina"})
    assert answer.status_code == 409
    assert CHANGED_MEANWHILE in text_of(answer.text)
    # The page shows the team as it is now, and the form now carries the current version.
    assert "Sam Social" in text_of(answer.text)
    assert hidden(answer.text, "version") == "2"
    assert 'value="prr-nina" selected' in answer.text
    team = team_of(place.access("cara.coord"), "mary")
    assert team is not None and [m.name for m in team.members] == ["Sam Social"]


def test_handing_over_through_the_form(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("cara.coord")
    form, fields = form_of(client, f"{TEAM}/hand-over")
    assert 'value="prr-cara"' not in form  # not to themselves
    assert 'id="keep" name="keep" type="checkbox" value="yes" checked' in form
    assert "Keep me in the care team" in form

    answer = post(
        client,
        f"{TEAM}/hand-over",
        {
            **fields,
            "practitioner_role": "prr-nina",
            "note": "Falls referral in progress.",
            "keep": "yes",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{TEAM}?done=handed-over"

    (note,) = find(
        place.access("cara.coord"),
        "Communication",
        [("subject", "Patient/mary"), ("category", f"{COMMUNICATION_CATEGORY}|handover")],
    )
    assert note["recipient"] == [{"reference": "PractitionerRole/prr-nina"}]

    # Nina, at the community trust, now reaches Mary's pages and sees herself as coordinator.
    nina = place.sign_in("nina.nurse")
    page = nina.get(TEAM)
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Named coordinator Nina Nurse" in words
    assert "Cara Coordinator" in words  # kept as a member


def test_handover_errors_keep_what_was_typed(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("cara.coord")
    _, fields = form_of(client, f"{TEAM}/hand-over")
    no_note = post(client, f"{TEAM}/hand-over", {**fields, "practitioner_role": "prr-nina"})
    assert no_note.status_code == 400
    assert 'href="#note">Enter a handover note for the new coordinator' in no_note.text
    assert 'value="prr-nina" selected' in no_note.text
    # Left unticked, the box stays unticked.
    assert 'value="yes" checked' not in no_note.text

    unknown = post(
        client,
        f"{TEAM}/hand-over",
        {**fields, "practitioner_role": "prr-nobody", "note": "Mary likes mornings"},
    )
    assert unknown.status_code == 400
    assert 'href="#practitioner_role">Select someone from the list' in unknown.text
    assert ">Mary likes mornings</textarea>" in unknown.text
    assert find(place.access("cara.coord"), "Communication", [("subject", "Patient/mary")]) == []
    assert version_now(place) == 1


def test_handing_over_your_last_link_is_explained_not_a_server_error(place: Place) -> None:
    assign_coordinator(
        place.access("cara.coord"), "mary", "prr-nina", version_id=0, token=new_submission_token()
    )
    client = place.sign_in("nina.nurse")
    _, fields = form_of(client, f"{TEAM}/hand-over")
    answer = post(
        client,
        f"{TEAM}/hand-over",
        {**fields, "practitioner_role": "prr-sam", "note": "Over to you"},
    )
    assert answer.status_code == 400
    assert "This change would end your own access to this person" in text_of(answer.text)
    assert version_now(place) == 1


def test_setting_cover_with_the_date_input(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("cara.coord")
    form, fields = form_of(client, f"{TEAM}/cover")
    assert 'id="until-day" name="until-day"' in form and 'name="until-year"' in form
    ends = today() + timedelta(days=14)
    answer = post(
        client,
        f"{TEAM}/cover",
        {
            **fields,
            "practitioner_role": "prr-lee",
            "until-day": str(ends.day),
            "until-month": str(ends.month),
            "until-year": str(ends.year),
        },
    )
    assert answer.status_code == 303, answer.text
    page = client.get(TEAM)
    assert f"Covering until {ends.day} {ends:%B %Y}" in text_of(page.text)

    # Ending cover is a button on the team page, carrying the team's version.
    ended = post(
        client,
        f"{TEAM}/cover/prr-lee/end",
        {"csrf_token": csrf_of(page.text), "version": hidden(page.text, "version")},
    )
    assert ended.status_code == 303
    assert "No one is covering for the coordinator" in text_of(client.get(TEAM).text)


def test_cover_dates_that_are_malformed_or_past_are_shown_as_errors(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("cara.coord")
    _, fields = form_of(client, f"{TEAM}/cover")
    bad = post(
        client,
        f"{TEAM}/cover",
        {
            **fields,
            "practitioner_role": "prr-lee",
            "until-day": "31",
            "until-month": "2",
            "until-year": "20x6",
        },
    )
    assert bad.status_code == 400
    assert 'href="#until">Date cover ends must be a real date' in bad.text
    assert 'name="until-year" type="text" inputmode="numeric" value="20x6"' in bad.text
    assert 'value="prr-lee" selected' in bad.text

    past = today() - timedelta(days=1)
    answer = post(
        client,
        f"{TEAM}/cover",
        {
            **fields,
            "practitioner_role": "prr-lee",
            "until-day": str(past.day),
            "until-month": str(past.month),
            "until-year": str(past.year),
        },
    )
    assert answer.status_code == 400
    assert "Date cover ends must be today or in the future" in answer.text
    assert version_now(place) == 1


def test_removing_a_member_asks_first_then_lists_them_as_former(place: Place) -> None:
    assign_cara(place)
    add_member(place.access("cara.coord"), "mary", "prr-sam", version_id=1)
    client = place.sign_in("cara.coord")
    page = client.get(f"{TEAM}/members/prr-sam/remove")
    assert page.status_code == 200
    assert "Are you sure you want to remove Sam Social" in text_of(page.text)
    assert version_now(place) == 2  # asking changed nothing
    answer = post(
        client,
        f"{TEAM}/members/prr-sam/remove",
        {"csrf_token": csrf_of(page.text), "version": hidden(page.text, "version")},
    )
    assert answer.status_code == 303
    words = text_of(client.get(answer.headers["location"]).text)
    assert "They have been removed from the care team" in words
    left = today()
    assert (
        "Name Sam Social Organisation Northshire Council Adult Social Care Was Member "
        f"Left {left.day} {left:%B %Y}"
    ) in words


def test_the_coordinator_cannot_be_removed_without_a_handover(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("cara.coord")
    page = client.get(f"{TEAM}/members/prr-cara/remove")
    assert "Hand over to a new coordinator" in page.text
    answer = post(
        client,
        f"{TEAM}/members/prr-cara/remove",
        {"csrf_token": csrf_of(page.text), "version": "1"},
    )
    assert answer.status_code == 400
    assert "hand over to a new coordinator first" in answer.text
    assert version_now(place) == 1


def test_someone_with_no_relationship_gets_page_not_found(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("hal.gp")
    for url in (TEAM, f"{TEAM}/coordinator", f"{TEAM}/hand-over", f"{TEAM}/members/add"):
        assert client.get(url).status_code == 404, url
    csrf = csrf_of(client.get("/home").text)
    answer = post(
        client,
        f"{TEAM}/members/add",
        {"csrf_token": csrf, "version": "1", "practitioner_role": "prr-hal"},
    )
    assert answer.status_code == 404
    assert version_now(place) == 1


def test_a_volunteer_in_the_team_sees_it_but_is_not_offered_changes(place: Place) -> None:
    assign_cara(place)
    add_member(place.access("cara.coord"), "mary", "prr-val", version_id=1)
    client = place.sign_in("val.vol")
    page = client.get(TEAM)
    assert page.status_code == 200
    assert "Cara Coordinator" in page.text
    assert f'href="{TEAM}/members/add"' not in page.text
    _, fields = form_of(client, f"{TEAM}/members/add")
    answer = post(client, f"{TEAM}/members/add", {**fields, "practitioner_role": "prr-lee"})
    assert answer.status_code == 403
    assert version_now(place) == 2


def test_a_form_without_the_session_token_changes_nothing(place: Place) -> None:
    assign_cara(place)
    client = place.sign_in("cara.coord")
    answer = post(client, f"{TEAM}/members/add", {"version": "1", "practitioner_role": "prr-sam"})
    assert answer.status_code == 403
    assert version_now(place) == 1
