"""Notifications of meaningful change, on SQLite and PostgreSQL: which writes are events, who
is told (the care team, the receiving organisation, the task's owner; never someone who may
not see it), in the same transaction as the write, and overdue tasks told once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from careweave.access.accounts import disable_user
from careweave.api.app import create_app
from careweave.coordination.codes import (
    CARE_PLAN_CATEGORY,
    CARE_TEAM_CATEGORY,
    CARE_TEAM_ROLE,
    FULFIL,
    REFERRAL_CATEGORY,
    TASK_TYPE,
    V3_ACT_CODE,
    concept,
)
from careweave.coordination.notifications import mark_read, notify_overdue_tasks
from careweave.coordination.record import UK
from careweave.fhir.errors import DanglingReference
from careweave.settings import Settings
from careweave.store.access_tables import user_account
from careweave.store.bulk_import import import_ndjson, plan_import
from careweave.store.notification_tables import notification
from tests.coordination.place import Place

NOW = datetime.now(UTC)
TODAY = NOW.astimezone(UK).date()
# Later on the same UK day whenever the suite runs (NOW + a few hours may be tomorrow).
LATER_TODAY = datetime.combine(TODAY, time(23, 59, 59), tzinfo=UK).astimezone(UTC)


def told(place: Place) -> list[tuple[str, str, str | None, str]]:
    """(username, kind, patient, text) of every notification, in the order written."""
    n, u = notification, user_account
    with place.store.database.read() as conn:
        rows = conn.execute(
            select(u.c.username, n.c.kind, n.c.patient_id, n.c.text)
            .join(u, u.c.pk == n.c.user_pk)
            .order_by(n.c.pk)
        ).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def who_was_told(place: Place, kind: str) -> set[str]:
    return {username for username, k, _, _ in told(place) if k == kind}


def participant(role_id: str, organisation: str, team_role: str, **period: str) -> dict[str, Any]:
    return {
        "role": [concept(CARE_TEAM_ROLE, team_role)],
        "member": {"reference": f"PractitionerRole/{role_id}"},
        "onBehalfOf": {"reference": f"Organization/{organisation}"},
        "period": {"start": "2026-01-05", **period},
    }


@pytest.fixture
def team(place: Place) -> Place:
    """Mary's care team as docs/care-coordination.md holds it: Cara coordinates; Nina (community
    nurse) and Lee (link worker) are members; Sam (social worker) left yesterday."""
    place.put(
        {
            "resourceType": "CareTeam",
            "id": "team-mary",
            "status": "active",
            "category": [concept(*CARE_TEAM_CATEGORY)],
            "subject": {"reference": "Patient/mary"},
            "managingOrganization": [{"reference": "Organization/riverside"}],
            "participant": [
                participant("prr-cara", "riverside", "coordinator"),
                participant("prr-nina", "community", "member"),
                participant("prr-lee", "riverside", "member"),
                participant(
                    "prr-sam", "council", "member", end=(TODAY - timedelta(days=1)).isoformat()
                ),
            ],
        }
    )
    assert told(place) == []  # a care team is not itself news
    return place


def stay(
    status: str = "in-progress",
    klass: str = "IMP",
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    period = {"start": (start or TODAY).isoformat()}
    if end is not None:
        period["end"] = end.isoformat()
    return {
        "resourceType": "Encounter",
        "id": "stay-mary",
        "status": status,
        "class": {"system": V3_ACT_CODE, "code": klass},
        "subject": {"reference": "Patient/mary"},
        "serviceProvider": {"reference": "Organization/acute"},
        "period": period,
    }


def test_an_admission_tells_the_care_team_who_may_see_it_and_no_one_else(team: Place) -> None:
    team.put(stay())
    assert told(team) == [
        (user, "admission", "mary", "Admitted to hospital (Northshire General Hospital NHS Trust)")
        for user in ("cara.coord", "nina.nurse")
    ]
    # Lee (link worker) is on the team but encounters are not shared with link workers; Sam has
    # left the team; Ann is Mary's GP but not on her team; nobody else knows Mary.


def test_a_discharge_tells_the_care_team_once(team: Place) -> None:
    team.put(stay())
    team.put({**stay(), "location": [{"location": {"display": "Ward 7"}}]})  # still in
    team.put(stay("finished", end=TODAY))
    team.put({**stay("finished", end=TODAY), "length": {"value": 3, "unit": "d"}})
    kinds = [kind for _, kind, _, _ in told(team)]
    assert kinds == ["admission", "admission", "discharge", "discharge"]
    assert who_was_told(team, "discharge") == {"cara.coord", "nina.nurse"}


def test_an_a_and_e_attendance_tells_the_care_team(team: Place) -> None:
    team.put(stay("in-progress", klass="EMER"))
    assert who_was_told(team, "emergency-attendance") == {"cara.coord", "nina.nurse"}
    assert told(team)[0][3] == "Attended A&E (Northshire General Hospital NHS Trust)"


def test_a_stay_long_past_when_recorded_is_history_not_news(team: Place) -> None:
    long_ago = TODAY - timedelta(days=60)
    team.put(stay("finished", start=long_ago, end=long_ago + timedelta(days=4)))
    assert told(team) == []


def care_plan(version_title: str) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": version_title,
        "category": [concept(*CARE_PLAN_CATEGORY)],
        "subject": {"reference": "Patient/mary"},
        "careTeam": [{"reference": "CareTeam/team-mary"}],
        "author": {"reference": "PractitionerRole/prr-cara"},
    }


def test_a_care_plan_changed_through_the_guard_tells_everyone_on_the_team(team: Place) -> None:
    cara = team.access("cara.coord")
    created = cara.create(care_plan("Staying well at home")).stored
    assert told(team) == []  # a new plan is not an update
    plan = created.as_dict()
    cara.update("CarePlan", created.id, {**plan, "title": "Staying well at home (reviewed)"})
    assert who_was_told(team, "plan-updated") == {"cara.coord", "nina.nurse", "lee.lw"}
    assert told(team)[0][2:] == ("mary", "Care plan updated: Staying well at home (reviewed)")


def test_a_death_tells_the_care_team(team: Place) -> None:
    mary = team.store.read("Patient", "mary").as_dict()
    team.put({**mary, "deceasedDateTime": TODAY.isoformat()})
    team.put({**mary, "deceasedDateTime": TODAY.isoformat(), "gender": "female"})
    assert who_was_told(team, "death") == {"cara.coord", "nina.nurse", "lee.lw"}
    assert len(told(team)) == 3  # the later change to a death already told is not news


def referral(owner: str, performer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    request = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [concept(*REFERRAL_CATEGORY)],
        "code": {"text": "Community nursing assessment"},
        "subject": {"reference": "Patient/mary"},
        "requester": {"reference": "PractitionerRole/prr-cara"},
        "performer": [{"reference": performer}],
    }
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": concept(*FULFIL),
        "for": {"reference": "Patient/mary"},
        "requester": {"reference": "PractitionerRole/prr-cara"},
        "owner": {"reference": owner},
        "restriction": {"period": {"end": (TODAY + timedelta(days=5)).isoformat()}},
    }
    return request, task


def refer(place: Place, owner: str, performer: str) -> None:
    request, task = referral(owner, performer)

    def work(tx: Any) -> None:
        made = tx.create(request).stored
        tx.create({**task, "focus": {"reference": f"ServiceRequest/{made.id}"}})

    place.access("cara.coord").write("create", "referral", work)


def test_a_referral_tells_the_receiving_organisation(place: Place) -> None:
    refer(place, "Organization/community", "Organization/community")
    assert told(place) == [
        (
            "nina.nurse",
            "referral-received",
            "mary",
            "Referral received: Community nursing assessment",
        )
    ]


def test_a_referral_tells_the_task_owner_and_the_receiving_organisation(place: Place) -> None:
    refer(place, "PractitionerRole/prr-sam", "Organization/council")
    assert who_was_told(place, "referral-received") == {"sam.sw"}
    refer(place, "PractitionerRole/prr-nina", "Organization/council")
    assert [user for user, _, _, _ in told(place)] == ["sam.sw", "nina.nurse", "sam.sw"]


def test_a_disabled_account_is_never_told(team: Place) -> None:
    disable_user(team.store.database, "nina.nurse")
    team.put(stay())
    assert who_was_told(team, "admission") == {"cara.coord"}


def test_a_write_that_fails_tells_no_one(team: Place) -> None:
    with pytest.raises(RuntimeError), team.store.transaction() as tx:
        tx.update("Encounter", "stay-mary", stay())
        raise RuntimeError("the feed gave up half way")
    with pytest.raises(DanglingReference):
        team.put({**stay(), "location": [{"location": {"reference": "Location/nowhere"}}]})
    assert told(team) == []


def test_the_bulk_import_tells_no_one(team: Place, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "Encounter.ndjson").write_text(orjson.dumps(stay()).decode() + "\n")
    assert import_ndjson(team.store, plan_import(folder)).created == 1
    assert told(team) == []


def test_building_the_app_again_does_not_tell_anyone_twice(team: Place, database_url: str) -> None:
    create_app(Settings(database_url=database_url), team.store)
    team.put(stay())
    assert len(told(team)) == 2


def task(task_id: str, owner: str, due: date, status: str = "requested") -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": task_id,
        "status": status,
        "intent": "plan",
        "code": concept(TASK_TYPE, "care-plan-action"),
        "description": "Fit grab rails in the bathroom",
        "for": {"reference": "Patient/mary"},
        "owner": {"reference": owner},
        "restriction": {"period": {"end": due.isoformat()}},
    }


def test_an_overdue_task_tells_its_owner_once(place: Place) -> None:
    yesterday = TODAY - timedelta(days=1)
    place.put(task("rails", "PractitionerRole/prr-nina", yesterday))
    place.put(task("today", "PractitionerRole/prr-nina", TODAY))  # due today: not overdue
    place.put(task("done", "PractitionerRole/prr-nina", yesterday, status="completed"))
    place.put(task("council", "Organization/council", yesterday))
    # Each open task is news to its new owner (tests/coordination/test_task_notifications.py);
    # the closed one is not.
    assert sorted((user, kind) for user, kind, _, _ in told(place)) == [
        ("nina.nurse", "task-assigned"),
        ("nina.nurse", "task-assigned"),
        ("sam.sw", "task-assigned"),
    ]

    def overdue() -> list[tuple[str, str, str | None, str]]:
        return [row for row in told(place) if row[1] == "task-overdue"]

    assert notify_overdue_tasks(place.store, now=NOW) == 2
    assert sorted(overdue()) == [
        (
            user,
            "task-overdue",
            "mary",
            f"Task overdue: Fit grab rails in the bathroom. It was due on "
            f"{yesterday.day} {yesterday:%B %Y}",
        )
        for user in ("nina.nurse", "sam.sw")
    ]
    assert notify_overdue_tasks(place.store, now=NOW) == 0  # told once
    assert notify_overdue_tasks(place.store, now=LATER_TODAY) == 0  # still today: told once
    assert len(overdue()) == 2

    # A new due date that passes in its turn is told again (the owner is the same: no news).
    place.put(task("rails", "PractitionerRole/prr-nina", TODAY))
    assert len(told(place)) == 5
    assert notify_overdue_tasks(place.store, now=NOW + timedelta(days=1)) == 2  # rails, today
    assert [user for user, kind, _, _ in overdue()][2:] == ["nina.nurse", "nina.nurse"]


def test_reading_marks_only_the_readers_own(team: Place) -> None:
    team.put(stay())
    database = team.store.database
    n, u = notification, user_account
    with database.read() as conn:
        pks = dict(conn.execute(select(u.c.username, n.c.pk).join(u, u.c.pk == n.c.user_pk)).all())
        nina = conn.execute(select(u.c.pk).where(u.c.username == "nina.nurse")).scalar_one()
    assert mark_read(database, nina, pks["cara.coord"]) == 0  # not hers: left alone
    assert mark_read(database, nina, pks["nina.nurse"]) == 1
    assert mark_read(database, nina, pks["nina.nurse"]) == 1  # reading it again is harmless
    assert mark_read(database, nina) == 0  # nothing of hers is unread now
    with database.read() as conn:
        unread = conn.execute(select(n.c.pk).where(n.c.read_at.is_(None))).scalars().all()
    assert unread == [pks["cara.coord"]]
