"""The social care tab over HTTP, signed in through the form: sam.sw (a council social worker)
records a needs assessment, a care package and a carer's assessment for mary; what the pages
write is checked as FHIR, through the FHIR API with sam's own token too."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from markupsafe import escape

from careweave.access.scopes import Scopes
from careweave.access.tokens import issue_token
from careweave.coordination.record import find, today
from careweave.coordination.social_care_packages import PACKAGE_TYPES
from careweave.coordination.social_care_questionnaires import NEEDS_ASSESSMENT_URL
from tests.coordination.place import Place, csrf_of
from tests.coordination.test_social_care import council_involved, home_care_provider

SUMMARY = "Struggles to cook and wash since her fall; wants to stay in her own home."


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name} on the page"
    return match.group(1)


def error_summary(page: str) -> str:
    match = re.search(r'<div class="nhsuk-error-summary".*?</div>\s*</div>\s*</div>', page, re.S)
    assert match, "no error summary on the page"
    return html.unescape(match.group(0))


def day_fields(name: str, day: date) -> dict[str, str]:
    return {
        f"{name}-day": str(day.day),
        f"{name}-month": str(day.month),
        f"{name}-year": str(day.year),
    }


def involved(place: Place) -> TestClient:
    council_involved(place)
    home_care_provider(place)
    return place.sign_in("sam.sw")


def needs_form(client: TestClient, **fields: str) -> dict[str, str]:
    page = client.get("/people/mary/social-care/assessments/new")
    assert page.status_code == 200, page.text
    data = {
        "csrf_token": csrf_of(page.text),
        "token": hidden(page.text, "token"),
        **day_fields("assessed_on", today() - timedelta(days=1)),
        "unable-nutrition": "yes",
        "unable-hygiene": "yes",
        "impairment": "yes",
        "wellbeing_impact": "yes",
        "eligible": "eligible",
        "summary": SUMMARY,
        "action": "complete",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def responses(place: Place) -> list[dict[str, Any]]:
    return find(place.access("sam.sw"), "QuestionnaireResponse", [("subject", "Patient/mary")])


def test_sam_records_a_needs_assessment_and_it_is_fhir_through_the_api(place: Place) -> None:
    sam = involved(place)
    listing = sam.get("/people/mary/social-care")
    assert listing.status_code == 200
    assert 'aria-current="page">Social care</a>' in listing.text
    for form in ("assessments/new", "packages/new", "carers-assessments/new"):
        assert f'href="/people/mary/social-care/{form}"' in listing.text

    page = sam.get("/people/mary/social-care/assessments/new").text
    assert "Managing and maintaining nutrition" in page
    assert "Carrying out any caring responsibilities for a child" in page
    response = sam.post(
        "/people/mary/social-care/assessments/new", data=needs_form(sam), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/people/mary/social-care?done=assessed"
    shown = sam.get(response.headers["location"]).text
    assert "The needs assessment has been recorded" in shown
    assert "Eligible" in shown and SUMMARY in shown
    assert "Unable to achieve 2 of the 10 outcomes" in shown

    [stored] = responses(place)
    assert stored["status"] == "completed"
    assert stored["questionnaire"].startswith(NEEDS_ASSESSMENT_URL + "|")

    token = issue_token(
        place.store.database, Scopes.parse("user/*.rs"), username="sam.sw", client_name="tests"
    ).token
    api = place.stack.enter_context(TestClient(place.app, base_url="http://testserver"))
    found = api.get(
        "/fhir/R4/QuestionnaireResponse",
        params={"subject": "Patient/mary"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert found.status_code == 200, found.text
    ids = [entry["resource"]["id"] for entry in found.json().get("entry", [])]
    assert ids == [stored["id"]]

    view = sam.get(f"/people/mary/social-care/assessments/{stored['id']}")
    assert view.status_code == 200
    assert "Maintaining personal hygiene" in view.text
    assert "Sam Social, Northshire Council Adult Social Care" in view.text


def test_bad_answers_show_the_error_summary_and_keep_what_was_typed(place: Place) -> None:
    sam = involved(place)
    future = today() + timedelta(days=3)
    data = needs_form(sam, **{"unable-hygiene": "", **day_fields("assessed_on", future)})
    response = sam.post(
        "/people/mary/social-care/assessments/new", data=data, follow_redirects=False
    )
    assert response.status_code == 400
    summary = error_summary(response.text)
    assert "Date of the assessment must be today or in the past" in summary
    assert "The answers do not meet the eligibility criteria" in summary
    assert 'href="#assessed_on"' in summary and 'href="#eligible"' in summary
    assert "<title>Error:" in response.text
    assert SUMMARY in response.text
    assert re.search(
        r'id="unable" name="unable-nutrition" type="checkbox" value="yes" checked', response.text
    )
    assert not re.search(
        r'name="unable-hygiene" type="checkbox" value="yes" checked', response.text
    )
    assert f'value="{future.year}"' in response.text
    assert responses(place) == []


def test_sending_the_form_twice_records_one_assessment(place: Place) -> None:
    sam = involved(place)
    data = needs_form(sam)
    first = sam.post("/people/mary/social-care/assessments/new", data=data, follow_redirects=False)
    again = sam.post("/people/mary/social-care/assessments/new", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert len(responses(place)) == 1


def test_a_draft_is_finished_later_and_a_stale_save_is_shown_not_overwritten(
    place: Place,
) -> None:
    sam = involved(place)
    draft = needs_form(
        sam, impairment="", wellbeing_impact="", eligible="", summary="", action="draft"
    )
    saved = sam.post("/people/mary/social-care/assessments/new", data=draft, follow_redirects=False)
    assert saved.headers["location"] == "/people/mary/social-care?done=draft"
    [response] = responses(place)
    assert response["status"] == "in-progress"
    assert "Draft" in sam.get("/people/mary/social-care").text

    url = f"/people/mary/social-care/assessments/{response['id']}"
    first_tab = sam.get(url).text
    second_tab = sam.get(url).text
    assert "Continue the needs assessment" in first_tab
    assert re.search(r'name="unable-nutrition" type="checkbox" value="yes" checked', first_tab)
    finish = needs_form(sam) | {
        "csrf_token": csrf_of(first_tab),
        "version": hidden(first_tab, "version"),
    }
    finish.pop("token")
    done = sam.post(url, data=finish, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (
        303,
        "/people/mary/social-care?done=assessed",
    )

    other = needs_form(sam, summary="My own words from the other tab") | {
        "csrf_token": csrf_of(second_tab),
        "version": hidden(second_tab, "version"),
    }
    other.pop("token")
    stale = sam.post(url, data=other, follow_redirects=False)
    assert stale.status_code == 409
    assert "Someone else saved this assessment" in stale.text
    assert SUMMARY in html.unescape(stale.text)  # what is there now
    assert "My own words from the other tab" in stale.text  # what they typed, kept
    [now] = responses(place)
    assert (now["status"], now["meta"]["versionId"]) == ("completed", "2")
    # Once completed it is shown, not offered for editing.
    assert "Continue the needs assessment" not in sam.get(url).text


def package_form(client: TestClient, **fields: str) -> dict[str, str]:
    page = client.get("/people/mary/social-care/packages/new")
    assert page.status_code == 200, page.text
    start = today() - timedelta(days=3)
    data = {
        "csrf_token": csrf_of(page.text),
        "token": hidden(page.text, "token"),
        "type": "home-care",
        "hours": "10.5",
        "provider": "homecare",
        **day_fields("start", start),
        **day_fields("review", start + timedelta(days=42)),
    }
    data.update(fields)
    return data


def test_sam_arranges_changes_and_ends_a_care_package(place: Place) -> None:
    sam = involved(place)
    page = sam.get("/people/mary/social-care/packages/new").text
    assert "Northshire Home Care Ltd" in page and "Reablement" in page
    # Each package type's hint is under its radio, and read out with it.
    for number, kind in enumerate(PACKAGE_TYPES, start=1):
        radio_id = "type" if number == 1 else f"type-{number}"
        assert f'value="{kind.code}" aria-describedby="{radio_id}-item-hint"' in page
        assert f'id="{radio_id}-item-hint">{escape(kind.hint)}</div>' in page
    data = package_form(sam)
    first = sam.post("/people/mary/social-care/packages/new", data=data, follow_redirects=False)
    again = sam.post("/people/mary/social-care/packages/new", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    access = place.access("sam.sw")
    [request] = find(access, "ServiceRequest", [("subject", "Patient/mary")])
    assert request["quantityQuantity"]["value"] == 10.5
    listing = sam.get("/people/mary/social-care?done=package").text
    assert "The care package has been recorded" in listing
    link = f"/people/mary/social-care/packages/{request['id']}"
    assert f'href="{link}">Home care (domiciliary care)</a>' in listing
    assert "Northshire Home Care Ltd" in listing

    opened = sam.get(link).text
    assert 'value="10.5"' in opened
    review = today() + timedelta(days=60)
    change = {
        "csrf_token": csrf_of(opened),
        "version": hidden(opened, "version"),
        "hours": "14",
        **day_fields("review", review),
    }
    changed = sam.post(link, data=change, follow_redirects=False)
    assert changed.headers["location"] == "/people/mary/social-care?done=changed"
    stale = sam.post(link, data={**change, "hours": "3"}, follow_redirects=False)
    assert stale.status_code == 409
    assert "Someone else changed this care package" in stale.text
    assert "It is now 14 hours a week" in stale.text
    assert 'value="3"' in stale.text

    bad_end = sam.post(
        f"{link}/end",
        data={
            "csrf_token": csrf_of(opened),
            "version": "2",
            **day_fields("end", today() + timedelta(days=5)),
            "reason": "Moving away",
        },
        follow_redirects=False,
    )
    assert bad_end.status_code == 400
    assert "End date must be today or in the past" in error_summary(bad_end.text)
    assert "Moving away" in bad_end.text
    ended = sam.post(
        f"{link}/end",
        data={"csrf_token": csrf_of(opened), "version": "2", **day_fields("end", today())},
        follow_redirects=False,
    )
    assert ended.headers["location"] == "/people/mary/social-care?done=ended"
    after = sam.get("/people/mary/social-care").text
    assert "Past care packages" in after
    assert re.search(r"Care packages now</h2>\s*<p>Mary Example has no care package now", after)
    assert "End this care package" not in sam.get(link).text
    [episode] = find(
        access, "EpisodeOfCare", [("incoming-referral", f"ServiceRequest/{request['id']}")]
    )
    assert episode["status"] == "finished"


def test_package_problems_are_shown_with_what_was_typed(place: Place) -> None:
    sam = involved(place)
    data = package_form(sam, type="", hours="ten", provider="", **{"review-year": ""})
    response = sam.post("/people/mary/social-care/packages/new", data=data, follow_redirects=False)
    assert response.status_code == 400
    summary = error_summary(response.text)
    for message in (
        "Select the type of care package",
        "Hours a week must be a number",
        "Select the provider",
        "Review date must include a year",
    ):
        assert message in summary
    assert (
        summary.index("Select the type")
        < summary.index("Hours a week")
        < summary.index("Select the provider")
    )
    assert 'value="ten"' in response.text
    assert find(place.access("sam.sw"), "ServiceRequest", [("subject", "Patient/mary")]) == []


def test_a_carers_assessment_is_of_a_carer_chosen_from_the_persons_carers(place: Place) -> None:
    sam = involved(place)
    chosen = sam.get("/people/mary/social-care/carers-assessments/new?carer=carl").text
    assert re.search(r'id="carer" name="carer" type="radio" value="carl" checked', chosen)
    page = sam.get("/people/mary/social-care/carers-assessments/new")
    assert "Carl Example (Son)" in page.text
    assert not re.search(r'value="carl" checked', page.text)
    data = {
        "csrf_token": csrf_of(page.text),
        "token": hidden(page.text, "token"),
        **day_fields("assessed_on", today()),
        "sustainable": "no",
        "wellbeing_impact": "",
        "outcomes_wanted": "Time to himself on Saturdays.",
        "eligible": "eligible",
    }
    missing = sam.post(
        "/people/mary/social-care/carers-assessments/new", data=data, follow_redirects=False
    )
    assert missing.status_code == 400
    summary = error_summary(missing.text)
    assert "Select the carer who was assessed" in summary
    assert "Enter how caring affects them" in summary
    assert "Time to himself on Saturdays." in missing.text

    data |= {"carer": "carl", "wellbeing_impact": "Exhausted; back pain from lifting."}
    saved = sam.post(
        "/people/mary/social-care/carers-assessments/new", data=data, follow_redirects=False
    )
    assert saved.headers["location"] == "/people/mary/social-care?done=carer-assessed"
    listing = sam.get(saved.headers["location"]).text
    assert "The carer&#39;s assessment has been recorded" in listing
    assert "Carl Example, " in listing
    [response] = responses(place)
    assert response["source"]["reference"] == "RelatedPerson/carl"

    council_involved(place, "joe")
    nobody = sam.get("/people/joe/social-care/carers-assessments/new").text
    assert "No carers are recorded for Joe Other" in nobody
    assert 'href="/people/joe/carers"' in nobody
    assert 'name="sustainable"' not in nobody


def test_a_gp_sees_the_picture_but_is_offered_no_forms(place: Place) -> None:
    sam = involved(place)
    sam.post(
        "/people/mary/social-care/assessments/new", data=needs_form(sam), follow_redirects=False
    )
    gp = place.sign_in("ann.gp")
    listing = gp.get("/people/mary/social-care")
    assert listing.status_code == 200
    assert SUMMARY in listing.text
    assert "social-care/assessments/new" not in listing.text
    assert "social-care/packages/new" not in listing.text
    for form in ("assessments/new", "packages/new", "carers-assessments/new"):
        assert gp.get(f"/people/mary/social-care/{form}").status_code == 403
    refused = gp.post(
        "/people/mary/social-care/packages/new",
        data={"csrf_token": csrf_of(listing.text), "type": "home-care"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert find(place.access("ann.gp"), "ServiceRequest", [("subject", "Patient/mary")]) == []


def test_someone_with_no_relationship_gets_not_found(place: Place) -> None:
    sam = involved(place)
    assert sam.get("/people/sid/social-care").status_code == 404
    assert sam.get("/people/sid/social-care/assessments/new").status_code == 404
    assert sam.get("/people/mary/social-care/packages/no-such-package").status_code == 404
