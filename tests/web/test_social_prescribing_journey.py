"""A link worker's journey through social prescribing, as the people in it take it, in Debian's
Chromium against the real server, on SQLite and PostgreSQL, with JavaScript and without.

1. Dr Ann Example, Mary's GP, finds Mary from the social prescribing page and refers her for
   loneliness (first sending the form with no reason, which the error summary points out).
2. Pat Pathway, the network's link worker, finds the referral waiting on her list, accepts it,
   records the first contact and the "what matters to me" conversation, agrees a goal in
   Mary's words, records her wellbeing at the start (ONS4 and SWEMWBS, given on paper the day
   before), finds services for her needs nearest her postcode and connects her to the lunch
   club, records that she attended, records her wellbeing at the end and sees the change
   (the SWEMWBS metric score up 5.47), and ends her support, which tells the GP.
3. Dr Example sees the loop closed: a "Social prescribing outcome" notification, the referral
   completed on Mary's referrals page with the outcome, and on her own social prescribing
   list, "Support ended: outcome sent".

Every page reached is checked with axe-core (WCAG 2.2 A and AA: no serious or critical
violation) and photographed; the same journey then runs with JavaScript turned off. The
screenshots go to the pytest session's temporary folder, screenshots/social-prescribing-journey
(printed), never into the repository, each named by its step, the database and whether scripts
ran. The place: tests/web/social_prescribing_place.py.
"""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from careweave.coordination.record import find, today
from careweave.social_prescribing.closing import OUTCOME_NOTICE
from careweave.social_prescribing.wellbeing import ONS4_ITEMS, SWEMWBS_ANSWERS, SWEMWBS_ITEMS
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import ANALYST, LINK_WORKER
from tests.social_prescribing.test_pathway import told
from tests.web.browser import (
    MOBILE,
    database_kind,
    horizontal_scroll,
    save_screenshot,
    screenshots_fixture,
    sign_in,
    someone_at_a_computer,
)
from tests.web.journey_place import Journey, date_group, path_is, served_place
from tests.web.social_prescribing_place import ADMIN, social_prescribing_place
from tests.web.test_governance_pages import PASSWORD

pytestmark = pytest.mark.e2e

DETAILS = "Lives alone since her husband died; says the days are long."
WHAT_MATTERS = "Having someone to talk to, and getting out of the house on Tuesdays"
GOAL = "I want to have lunch with other people every week"
SUMMARY = "Goes to the lunch club every Tuesday and has made friends there."
START_ONS4 = (4, 5, 3, 7)
START_SWEMWBS = (2, 2, 3, 2, 3, 2, 3)  # raw 17, metric 16.88
END_ONS4 = (7, 7, 6, 3)
END_SWEMWBS = (3, 4, 3, 3, 4, 4, 4)  # raw 25, metric 22.35
REFERRAL = r"/people/mary/social-prescribing/[A-Za-z0-9\-.]+"
FITS = "document.scrollingElement.scrollWidth <= window.innerWidth"


place = served_place(social_prescribing_place)
screenshots = screenshots_fixture("social-prescribing-journey")


def menu(page: Page, item: str) -> None:
    """Go to `item` from the header menu. With JavaScript the menu's script moves the items
    that do not fit under "More" (and may do so again as the web font arrives), so, as a person
    would, open "More" when the item is not in sight."""
    nav = page.get_by_role("navigation", name="Menu")
    more = nav.get_by_role("button", name=re.compile(r"More$"))
    for _ in range(3):
        shown = nav.get_by_role("link", name=item, exact=True).filter(visible=True)
        if shown.count():
            try:
                shown.first.click(timeout=5000)
            except PlaywrightTimeout:
                continue
            return
        if more.is_visible() and more.get_attribute("aria-expanded") != "true":
            more.click()
    raise AssertionError(f"no {item!r} in the header menu")


def success(page: Page, words: str) -> None:
    expect(page.locator(".nhsuk-notification-banner--success")).to_contain_text(words)


def on_a_phone(page: Page, journey: Journey, name: str) -> None:
    """The page as it is on a phone: nothing wider than the screen (no sideways scrolling),
    photographed; then back to the desktop size."""
    desktop = page.viewport_size
    page.set_viewport_size(ViewportSize(width=MOBILE["width"], height=MOBILE["height"]))
    # The header's script rearranges the menu a moment after a resize: give the page that
    # moment to adapt (a page that stays too wide still fails).
    with suppress(PlaywrightTimeout):
        page.wait_for_function(FITS, timeout=5000)
    width, window = horizontal_scroll(page)
    assert width <= window, f"{name}: {width}px wide on a {window}px phone screen"
    mode = "js" if journey.javascript else "no-js"
    save_screenshot(page, journey.folder, f"{name}-phone-{journey.database}-{mode}")
    if desktop is not None:
        page.set_viewport_size(desktop)


def answer_wellbeing(page: Page, ons4: tuple[int, ...], swemwbs: tuple[int, ...]) -> None:
    """Tick each ONS4 question's score and each SWEMWBS statement's answer, as read out."""
    for question, score in zip(ONS4_ITEMS.values(), ons4, strict=True):
        group = page.get_by_role("group", name=question, exact=True)
        group.get_by_label(str(score), exact=True).check()
    for statement, score in zip(SWEMWBS_ITEMS.values(), swemwbs, strict=True):
        group = page.get_by_role("group", name=statement, exact=True)
        group.get_by_label(SWEMWBS_ANSWERS[score], exact=True).check()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_a_link_workers_journey_closes_the_loop_back_to_the_gp(
    chromium: Browser, place: Place, web: str, journey: Journey, javascript: bool
) -> None:
    day = today()
    for steps in (the_gp_refers_mary, the_link_worker_works_with_mary, the_gp_sees_the_loop_closed):
        with someone_at_a_computer(chromium, web, javascript) as page:
            steps(page, journey, day)
    the_record_shows_the_journey(place)


def the_gp_refers_mary(page: Page, journey: Journey, day: date) -> None:
    sign_in(page, "ann.gp", PASSWORD)
    menu(page, "Social prescribing")
    path_is(page, "/social-prescribing")
    journey.reached(page, "gp-social-prescribing")
    page.get_by_label("Find the person: name, date of birth or NHS number").fill("Mary Example")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name="Refer Mary Example").click()
    path_is(page, "/people/mary/social-prescribing/refer")
    journey.reached(page, "referral-form")

    page.get_by_label("Which social prescribing service?").select_option(
        label="Northshire Social Prescribing Network"
    )
    page.get_by_role("button", name="Send referral").click()
    errors = page.locator(".nhsuk-error-summary")
    expect(errors.get_by_role("link")).to_have_text(["Select at least one reason for the referral"])
    journey.reached(page, "referral-form-errors")

    page.get_by_role("checkbox", name="Loneliness or social isolation").check()
    page.get_by_label("What should the link worker know? (optional)").fill(DETAILS)
    page.get_by_role("button", name="Send referral").click()
    path_is(page, REFERRAL + r"\?done=referred")
    success(page, "Your referral has been sent")
    expect(page.get_by_role("main")).to_contain_text("Waiting for the link worker")
    journey.reached(page, "referral-sent")


def the_link_worker_works_with_mary(page: Page, journey: Journey, day: date) -> None:
    sign_in(page, LINK_WORKER, PASSWORD)
    menu(page, "Social prescribing")
    path_is(page, "/social-prescribing")
    waiting = page.get_by_role("table", name=re.compile(r"^Referrals waiting for triage"))
    row = waiting.get_by_role("row").filter(has_text="Mary Example")
    expect(row).to_contain_text("Loneliness or social isolation")
    expect(row).to_contain_text("Dr Ann Example")
    journey.reached(page, "lw-list-waiting")
    row.get_by_role("link", name="Mary Example").click()
    path_is(page, REFERRAL)
    expect(page.get_by_role("main")).to_contain_text(DETAILS)
    journey.reached(page, "lw-referral")
    page.get_by_role("button", name="Accept referral").click()
    path_is(page, REFERRAL + r"\?done=accepted")
    success(page, "You have accepted the referral")
    journey.reached(page, "lw-accepted")
    episode = page.url.split("?", 1)[0]

    page.get_by_role("link", name="Record the first contact").click()
    journey.reached(page, "first-contact-form")
    page.get_by_role("radio", name="By phone").check()
    page.get_by_label("Notes (optional)").fill("Rang her at home; she would like a visit.")
    page.get_by_role("button", name="Record first contact").click()
    path_is(page, REFERRAL + r"\?done=contact")
    success(page, "The first contact has been recorded")

    page.get_by_role("link", name='Record a "what matters to me" conversation').click()
    journey.reached(page, "what-matters-form")
    page.get_by_role("radio", name="In person").check()
    page.get_by_label("What matters to Mary Example, in their own words").fill(WHAT_MATTERS)
    page.get_by_role("button", name="Record conversation").click()
    path_is(page, REFERRAL + r"\?done=what-matters")
    expect(page.locator("#what-matters + blockquote")).to_contain_text(WHAT_MATTERS)

    page.get_by_role("link", name="Add goals to the plan, in Mary Example's words").click()
    journey.reached(page, "goals-form")
    page.get_by_label("Goal 1", exact=True).fill(GOAL)
    page.get_by_role("button", name="Add goals").click()
    path_is(page, REFERRAL + r"\?done=goals")
    journey.reached(page, "goals-added")

    # Wellbeing at the start: Mary filled in the forms on paper yesterday.
    page.get_by_role("link", name="Record wellbeing answers (ONS4 and SWEMWBS)").click()
    expect(page.get_by_role("heading", name="Record wellbeing at the start")).to_be_visible()
    journey.reached(page, "wellbeing-start-form")
    on_a_phone(page, journey, "wellbeing-start-form")
    answer_wellbeing(page, START_ONS4, START_SWEMWBS)
    date_group(page, "When were the answers given? (optional)", day - timedelta(days=1))
    page.get_by_role("button", name="Record answers").click()
    path_is(page, REFERRAL + r"\?done=wellbeing(#wellbeing)?")
    swemwbs = page.get_by_role("table", name=re.compile(r"^Short Warwick-Edinburgh"))
    expect(swemwbs).to_contain_text("16.88")
    expect(swemwbs).to_contain_text("Not measured again yet")
    journey.reached(page, "wellbeing-start-recorded")

    # Services for her needs, nearest her home: the connect page starts from her postcode.
    page.get_by_role("link", name="Connect Mary Example to a community service").click()
    expect(page.get_by_label("Postcode to search from")).to_have_value("QX1 1AA")
    expect(page.get_by_role("checkbox", name="Lunch clubs")).to_be_checked()
    lunch = page.locator(".nhsuk-card").filter(has_text="Lunch club").first
    expect(lunch).to_contain_text("0.7 miles")
    expect(lunch).to_contain_text("Tuesday, 11:30 to 14:00")
    journey.reached(page, "connect-search")
    on_a_phone(page, journey, "connect-search")
    page.get_by_role("checkbox", name="Befriending").uncheck()
    page.get_by_label("How far can they travel?").select_option(label="Within 2 miles")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="1 service found")).to_be_visible()
    journey.reached(page, "connect-narrowed")
    page.get_by_role("button", name="Connect to Lunch club").click()
    path_is(page, REFERRAL + r"\?done=connected")
    success(page, "The connection has been made")
    connections = page.get_by_role("table", name=re.compile(r"^Services Mary Example has been"))
    expect(connections).to_contain_text("Waiting for the service")
    journey.reached(page, "connected")

    connections.get_by_role("link", name=re.compile(r"^Record the outcome")).click()
    path_is(page, r"/social-prescribing/connections/[A-Za-z0-9\-.]+")
    journey.reached(page, "outcome-form")
    page.get_by_role("radio", name="Attended", exact=True).check()
    page.get_by_role("button", name="Record outcome").click()
    path_is(page, REFERRAL + r"\?done=outcome")
    expect(connections).to_contain_text("Attended")

    page.get_by_role("link", name="Record wellbeing answers (ONS4 and SWEMWBS)").click()
    expect(page.get_by_role("heading", name="Record wellbeing again")).to_be_visible()
    answer_wellbeing(page, END_ONS4, END_SWEMWBS)
    page.get_by_role("button", name="Record answers").click()
    path_is(page, REFERRAL + r"\?done=wellbeing(#wellbeing)?")
    expect(swemwbs).to_contain_text("22.35")
    expect(swemwbs).to_contain_text("+5.47 (better)")
    ons4 = page.get_by_role("table", name=re.compile(r"^ONS personal wellbeing"))
    expect(ons4.get_by_role("row").filter(has_text="Anxiety yesterday")).to_contain_text(
        "-4 (better)"
    )
    journey.reached(page, "wellbeing-change")
    on_a_phone(page, journey, "wellbeing-change")

    page.get_by_role("link", name="End social prescribing support").click()
    path_is(page, REFERRAL + "/close")
    expect(page.get_by_role("main")).to_contain_text("Lunch club - attended")
    journey.reached(page, "close-form")
    page.get_by_role("radio", name="Support complete").check()
    page.get_by_label("Your summary for the referrer (optional)").fill(SUMMARY)
    page.get_by_role("button", name="End support and tell the referrer").click()
    path_is(page, r"/social-prescribing\?done=closed")
    success(page, "The referrer has been sent the outcome")
    journey.reached(page, "lw-support-ended")
    assert page.goto(episode) is not None
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def the_gp_sees_the_loop_closed(page: Page, journey: Journey, day: date) -> None:
    sign_in(page, "ann.gp", PASSWORD)
    menu(page, "Notifications")
    path_is(page, "/notifications")
    notice = page.get_by_role("row").filter(has_text="Social prescribing outcome")
    expect(notice).to_contain_text("Mary Example")
    expect(notice).to_contain_text("Social prescribing ended: support complete")
    journey.reached(page, "gp-notified")
    notice.get_by_role("link").first.click()
    path_is(page, "/people/mary/referrals")
    referrals = page.get_by_role("table", name=re.compile(r"^Referrals made for Mary"))
    row = referrals.get_by_role("row").filter(
        has=page.get_by_role("link", name="Social prescribing", exact=True)
    )
    expect(row).to_contain_text("Completed")
    journey.reached(page, "gp-referrals")
    row.get_by_role("link", name="Social prescribing").click()
    path_is(page, r"/tasks/[A-Za-z0-9\-.]+")
    expect(page.get_by_role("main")).to_contain_text("Lunch club - attended")
    expect(page.get_by_role("main")).to_contain_text(SUMMARY)
    journey.reached(page, "gp-outcome")

    menu(page, "Social prescribing")
    made = page.get_by_role("table", name=re.compile(r"^Your referrals to social prescribing"))
    expect(made.get_by_role("row").filter(has_text="Mary Example")).to_contain_text(
        "Support ended: outcome sent"
    )
    made.get_by_role("link", name="Mary Example").click()
    path_is(page, REFERRAL)
    expect(page.get_by_role("main")).to_contain_text("Yes, the outcome below was sent to them")
    expect(page.get_by_role("main")).to_contain_text("SWEMWBS metric score 16.88 to 22.35 (+5.47)")
    journey.reached(page, "gp-episode-ended")


def the_record_shows_the_journey(place: Place) -> None:
    """What the pages did is in the record as docs/social-prescribing.md shapes it."""
    gp = place.access("ann.gp")
    [referral] = find(
        gp, "ServiceRequest", [("patient", "Patient/mary"), ("code", "871731000000106")]
    )
    assert referral["status"] == "completed"
    assert [c["coding"][0]["code"] for c in referral["reasonCode"]] == ["loneliness"]
    [task] = find(gp, "Task", [("focus", f"ServiceRequest/{referral['id']}")])
    assert task["status"] == "completed"
    assert "Lunch club - attended" in task["output"][0]["valueString"]
    assert told(place, OUTCOME_NOTICE) == [
        ("ann.gp", "mary", "Social prescribing ended: support complete")
    ]


def test_the_directory_upkeep_and_report_pages_are_accessible(
    chromium: Browser, place: Place, web: str, database_url: str, screenshots: Path
) -> None:
    """The pages the journey does not pass through, each checked with axe-core in the states
    people meet them in (results, errors, a conflict), on a desktop and on a phone."""
    folder = screenshots / "other-pages"
    folder.mkdir(exist_ok=True)
    journey = Journey(folder, database_kind(database_url), javascript=True)
    with someone_at_a_computer(chromium, web, javascript=True) as page:
        sign_in(page, LINK_WORKER, PASSWORD)
        menu(page, "Community services")
        path_is(page, "/directory")
        journey.reached(page, "directory")
        page.get_by_role("checkbox", name="Befriending").check()
        page.get_by_label("Postcode to search from").fill("QX1 1AA")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("heading", name="2 services found")).to_be_visible()
        journey.reached(page, "directory-results")
        on_a_phone(page, journey, "directory-results")
        page.get_by_label("Postcode to search from").fill("Ashby")
        page.get_by_role("button", name="Search").click()
        expect(page.locator(".nhsuk-error-summary")).to_contain_text("'Ashby' is not a postcode")
        journey.reached(page, "directory-errors")
        page.goto("/directory/services/lunch")
        journey.reached(page, "directory-service")
    with someone_at_a_computer(chromium, web, javascript=True) as page:
        sign_in(page, ADMIN, PASSWORD)
        menu(page, "Directory entries to check")
        journey.reached(page, "upkeep-organisations")
        page.get_by_role("link", name="Mill Lane Walkers").click()
        journey.reached(page, "upkeep-stale")
        row = page.get_by_role("row").filter(has_text="Telephone friends")
        row.get_by_role("button", name=re.compile(r"^Checked, still correct")).click()
        success(page, "recorded as checked and still correct")
        journey.reached(page, "upkeep-checked")
        page.goto("/directory/services/lunch/edit")
        page.get_by_label("Email address (optional)").fill("lunch at brook")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter an email address")
        journey.reached(page, "service-edit-errors")
        page.goto("/directory/services/walk/access")
        journey.reached(page, "service-access-form")
        page.goto("/directory/services/walk/close")
        journey.reached(page, "service-close-form")
    with someone_at_a_computer(chromium, web, javascript=True) as page:
        sign_in(page, ANALYST, PASSWORD)
        menu(page, "Social prescribing reports")
        page.get_by_role("button", name="Show report").click()
        expect(page.get_by_role("table").first).to_be_visible()
        journey.reached(page, "service-report")
        on_a_phone(page, journey, "service-report")
