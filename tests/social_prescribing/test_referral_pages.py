"""Referring to social prescribing over HTTP, on SQLite and PostgreSQL: Dr Ann Example refers
Mary from her record; the form's checks, a double submit, a duplicate referral (refused with a
link to the open one), and who may refer whom."""

from __future__ import annotations

from careweave.coordination import codes
from careweave.coordination.record import find, new_submission_token
from careweave.social_prescribing.connections import connect
from careweave.social_prescribing.pathway import accept_referral
from careweave.social_prescribing.pathway_codes import REASON_SYSTEM
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import LINK_WORKER, SERVICE_ORG, refer_mary
from tests.web.social_prescribing_place import (
    error_summary,
    refer_through_the_form,
    referral_form,
    sp_pages,
    text_of,
)

__all__ = ["sp_pages"]


def referrals_of_mary(place: Place) -> list[dict[str, object]]:
    return find(
        place.access("ann.gp"),
        "ServiceRequest",
        [("patient", "Patient/mary"), ("code", "|".join(codes.SOCIAL_PRESCRIBING_REFERRAL))],
    )


def test_a_gp_refers_from_the_persons_record(sp_pages: Place) -> None:
    gp = sp_pages.sign_in("ann.gp")
    record = gp.get("/people/mary/social-prescribing")
    assert record.status_code == 200
    assert 'href="/people/mary/social-prescribing/refer"' in record.text
    assert "has not been referred to social prescribing" in text_of(record.text)
    form = gp.get("/people/mary/social-prescribing/refer").text
    assert "Northshire Social Prescribing Network" in form
    assert "Brook Good Neighbours" not in form  # community organisations are connected to
    data = referral_form(gp, **{"reason-low-mood": "yes", "priority": "urgent"})
    response = gp.post("/people/mary/social-prescribing/refer", data=data, follow_redirects=False)
    assert response.status_code == 303
    path = response.headers["location"]
    shown = gp.get(path)
    assert "Your referral has been sent" in text_of(shown.text)
    assert "Waiting for the link worker" in text_of(shown.text)
    assert "Accept referral" not in shown.text  # the referrer does not triage

    [request] = referrals_of_mary(sp_pages)
    assert request["performer"][0]["reference"] == f"Organization/{SERVICE_ORG}"  # type: ignore[index]
    assert request["priority"] == "urgent"
    reasons = {c["coding"][0]["code"] for c in request["reasonCode"]}  # type: ignore[attr-defined]
    assert reasons == {"loneliness", "low-mood"}
    assert all(c["coding"][0]["system"] == REASON_SYSTEM for c in request["reasonCode"])  # type: ignore[attr-defined]
    listing = gp.get("/people/mary/social-prescribing")
    assert "Loneliness or social isolation, Low mood or anxiety" in text_of(listing.text)


def test_sending_the_form_twice_makes_one_referral(sp_pages: Place) -> None:
    gp = sp_pages.sign_in("ann.gp")
    data = referral_form(gp)
    first = gp.post("/people/mary/social-prescribing/refer", data=data, follow_redirects=False)
    again = gp.post("/people/mary/social-prescribing/refer", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(referrals_of_mary(sp_pages)) == 1


def test_the_form_says_what_is_missing_and_keeps_what_was_typed(sp_pages: Place) -> None:
    gp = sp_pages.sign_in("ann.gp")
    data = referral_form(
        gp,
        service="",
        priority="",
        details="Her daughter asked us to refer her",
        **{"reason-loneliness": None, "reason-other": "yes"},  # type: ignore[arg-type]
    )
    page = gp.post("/people/mary/social-prescribing/refer", data=data, follow_redirects=False)
    assert page.status_code == 400
    summary = error_summary(page.text)
    assert "Select the social prescribing service" in summary
    assert "Select how urgent this referral is" in summary
    for field in ("service", "priority"):
        assert f'href="#{field}"' in page.text
    assert "Her daughter asked us to refer her" in page.text
    assert 'name="reason-other" type="checkbox" value="yes" checked' in page.text
    nothing = referral_form(gp, **{"reason-loneliness": None})  # type: ignore[arg-type]
    none = gp.post("/people/mary/social-prescribing/refer", data=nothing, follow_redirects=False)
    assert "Select at least one reason for the referral" in error_summary(none.text)
    assert 'href="#reason"' in none.text
    past = referral_form(
        gp, **{"respond_by-day": "1", "respond_by-month": "1", "respond_by-year": "2020"}
    )
    late = gp.post("/people/mary/social-prescribing/refer", data=past, follow_redirects=False)
    assert "Date to respond by must be today or in the future" in error_summary(late.text)
    assert referrals_of_mary(sp_pages) == []


def test_a_duplicate_referral_is_refused_with_a_link_to_the_open_one(sp_pages: Place) -> None:
    gp = sp_pages.sign_in("ann.gp")
    path = refer_through_the_form(gp)
    referral_id = path.rsplit("/", 1)[1]
    cara = sp_pages.sign_in("cara.coord")
    again = cara.post(
        "/people/mary/social-prescribing/refer",
        data=referral_form(cara, **{"reason-low-mood": "yes"}),
        follow_redirects=False,
    )
    assert again.status_code == 409
    summary = error_summary(again.text)
    assert "already has an open referral to social prescribing for loneliness" in summary
    assert f"referral {referral_id}" in summary
    assert f'href="/people/mary/social-prescribing/{referral_id}"' in again.text
    assert 'name="reason-low-mood" type="checkbox" value="yes" checked' in again.text
    assert len(referrals_of_mary(sp_pages)) == 1
    # A different need is not a duplicate.
    other = cara.post(
        "/people/mary/social-prescribing/refer",
        data=referral_form(cara, **{"reason-loneliness": None, "reason-housing": "yes"}),  # type: ignore[arg-type]
        follow_redirects=False,
    )
    assert other.status_code == 303
    assert len(referrals_of_mary(sp_pages)) == 2


def test_only_people_in_the_persons_care_whose_role_may_refer_are_offered_it(
    sp_pages: Place,
) -> None:
    hal = sp_pages.sign_in("hal.gp")  # another practice: no relationship with Mary
    assert hal.get("/people/mary/social-prescribing").status_code == 404
    assert hal.get("/people/mary/social-prescribing/refer").status_code == 404
    vic = sp_pages.sign_in("vic.vol")
    assert vic.get("/people/mary/social-prescribing/refer").status_code == 404
    # Once Mary is connected to Brook Good Neighbours' lunch club, Vic sees her record, but a
    # volunteer's role may not make referrals: no link, and the form is refused.
    made = refer_mary(sp_pages)
    accept_referral(sp_pages.access(LINK_WORKER), made.service_request_id)
    connect(
        sp_pages.access(LINK_WORKER), made.service_request_id, "lunch", token=new_submission_token()
    )
    assert "/social-prescribing/refer" not in vic.get("/people/mary/social-prescribing").text
    assert vic.get("/people/mary/social-prescribing/refer").status_code == 403
    mary = sp_pages.sign_in("mary")
    assert mary.get("/people/mary/social-prescribing/refer").status_code == 403
