"""A whole journey of care through the pages, as the people in it would take it, in Debian's
Chromium against the real server, on SQLite and PostgreSQL, with JavaScript and without.

1. Dan, the acute trust's discharge coordinator, finds Mary on the discharge board, starts a
   pathway 1 discharge (medically optimised, planned date), refers her to community nursing
   (the community trust) and for a social care assessment (the council) from the discharge's
   page, so they are what the discharge waits for, and discharges her home: the community
   trust and the council act in the first 48 hours, and Cara, her named coordinator, checks
   it went as planned.
2. Nina, a community nurse, finds the referral on her caseload's task list and accepts it.
3. Cara, the care coordinator at Mary's practice, sees Mary, the check and the referrals made
   for her (community nursing accepted) on her caseload and worklist, sees the same on Mary's
   record, writes Mary's care plan (what matters to her, and a goal in her own words) and
   schedules an MDT meeting with Mary on its list.
4. Mary signs in and reads the plan Cara wrote on her own page.

Every page reached is checked with axe-core (WCAG 2.2 A and AA, no serious or critical
violation) and photographed; the same journey then runs with JavaScript turned off, which
proves that every form in it works without scripts. The screenshots go to the pytest session's
temporary folder, screenshots/care-journey (printed), never into the repository; each is named
by its step, the database and whether scripts ran (15-cara-caseload-sqlite-js.png).
Helpers: tests/web/browser.py and tests/web/journey_place.py.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from careweave.coordination.discharge import PATHWAYS
from careweave.coordination.record import find, read, today
from careweave.web.pages import uk_date
from tests.coordination.place import Place
from tests.web.browser import screenshots_fixture, sign_in, someone_at_a_computer
from tests.web.journey_place import (
    STAY,
    Journey,
    date_group,
    journey_place,
    path_is,
    served_place,
)
from tests.web.test_governance_pages import PASSWORD

pytestmark = pytest.mark.e2e

ACUTE = "Northshire General Hospital NHS Trust"
COMMUNITY = "Northshire Community Health NHS Trust"
COUNCIL = "Northshire Council Adult Social Care"
NURSING_REASON = "Home on pathway 1: needs her left leg dressed daily and her medicines checked."
SOCIAL_CARE_REASON = "Needs help washing and dressing since her fall: please assess her needs."
ABOUT_MARY = "Mary wants to stay in her own home and get back to the Tuesday lunch club."
GOAL = "I want to walk to the corner shop on my own again"
MEETING = "Riverside frailty MDT"
MDT_REASON = "Home from hospital after a fall: agree who does what in her first weeks at home."


place = served_place(journey_place)
screenshots = screenshots_fixture("care-journey")


def menu(page: Page, item: str) -> None:
    page.get_by_role("navigation", name="Menu").get_by_role("link", name=item).click()


def record_tab(page: Page, tab: str) -> None:
    """One of the parts of Mary's record, from the tabs under her name."""
    nav = page.get_by_role("navigation", name="Mary Example's record")
    nav.get_by_role("link", name=tab, exact=True).click()


def success(page: Page) -> None:
    """The NHS.UK success banner a saved change lands on."""
    expect(page.locator(".nhsuk-notification-banner--success")).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_a_discharge_to_assess_journey_ends_with_mary_reading_her_plan(
    chromium: Browser, place: Place, web: str, journey: Journey, javascript: bool
) -> None:
    day = today()
    for steps in (
        dan_discharges_mary_home,
        nina_accepts_the_referral,
        cara_plans_marys_care,
        mary_reads_her_plan,
    ):
        with someone_at_a_computer(chromium, web, javascript) as page:
            steps(page, journey, day)
    the_record_shows_the_journey(place)


def dan_discharges_mary_home(page: Page, journey: Journey, day: date) -> None:
    """Dan starts the discharge, refers Mary on from its page, and hands her over home."""
    sign_in(page, "dan.dc", PASSWORD)
    journey.reached(page, "dan-home")

    menu(page, "Discharge board")
    path_is(page, "/discharge")
    board = page.get_by_role("row").filter(has_text="Mary Example")
    expect(board).to_contain_text("Not started")
    journey.reached(page, "discharge-board")

    board.get_by_role("link", name="Mary Example").click()
    path_is(page, f"/discharge/{STAY}")
    expect(page.get_by_role("heading", name="Start discharge to assess")).to_be_visible()
    journey.reached(page, "discharge-start")

    page.get_by_label(PATHWAYS["1"]).check()
    date_group(page, "Date medically optimised for discharge (if they are)", day - timedelta(2))
    date_group(page, "Planned discharge date (optional)", day)
    page.get_by_label("Reason for delay (if delayed)").select_option(
        label="Waiting for a package of care"
    )
    page.get_by_role("button", name="Start discharge").click()
    path_is(page, f"/discharge/{STAY}")
    summary = page.locator(".nhsuk-summary-list").first
    expect(summary).to_contain_text(PATHWAYS["1"])
    expect(summary).to_contain_text("Delayed 2 days")
    expect(summary).to_contain_text("Cara Coordinator")  # her named coordinator
    journey.reached(page, "discharge-started")

    # The referrals are part of the discharge: made from its page, they are what it waits for.
    page.get_by_role("link", name=re.compile(r"^Refer to another service")).click()
    path_is(page, r"/people/mary/referrals/new\?discharge=[A-Za-z0-9\-.]+")
    journey.reached(page, "referral-form")

    # Sent empty, the form says what is missing and links to each field.
    with page.expect_navigation():
        page.get_by_role("button", name="Send referral").click()
    errors = page.locator(".nhsuk-error-summary")
    expect(errors.get_by_role("link")).to_have_text(
        [
            "Select the service you are referring to",
            "Select the organisation you are referring to",
            "Enter why you are making this referral",
            "Enter the date to respond by",
        ]
    )
    journey.reached(page, "referral-form-errors")

    for service, organisation, reason in (
        ("Community nursing", COMMUNITY, NURSING_REASON),
        ("Social care assessment", COUNCIL, SOCIAL_CARE_REASON),
    ):
        if "/referrals/new" not in page.url:
            page.get_by_role("link", name=re.compile(r"^Refer to another service")).click()
            path_is(page, r"/people/mary/referrals/new\?discharge=[A-Za-z0-9\-.]+")
        page.get_by_role("radio", name=service, exact=True).check()
        page.get_by_label("Which organisation are you referring to?").select_option(
            label=organisation
        )
        page.get_by_label("Why are you referring Mary Example?").fill(reason)
        page.get_by_role("radio", name="Urgent", exact=True).check()
        date_group(page, "Date to respond by", day + timedelta(days=1))
        page.get_by_role("button", name="Send referral").click()
        path_is(page, f"/discharge/{STAY}\\?done=referred(#waiting-on)?")
        success(page)
        journey.reached(page, f"referral-sent-{service.split()[0].lower()}")

    waiting = page.get_by_role("table", name=re.compile(r"^What the discharge is waiting for"))
    for service, organisation in (
        ("Community nursing", COMMUNITY),
        ("Social care assessment", COUNCIL),
    ):
        row = waiting.get_by_role("row").filter(has_text=re.compile(service, re.IGNORECASE))
        expect(row).to_contain_text(organisation)
        expect(row).to_contain_text("Waiting for a response")
    journey.reached(page, "referrals-made")

    menu(page, "Discharge board")
    path_is(page, "/discharge")
    page.get_by_role("row").filter(has_text="Mary Example").get_by_role("link").click()
    path_is(page, f"/discharge/{STAY}")
    handoff = page.get_by_role("group", name="Who must act in the first 48 hours at home")
    handoff.get_by_role("checkbox", name=COMMUNITY).check()
    handoff.get_by_role("checkbox", name=COUNCIL).check()
    page.get_by_role("radio", name="Their named coordinator, Cara Coordinator").check()
    page.get_by_label("What must happen in the first 48 hours (optional)").fill(
        "District nurse to dress her leg; carers twice a day from the council."
    )
    page.get_by_role("button", name="Discharge home").click()
    path_is(page, f"/discharge/{STAY}")
    expect(page.get_by_role("heading", name="Discharged", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Discharge home")).to_have_count(0)
    journey.reached(page, "discharged-home")


def nina_accepts_the_referral(page: Page, journey: Journey, day: date) -> None:
    """Nina, a community nurse, accepts the referral from her caseload's task list."""
    sign_in(page, "nina.nurse", PASSWORD)
    menu(page, "Caseload")
    path_is(page, "/caseload")
    tasks = page.get_by_role("table", name=re.compile(r"^Open tasks owned by you"))
    referral = tasks.get_by_role("row").filter(has_text="Referral: community nursing")
    expect(referral).to_contain_text("Mary Example")
    expect(referral).to_contain_text(ACUTE)
    expect(tasks.get_by_role("row").filter(has_text="First 48 hours at home")).to_be_visible()
    journey.reached(page, "nina-caseload")

    referral.get_by_role("link", name="Referral: community nursing").click()
    path_is(page, r"/tasks/[A-Za-z0-9\-.]+")
    expect(page.get_by_role("main")).to_contain_text(NURSING_REASON)
    journey.reached(page, "nina-referral")
    page.get_by_role("button", name="Accept referral").click()
    path_is(page, r"/tasks/[A-Za-z0-9\-.]+\?done=accept")
    expect(page.locator(".nhsuk-notification-banner--success")).to_contain_text(
        "You have accepted this referral"
    )
    expect(page.get_by_role("button", name="Accept referral")).to_have_count(0)
    journey.reached(page, "nina-accepted")


def cara_plans_marys_care(page: Page, journey: Journey, day: date) -> None:
    """Cara sees Mary and the check on her caseload, sees community nursing accepted, writes
    the care plan and schedules the MDT meeting with Mary on its list."""
    sign_in(page, "cara.coord", PASSWORD)
    menu(page, "Caseload")
    path_is(page, "/caseload")
    people = page.get_by_role("table", name=re.compile(r"^People I coordinate"))
    mary = people.get_by_role("row").filter(has_text="Mary Example")
    expect(mary).to_contain_text(f"Discharged {uk_date(day)}")
    expect(mary).to_contain_text("No plan")
    tasks = page.get_by_role("table", name=re.compile(r"^Open tasks owned by you"))
    check = tasks.get_by_role("row").filter(has_text="Check that the first 48 hours")
    expect(check).to_contain_text("Mary Example")
    expect(check).to_contain_text(ACUTE)
    # The referrals made for Mary at the hospital, and where each stands, are on her worklist.
    referred = page.get_by_role("table", name=re.compile(r"^Open referrals for people you"))
    nursing = referred.get_by_role("row").filter(has_text=re.compile("community nursing", re.I))
    expect(nursing).to_contain_text("Mary Example")
    expect(nursing).to_contain_text(f"Accepted by {COMMUNITY}")
    social = referred.get_by_role("row").filter(has_text=re.compile("social care", re.I))
    expect(social).to_contain_text("Waiting for a response")
    journey.reached(page, "cara-caseload")

    check.get_by_role("link", name="Mary Example").click()
    path_is(page, "/people/mary")
    journey.reached(page, "cara-mary-summary")
    record_tab(page, "Referrals and tasks")
    path_is(page, "/people/mary/referrals")
    referrals = page.get_by_role("table", name=re.compile(r"^Referrals made for Mary"))
    expect(referrals.get_by_role("row").filter(has_text="Community nursing")).to_contain_text(
        "Accepted"
    )
    expect(referrals.get_by_role("row").filter(has_text="Social care assessment")).to_contain_text(
        "Waiting for a response"
    )
    journey.reached(page, "cara-referrals")

    record_tab(page, "Care plan")
    path_is(page, "/people/mary/care-plan")
    expect(page.get_by_role("heading", name="No care plan yet")).to_be_visible()
    journey.reached(page, "care-plan-none")
    page.get_by_label("About Mary Example: a summary of what matters (optional)").fill(ABOUT_MARY)
    date_group(page, "When should the plan be reviewed? (optional)", day + timedelta(90))
    page.get_by_role("button", name="Create care plan").click()
    path_is(page, r"/people/mary/care-plan\?saved=created")
    success(page)
    expect(page.get_by_role("main")).to_contain_text(ABOUT_MARY)
    journey.reached(page, "care-plan-created")

    page.get_by_role("link", name="Add a goal").click()
    path_is(page, "/people/mary/care-plan/goals/new")
    expect(page.get_by_role("radio", name="Mary Example (the person)")).to_be_checked()
    journey.reached(page, "care-plan-goal-form")
    page.get_by_label("What is the goal?").fill(GOAL)
    date_group(page, "Target date (optional)", day + timedelta(days=60))
    page.get_by_role("button", name="Add goal").click()
    path_is(page, r"/people/mary/care-plan\?saved=goal-added")
    success(page)
    goals = page.locator("#goals + dl")
    expect(goals).to_contain_text(GOAL)
    expect(goals).to_contain_text("In the words of Mary Example")
    journey.reached(page, "care-plan-goal-added")

    menu(page, "MDT meetings")
    path_is(page, "/mdt")
    journey.reached(page, "mdt-meetings")
    page.get_by_role("button", name="Schedule a meeting").click()
    path_is(page, "/mdt/new")
    journey.reached(page, "mdt-schedule-form")
    page.get_by_label("Title", exact=True).fill(MEETING)
    date_group(page, "Date", day + timedelta(days=7))
    page.get_by_label("Start time").fill("10:30")
    page.get_by_label(re.compile(r"^(Place|Or type where it is)$")).fill(
        "Riverside Surgery, meeting room 2"
    )
    invited = page.get_by_role("group", name=re.compile(r"^Who else is invited"))
    community_staff = invited.locator("details").filter(has_text=COMMUNITY)
    community_staff.locator("summary").click()  # open the trust's list, as a person does
    community_staff.get_by_role("checkbox", name=re.compile(r"^Nina Nurse")).check()
    page.get_by_role("button", name="Schedule meeting").click()
    path_is(page, r"/mdt/[A-Za-z0-9\-.]+\?done=scheduled")
    success(page)
    meeting_url = page.url.split("?", 1)[0]
    attendees = page.get_by_role("table", name=re.compile(r"^People invited"))
    expect(attendees).to_contain_text("Cara Coordinator")
    expect(attendees).to_contain_text("Nina Nurse")
    journey.reached(page, "mdt-scheduled")

    page.get_by_role("button", name="Add a person to discuss").click()
    path_is(page, r"/mdt/[A-Za-z0-9\-.]+/people/add")
    journey.reached(page, "mdt-add-person")
    page.get_by_role("radio", name="Mary Example").first.check()
    page.get_by_label("Why should the meeting discuss them?").fill(MDT_REASON)
    page.get_by_role("button", name="Add to the list").click()
    path_is(page, r"/mdt/[A-Za-z0-9\-.]+\?done=added#people")
    assert page.url.split("?", 1)[0] == meeting_url
    listed = page.get_by_role("table", name=re.compile(r"^People on the meeting's list"))
    expect(listed.get_by_role("row").filter(has_text="Mary Example")).to_contain_text(MDT_REASON)
    journey.reached(page, "mdt-mary-on-list")


def mary_reads_her_plan(page: Page, journey: Journey, day: date) -> None:
    """Mary reads, on her own page, the plan Cara wrote."""
    sign_in(page, "mary", PASSWORD)
    menu(page, "My care")
    path_is(page, "/my-care")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your care")
    main = page.get_by_role("main")
    expect(main).to_contain_text("Cara Coordinator")
    expect(main).to_contain_text(ABOUT_MARY)
    goals = page.locator("h2:text-is('My goals') + ul")
    expect(goals).to_contain_text(GOAL)
    journey.reached(page, "mary-my-care")


def the_record_shows_the_journey(place: Place) -> None:
    """What the pages did is in the record as FHIR, as docs/care-coordination.md shapes it."""
    cara = place.access("cara.coord")
    assert read(cara, "Encounter", STAY)["status"] == "finished"
    referral_tasks = find(cara, "Task", [("patient", "Patient/mary"), ("code", "fulfill")])
    owners = {t["owner"]["reference"]: t["status"] for t in referral_tasks}
    assert owners == {"Organization/community": "accepted", "Organization/council": "requested"}
    [plan] = find(cara, "CarePlan", [("subject", "Patient/mary"), ("status", "active")])
    [goal_reference] = plan["goal"]
    goal_id = goal_reference["reference"].removeprefix("Goal/")
    assert read(cara, "Goal", goal_id)["description"]["text"] == GOAL
    [meeting] = find(cara, "Appointment", [("actor", "PractitionerRole/prr-nina")])
    assert (meeting["description"], meeting["status"]) == (MEETING, "booked")
    [discussion] = find(cara, "Communication", [("part-of", f"Appointment/{meeting['id']}")])
    assert discussion["subject"] == {"reference": "Patient/mary"}
    assert discussion["reasonCode"][0]["text"] == MDT_REASON
