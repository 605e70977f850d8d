"""The notifications page over HTTP, signed in through the form, on SQLite and PostgreSQL:
each member of staff sees their own, newest first, unread counted and marked; marking read
needs the session's CSRF token; a person is named only while the reader may see them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from careweave.coordination.codes import CARE_TEAM_CATEGORY, CARE_TEAM_ROLE, V3_ACT_CODE, concept
from careweave.coordination.record import UK
from careweave.store.access_tables import user_account
from careweave.store.notification_tables import notification
from careweave.web.wording import london_time
from tests.coordination.place import Place, csrf_of

TODAY = datetime.now(UTC).astimezone(UK).date()


@pytest.fixture
def admitted(place: Place) -> Place:
    """Mary's care team (Cara, Nina), then her admission and, later, her discharge."""
    place.put(
        {
            "resourceType": "CareTeam",
            "id": "team-mary",
            "status": "active",
            "category": [concept(*CARE_TEAM_CATEGORY)],
            "subject": {"reference": "Patient/mary"},
            "participant": [
                {
                    "role": [concept(CARE_TEAM_ROLE, role)],
                    "member": {"reference": f"PractitionerRole/{member}"},
                    "onBehalfOf": {"reference": f"Organization/{organisation}"},
                }
                for member, organisation, role in (
                    ("prr-cara", "riverside", "coordinator"),
                    ("prr-nina", "community", "member"),
                )
            ],
        }
    )
    stay: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": "stay-mary",
        "status": "in-progress",
        "class": {"system": V3_ACT_CODE, "code": "IMP"},
        "subject": {"reference": "Patient/mary"},
        "serviceProvider": {"reference": "Organization/acute"},
        "period": {"start": TODAY.isoformat()},
    }
    place.put(stay)
    place.put(
        {**stay, "status": "finished", "period": {**stay["period"], "end": TODAY.isoformat()}}
    )
    return place


def user_pk(place: Place, username: str) -> int:
    with place.store.database.read() as conn:
        return int(
            conn.execute(
                select(user_account.c.pk).where(user_account.c.username == username)
            ).scalar_one()
        )


def notifications_of(place: Place, username: str) -> list[tuple[int, str, bool]]:
    """(pk, kind, read) of a user's notifications, oldest first."""
    n = notification
    with place.store.database.read() as conn:
        rows = conn.execute(
            select(n.c.pk, n.c.kind, n.c.read_at)
            .where(n.c.user_pk == user_pk(place, username))
            .order_by(n.c.pk)
        ).all()
    return [(row[0], row[1], row[2] is not None) for row in rows]


def heading(html: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert match
    return match.group(1).strip()


def test_the_list_shows_the_readers_own_newest_first(admitted: Place) -> None:
    # Something only Nina is told: a referral to the community trust.
    n = notification
    with admitted.store.database.write() as conn:
        conn.execute(
            insert(n).values(
                user_pk=user_pk(admitted, "nina.nurse"),
                patient_id="mary",
                kind="referral-received",
                text="Referral received: Community nursing assessment",
                link="/people/mary/referrals",
                resource_reference="Task/t1",
                created=datetime.now(UTC).replace(tzinfo=None),
            )
        )
    page = admitted.sign_in("cara.coord").get("/notifications")
    assert page.status_code == 200
    html = page.text
    assert heading(html) == "Notifications (2 unread)"
    assert "<title>Notifications (2 unread) \u2013 careweave</title>" in html
    assert html.index("Discharged from hospital") < html.index("Admitted to hospital")
    assert "Referral received" not in html  # Nina's, not Cara's
    assert "Mary Example" in html and "NHS number 999 000 0018" in html
    assert html.count('<strong class="nhsuk-tag nhsuk-tag--blue">New</strong>') == 2
    assert 'href="/people/mary/timeline"' in html
    with admitted.store.database.read() as conn:
        created = conn.execute(select(n.c.created).order_by(n.c.pk)).scalars().first()
    assert created is not None
    assert london_time(created.replace(tzinfo=UTC)) in html
    assert '<caption class="nhsuk-table__caption nhsuk-table__caption--m">' in html

    nina = admitted.sign_in("nina.nurse").get("/notifications").text
    assert heading(nina) == "Notifications (3 unread)"
    assert "Referral received: Community nursing assessment" in nina


def test_marking_all_read_needs_the_csrf_token(admitted: Place) -> None:
    browser = admitted.sign_in("cara.coord")
    html = browser.get("/notifications").text
    forged = browser.post("/notifications/read", data={"csrf_token": "not-the-token"})
    assert forged.status_code == 403
    assert all(not read for _, _, read in notifications_of(admitted, "cara.coord"))

    done = browser.post(
        "/notifications/read", data={"csrf_token": csrf_of(html)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/notifications?done=all"
    after = browser.get(done.headers["location"]).text
    assert heading(after) == "Notifications"
    assert "All your notifications are marked as read" in after
    assert "nhsuk-tag--blue" not in after
    assert all(read for _, _, read in notifications_of(admitted, "cara.coord"))
    assert not any(read for _, _, read in notifications_of(admitted, "nina.nurse"))


def test_marking_one_read_leaves_the_others(admitted: Place) -> None:
    browser = admitted.sign_in("cara.coord")
    token = csrf_of(browser.get("/notifications").text)
    first, second = (pk for pk, _, _ in notifications_of(admitted, "cara.coord"))
    done = browser.post(
        "/notifications/read",
        data={"csrf_token": token, "notification": str(first)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert notifications_of(admitted, "cara.coord") == [
        (first, "admission", True),
        (second, "discharge", False),
    ]
    # Sent twice (a double click): still read, and no error.
    again = browser.post(
        "/notifications/read",
        data={"csrf_token": token, "notification": str(first)},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert heading(browser.get("/notifications").text) == "Notifications (1 unread)"


@pytest.mark.parametrize("chosen", ["not-a-number", "-1", "999999"])
def test_someone_elses_or_no_notification_is_refused(admitted: Place, chosen: str) -> None:
    browser = admitted.sign_in("cara.coord")
    token = csrf_of(browser.get("/notifications").text)
    ninas = notifications_of(admitted, "nina.nurse")[0][0]
    for value in (chosen, str(ninas)):
        refused = browser.post(
            "/notifications/read", data={"csrf_token": token, "notification": value}
        )
        assert refused.status_code == 400
        assert "There is a problem" in refused.text
        assert "That notification could not be found" in refused.text
    assert not any(read for _, _, read in notifications_of(admitted, "nina.nurse"))
    assert not any(read for _, _, read in notifications_of(admitted, "cara.coord"))


def test_a_person_the_reader_cannot_see_now_is_not_named(admitted: Place) -> None:
    n = notification
    with admitted.store.database.write() as conn:
        conn.execute(
            insert(n).values(
                user_pk=user_pk(admitted, "cara.coord"),
                patient_id="sid",
                kind="admission",
                text="Admitted to hospital",
                link="/people/sid/timeline",
                resource_reference="Encounter/elsewhere",
                created=datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1),
            )
        )
    html = admitted.sign_in("cara.coord").get("/notifications").text
    assert "Someone whose record you cannot see now" in html
    assert "Sid Stranger" not in html and "/people/sid" not in html
    assert "Mary Example" in html


def test_the_page_is_for_care_staff(admitted: Place) -> None:
    refused = admitted.sign_in("mary").get("/notifications")
    assert refused.status_code == 403
    anonymous = admitted.sign_in("cara.coord")
    anonymous.cookies.clear()
    assert anonymous.get("/notifications", follow_redirects=False).status_code in (302, 303)


def test_nothing_to_tell(place: Place) -> None:
    html = place.sign_in("hal.gp").get("/notifications").text
    assert heading(html) == "Notifications"
    assert "You have no notifications." in html
    assert "Mark all as read" not in html
