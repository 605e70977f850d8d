"""A person refers themselves to social prescribing, on SQLite and PostgreSQL: from "My care"
where the place takes self-referrals (and told how else to be referred where it does not),
through the FHIR API under the same rule, with duplicates refused as for a professional's
referral, and the referral on the link worker's list marked as a self-referral. The patient
role may create that referral of themselves and nothing broader."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from careweave.access.accounts import get_user, principal_for_user
from careweave.access.audit import AuditTrail
from careweave.access.guard import CareRecordAccess
from careweave.access.policy import SELF_REFERRAL_CODE
from careweave.access.scopes import Scopes
from careweave.access.tokens import issue_token
from careweave.coordination import codes
from careweave.coordination.record import new_submission_token, today
from careweave.coordination.referrals import SERVICE_BY_KEY
from careweave.fhir.errors import Forbidden
from careweave.social_prescribing.connections import connect
from careweave.social_prescribing.episode import episodes_for_person
from careweave.social_prescribing.pathway import accept_referral, reject_referral
from careweave.social_prescribing.pathway_codes import REASONS
from careweave.social_prescribing.pathway_problems import DuplicateReferral, PathwayProblem
from careweave.social_prescribing.referral_in import PathwaySettings, ReferralMade, refer
from careweave.store.tables import resource
from careweave.web.my_care import WHAT_WOULD_HELP
from careweave.web.pages import uk_date
from tests.coordination.place import Place, csrf_of
from tests.social_prescribing.pathway_place import LINK_WORKER, SERVICE_ORG, refer_mary
from tests.web.social_prescribing_place import (
    error_summary,
    send_form,
    sp_pages,
    text_of,
)

__all__ = ["sp_pages"]

TAKES_THEM = PathwaySettings(True, SERVICE_ORG)


def door(
    place: Place, username: str, self_referral_to: str | None = SERVICE_ORG
) -> CareRecordAccess:
    """`username`'s door to the record in a place that takes self-referrals to the network
    (or, with None, takes none)."""
    user = get_user(place.store.database, username)
    assert user is not None
    return CareRecordAccess(
        place.store,
        principal_for_user(user),
        AuditTrail(place.store.database),
        self_referral_to=self_referral_to,
    )


def refer_myself(
    place: Place, patient: str = "mary", reasons: tuple[str, ...] = ("loneliness",)
) -> ReferralMade:
    return refer(
        door(place, "mary"),
        patient,
        service_organisation_id=SERVICE_ORG,
        reasons=reasons,
        details="The days are long.\nHow to contact me: by phone on 07700 900982",
        token=new_submission_token(),
        settings=TAKES_THEM,
    )


def stored(place: Place, resource_type: str, resource_id: str) -> dict[str, Any]:
    return place.store.read(resource_type, resource_id).as_dict()


def count(place: Place, resource_type: str) -> int:
    with place.store.database.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(resource)
                .where(resource.c.resource_type == resource_type, resource.c.deleted.is_(False))
            ).scalar_one()
        )


def test_the_access_rule_and_the_referral_code_agree() -> None:
    service = SERVICE_BY_KEY["social-prescribing"]
    assert (service.system, service.code) == SELF_REFERRAL_CODE
    assert set(WHAT_WOULD_HELP) == set(REASONS)


def test_a_person_refers_themselves_and_the_service_receives_it(sp_pages: Place) -> None:
    made = refer_myself(sp_pages)
    request = stored(sp_pages, "ServiceRequest", made.service_request_id)
    assert request["requester"] == {"reference": "Patient/mary"}
    assert request["subject"] == {"reference": "Patient/mary"}
    assert request["note"][0]["text"].startswith("Self-referral. The days are long.")
    task = stored(sp_pages, "Task", made.task_id)
    assert task["owner"]["reference"] == f"Organization/{SERVICE_ORG}"
    assert task["requester"] == {"reference": "Patient/mary"}

    # It reaches the link worker's list like any other, marked as a self-referral.
    pat = sp_pages.sign_in(LINK_WORKER)
    listing = text_of(pat.get("/social-prescribing").text)
    assert "Mary Example" in listing and "by Self-referral" in listing
    gp = sp_pages.sign_in("ann.gp")
    assert "by the person themselves" in text_of(gp.get("/people/mary/social-prescribing").text)

    # The same need again, by the person or by a professional, is a duplicate.
    with pytest.raises(DuplicateReferral, match=r"made on .* by the person themselves"):
        refer_myself(sp_pages)
    with pytest.raises(DuplicateReferral):
        refer_mary(sp_pages)


def test_a_person_may_create_only_their_own_self_referral(sp_pages: Place) -> None:
    with pytest.raises(PathwayProblem, match="You can only refer yourself"):
        refer_myself(sp_pages, patient="joe")
    made = refer_myself(sp_pages)
    mary = door(sp_pages, "mary")
    request = stored(sp_pages, "ServiceRequest", made.service_request_id)
    mine = {k: v for k, v in request.items() if k not in ("id", "meta", "identifier")}
    before = (count(sp_pages, "ServiceRequest"), count(sp_pages, "Task"))

    refusals: list[dict[str, Any]] = [
        {**mine, "subject": {"reference": "Patient/joe"}},  # someone else
        {**mine, "performer": [{"reference": "Organization/riverside"}]},  # another service
        {**mine, "code": SERVICE_BY_KEY["occupational-therapy"].concept()},  # another kind
        {**mine, "requester": {"reference": "PractitionerRole/prr-ann"}},  # as if a GP
    ]
    for body in refusals:
        with pytest.raises(Forbidden):
            mary.create(body)
    # The right shape, but pointing at another person's record: refused before the store looks
    # the record up, so the refusal does not say whether it exists.
    for pointer in ("Patient/joe", "Patient/no-such-person"):
        with pytest.raises(Forbidden, match=f"only to themselves .* not to {pointer}"):
            mary.create({**mine, "supportingInfo": [{"reference": pointer}]})
    # Nor change their referral, nor make a Task that is not its fulfilment by the service.
    with pytest.raises(Forbidden):
        mary.update("ServiceRequest", made.service_request_id, {**request, "status": "revoked"})
    task = stored(sp_pages, "Task", made.task_id)
    loose = {k: v for k, v in task.items() if k not in ("id", "meta", "identifier")}
    with pytest.raises(Forbidden):
        mary.create({**loose, "owner": {"reference": "Organization/riverside"}})
    with pytest.raises(Forbidden, match="not to Patient/joe"):
        mary.create({**loose, "input": [{"type": {"text": "about"}, "valueReference": {
            "reference": "Patient/joe"}}]})  # fmt: skip
    joes = refer_mary(sp_pages, patient="joe")
    with pytest.raises(Forbidden):
        mary.create({**loose, "focus": {"reference": f"ServiceRequest/{joes.service_request_id}"}})
    assert (count(sp_pages, "ServiceRequest"), count(sp_pages, "Task")) == (
        before[0] + 1,
        before[1] + 1,
    )

    # Where the place takes no self-referrals, the access layer refuses even the right shape.
    with pytest.raises(Forbidden, match="People cannot refer themselves"):
        door(sp_pages, "mary", None).create(mine)
    # And a carer's role gains nothing from the rule.
    with pytest.raises(Forbidden):
        door(sp_pages, "carl").create(mine)


def patient_api(place: Place) -> TestClient:
    token = issue_token(
        place.store.database, Scopes.parse("patient/*.cruds"), username="mary", client_name="app"
    ).token
    client = place.stack.enter_context(TestClient(place.app, base_url="http://testserver"))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def self_referral_body(patient: str = "mary") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": SERVICE_BY_KEY["social-prescribing"].concept(),
        "subject": {"reference": f"Patient/{patient}"},
        "requester": {"reference": f"Patient/{patient}"},
        "performer": [{"reference": f"Organization/{SERVICE_ORG}"}],
    }


def test_the_fhir_api_follows_the_places_setting(sp_pages: Place) -> None:
    api = patient_api(sp_pages)
    refused = api.post("/fhir/R4/ServiceRequest", json=self_referral_body())
    assert refused.status_code == 403
    assert "People cannot refer themselves" in refused.text
    sp_pages.app.state.settings = replace(
        sp_pages.app.state.settings,
        social_prescribing_self_referral=True,
        social_prescribing_service=SERVICE_ORG,
    )
    made = api.post("/fhir/R4/ServiceRequest", json=self_referral_body())
    assert made.status_code == 201, made.text
    assert api.post("/fhir/R4/ServiceRequest", json=self_referral_body("joe")).status_code in (
        403,
        404,
    )
    other = {**self_referral_body(), "code": codes.concept(codes.SNOMED, "308453003")}
    assert api.post("/fhir/R4/ServiceRequest", json=other).status_code == 403


def test_a_fhir_app_sends_the_referral_and_its_task_in_one_transaction(sp_pages: Place) -> None:
    # A person's app sends both at once, the Task pointing at the new request by its urn:uuid;
    # the same Bundle aimed at another person's request is refused whole.
    sp_pages.app.state.settings = replace(
        sp_pages.app.state.settings,
        social_prescribing_self_referral=True,
        social_prescribing_service=SERVICE_ORG,
    )
    api = patient_api(sp_pages)
    before = (count(sp_pages, "ServiceRequest"), count(sp_pages, "Task"))

    def bundle(focus: str) -> dict[str, Any]:
        task = {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code",
                                 "code": "fulfill"}]},
            "focus": {"reference": focus},
            "for": {"reference": "Patient/mary"},
            "requester": {"reference": "Patient/mary"},
            "owner": {"reference": f"Organization/{SERVICE_ORG}"},
        }  # fmt: skip
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": "urn:uuid:0b9c6a51-5f42-4c4e-9d8e-3f1f5b0c2a11",
                    "resource": self_referral_body(),
                    "request": {"method": "POST", "url": "ServiceRequest"},
                },
                {"resource": task, "request": {"method": "POST", "url": "Task"}},
            ],
        }

    joes = refer_mary(sp_pages, patient="joe")
    refused = api.post("/fhir/R4", json=bundle(f"ServiceRequest/{joes.service_request_id}"))
    assert refused.status_code == 403, refused.text
    assert (count(sp_pages, "ServiceRequest"), count(sp_pages, "Task")) == (
        before[0] + 1,  # Joe's, made by his GP
        before[1] + 1,
    )
    sent = api.post("/fhir/R4", json=bundle("urn:uuid:0b9c6a51-5f42-4c4e-9d8e-3f1f5b0c2a11"))
    assert sent.status_code == 200, sent.text
    made = [e["response"]["location"].split("/")[:2] for e in sent.json()["entry"]]
    assert [kind for kind, _ in made] == ["ServiceRequest", "Task"]
    task = stored(sp_pages, "Task", made[1][1])
    assert task["focus"] == {"reference": f"ServiceRequest/{made[0][1]}"}
    assert (count(sp_pages, "ServiceRequest"), count(sp_pages, "Task")) == (
        before[0] + 2,
        before[1] + 2,
    )


def test_my_care_says_how_else_to_be_referred_where_the_place_does_not_take_them(
    sp_pages: Place,
) -> None:
    mary = sp_pages.sign_in("mary")
    care = mary.get("/my-care")
    assert 'href="/my-care/social-prescribing"' in care.text
    page = mary.get("/my-care/social-prescribing")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "You cannot refer yourself to social prescribing online in this area" in text
    assert "Ask Riverside Surgery, your care coordinator" in text
    assert 'action="/my-care/social-prescribing"' not in page.text
    before = count(sp_pages, "ServiceRequest")
    sent = mary.post(
        "/my-care/social-prescribing",
        data={
            "csrf_token": csrf_of(care.text),
            "token": new_submission_token(),
            "reason-loneliness": "yes",
            "contact": "letter",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 403
    assert count(sp_pages, "ServiceRequest") == before
    # A carer is pointed to the person's care team, with no link on their page.
    carl = sp_pages.sign_in("carl")
    assert 'href="/my-care/social-prescribing"' not in carl.get("/my-care").text
    assert carl.get("/my-care/social-prescribing").status_code == 403


def test_a_person_refers_themselves_from_my_care(sp_pages: Place) -> None:
    sp_pages.app.state.settings = replace(
        sp_pages.app.state.settings,
        social_prescribing_self_referral=True,
        social_prescribing_service=SERVICE_ORG,
    )
    mary = sp_pages.sign_in("mary")
    form = mary.get("/my-care/social-prescribing")
    assert "Your referral goes to Northshire Social Prescribing Network" in text_of(form.text)
    assert "I feel lonely or cut off from people" in form.text

    empty = send_form(mary, "/my-care/social-prescribing", contact="phone", contact_detail="12")
    assert empty.status_code == 400
    summary = error_summary(empty.text)
    assert "Select at least one thing you would like help with" in summary
    assert "Enter a phone number, like 01632 960 001 or 07700 900 982" in summary
    other = send_form(
        mary, "/my-care/social-prescribing", **{"reason-other": "yes", "contact": "letter"}
    )
    assert other.status_code == 400
    assert "Tell us what else you would like help with" in error_summary(other.text)
    no_contact = send_form(mary, "/my-care/social-prescribing", **{"reason-loneliness": "yes"})
    assert "Select how the service should contact you" in error_summary(no_contact.text)

    sent = send_form(
        mary,
        "/my-care/social-prescribing",
        **{
            "reason-loneliness": "yes",
            "reason-physical-inactivity": "yes",
            "details": "I used to walk a lot.",
            "contact": "phone",
            "contact_detail": "07700 900982",
        },
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/my-care?done=referred"
    assert "Your referral has been sent" in text_of(mary.get(sent.headers["location"]).text)
    pat = sp_pages.sign_in(LINK_WORKER)
    listing = text_of(pat.get("/social-prescribing").text)
    assert "Mary Example" in listing and "by Self-referral" in listing

    # She follows it on My care, and is not asked to refer herself again.
    care = mary.get("/my-care")
    mine = text_of(care.text)
    assert f"You referred yourself on {uk_date(today())}" in mine
    assert "Waiting for a link worker to contact you." in mine
    assert 'href="/my-care/social-prescribing"' not in care.text
    asked = mary.get("/my-care/social-prescribing")
    assert "You have already been referred" in text_of(asked.text)
    assert 'action="/my-care/social-prescribing"' not in asked.text
    # A form sent from a tab left open is refused as a duplicate, with the reason.
    again = mary.post(
        "/my-care/social-prescribing",
        data={
            "csrf_token": csrf_of(care.text),
            "token": new_submission_token(),
            "reason-loneliness": "yes",
            "contact": "letter",
        },
        follow_redirects=False,
    )
    assert again.status_code == 409
    assert "You already have a referral to social prescribing" in error_summary(again.text)

    # The link worker takes her on and puts her in touch with the lunch club.
    lw = sp_pages.access(LINK_WORKER)
    (referral,) = [e.referral_id for e in episodes_for_person(lw, "mary") if e.self_referral]
    accept_referral(lw, referral)
    connect(lw, referral, "lunch", token=new_submission_token())
    followed = text_of(mary.get("/my-care").text)
    assert "Your link worker has put you in touch with local groups or services." in followed
    assert "Your link worker: Pat Pathway" in followed
    assert "Lunch club (Brook Good Neighbours): waiting to hear from them" in followed


def test_a_person_referred_by_their_gp_follows_it_and_is_not_asked_to_refer_themselves(
    sp_pages: Place,
) -> None:
    made = refer_mary(sp_pages)
    mary = sp_pages.sign_in("mary")
    care = text_of(mary.get("/my-care").text)
    ann = stored(sp_pages, "ServiceRequest", made.service_request_id)["requester"]["display"]
    assert f"Referred by {ann} on {uk_date(today())}" in care
    assert "Waiting for a link worker to contact you." in care
    # The place takes no self-referrals, but she is already referred: that is what she is told.
    asked = text_of(mary.get("/my-care/social-prescribing").text)
    assert "You have already been referred" in asked
    assert "You cannot refer yourself to social prescribing online" not in asked

    # Turned down: it is no longer going, and she may ask again.
    lw = sp_pages.access(LINK_WORKER)
    reject_referral(lw, made.service_request_id, reason="Needs a mental health team first")
    after = mary.get("/my-care")
    assert "The service did not take this referral on." in text_of(after.text)
    assert 'href="/my-care/social-prescribing"' in after.text
    # Her carer's page says nothing of it: the referral is hers to follow.
    assert "Referred by" not in text_of(sp_pages.sign_in("carl").get("/my-care").text)
