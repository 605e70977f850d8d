"""Telling someone a task is now theirs (kind `task-assigned`), on SQLite and PostgreSQL: a
mention in a note, an MDT or care plan action, a task given a new owner. Referrals keep their
own notification; closed, draft and ownerless tasks tell no one; whoever the task records as
setting it is not told; the words never name the person."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from careweave.access.accounts import disable_user
from careweave.access.sharing import SENSITIVE_SYSTEM
from careweave.coordination.codes import TASK_TYPE, concept
from careweave.coordination.notifications import KINDS
from careweave.coordination.record import new_submission_token
from careweave.coordination.referrals import take_action
from careweave.coordination.tasks import TaskAction
from careweave.store.access_tables import user_account
from careweave.store.notification_tables import notification
from tests.coordination.place import Place
from tests.coordination.test_notes import with_team, write
from tests.coordination.test_notifications import TODAY, refer

IN_A_WEEK = TODAY + timedelta(days=7)
IN_A_WEEK_WORDS = f"{IN_A_WEEK.day} {IN_A_WEEK:%B %Y}"


def assigned(place: Place) -> list[tuple[str, str | None, str, str | None, str]]:
    """(username, patient, text, link, resource) of each task-assigned notification."""
    n, u = notification, user_account
    with place.store.database.read() as conn:
        rows = conn.execute(
            select(u.c.username, n.c.patient_id, n.c.text, n.c.link, n.c.resource_reference)
            .join(u, u.c.pk == n.c.user_pk)
            .where(n.c.kind == "task-assigned")
            .order_by(n.c.pk)
        ).all()
    return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]


def action(
    task_type: str,
    owner: str,
    *,
    requester: str = "PractitionerRole/prr-cara",
    status: str = "requested",
    description: str = "Ask Mary Example's son about the key safe",
) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "status": status,
        "intent": "plan",
        "code": concept(TASK_TYPE, task_type),
        "description": description,
        "for": {"reference": "Patient/mary"},
        "requester": {"reference": requester, "display": "Cara Coordinator, Riverside Surgery"},
        "owner": {"reference": owner},
        "restriction": {"period": {"end": IN_A_WEEK.isoformat()}},
    }


def test_the_kind_has_a_name_in_the_list() -> None:
    assert KINDS["task-assigned"] == "Task for you"


def test_a_mention_tells_each_person_asked_to_reply_and_not_the_writer(place: Place) -> None:
    with_team(place)
    written = write(place, mentions=("prr-sam", "prr-ann"), reply_by=IN_A_WEEK)
    tasks = dict(zip(("sam.sw", "ann.gp"), written.task_ids, strict=True))
    words = f"Asked to reply to a note (Cara Coordinator): reply by {IN_A_WEEK_WORDS}"
    assert sorted(assigned(place)) == sorted(
        (user, "mary", words, f"/tasks/{task_id}/note", f"Task/{task_id}")
        for user, task_id in tasks.items()
    )


def test_an_mdt_action_tells_its_owner_without_the_description(place: Place) -> None:
    made = place.access("cara.coord").create(action("mdt-action", "PractitionerRole/prr-nina"))
    task_id = made.stored.id
    assert assigned(place) == [
        (
            "nina.nurse",
            "mary",
            f"Action from an MDT meeting: due {IN_A_WEEK_WORDS}",
            f"/tasks/{task_id}",
            f"Task/{task_id}",
        )
    ]


def test_an_organisation_owner_means_its_care_staff_but_not_the_requester(place: Place) -> None:
    """Cara asks her own practice: Ann and Lee are told, Cara (who asked) is not."""
    place.access("cara.coord").create(action("care-plan-action", "Organization/riverside"))
    told = assigned(place)
    assert {user for user, *_ in told} == {"ann.gp", "lee.lw"}
    assert {text for _, _, text, _, _ in told} == {
        f"Action from a care plan: due {IN_A_WEEK_WORDS}"
    }
    assert not any("Mary" in text or "key safe" in text for _, _, text, _, _ in told)


def test_someone_who_sets_a_task_for_themselves_is_not_told(place: Place) -> None:
    place.access("nina.nurse").create(
        action("mdt-action", "PractitionerRole/prr-nina", requester="PractitionerRole/prr-nina")
    )
    assert assigned(place) == []


def test_a_referral_is_told_as_a_referral_only(place: Place) -> None:
    refer(place, "Organization/community", "Organization/community")
    assert assigned(place) == []


def test_closed_draft_and_ownerless_tasks_tell_no_one(place: Place) -> None:
    cara = place.access("cara.coord")
    cara.create(action("mdt-action", "PractitionerRole/prr-nina", status="completed"))
    cara.create(action("mdt-action", "PractitionerRole/prr-nina", status="draft"))
    ownerless = action("mdt-action", "PractitionerRole/prr-nina")
    del ownerless["owner"]
    cara.create(ownerless)
    assert assigned(place) == []


def test_a_new_owner_is_told_and_other_changes_are_not_news(place: Place) -> None:
    cara = place.access("cara.coord")
    made = cara.create(action("first-48-hours", "Organization/council")).stored
    assert [user for user, *_ in assigned(place)] == ["sam.sw"]
    body = made.as_dict()
    cara.update("Task", made.id, {**body, "priority": "urgent"})  # same owner
    assert [user for user, *_ in assigned(place)] == ["sam.sw"]
    moved = cara.update(
        "Task", made.id, {**body, "owner": {"reference": "PractitionerRole/prr-nina"}}
    ).stored
    assert assigned(place)[1:] == [
        (
            "nina.nurse",
            "mary",
            f"First 48 hours at home after a discharge: due {IN_A_WEEK_WORDS}",
            f"/tasks/{made.id}",
            f"Task/{moved.id}",
        )
    ]


def test_taking_a_task_on_yourself_does_not_tell_you(place: Place) -> None:
    made = place.access("cara.coord").create(action("mdt-action", "Organization/community"))
    assert [user for user, *_ in assigned(place)] == ["nina.nurse"]
    task = made.stored.as_dict()
    taken = take_action(
        place.access("nina.nurse"),
        made.stored.id,
        TaskAction.ASSIGN_TO_ME,
        version=int(task["meta"]["versionId"]),
    )
    assert taken["owner"]["reference"] == "PractitionerRole/prr-nina"
    assert len(assigned(place)) == 1


def test_a_disabled_account_is_not_told(place: Place) -> None:
    disable_user(place.store.database, "ann.gp")
    place.access("cara.coord").create(action("care-plan-action", "Organization/riverside"))
    assert [user for user, *_ in assigned(place)] == ["lee.lw"]


def test_staff_who_may_not_see_the_task_are_not_told(place: Place) -> None:
    """A safeguarding action for the practice: under the agreement only its GP sees
    safeguarding records, so Cara (coordinator) and Lee (link worker) are not told of it."""
    labelled = action("mdt-action", "Organization/riverside", requester="PractitionerRole/prr-sam")
    labelled["id"] = "safeguarding-action"
    labelled["meta"] = {"security": [{"system": SENSITIVE_SYSTEM, "code": "safeguarding"}]}
    place.put(labelled)
    assert [user for user, *_ in assigned(place)] == ["ann.gp"]


def test_the_notifications_page_links_a_mention_to_its_note(place: Place) -> None:
    with_team(place)
    written = write(place, mentions=("prr-sam",), reply_by=IN_A_WEEK, token=new_submission_token())
    [task_id] = written.task_ids
    sam = place.sign_in("sam.sw")
    html = sam.get("/notifications").text
    assert "Task for you" in html
    assert f'href="/tasks/{task_id}/note"' in html
    followed = sam.get(f"/tasks/{task_id}/note", follow_redirects=False)
    assert followed.status_code == 303
    assert followed.headers["location"].startswith("/people/mary/notes?reply=")
