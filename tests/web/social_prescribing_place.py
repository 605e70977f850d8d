"""The place the social prescribing pages are tested in (tests/social_prescribing/test_*_pages.py)
and the link worker's journey runs in (tests/web/test_social_prescribing_journey.py).

It is the pathway tests' place (tests/social_prescribing/pathway_place.py: the coordination
place, the Northshire Social Prescribing Network with Pat Pathway its link worker, Brook Good
Neighbours and Mill Lane Walkers with their lunch club, friendship circle and walking group,
Vic Volunteer and Ana Analyst), with what pages need besides:

* every account can sign in through the form (the shared test password);
* Ada Admin, an administrator, keeps the directory;
* Mary lives at QX1 1AA, where Riverside Surgery's branch site is (a Location with a position,
  so careweave knows where that postcode is): the Brook Centre (lunch club, friendship
  circle) is about 1.1 km (0.7 miles) north of her, Mill Lane Park (walking group) 3.3 km;
* a telephone befriending line run by Mill Lane Walkers whose entry was last checked over a
  year ago, so the directory has a stale entry.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from careweave.access.accounts import add_user
from careweave.coordination.record import UK, today
from careweave.social_prescribing.directory import CommunityService, OpeningTime
from careweave.social_prescribing.directory_records import save_entries
from careweave.store.access_tables import user_account
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from tests.coordination.place import Place, build_place, csrf_of
from tests.social_prescribing.pathway_place import (
    ANALYST,
    LINK_WORKER,
    SERVICE_ORG,
    VOLUNTEER,
    add_social_prescribing,
)
from tests.web.test_governance_pages import _password_hash

ADMIN = "ada.admin"
MARYS_POSTCODE = "QX1 1AA"
STALE_LINE = "phone-friends"


def _home_for_mary(place: Place) -> None:
    place.put(
        {
            "resourceType": "Location",
            "id": "riverside-branch",
            "status": "active",
            "name": "Riverside Surgery, Brook Road branch",
            "address": {"line": ["2 Brook Road"], "city": "Ashby", "postalCode": MARYS_POSTCODE},
            "position": {"latitude": 52.5, "longitude": -1.7},
            "managingOrganization": {"reference": "Organization/riverside"},
        }
    )
    mary = place.store.read("Patient", "mary").as_dict()
    mary.pop("meta", None)
    mary["address"] = [
        {"use": "home", "line": ["4 Brook Road"], "city": "Ashby", "postalCode": MARYS_POSTCODE}
    ]
    place.put(mary)


def _stale_entry(place: Place) -> None:
    line = CommunityService(
        STALE_LINE,
        "Telephone friends",
        "zzc0002",
        "A weekly friendly phone call",
        needs=("befriending",),
        opening_times=(OpeningTime(("wed",), None, None),),
        referral_methods=("phone",),
        phone="01632 960777",
        last_checked=today() - timedelta(days=400),
    )
    with place.store.transaction() as tx:
        save_entries(tx, (), (), (line,))


def sign_in_everyone(place: Place) -> None:
    """The shared test password for the accounts pathway_place made without one."""
    add_user(place.store.database, ADMIN, "Ada Admin", "administrator")
    with place.store.database.write() as conn:
        conn.execute(
            update(user_account)
            .where(user_account.c.username.in_([LINK_WORKER, VOLUNTEER, ANALYST, ADMIN]))
            .values(password_hash=_password_hash())
        )


def add_pages_place(place: Place) -> Place:
    add_social_prescribing(place)
    _home_for_mary(place)
    _stale_entry(place)
    sign_in_everyone(place)
    return place


@contextmanager
def social_prescribing_place(database_url: str) -> Iterator[Place]:
    """The place, in the database a live server is already serving (migrated by it)."""
    database = open_database(database_url)
    try:
        with ExitStack() as stack:
            yield add_pages_place(build_place(FhirStore(database), database_url, stack))
    finally:
        database.dispose()


@pytest.fixture
def sp_pages(store: FhirStore, database_url: str) -> Iterator[Place]:
    """The place on the test's own database (SQLite and PostgreSQL), for the page tests."""
    with ExitStack() as stack:
        yield add_pages_place(build_place(store, database_url, stack))


# -- what the page tests do through the forms ---------------------------------------------------


def hidden(page: str, name: str) -> str:
    """The value of the first hidden (or any) input called `name` on the page."""
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert match, f"no {name} on the page"
    return html.unescape(match.group(1))


def error_summary(page: str) -> str:
    """The error summary's text (fails when the page has none)."""
    match = re.search(r'<div class="nhsuk-error-summary".*?</ul>', page, re.S)
    assert match, "no error summary on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(0))).split())


def text_of(page: str) -> str:
    """The main content as a person reads it: no tags, single spaces."""
    main = page[page.find("<main") : page.find("</main>")]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


def referral_form(client: TestClient, patient: str = "mary", **fields: str) -> dict[str, str]:
    """The referral form as a GP fills it in (loneliness, routine), with `fields` changed."""
    page = client.get(f"/people/{patient}/social-prescribing/refer")
    assert page.status_code == 200, page.text
    data = {
        "csrf_token": csrf_of(page.text),
        "token": hidden(page.text, "token"),
        "service": SERVICE_ORG,
        "reason-loneliness": "yes",
        "details": "Lives alone since her husband died; says the days are long.",
        "priority": "routine",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def refer_through_the_form(client: TestClient, patient: str = "mary") -> str:
    """Send the referral form; the episode page's path (/people/.../social-prescribing/<id>)."""
    response = client.post(
        f"/people/{patient}/social-prescribing/refer",
        data=referral_form(client, patient),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    location = str(response.headers["location"])
    assert location.endswith("?done=referred")
    return location.removesuffix("?done=referred")


def press(client: TestClient, path: str, action: str, **fields: str) -> Response:
    """Press a button on the episode page at `path` (its CSRF token and version with it)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_of(page.text), "version": hidden(page.text, "version"), **fields}
    response: Response = client.post(f"{path}/{action}", data=data, follow_redirects=False)
    return response


class _FormReader(HTMLParser):
    """What a browser would send from the form whose action is `action`: text and hidden
    inputs' values, checked boxes and radios, selected options and textareas' text."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action", "").split("#")[0] == self.action
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            if a.get("type") in ("radio", "checkbox"):
                if "checked" in a:
                    self.fields[name] = a.get("value", "on")
            else:
                self.fields[name] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea] += data


def form_on(page: str, action: str) -> dict[str, str]:
    """The fields the form sending to `action` holds as the page shows it."""
    reader = _FormReader(action)
    reader.feed(page)
    assert reader.fields, f"no form sending to {action} on the page"
    return reader.fields


def send_form(client: TestClient, path: str, **fields: str | None) -> Response:
    """Open the form at `path`, change `fields` (None clears one) and send it, as a person
    filling it in in a browser does."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    data = form_on(page.text, path)
    for name, value in fields.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    response: Response = client.post(path, data=data, follow_redirects=False)
    return response


def now_fields(name: str, moment: datetime | None = None) -> dict[str, str]:
    """A date input and its time box filled with `moment` (now, UK time)."""
    at = (moment or datetime.now(UTC)).astimezone(UK)
    return {
        f"{name}-day": str(at.day),
        f"{name}-month": str(at.month),
        f"{name}-year": str(at.year),
        f"{name}-time": f"{at:%H:%M}",
    }
