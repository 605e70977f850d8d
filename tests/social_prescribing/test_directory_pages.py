"""Finding a community service over HTTP, signed in through the form, on SQLite and
PostgreSQL: the search form's needs, postcode, distance, day and time and accessibility, its
errors in the NHS.UK error summary with what was typed kept, the person's own postcode when
opened from their record, and each service's page. The place: tests/web/social_prescribing_place.py
(Mary at QX1 1AA; the Brook Centre 0.7 miles north, Mill Lane Park 2.1 miles)."""

from __future__ import annotations

import re
from datetime import timedelta

from careweave.coordination.record import today
from careweave.social_prescribing.directory_records import close_service
from tests.coordination.place import Place
from tests.web.social_prescribing_place import (
    MARYS_POSTCODE,
    STALE_LINE,
    error_summary,
    sp_pages,
    text_of,
)

__all__ = ["sp_pages"]


def found(page: str) -> list[str]:
    """The names of the services listed as results, in order."""
    return re.findall(
        r'class="nhsuk-card__link" href="/directory/services/[^"]+">([^<]+)</a>', page
    )


def test_need_and_postcode_list_the_nearest_first_with_miles(sp_pages: Place) -> None:
    lw = sp_pages.sign_in("pat.lw")
    page = lw.get(
        "/directory",
        params={
            "searched": "yes",
            "need": ["befriending", "physical-activity"],
            "postcode": "qx11aa",
        },
    )
    assert page.status_code == 200, page.text
    # The Brook Centre (friendship circle, lunch club) is nearer than Mill Lane Park; the phone
    # line has no venue, so no distance, and is left out of a search by distance.
    assert found(page.text) == ["Friendship circle", "Lunch club", "Walking group"]
    text = text_of(page.text)
    assert "Nearest first" in text and "from QX1 1AA" in text
    assert "Distance 0.7 miles (Brook Centre, QX1 2AB)" in text
    assert "Distance 2.1 miles (Mill Lane Park, QX1 3AB)" in text
    assert "Cost There is a charge (£4.50 for lunch)" in text
    assert "Opening times Tuesday, 11:30 to 14:00" in text
    assert "How to refer Phone, Through a social prescribing link worker" in text

    within = lw.get(
        "/directory",
        params={"searched": "yes", "need": "befriending", "postcode": MARYS_POSTCODE, "miles": "1"},
    )
    assert found(within.text) == ["Friendship circle", "Lunch club"]
    # What was asked stays on the form.
    assert 'value="befriending" checked' in within.text
    assert '<option value="1" selected>' in within.text


def test_day_time_and_accessibility_narrow_the_search(sp_pages: Place) -> None:
    lw = sp_pages.sign_in("pat.lw")
    tuesday_lunch = lw.get(
        "/directory",
        params={"searched": "yes", "need": "befriending", "day": "tue", "time": "12:15"},
    )
    assert found(tuesday_lunch.text) == ["Lunch club"]
    wednesday = lw.get("/directory", params={"searched": "yes", "day": "wed", "time": "09:00"})
    assert found(wednesday.text) == ["Telephone friends"]  # all day on Wednesdays
    assert "In name order" in text_of(wednesday.text)
    stepfree = lw.get("/directory", params={"searched": "yes", "access": "step-free-access"})
    assert found(stepfree.text) == []
    assert "No services match" in text_of(stepfree.text)


def test_a_bad_postcode_or_time_is_shown_in_the_error_summary_and_kept(sp_pages: Place) -> None:
    lw = sp_pages.sign_in("pat.lw")
    page = lw.get(
        "/directory",
        params={"searched": "yes", "need": "befriending", "postcode": "Ashby 1", "day": "mon"},
    )
    assert page.status_code == 400
    summary = error_summary(page.text)
    assert "'Ashby 1' is not a postcode (a postcode looks like QX4 2AB)" in summary
    assert "Enter a time, for example 14:30" in summary
    assert 'href="#postcode"' in page.text and 'href="#time"' in page.text
    assert 'value="Ashby 1"' in page.text  # what was typed is kept
    assert found(page.text) == []
    assert page.text.count('class="nhsuk-error-message"') == 2

    unknown = lw.get("/directory", params={"searched": "yes", "postcode": "QX9 9ZZ"})
    assert unknown.status_code == 400
    assert "The postcode QX9 9ZZ is not one careweave knows the position of" in error_summary(
        unknown.text
    )
    far = lw.get("/directory", params={"searched": "yes", "miles": "5"})
    assert "Enter a postcode to search within a distance" in error_summary(far.text)


def test_opened_from_a_persons_record_it_starts_from_their_postcode(sp_pages: Place) -> None:
    cara = sp_pages.sign_in("cara.coord")
    page = cara.get("/directory?person=mary")
    assert page.status_code == 200
    assert f'value="{MARYS_POSTCODE}"' in page.text
    assert f"Mary Example's postcode is {MARYS_POSTCODE}" in text_of(page.text)
    assert 'name="person" value="mary"' in page.text  # kept when the form is sent
    # Someone Cara has no relationship with is not found, as if they did not exist.
    assert cara.get("/directory?person=sid").status_code == 404


def test_each_service_has_a_page_and_stale_or_closed_entries_say_so(sp_pages: Place) -> None:
    lw = sp_pages.sign_in("pat.lw")
    page = lw.get(f"/directory/services/{STALE_LINE}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Not checked for over 6 months" in text
    assert "Telephone friends" in text and "Mill Lane Walkers" in text
    assert "Phone 01632 960777" in text
    assert "Checked, still correct" not in text  # a link worker cannot change entries
    assert lw.get("/directory/services/nowhere").status_code == 404
    assert lw.get("/directory/services/bad%20id").status_code == 404

    with sp_pages.store.transaction() as tx:
        close_service(tx, "walk", today() - timedelta(days=3))
    closed = lw.get("/directory/services/walk")
    assert "This service has closed" in text_of(closed.text)
    everything = lw.get("/directory", params={"searched": "yes", "postcode": MARYS_POSTCODE})
    assert "Walking group" not in found(everything.text)


def test_the_directory_is_for_staff_only(sp_pages: Place) -> None:
    mary = sp_pages.sign_in("mary")
    assert mary.get("/directory").status_code == 403
    admin = sp_pages.sign_in("ada.admin")
    assert admin.get("/directory").status_code == 200  # an administrator keeps it
    anonymous = sp_pages.sign_in("ann.gp")
    anonymous.cookies.clear()
    response = anonymous.get("/directory", follow_redirects=False)
    assert response.status_code == 303 and "/sign-in" in response.headers["location"]
