"""Social care recorded in the shared record, as FHIR and through the guard: sam.sw (a social
worker at the council, which is already involved with mary) records Care Act needs
assessments, care packages and carers' assessments; others read them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.coordination.codes import has_code
from careweave.coordination.record import FORM_SUBMISSION_SYSTEM, find, new_submission_token, today
from careweave.coordination.social_care import social_care_of
from careweave.coordination.social_care_assessments import (
    CarersAnswers,
    NeedsAnswers,
    NotADraft,
    carers_to_assess,
    continue_needs_assessment,
    record_carers_assessment,
    record_needs_assessment,
)
from careweave.coordination.social_care_packages import (
    HOURS_PER_WEEK,
    PackageEnded,
    PackageRequest,
    change_package,
    end_package,
    record_package,
)
from careweave.coordination.social_care_questionnaires import (
    CARERS_ASSESSMENT_URL,
    NEEDS_ASSESSMENT_URL,
    OUTCOMES,
    QUESTIONNAIRE_VERSION,
    carers_assessment_questionnaire,
    needs_assessment_questionnaire,
    publish_questionnaires,
)
from careweave.coordination.social_care_rules import (
    CARE_ACT_ELIGIBILITY,
    CARE_PACKAGE_REVIEW_EXTENSION,
    SOCIAL_CARE,
    InvalidSocialCare,
)
from careweave.coordination.summary import person_summary
from careweave.fhir.errors import Forbidden, VersionConflict
from careweave.fhir.validation import validate_resource
from tests.coordination.place import Place
from tests.web.test_governance_pages import make_user

SUMMARY = "Needs help to wash, dress and prepare meals since her stroke; wants to stay at home."


def council_involved(place: Place, patient: str = "mary") -> None:
    """The council's adult social care team has an open episode with the person (an accepted
    referral), which is their relationship with them."""
    place.put(
        {
            "resourceType": "EpisodeOfCare",
            "id": f"ep-council-{patient}",
            "status": "active",
            "patient": {"reference": f"Patient/{patient}"},
            "managingOrganization": {"reference": "Organization/council"},
            "period": {"start": "2025-01-01"},
        }
    )


def home_care_provider(place: Place) -> None:
    place.put(
        {
            "resourceType": "Organization",
            "id": "homecare",
            "active": True,
            "name": "Northshire Home Care Ltd",
        }
    )


@pytest.fixture
def involved(place: Place) -> Place:
    council_involved(place)
    home_care_provider(place)
    return place


def needs(
    *,
    unable: tuple[str, ...] = ("nutrition", "hygiene", "clothed"),
    impairment: bool | None = True,
    wellbeing: bool | None = True,
    eligible: bool | None = True,
    summary: str = SUMMARY,
    complete: bool = True,
    on: date | None = None,
) -> NeedsAnswers:
    return NeedsAnswers(
        assessed_on=on or today() - timedelta(days=2),
        unable=frozenset(unable),
        impairment=impairment,
        wellbeing_impact=wellbeing,
        eligible=eligible,
        summary=summary,
        complete=complete,
    )


def stored(place: Place, resource_type: str, resource_id: str) -> dict[str, Any]:
    return place.store.read(resource_type, resource_id).as_dict()


def items_by_link(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        found[item["linkId"]] = item
        found.update(items_by_link(item.get("item", [])))
    return found


def package(
    *,
    kind: str = "home-care",
    hours: str = "10.5",
    provider: str = "homecare",
    start: date | None = None,
    review: date | None = None,
) -> PackageRequest:
    begins = start or today() - timedelta(days=7)
    return PackageRequest(kind, hours, provider, begins, review or begins + timedelta(days=42))


def arrange(place: Place, asked: PackageRequest | None = None) -> str:
    saved = record_package(
        place.access("sam.sw"), "mary", asked or package(), new_submission_token()
    )
    return saved.service_request_id


# -- the Questionnaires ------------------------------------------------------------------------


def test_the_questionnaires_are_valid_fhir_and_publishing_them_is_idempotent(
    place: Place,
) -> None:
    for questionnaire in (needs_assessment_questionnaire(), carers_assessment_questionnaire()):
        validate_resource(questionnaire)
    needs_items = items_by_link(needs_assessment_questionnaire()["item"])
    texts = [needs_items[o.link_id]["text"] for o in OUTCOMES]
    assert (texts[0], texts[-1]) == (
        "Managing and maintaining nutrition",
        "Carrying out any caring responsibilities for a child",
    )
    assert sum(1 for link in needs_items if link.startswith("outcome-")) == 10

    make_user(place.store.database, "ada.admin", "Ada Admin", "administrator")
    admin = place.access("ada.admin")
    created = publish_questionnaires(admin)
    assert len(created) == 2
    assert publish_questionnaires(admin) == []
    [found] = find(admin, "Questionnaire", [("url", NEEDS_ASSESSMENT_URL)])
    assert found["version"] == QUESTIONNAIRE_VERSION and found["status"] == "active"
    with pytest.raises(Forbidden):
        publish_questionnaires(place.access("sam.sw"))


# -- needs assessments ---------------------------------------------------------------------------


def test_a_needs_assessment_is_the_questionnaire_response_the_doc_describes(
    involved: Place,
) -> None:
    token = new_submission_token()
    saved = record_needs_assessment(involved.access("sam.sw"), "mary", needs(), token)
    assert saved.created
    response = stored(involved, "QuestionnaireResponse", saved.response_id)
    validate_resource(response)
    assert response["questionnaire"] == f"{NEEDS_ASSESSMENT_URL}|{QUESTIONNAIRE_VERSION}"
    assert response["status"] == "completed"
    assert response["subject"] == {"reference": "Patient/mary"}
    assert response["author"]["reference"] == "PractitionerRole/prr-sam"
    assert response["identifier"] == {"system": FORM_SUBMISSION_SYSTEM, "value": token}
    answers = items_by_link(response["item"])
    defined = items_by_link(needs_assessment_questionnaire()["item"])
    assert set(answers) <= set(defined), "every answer is to a question of the Questionnaire"
    assert answers["assessment-date"]["answer"] == [
        {"valueDate": (today() - timedelta(days=2)).isoformat()}
    ]
    unable = {o.key for o in OUTCOMES if answers[o.link_id]["answer"][0]["valueBoolean"]}
    assert unable == {"nutrition", "hygiene", "clothed"}
    assert answers["impairment"]["answer"] == [{"valueBoolean": True}]
    determination = answers["determination"]["answer"][0]["valueCoding"]
    assert (determination["system"], determination["code"]) == (CARE_ACT_ELIGIBILITY, "eligible")
    assert answers["summary"]["answer"] == [{"valueString": SUMMARY}]


def test_the_determination_must_agree_with_the_eligibility_criteria(involved: Place) -> None:
    sam = involved.access("sam.sw")
    cases = [
        needs(unable=("nutrition",), eligible=True),  # only one outcome
        needs(impairment=False, eligible=True),
        needs(wellbeing=False, eligible=True),
        needs(eligible=False),  # all three conditions met
    ]
    for answers in cases:
        with pytest.raises(InvalidSocialCare) as refused:
            record_needs_assessment(sam, "mary", answers, new_submission_token())
        assert [p.field for p in refused.value.problems] == ["eligible"]
    saved = record_needs_assessment(
        sam, "mary", needs(unable=("nutrition",), eligible=False), new_submission_token()
    )
    assert stored(involved, "QuestionnaireResponse", saved.response_id)["status"] == "completed"
    assert len(find(sam, "QuestionnaireResponse", [("subject", "Patient/mary")])) == 1


def test_a_completed_assessment_needs_every_answer_and_names_each_problem(
    involved: Place,
) -> None:
    answers = NeedsAnswers(
        assessed_on=today() + timedelta(days=1),
        unable=frozenset({"flying"}),
        impairment=None,
        wellbeing_impact=None,
        eligible=None,
        summary="",
        complete=True,
    )
    with pytest.raises(InvalidSocialCare) as refused:
        record_needs_assessment(involved.access("sam.sw"), "mary", answers, "not-a-token")
    fields = [p.field for p in refused.value.problems]
    assert fields == [
        "assessed_on",
        "unable",
        "impairment",
        "wellbeing_impact",
        "eligible",
        "summary",
        None,
    ]
    assert (
        find(involved.access("sam.sw"), "QuestionnaireResponse", [("subject", "Patient/mary")])
        == []
    )


def test_a_draft_needs_only_its_date_and_is_finished_later_without_overwriting(
    involved: Place,
) -> None:
    sam = involved.access("sam.sw")
    draft = needs(
        unable=(), impairment=None, wellbeing=None, eligible=None, summary="", complete=False
    )
    saved = record_needs_assessment(sam, "mary", draft, new_submission_token())
    response = stored(involved, "QuestionnaireResponse", saved.response_id)
    assert response["status"] == "in-progress"
    assert "determination" not in items_by_link(response["item"])

    finished = needs()
    with pytest.raises(VersionConflict):
        continue_needs_assessment(sam, "mary", saved.response_id, finished, version=7)
    assert stored(involved, "QuestionnaireResponse", saved.response_id)["status"] == "in-progress"
    continue_needs_assessment(sam, "mary", saved.response_id, finished, version=1)
    done = stored(involved, "QuestionnaireResponse", saved.response_id)
    assert (done["status"], done["meta"]["versionId"]) == ("completed", "2")
    # The same form sent twice changes nothing and is not refused.
    continue_needs_assessment(sam, "mary", saved.response_id, finished, version=1)
    assert stored(involved, "QuestionnaireResponse", saved.response_id)["meta"]["versionId"] == "2"
    with pytest.raises(NotADraft):
        continue_needs_assessment(
            sam, "mary", saved.response_id, needs(summary="Something else"), version=2
        )


def test_sending_the_same_form_twice_records_one_assessment(involved: Place) -> None:
    sam = involved.access("sam.sw")
    token = new_submission_token()
    first = record_needs_assessment(sam, "mary", needs(), token)
    again = record_needs_assessment(sam, "mary", needs(), token)
    assert (again.response_id, again.created) == (first.response_id, False)
    assert len(find(sam, "QuestionnaireResponse", [("subject", "Patient/mary")])) == 1


def test_only_social_workers_record_social_care(involved: Place) -> None:
    gp = involved.access("ann.gp")  # may write QuestionnaireResponses, but is not social care
    with pytest.raises(Forbidden):
        record_needs_assessment(gp, "mary", needs(), new_submission_token())
    with pytest.raises(Forbidden):
        record_package(gp, "mary", package(), new_submission_token())
    assert find(gp, "QuestionnaireResponse", [("subject", "Patient/mary")]) == []


def test_no_one_records_for_a_person_they_have_no_relationship_with(involved: Place) -> None:
    sam = involved.access("sam.sw")
    with pytest.raises(Forbidden):
        record_needs_assessment(sam, "sid", needs(), new_submission_token())
    assert (
        find(involved.access("hal.gp"), "QuestionnaireResponse", [("subject", "Patient/sid")]) == []
    )


# -- care packages ---------------------------------------------------------------------------------


def test_a_care_package_is_a_service_request_and_an_episode_written_together(
    involved: Place,
) -> None:
    asked = package()
    saved = record_package(involved.access("sam.sw"), "mary", asked, new_submission_token())
    request = stored(involved, "ServiceRequest", saved.service_request_id)
    assert saved.episode_id is not None
    episode = stored(involved, "EpisodeOfCare", saved.episode_id)
    assert (request["status"], request["intent"]) == ("active", "order")
    assert has_code(request["code"], SOCIAL_CARE, "home-care")
    assert request["quantityQuantity"] == {"value": 10.5, **HOURS_PER_WEEK}
    assert request["performer"] == [
        {"reference": "Organization/homecare", "display": "Northshire Home Care Ltd"}
    ]
    assert request["occurrencePeriod"] == {"start": asked.start.isoformat()}  # type: ignore[union-attr]
    assert request["extension"] == [
        {"url": CARE_PACKAGE_REVIEW_EXTENSION, "valueDate": asked.review.isoformat()}  # type: ignore[union-attr]
    ]
    assert request["requester"]["reference"] == "PractitionerRole/prr-sam"
    assert episode["status"] == "active"
    assert episode["referralRequest"] == [
        {"reference": f"ServiceRequest/{saved.service_request_id}"}
    ]
    assert episode["managingOrganization"]["reference"] == "Organization/homecare"
    assert episode["careManager"]["reference"] == "Practitioner/pr-sam"
    assert has_code(episode["type"], SOCIAL_CARE, "home-care")

    # The summary reads the same package the same way.
    [shown] = [
        p
        for p in person_summary(involved.access("ann.gp"), "mary").care_packages
        if p.hours_per_week
    ]
    assert (shown.hours_per_week, shown.provider) == (10.5, "Northshire Home Care Ltd")
    assert shown.review is not None and shown.review.day == asked.review


def test_a_package_with_problems_names_each_and_saves_nothing(involved: Place) -> None:
    sam = involved.access("sam.sw")
    start = today()
    asked = PackageRequest("spa-days", "lots", "nowhere!", start, start - timedelta(days=1))
    with pytest.raises(InvalidSocialCare) as refused:
        record_package(sam, "mary", asked, new_submission_token())
    assert [p.field for p in refused.value.problems] == ["type", "hours", "provider", "review"]
    for hours, message in (("", "Enter the hours"), ("0", "more than 0"), ("200", "168")):
        with pytest.raises(InvalidSocialCare) as refused:
            record_package(sam, "mary", package(hours=hours), new_submission_token())
        assert message in refused.value.problems[0].message
    # Hours are not needed for a care home place.
    saved = record_package(sam, "mary", package(kind="care-home", hours=""), new_submission_token())
    assert "quantityQuantity" not in stored(involved, "ServiceRequest", saved.service_request_id)
    assert len(find(sam, "ServiceRequest", [("subject", "Patient/mary")])) == 1


def test_sending_the_package_form_twice_arranges_one_package(involved: Place) -> None:
    sam = involved.access("sam.sw")
    token = new_submission_token()
    first = record_package(sam, "mary", package(), token)
    again = record_package(sam, "mary", package(), token)
    assert (again.service_request_id, again.episode_id, again.created) == (
        first.service_request_id,
        first.episode_id,
        False,
    )
    assert len(find(sam, "EpisodeOfCare", [("patient", "Patient/mary")])) == 2  # + council's


def test_changing_hours_and_review_date_refuses_a_stale_change(involved: Place) -> None:
    request_id = arrange(involved)
    sam = involved.access("sam.sw")
    review = today() + timedelta(days=90)
    change_package(sam, "mary", request_id, "14", review, version=1)
    changed = stored(involved, "ServiceRequest", request_id)
    assert changed["quantityQuantity"]["value"] == 14.0
    assert [e["valueDate"] for e in changed["extension"]] == [review.isoformat()]
    # The same change sent again is no change; a different one from the old page is stale.
    change_package(sam, "mary", request_id, "14", review, version=1)
    with pytest.raises(VersionConflict):
        change_package(sam, "mary", request_id, "20", review, version=1)
    assert stored(involved, "ServiceRequest", request_id)["meta"]["versionId"] == "2"
    with pytest.raises(InvalidSocialCare) as refused:
        change_package(sam, "mary", request_id, "14", today() - timedelta(days=30), version=2)
    assert refused.value.problems[0].field == "review"


def test_ending_a_package_completes_the_request_and_finishes_the_episode(
    involved: Place,
) -> None:
    request_id = arrange(involved)
    sam = involved.access("sam.sw")
    with pytest.raises(InvalidSocialCare) as refused:
        end_package(sam, "mary", request_id, today() + timedelta(days=1), "", version=1)
    assert refused.value.problems[0].field == "end"
    end_package(sam, "mary", request_id, today(), "Moved to live with her daughter", version=1)
    request = stored(involved, "ServiceRequest", request_id)
    assert request["status"] == "completed"
    assert request["occurrencePeriod"]["end"] == today().isoformat()
    assert "Moved to live with her daughter" in request["note"][-1]["text"]
    [episode] = find(sam, "EpisodeOfCare", [("incoming-referral", f"ServiceRequest/{request_id}")])
    assert (episode["status"], episode["period"]["end"]) == ("finished", today().isoformat())
    with pytest.raises(PackageEnded):
        change_package(sam, "mary", request_id, "4", today() + timedelta(days=9), version=2)

    picture = social_care_of(sam, "mary", today() + timedelta(days=1))
    assert picture.current_packages == []
    [past] = picture.past_packages
    assert (past.service_request_id, past.end) == (request_id, today())
    assert not any(p.hours_per_week for p in person_summary(sam, "mary").care_packages)


# -- carers' assessments -------------------------------------------------------------------------


def carers_answers(carer: str = "carl") -> CarersAnswers:
    return CarersAnswers(
        related_person_id=carer,
        assessed_on=today() - timedelta(days=1),
        sustainable=False,
        wellbeing_impact="Not sleeping; has given up his evening job.",
        outcomes_wanted="A night off each week and to keep working.",
        eligible=True,
        support_agreed="Sitting service one evening a week.",
    )


def test_a_carers_assessment_has_the_person_as_subject_and_the_carer_as_source(
    involved: Place,
) -> None:
    sam = involved.access("sam.sw")
    assert [c.related_person_id for c in carers_to_assess(sam, "mary")] == ["carl"]
    saved = record_carers_assessment(sam, "mary", carers_answers(), new_submission_token())
    response = stored(involved, "QuestionnaireResponse", saved.response_id)
    validate_resource(response)
    assert response["questionnaire"] == f"{CARERS_ASSESSMENT_URL}|{QUESTIONNAIRE_VERSION}"
    assert response["subject"] == {"reference": "Patient/mary"}
    assert response["source"]["reference"] == "RelatedPerson/carl"
    answers = items_by_link(response["item"])
    assert set(answers) <= set(items_by_link(carers_assessment_questionnaire()["item"]))
    assert answers["caring-sustainable"]["answer"] == [{"valueBoolean": False}]
    assert answers["support-agreed"]["answer"] == [
        {"valueString": "Sitting service one evening a week."}
    ]

    [shown] = social_care_of(involved.access("ann.gp"), "mary").carers_assessments
    assert (shown.carer, shown.sustainable, shown.eligible) == ("Carl Example", False, True)
    assert shown.source.organisation == "Northshire Council Adult Social Care"


def test_a_carers_assessment_is_of_one_of_the_persons_own_carers(involved: Place) -> None:
    involved.put(
        {
            "resourceType": "RelatedPerson",
            "id": "jo",
            "patient": {"reference": "Patient/joe"},
            "name": [{"given": ["Jo"], "family": "Other"}],
        }
    )
    sam = involved.access("sam.sw")
    for carer in ("jo", "nobody", "../x"):
        with pytest.raises(InvalidSocialCare) as refused:
            record_carers_assessment(sam, "mary", carers_answers(carer), new_submission_token())
        assert [p.field for p in refused.value.problems] == ["carer"]


# -- the picture ---------------------------------------------------------------------------------


def test_the_picture_reads_what_the_synthetic_place_writes(involved: Place) -> None:
    """A home care package and care-home place as careweave.synth.social_care writes them, an
    assessment visit, and an episode a referral started (not a package)."""
    local = {"system": SOCIAL_CARE}
    for resource in (
        {
            "resourceType": "ServiceRequest",
            "id": "sr-synth",
            "status": "active",
            "intent": "order",
            "code": {
                "coding": [
                    {**local, "code": "home-care", "display": "Home care (domiciliary care)"}
                ]
            },
            "quantityQuantity": {"value": 7.0, **HOURS_PER_WEEK},
            "subject": {"reference": "Patient/mary"},
            "occurrencePeriod": {"start": "2024-05-01"},
            "authoredOn": "2024-04-20",
            "performer": [
                {"reference": "Organization/homecare", "display": "Northshire Home Care Ltd"}
            ],
            "requester": {"reference": "PractitionerRole/prr-sam"},
        },
        {
            "resourceType": "EpisodeOfCare",
            "id": "ep-synth",
            "status": "active",
            "type": [{"coding": [{**local, "code": "home-care", "display": "Home care package"}]}],
            "patient": {"reference": "Patient/mary"},
            "managingOrganization": {"reference": "Organization/homecare"},
            "period": {"start": "2024-05-01"},
            "referralRequest": [{"reference": "ServiceRequest/sr-synth"}],
            "careManager": {"reference": "Practitioner/pr-sam"},
        },
        {
            "resourceType": "EpisodeOfCare",
            "id": "ep-home",
            "status": "finished",
            "type": [
                {"coding": [{**local, "code": "care-home", "display": "Care home residence"}]}
            ],
            "patient": {"reference": "Patient/mary"},
            "managingOrganization": {"reference": "Organization/homecare"},
            "period": {"start": "2020-01-01", "end": "2021-06-30"},
        },
        {
            "resourceType": "Encounter",
            "id": "enc-assess",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
            "type": [{"coding": [{**local, "code": "care-act-assessment"}]}],
            "subject": {"reference": "Patient/mary"},
            "period": {"start": "2024-04-10", "end": "2024-04-10"},
            "serviceProvider": {"reference": "Organization/council"},
            "participant": [{"individual": {"reference": "PractitionerRole/prr-sam"}}],
        },
    ):
        involved.put(resource)
    on = today()
    gp = social_care_of(involved.access("ann.gp"), "mary", on)
    [running] = gp.current_packages
    assert (running.service_request_id, running.episode_id) == ("sr-synth", "ep-synth")
    assert (running.hours_per_week, running.provider) == (7.0, "Northshire Home Care Ltd")
    assert running.source.organisation == "Northshire Council Adult Social Care"
    [before] = gp.past_packages
    assert (before.episode_id, before.care_home, before.end) == ("ep-home", True, date(2021, 6, 30))
    [visit] = gp.assessments
    assert (visit.response_id, visit.assessed_on) == (None, date(2024, 4, 10))
    # The council's own episode (from the referral it accepted) is not a care package.
    assert all(p.episode_id != "ep-council-mary" for p in gp.current_packages + gp.past_packages)
    # Social workers are not shared encounters, so they do not see the visit.
    assert social_care_of(involved.access("sam.sw"), "mary", on).assessments == []


def test_assessments_are_newest_first_with_who_recorded_them(involved: Place) -> None:
    sam = involved.access("sam.sw")
    older = today() - timedelta(days=400)
    record_needs_assessment(sam, "mary", needs(on=older), new_submission_token())
    record_needs_assessment(
        sam,
        "mary",
        needs(
            unable=(), impairment=None, wellbeing=None, eligible=None, summary="", complete=False
        ),
        new_submission_token(),
    )
    picture = social_care_of(involved.access("cara.coord"), "mary")
    assert [a.draft for a in picture.assessments] == [True, False]
    assert picture.assessments[1].assessed_on == older
    assert picture.assessments[1].eligible is True
    source = picture.assessments[0].source
    assert (source.person, source.organisation) == (
        "Sam Social",
        "Northshire Council Adult Social Care",
    )
