"""The social prescribing pathway for one person, on SQLite and PostgreSQL: Dr Ann Example
(Riverside Surgery) refers Mary; Pat Pathway, link worker at the Northshire Social Prescribing
Network, takes her on, talks with her about what matters, agrees a plan, connects her to a lunch
club (Vic Volunteer at Brook Good Neighbours records that she went) and a walking group (she
decided against it), measures her wellbeing at the start and the end, and ends her support; the
GP is told. Then triage refusals and the steps' own checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from careweave.coordination import codes
from careweave.coordination.care_plan import care_plan_of
from careweave.coordination.care_plan_actions import create_plan
from careweave.coordination.people import person_banner
from careweave.coordination.record import new_submission_token, today
from careweave.coordination.referrals import referrals_for_person, take_action, task_details
from careweave.coordination.tasks import TaskAction
from careweave.fhir.errors import NotFound
from careweave.fhir.search_query import parse_search
from careweave.social_prescribing.closing import OUTCOME_NOTICE, close_episode
from careweave.social_prescribing.connections import connect, connections_of, record_outcome
from careweave.social_prescribing.episode import episode_of, episodes_for_person
from careweave.social_prescribing.pathway import (
    accept_referral,
    agree_plan,
    record_first_contact,
    record_what_matters,
    reject_referral,
)
from careweave.social_prescribing.pathway_codes import ENDING_SYSTEM, SOCIAL_PRESCRIBING_PLAN
from careweave.social_prescribing.pathway_problems import (
    ChangedMeanwhile,
    NotAtThisStage,
    NotYours,
    PathwayProblem,
)
from careweave.social_prescribing.wellbeing import Ons4, Swemwbs, record_ons4, record_swemwbs
from careweave.store.access_tables import user_account
from careweave.store.notification_tables import notification
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import LINK_WORKER, SERVICE_ORG, VOLUNTEER, refer_mary


def stored(place: Place, resource_type: str, resource_id: str) -> dict[str, Any]:
    return place.store.read(resource_type, resource_id).as_dict()


def sees_mary(place: Place, username: str) -> bool:
    try:
        person_banner(place.access(username), "mary")
    except NotFound:
        return False
    return True


def told(place: Place, kind: str) -> list[tuple[str, str | None, str]]:
    n, u = notification, user_account
    with place.store.database.read() as conn:
        rows = conn.execute(
            select(u.c.username, n.c.patient_id, n.c.text)
            .join(u, u.c.pk == n.c.user_pk)
            .where(n.c.kind == kind)
            .order_by(n.c.pk)
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def now() -> datetime:
    return datetime.now(UTC)


def test_one_person_from_referral_to_the_loop_closed(sp_place: Place) -> None:
    place = sp_place
    lw = place.access(LINK_WORKER)
    create_plan(place.access("cara.coord"), "mary", new_submission_token())

    made = refer_mary(place, reasons=("loneliness", "low-mood"))
    referral = made.service_request_id
    # The service hears of it, and reaches Mary's record through the open referral alone.
    assert [who for who, _, _ in told(place, "referral-received")] == [LINK_WORKER]
    assert sees_mary(place, LINK_WORKER)

    accept_referral(lw, referral)
    task = stored(place, "Task", made.task_id)
    assert (task["status"], task["owner"]["reference"]) == ("accepted", "PractitionerRole/prr-pat")
    episodes = [e for e in _all(place, "EpisodeOfCare") if e["status"] == "active"]
    assert len(episodes) == 1
    assert episodes[0]["managingOrganization"] == {"reference": f"Organization/{SERVICE_ORG}"}
    assert episodes[0]["careManager"]["reference"] == "PractitionerRole/prr-pat"
    assert codes.has_code(episodes[0]["type"], codes.SNOMED, "871731000000106")
    assert episode_of(lw, referral).report_status == "preparation"

    # Baseline wellbeing: Mary fills in SWEMWBS herself; ONS4 with the link worker.
    record_swemwbs(
        place.access("mary"), "mary", Swemwbs((2, 2, 3, 2, 3, 2, 3)),
        referral_id=referral, token=new_submission_token(),
    )  # fmt: skip
    record_ons4(lw, "mary", Ons4(4, 5, 3, 7), referral_id=referral, token=new_submission_token())

    record_first_contact(lw, referral, at=now(), how="phone", token=new_submission_token())
    assert stored(place, "Task", made.task_id)["status"] == "in-progress"
    talked = record_what_matters(
        lw,
        referral,
        held_at=now(),
        how="in-person",
        what_matters="Having someone to talk to; getting back to the garden club",
        notes="Met at home. Keen on company, worried about cost.",
        token=new_submission_token(),
    )
    # What matters shows on her personalised care plan as on the social prescribing plan.
    shared = care_plan_of(place.access("cara.coord"), "mary")
    assert shared is not None
    assert [w.text for w in shared.what_matters] == [
        "Having someone to talk to; getting back to the garden club"
    ]
    assert shared.what_matters[0].written_by.kind == "person"
    plan = stored(place, "CarePlan", talked.plan_id)
    assert codes.has_code(plan["category"], *SOCIAL_PRESCRIBING_PLAN)
    assert plan["partOf"] == [{"reference": f"CarePlan/{shared.plan_id}"}]

    goals = agree_plan(
        lw,
        referral,
        goals=["Go out for lunch with other people every week", "Walk to the park"],
        review_on=today() + timedelta(days=56),
        token=new_submission_token(),
    )
    goal = stored(place, "Goal", goals[0])
    assert goal["expressedBy"] == {"reference": "Patient/mary"}
    assert goal["description"]["text"] == "Go out for lunch with other people every week"

    lunch = connect(lw, referral, "lunch", note="Tuesdays suit her", token=new_submission_token())
    walk = connect(lw, referral, "walk", token=new_submission_token())
    # Brook Good Neighbours' volunteer reaches Mary through the open connection, and is told.
    assert sees_mary(place, VOLUNTEER)
    assert VOLUNTEER in [who for who, _, _ in told(place, "referral-received")]
    record_outcome(place.access(VOLUNTEER), lunch.task_id, "accepted")
    record_outcome(place.access(VOLUNTEER), lunch.task_id, "attended")
    assert not sees_mary(place, VOLUNTEER)  # the connection is done: so is their sight of her
    record_outcome(lw, walk.task_id, "declined", reason="Prefers to start with the lunch club")
    assert [(c.service_name, c.outcome) for c in connections_of(lw, referral)] == [
        ("Lunch club", "attended"),
        ("Walking group", "declined"),
    ]

    # End measures, and the change the link worker sees.
    record_swemwbs(
        lw, "mary", Swemwbs((3, 4, 3, 3, 4, 4, 4)), referral_id=referral,
        token=new_submission_token(),
    )  # fmt: skip
    record_ons4(lw, "mary", Ons4(7, 7, 6, 3), referral_id=referral, token=new_submission_token())
    seen = episode_of(lw, referral)
    assert seen.wellbeing.swemwbs is not None
    assert (seen.wellbeing.swemwbs.baseline_raw, seen.wellbeing.swemwbs.latest_raw) == (17, 25)
    assert seen.wellbeing.swemwbs.change == pytest.approx(22.35 - 16.88)
    assert [(i.baseline, i.latest, i.improved) for i in seen.wellbeing.ons4] == [
        (4, 7, True),
        (5, 7, True),
        (3, 6, True),
        (7, 3, True),  # anxiety fell
    ]
    assert seen.stage == "connected"
    assert seen.days_to_first_contact is not None and seen.days_to_first_contact < 1

    report_id = close_episode(
        lw, referral, ending="support-complete", summary="Going to lunch club weekly."
    )
    report = stored(place, "Communication", report_id)
    assert report["status"] == "completed"
    assert report["recipient"] == [stored(place, "ServiceRequest", referral)["requester"]]
    text = report["payload"][0]["contentString"]
    for words in (
        "support complete",
        "loneliness or social isolation and low mood or anxiety",
        "Having someone to talk to",
        "Lunch club - attended",
        "Walking group - declined by the person (Prefers to start with the lunch club)",
        "SWEMWBS metric score 16.88 to 22.35 (+5.47)",
        "anxiety yesterday 7 to 3",
        "Link worker's summary: Going to lunch club weekly.",
    ):
        assert words in text
    task = stored(place, "Task", made.task_id)
    assert task["status"] == "completed"
    assert codes.has_code(task["statusReason"], ENDING_SYSTEM, "support-complete")
    assert stored(place, "ServiceRequest", referral)["status"] == "completed"
    assert stored(place, "CarePlan", talked.plan_id)["status"] == "completed"
    assert [e["status"] for e in _all(place, "EpisodeOfCare")] == ["finished"]
    # The volunteer could not change the lunch club's ServiceRequest; ending support settled it.
    assert stored(place, "ServiceRequest", lunch.service_request_id)["status"] == "completed"
    assert stored(place, "ServiceRequest", walk.service_request_id)["status"] == "revoked"

    # The loop is closed: the GP is told in careweave, without Mary's name, and reads it.
    assert told(place, OUTCOME_NOTICE) == [
        ("ann.gp", "mary", "Social prescribing ended: support complete")
    ]
    details = task_details(place.access("ann.gp"), made.task_id)
    assert details.status_words == "Completed"
    assert details.outcome is not None and "Lunch club - attended" in details.outcome
    # The service's sight of Mary ended with her support.
    assert not sees_mary(place, LINK_WORKER)


def _all(place: Place, resource_type: str) -> list[dict[str, Any]]:
    query = parse_search(resource_type, [("_count", "100")], place.store.registry)
    return [orjson.loads(c) for _, _, c in place.store.search(query).matches]


def test_rejection_with_a_reason_leaves_the_referrer_to_act(sp_place: Place) -> None:
    made = refer_mary(sp_place)
    lw = sp_place.access(LINK_WORKER)
    with pytest.raises(PathwayProblem, match="Enter why"):
        reject_referral(lw, made.service_request_id, "  ")
    reject_referral(lw, made.service_request_id, "Needs the memory clinic before groups")
    task = stored(sp_place, "Task", made.task_id)
    assert (task["status"], task["statusReason"]["text"]) == (
        "rejected",
        "Needs the memory clinic before groups",
    )
    assert stored(sp_place, "ServiceRequest", made.service_request_id)["status"] == "active"
    listed = referrals_for_person(sp_place.access("ann.gp"), "mary")
    assert [(r.status, r.needs_action) for r in listed] == [("Rejected \u2013 needs action", True)]
    (seen,) = episodes_for_person(sp_place.access("ann.gp"), "mary")
    assert (seen.referral_id, seen.stage, seen.rejection_reason) == (
        made.service_request_id,
        "not-taken-on",
        "Needs the memory clinic before groups",
    )
    with pytest.raises(NotAtThisStage, match="already been rejected"):
        accept_referral(lw, made.service_request_id)


def test_a_referral_accepted_then_rejected_cancels_its_episode_and_report(sp_place: Place) -> None:
    made = refer_mary(sp_place)
    lw = sp_place.access(LINK_WORKER)
    accept_referral(lw, made.service_request_id)
    reject_referral(lw, made.service_request_id, "Moved out of the area")
    assert [e["status"] for e in _all(sp_place, "EpisodeOfCare")] == ["cancelled"]
    assert (
        episode_of(sp_place.access("ann.gp"), made.service_request_id).report_status == "not-done"
    )


def test_only_the_service_triages_and_only_once(sp_place: Place) -> None:
    made = refer_mary(sp_place)
    with pytest.raises(NotYours, match="Only the social prescribing service"):
        accept_referral(sp_place.access("ann.gp"), made.service_request_id)
    with pytest.raises(NotFound):  # no relationship with Mary at all
        accept_referral(sp_place.access(VOLUNTEER), made.service_request_id)
    lw = sp_place.access(LINK_WORKER)
    with pytest.raises(ChangedMeanwhile):
        accept_referral(lw, made.service_request_id, version=99)
    accept_referral(lw, made.service_request_id)
    with pytest.raises(NotAtThisStage, match="already been accepted"):
        accept_referral(lw, made.service_request_id)


def test_contacts_are_checked(sp_place: Place) -> None:
    made = refer_mary(sp_place)
    referral = made.service_request_id
    lw = sp_place.access(LINK_WORKER)
    with pytest.raises(NotAtThisStage, match="Accept the referral"):
        record_first_contact(lw, referral, at=now(), how="phone", token=new_submission_token())
    accept_referral(lw, referral)
    with pytest.raises(PathwayProblem, match="in the future"):
        record_first_contact(
            lw, referral, at=now() + timedelta(hours=2), how="phone", token=new_submission_token()
        )
    with pytest.raises(PathwayProblem, match="before the referral was made"):
        record_first_contact(
            lw, referral, at=now() - timedelta(days=3), how="phone", token=new_submission_token()
        )
    with pytest.raises(PathwayProblem, match="how you were in touch"):
        record_first_contact(lw, referral, at=now(), how="pigeon", token=new_submission_token())
    token = new_submission_token()
    first = record_first_contact(lw, referral, at=now(), how="video", token=token)
    assert record_first_contact(lw, referral, at=now(), how="video", token=token) == first
    with pytest.raises(NotAtThisStage, match="already recorded, on"):
        record_first_contact(lw, referral, at=now(), how="phone", token=new_submission_token())
    contact = stored(sp_place, "Communication", first)
    assert codes.has_code(
        contact["medium"], "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode", "VIDEOCONF"
    )
    with pytest.raises(PathwayProblem, match="Enter what matters"):
        record_what_matters(
            lw, referral, held_at=now(), how="phone", what_matters=" ", token=new_submission_token()
        )


def test_a_conversation_without_a_care_plan_goes_on_the_social_prescribing_plan(
    sp_place: Place,
) -> None:
    made = refer_mary(sp_place)
    lw = sp_place.access(LINK_WORKER)
    accept_referral(lw, made.service_request_id)
    talked = record_what_matters(
        lw,
        made.service_request_id,
        held_at=now(),
        how="phone",
        what_matters="My cat, and seeing my grandchildren",
        token=new_submission_token(),
    )
    words = stored(sp_place, "Communication", talked.what_matters_id)
    assert words["about"] == [{"reference": f"CarePlan/{talked.plan_id}"}]
    assert "partOf" not in stored(sp_place, "CarePlan", talked.plan_id)
    seen = episode_of(lw, made.service_request_id)
    assert seen.what_matters == ("My cat, and seeing my grandchildren",)
    assert [c.kind for c in seen.contacts] == ["conversation"]  # it was the first contact too
    assert seen.first_contact is not None


def test_support_cannot_end_while_a_connection_is_open(sp_place: Place) -> None:
    made = refer_mary(sp_place)
    lw = sp_place.access(LINK_WORKER)
    with pytest.raises(NotAtThisStage, match="not open"):
        close_episode(lw, made.service_request_id, ending="not-reached")
    accept_referral(lw, made.service_request_id)
    connect(lw, made.service_request_id, "lunch", token=new_submission_token())
    connect(lw, made.service_request_id, "walk", token=new_submission_token())
    with pytest.raises(NotAtThisStage, match="Lunch club and Walking group before ending"):
        close_episode(lw, made.service_request_id, ending="support-complete")
    with pytest.raises(PathwayProblem, match="why support is ending"):
        close_episode(lw, made.service_request_id, ending="bored")


def test_ending_without_contact_still_tells_the_referrer(sp_place: Place) -> None:
    made = refer_mary(sp_place, username="cara.coord")
    lw = sp_place.access(LINK_WORKER)
    accept_referral(lw, made.service_request_id)
    report_id = close_episode(lw, made.service_request_id, ending="not-reached")
    text = stored(sp_place, "Communication", report_id)["payload"][0]["contentString"]
    assert "could not reach the person" in text
    assert "The link worker was not able to speak with them." in text
    assert "No onward connections were made." in text
    assert [who for who, _, _ in told(sp_place, OUTCOME_NOTICE)] == ["cara.coord"]


def test_a_referral_accepted_on_coordinations_page_can_still_be_closed(sp_place: Place) -> None:
    made = refer_mary(sp_place)
    version = int(stored(sp_place, "Task", made.task_id)["meta"]["versionId"])
    take_action(sp_place.access(LINK_WORKER), made.task_id, TaskAction.ACCEPT, version=version)
    report_id = close_episode(
        sp_place.access(LINK_WORKER), made.service_request_id, ending="person-stopped"
    )
    assert stored(sp_place, "Communication", report_id)["status"] == "completed"
    assert [who for who, _, _ in told(sp_place, OUTCOME_NOTICE)] == ["ann.gp"]


def test_goals_need_words_and_an_open_episode(sp_place: Place) -> None:
    made = refer_mary(sp_place)
    lw = sp_place.access(LINK_WORKER)
    with pytest.raises(PathwayProblem, match="at least one goal"):
        agree_plan(lw, made.service_request_id, goals=["  "], token=new_submission_token())
    with pytest.raises(NotAtThisStage, match="Accept the referral"):
        agree_plan(lw, made.service_request_id, goals=["Walk"], token=new_submission_token())
    with pytest.raises(PathwayProblem, match="review date"):
        agree_plan(
            lw,
            made.service_request_id,
            goals=["Walk"],
            review_on=date(2000, 1, 1),
            token=new_submission_token(),
        )
