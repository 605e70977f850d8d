"""The person summary and timeline pages over HTTP, on SQLite and PostgreSQL: what staff see of
Mary's record and where each item came from, what they may not see, who is refused, and that
stored text is shown as text."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from careweave.coordination.record import today
from careweave.store.access_tables import audit_log
from tests.coordination.place import Place
from tests.coordination.test_summary import build_marys_record, day


def section(html: str, heading_id: str) -> str:
    """The page from the heading with this id up to the next h2."""
    match = re.search(rf'<h2 id="{heading_id}">.*?(?=<h2|</main>|$)', html, re.DOTALL)
    assert match, f"no section {heading_id}"
    return match.group(0)


def test_the_summary_shows_every_section_with_its_source(place: Place) -> None:
    build_marys_record(place)
    response = place.sign_in("ann.gp").get("/people/mary")
    assert response.status_code == 200, response.text
    html = response.text
    assert "Mary Example" in html and "999 000 0018" in html
    assert response.headers["Cache-Control"] == "no-store"

    # The alert is at the top, in a warning callout.
    alert = html.index("Key safe by the back door")
    assert 'nhsuk-card nhsuk-card--warning" id="alerts-section"' in html
    assert alert < html.index('id="personal-details"')
    assert "Northshire Council Adult Social Care" in html[alert : alert + 400]

    details = section(html, "personal-details")
    assert "1 Mill Lane" in details and "NS1 1AA" in details
    assert 'href="tel:01632960999"' in details and "White - British" in details

    team = section(html, "care-team")
    assert "Named coordinator: Cara Coordinator" in team
    assert "cara.coord@example.org" in team and "Nina Nurse" in team
    assert 'href="/people/mary/care-team"' in team

    conditions = section(html, "conditions")
    assert "Heart failure" in conditions
    assert "Riverside Surgery (Ann Example), 1 May 2019" in conditions
    assert "Osteoarthritis of knee" in conditions and "Hilltop Practice" in conditions
    assert "Organisation not recorded" in conditions  # Hypertension: no source at all
    assert "Chest infection" not in html  # resolved

    medicines = section(html, "medicines")
    assert "Furosemide 40mg tablets" in medicines and "One tablet each morning" in medicines
    assert "Amoxicillin" not in html  # stopped

    assert "Penicillin" in section(html, "allergies")
    frailty = section(html, "frailty")
    assert "Moderate frailty" in frailty
    assert "Northshire Community Health NHS Trust" in frailty

    hospital = section(html, "hospital")
    assert "A&amp;E attendance" in hospital and "Fall at home" in hospital
    assert "Hospital admission" in hospital and "7 days" in hospital
    assert "Northshire General Hospital NHS Trust" in hospital
    assert "In hospital now" not in html

    social = section(html, "social-care")
    assert "Home care package" in social and "10.5" in social
    assert "Helping Hands Home Care" in social and "Review due 1 August 2026" in social

    carers = section(html, "carers")
    assert "Carl Example" in carers and "Son" in carers and "07700 900123" in carers

    referrals = section(html, "referrals")
    assert '<a href="/tasks/t-nursing">Community nursing</a>' in referrals
    assert "Accepted" in referrals and "Home care (domiciliary care)" not in referrals

    tasks = section(html, "tasks")
    assert '<a href="/tasks/t-overdue">Arrange a falls assessment</a>' in tasks
    assert '<strong class="nhsuk-tag nhsuk-tag--red">Overdue</strong>' in tasks
    assert "Order a perching stool" not in html  # completed


def test_stored_text_is_shown_as_text(place: Place) -> None:
    build_marys_record(place)
    html = place.sign_in("ann.gp").get("/people/mary").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>alert(" not in html


def test_empty_sections_say_none_recorded(place: Place) -> None:
    html = place.sign_in("ann.gp").get("/people/joe").text
    for heading in ("conditions", "medicines", "allergies", "hospital", "carers", "tasks"):
        assert "<p>None recorded</p>" in section(html, heading), heading
    assert "No frailty recorded" in section(html, "frailty")
    assert "None recorded" in section(html, "alerts-section")
    assert "nhsuk-card--warning" not in html


def test_records_the_role_may_not_see_are_not_there(place: Place) -> None:
    build_marys_record(place)
    assert "Sexual health clinic finding" in place.sign_in("ann.gp").get("/people/mary").text
    coordinator = place.sign_in("cara.coord").get("/people/mary").text
    assert "Heart failure" in coordinator
    assert "Sexual health clinic finding" not in coordinator
    assert "Moderate frailty" not in coordinator
    link_worker = place.sign_in("lee.lw").get("/people/mary").text
    assert "Not shared with your role" in section(link_worker, "conditions")
    assert "Heart failure" not in link_worker and "Community nursing" in link_worker


def test_a_current_admission_is_highlighted(place: Place) -> None:
    build_marys_record(place)
    place.put(
        {
            "resourceType": "Encounter",
            "id": "e-now",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": "Patient/mary"},
            "period": {"start": day(2)},
            "serviceProvider": {"reference": "Organization/acute"},
        }
    )
    html = place.sign_in("dan.dc").get("/people/mary").text
    notice = html.index("In hospital now.")
    assert notice < html.index('id="personal-details"')
    assert "at Northshire General Hospital NHS Trust" in html[notice : notice + 300]
    assert "2 days so far" in section(html, "hospital")


def test_no_relationship_is_page_not_found(place: Place) -> None:
    build_marys_record(place)
    browser = place.sign_in("hal.gp")
    for path in ("/people/mary", "/people/mary/timeline", "/people/nobody", "/people/bad$id"):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert "Mary" not in response.text


def test_the_person_and_their_carer_are_refused_staff_pages(place: Place) -> None:
    build_marys_record(place)
    for username in ("mary", "carl"):
        browser = place.sign_in(username)
        for path in ("/people/mary", "/people/mary/timeline"):
            response = browser.get(path)
            assert response.status_code == 403, (username, path)
            assert "Heart failure" not in response.text


def test_signing_in_is_needed(place: Place) -> None:
    from fastapi.testclient import TestClient

    with TestClient(place.app) as browser:
        response = browser.get("/people/mary", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


def test_opening_the_page_is_in_marys_audit_trail(place: Place) -> None:
    build_marys_record(place)
    place.sign_in("nina.nurse").get("/people/mary")
    with place.store.database.read() as conn:
        rows = conn.execute(
            select(audit_log.c.event, audit_log.c.outcome).where(
                audit_log.c.username == "nina.nurse", audit_log.c.patient_id == "mary"
            )
        ).all()
    assert ("search", "0") in [(r[0], r[1]) for r in rows]


def test_the_timeline_filters_and_pages(place: Place) -> None:
    build_marys_record(place)
    for n in range(55):
        place.put(
            {
                "resourceType": "Communication",
                "id": f"note-{n}",
                "status": "completed",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "https://fhir.careweave.example/CodeSystem/"
                                "communication-category",
                                "code": "note",
                            }
                        ]
                    }
                ],
                "subject": {"reference": "Patient/mary"},
                "sent": (today() - timedelta(days=100 + n)).isoformat() + "T10:00:00Z",
                "sender": {"reference": "PractitionerRole/prr-cara"},
                "payload": [{"contentString": f"Phoned Mary, note {n}"}],
            }
        )
    browser = place.sign_in("ann.gp")
    everything = browser.get("/people/mary/timeline")
    assert everything.status_code == 200
    html = everything.text
    assert 'aria-current="page"' in html and "Timeline across organisations" in html
    first_rows = re.findall(r'<tr class="nhsuk-table__row">', html.split("<tbody", 1)[1])
    assert len(first_rows) == 50
    # Newest first: the referral (10 days ago) comes before the A&E attendance (20 days ago).
    assert html.index("Referral made: Community nursing") < html.index("A&amp;E attendance")
    older = re.search(r'href="(/people/mary/timeline\?after=[^"]+)" rel="next"', html)
    assert older, "no Older entries link"
    second = browser.get(older.group(1).replace("&amp;", "&")).text
    notes_first = set(re.findall(r"note (\d+)", html))
    notes_second = set(re.findall(r"note (\d+)", second))
    assert notes_first and notes_second and not notes_first & notes_second
    assert "Newest entries" in second

    referrals = browser.get("/people/mary/timeline?kind=referrals").text
    assert "Referral made: Community nursing" in referrals
    assert "Phoned Mary" not in referrals and "Admitted to hospital" not in referrals
    assert 'value="referrals" checked' in referrals
    assert browser.get("/people/mary/timeline?after=nonsense").status_code == 400
