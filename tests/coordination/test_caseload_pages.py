"""The caseload page and "Find a person" over HTTP, signed in through the sign-in form: what
each shows, the filters kept in the form, the errors, and who may use them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from careweave.coordination.caseload import PEOPLE_PER_PAGE
from careweave.coordination.record import today
from careweave.web.coordination.context import NOT_FOR_YOUR_ROLE
from careweave.web.pages import uk_date
from tests.coordination.place import Place
from tests.coordination.test_caseload import build_caseload, care_team, participant
from tests.web.test_governance_pages import make_user

TODAY = today()


@pytest.fixture
def scenario(place: Place) -> Place:
    build_caseload(place)
    return place


def people_table(html: str) -> str:
    """The "People I coordinate" part of the page (between its heading and the tasks')."""
    return html.split('id="people"', 1)[1].split('id="tasks"', 1)[0]


def tasks_table(html: str) -> str:
    return html.split('id="tasks"', 1)[1]


def linked_people(html: str) -> list[str]:
    return re.findall(r'href="/people/([^"/]+)"', html)


def test_cara_lands_on_her_caseload(scenario: Place) -> None:
    response = scenario.sign_in("cara.coord").get("/caseload")
    assert response.status_code == 200
    html = response.text
    assert "<h1" in html and "Your caseload" in html
    assert "3 people, 2 overdue tasks" in html
    people = people_table(html)
    assert linked_people(people) == ["ben", "mary", "joe"]
    for text in (
        "Mary Example",
        "999 000 0018",
        "Riverside Surgery",
        "Hilltop Practice",
        "Mild frailty",
        "Moderate frailty",
        "No frailty recorded",
        "In hospital",
        f"Discharged {uk_date(TODAY - timedelta(days=10))}",
        "Review overdue",
        f"Review due {uk_date(TODAY + timedelta(days=300))}",
        "No plan",
    ):
        assert text in people, text
    for hidden in ("Sid Stranger", "Ida Idle"):
        assert hidden not in html
    # An accessible table: a caption and column headers.
    assert "<caption" in people and people.count('scope="col"') == 8


def test_tasks_are_listed_overdue_first_with_links(scenario: Place) -> None:
    html = tasks_table(scenario.sign_in("cara.coord").get("/caseload").text)
    shown = re.findall(r'href="/tasks/([^"]+)"', html)
    assert shown == ["t-mary-late", "t-mary-soon-late", "t-joe-riverside", "t-mary-nodue"]
    assert html.count('nhsuk-tag--red">Overdue') == 2
    assert "Arrange a home visit" in html and "Review the care plan" in html
    assert "Northshire Community Health NHS Trust" in html  # Nina's organisation asked
    assert f"{uk_date(TODAY - timedelta(days=20))}" in html
    assert "No due date" in html
    assert linked_people(html) == ["mary", "mary", "joe", "mary"]


@pytest.mark.parametrize(
    ("query", "shown", "kept"),
    [
        ("practice=hilltop", ["ben"], '<option value="hilltop" selected>'),
        ("frailty=none", ["ben"], '<option value="none" selected>'),
        ("frailty=moderate", ["joe"], '<option value="moderate" selected>'),
        ("discharged=yes", ["mary"], 'name="discharged" type="checkbox" value="yes" checked'),
        ("no_review=yes", ["ben", "mary"], 'value="yes" aria-describedby="no_review-hint" checked'),
    ],
)
def test_filters_narrow_the_list_and_keep_their_values(
    scenario: Place, query: str, shown: list[str], kept: str
) -> None:
    client = scenario.sign_in("cara.coord")
    html = client.get(f"/caseload?{query}").text
    assert linked_people(people_table(html)) == shown
    assert kept in html
    assert f"{len(shown)} {'person' if len(shown) == 1 else 'people'}, 2 overdue tasks" in html
    assert 'href="/caseload">Clear filters' in html
    # The tasks are the user's work whatever the filter.
    assert len(re.findall(r'href="/tasks/', html)) == 4


def test_all_filters_on_one_page_and_nothing_matching(scenario: Place) -> None:
    client = scenario.sign_in("cara.coord")
    html = client.get(
        "/caseload?practice=riverside&frailty=severe&discharged=yes&no_review=yes"
    ).text
    assert "No one you coordinate matches these filters" in html
    assert '<option value="riverside" selected>' in html
    assert '<option value="severe" selected>' in html
    assert html.count(" checked") == 2
    # Unknown values from a hand-made address are ignored, not an error.
    odd = client.get("/caseload?practice=nowhere&frailty=extreme&discharged=maybe")
    assert odd.status_code == 200 and linked_people(people_table(odd.text)) == [
        "ben",
        "mary",
        "joe",
    ]


def test_a_role_that_may_not_see_hospital_stays_is_told(scenario: Place) -> None:
    html = scenario.sign_in("sam.sw").get("/caseload").text
    assert linked_people(people_table(html)) == ["joe"]
    assert "Hospital stays are not shared with your role" in html
    assert "In hospital" not in html and 'name="discharged"' not in html


def test_no_post_is_explained(scenario: Place) -> None:
    make_user(
        scenario.store.database,
        "una.unlinked",
        "Una Unlinked",
        "care-coordinator",
        organisation_id="riverside",
    )
    html = scenario.sign_in("una.unlinked").get("/caseload").text
    assert "Your account is not linked to your post" in html
    assert "1 overdue task" not in html and "0 overdue tasks" in html
    assert re.findall(r'href="/tasks/([^"]+)"', html) == ["t-joe-riverside", "t-mary-nodue"]


def test_no_one_coordinated_yet(scenario: Place) -> None:
    html = scenario.sign_in("lee.lw").get("/caseload").text
    assert "You are not the care coordinator, or covering for one, for anyone yet" in html
    # Lee works at Riverside, so Riverside's tasks are his team's.
    assert re.findall(r'href="/tasks/([^"]+)"', html) == ["t-joe-riverside", "t-mary-nodue"]
    volunteer = scenario.sign_in("val.vol").get("/caseload").text
    assert "There are no open tasks for you or Age Friendly Northshire" in volunteer


@pytest.mark.parametrize("username", ["mary", "carl"])
def test_a_person_or_their_carer_is_refused(place: Place, username: str) -> None:
    client = place.sign_in(username)
    for path in ("/caseload", "/people", "/people?q=mary"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert NOT_FOR_YOUR_ROLE in response.text.replace("&#39;", "'")


def test_signing_in_comes_first(place: Place) -> None:
    with TestClient(place.app, base_url="http://testserver") as client:
        for path, next_path in (
            ("/caseload", "%2Fcaseload"),
            ("/people?q=mary", "%2Fpeople%3Fq%3Dmary"),
        ):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == f"/sign-in?next={next_path}"


# -- find a person -----------------------------------------------------------------------------


def test_the_empty_form(place: Place) -> None:
    response = place.sign_in("cara.coord").get("/people")
    assert response.status_code == 200
    html = response.text
    assert (
        '<label class="nhsuk-label nhsuk-label--s" for="q">Name, date of birth or NHS number'
        in html
    )
    assert 'method="get"' in html and "<table" not in html and "No one found" not in html


def test_finding_mary_by_name_number_and_birthday(place: Place) -> None:
    client = place.sign_in("cara.coord")
    for typed in ("Mary Example", "999 000 0018", "02/03/1941", "2/3/1941", "1941-03-02"):
        response = client.get("/people", params={"q": typed})
        assert response.status_code == 200, typed
        html = response.text
        assert linked_people(html) == ["mary"], typed
        assert "999 000 0018" in html and "2 March 1941" in html and "Riverside Surgery" in html
        assert "1 person found" in html and "<caption" in html
        assert f'value="{typed}"' in html  # the search stays in the box


@pytest.mark.parametrize(
    ("typed", "message"),
    [("999 000 0019", "Enter a valid NHS number"), ("31/02/1941", "Enter a real date of birth")],
)
def test_errors_use_the_error_summary_and_keep_what_was_typed(
    place: Place, typed: str, message: str
) -> None:
    response = place.sign_in("cara.coord").get("/people", params={"q": typed})
    assert response.status_code == 400
    html = response.text
    assert "<title>Error: Find a person" in html
    assert 'class="nhsuk-error-summary"' in html and f'<a href="#q">{message}</a>' in html
    assert 'id="q-error"' in html and 'aria-describedby="q-hint q-error"' in html
    assert f'value="{typed}"' in html
    assert "<table" not in html


def test_a_hidden_person_is_not_found_and_the_page_does_not_hint_at_them(place: Place) -> None:
    client = place.sign_in("ann.gp")
    pages = {
        typed: client.get("/people", params={"q": typed}).text
        for typed in ("Sid", "9990000034", "Zed")
    }
    for typed, html in pages.items():
        assert "No one found" in html, typed
        assert "Stranger" not in html and "/people/sid" not in html
    # A hidden person and no one at all read the same, but for what was typed.
    assert pages["Sid"].replace("Sid", "Zed") == pages["Zed"]


def test_too_many_found_asks_for_a_narrower_search(place: Place) -> None:
    for n in range(51):
        place.put(
            {
                "resourceType": "Patient",
                "id": f"many-{n:02d}",
                "name": [{"given": ["Many"], "family": f"Example{n:02d}"}],
                "generalPractitioner": [{"reference": "Organization/riverside"}],
            }
        )
    html = place.sign_in("cara.coord").get("/people", params={"q": "example"}).text
    assert "More than 50 people match" in html and "50+ people found" in html
    assert len(linked_people(html)) == 50


def test_a_long_caseload_is_shown_a_page_at_a_time_keeping_the_filters(place: Place) -> None:
    for n in range(PEOPLE_PER_PAGE + 1):
        patient_id = f"many-{n:03d}"
        place.put(
            {
                "resourceType": "Patient",
                "id": patient_id,
                "name": [{"given": ["Many"], "family": f"Person{n:03d}"}],
                "generalPractitioner": [{"reference": "Organization/riverside"}],
            }
        )
        place.put(
            care_team(f"ct-{patient_id}", patient_id, [participant("prr-cara", "coordinator")])
        )
    client = place.sign_in("cara.coord")
    first = client.get("/caseload?practice=riverside").text
    assert len(linked_people(people_table(first))) == PEOPLE_PER_PAGE
    assert f"{PEOPLE_PER_PAGE + 1} people" in first and "(page 1 of 2)" in first
    assert 'href="/caseload?practice=riverside&amp;page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    second = client.get("/caseload?practice=riverside&page=2").text
    assert linked_people(people_table(second)) == [f"many-{PEOPLE_PER_PAGE:03d}"]
    assert 'href="/caseload?practice=riverside" rel="prev"' in second and 'rel="next"' not in second
    # A page number that is not one shows the first page.
    assert client.get("/caseload?page=x").status_code == 200
