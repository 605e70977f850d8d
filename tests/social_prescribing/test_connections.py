"""Onward connections, on SQLite and PostgreSQL: the FHIR a connection is, each outcome and the
Task status it means, who may record which, a closed service flagging its open connections for
re-routing, and what a voluntary organisation's volunteer may see and do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from careweave.coordination import codes
from careweave.coordination.people import person_banner
from careweave.coordination.record import find, new_submission_token, today
from careweave.fhir.errors import Forbidden, NotFound
from careweave.social_prescribing.connections import (
    Connection,
    ConnectionMade,
    connect,
    connections_of,
    connections_to_reroute,
    record_outcome,
    reroute,
)
from careweave.social_prescribing.directory_codes import NEED_SYSTEM, SERVICE_CATEGORY
from careweave.social_prescribing.directory_records import close_service
from careweave.social_prescribing.episode import episode_of
from careweave.social_prescribing.pathway import accept_referral, record_what_matters
from careweave.social_prescribing.pathway_codes import OUTCOME_SYSTEM
from careweave.social_prescribing.pathway_problems import NotAtThisStage, NotYours, PathwayProblem
from careweave.social_prescribing.wellbeing import Ons4, record_ons4
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import LINK_WORKER, VOLUNTEER, refer_mary


def stored(place: Place, resource_type: str, resource_id: str) -> dict[str, Any]:
    return place.store.read(resource_type, resource_id).as_dict()


def taken_on(place: Place, patient: str = "mary") -> str:
    made = refer_mary(place, patient=patient)
    accept_referral(place.access(LINK_WORKER), made.service_request_id)
    return made.service_request_id


def link(place: Place, referral: str, service: str) -> ConnectionMade:
    return connect(place.access(LINK_WORKER), referral, service, token=new_submission_token())


def only(place: Place, referral: str) -> Connection:
    (connection,) = connections_of(place.access(LINK_WORKER), referral)
    return connection


def test_a_connection_is_a_request_to_the_service_and_a_task_for_its_organisation(
    sp_place: Place,
) -> None:
    referral = taken_on(sp_place)
    made = link(sp_place, referral, "lunch")
    request = stored(sp_place, "ServiceRequest", made.service_request_id)
    assert request["performer"] == [
        {"reference": "HealthcareService/lunch", "display": "Lunch club"}
    ]
    assert request["basedOn"] == [{"reference": f"ServiceRequest/{referral}"}]
    assert request["code"]["text"] == "Lunch club"
    assert codes.has_code(request["category"], codes.SNOMED, "3457005")
    assert codes.has_code(request["category"], NEED_SYSTEM, "lunch-club")
    assert codes.has_code(request["category"], NEED_SYSTEM, "befriending")
    assert codes.has_code(request["category"], SERVICE_CATEGORY, "2")
    task = stored(sp_place, "Task", made.task_id)
    assert task["owner"]["reference"] == "Organization/zzc0001"
    assert (task["status"], codes.code_in(task["businessStatus"], OUTCOME_SYSTEM)) == (
        "requested",
        "waiting",
    )
    plan = episode_of(sp_place.access(LINK_WORKER), referral).plan_id
    assert plan is not None
    activities = stored(sp_place, "CarePlan", plan)["activity"]
    assert activities[0]["reference"]["reference"] == f"ServiceRequest/{made.service_request_id}"
    with pytest.raises(NotAtThisStage, match="already has an open connection to Lunch club"):
        link(sp_place, referral, "lunch")
    connection = only(sp_place, referral)
    assert (connection.service_name, connection.organisation_id, connection.needs) == (
        "Lunch club",
        "zzc0001",
        ("befriending", "lunch-club"),
    )


@pytest.mark.parametrize(
    ("steps", "status", "request_status"),
    [
        (("accepted",), "accepted", "active"),
        (("accepted", "attended"), "completed", "completed"),
        (("declined",), "cancelled", "revoked"),
        (("accepted", "not-reached"), "failed", "revoked"),
        (("turned-down",), "rejected", "revoked"),
        (("withdrawn",), "cancelled", "revoked"),
    ],
)
def test_each_outcome_puts_the_task_in_its_status(
    sp_place: Place, steps: tuple[str, ...], status: str, request_status: str
) -> None:
    referral = taken_on(sp_place)
    made = link(sp_place, referral, "walk")
    for step in steps:
        reason = "The group is full until spring" if step == "turned-down" else ""
        record_outcome(sp_place.access(LINK_WORKER), made.task_id, step, reason=reason)
    task = stored(sp_place, "Task", made.task_id)
    assert (task["status"], codes.code_in(task["businessStatus"], OUTCOME_SYSTEM)) == (
        status,
        steps[-1],
    )
    assert stored(sp_place, "ServiceRequest", made.service_request_id)["status"] == request_status
    assert only(sp_place, referral).outcome == steps[-1]


def test_outcomes_are_checked(sp_place: Place) -> None:
    referral = taken_on(sp_place)
    made = link(sp_place, referral, "lunch")
    lw = sp_place.access(LINK_WORKER)
    with pytest.raises(PathwayProblem, match="Enter why the service could not take them"):
        record_outcome(lw, made.task_id, "turned-down")
    with pytest.raises(PathwayProblem, match="Select what happened"):
        record_outcome(lw, made.task_id, "waiting")
    with pytest.raises(NotYours, match="Only the link worker's team can withdraw"):
        record_outcome(sp_place.access(VOLUNTEER), made.task_id, "withdrawn")
    with pytest.raises(NotYours, match="Only the service or the link worker's team"):
        record_outcome(sp_place.access("ann.gp"), made.task_id, "attended")
    record_outcome(lw, made.task_id, "accepted")
    with pytest.raises(NotAtThisStage, match="already recorded as accepted"):
        record_outcome(lw, made.task_id, "accepted")
    record_outcome(lw, made.task_id, "attended")
    with pytest.raises(NotAtThisStage, match="already ended: attended"):
        record_outcome(lw, made.task_id, "declined")
    # A finished connection does not stop connecting to the same service again.
    assert link(sp_place, referral, "lunch").created


def test_a_closed_service_flags_its_open_connections_for_rerouting(sp_place: Place) -> None:
    mary = taken_on(sp_place)
    joe = taken_on(sp_place, patient="joe")
    lunch_for_mary = link(sp_place, mary, "lunch")
    link(sp_place, mary, "walk")
    lunch_for_joe = link(sp_place, joe, "lunch")
    record_outcome(sp_place.access(LINK_WORKER), lunch_for_joe.task_id, "declined")
    assert connections_to_reroute(sp_place.access(LINK_WORKER)) == []

    with sp_place.store.transaction() as tx:
        close_service(tx, "lunch", today())

    flagged = connections_to_reroute(sp_place.access(LINK_WORKER))
    assert [(c.task_id, c.service_name, c.service_closed_on) for c in flagged] == [
        (lunch_for_mary.task_id, "Lunch club", today())
    ]
    marys = {c.service_name: c for c in connections_of(sp_place.access(LINK_WORKER), mary)}
    assert marys["Lunch club"].needs_rerouting and not marys["Walking group"].needs_rerouting
    joes = connections_of(sp_place.access(LINK_WORKER), joe)
    assert not joes[0].needs_rerouting  # already ended: nothing to re-route
    with pytest.raises(NotAtThisStage, match=r"Lunch club closed on .*: choose another service"):
        link(sp_place, joe, "lunch")

    moved = reroute(
        sp_place.access(LINK_WORKER),
        lunch_for_mary.task_id,
        "friends",
        token=new_submission_token(),
    )
    old = stored(sp_place, "Task", lunch_for_mary.task_id)
    assert old["status"] == "cancelled"
    assert old["statusReason"]["text"].startswith("Lunch club closed on ")
    assert old["statusReason"]["text"].endswith("re-routed to Friendship circle")
    assert stored(sp_place, "Task", moved.task_id)["owner"]["reference"] == "Organization/zzc0001"
    assert connections_to_reroute(sp_place.access(LINK_WORKER)) == []
    marys = {c.service_name: c for c in connections_of(sp_place.access(LINK_WORKER), mary)}
    assert (marys["Lunch club"].outcome, marys["Friendship circle"].outcome) == (
        "withdrawn",
        "waiting",
    )


def test_a_volunteer_sees_only_what_an_open_connection_gives_them(sp_place: Place) -> None:
    vol = sp_place.access(VOLUNTEER)
    referral = taken_on(sp_place)
    taken_on(sp_place, patient="joe")
    # Before any connection: nobody's record.
    with pytest.raises(NotFound):
        person_banner(vol, "mary")
    record_ons4(
        sp_place.access(LINK_WORKER),
        "mary",
        Ons4(5, 5, 5, 5),
        referral_id=referral,
        token=new_submission_token(),
    )
    record_what_matters(
        sp_place.access(LINK_WORKER),
        referral,
        held_at=datetime.now(UTC),
        how="phone",
        what_matters="Company at lunch",
        token=new_submission_token(),
    )
    made = link(sp_place, referral, "lunch")

    vol = sp_place.access(VOLUNTEER)
    assert person_banner(vol, "mary").name == "Mary Example"
    with pytest.raises(NotFound):
        person_banner(vol, "joe")  # Joe has no connection to them
    # What the agreement gives volunteers: demographics and coordination, never encounters or
    # observations, and only the types their role may write.
    assert vol.visibility is not None
    assert vol.visibility.may_read_type("QuestionnaireResponse")
    assert not vol.visibility.may_read_type("Encounter")
    assert not vol.visibility.may_read_type("Observation")
    assert [c.service_name for c in connections_of(vol, referral)] == ["Lunch club"]
    with pytest.raises(Forbidden, match="volunteer role may not create QuestionnaireResponse"):
        record_ons4(vol, "mary", Ons4(5, 5, 5, 5), token=new_submission_token())
    with pytest.raises(NotYours):
        accept_referral(vol, referral)
    with pytest.raises(NotYours):
        connect(vol, referral, "friends", token=new_submission_token())

    record_outcome(vol, made.task_id, "accepted")
    assert person_banner(sp_place.access(VOLUNTEER), "mary").name == "Mary Example"
    record_outcome(sp_place.access(VOLUNTEER), made.task_id, "attended")
    vol = sp_place.access(VOLUNTEER)
    with pytest.raises(NotFound):
        person_banner(vol, "mary")
    assert find(vol, "QuestionnaireResponse", [("patient", "Patient/mary")]) == []
    assert only(sp_place, referral).outcome == "attended"
