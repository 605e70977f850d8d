"""The personalised care and support plan as FHIR: created, shared, edited, reviewed and
read through the guard, on SQLite and PostgreSQL (docs/care-coordination.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from careweave.coordination.care_plan import (
    CHANGED_BY_EXTENSION,
    NoCarePlan,
    PlanExists,
    PlanInputError,
    active_plan,
    care_plan_of,
    plan_history,
)
from careweave.coordination.care_plan_actions import (
    add_action,
    add_goal,
    add_question,
    add_what_matters,
    create_plan,
    record_review,
    update_action_status,
    update_goal,
    update_sections,
)
from careweave.coordination.codes import (
    CARE_PLAN_CATEGORY,
    CARE_TEAM_CATEGORY,
    CARE_TEAM_ROLE,
    CARER_ACCESS,
    CONSENT_CATEGORY,
    CONSENT_SCOPE,
    LAST_REVIEWED_EXTENSION,
    NEXT_REVIEW_EXTENSION,
    TASK_TYPE,
    has_code,
)
from careweave.coordination.record import find, new_submission_token, read, today
from careweave.fhir.errors import Forbidden, NotFound, VersionConflict
from careweave.fhir.search_query import parse_search
from careweave.web.wording import london_time
from tests.coordination.place import Place


def care_team(place: Place) -> dict[str, Any]:
    """Mary's shared care team: Cara (Riverside) coordinates, Nina (community) is a member."""
    system, code = CARE_TEAM_CATEGORY

    def participant(role: str, member: str, organisation: str) -> dict[str, Any]:
        return {
            "role": [{"coding": [{"system": CARE_TEAM_ROLE, "code": role}]}],
            "member": {"reference": f"PractitionerRole/{member}"},
            "onBehalfOf": {"reference": f"Organization/{organisation}"},
            "period": {"start": "2026-01-05"},
        }

    return place.put(
        {
            "resourceType": "CareTeam",
            "id": "mary-team",
            "status": "active",
            "category": [{"coding": [{"system": system, "code": code}]}],
            "subject": {"reference": "Patient/mary"},
            "managingOrganization": [{"reference": "Organization/riverside"}],
            "participant": [
                participant("coordinator", "prr-cara", "riverside"),
                participant("member", "prr-nina", "community"),
            ],
        }
    )


def carer_consent(place: Place) -> None:
    """Mary lets Carl see her care plan (docs/care-coordination.md, "Carers")."""
    place.put(
        {
            "resourceType": "Consent",
            "id": "mary-carl",
            "status": "active",
            "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": CONSENT_CATEGORY, "code": CARER_ACCESS}]}],
            "patient": {"reference": "Patient/mary"},
            "policyRule": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
                ]
            },
            "provision": {
                "type": "permit",
                "actor": [
                    {
                        "role": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                                    "code": "CAREGIVER",
                                }
                            ]
                        },
                        "reference": {"reference": "RelatedPerson/carl"},
                    }
                ],
            },
        }
    )


def new_plan(place: Place, **kwargs: Any) -> str:
    return create_plan(place.access("cara.coord"), "mary", new_submission_token(), **kwargs)


def stored_plans(place: Place) -> list[dict[str, Any]]:
    query = parse_search("CarePlan", [("patient", "Patient/mary")], place.store.registry)
    return [
        place.store.read("CarePlan", rid).as_dict()
        for _, rid, _ in place.store.search(query).matches
    ]


def provenance_for(place: Place, reference: str) -> list[dict[str, Any]]:
    query = parse_search("Provenance", [("target", reference)], place.store.registry)
    return [
        place.store.read("Provenance", rid).as_dict()
        for _, rid, _ in place.store.search(query).matches
    ]


def test_a_new_plan_is_a_shared_care_plan_another_team_member_can_read(place: Place) -> None:
    nina = place.access("nina.nurse")
    care_team(place)
    plan_id = new_plan(place, about_me="Mary wants to stay in her own home.")

    plan = read(nina, "CarePlan", plan_id)
    assert (plan["status"], plan["intent"]) == ("active", "plan")
    assert has_code(plan["category"], *CARE_PLAN_CATEGORY)
    assert plan["subject"] == {"reference": "Patient/mary"}
    assert plan["author"]["reference"] == "PractitionerRole/prr-cara"
    assert plan["careTeam"] == [{"reference": "CareTeam/mary-team"}]
    view = care_plan_of(nina, "mary")
    assert view is not None and view.plan_id == plan_id
    assert view.texts == {"about-me": "Mary wants to stay in her own home."}


def test_another_organisation_sees_the_plan_only_once_it_has_a_relationship(
    place: Place,
) -> None:
    plan_id = new_plan(place)
    plan = read(place.access("cara.coord"), "CarePlan", plan_id)
    assert "careTeam" not in plan
    assert plan["author"]["reference"] == "PractitionerRole/prr-cara"
    nina = place.access("nina.nurse")
    assert care_plan_of(nina, "mary") is None
    with pytest.raises(NotFound):
        read(nina, "CarePlan", plan_id)
    care_team(place)
    assert care_plan_of(place.access("nina.nurse"), "mary") is not None
    # Hilltop's GP has no relationship with Mary: the plan does not exist for them.
    assert care_plan_of(place.access("hal.gp"), "mary") is None


def test_submitting_the_create_form_twice_makes_one_plan(place: Place) -> None:
    cara = place.access("cara.coord")
    token = new_submission_token()
    first = create_plan(cara, "mary", token)
    again = create_plan(place.access("cara.coord"), "mary", token)
    assert first == again
    assert [p["id"] for p in stored_plans(place)] == [first]
    with pytest.raises(PlanExists):
        create_plan(cara, "mary", new_submission_token())
    assert len(stored_plans(place)) == 1


def test_a_stale_edit_is_refused_and_overwrites_nothing(place: Place) -> None:
    plan_id = new_plan(place)
    cara, ann = place.access("cara.coord"), place.access("ann.gp")
    opened = care_plan_of(cara, "mary")
    assert opened is not None
    now = update_sections(ann, "mary", opened.version_id, {"crisis": "Call Carl first."})
    assert now == opened.version_id + 1
    with pytest.raises(VersionConflict):
        update_sections(cara, "mary", opened.version_id, {"crisis": "Call 999."})
    plan = read(cara, "CarePlan", plan_id)
    assert plan["meta"]["versionId"] == str(now)
    view = care_plan_of(cara, "mary")
    assert view is not None and view.texts == {"crisis": "Call Carl first."}
    # Applied again at the version now current, it is written.
    update_sections(cara, "mary", now, {"crisis": "Call 999.", "contingency": ""})
    view = care_plan_of(cara, "mary")
    assert view is not None and view.texts == {"crisis": "Call 999."}


def test_goals_and_actions_roll_up_into_progress(place: Place) -> None:
    new_plan(place)
    cara = place.access("cara.coord")
    goal_id = add_goal(
        cara, "mary", new_submission_token(), "To walk to the shop again", today() + timedelta(60)
    )
    due = today() + timedelta(days=14)
    tasks = [
        add_action(
            cara,
            "mary",
            new_submission_token(),
            section=section,
            description=text,
            owner_organisation_id=owner,
            due=due,
        )
        for section, text, owner in [
            ("health", "Review medicines", "riverside"),
            ("social-care", "Assess for a care package", "council"),
            ("voluntary", "Introduce a walking group", "voluntary"),
        ]
    ]
    view = care_plan_of(cara, "mary")
    assert view is not None
    assert [g.description for g in view.goals] == ["To walk to the shop again"]
    assert view.goals[0].expressed_by is not None and view.goals[0].expressed_by.kind == "person"
    plan = read(cara, "CarePlan", view.plan_id)
    assert plan["goal"] == [{"reference": f"Goal/{goal_id}"}]
    assert [a["reference"]["reference"] for a in plan["activity"]] == [f"Task/{t}" for t in tasks]
    task = read(cara, "Task", tasks[1])
    assert has_code(task["code"], TASK_TYPE, "care-plan-action")
    assert task["owner"]["reference"] == "Organization/council"
    assert task["basedOn"] == [{"reference": f"CarePlan/{view.plan_id}"}]
    assert task["restriction"]["period"]["end"] == due.isoformat()

    update_action_status(cara, "mary", tasks[0], 1, "completed", "Done at the review")
    # An action that has fallen behind (written as another system would).
    overdue = place.store.read("Task", tasks[2]).as_dict()
    overdue["restriction"] = {"period": {"end": (today() - timedelta(days=2)).isoformat()}}
    place.put(overdue)
    view = care_plan_of(cara, "mary")
    assert view is not None
    progress = view.progress
    assert (progress.completed, progress.total, progress.overdue) == (1, 3, 1)
    by_section = {s.code: s.progress for s in view.sections}
    assert (by_section["health"].completed, by_section["health"].total) == (1, 1)
    assert by_section["voluntary"].overdue == 1
    assert [a.overdue for a in view.actions] == [False, False, True]
    # The council now has a relationship with Mary through its open action.
    assert care_plan_of(place.access("sam.sw"), "mary") is not None


def test_an_action_owner_without_provenance_rights_still_records_who_changed_it(
    place: Place,
) -> None:
    new_plan(place)
    task_id = add_action(
        place.access("cara.coord"),
        "mary",
        new_submission_token(),
        section="voluntary",
        description="Befriending calls",
        owner_organisation_id="voluntary",
        due=today(),
    )
    val = place.access("val.vol")
    update_action_status(val, "mary", task_id, 1, "in-progress", "First call booked")
    task = read(val, "Task", task_id)
    assert task["status"] == "in-progress"
    assert task["note"][0]["text"] == "First call booked"
    changed_by = [e for e in task["extension"] if e["url"] == CHANGED_BY_EXTENSION]
    assert changed_by[0]["valueReference"]["reference"] == "PractitionerRole/prr-val"
    with pytest.raises(VersionConflict):
        update_action_status(val, "mary", task_id, 1, "completed")
    with pytest.raises(PlanInputError, match="Enter a note"):
        update_action_status(val, "mary", task_id, 2, "cancelled", "  ")


def test_goals_can_be_updated_and_stale_goal_edits_are_refused(place: Place) -> None:
    new_plan(place)
    cara = place.access("cara.coord")
    goal_id = add_goal(cara, "mary", new_submission_token(), "See my grandchildren", None)
    update_goal(
        cara,
        "mary",
        goal_id,
        1,
        description="See my grandchildren every week",
        target_date=None,
        lifecycle_status="active",
        achievement_status="improving",
    )
    view = care_plan_of(cara, "mary")
    assert view is not None
    goal = view.goals[0]
    assert (goal.description, goal.achievement_status, goal.version_id) == (
        "See my grandchildren every week",
        "improving",
        2,
    )
    with pytest.raises(VersionConflict):
        update_goal(
            cara,
            "mary",
            goal_id,
            1,
            description="Changed",
            target_date=None,
            lifecycle_status="completed",
            achievement_status="achieved",
        )


def test_bad_input_is_refused_and_nothing_is_written(place: Place) -> None:
    new_plan(place)
    cara = place.access("cara.coord")
    before = care_plan_of(cara, "mary")
    assert before is not None
    with pytest.raises(PlanInputError) as empty:
        add_goal(cara, "mary", new_submission_token(), "   ", None)
    assert empty.value.field == "description"
    with pytest.raises(PlanInputError) as past:
        add_action(
            cara,
            "mary",
            new_submission_token(),
            section="health",
            description="Bloods",
            owner_organisation_id="riverside",
            due=today() - timedelta(days=1),
        )
    assert past.value.field == "due"
    with pytest.raises(PlanInputError) as unknown:
        add_action(
            cara,
            "mary",
            new_submission_token(),
            section="health",
            description="Bloods",
            owner_organisation_id="nowhere",
            due=today(),
        )
    assert unknown.value.field == "owner"
    after = care_plan_of(cara, "mary")
    assert after is not None and after.version_id == before.version_id
    assert find(cara, "Task", [("patient", "Patient/mary")]) == []
    assert find(cara, "Goal", [("patient", "Patient/mary")]) == []


def test_recording_a_review_sets_the_dates_and_rolls_the_review_task(place: Place) -> None:
    care_team(place)
    first_review = today() + timedelta(days=30)
    plan_id = new_plan(place, next_review=first_review)
    cara = place.access("cara.coord")
    review_tasks = find(cara, "Task", [("based-on", f"CarePlan/{plan_id}")])
    assert [(t["status"], t["restriction"]["period"]["end"]) for t in review_tasks] == [
        ("requested", first_review.isoformat())
    ]
    next_review = today() + timedelta(days=180)
    token = new_submission_token()
    record_review(cara, "mary", token, next_review)
    record_review(place.access("cara.coord"), "mary", token, next_review)  # sent twice

    plan = read(cara, "CarePlan", plan_id)
    dates = {e["url"]: e.get("valueDate") for e in plan["extension"]}
    assert dates[LAST_REVIEWED_EXTENSION] == today().isoformat()
    assert dates[NEXT_REVIEW_EXTENSION] == next_review.isoformat()
    tasks = {
        t["id"]: t
        for t in find(cara, "Task", [("based-on", f"CarePlan/{plan_id}")])
        if has_code(t["code"], TASK_TYPE, "review-care-plan")
    }
    assert len(tasks) == 2
    assert tasks[review_tasks[0]["id"]]["status"] == "completed"
    (new_task,) = [t for t in tasks.values() if t["status"] == "requested"]
    assert new_task["owner"] == {"reference": "Organization/riverside"}
    assert new_task["restriction"]["period"]["end"] == next_review.isoformat()
    view = care_plan_of(cara, "mary")
    assert view is not None and (view.last_reviewed, view.next_review) == (today(), next_review)
    with pytest.raises(PlanInputError):
        record_review(cara, "mary", new_submission_token(), today())


def test_what_matters_and_questions_come_from_the_person_their_carer_and_staff(
    place: Place,
) -> None:
    carer_consent(place)
    new_plan(place)
    add_what_matters(
        place.access("mary"), "mary", "Staying with my cat, Tibbles.", new_submission_token()
    )
    token = new_submission_token()
    add_what_matters(place.access("carl"), "mary", "Mum likes her mornings slow.", token)
    add_what_matters(place.access("carl"), "mary", "Mum likes her mornings slow.", token)
    add_what_matters(
        place.access("cara.coord"), "mary", "Being able to garden.", new_submission_token()
    )
    add_question(
        place.access("mary"), "mary", "Can I have help with the stairs?", new_submission_token()
    )

    view = care_plan_of(place.access("cara.coord"), "mary")
    assert view is not None
    said = [(w.text, w.written_by.kind, w.written_by.shown) for w in view.what_matters]
    assert sorted(said) == sorted(
        [
            ("Staying with my cat, Tibbles.", "person", "Mary Example (the person)"),
            ("Mum likes her mornings slow.", "carer", "Carl Example (carer)"),
            ("Being able to garden.", "staff", "Cara Coordinator, Riverside Surgery"),
        ]
    )
    sent = [w.sent for w in view.what_matters if w.sent is not None]
    assert len(sent) == 3 and sent == sorted(sent, reverse=True)
    assert [(q.text, q.written_by.kind) for q in view.open_questions] == [
        ("Can I have help with the stairs?", "person")
    ]
    words = find(place.access("mary"), "Communication", [("patient", "Patient/mary")])
    senders = sorted(w["sender"]["reference"] for w in words)
    assert senders == [
        "Patient/mary",
        "Patient/mary",
        "PractitionerRole/prr-cara",
        "RelatedPerson/carl",
    ]
    # The person sees their own plan, with the words in it.
    mine = care_plan_of(place.access("mary"), "mary")
    assert mine is not None and len(mine.what_matters) == 3


def test_words_need_a_plan_and_a_relationship(place: Place) -> None:
    with pytest.raises(NoCarePlan):
        add_what_matters(place.access("mary"), "mary", "My garden", new_submission_token())
    new_plan(place)
    with pytest.raises(NoCarePlan):
        add_question(place.access("hal.gp"), "mary", "Anything?", new_submission_token())
    with pytest.raises(PlanInputError):
        add_question(place.access("mary"), "mary", "", new_submission_token())
    # A person cannot change the plan itself, only add their words to it.
    with pytest.raises(Forbidden):
        update_sections(place.access("mary"), "mary", 1, {"crisis": "Mine"})


@pytest.mark.usefixtures("server_on_uk_time")
def test_history_says_when_in_uk_time_on_a_server_running_on_uk_time(place: Place) -> None:
    """The store's last_updated is naive UTC; the history must not take it as the server's
    local time (on UK time, a change at 14:05 BST was shown as 13:05)."""
    plan_id = new_plan(place)
    stored = place.store.read("CarePlan", plan_id).as_dict()
    written = datetime.fromisoformat(stored["meta"]["lastUpdated"])
    [change] = plan_history(place.access("cara.coord"), "mary")
    assert change.when == written
    assert change.when.utcoffset() == timedelta(0)
    assert london_time(change.when) == london_time(written)


def test_history_says_who_changed_what(place: Place) -> None:
    plan_id = new_plan(place)
    cara, ann = place.access("cara.coord"), place.access("ann.gp")
    add_goal(cara, "mary", new_submission_token(), "Keep going to church", None)
    update_sections(ann, "mary", 2, {"crisis": "Ring Carl on 07700 900123"})

    history = plan_history(cara, "mary")
    assert [(c.version_id, c.who) for c in history] == [
        (3, "Dr Ann Example, Riverside Surgery"),
        (2, "Cara Coordinator, Riverside Surgery"),
        (1, "Cara Coordinator, Riverside Surgery"),
    ]
    assert history[0].changes == ["Crisis plan added"]
    assert history[1].changes == ["Goal added: Keep going to church"]
    assert history[2].changes == ["Plan created"]
    # No Provenance is written yet: one about a CarePlan would be in no one's compartment
    # (see care_plan.may_record_provenance), so staff without a relationship could read it.
    assert provenance_for(place, f"CarePlan/{plan_id}") == []
    with pytest.raises(NoCarePlan):
        plan_history(place.access("hal.gp"), "mary")


def test_the_active_plan_is_found_by_its_category(place: Place) -> None:
    assert active_plan(place.access("cara.coord"), "mary") is None
    place.put(
        {
            "resourceType": "CarePlan",
            "id": "other-plan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/mary"},
        }
    )
    assert active_plan(place.access("cara.coord"), "mary") is None
