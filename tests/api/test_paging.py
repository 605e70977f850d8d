"""The lists that page forward by a cursor (history, `$everything`, the audit trail) read
`_count` alike and link alike."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from careweave.api.app import create_app
from careweave.fhir.search_query import CURSOR_PARAMETER
from careweave.settings import Settings
from careweave.store.repository import FhirStore
from tests.conftest import system_token

BASE = "/fhir/R4"
# How many entries each list holds in the fixture's store.
ENTRIES = {
    "_history": 8,
    "Patient/_history": 5,
    "Patient/p1/_history": 5,
    "Patient/p1/$everything": 4,
}
LISTS = list(ENTRIES)


@pytest.fixture
def small_pages(store: FhirStore, database_url: str) -> Iterator[TestClient]:
    """A server whose pages hold at most 3 entries, with one person in 5 versions and three
    readings about them."""
    app = create_app(Settings(database_url=database_url, max_page_size=3), store)
    headers = {"Authorization": f"Bearer {system_token(store.database)}"}
    with TestClient(app, base_url="http://testserver", headers=headers) as client:
        for family in ["One", "Two", "Three", "Four", "Five"]:
            person = {"resourceType": "Patient", "id": "p1", "name": [{"family": family}]}
            assert client.put(f"{BASE}/Patient/p1", json=person).status_code in (200, 201)
        for value in [70, 72, 75]:
            reading = {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "subject": {"reference": "Patient/p1"},
                "valueQuantity": {"value": value, "unit": "kg"},
            }
            assert client.post(f"{BASE}/Observation", json=reading).status_code == 201
        yield client


@pytest.mark.parametrize("path", [*LISTS, "AuditEvent"])
@pytest.mark.parametrize("count", ["0", "-1", "ten", "1.5"])
def test_a_page_size_that_is_not_a_whole_number_above_zero_is_refused_alike(
    small_pages: TestClient, path: str, count: str
) -> None:
    response = small_pages.get(f"{BASE}/{path}", params={"_count": count})
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"] == (
        f"_count must be a whole number above 0, not '{count}'"
    )


@pytest.mark.parametrize("path", [*LISTS, "AuditEvent"])
def test_a_page_holds_at_most_the_maximum_and_its_links_say_so(
    small_pages: TestClient, path: str
) -> None:
    page = small_pages.get(f"{BASE}/{path}", params={"_count": "1000"}).json()
    assert len(page["entry"]) == 3
    links = {link["relation"]: link["url"] for link in page["link"]}
    assert set(links) == {"self", "next"}
    for url in links.values():
        assert parse_qs(urlsplit(url).query)["_count"] == ["3"]


@pytest.mark.parametrize("path", LISTS)
def test_following_next_links_visits_every_entry_once(small_pages: TestClient, path: str) -> None:
    everything = small_pages.get(f"{BASE}/{path}", params={"_count": "3"}).json()
    seen: list[str] = []
    page = small_pages.get(f"{BASE}/{path}", params={"_count": "2"}).json()
    while True:
        assert len(page["entry"]) <= 2
        seen += [
            f"{e['resource']['resourceType']}/{e['resource']['id']}"
            f"/{e['resource']['meta']['versionId']}"
            for e in page["entry"]
        ]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        page = small_pages.get(following[0]).json()
    assert len(seen) == len(set(seen)) == ENTRIES[path]
    assert len(everything["entry"]) == 3


@pytest.mark.parametrize("path", ["Patient/p1/$everything", "AuditEvent"])
def test_a_cursor_of_the_wrong_form_is_refused(small_pages: TestClient, path: str) -> None:
    response = small_pages.get(f"{BASE}/{path}", params={CURSOR_PARAMETER: "x"})
    assert response.status_code == 400, response.text
    assert "cursor is not valid" in response.json()["issue"][0]["diagnostics"]
