"""The care plan pages over HTTP, signed in through the form: what people see, what the forms
write as FHIR, and what they refuse (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from httpx import Response

from careweave.coordination.care_plan import active_plan, care_plan_of
from careweave.coordination.care_plan_actions import add_what_matters, create_plan
from careweave.coordination.caseload import review_of, years_after
from careweave.coordination.record import find, new_submission_token, today
from tests.coordination.place import Place, csrf_of
from tests.coordination.test_care_plan import care_team, carer_consent

PLAN = "/people/mary/care-plan"


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name} on the page"
    return match.group(1)


def date_fields(name: str, day: date) -> dict[str, str]:
    return {
        f"{name}-day": str(day.day),
        f"{name}-month": str(day.month),
        f"{name}-year": str(day.year),
    }


def submit(client: TestClient, form_page: str, action: str, fields: dict[str, str]) -> Response:
    """Open `form_page`, then post its form (CSRF token, one-time token and version as the
    page gave them) to `action` with `fields`."""
    html = client.get(form_page).text
    data = {"csrf_token": csrf_of(html)}
    for name in ("token", "version"):
        if f'name="{name}"' in html:
            data[name] = hidden(html, name)
    response: Response = client.post(action, data={**data, **fields}, follow_redirects=False)
    return response


def make_plan(place: Place) -> str:
    return create_plan(place.access("cara.coord"), "mary", new_submission_token())


def test_with_no_plan_the_page_offers_to_create_one_and_a_double_submit_makes_one(
    place: Place,
) -> None:
    cara, ann = place.sign_in("cara.coord"), place.sign_in("ann.gp")
    ann_form = ann.get(PLAN).text  # opened before Cara creates the plan
    page = cara.get(PLAN)
    assert page.status_code == 200
    assert "No care plan yet" in page.text and 'aria-current="page"' in page.text
    data = {
        "csrf_token": csrf_of(page.text),
        "token": hidden(page.text, "token"),
        "about-me": "Mary loves her garden.",
        **date_fields("next-review", today() + timedelta(days=90)),
    }
    first = cara.post(PLAN, data=data, follow_redirects=False)
    again = cara.post(PLAN, data=data, follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (303, f"{PLAN}?saved=created")
    assert again.status_code == 303
    late = ann.post(
        PLAN,
        data={"csrf_token": csrf_of(ann_form), "token": hidden(ann_form, "token")},
        follow_redirects=False,
    )
    assert (late.status_code, late.headers["location"]) == (303, f"{PLAN}?saved=exists")
    plans = find(place.access("cara.coord"), "CarePlan", [("patient", "Patient/mary")])
    assert len(plans) == 1 and plans[0]["status"] == "active"
    shown = cara.get(first.headers["location"]).text
    assert "The care plan has been created" in shown
    assert "Mary loves her garden." in shown
    assert "Printable copy" in shown


def test_a_bad_review_date_is_explained_and_what_was_typed_is_kept(place: Place) -> None:
    cara = place.sign_in("cara.coord")
    response = submit(
        cara,
        PLAN,
        PLAN,
        {
            "about-me": "Likes a chat",
            "next-review-day": "31",
            "next-review-month": "2",
            "next-review-year": str(today().year + 1),
        },
    )
    assert response.status_code == 400
    assert "Next review date must be a real date" in response.text
    assert "There is a problem" in response.text
    assert "Likes a chat</textarea>" in response.text
    assert 'value="31"' in response.text
    assert active_plan(place.access("cara.coord"), "mary") is None


def test_a_stale_edit_shows_the_other_change_and_keeps_the_typed_text(place: Place) -> None:
    make_plan(place)
    cara, ann = place.sign_in("cara.coord"), place.sign_in("ann.gp")
    opened = cara.get(f"{PLAN}/sections").text
    assert (
        submit(
            ann, f"{PLAN}/sections", f"{PLAN}/sections", {"crisis": "Ring Carl first."}
        ).status_code
        == 303
    )
    stale = cara.post(
        f"{PLAN}/sections",
        data={
            "csrf_token": csrf_of(opened),
            "version": hidden(opened, "version"),
            "crisis": "Call 999 and then the surgery.",
        },
        follow_redirects=False,
    )
    assert stale.status_code == 409
    assert "Someone else changed this plan since you opened it" in stale.text
    assert "Ring Carl first." in stale.text  # what is there now
    assert "Call 999 and then the surgery.</textarea>" in stale.text  # what they typed
    plan = care_plan_of(place.access("cara.coord"), "mary")
    assert plan is not None and plan.texts == {"crisis": "Ring Carl first."}
    assert hidden(stale.text, "version") == str(plan.version_id)
    again = cara.post(
        f"{PLAN}/sections",
        data={
            "csrf_token": csrf_of(stale.text),
            "version": hidden(stale.text, "version"),
            "crisis": "Call 999 and then the surgery.",
        },
        follow_redirects=False,
    )
    assert again.status_code == 303
    plan = care_plan_of(place.access("cara.coord"), "mary")
    assert plan is not None and plan.texts == {"crisis": "Call 999 and then the surgery."}


def test_goal_and_action_forms_refuse_bad_input_and_keep_what_was_typed(place: Place) -> None:
    make_plan(place)
    cara = place.sign_in("cara.coord")
    empty = submit(
        cara,
        f"{PLAN}/goals/new",
        f"{PLAN}/goals",
        {"description": "  ", "expressed-by": "Patient/mary", **date_fields("target", today())},
    )
    assert empty.status_code == 400 and "Enter the goal" in empty.text
    assert f'value="{today().year}"' in empty.text
    new_action = f"{PLAN}/actions/new"
    past = submit(
        cara,
        new_action,
        f"{PLAN}/actions",
        {
            "section": "health",
            "description": "Check her blood pressure",
            "owner": "riverside",
            **date_fields("due", today() - timedelta(days=1)),
        },
    )
    assert past.status_code == 400
    assert "Due date must be today or in the future" in past.text
    assert "Check her blood pressure</textarea>" in past.text
    unreal = submit(
        cara,
        new_action,
        f"{PLAN}/actions",
        {
            "section": "health",
            "description": "Bloods",
            "owner": "riverside",
            "due-day": "40",
            "due-month": "1",
            "due-year": "2027",
        },
    )
    assert unreal.status_code == 400 and "Due date must be a real date" in unreal.text
    unknown = submit(
        cara,
        new_action,
        f"{PLAN}/actions",
        {
            "section": "voluntary",
            "description": "Lunch club",
            "owner": "not-an-organisation",
            **date_fields("due", today()),
        },
    )
    assert unknown.status_code == 400
    assert "Select the organisation that will do this" in unknown.text
    assert "Lunch club</textarea>" in unknown.text
    assert find(place.access("cara.coord"), "Task", [("patient", "Patient/mary")]) == []
    assert find(place.access("cara.coord"), "Goal", [("patient", "Patient/mary")]) == []


def test_goals_and_actions_show_on_the_plan_with_progress(place: Place) -> None:
    make_plan(place)
    cara = place.sign_in("cara.coord")
    added = submit(
        cara,
        f"{PLAN}/goals/new",
        f"{PLAN}/goals",
        {"description": "I want to walk to the shop", "expressed-by": "Patient/mary"},
    )
    assert added.status_code == 303
    for text, owner in (("Review medicines", "riverside"), ("Lunch club", "voluntary")):
        response = submit(
            cara,
            f"{PLAN}/actions/new",
            f"{PLAN}/actions",
            {
                "section": "health" if owner == "riverside" else "voluntary",
                "description": text,
                "owner": owner,
                **date_fields("due", today() + timedelta(days=7)),
            },
        )
        assert response.status_code == 303, response.text
    view = care_plan_of(place.access("cara.coord"), "mary")
    assert view is not None
    medicines, lunch = view.actions
    done = submit(
        cara,
        f"{PLAN}/actions/{medicines.task_id}",
        f"{PLAN}/actions/{medicines.task_id}",
        {"status": "completed", "note": "Reviewed at home"},
    )
    assert done.status_code == 303
    # The lunch club has fallen behind (as another system would write it).
    task = place.store.read("Task", lunch.task_id).as_dict()
    task["restriction"] = {"period": {"end": (today() - timedelta(days=3)).isoformat()}}
    place.put(task)
    page = cara.get(PLAN).text
    assert "I want to walk to the shop" in page and "In the words of Mary Example" in page
    assert "1 of 2 actions completed" in page
    assert '<strong class="nhsuk-tag nhsuk-tag--red">Overdue</strong>' in page
    assert '<strong class="nhsuk-tag nhsuk-tag--green">Completed</strong>' in page
    assert "Age Friendly Northshire" in page
    stored = place.store.read("Task", medicines.task_id).as_dict()
    assert stored["status"] == "completed" and stored["note"][0]["text"] == "Reviewed at home"


def test_recording_a_review_and_adding_words_from_staff(place: Place) -> None:
    care_team(place)
    make_plan(place)
    cara = place.sign_in("cara.coord")
    next_review = today() + timedelta(days=120)
    reviewed = submit(
        cara, f"{PLAN}/review", f"{PLAN}/review", date_fields("next-review", next_review)
    )
    assert (reviewed.status_code, reviewed.headers["location"]) == (303, f"{PLAN}?saved=review")
    past = submit(cara, f"{PLAN}/review", f"{PLAN}/review", date_fields("next-review", today()))
    assert past.status_code == 400 and "Next review date must be in the future" in past.text
    words = submit(cara, f"{PLAN}/what-matters", f"{PLAN}/what-matters", {"text": "Her garden"})
    assert words.status_code == 303
    empty = submit(cara, f"{PLAN}/questions", f"{PLAN}/questions", {"text": ""})
    assert empty.status_code == 400 and "There is a problem" in empty.text
    carer_consent(place)
    add_what_matters(place.access("carl"), "mary", "Mum's cat comes first", new_submission_token())
    page = cara.get(PLAN).text
    plan = care_plan_of(place.access("cara.coord"), "mary")
    assert plan is not None and (plan.last_reviewed, plan.next_review) == (today(), next_review)
    assert "Her garden" in page and "Cara Coordinator, Riverside Surgery" in page
    assert "Mum&#39;s cat comes first" in page and "Carl Example (carer)" in page


def test_the_printable_plan_has_the_plan_and_no_forms_or_menu(place: Place) -> None:
    make_plan(place)
    cara = place.sign_in("cara.coord")
    submit(cara, f"{PLAN}/sections", f"{PLAN}/sections", {"crisis": "Ring Carl on 07700 900123"})
    submit(
        cara,
        f"{PLAN}/goals/new",
        f"{PLAN}/goals",
        {"description": "Dance at the wedding", "expressed-by": "Patient/mary"},
    )
    add_what_matters(
        place.access("mary"), "mary", "Seeing my grandchildren", new_submission_token()
    )
    printed = cara.get(f"{PLAN}/print")
    assert printed.status_code == 200
    assert "<form" not in printed.text and "nhsuk-header" not in printed.text
    for text in (
        "My care and support plan",
        "Mary Example",
        "999 000 0018",
        "Ring Carl on 07700 900123",
        "Dance at the wedding",
        "Seeing my grandchildren",
    ):
        assert text in printed.text


def test_the_history_page_lists_versions_and_who_changed_them(place: Place) -> None:
    make_plan(place)
    ann = place.sign_in("ann.gp")
    submit(ann, f"{PLAN}/sections", f"{PLAN}/sections", {"contingency": "Carl stays over"})
    page = ann.get(f"{PLAN}/history")
    assert page.status_code == 200
    assert "Contingency plan added" in page.text and "Plan created" in page.text
    assert "Dr Ann Example, Riverside Surgery" in page.text
    assert "Cara Coordinator, Riverside Surgery" in page.text


def test_no_relationship_is_not_found_and_people_cannot_use_staff_pages(place: Place) -> None:
    make_plan(place)
    hal = place.sign_in("hal.gp")
    for path in (PLAN, f"{PLAN}/print", f"{PLAN}/history", f"{PLAN}/sections"):
        assert hal.get(path).status_code == 404, path
    token = csrf_of(hal.get("/home").text)
    posted = hal.post(
        f"{PLAN}/what-matters",
        data={"csrf_token": token, "token": new_submission_token(), "text": "x"},
    )
    assert posted.status_code == 404
    for username in ("mary", "carl"):
        client = place.sign_in(username)
        assert client.get(PLAN).status_code == 403
        assert client.get(f"{PLAN}/print").status_code == 403
        token = csrf_of(client.get("/home").text)
        refused = client.post(
            f"{PLAN}/what-matters",
            data={"csrf_token": token, "token": new_submission_token(), "text": "x"},
        )
        assert refused.status_code == 403
    plan = care_plan_of(place.access("cara.coord"), "mary")
    assert plan is not None and plan.what_matters == []


def test_a_form_without_its_csrf_token_changes_nothing(place: Place) -> None:
    make_plan(place)
    cara = place.sign_in("cara.coord")
    response = cara.post(
        f"{PLAN}/what-matters", data={"token": new_submission_token(), "text": "x"}
    )
    assert response.status_code == 403
    plan = care_plan_of(place.access("cara.coord"), "mary")
    assert plan is not None and plan.what_matters == []


def test_a_volunteer_sees_the_plan_but_not_the_edit_links(place: Place) -> None:
    make_plan(place)
    care_team(place)
    team = place.store.read("CareTeam", "mary-team").as_dict()
    team["participant"].append(
        {
            "role": [
                {
                    "coding": [
                        {
                            "system": team["participant"][0]["role"][0]["coding"][0]["system"],
                            "code": "member",
                        }
                    ]
                }
            ],
            "member": {"reference": "PractitionerRole/prr-val"},
            "onBehalfOf": {"reference": "Organization/voluntary"},
        }
    )
    place.put(team)
    val = place.sign_in("val.vol")
    page = val.get(PLAN)
    assert page.status_code == 200
    assert "Personalised care and support plan" in page.text
    assert "Add a goal" not in page.text and "Add what matters" in page.text
    refused = submit(val, PLAN, f"{PLAN}/sections", {"crisis": "x", "version": "1"})
    assert refused.status_code == 403


def test_goal_and_action_edits_show_a_change_made_meanwhile(place: Place) -> None:
    make_plan(place)
    cara, nina = place.sign_in("cara.coord"), place.sign_in("nina.nurse")
    submit(
        cara,
        f"{PLAN}/goals/new",
        f"{PLAN}/goals",
        {"description": "Get to the allotment", "expressed-by": "Patient/mary"},
    )
    submit(
        cara,
        f"{PLAN}/actions/new",
        f"{PLAN}/actions",
        {
            "section": "health",
            "description": "Leg ulcer dressings",
            "owner": "community",
            **date_fields("due", today() + timedelta(days=2)),
        },
    )
    view = care_plan_of(place.access("cara.coord"), "mary")
    assert view is not None
    goal_page = f"{PLAN}/goals/{view.goals[0].goal_id}"
    opened = cara.get(goal_page).text
    assert "Get to the allotment</textarea>" in opened and 'value="improving"' in opened
    changed = submit(
        cara,
        goal_page,
        goal_page,
        {
            "description": "Get to the allotment twice a week",
            "lifecycle": "active",
            "achievement": "improving",
        },
    )
    assert changed.status_code == 303
    stale = cara.post(
        goal_page,
        data={
            "csrf_token": csrf_of(opened),
            "version": hidden(opened, "version"),
            "description": "Give up the allotment",
            "lifecycle": "cancelled",
            "achievement": "not-achieved",
        },
        follow_redirects=False,
    )
    assert stale.status_code == 409
    assert "Get to the allotment twice a week" in stale.text  # what it says now
    assert "Give up the allotment</textarea>" in stale.text  # what they typed
    # Nina's organisation owns the dressings, so she can update them; Cara's form is stale.
    action_page = f"{PLAN}/actions/{view.actions[0].task_id}"
    cara_form = cara.get(action_page).text
    nina_update = submit(
        nina, action_page, action_page, {"status": "in-progress", "note": "First visit done"}
    )
    assert nina_update.status_code == 303
    stale_status = cara.post(
        action_page,
        data={
            "csrf_token": csrf_of(cara_form),
            "version": hidden(cara_form, "version"),
            "status": "cancelled",
            "note": "Not needed",
        },
        follow_redirects=False,
    )
    assert stale_status.status_code == 409
    assert "Someone else changed this action since you opened it" in stale_status.text
    assert "First visit done" in stale_status.text and "Nina Nurse" in stale_status.text
    assert "Not needed</textarea>" in stale_status.text
    task = place.store.read("Task", view.actions[0].task_id).as_dict()
    assert task["status"] == "in-progress"


def test_a_plan_with_no_next_review_is_due_a_year_after_it_was_made_on_every_page(
    place: Place,
) -> None:
    """The plan page said "Not set" with no Overdue tag for a plan made 13 months ago, while
    the caseload and the population measures counted its review as overdue."""
    plan_id = make_plan(place)
    plan = place.store.read("CarePlan", plan_id).as_dict()
    made = today() - timedelta(days=400)
    plan["created"] = made.isoformat()
    place.put(plan)
    due = review_of(place.store.read("CarePlan", plan_id).as_dict(), today())
    assert (due.status, due.due) == ("overdue", years_after(made, 1))
    assert due.due is not None
    said = f"Not set: due by {due.due.day} {due.due:%B %Y}, a year after the plan was made"
    page = " ".join(place.sign_in("cara.coord").get(PLAN).text.split())
    assert said in page
    assert f'{said} <strong class="nhsuk-tag nhsuk-tag--red">Overdue</strong>' in page
    printed = " ".join(place.sign_in("cara.coord").get(f"{PLAN}/print").text.split())
    assert said.replace("Not set", "Not set yet") in printed
    her_own = " ".join(place.sign_in("mary").get("/my-care").text.split())
    assert said.replace("Not set", "Not set yet") in her_own

    plan = place.store.read("CarePlan", plan_id).as_dict()
    plan["created"] = (today() - timedelta(days=30)).isoformat()
    place.put(plan)
    page = place.sign_in("cara.coord").get(PLAN).text
    assert "a year after the plan was made" in page
    assert '<strong class="nhsuk-tag nhsuk-tag--red">Overdue</strong>' not in page
