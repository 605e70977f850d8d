"""The carers pages over HTTP, signed in through the form (SQLite and PostgreSQL)."""

from __future__ import annotations

from careweave.access.consent import carer_consent_of
from careweave.coordination.carers import carers_of
from careweave.coordination.record import find
from tests.coordination.place import Place, csrf_of
from tests.coordination.test_care_plan_pages import hidden, submit
from tests.coordination.test_carers import plan_and_team

CARERS = "/people/mary/carers"
SUSAN = {
    "given": "Susan",
    "family": "Example",
    "relationship": "DAU",
    "phone": "07700 900456",
    "email": "",
    "main_carer": "yes",
}


def test_the_page_lists_carers_with_contacts_and_whether_they_see_the_plan(place: Place) -> None:
    plan_and_team(place)
    page = place.sign_in("cara.coord").get(CARERS)
    assert page.status_code == 200
    assert 'href="/people/mary/carers" aria-current="page"' in page.text
    assert "Carl Example" in page.text and "07700 900123" in page.text
    assert "Record a carer" in page.text and "Record consent" in page.text
    assert "Can see the care plan" in page.text and ">No<" in page.text


def test_recording_a_carer_checks_the_form_keeps_what_was_typed_and_makes_one(
    place: Place,
) -> None:
    cara = place.sign_in("cara.coord")
    wrong = submit(cara, f"{CARERS}/new", f"{CARERS}/new", {**SUSAN, "given": "", "phone": "12"})
    assert wrong.status_code == 400
    assert "There is a problem" in wrong.text
    assert 'href="#given">Enter the carer&#39;s first name' in wrong.text
    assert 'href="#phone"' in wrong.text
    assert 'value="Example"' in wrong.text and 'value="12"' in wrong.text
    assert find(place.access("cara.coord"), "RelatedPerson", [("patient", "Patient/mary")]) == [
        find(place.access("cara.coord"), "RelatedPerson", [("_id", "carl")])[0]
    ]

    form = cara.get(f"{CARERS}/new").text
    data = {"csrf_token": csrf_of(form), "token": hidden(form, "token"), **SUSAN}
    first = cara.post(f"{CARERS}/new", data=data, follow_redirects=False)
    again = cara.post(f"{CARERS}/new", data=data, follow_redirects=False)
    assert (first.status_code, again.status_code) == (303, 303)
    assert first.headers["location"] == f"{CARERS}?done=recorded"
    carers = carers_of(place.access("cara.coord"), "mary")
    assert [c.name for c in carers] == ["Susan Example", "Carl Example"]
    shown = cara.get(first.headers["location"]).text
    assert "The carer has been recorded" in shown and "Main carer" in shown


def test_a_stale_change_is_shown_with_what_was_typed_kept(place: Place) -> None:
    cara, ann = place.sign_in("cara.coord"), place.sign_in("ann.gp")
    plan_and_team(place)
    change = f"{CARERS}/carl/change"
    cara_form = cara.get(change).text
    assert 'value="Carl"' in cara_form
    # Meanwhile Dr Ann changes Carl's details from her own screen.
    ann_change = submit(
        ann, change, change, {**SUSAN, "given": "Carl", "relationship": "SON", "main_carer": ""}
    )
    assert ann_change.status_code == 303
    stale = cara.post(
        change,
        data={
            "csrf_token": csrf_of(cara_form),
            "version": hidden(cara_form, "version"),
            **SUSAN,
            "given": "Carlos",
            "relationship": "SON",
        },
        follow_redirects=False,
    )
    assert stale.status_code == 409
    assert "Someone else changed" in stale.text and 'value="Carlos"' in stale.text
    carl = next(c for c in carers_of(place.access("cara.coord"), "mary") if c.name)
    assert carl.given == "Carl"


def test_consent_needs_the_confirmation_then_opens_the_plan_to_the_carer(place: Place) -> None:
    plan_and_team(place)
    cara = place.sign_in("cara.coord")
    page = cara.get(CARERS).text
    refused = cara.post(
        f"{CARERS}/carl/consent", data={"csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert refused.status_code == 400 and 'href="#agreed-carl"' in refused.text
    assert carer_consent_of(place.store, "mary", "carl") is None

    given = cara.post(
        f"{CARERS}/carl/consent",
        data={"csrf_token": csrf_of(page), "agreed": "yes"},
        follow_redirects=False,
    )
    assert given.headers["location"] == f"{CARERS}?done=consented"
    assert carer_consent_of(place.store, "mary", "carl") is not None
    assert "Withdraw consent" in cara.get(CARERS).text

    withdrawn = cara.post(
        f"{CARERS}/carl/consent/withdraw",
        data={"csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert withdrawn.headers["location"] == f"{CARERS}?done=withdrawn"
    assert carer_consent_of(place.store, "mary", "carl") is None


def test_no_longer_caring_ends_the_carer_and_people_without_access_see_nothing(
    place: Place,
) -> None:
    plan_and_team(place)
    cara = place.sign_in("cara.coord")
    page = cara.get(CARERS).text
    stopped = cara.post(
        f"{CARERS}/carl/stop",
        data={"csrf_token": csrf_of(page), "version": "1"},
        follow_redirects=False,
    )
    assert stopped.headers["location"] == f"{CARERS}?done=stopped"
    assert "No longer caring" in cara.get(CARERS).text
    # Hal (Hilltop practice) has no relationship with Mary; Mary herself uses /my-care.
    assert place.sign_in("hal.gp").get(CARERS).status_code == 404
    assert place.sign_in("mary").get(CARERS).status_code == 403
    assert cara.get("/people/mary/carers/not-hers/change").status_code == 404
    assert cara.get("/people/joe/carers/carl/change").status_code == 404
