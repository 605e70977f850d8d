"""What the care journey (tests/web/test_care_journey.py) needs around the browser: the place
it happens in, written into the real server's database, and a record of every page a person
reaches in it, each checked with axe-core and photographed.

The place is tests/coordination/place.py's (riverside practice, the community trust, the
council, the acute trust, their staff, Mary and her son Carl), written with the same
functions, plus what the journey starts from: Mary is in the acute hospital (an inpatient
stay begun six days ago) and Cara, the practice's care coordinator, is her named coordinator.
Everything after that is done through the pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from careweave.coordination.care_team import assign_coordinator
from careweave.coordination.record import new_submission_token
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from tests.coordination.place import Place, build_place
from tests.coordination.test_discharge import admit
from tests.web.browser import check_accessible, save_screenshot

STAY = "stay-1"
"""Mary's hospital stay (an Encounter of class IMP at the acute trust)."""


@contextmanager
def journey_place(database_url: str) -> Iterator[Place]:
    """The place, in the database a live server is already serving (migrated by it)."""
    database = open_database(database_url)
    try:
        with ExitStack() as stack:
            place = build_place(FhirStore(database), database_url, stack)
            admit(place, STAY, "mary", days=6)
            assign_coordinator(
                place.access("cara.coord"),
                "mary",
                "prr-cara",
                version_id=0,
                token=new_submission_token(),
            )
            yield place
    finally:
        database.dispose()


def served_place(build: Callable[[str], AbstractContextManager[Place]]) -> object:
    """A `place` fixture for a module (`place = served_place(journey_place)`): the place that
    `build` writes into the database the real server at `web` serves, once that server has
    started and migrated it, for each test."""

    @pytest.fixture
    def place(web: str, database_url: str) -> Iterator[Place]:
        with build(database_url) as made:
            yield made

    return place


@dataclass
class Journey:
    """The pages reached on one run of the journey, in order.

    With JavaScript, each page is checked with axe-core (WCAG 2.2 A and AA; a serious or
    critical violation fails the test). Without it axe cannot run (it works on timers a page
    without scripts never fires), so the run checks instead that no script ran: the class
    careweave-js-enabled.js puts on <body> is absent. Either way each page is photographed,
    named by its place in the journey, the database and whether scripts ran.
    """

    folder: Path
    database: str
    javascript: bool
    pages: list[str] = field(default_factory=list)

    def reached(self, page: Page, name: str) -> None:
        """`page` shows the step `name`: check it, and keep a full-page screenshot of it."""
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        body_class = page.locator("body").get_attribute("class") or ""
        if self.javascript:
            assert "js-enabled" in body_class, f"{name}: the page's scripts did not run"
            check_accessible(page, f"{name} ({page.url})")
        else:
            assert "js-enabled" not in body_class, f"{name}: a script ran with JavaScript off"
        self.pages.append(name)
        mode = "js" if self.javascript else "no-js"
        save_screenshot(page, self.folder, f"{len(self.pages):02d}-{name}-{self.database}-{mode}")


def path_is(page: Page, path: str) -> None:
    """Wait until the page is at `path` (a regular expression for the path and query)."""
    page.wait_for_url(re.compile(r"^https?://[^/]+" + path + r"$"))


def date_group(page: Page, legend: str, day: date) -> None:
    """Type a date into the NHS.UK date input whose legend is `legend`, as a person does:
    day, month and year into the boxes labelled so."""
    group = page.get_by_role("group", name=legend, exact=True)
    group.get_by_label("Day", exact=True).fill(str(day.day))
    group.get_by_label("Month", exact=True).fill(str(day.month))
    group.get_by_label("Year", exact=True).fill(str(day.year))
