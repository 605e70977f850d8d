"""A NUL character in a page's address or in a posted form never reaches the database.

No page needs one and PostgreSQL text cannot hold one: a NUL that reached a query would fail
there as a server error. The pages either ignore one in an address (a filter that is not a
known choice) or refuse it with a readable page; a posted form loses it, with the other
control characters nobody can see (careweave.web.forms). These tests keep it that way for
every page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi.routing import APIRoute

from careweave.store.repository import FhirStore
from tests.coordination.place import Place, build_place, csrf_of


@pytest.fixture
def place(store: FhirStore, database_url: str) -> Iterator[Place]:
    with ExitStack() as stack:
        yield build_place(store, database_url, stack)


FILLED = {"person_id": "mary", "patient_id": "mary"}
"""Path parameters filled in with a real person, so the pages get past their lookups."""


def page_addresses(place: Place, method: str = "GET") -> list[str]:
    """Every page the web app answers `method` on whose path parameters can be filled in."""
    addresses = []
    for route in place.app.routes:
        if not isinstance(route, APIRoute) or type(route).__name__ != "PageRoute":
            continue
        if method not in (route.methods or ()):
            continue
        names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
        if not all(name in FILLED for name in names):
            continue
        addresses.append(re.sub(r"{(\w+)(?::\w+)?}", lambda m: FILLED[m.group(1)], route.path))
    return addresses


def test_no_page_fails_on_a_nul_in_its_address(place: Place) -> None:
    browser = place.sign_in("cara.coord")
    addresses = page_addresses(place)
    assert len(addresses) > 20, addresses
    answered = {}
    for address in addresses:
        response = browser.get(f"{address}?q=%00&postcode=a%00b&searched=yes&name=%00")
        answered[address] = response.status_code
        assert response.status_code < 500, (address, response.status_code)
    # Some pages read these fields and refuse the value; the rest ignore it.
    assert {a for a, status in answered.items() if status == 400} >= {"/people", "/directory"}


def test_a_note_pasted_with_unseen_control_characters_is_written_as_it_reads(
    place: Place,
) -> None:
    """Pasted text can carry characters nobody can see to take out (Word's line break is a
    vertical tab): the note is written as it reads on the screen, not refused."""
    browser = place.sign_in("cara.coord")
    page = browser.get("/people/mary/notes").text
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token is not None
    pasted = "Bed\x00bound\x0bneeds a hoist\x0cfor transfers\x1b\ttwice daily\r\nSee plan"
    sent = {"csrf_token": csrf_of(page), "token": token.group(1), "text": pasted}
    written = browser.post("/people/mary/notes", data=sent, follow_redirects=False)
    assert written.status_code == 303, written.text
    with place.store.transaction() as tx:
        (note_id,) = tx.find_ids("Communication", "subject=Patient/mary")
        note = tx.read("Communication", note_id).as_dict()
    words = note["payload"][0]["contentString"]
    assert words.replace("\r\n", "\n") == (
        "Bedbound\nneeds a hoist\nfor transfers\ttwice daily\nSee plan"
    )
    shown = browser.get(f"/people/mary/notes?done=written#note-{note_id}").text
    assert "needs a hoist" in shown and "Bedbound" in shown


FIELDS = ["text", "token", "name", "postcode", "q", "reason", "note", "title", "description"]
FIELDS += ["summary", "goal", "service", "family", "given", "code", "status", "priority", "date"]
"""Names that the pages' forms use, each sent holding a NUL (within the 20 fields a form
may have)."""


@pytest.mark.parametrize("who", ["cara.coord", "mary", "carl", "sam.sw", "lee.lw", "dan.dc"])
def test_no_form_fails_on_nul_characters(place: Place, who: str) -> None:
    browser = place.sign_in(who)
    csrf = csrf_of(browser.get("/home").text)
    answered = {}
    for address in page_addresses(place, "POST"):
        if address in ("/sign-in", "/sign-out"):
            continue
        data = {"csrf_token": csrf, **dict.fromkeys(FIELDS, "a\x00b")}
        response = browser.post(address, data=data, follow_redirects=False)
        answered[address] = response.status_code
        assert response.status_code < 500, (who, address, response.status_code)
    assert len(answered) > 20, answered
    assert 400 in answered.values()  # some forms read these fields and refuse the value
