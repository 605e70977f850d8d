"""The summary's social care packages are the social care page's, on SQLite and PostgreSQL:
an episode of care a referral started (community nursing accepting a referral) is not a care
package, and its referral stays a referral; a care-home place recorded as an episode only is
one."""

from __future__ import annotations

from careweave.coordination.social_care import social_care_of
from careweave.coordination.summary import person_summary
from careweave.coordination.tasks import TaskAction
from tests.coordination.place import Place
from tests.coordination.test_referrals import act, refer
from tests.coordination.test_summary import SOCIAL_CARE, build_marys_record, coding, day


def test_a_referrals_episode_is_not_a_care_package(place: Place) -> None:
    build_marys_record(place)
    made = refer(place)
    act(place, "nina.nurse", made.task_id, TaskAction.ACCEPT)  # starts the nurses' episode

    summary = person_summary(place.access("ann.gp"), "mary")
    assert [(p.description, p.provider) for p in summary.care_packages] == [
        ("Home care package", "Helping Hands Home Care")
    ]
    assert made.service_request_id in {r.service_request_id for r in summary.referrals}
    # The same packages as the social care page.
    picture = social_care_of(place.access("ann.gp"), "mary")
    assert [p.service_request_id for p in picture.current_packages] == ["sr-homecare"]


def test_a_care_home_place_recorded_as_an_episode_only_is_a_package(place: Place) -> None:
    build_marys_record(place)
    place.put(
        {
            "resourceType": "EpisodeOfCare",
            "id": "ep-care-home",
            "status": "active",
            "type": [coding(SOCIAL_CARE, "care-home", "Residential care")],
            "patient": {"reference": "Patient/mary"},
            "managingOrganization": {"reference": "Organization/council"},
            "period": {"start": day(30)},
        }
    )
    place.put(
        {
            "resourceType": "EpisodeOfCare",
            "id": "ep-other",
            "status": "active",
            "type": [{"text": "Falls prevention service"}],
            "patient": {"reference": "Patient/mary"},
            "managingOrganization": {"reference": "Organization/community"},
            "period": {"start": day(30)},
        }
    )
    packages = person_summary(place.access("ann.gp"), "mary").care_packages
    assert sorted((p.description, p.care_home) for p in packages) == [
        ("Home care package", False),
        ("Residential care", True),
    ]


def test_the_page_shows_no_referral_episode_under_social_care(place: Place) -> None:
    build_marys_record(place)
    made = refer(place)
    act(place, "nina.nurse", made.task_id, TaskAction.ACCEPT)
    html = place.sign_in("ann.gp").get("/people/mary").text
    start = html.index('<h2 id="social-care">')
    social = html[start : html.index("<h2", start + 1)]
    assert "Home care package" in social
    assert "Northshire Community Health NHS Trust" not in social
    assert "ommunity nursing" not in social
