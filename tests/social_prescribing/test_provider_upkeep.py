"""An organisation's own staff keep their directory entries up to date, on SQLite and
PostgreSQL: Vic Volunteer of Brook Good Neighbours (zzc0001) changes and checks the lunch club's
entry through the FHIR API and the pages, and is refused for Mill Lane Walkers' (zzc0002)
entries, for moving an entry to another organisation and for adding or deleting one. The rule
is the access layer's (careweave.access.policy.check_change), so every transport meets it."""

from __future__ import annotations

from datetime import time
from typing import Any

from fastapi.testclient import TestClient

from careweave.access.scopes import Scopes
from careweave.access.tokens import issue_token
from careweave.coordination.record import today
from careweave.social_prescribing.directory import OpeningTime, service_from
from tests.coordination.place import Place, csrf_of
from tests.social_prescribing.pathway_place import VOLUNTEER
from tests.web.social_prescribing_place import (
    ADMIN,
    STALE_LINE,
    error_summary,
    form_on,
    send_form,
    sp_pages,
    text_of,
)

__all__ = ["sp_pages"]


def fhir(place: Place, username: str, scopes: str = "user/*.cruds") -> TestClient:
    """A FHIR API client holding `username`'s token."""
    token = issue_token(
        place.store.database, Scopes.parse(scopes), username=username, client_name="tests"
    ).token
    client = place.stack.enter_context(TestClient(place.app, base_url="http://testserver"))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def stored(place: Place, service_id: str) -> dict[str, Any]:
    return place.store.read("HealthcareService", service_id).as_dict()


def versions(place: Place, service_id: str) -> int:
    return len(
        place.store.history(resource_type="HealthcareService", resource_id=service_id).versions
    )


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def test_a_providers_staff_update_their_own_service_through_the_api(sp_pages: Place) -> None:
    api = fhir(sp_pages, VOLUNTEER)
    lunch = api.get("/fhir/R4/HealthcareService/lunch").json()
    lunch["telecom"] = [{"system": "phone", "value": "01632 960123", "use": "work"}]
    lunch["availableTime"] = [
        {"daysOfWeek": ["wed"], "availableStartTime": "12:00:00", "availableEndTime": "14:00:00"}
    ]
    changed = api.put("/fhir/R4/HealthcareService/lunch", json=without_meta(lunch))
    assert changed.status_code == 200, changed.text
    now = service_from(stored(sp_pages, "lunch"))
    assert now.phone == "01632 960123"
    assert now.opening_times == (OpeningTime(("wed",), time(12), time(14)),)

    # Another organisation's entry: refused, with the reason, and nothing written.
    walk = without_meta(api.get("/fhir/R4/HealthcareService/walk").json())
    walk["name"] = "Brook walking group"
    refused = api.put("/fhir/R4/HealthcareService/walk", json=walk)
    assert refused.status_code == 403
    assert "run by another organisation" in refused.text
    assert versions(sp_pages, "walk") == 1

    # Nor may they hand their own entry to another organisation, add one or delete one.
    moved = {**without_meta(lunch), "providedBy": {"reference": "Organization/zzc0002"}}
    assert api.put("/fhir/R4/HealthcareService/lunch", json=moved).status_code == 403
    new = {**without_meta(lunch), "id": "brook-new"}
    added = api.put("/fhir/R4/HealthcareService/brook-new", json=new)
    assert added.status_code == 403
    assert "Only an administrator can add a service" in added.text
    posted = {k: v for k, v in without_meta(lunch).items() if k != "id"}
    assert api.post("/fhir/R4/HealthcareService", json=posted).status_code == 403
    assert api.delete("/fhir/R4/HealthcareService/lunch").status_code == 403
    assert service_from(stored(sp_pages, "lunch")).organisation_id == "zzc0001"

    # A transaction Bundle passes the same check: the whole of it is refused.
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {**without_meta(lunch), "name": "Brook lunch"},
                "request": {"method": "PUT", "url": "HealthcareService/lunch"},
            },
            {"resource": walk, "request": {"method": "PUT", "url": "HealthcareService/walk"}},
        ],
    }
    assert api.post("/fhir/R4", json=bundle).status_code == 403
    assert service_from(stored(sp_pages, "lunch")).name == "Lunch club"
    assert versions(sp_pages, "walk") == 1

    # Their venue (a Location) stays with administrators; staff elsewhere change nothing.
    hall = without_meta(api.get("/fhir/R4/Location/hall").json())
    assert api.put("/fhir/R4/Location/hall", json={**hall, "name": "Hall"}).status_code == 403
    gp = fhir(sp_pages, "ann.gp")
    assert gp.put("/fhir/R4/HealthcareService/lunch", json=without_meta(lunch)).status_code == 403


def test_a_providers_staff_check_and_change_their_entries_on_the_pages(sp_pages: Place) -> None:
    vic = sp_pages.sign_in(VOLUNTEER)
    finder = text_of(vic.get("/directory").text)
    assert "Brook Good Neighbours's directory entries are due for a check" in finder
    own = vic.get("/directory/upkeep")
    text = text_of(own.text)
    assert "Lunch club" in text and "Friendship circle" in text
    assert "Telephone friends" not in text  # Mill Lane Walkers' entry
    assert "Checked, still correct" in text
    before = versions(sp_pages, "lunch")
    checked = vic.post(
        "/directory/services/lunch/checked",
        data={"csrf_token": csrf_of(own.text), "version": str(before), "from": "upkeep"},
        follow_redirects=False,
    )
    assert checked.status_code == 303
    assert checked.headers["location"] == "/directory/upkeep?done=checked"
    assert service_from(stored(sp_pages, "lunch")).last_checked == today()
    after = text_of(vic.get(checked.headers["location"]).text)
    assert "recorded as checked and still correct" in after
    assert "Lunch club" not in after

    page = text_of(vic.get("/directory/services/lunch").text)
    assert "Change the opening times" in page and "Change the details" in page
    details = send_form(vic, "/directory/services/lunch/edit", phone="01632 960555")
    assert details.status_code == 303
    assert service_from(stored(sp_pages, "lunch")).phone == "01632 960555"
    times = send_form(
        vic,
        "/directory/services/lunch/times",
        **{"times-tue": "", "times-thu": "11:30 to 14:00", "checked": "yes"},
    )
    assert times.status_code == 303, times.text
    lunch = service_from(stored(sp_pages, "lunch"))
    assert lunch.opening_times == (OpeningTime(("thu",), time(11, 30), time(14)),)
    assert "Thursday, 11:30 to 14:00" in text_of(vic.get("/directory/services/lunch").text)

    # Mill Lane Walkers' entries are not theirs: no forms, and refused if sent anyway.
    walk_page = text_of(vic.get("/directory/services/walk").text)
    assert "Checked, still correct" not in walk_page
    assert "Change the opening times" not in walk_page
    for form in ("edit", "times", "offers", "access", "close"):
        refused = vic.get(f"/directory/services/walk/{form}")
        assert refused.status_code == 403
        assert "Only staff of the organisation that runs this service" in refused.text
    stale_before = versions(sp_pages, STALE_LINE)
    refused = vic.post(
        f"/directory/services/{STALE_LINE}/checked",
        data={"csrf_token": csrf_of(own.text), "version": str(stale_before)},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    refused = vic.post(
        "/directory/services/walk/times",
        data={"csrf_token": csrf_of(own.text), "version": "1", "times-mon": "09:00 to 10:00"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert versions(sp_pages, STALE_LINE) == stale_before
    assert versions(sp_pages, "walk") == 1


def test_opening_times_that_cannot_be_read_are_shown_with_what_was_typed(sp_pages: Place) -> None:
    admin = sp_pages.sign_in(ADMIN)
    form = admin.get("/directory/services/lunch/times")
    assert form.status_code == 200
    shown_times = form_on(form.text, "/directory/services/lunch/times")
    assert (shown_times["times-tue"], shown_times["times-mon"]) == ("11:30 to 14:00", "")
    before = versions(sp_pages, "lunch")
    bad = send_form(
        admin,
        "/directory/services/lunch/times",
        **{
            "times-mon": "25:00 to 26:00",
            "times-tue": "10 to 12",
            "times-wed": "mornings",
            "times-thu": "10:00 to 12:00, 11:00 to 13:00",
        },
    )
    assert bad.status_code == 400
    summary = error_summary(bad.text)
    for message in (
        "Monday: '25:00' is not a time of day; use the 24-hour clock, like 09:30 or 14:00",
        "Tuesday: '10' is not a time of day",
        "Enter Wednesday's times like 10:00 to 12:00, or leave it empty if it is closed",
        "Thursday's sessions overlap",
    ):
        assert message in summary
    assert 'href="#times-mon"' in bad.text
    assert 'value="mornings"' in bad.text  # what they typed, to put right
    assert versions(sp_pages, "lunch") == before

    good = send_form(
        admin,
        "/directory/services/lunch/times",
        **{
            "times-mon": "9am to 5pm",
            "times-tue": "09:00-17:00",
            "times-thu": "",
            "times-fri": "22:00 to 02:00",
            "times-sun": "all day",
        },
    )
    assert good.status_code == 303
    lunch = stored(sp_pages, "lunch")
    assert lunch["availableTime"] == [
        {
            "daysOfWeek": ["mon", "tue"],
            "availableStartTime": "09:00:00",
            "availableEndTime": "17:00:00",
        },
        {"daysOfWeek": ["fri"], "availableStartTime": "22:00:00", "availableEndTime": "02:00:00"},
        {"daysOfWeek": ["sun"], "allDay": True},
    ]
    shown = text_of(admin.get("/directory/services/lunch").text)
    assert "Monday and Tuesday, 09:00 to 17:00" in shown
    assert "Friday, 22:00 to 02:00 (the next day)" in shown
