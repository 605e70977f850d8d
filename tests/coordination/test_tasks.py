"""The shared task helpers and the task state machine: what "open", "due" and "overdue" mean
on every page, which changes each side may make, and the words a refusal uses."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.access.principal import Principal
from careweave.access.roles import Role
from careweave.access.scopes import Scopes
from careweave.coordination import codes, notifications, summary
from careweave.coordination.record import today
from careweave.coordination.tasks import (
    NotNow,
    Sides,
    TaskAction,
    actions_open_to,
    due_date,
    is_open,
    is_overdue,
    is_referral,
    next_status,
    side_refusal,
    sides_of,
    task_summary,
    tasks_for_person,
)
from tests.coordination.place import Place

DAY = date(2026, 3, 10)


def a_task(
    status: str = "requested", due: str | None = "2026-03-10", **more: Any
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": "t1",
        "meta": {"versionId": "3"},
        "status": status,
        "intent": "order",
        "for": {"reference": "Patient/mary"},
        "owner": {"reference": "Organization/community"},
        **more,
    }
    if due is not None:
        task["restriction"] = {"period": {"end": due}}
    return task


def a_referral_task(status: str = "requested") -> dict[str, Any]:
    return a_task(
        status,
        code=codes.concept(*codes.FULFIL),
        focus={"reference": "ServiceRequest/sr1"},
        requester={"reference": "PractitionerRole/prr-cara", "display": "Cara Coordinator"},
    )


def staff(organisation: str, role_id: str | None) -> Principal:
    return Principal(
        username="someone",
        display_name="Someone",
        role=Role.NURSE,
        scopes=Scopes.parse("user/*.cruds"),
        organisation_id=organisation,
        practitioner_role_id=role_id,
    )


ROLES = {
    "prr-cara": {"organization": {"reference": "Organization/riverside"}},
    "prr-nina": {"organization": {"reference": "Organization/community"}},
    "prr-nia": {"organization": {"reference": "Organization/community"}},
}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("requested", True),
        ("accepted", True),
        ("in-progress", True),
        ("on-hold", True),
        ("completed", False),
        ("cancelled", False),
        ("rejected", False),
        ("failed", False),
        ("entered-in-error", False),
    ],
)
def test_open_means_not_in_a_closed_status(status: str, expected: bool) -> None:
    assert is_open(a_task(status)) is expected


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        ("2026-03-10", date(2026, 3, 10)),
        ("2026-03-10T17:00:00Z", date(2026, 3, 10)),
        ("2026-06-10T23:30:00Z", date(2026, 6, 11)),  # 00:30 BST on 11 June
        ("2026-06-11T00:30:00+01:00", date(2026, 6, 11)),
        ("2026-03", None),
        ("not a date", None),
        (None, None),
    ],
)
def test_the_due_date_is_the_day_of_restriction_period_end(
    end: str | None, expected: date | None
) -> None:
    assert due_date(a_task(due=end)) == expected


def test_overdue_means_open_and_due_before_today() -> None:
    assert not is_overdue(a_task(due="2026-03-10"), DAY)
    assert is_overdue(a_task(due="2026-03-09"), DAY)
    assert not is_overdue(a_task("completed", due="2026-03-01"), DAY)
    assert not is_overdue(a_task(due=None), DAY)


def test_every_page_and_notice_agrees_on_the_uk_day_a_task_is_due() -> None:
    """A due date with a time is due on its UK day everywhere: the task lists, the person's
    summary and the overdue notice used to disagree about 23:30 UTC on 10 June."""
    task = a_task(due="2026-06-10T23:30:00Z")
    on = date(2026, 6, 11)
    assert due_date(task) == date(2026, 6, 11)
    assert notifications.due_day("2026-06-10T23:30:00Z") == date(2026, 6, 11)
    [item] = summary.open_tasks([task], {}, on)
    assert item.due == date(2026, 6, 11)
    assert not is_overdue(task, on)
    assert not summary.is_overdue(task, on)
    assert not item.overdue
    after = on + timedelta(days=1)
    assert is_overdue(task, after)
    assert summary.is_overdue(task, after)


def test_a_referral_task_fulfils_a_service_request() -> None:
    assert is_referral(a_referral_task())
    assert not is_referral(a_task(code=codes.concept(codes.TASK_TYPE, "mdt-action")))
    assert not is_referral(a_task(code=codes.concept(*codes.FULFIL)))


def test_a_task_summary_has_what_lists_show() -> None:
    summary = task_summary(
        a_referral_task() | {"description": "Referral: hospice"}, date(2026, 3, 11)
    )
    assert (
        summary.id,
        summary.person_id,
        summary.description,
        summary.owner_organisation_id,
        summary.owner_role_id,
        summary.requester,
        summary.status,
        summary.due,
        summary.overdue,
        summary.is_referral,
        summary.version,
    ) == (
        "t1",
        "mary",
        "Referral: hospice",
        "community",
        None,
        "Cara Coordinator",
        "requested",
        date(2026, 3, 10),
        True,
        True,
        3,
    )
    generic = task_summary(
        a_task(
            code=codes.concept(codes.TASK_TYPE, "post-discharge-check", "Post-discharge check"),
            businessStatus={"text": "Waiting for the family"},
            owner={"reference": "PractitionerRole/prr-nina", "display": "Nina Nurse"},
        ),
        DAY,
    )
    assert (generic.description, generic.business_status, generic.owner_role_id) == (
        "Post-discharge check",
        "Waiting for the family",
        "prr-nina",
    )
    assert generic.owner_name == "Nina Nurse"


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        ("requested", TaskAction.ACCEPT, "accepted"),
        ("received", TaskAction.ACCEPT, "accepted"),
        ("requested", TaskAction.REJECT, "rejected"),
        ("accepted", TaskAction.REJECT, "rejected"),
        ("accepted", TaskAction.START, "in-progress"),
        ("accepted", TaskAction.COMPLETE, "completed"),
        ("in-progress", TaskAction.COMPLETE, "completed"),
        ("requested", TaskAction.CANCEL, "cancelled"),
        ("in-progress", TaskAction.CANCEL, "cancelled"),
    ],
)
def test_the_moves_a_task_may_make(status: str, action: TaskAction, expected: str) -> None:
    assert next_status(a_referral_task(status), action) == expected


@pytest.mark.parametrize(
    ("status", "action", "message"),
    [
        ("accepted", TaskAction.ACCEPT, "This referral has already been accepted"),
        ("in-progress", TaskAction.ACCEPT, "This referral has already been started"),
        ("in-progress", TaskAction.REJECT, "This referral has already been started"),
        ("completed", TaskAction.CANCEL, "This referral has already been completed"),
        ("cancelled", TaskAction.ACCEPT, "This referral has been cancelled"),
        ("rejected", TaskAction.REJECT, "This referral has already been rejected"),
        ("requested", TaskAction.START, "Accept this referral before you start it"),
        ("received", TaskAction.COMPLETE, "Accept this referral before you complete it"),
    ],
)
def test_moves_that_do_not_fit_say_why_in_plain_words(
    status: str, action: TaskAction, message: str
) -> None:
    with pytest.raises(NotNow) as refused:
        next_status(a_referral_task(status), action)
    assert refused.value.message == message


def test_a_generic_task_is_called_a_task() -> None:
    with pytest.raises(NotNow, match=r"^This task has already been completed$"):
        next_status(a_task("completed"), TaskAction.COMPLETE)


def test_the_sides_of_a_referral() -> None:
    task = a_referral_task()
    read_role = ROLES.get
    assert sides_of(staff("community", "prr-nina"), task, read_role) == Sides(True, False, False)
    assert sides_of(staff("riverside", "prr-ann"), task, read_role) == Sides(False, True, False)
    assert sides_of(staff("council", "prr-sam"), task, read_role) == Sides(False, False, False)
    # Assigned to nina: her colleague at the community trust is still the receiving team.
    assigned = task | {"owner": {"reference": "PractitionerRole/prr-nina"}}
    assert sides_of(staff("community", "prr-nina"), assigned, read_role).assigned_to_them
    assert sides_of(staff("community", "prr-nia"), assigned, read_role) == Sides(True, False, False)
    # The referral's performer names the receiving organisation whoever holds the task.
    elsewhere = task | {"owner": {"reference": "PractitionerRole/unknown"}}
    assert sides_of(staff("community", None), elsewhere, read_role, "community").receiving


def test_the_actions_offered_to_each_side() -> None:
    receiving = Sides(receiving=True, requesting=False, assigned_to_them=False)
    requesting = Sides(receiving=False, requesting=True, assigned_to_them=False)
    offer = actions_open_to
    assert offer(a_referral_task(), receiving, has_role=True, referral_open=True) == (
        TaskAction.ACCEPT,
        TaskAction.REJECT,
        TaskAction.ASSIGN_TO_ME,
    )
    assert offer(a_referral_task("accepted"), receiving, has_role=False, referral_open=True) == (
        TaskAction.START,
        TaskAction.COMPLETE,
        TaskAction.REJECT,
    )
    assert offer(a_referral_task(), requesting, has_role=True, referral_open=True) == (
        TaskAction.CANCEL,
    )
    rejected = a_referral_task("rejected")
    assert offer(rejected, requesting, has_role=True, referral_open=True) == (TaskAction.CLOSE,)
    assert offer(rejected, requesting, has_role=True, referral_open=False) == ()
    assert offer(a_referral_task("completed"), receiving, has_role=True, referral_open=False) == ()


def test_refusals_name_the_side_that_may() -> None:
    assert (
        side_refusal(TaskAction.COMPLETE, "task")
        == "Only the team it belongs to can complete this task"
    )
    assert (
        side_refusal(TaskAction.CLOSE, "referral")
        == "Only the organisation that made this referral can close it"
    )


def test_tasks_for_a_person_are_those_the_asker_may_see_soonest_due_first(
    place: Place,
) -> None:
    day = today()
    for task_id, status, due, person, owner in (
        ("later", "requested", day + timedelta(days=9), "mary", "riverside"),
        ("sooner", "accepted", day + timedelta(days=2), "mary", "council"),
        ("done", "completed", day - timedelta(days=30), "mary", "riverside"),
        ("late", "requested", day - timedelta(days=3), "mary", "riverside"),
        ("sids", "requested", day, "sid", "hilltop"),
    ):
        place.put(
            a_task(status, due.isoformat())
            | {
                "id": task_id,
                "for": {"reference": f"Patient/{person}"},
                "owner": {"reference": f"Organization/{owner}"},
            }
        )
    listed = tasks_for_person(place.access("cara.coord"), "mary")
    assert [(t.id, t.overdue) for t in listed] == [
        ("late", True),
        ("sooner", False),
        ("later", False),
        ("done", False),
    ]
    assert tasks_for_person(place.access("cara.coord"), "sid") == []
    assert tasks_for_person(place.access("hal.gp"), "mary") == []
