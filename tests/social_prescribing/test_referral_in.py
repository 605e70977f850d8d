"""Referring to social prescribing, on SQLite and PostgreSQL: the FHIR a referral is, what is
refused (bad forms, self-referral where the place does not take it, a duplicate for the same
need, naming the open referral), and that coordination's referral pages read it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from careweave.coordination import codes
from careweave.coordination.record import new_submission_token, today
from careweave.coordination.referrals import referrals_for_person, take_action, task_details
from careweave.coordination.tasks import TaskAction
from careweave.fhir.errors import Forbidden
from careweave.social_prescribing.pathway import reject_referral
from careweave.social_prescribing.pathway_codes import REASON_SYSTEM, suggested_needs
from careweave.social_prescribing.pathway_problems import (
    DuplicateReferral,
    InvalidReferralForm,
    SelfReferralNotOffered,
)
from careweave.social_prescribing.referral_in import PathwaySettings, refer
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import (
    LINK_WORKER,
    SELF_REFERRALS,
    SERVICE_ORG,
    refer_mary,
)


def stored(place: Place, resource_type: str, resource_id: str) -> dict[str, Any]:
    return place.store.read(resource_type, resource_id).as_dict()


def test_a_referral_is_a_coordination_referral_with_coded_reasons(sp_place: Place) -> None:
    made = refer_mary(sp_place, reasons=("loneliness", "financial-worries"))
    request = stored(sp_place, "ServiceRequest", made.service_request_id)
    assert codes.has_code(request["code"], codes.SNOMED, "871731000000106")
    assert codes.has_code(request["category"], codes.SNOMED, "3457005")
    assert request["requester"]["reference"] == "PractitionerRole/prr-ann"
    assert request["performer"] == [
        {
            "reference": f"Organization/{SERVICE_ORG}",
            "display": "Northshire Social Prescribing Network",
        }
    ]
    assert [codes.code_in(r, REASON_SYSTEM) for r in request["reasonCode"]] == [
        "loneliness",
        "financial-worries",
    ]
    assert request["note"][0]["text"].startswith("Lives alone")
    task = stored(sp_place, "Task", made.task_id)
    assert (task["status"], task["owner"]["reference"]) == (
        "requested",
        f"Organization/{SERVICE_ORG}",
    )
    assert task["focus"] == {"reference": f"ServiceRequest/{made.service_request_id}"}

    # Coordination's pages read it as any referral: the referrer's list and the task page.
    listed = referrals_for_person(sp_place.access("ann.gp"), "mary")
    assert [(r.service, r.status) for r in listed] == [
        ("Social prescribing", "Waiting for a response")
    ]
    details = task_details(sp_place.access(LINK_WORKER), made.task_id)
    assert details.reason == "Loneliness or social isolation"
    assert TaskAction.ACCEPT in details.actions


def test_the_same_form_sent_twice_makes_one_referral(sp_place: Place) -> None:
    token = new_submission_token()
    first = refer_mary(sp_place, token=token)
    again = refer_mary(sp_place, token=token)
    assert (again.service_request_id, again.task_id, again.created) == (
        first.service_request_id,
        first.task_id,
        False,
    )


def test_every_problem_with_the_form_is_named(sp_place: Place) -> None:
    with pytest.raises(InvalidReferralForm) as refused:
        refer(
            sp_place.access("ann.gp"),
            "mary",
            service_organisation_id="nowhere",
            reasons=("other", "knitting"),
            details="",
            priority="whenever",
            respond_by=today() - timedelta(days=1),
            token=new_submission_token(),
        )
    fields = [field for field, _ in refused.value.problems]
    assert fields == ["service", "reasons", "details", "priority", "respond_by"]
    assert "Select the social prescribing service" in str(refused.value)
    with pytest.raises(InvalidReferralForm, match="at least one reason"):
        refer_mary(sp_place, reasons=())


def test_a_second_referral_for_the_same_need_is_refused_naming_the_open_one(
    sp_place: Place,
) -> None:
    first = refer_mary(sp_place, reasons=("loneliness", "low-mood"))
    with pytest.raises(DuplicateReferral) as refused:
        refer_mary(sp_place, username="cara.coord", reasons=("low-mood",))
    assert refused.value.open_referral_id == first.service_request_id
    message = str(refused.value)
    assert f"referral {first.service_request_id}" in message
    assert "for low mood or anxiety" in message
    assert "Dr Ann Example" in message
    assert "Northshire Social Prescribing Network" in message
    # Nothing of the refused referral was kept.
    assert len(referrals_for_person(sp_place.access("cara.coord"), "mary")) == 1

    # A different need is a referral of its own; another person's is theirs.
    refer_mary(sp_place, username="cara.coord", reasons=("housing",))
    refer_mary(sp_place, patient="joe", reasons=("loneliness",))


def test_a_turned_down_referral_still_blocks_until_the_referrer_closes_it(
    sp_place: Place,
) -> None:
    first = refer_mary(sp_place)
    reject_referral(
        sp_place.access(LINK_WORKER), first.service_request_id, "Needs the memory clinic first"
    )
    with pytest.raises(DuplicateReferral, match="turned it down; close it"):
        refer_mary(sp_place)
    version = int(stored(sp_place, "Task", first.task_id)["meta"]["versionId"])
    take_action(sp_place.access("ann.gp"), first.task_id, TaskAction.CLOSE, version=version)
    assert refer_mary(sp_place).created


def test_self_referral_only_where_the_place_takes_it(sp_place: Place) -> None:
    with pytest.raises(SelfReferralNotOffered, match="a professional"):
        refer_mary(sp_place, username=LINK_WORKER, self_referral=True)
    with pytest.raises(SelfReferralNotOffered, match="a professional"):
        refer_mary(sp_place, username="mary")
    # Staff elsewhere cannot record someone's self-referral to this service.
    with pytest.raises(SelfReferralNotOffered, match="service itself"):
        refer_mary(sp_place, username="ann.gp", self_referral=True, settings=SELF_REFERRALS)

    # The service records Mary's phone call: she is the requester. The link worker had no
    # relationship with her before; the referral itself is one.
    made = refer_mary(sp_place, username=LINK_WORKER, self_referral=True, settings=SELF_REFERRALS)
    request = stored(sp_place, "ServiceRequest", made.service_request_id)
    assert request["requester"] == {"reference": "Patient/mary"}
    assert request["note"][0]["text"].startswith("Self-referral.")


def test_a_person_signed_in_needs_the_place_to_take_self_referrals(sp_place: Place) -> None:
    # The domain's setting is on, but the person's door to the record (the access layer)
    # was opened for a place that takes no self-referrals: refused there, for every transport.
    with pytest.raises(Forbidden, match="People cannot refer themselves"):
        refer_mary(sp_place, username="mary", settings=PathwaySettings(True, SERVICE_ORG))
    # The setting on but naming no service: nowhere to send it.
    with pytest.raises(SelfReferralNotOffered, match="own social prescribing service"):
        refer_mary(sp_place, username="mary", settings=SELF_REFERRALS)


def test_reasons_suggest_where_to_look_in_the_directory() -> None:
    assert suggested_needs(["loneliness", "financial-worries"]) == (
        "befriending",
        "benefits-advice",
        "lunch-club",
    )
    assert suggested_needs(["other"]) == ()


def test_the_setting_is_read_from_the_environment() -> None:
    assert PathwaySettings.from_env({}) == PathwaySettings(False, None)
    assert PathwaySettings.from_env(
        {
            "CAREWEAVE_SOCIAL_PRESCRIBING_SELF_REFERRAL": "yes",
            "CAREWEAVE_SOCIAL_PRESCRIBING_SERVICE": " spn ",
        }
    ) == PathwaySettings(True, "spn")
    assert PathwaySettings.from_env(
        {"CAREWEAVE_SOCIAL_PRESCRIBING_SELF_REFERRAL": "on"}
    ).self_referral
    assert not PathwaySettings.from_env(
        {"CAREWEAVE_SOCIAL_PRESCRIBING_SELF_REFERRAL": "0"}
    ).self_referral
    with pytest.raises(ValueError, match="must be on or off"):
        PathwaySettings.from_env({"CAREWEAVE_SOCIAL_PRESCRIBING_SELF_REFERRAL": "maybe"})
