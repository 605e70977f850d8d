"""The web pages in a real browser against the real server, on SQLite and PostgreSQL: signing
in by keyboard, a GP's emergency access, the Caldicott guardian's review, who has looked at a
person's record, the same without JavaScript and on a phone, the 404 page, and the
Content-Security-Policy.

Every page is checked with axe-core (WCAG 2.2 A and AA): a serious or critical violation fails
the test. Screenshots of each page go to the pytest base temporary folder (printed), named after
the page and the database. The helpers are in tests/web/browser.py.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select, update

from careweave.access import break_glass
from careweave.access.accounts import UserAccount, add_user, get_user, principal_for_user
from careweave.access.audit import AuditRecord, AuditTrail
from careweave.access.passwords import hash_password
from careweave.access.scopes import Scopes
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.access.tokens import issue_token
from careweave.fhir.nhs_number import NHS_NUMBER_SYSTEM
from careweave.store.access_tables import audit_log, user_account
from careweave.store.access_tables import break_glass as break_glass_table
from careweave.store.database import Database, as_datetime, open_database
from careweave.store.repository import FhirStore
from tests.web.browser import (
    MOBILE,
    axe_violations,
    check_accessible,
    content_security_problems,
    database_kind,
    focus_is_on,
    focused,
    horizontal_scroll,
    new_page,
    require,
    save_screenshot,
    sign_in,
    someone_at_a_computer,
    web_root,
)

pytestmark = pytest.mark.e2e

PASSWORD = "kettle orchard lantern"
LONDON = ZoneInfo("Europe/London")
MARY_NHS_NUMBER = "9990000018"
SID_NHS_NUMBER = "9990000034"
# A summer day: London is an hour ahead of UTC (in November, when these tests were written,
# London time and UTC are the same, so only a summer entry shows the conversion is done).
JULY = datetime(2026, 7, 14, 13, 5, tzinfo=UTC)
EMERGENCY = "Brought in unconscious after a fall; need allergies and medicines now"
ANNS_EMERGENCY = "Collapsed in the waiting room; needs medicines history now"


def london(moment: datetime) -> str:
    """How the pages should print a moment: "Tuesday 14 July 2026, 14:05" (worked out here,
    not with careweave.web.wording, so a mistake there cannot cancel out)."""
    local = moment.astimezone(LONDON)
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}"


def utc(stored: Any) -> datetime:
    """A stored naive-UTC time as an aware datetime."""
    return as_datetime(stored).replace(tzinfo=UTC)


@functools.cache
def _password_hash() -> str:
    """One real argon2 hash shared by every account (hashing costs a third of a second here;
    every sign-in through the form still verifies against it on the server)."""
    return hash_password(PASSWORD)


@dataclass(frozen=True)
class Place:
    """A practice, two people, a carer, two GPs (one the Caldicott guardian) and the server."""

    web: str  # the server's root, where the pages are
    fhir: str  # the FHIR base URL
    database: Database
    store: FhirStore

    def user(self, username: str) -> UserAccount:
        account = get_user(self.database, username)
        assert account is not None, username
        return account

    def grant_row(self, pk: int) -> Any:
        with self.database.read() as conn:
            return conn.execute(select(break_glass_table).where(break_glass_table.c.pk == pk)).one()

    def anns_read_of_mary(self) -> datetime:
        """When Dr Ann's read of Mary's record through the API was recorded."""
        with self.database.read() as conn:
            recorded = conn.execute(
                select(audit_log.c.recorded)
                .where(audit_log.c.username == "ann.gp", audit_log.c.patient_id == "p1")
                .order_by(audit_log.c.seq.desc())
            ).first()
        assert recorded is not None, "the API read left no audit entry"
        return utc(recorded[0])

    def anns_grant(self) -> int:
        """Dr Ann breaks the glass for Sid Stranger (another practice's patient), as the form
        would, so that the guardian has someone else's emergency access to review."""
        principal = principal_for_user(self.user("ann.gp"))
        grant = break_glass.start(
            self.database, self.store, principal, "p3", "emergency-treatment", ANNS_EMERGENCY
        )
        return grant.pk


def _patient(resource_id: str, nhs_number: str, given: str, family: str, practice: str) -> Any:
    return {
        "resourceType": "Patient",
        "id": resource_id,
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
        "name": [{"use": "official", "given": [given], "family": family}],
        "generalPractitioner": [{"reference": f"Organization/{practice}"}],
    }


def _account(store: FhirStore, username: str, display_name: str, role: str, **links: Any) -> None:
    pk = add_user(store.database, username, display_name, role, store=store, **links)
    with store.database.write() as conn:
        conn.execute(
            update(user_account)
            .where(user_account.c.pk == pk)
            .values(password_hash=_password_hash())
        )


def _load_place(store: FhirStore, fhir: str) -> None:
    for organisation_id, name in (
        ("practice-1", "Riverside Surgery"),
        ("practice-2", "Hilltop Practice"),
    ):
        store.update(
            "Organization",
            organisation_id,
            {"resourceType": "Organization", "id": organisation_id, "name": name},
        )
    store.update("Patient", "p1", _patient("p1", MARY_NHS_NUMBER, "Mary", "Example", "practice-1"))
    store.update("Patient", "p3", _patient("p3", SID_NHS_NUMBER, "Sid", "Stranger", "practice-2"))
    store.update(
        "RelatedPerson",
        "rp1",
        {
            "resourceType": "RelatedPerson",
            "id": "rp1",
            "patient": {"reference": "Patient/p1"},
            "name": [{"given": ["Carl"], "family": "Carer"}],
        },
    )
    save_agreement(store.database, "Riverside shared care record", DEFAULT_TERMS)
    _account(
        store,
        "gina.gp",
        "Dr Gina Guardian",
        "gp",
        organisation_id="practice-1",
        caldicott_guardian=True,
    )
    _account(store, "ann.gp", "Dr Ann Example", "gp", organisation_id="practice-1")
    _account(store, "mary", "Mary Example", "patient", patient_id="p1")
    _account(store, "carl", "Carl Carer", "carer", patient_id="p1", related_person_id="rp1")
    # Dr Ann looked at Mary's conditions on a summer's day, when London is an hour ahead of
    # UTC (recorded first: the page lists entries in the order the trail recorded them).
    ann_account = get_user(store.database, "ann.gp")
    assert ann_account is not None
    ann = principal_for_user(ann_account)
    AuditTrail(store.database).record(
        [
            AuditRecord.for_principal(
                ann, event="read", patient_id="p1", entity="Condition/c1", recorded=JULY
            )
        ]
    )
    # Dr Ann reads Mary's record through the API, as her GP system would: an audit entry now.
    token = issue_token(
        store.database, Scopes.parse("user/*.rs"), username="ann.gp", client_name="browser tests"
    ).token
    read = requests.get(
        f"{fhir}/Patient/p1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert read.status_code == 200, read.text


@pytest.fixture
def place(live_server: str, database_url: str) -> Iterator[Place]:
    database = open_database(database_url)
    try:
        store = FhirStore(database)
        _load_place(store, live_server)
        yield Place(web_root(live_server), live_server, database, store)
    finally:
        database.dispose()


@dataclass(frozen=True)
class Screenshots:
    folder: Path
    database: str

    def take(self, page: Page, name: str) -> Path:
        return save_screenshot(page, self.folder, f"{name}-{self.database}")


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Screenshots:
    """Screenshots go outside the repository (it does not ignore a folder for them yet)."""
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    print(f"screenshots: {folder}")
    return Screenshots(folder, database_kind(database_url))


def axe_page(chromium: Browser, place: Place, **options: Any) -> AbstractContextManager[Page]:
    """A page for axe checks: axe is injected as an inline script, which the server's
    Content-Security-Policy forbids, so its context bypasses the policy. The check is of the
    page, not of the policy; test_pages_break_no_content_security_policy checks that."""
    return someone_at_a_computer(chromium, place.web, javascript=True, **options)


def submit(page: Page, button: Locator) -> None:
    """Press a form's button and wait for the page the server answers with (which may be the
    same address again, with errors)."""
    with page.expect_navigation():
        button.click()


def summary_links(page: Page) -> list[str]:
    return [text.strip() for text in page.locator(".nhsuk-error-summary a").all_inner_texts()]


# --- 1. Signing in ---------------------------------------------------------------------------


def test_sign_in_by_keyboard_with_errors_that_take_you_to_the_fields(
    chromium: Browser, place: Place, shots: Screenshots
) -> None:
    with axe_page(chromium, place) as page:
        response = page.goto("/sign-in")
        assert response is not None and response.status == 200
        check_accessible(page, "the sign-in page")
        shots.take(page, "sign-in")

        stops = []
        for _ in range(6):
            page.keyboard.press("Tab")
            stops.append(focused(page))
        assert stops == [
            "a: Skip to main content",
            "a: careweave",
            "input#username",
            "input#password",
            "button: Show password",  # the password input's Show button, once JavaScript runs
            "button: Sign in",
        ]

        # Submitting the empty form (Enter on the button) lists both fields, focused first.
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.title().startswith("Error: Sign in")
        assert focus_is_on(page, ".nhsuk-error-summary")
        assert summary_links(page) == ["Enter your username", "Enter your password"]
        page.keyboard.press("Tab")
        assert focused(page) == "a: Enter your username"
        page.keyboard.press("Enter")
        assert focused(page) == "input#username"
        page.keyboard.press("Shift+Tab")
        assert focused(page) == "a: Enter your password"
        page.keyboard.press("Enter")
        assert focused(page) == "input#password"
        check_accessible(page, "the sign-in page with errors")
        shots.take(page, "sign-in-errors")

        # A wrong password: the username typed is kept, the password is not.
        page.keyboard.press("Shift+Tab")
        assert focused(page) == "input#username"
        page.keyboard.type("ann.gp")
        page.keyboard.press("Tab")
        page.keyboard.type("not the password")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert summary_links(page) == ["Enter a correct username and password"]
        assert focus_is_on(page, ".nhsuk-error-summary")
        assert page.locator("#username").input_value() == "ann.gp"
        assert page.locator("#password").input_value() == ""

        # Then the right one, still by keyboard, signs in.
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # the summary's link to the username field
        page.keyboard.press("Tab")
        assert focused(page) == "input#password"
        page.keyboard.type(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/home$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("You are signed in")


# --- 2. A GP's emergency access, and the Caldicott guardian's review -------------------------


def test_a_gp_breaks_the_glass_and_the_guardian_reviews_another_gps(
    chromium: Browser, place: Place, shots: Screenshots
) -> None:
    with axe_page(chromium, place) as page:
        sign_in(page, "gina.gp", PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("You are signed in")
        expect(page.get_by_role("link", name="Review access to records")).to_be_visible()
        check_accessible(page, "home (a GP who is Caldicott guardian)")
        shots.take(page, "home-gp")

        page.get_by_role("link", name="Get emergency access to a record").click()
        page.wait_for_url(re.compile(r"/break-glass$"))
        check_accessible(page, "the break-glass form")
        shots.take(page, "break-glass")
        submit(page, page.get_by_role("button", name="Get emergency access"))
        assert page.url.endswith("/break-glass")
        assert summary_links(page) == [
            "Enter the person's NHS number",
            "Select why you need emergency access",
            "Describe the emergency",
        ]
        check_accessible(page, "the break-glass form with errors")

        page.get_by_label("NHS number").fill("999 000 0034")
        page.get_by_label(break_glass.REASONS["unable-to-consent"]).check()
        page.get_by_label("Describe the emergency").fill(EMERGENCY)
        page.get_by_role("button", name="Get emergency access").click()
        page.wait_for_url(re.compile(r"/break-glass/\d+$"))
        gina_grant = int(page.url.rsplit("/", 1)[1])
        row = place.grant_row(gina_grant)
        assert (row.patient_id, row.reason_code, row.reason_text) == (
            "p3",
            "unable-to-consent",
            EMERGENCY,
        )
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "You have emergency access to Sid Stranger's record"
        )
        expect(page.locator(".nhsuk-panel__body")).to_have_text(f"Until {london(utc(row.expires))}")
        expect(page.locator(".nhsuk-summary-list")).to_contain_text("999 000 0034")
        check_accessible(page, "the break-glass confirmation")
        shots.take(page, "break-glass-granted")

        # Dr Ann, the other GP at the practice, broke the glass too: Dr Gina reviews it.
        anns = place.anns_grant()
        page.goto("/governance/review")
        expect(page.get_by_role("heading", level=1)).to_have_text("Review access to records")
        own = page.locator(f"#grant-{gina_grant}")
        expect(own).to_contain_text("This is your own emergency access")
        expect(own.get_by_role("button")).to_have_count(0)
        check_accessible(page, "the guardian's review page")
        shots.take(page, "governance-review")

        card = page.locator(f"#grant-{anns}")
        expect(card.get_by_role("heading")).to_have_text(
            "Dr Ann Example opened Sid Stranger's record"
        )
        submit(page, card.get_by_role("button", name=re.compile(r"^Save review")))
        assert page.url.endswith(f"/governance/review/{anns}")
        assert summary_links(page) == ["Select whether this emergency access was appropriate"]
        check_accessible(page, "the guardian's review page with an error")

        card = page.locator(f"#grant-{anns}")
        card.get_by_label("Appropriate", exact=True).check()
        card.get_by_label("Note (optional)").fill("Checked with the practice manager")
        card.get_by_role("button", name=re.compile(r"^Save review")).click()
        page.wait_for_url(re.compile(rf"/governance/review\?reviewed={anns}$"))
        banner = page.locator(".nhsuk-notification-banner--success")
        expect(banner).to_contain_text(
            "Review saved: Dr Ann Example's emergency access to Sid Stranger's record was "
            "judged appropriate"
        )
        reviewed = place.grant_row(anns)
        assert reviewed.review_outcome == "appropriate"
        assert reviewed.reviewed_by == place.user("gina.gp").pk
        assert reviewed.review_note == "Checked with the practice manager"
        check_accessible(page, "the guardian's review page after a review")
        shots.take(page, "governance-review-saved")


# --- 3. Who has looked at my record ----------------------------------------------------------


def test_a_person_and_their_carer_see_the_gps_access_in_london_time(
    chromium: Browser, place: Place, shots: Screenshots
) -> None:
    read = place.anns_read_of_mary()
    with axe_page(chromium, place) as page:
        sign_in(page, "mary", PASSWORD)
        page.get_by_role("link", name="Who has looked at your record").click()
        page.wait_for_url(re.compile(r"/my-record/access$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Who has looked at your record")
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(2)
        newest, summer = rows.nth(0), rows.nth(1)
        for row in (newest, summer):
            expect(row).to_contain_text("Dr Ann Example")
            expect(row).to_contain_text("GP")
            expect(row).to_contain_text("Riverside Surgery")
        expect(newest).to_contain_text(london(read))
        expect(newest).to_contain_text("Looked at your record")
        expect(summer).to_contain_text("Tuesday 14 July 2026, 14:05")  # 13:05 UTC in summer
        expect(summer).to_contain_text("Looked at your health conditions")
        check_accessible(page, "who has looked at your record (the person)")
        shots.take(page, "my-record-access-patient")

    with axe_page(chromium, place) as page:
        sign_in(page, "carl", PASSWORD)
        page.get_by_role(
            "link", name="Who has looked at the record of the person you care for"
        ).click()
        page.wait_for_url(re.compile(r"/my-record/access$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Who has looked at Mary Example's record"
        )
        expect(page.locator(".nhsuk-inset-text")).to_contain_text(
            "You are signed in as a carer for Mary Example"
        )
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("Dr Ann Example")
        expect(rows.nth(0)).to_contain_text(london(read))
        expect(rows.nth(0)).to_contain_text("Looked at their record")
        check_accessible(page, "who has looked at the record (the carer)")
        shots.take(page, "my-record-access-carer")


# --- 4. Without JavaScript -------------------------------------------------------------------


def _no_script(chromium: Browser, place: Place) -> AbstractContextManager[Page]:
    return someone_at_a_computer(chromium, place.web, javascript=False)


def test_every_page_and_form_works_without_javascript(
    chromium: Browser, place: Place, shots: Screenshots
) -> None:
    with _no_script(chromium, place) as page:
        page.goto("/sign-in")
        assert "js-enabled" not in (page.locator("body").get_attribute("class") or "")
        # nhsuk-frontend only reveals the password's Show button when its script runs.
        expect(page.locator(".nhsuk-password-input__toggle")).to_be_hidden()
        submit(page, page.get_by_role("button", name="Sign in", exact=True))
        assert page.url.endswith("/sign-in")
        expect(page.locator(".nhsuk-error-summary")).to_be_visible()
        assert summary_links(page) == ["Enter your username", "Enter your password"]
        expect(page.locator("#username-error")).to_contain_text("Enter your username")
        shots.take(page, "sign-in-errors-no-js")

        sign_in(page, "ann.gp", PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("You are signed in")
        page.get_by_role("link", name="Get emergency access to a record").click()
        page.wait_for_url(re.compile(r"/break-glass$"))
        page.get_by_label("NHS number").fill("9990000034")
        page.get_by_label(break_glass.REASONS["emergency-treatment"]).check()
        page.get_by_label("Describe the emergency").fill(ANNS_EMERGENCY)
        page.get_by_role("button", name="Get emergency access").click()
        page.wait_for_url(re.compile(r"/break-glass/\d+$"))
        anns = int(page.url.rsplit("/", 1)[1])
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "You have emergency access to Sid Stranger's record"
        )
        assert place.grant_row(anns).user_pk == place.user("ann.gp").pk
        shots.take(page, "break-glass-granted-no-js")
        page.get_by_role("button", name="Sign out").first.click()
        page.wait_for_url(re.compile(r"/signed-out$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("You have signed out")

    with _no_script(chromium, place) as page:
        sign_in(page, "gina.gp", PASSWORD)
        page.get_by_role("link", name="Review access to records").click()
        page.wait_for_url(re.compile(r"/governance/review$"))
        card = page.locator(f"#grant-{anns}")
        card.get_by_label("Needs follow-up").check()
        card.get_by_label("Note (optional)").fill("Asked Dr Ann for the ward's notes")
        card.get_by_role("button", name=re.compile(r"^Save review")).click()
        page.wait_for_url(re.compile(rf"/governance/review\?reviewed={anns}$"))
        expect(page.locator(".nhsuk-notification-banner--success")).to_contain_text(
            "Review saved: Dr Ann Example's emergency access to Sid Stranger's record"
        )
        assert place.grant_row(anns).review_outcome == "needs-follow-up"
        shots.take(page, "governance-review-saved-no-js")

    for username, heading in (
        ("mary", "Who has looked at your record"),
        ("carl", "Who has looked at Mary Example's record"),
    ):
        with _no_script(chromium, place) as page:
            sign_in(page, username, PASSWORD)
            page.get_by_role("link", name=re.compile(r"^Who has looked at")).click()
            page.wait_for_url(re.compile(r"/my-record/access$"))
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            expect(page.locator("tbody tr").first).to_contain_text("Dr Ann Example")

    with _no_script(chromium, place) as page:
        response = page.goto("/no-such-page")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")


# --- 5. On a phone ---------------------------------------------------------------------------


def test_sign_in_and_home_fit_a_phone_screen(
    chromium: Browser, place: Place, shots: Screenshots
) -> None:
    with axe_page(chromium, place, viewport=MOBILE, is_mobile=True, has_touch=True) as page:
        page.goto("/sign-in")
        scroll_width, window_width = horizontal_scroll(page)
        assert scroll_width <= window_width, "the sign-in page scrolls sideways on a phone"
        check_accessible(page, "the sign-in page on a phone")
        shots.take(page, "sign-in-phone")

        sign_in(page, "mary", PASSWORD)
        scroll_width, window_width = horizontal_scroll(page)
        assert scroll_width <= window_width, "the home page scrolls sideways on a phone"
        check_accessible(page, "home on a phone")
        shots.take(page, "home-phone")

        # The audit table is the widest thing on any page so far: it stacks on a phone.
        page.goto("/my-record/access")
        scroll_width, window_width = horizontal_scroll(page)
        assert scroll_width <= window_width, "who has looked at your record scrolls sideways"
        shots.take(page, "my-record-access-phone")


# --- 6. Error pages --------------------------------------------------------------------------


def test_an_unknown_page_is_a_readable_404(
    chromium: Browser, place: Place, shots: Screenshots
) -> None:
    with axe_page(chromium, place) as page:
        response = page.goto("/no-such-page")
        assert response is not None and response.status == 404
        assert page.title() == "Page not found \N{EN DASH} careweave"
        expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
        expect(page.get_by_role("main")).to_contain_text("check it is correct")
        check_accessible(page, "the 404 page")
        shots.take(page, "not-found")
        page.get_by_role("link", name="Go to the careweave home page").click()
        page.wait_for_url(re.compile(r"/sign-in$"))


# --- The Content-Security-Policy -------------------------------------------------------------


def test_pages_break_no_content_security_policy(chromium: Browser, place: Place) -> None:
    """Without bypass_csp: the pages' own scripts and styles are all allowed by the policy
    (nothing inline), and the scripts do run (nhsuk-frontend reveals the Show button)."""
    with new_page(chromium, place.web) as page:
        staff = content_security_problems(page)
        page.goto("/sign-in")
        expect(page.locator("body")).to_have_class(re.compile(r"\bnhsuk-frontend-supported\b"))
        expect(page.get_by_role("button", name="Show password")).to_be_visible()
        sign_in(page, "gina.gp", PASSWORD)
        for path in ("/break-glass", "/governance/review", "/no-such-page", "/home"):
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert page.evaluate("document.styleSheets.length") >= 1
    with new_page(chromium, place.web) as page:
        person = content_security_problems(page)
        sign_in(page, "mary", PASSWORD)
        page.goto("/my-record/access")
        expect(page.locator("tbody tr").first).to_contain_text("Dr Ann Example")
    problems = sorted(set(staff + person))
    assert not problems, "the browser reported:\n" + "\n".join(problems)


def test_the_accessibility_check_finds_what_it_should(chromium: Browser) -> None:
    """The check can fail: axe finds an image without a text alternative and an unlabelled
    field, and the failure names the rule, its impact and the HTML."""
    with new_page(chromium, bypass_csp=True) as page:
        page.set_content(
            '<!DOCTYPE html><html lang="en-GB"><head><title>Broken</title></head><body><main>'
            '<h1>Broken</h1><img src="/assets/images/nhs-logo.svg"><input type="text" id="x">'
            "</main></body></html>"
        )
        found = {v.rule: v for v in axe_violations(page)}
        assert {"image-alt", "label"} <= set(found)
        assert found["image-alt"].blocking
        assert found["image-alt"].nodes[0].html.startswith("<img")
        with pytest.raises(AssertionError, match=r"- label \(critical\)"):
            check_accessible(page, "a broken page")


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "chromium"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        require(missing, "Debian's Chromium", "apt-get install chromium")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="Debian's Chromium is not at"):
        require(missing, "Debian's Chromium", "apt-get install chromium")
    assert require(tmp_path, "a folder", "it exists") == tmp_path
