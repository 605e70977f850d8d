"""Population health pages in Debian's Chromium against the real server, on SQLite and
PostgreSQL, with JavaScript and without.

1. Ana Analyst opens the population dashboard from her menu: the chart of the 65+ by segment
   is followed by the table it was drawn from. From the dashboard's GET form she goes to the
   equity page, and there picks another measure with the page's own GET form.
2. Dr Ann Example opens "Find people at risk", sends the issue's question (moderate or severe
   frailty, no care plan review in 12 months, admitted in the last 90 days, her practice) as
   the form offers it, sees Mary by name with a link to her record, follows "Add to an MDT
   meeting", chooses her frailty MDT and lands on its "add a person" page with Mary ticked.

Every page is checked with axe-core (WCAG 2.2 A and AA) with JavaScript on; with it off, that
no script ran (tests/web/journey_place.py's Journey). The place is the population page tests'
(tests/population/test_population_pages.py), written into the live server's database, with
the projection made by the real refresh into a file the server is told of by
CAREWEAVE_POPULATION_PROJECTION (a PostgreSQL store has nowhere to keep it by default).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from careweave.coordination.record import today
from careweave.population.projection import full_refresh
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from tests.coordination.place import build_place
from tests.population.test_population_pages import (
    ANALYST,
    add_older_people,
    schedule_riverside_mdt,
)
from tests.web.browser import screenshots_fixture, sign_in, someone_at_a_computer
from tests.web.journey_place import Journey, path_is
from tests.web.test_governance_pages import PASSWORD
from tests.web.test_social_prescribing_journey import menu

pytestmark = pytest.mark.e2e

FIND_PEOPLE = r"/population/find-people"


@pytest.fixture(autouse=True)
def projection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the server keeps the projection: set before `live_server` starts (autouse
    fixtures come first), which reads it from the environment it inherits."""
    path = tmp_path / "population.duckdb"
    monkeypatch.setenv("CAREWEAVE_POPULATION_PROJECTION", str(path))
    return path


@pytest.fixture
def meeting(live_server: str, database_url: str, projection: Path) -> Iterator[str]:
    """The place in the served database, its projection refreshed; Ann's MDT meeting's id."""
    database = open_database(database_url)
    try:
        with ExitStack() as stack:
            place = build_place(FhirStore(database), database_url, stack)
            add_older_people(place)
            full_refresh(database, projection, as_of=today())
            yield schedule_riverside_mdt(place).appointment_id
    finally:
        database.dispose()


screenshots = screenshots_fixture("population-journey")


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_an_analyst_reads_the_figures_and_a_gp_takes_someone_found_to_an_mdt(
    chromium: Browser, meeting: str, web: str, journey: Journey, javascript: bool
) -> None:
    with someone_at_a_computer(chromium, web, javascript) as page:
        the_analyst_reads_the_figures(page, journey)
    with someone_at_a_computer(chromium, web, javascript) as page:
        the_gp_takes_mary_to_an_mdt(page, journey, meeting)


def the_analyst_reads_the_figures(page: Page, journey: Journey) -> None:
    sign_in(page, ANALYST, PASSWORD)
    menu(page, "Population health")
    path_is(page, "/population")
    journey.reached(page, "dashboard")
    # The chart is an image named by its title and description, and the table after it has
    # the title as its caption.
    title = page.locator("#segments-now-title").text_content() or ""
    assert title.startswith("People aged 65 and over by segment on")
    chart = page.get_by_role("img", name=re.compile("^" + re.escape(title) + " A bar for each"))
    expect(chart).to_be_visible()
    table = page.locator("figure:has(#segments-now-title) + table")
    expect(table.locator("caption")).to_have_text(title)
    expect(table.get_by_role("row").filter(has_text="Moderate frailty")).to_contain_text("12")
    expect(page.get_by_role("main")).to_contain_text("<10 people are left out")

    page.get_by_role("button", name="Show the measure").click()
    path_is(page, r"/population/equity\?measure=frailty")
    journey.reached(page, "equity-frailty")
    page.get_by_label("Measure", exact=True).select_option(label="Moderate or severe frailty (eFI)")
    page.get_by_role("button", name="Show the measure").click()
    path_is(page, r"/population/equity\?measure=moderate_severe_frailty")
    by_deprivation = page.get_by_role(
        "table", name="Moderate or severe frailty (eFI), by IMD decile (1 = most deprived)"
    )
    everyone = by_deprivation.get_by_role("row").filter(has_text="All people aged 65 and over")
    expect(everyone).to_contain_text("53.8%")
    journey.reached(page, "equity-moderate-severe-frailty")


def the_gp_takes_mary_to_an_mdt(page: Page, journey: Journey, meeting: str) -> None:
    sign_in(page, "ann.gp", PASSWORD)
    menu(page, "Find people at risk")
    path_is(page, FIND_PEOPLE)
    journey.reached(page, "find-people")
    # The form starts with the question, at Ann's practice: she sends it as it is.
    frailty = page.get_by_role("group", name="Frailty (electronic frailty index)")
    expect(frailty.get_by_label("Moderate frailty", exact=True)).to_be_checked()
    expect(frailty.get_by_label("Severe frailty", exact=True)).to_be_checked()
    expect(page.get_by_label("No care plan review in the last (months)")).to_have_value("12")
    expect(
        page.get_by_label("Admitted to hospital as an emergency in the last (days)")
    ).to_have_value("90")
    page.get_by_role("button", name="Find people").click()
    path_is(page, FIND_PEOPLE + r"\?searched=yes&.*")
    found = page.get_by_role("table", name=re.compile(r"^4 people whose care you are part of"))
    mary = found.get_by_role("row").filter(has_text="Mary Example")
    expect(mary).to_contain_text("Moderate frailty (10 deficits)")
    expect(mary.get_by_role("link", name="Mary Example", exact=True)).to_have_attribute(
        "href", "/people/mary"
    )
    journey.reached(page, "people-found")

    mary.get_by_role("link", name="Add to an MDT meeting for Mary Example").click()
    path_is(page, FIND_PEOPLE + r"/mary/mdt\?back=.*")
    journey.reached(page, "choose-mdt")
    page.get_by_role("link", name="Riverside frailty MDT (add Mary Example)").click()
    path_is(page, rf"/mdt/{re.escape(meeting)}/people/add\?q=9990000018&patient=mary")
    expect(page.get_by_role("radio", name="Mary Example", checked=True)).to_have_count(1)
    expect(page.get_by_role("radio", checked=True)).to_have_count(1)
    journey.reached(page, "mdt-add-person")
