"""Keeping the directory up to date over HTTP, on SQLite and PostgreSQL: an administrator
records that a stale entry was checked (a new version), changes an entry, is stopped from
overwriting someone else's change, and records a closure; an organisation's own staff see their
own stale entries and no one else's (test_provider_upkeep.py has them keeping their entries)."""

from __future__ import annotations

from dataclasses import replace

from careweave.coordination.record import new_submission_token, today
from careweave.social_prescribing.connections import connect
from careweave.social_prescribing.directory import CommunityService, service_from
from careweave.social_prescribing.directory_records import read_service, update_service
from careweave.social_prescribing.pathway import accept_referral
from tests.coordination.place import Place, csrf_of
from tests.social_prescribing.pathway_place import LINK_WORKER, refer_mary
from tests.web.social_prescribing_place import (
    ADMIN,
    STALE_LINE,
    error_summary,
    hidden,
    send_form,
    sp_pages,
    text_of,
)

__all__ = ["sp_pages"]


def versions(place: Place, service_id: str) -> int:
    return len(
        place.store.history(resource_type="HealthcareService", resource_id=service_id).versions
    )


def test_an_administrator_records_that_a_stale_entry_is_still_right(sp_pages: Place) -> None:
    admin = sp_pages.sign_in(ADMIN)
    listing = admin.get("/directory/upkeep")
    assert "Mill Lane Walkers" in text_of(listing.text)
    own = admin.get("/directory/upkeep?organisation=zzc0002")
    assert "Telephone friends" in text_of(own.text)
    before = versions(sp_pages, STALE_LINE)
    response = admin.post(
        f"/directory/services/{STALE_LINE}/checked",
        data={"csrf_token": csrf_of(own.text), "version": "1", "from": "upkeep"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/directory/upkeep?organisation=zzc0002&done=checked"
    assert versions(sp_pages, STALE_LINE) == before + 1
    stored = service_from(sp_pages.store.read("HealthcareService", STALE_LINE).as_dict())
    assert stored.last_checked == today()
    after = admin.get(response.headers["location"])
    assert "recorded as checked and still correct" in text_of(after.text)
    assert "Telephone friends" not in text_of(after.text)

    # The same button pressed on a page read before that check is refused: nothing written.
    again = admin.post(
        f"/directory/services/{STALE_LINE}/checked",
        data={"csrf_token": csrf_of(own.text), "version": "1"},
        follow_redirects=False,
    )
    assert again.status_code == 409
    assert "Someone else changed this entry" in again.text
    assert versions(sp_pages, STALE_LINE) == before + 1


def test_changing_the_details_is_checked_and_a_stale_form_is_not_saved(sp_pages: Place) -> None:
    admin = sp_pages.sign_in(ADMIN)
    bad = send_form(
        admin,
        "/directory/services/lunch/edit",
        name="",
        email="lunch at brook",
        cost="free",
        amount="4.5x",
    )
    assert bad.status_code == 400
    summary = error_summary(bad.text)
    for message in (
        "Enter the service's name",
        "Enter the amount in pounds, for example 4.50",
        "Enter an email address in the correct format",
    ):
        assert message in summary
    assert 'value="lunch at brook"' in bad.text

    form = admin.get("/directory/services/lunch/edit").text
    # Meanwhile someone else changes the entry.
    with sp_pages.store.transaction() as tx:
        update_service(tx, replace(read_service(tx, "lunch"), phone="01632 960999"))
    stale = admin.post(
        "/directory/services/lunch/edit",
        data={
            "csrf_token": csrf_of(form),
            "version": hidden(form, "version"),
            "name": "Brook lunch club",
            "cost": "charge",
            "amount": "5.00",
        },
        follow_redirects=False,
    )
    assert stale.status_code == 409
    assert "Someone else changed this entry since you opened it" in error_summary(stale.text)
    assert "phone 01632 960999" in text_of(stale.text)  # what it says now
    assert 'value="Brook lunch club"' in stale.text  # what they typed, to save again
    assert read_service_now(sp_pages).name == "Lunch club"

    saved = admin.post(
        "/directory/services/lunch/edit",
        data={
            "csrf_token": csrf_of(stale.text),
            "version": hidden(stale.text, "version"),
            "name": "Brook lunch club",
            "cost": "charge",
            "amount": "5.00",
            "cost_detail": "Two courses",
            "phone": "01632 960999",
            "checked": "yes",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    now = read_service_now(sp_pages)
    assert (now.name, now.cost.describe() if now.cost else "") == (
        "Brook lunch club",
        "£5.00 (Two courses)",
    )
    assert now.last_checked == today()
    assert now.needs == ("befriending", "lunch-club")  # what the form does not show is kept


def read_service_now(place: Place) -> CommunityService:
    return service_from(place.store.read("HealthcareService", "lunch").as_dict())


def test_what_a_service_offers_and_how_to_refer_are_changed_by_ticking(sp_pages: Place) -> None:
    admin = sp_pages.sign_in(ADMIN)
    none = send_form(admin, "/directory/services/walk/offers", **{"need-physical-activity": None})
    assert none.status_code == 400
    assert "Select at least one thing the service helps with" in error_summary(none.text)
    offers = send_form(
        admin,
        "/directory/services/walk/offers",
        **{"need-physical-activity": "yes", "need-befriending": "yes"},
    )
    assert offers.status_code == 303
    access = send_form(
        admin,
        "/directory/services/walk/access",
        **{
            "access-step-free-access": "yes",
            "method-phone": "yes",
            "method-drop-in": "yes",
            "method-link-worker": None,  # unticked
        },
    )
    assert access.status_code == 303
    walk = service_from(sp_pages.store.read("HealthcareService", "walk").as_dict())
    assert walk.needs == ("befriending", "physical-activity")
    assert walk.accessibility == frozenset({"step-free-access"})
    assert walk.referral_methods == ("phone", "drop-in")


def test_closing_a_service_keeps_it_and_shows_who_is_waiting(sp_pages: Place) -> None:
    place = sp_pages
    made = refer_mary(place)
    accept_referral(place.access(LINK_WORKER), made.service_request_id)
    connect(
        place.access(LINK_WORKER), made.service_request_id, "walk", token=new_submission_token()
    )
    admin = place.sign_in(ADMIN)
    form = admin.get("/directory/services/walk/close")
    assert form.status_code == 200
    assert "Connections to re-route" in text_of(form.text)
    future = today().replace(year=today().year + 1)
    refused = send_form(
        admin,
        "/directory/services/walk/close",
        **{
            "closed_on-day": str(future.day),
            "closed_on-month": str(future.month),
            "closed_on-year": str(future.year),
        },
    )
    assert refused.status_code == 400
    assert "Date it closed must be today or in the past" in error_summary(refused.text)
    day = today()
    closed = send_form(
        admin,
        "/directory/services/walk/close",
        **{
            "closed_on-day": str(day.day),
            "closed_on-month": str(day.month),
            "closed_on-year": str(day.year),
        },
    )
    assert closed.status_code == 303
    walk = service_from(place.store.read("HealthcareService", "walk").as_dict())
    assert (walk.active, walk.closed_on) == (False, day)
    # Pat sees Mary under the connections to re-route, with the way to do it.
    listing = place.sign_in(LINK_WORKER).get("/social-prescribing")
    section = listing.text[listing.text.find('id="reroute"') :]
    assert "Walking group" in section and "Mary Example" in section
    assert f"/people/mary/social-prescribing/{made.service_request_id}/connect?reroute=" in section


def test_an_organisations_own_staff_see_only_their_own_stale_entries(sp_pages: Place) -> None:
    vic = sp_pages.sign_in("vic.vol")  # Brook Good Neighbours
    own = vic.get("/directory/upkeep")
    text = text_of(own.text)
    assert "Brook Good Neighbours" in text
    assert "Lunch club" in text and "Friendship circle" in text
    assert "Telephone friends" not in text  # Mill Lane Walkers' entry
    assert vic.get("/directory/upkeep?organisation=zzc0002").status_code == 404
    assert vic.get(f"/directory/services/{STALE_LINE}/edit").status_code == 403
    refused = vic.post(
        f"/directory/services/{STALE_LINE}/checked",
        data={"csrf_token": csrf_of(own.text), "version": "1"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert versions(sp_pages, STALE_LINE) == 1
    # Without the session's CSRF token nothing is done, whoever asks.
    admin = sp_pages.sign_in(ADMIN)
    forged = admin.post(
        "/directory/services/lunch/checked", data={"version": "1"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert versions(sp_pages, "lunch") == 1
