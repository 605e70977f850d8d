"""The pages issue 7's last points added, in Debian's Chromium with axe-core (WCAG 2.2 A and
AA) on the real server, on both databases: Mary refers herself to social prescribing from "My
care" (the server started in a place that takes self-referrals), with errors and then sent;
Vic Volunteer changes his organisation's opening times, with errors first; the record's
"Social prescribing" tab takes Mary's GP to her social prescribing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from careweave.settings import SELF_REFERRAL_SERVICE_SETTING, SELF_REFERRAL_SETTING
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import SERVICE_ORG, VOLUNTEER
from tests.web.browser import (
    database_kind,
    screenshots_for,
    sign_in,
    someone_at_a_computer,
    web_root,
)
from tests.web.journey_place import Journey, path_is, served_place
from tests.web.social_prescribing_place import social_prescribing_place
from tests.web.test_governance_pages import PASSWORD


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """The pages' base URL on a server started (as `careweave serve`, which inherits this
    environment) in a place that takes self-referrals to the network."""
    monkeypatch.setenv(SELF_REFERRAL_SETTING, "on")
    monkeypatch.setenv(SELF_REFERRAL_SERVICE_SETTING, SERVICE_ORG)
    base: str = request.getfixturevalue("live_server")
    return web_root(base)


place = served_place(social_prescribing_place)


@pytest.fixture
def journey(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Journey:
    folder = screenshots_for(tmp_path_factory, "self-referral-and-upkeep")
    return Journey(folder, database_kind(database_url), javascript=True)


def test_the_new_pages_work_and_are_accessible(
    chromium: Browser, web: str, place: Place, journey: Journey
) -> None:
    with someone_at_a_computer(chromium, web) as page:
        sign_in(page, "mary", PASSWORD)
        page.goto("/my-care")
        page.get_by_role("link", name="Refer myself to social prescribing").click()
        path_is(page, "/my-care/social-prescribing")
        journey.reached(page, "self-referral-form")
        page.get_by_role("radio", name="By phone").check()
        page.get_by_label("Your phone number or email address").fill("12")
        page.get_by_role("button", name="Send my referral").click()
        summary = page.locator(".nhsuk-error-summary")
        expect(summary).to_contain_text("Select at least one thing you would like help with")
        expect(summary).to_contain_text("Enter a phone number")
        journey.reached(page, "self-referral-errors")
        page.get_by_role("checkbox", name="I feel lonely or cut off from people").check()
        page.get_by_label("Your phone number or email address").fill("07700 900982")
        page.get_by_role("button", name="Send my referral").click()
        path_is(page, r"/my-care\?done=referred")
        expect(page.locator(".nhsuk-notification-banner--success")).to_contain_text(
            "Your referral has been sent"
        )
        expect(page.get_by_text("Waiting for a link worker to contact you.")).to_be_visible()
        journey.reached(page, "self-referral-sent")
        page.goto("/my-care/social-prescribing")
        expect(page.get_by_text("You have already been referred")).to_be_visible()
        journey.reached(page, "self-referral-already-referred")

    with someone_at_a_computer(chromium, web) as page:
        sign_in(page, VOLUNTEER, PASSWORD)
        page.goto("/directory/upkeep")
        journey.reached(page, "upkeep-own-organisation")
        page.goto("/directory/services/lunch")
        page.get_by_role("link", name="Change the opening times").click()
        path_is(page, "/directory/services/lunch/times")
        journey.reached(page, "opening-times-form")
        page.get_by_label("Monday").fill("25:00 to 26:00")
        page.get_by_role("button", name="Save opening times").click()
        expect(page.locator(".nhsuk-error-summary")).to_contain_text(
            "Monday: '25:00' is not a time of day"
        )
        journey.reached(page, "opening-times-errors")
        page.get_by_label("Monday").fill("10:00 to 12:00")
        page.get_by_role("button", name="Save opening times").click()
        path_is(page, r"/directory/services/lunch\?done=changed")
        expect(page.get_by_text("Monday, 10:00 to 12:00")).to_be_visible()

    with someone_at_a_computer(chromium, web) as page:
        sign_in(page, "ann.gp", PASSWORD)
        page.goto("/people/mary")
        record = page.get_by_role("navigation", name="Mary Example's record")
        record.get_by_role("link", name="Social prescribing").click()
        path_is(page, "/people/mary/social-prescribing")
        expect(page.get_by_text("by the person themselves")).to_be_visible()
        journey.reached(page, "record-social-prescribing-tab")
