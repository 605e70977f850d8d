"""Referrals between organisations, as FHIR and through the guard: cara.coord (Riverside
Surgery) refers mary to community nursing; nina.nurse (the community trust) answers it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.coordination import codes
from careweave.coordination.people import person_banner
from careweave.coordination.record import (
    FORM_SUBMISSION_SYSTEM,
    find,
    new_submission_token,
    today,
)
from careweave.coordination.referrals import (
    SERVICE_BY_KEY,
    SERVICES,
    InvalidReferral,
    ReferralMade,
    make_referral,
    other_open_tasks,
    referrals_for_person,
    service_of,
    take_action,
    task_details,
)
from careweave.coordination.tasks import (
    ChangedSinceOpened,
    DetailNeeded,
    NotNow,
    NotYourSide,
    TaskAction,
    tasks_for_person,
)
from careweave.fhir.errors import Forbidden, NotFound
from tests.coordination.place import Place

REASON = "Leg ulcer needs dressing three times a week; lives alone, housebound since her fall."


def refer(
    place: Place,
    *,
    username: str = "cara.coord",
    service: str = "community-nursing",
    organisation: str = "community",
    respond_by: date | None = None,
    token: str | None = None,
    patient: str = "mary",
) -> ReferralMade:
    return make_referral(
        place.access(username),
        patient,
        service,
        organisation,
        REASON,
        "urgent",
        respond_by or today() + timedelta(days=7),
        token or new_submission_token(),
    )


def stored(place: Place, resource_type: str, resource_id: str) -> dict[str, Any]:
    """The resource as the store holds it (no one's view)."""
    return place.store.read(resource_type, resource_id).as_dict()


def act(
    place: Place,
    username: str,
    task_id: str,
    action: TaskAction,
    *,
    reason: str = "",
    outcome: str = "",
) -> dict[str, Any]:
    """`action` as `username`, with the task version they would see on the page now."""
    version = int(stored(place, "Task", task_id)["meta"]["versionId"])
    return take_action(
        place.access(username), task_id, action, version=version, reason=reason, outcome=outcome
    )


def sees_mary(place: Place, username: str) -> bool:
    try:
        person_banner(place.access(username), "mary")
    except NotFound:
        return False
    return True


def test_a_referral_is_the_service_request_and_task_the_doc_describes(place: Place) -> None:
    due = today() + timedelta(days=5)
    made = refer(place, respond_by=due)
    assert made.created

    request = stored(place, "ServiceRequest", made.service_request_id)
    assert (request["status"], request["intent"], request["priority"]) == (
        "active",
        "order",
        "urgent",
    )
    assert codes.has_code(request["category"], codes.SNOMED, "3457005")
    assert codes.has_code(request["code"], codes.SNOMED, "308436005")
    assert request["code"]["text"] == "Community nursing"
    assert request["subject"] == {"reference": "Patient/mary"}
    assert request["requester"]["reference"] == "PractitionerRole/prr-cara"
    assert [p["reference"] for p in request["performer"]] == ["Organization/community"]
    assert request["reasonCode"] == [{"text": REASON}]

    task = stored(place, "Task", made.task_id)
    assert (task["status"], task["intent"], task["priority"]) == ("requested", "order", "urgent")
    assert codes.has_code(task["code"], "http://hl7.org/fhir/CodeSystem/task-code", "fulfill")
    assert task["focus"] == {"reference": f"ServiceRequest/{made.service_request_id}"}
    assert task["for"] == {"reference": "Patient/mary"}
    assert task["requester"]["reference"] == "PractitionerRole/prr-cara"
    assert task["owner"]["reference"] == "Organization/community"
    assert task["restriction"]["period"]["end"] == due.isoformat()

    # The same through the guard, as the referrer sees them.
    mine = find(place.access("cara.coord"), "Task", [("focus", f"ServiceRequest/{request['id']}")])
    assert [t["id"] for t in mine] == [made.task_id]


def test_the_open_referral_gives_the_receiving_team_their_relationship(place: Place) -> None:
    assert not sees_mary(place, "nina.nurse")
    made = refer(place)
    assert sees_mary(place, "nina.nurse")
    seen = tasks_for_person(place.access("nina.nurse"), "mary")
    assert [(t.id, t.is_referral, t.owner_organisation_id) for t in seen] == [
        (made.task_id, True, "community")
    ]
    # Another organisation, with nothing to do with it, still sees nothing.
    assert not sees_mary(place, "sam.sw")


def test_accepting_starts_an_episode_and_completing_completes_the_referral(
    place: Place,
) -> None:
    made = refer(place)
    act(place, "nina.nurse", made.task_id, TaskAction.ACCEPT)

    episodes = find(place.access("nina.nurse"), "EpisodeOfCare", [("patient", "Patient/mary")])
    assert len(episodes) == 1
    episode = episodes[0]
    assert episode["status"] == "active"
    assert episode["managingOrganization"] == {"reference": "Organization/community"}
    assert episode["referralRequest"] == [
        {"reference": f"ServiceRequest/{made.service_request_id}"}
    ]
    assert codes.has_code(episode["type"], codes.SNOMED, "308436005")
    assert episode["period"]["start"] == today().isoformat()

    act(place, "nina.nurse", made.task_id, TaskAction.START)
    act(place, "nina.nurse", made.task_id, TaskAction.COMPLETE, outcome="Ulcer healed; discharged.")

    task = stored(place, "Task", made.task_id)
    assert task["status"] == "completed"
    assert task["output"][0]["valueString"] == "Ulcer healed; discharged."
    assert stored(place, "ServiceRequest", made.service_request_id)["status"] == "completed"
    # The episode of care keeps the community team's relationship after the task closes.
    assert sees_mary(place, "nina.nurse")
    assert [r.status for r in referrals_for_person(place.access("cara.coord"), "mary")] == [
        "Completed"
    ]


def test_an_episode_already_running_is_not_duplicated(place: Place) -> None:
    first = refer(place)
    act(place, "nina.nurse", first.task_id, TaskAction.ACCEPT)
    second = refer(place, service="falls-service")
    act(place, "nina.nurse", second.task_id, TaskAction.ACCEPT)
    episodes = find(place.access("nina.nurse"), "EpisodeOfCare", [("patient", "Patient/mary")])
    assert len(episodes) == 1


def test_a_rejection_needs_a_reason_and_saves_nothing_without_one(place: Place) -> None:
    made = refer(place)
    with pytest.raises(DetailNeeded) as refused:
        act(place, "nina.nurse", made.task_id, TaskAction.REJECT, reason="   ")
    assert refused.value.message == "Enter why you are rejecting this referral"
    assert refused.value.field == "reason"
    task = stored(place, "Task", made.task_id)
    assert (task["status"], task["meta"]["versionId"]) == ("requested", "1")


def test_a_rejected_referral_needs_action_until_the_referrer_closes_it(place: Place) -> None:
    made = refer(place)
    act(place, "nina.nurse", made.task_id, TaskAction.ACCEPT)
    act(
        place,
        "nina.nurse",
        made.task_id,
        TaskAction.REJECT,
        reason="Not housebound: the practice nurse can dress it.",
    )
    task = stored(place, "Task", made.task_id)
    assert task["status"] == "rejected"
    assert task["statusReason"] == {"text": "Not housebound: the practice nurse can dress it."}
    request = stored(place, "ServiceRequest", made.service_request_id)
    assert request["status"] == "active"
    # The episode the acceptance started never became care.
    episodes = place.access("nina.nurse")
    assert [e["status"] for e in find(episodes, "EpisodeOfCare", [("patient", "mary")])] == [
        "cancelled"
    ]

    [listed] = referrals_for_person(place.access("cara.coord"), "mary")
    assert (listed.status, listed.colour, listed.needs_action) == (
        "Rejected \u2013 needs action",
        "red",
        True,
    )
    # Still theirs to see while the referral is open.
    assert sees_mary(place, "nina.nurse")
    assert task_details(place.access("cara.coord"), made.task_id).actions == (TaskAction.CLOSE,)

    act(place, "cara.coord", made.task_id, TaskAction.CLOSE)
    request = stored(place, "ServiceRequest", made.service_request_id)
    assert request["status"] == "revoked"
    assert "Not housebound: the practice nurse can dress it." in request["note"][-1]["text"]
    [listed] = referrals_for_person(place.access("cara.coord"), "mary")
    assert (listed.status, listed.needs_action) == ("Rejected \u2013 closed", False)
    # The rejecting team's link to mary has gone with the referral.
    assert not sees_mary(place, "nina.nurse")
    with pytest.raises(NotFound):
        task_details(place.access("nina.nurse"), made.task_id)
    with pytest.raises(NotNow, match="already been closed"):
        act(place, "cara.coord", made.task_id, TaskAction.CLOSE)


def test_each_side_does_only_what_is_theirs(place: Place) -> None:
    made = refer(place)
    with pytest.raises(NotYourSide) as refused:
        act(place, "nina.nurse", made.task_id, TaskAction.CANCEL)
    assert refused.value.message == "Only the organisation that made this referral can cancel it"
    with pytest.raises(NotYourSide) as refused:
        act(place, "cara.coord", made.task_id, TaskAction.ACCEPT)
    assert refused.value.message == "Only the team it was sent to can accept this referral"
    assert stored(place, "Task", made.task_id)["status"] == "requested"
    # Cara's colleague at the same practice may cancel it; nina sees only her side's actions.
    assert task_details(place.access("nina.nurse"), made.task_id).actions == (
        TaskAction.ACCEPT,
        TaskAction.REJECT,
        TaskAction.ASSIGN_TO_ME,
    )
    act(place, "ann.gp", made.task_id, TaskAction.CANCEL, reason="Family are moving her nearer.")
    assert stored(place, "Task", made.task_id)["status"] == "cancelled"
    assert stored(place, "ServiceRequest", made.service_request_id)["status"] == "revoked"
    assert not sees_mary(place, "nina.nurse")


def test_changes_that_do_not_fit_the_status_say_why(place: Place) -> None:
    made = refer(place)
    with pytest.raises(NotNow, match=r"^Accept this referral before you start it$"):
        act(place, "nina.nurse", made.task_id, TaskAction.START)
    with pytest.raises(NotNow, match=r"^Only a rejected referral can be closed$"):
        act(place, "cara.coord", made.task_id, TaskAction.CLOSE)
    act(place, "nina.nurse", made.task_id, TaskAction.ACCEPT)
    with pytest.raises(NotNow, match=r"^This referral has already been accepted$"):
        act(place, "nina.nurse", made.task_id, TaskAction.ACCEPT)
    act(place, "nina.nurse", made.task_id, TaskAction.COMPLETE)
    with pytest.raises(NotNow, match=r"^This referral has already been completed$"):
        act(place, "nina.nurse", made.task_id, TaskAction.REJECT, reason="Too late")
    with pytest.raises(NotNow, match=r"^This referral has already been completed$"):
        act(place, "cara.coord", made.task_id, TaskAction.CANCEL)


def test_a_stale_change_is_refused_and_saves_nothing(place: Place) -> None:
    made = refer(place)
    opened_at = int(stored(place, "Task", made.task_id)["meta"]["versionId"])
    act(place, "nina.nurse", made.task_id, TaskAction.ACCEPT)  # in another tab
    with pytest.raises(ChangedSinceOpened) as refused:
        take_action(
            place.access("nina.nurse"),
            made.task_id,
            TaskAction.REJECT,
            version=opened_at,
            reason="Not for us",
        )
    assert refused.value.message == "Someone else has updated this task since you opened it"
    assert stored(place, "Task", made.task_id)["status"] == "accepted"


def test_sending_the_same_form_twice_makes_one_referral(place: Place) -> None:
    token = new_submission_token()
    first = refer(place, token=token)
    again = refer(place, token=token)
    assert again == ReferralMade(first.service_request_id, first.task_id, created=False)
    access = place.access("cara.coord")
    for resource_type in ("ServiceRequest", "Task"):
        found = find(access, resource_type, [("identifier", f"{FORM_SUBMISSION_SYSTEM}|{token}")])
        assert len(found) == 1
    assert len(referrals_for_person(access, "mary")) == 1


def test_overdue_when_the_date_to_respond_by_has_passed(place: Place) -> None:
    made = refer(place, respond_by=today())
    assert not referrals_for_person(place.access("cara.coord"), "mary")[0].overdue
    task = stored(place, "Task", made.task_id)
    task["restriction"]["period"]["end"] = (today() - timedelta(days=1)).isoformat()
    place.put(task)
    [listed] = referrals_for_person(place.access("cara.coord"), "mary")
    assert listed.overdue
    assert task_details(place.access("nina.nurse"), made.task_id).overdue


def test_a_bad_referral_names_every_problem_and_saves_nothing(place: Place) -> None:
    with pytest.raises(InvalidReferral) as refused:
        make_referral(
            place.access("cara.coord"),
            "mary",
            "astrology",
            "nowhere",
            "  ",
            "whenever",
            today() - timedelta(days=1),
            new_submission_token(),
        )
    assert [(p.field, p.message) for p in refused.value.problems] == [
        ("service", "Select the service you are referring to"),
        ("organisation", "Select an organisation from the list"),
        ("reason", "Enter why you are making this referral"),
        ("priority", "Select how urgent this referral is"),
        ("respond_by", "The date to respond by must be today or in the future"),
    ]
    with pytest.raises(InvalidReferral, match="characters or fewer"):
        make_referral(
            place.access("cara.coord"),
            "mary",
            "hospice",
            "community",
            "x" * 2001,
            "routine",
            today(),
            new_submission_token(),
        )
    assert referrals_for_person(place.access("cara.coord"), "mary") == []


def test_no_one_refers_a_person_they_have_no_relationship_with(place: Place) -> None:
    with pytest.raises(Forbidden):
        refer(place, username="cara.coord", patient="sid")
    assert find(place.access("hal.gp"), "ServiceRequest", [("patient", "Patient/sid")]) == []
    made = refer(place)
    with pytest.raises(NotFound):
        task_details(place.access("hal.gp"), made.task_id)
    with pytest.raises(NotFound):
        take_action(place.access("hal.gp"), made.task_id, TaskAction.ACCEPT, version=None)


def test_assigning_to_me_keeps_the_team_and_shows_in_the_history(place: Place) -> None:
    made = refer(place)
    act(place, "nina.nurse", made.task_id, TaskAction.ASSIGN_TO_ME)
    task = stored(place, "Task", made.task_id)
    assert task["owner"]["reference"] == "PractitionerRole/prr-nina"
    details = task_details(place.access("nina.nurse"), made.task_id)
    assert details.receiving_organisation_id == "community"
    assert TaskAction.ASSIGN_TO_ME not in details.actions
    assert TaskAction.ACCEPT in details.actions
    with pytest.raises(NotNow, match="already assigned to you"):
        act(place, "nina.nurse", made.task_id, TaskAction.ASSIGN_TO_ME)
    act(place, "nina.nurse", made.task_id, TaskAction.ACCEPT)
    act(place, "nina.nurse", made.task_id, TaskAction.REJECT, reason="Wrong team")
    history = task_details(place.access("cara.coord"), made.task_id).history
    assert [(h.what, h.who, h.detail) for h in history] == [
        ("Referral made", "Cara Coordinator", None),
        ("Assigned to Nina Nurse", "Nina Nurse", None),
        ("Accepted", "Nina Nurse", None),
        ("Rejected", "Nina Nurse", "Wrong team"),
    ]


def test_other_open_tasks_leave_out_referrals_and_closed_tasks(place: Place) -> None:
    refer(place)
    for task_id, status in (("t-open", "requested"), ("t-done", "completed")):
        place.put(
            {
                "resourceType": "Task",
                "id": task_id,
                "status": status,
                "intent": "plan",
                "code": codes.concept(codes.TASK_TYPE, "care-plan-action"),
                "description": "Fit grab rails in the bathroom",
                "for": {"reference": "Patient/mary"},
                "owner": {"reference": "Organization/council"},
            }
        )
    listed = other_open_tasks(place.access("cara.coord"), "mary")
    assert [(t.id, t.description, t.is_referral) for t in listed] == [
        ("t-open", "Fit grab rails in the bathroom", False)
    ]


def test_the_services_and_their_codes() -> None:
    assert len(SERVICE_BY_KEY) == len(SERVICES)
    prescribing = SERVICE_BY_KEY["social-prescribing"]
    assert (prescribing.system, prescribing.code) == codes.SOCIAL_PRESCRIBING_REFERRAL
    falls = SERVICE_BY_KEY["falls-service"]
    assert (falls.system, falls.code) == (codes.REFERRAL_SERVICE, "falls-service")
    for service in SERVICES:
        assert service_of(service.concept()) is service
        assert service.usually_from
