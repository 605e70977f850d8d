"""Referrals for the people a coordinator coordinates, on their caseload, on SQLite and
PostgreSQL: whoever made them, the coordinator follows where each stands (waiting, accepted,
rejected and needing action, overdue), newest change first; closed ones drop off, and people
they do not coordinate are never shown."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from careweave.coordination import codes
from careweave.coordination.caseload import MAX_REFERRALS, caseload
from careweave.coordination.record import new_submission_token, today
from careweave.coordination.referrals import SERVICE_BY_KEY, make_referral, take_action
from careweave.coordination.tasks import TaskAction
from careweave.web.pages import uk_date
from tests.coordination.place import Place
from tests.coordination.test_caseload import build_caseload, on

COMMUNITY = "Northshire Community Health NHS Trust"
COUNCIL = "Northshire Council Adult Social Care"


def refer(place: Place, username: str, patient: str, service: str, organisation: str) -> str:
    made = make_referral(
        place.access(username),
        patient,
        service,
        organisation,
        f"Please see {patient}.",
        "routine",
        today() + timedelta(days=7),
        new_submission_token(),
    )
    return made.task_id


def act(place: Place, username: str, task_id: str, action: TaskAction, **words: str) -> None:
    version = int(place.store.read("Task", task_id).as_dict()["meta"]["versionId"])
    take_action(place.access(username), task_id, action, version=version, **words)


def late_referral(place: Place, referral_id: str, patient: str, days_late: int = 3) -> None:
    """A referral from another system, already past its respond-by date (written directly:
    the form refuses a date in the past)."""
    place.put(
        {
            "resourceType": "ServiceRequest",
            "id": f"sr-{referral_id}",
            "status": "active",
            "intent": "order",
            "code": SERVICE_BY_KEY["falls-service"].concept(),
            "subject": {"reference": f"Patient/{patient}"},
            "performer": [{"reference": "Organization/community", "display": COMMUNITY}],
        }
    )
    place.put(
        {
            "resourceType": "Task",
            "id": f"t-{referral_id}",
            "status": "received",
            "intent": "order",
            "code": codes.concept(*codes.FULFIL, "Fulfill the focal request"),
            "focus": {"reference": f"ServiceRequest/sr-{referral_id}"},
            "for": {"reference": f"Patient/{patient}"},
            "owner": {"reference": "Organization/community"},
            "restriction": {"period": {"end": on(-days_late)}},
        }
    )


@pytest.fixture
def referrals(place: Place) -> dict[str, str]:
    """Cara coordinates Mary and Joe and covers Ben (build_caseload). Referrals for them in
    every state, one for Sid (Hal's), and the order they last changed in."""
    build_caseload(place)
    made = {
        "mary-nursing": refer(place, "cara.coord", "mary", "community-nursing", "community"),
        "joe-social": refer(place, "cara.coord", "joe", "social-care-assessment", "council"),
        "ben-falls": refer(place, "ann.gp", "ben", "falls-service", "community"),
        "mary-hospice": refer(place, "cara.coord", "mary", "hospice", "voluntary"),
        "joe-ot": refer(place, "cara.coord", "joe", "occupational-therapy", "council"),
        "sid-nursing": refer(place, "hal.gp", "sid", "community-nursing", "community"),
    }
    act(place, "cara.coord", made["mary-hospice"], TaskAction.CANCEL)
    act(place, "sam.sw", made["joe-ot"], TaskAction.REJECT, reason="Not our area")
    act(place, "cara.coord", made["joe-ot"], TaskAction.CLOSE)
    late_referral(place, "ben-late", "ben")
    made["ben-late"] = "t-ben-late"
    act(place, "nina.nurse", made["mary-nursing"], TaskAction.ACCEPT)
    act(place, "sam.sw", made["joe-social"], TaskAction.REJECT, reason="Needs a GP letter")
    return made


def test_cara_follows_the_referrals_for_the_people_she_coordinates(
    place: Place, referrals: dict[str, str]
) -> None:
    found = caseload(place.access("cara.coord"))
    shown = [(r.task_id, r.patient_id, r.service, r.status) for r in found.referrals]
    # Newest change first; the cancelled, the rejected-and-closed and Sid's are not listed.
    assert shown == [
        (referrals["joe-social"], "joe", "Social care assessment", "Rejected \u2013 needs action"),
        (referrals["mary-nursing"], "mary", "Community nursing", "Accepted"),
        ("t-ben-late", "ben", "Falls service", "Waiting for a response"),
        (referrals["ben-falls"], "ben", "Falls service", "Waiting for a response"),
    ]
    assert not found.more_referrals
    by_task = {r.task_id: r for r in found.referrals}
    nursing = by_task[referrals["mary-nursing"]]
    assert (nursing.person_name, nursing.to_organisation_id, nursing.to_organisation) == (
        "Mary Example",
        "community",
        COMMUNITY,
    )
    assert (nursing.due, nursing.overdue) == (today() + timedelta(days=7), False)
    assert by_task[referrals["joe-social"]].needs_action
    assert by_task["t-ben-late"].overdue and by_task["t-ben-late"].due == today() - timedelta(3)
    assert not by_task[referrals["ben-falls"]].needs_action

    # Once Cara closes the rejected referral it is no longer one to follow.
    act(place, "cara.coord", referrals["joe-social"], TaskAction.CLOSE)
    after = [r.task_id for r in caseload(place.access("cara.coord")).referrals]
    assert referrals["joe-social"] not in after and len(after) == 3


def test_only_the_people_coordinated_count(place: Place, referrals: dict[str, str]) -> None:
    # Hal coordinates Sid only; Nina coordinates no one (so no one's referrals).
    hal = caseload(place.access("hal.gp"))
    assert [(r.task_id, r.status) for r in hal.referrals] == [
        (referrals["sid-nursing"], "Waiting for a response")
    ]
    assert caseload(place.access("nina.nurse")).referrals == []


def test_at_most_fifty_are_listed_newest_first(place: Place) -> None:
    build_caseload(place)
    for number in range(MAX_REFERRALS + 1):
        late_referral(place, f"mary-{number:02d}", "mary", days_late=1)
    found = caseload(place.access("cara.coord"))
    assert len(found.referrals) == MAX_REFERRALS and found.more_referrals
    assert [r.task_id for r in found.referrals[:2]] == ["t-mary-50", "t-mary-49"]
    page = place.sign_in("cara.coord").get("/caseload").text
    assert f"There are more than {MAX_REFERRALS} open referrals" in page


def referrals_section(html: str) -> str:
    return html.split('id="referrals"', 1)[1]


def test_the_caseload_page_shows_where_each_referral_stands(
    place: Place, referrals: dict[str, str]
) -> None:
    page = place.sign_in("cara.coord").get("/caseload")
    assert page.status_code == 200
    assert '<h2 id="referrals">Referrals for people you coordinate</h2>' in page.text
    section = referrals_section(page.text)
    rows = re.findall(r"<tr class=\"nhsuk-table__row\" role=\"row\">(.*?)</tr>", section, re.S)
    assert len(rows) == 5  # the header row and four referrals
    joe, mary, late, ben = rows[1:]
    assert 'href="/people/joe/referrals">Joe Other' in joe
    assert "Rejected \u2013 needs action" in joe and COUNCIL in joe
    assert 'href="/people/mary/referrals">Mary Example' in mary
    assert f'href="/tasks/{referrals["mary-nursing"]}">Community nursing</a>' in mary
    assert f"Accepted by {COMMUNITY}" in mary
    assert uk_date(today() + timedelta(days=7)) in mary
    assert 'nhsuk-tag--red">Overdue' in late and "Overdue" not in ben
    assert "Waiting for a response" in ben and "Sid Stranger" not in section
    assert "There are more than" not in section
    # The other parts of the page are as they were.
    assert page.text.index('id="people"') < page.text.index('id="tasks"')
    assert page.text.index('id="tasks"') < page.text.index('id="referrals"')


def test_a_coordinator_with_nothing_referred_is_told_so(place: Place) -> None:
    build_caseload(place)
    html = place.sign_in("cara.coord").get("/caseload").text
    assert "There are no open referrals for the people you coordinate." in html
    # Nina coordinates no one: the section is not shown at all.
    assert 'id="referrals"' not in place.sign_in("nina.nurse").get("/caseload").text
