"""The person's timeline (careweave.coordination.timeline): entries built from resources (pure,
no database), their order, the filter by kind and the cursor paging; and, on SQLite and
PostgreSQL, Mary's timeline read through the guard with her referral's status changes from its
version history, and what other users may not see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from careweave.coordination.codes import COMMUNICATION_CATEGORY, FULFIL, TASK_TYPE
from careweave.coordination.summary import PersonRecord
from careweave.coordination.timeline import (
    KINDS,
    PAGE_SIZE,
    CursorError,
    TimelineEntry,
    Version,
    page_of,
    person_timeline,
    timeline_from,
)
from careweave.fhir.errors import NotFound
from tests.coordination.place import Place
from tests.coordination.test_summary import build_marys_record, coding

V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DIRECTORY: dict[str, dict[str, Any]] = {
    "Organization/acute": {"resourceType": "Organization", "id": "acute", "name": "City Hospital"},
    "Organization/gp": {"resourceType": "Organization", "id": "gp", "name": "Oak Surgery"},
    "Organization/nurses": {"resourceType": "Organization", "id": "nurses", "name": "Nurses"},
    "PractitionerRole/r1": {
        "resourceType": "PractitionerRole",
        "id": "r1",
        "organization": {"reference": "Organization/gp"},
    },
}


def record(**resources: list[dict[str, Any]]) -> PersonRecord:
    patient = {"resourceType": "Patient", "id": "p1", "deceasedDateTime": "2026-03-01T09:30:00Z"}
    return PersonRecord(patient, dict(resources), DIRECTORY, None)


def referral_task(status: str, reason: str | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": "t1",
        "status": status,
        "code": coding(*FULFIL),
        "focus": {"reference": "ServiceRequest/sr1"},
        "for": {"reference": "Patient/p1"},
        "requester": {"reference": "PractitionerRole/r1"},
        "owner": {"reference": "Organization/nurses"},
    }
    if reason:
        task["statusReason"] = {"text": reason}
    return task


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_entries_say_what_happened_where_newest_first() -> None:
    entries = timeline_from(
        record(
            Encounter=[
                {
                    "resourceType": "Encounter",
                    "id": "e1",
                    "status": "finished",
                    "class": {"system": V3, "code": "IMP"},
                    "period": {"start": "2026-01-10", "end": "2026-01-14"},
                    "reasonCode": [{"text": "Hip fracture"}],
                    "serviceProvider": {"reference": "Organization/acute"},
                },
                {
                    "resourceType": "Encounter",
                    "id": "e2",
                    "status": "cancelled",
                    "class": {"system": V3, "code": "AMB"},
                    "period": {"start": "2026-02-01"},
                },
            ],
            Condition=[
                {
                    "resourceType": "Condition",
                    "id": "c1",
                    "code": {"text": "Dementia"},
                    "onsetDateTime": "2025-06",
                    "recorder": {"reference": "PractitionerRole/r1"},
                }
            ],
            ServiceRequest=[
                {
                    "resourceType": "ServiceRequest",
                    "id": "sr1",
                    "status": "active",
                    "code": {"text": "Community nursing"},
                    "authoredOn": "2026-01-14",
                    "requester": {"reference": "PractitionerRole/r1"},
                    "performer": [{"reference": "Organization/nurses"}],
                }
            ],
            Task=[referral_task("accepted")],
            EpisodeOfCare=[
                {
                    "resourceType": "EpisodeOfCare",
                    "id": "ep1",
                    "status": "finished",
                    "type": [{"text": "Reablement"}],
                    "period": {"start": "2026-01-15", "end": "2026-02-12"},
                    "managingOrganization": {"reference": "Organization/nurses"},
                }
            ],
            Communication=[
                {
                    "resourceType": "Communication",
                    "id": "n1",
                    "status": "completed",
                    "category": [coding(COMMUNICATION_CATEGORY, "note")],
                    "sent": "2026-01-20T11:00:00Z",
                    "sender": {"reference": "PractitionerRole/r1"},
                    "payload": [{"contentString": "x" * 300}],
                }
            ],
        ),
        {
            "Task/t1": [
                Version(referral_task("requested"), moment("2026-01-14T10:00:00")),
                Version(referral_task("accepted"), moment("2026-01-16T09:00:00")),
                Version(referral_task("accepted"), moment("2026-01-17T09:00:00")),
                Version(referral_task("rejected", "No capacity"), moment("2026-01-18T09:00:00")),
            ]
        },
    )
    assert [(e.when.day.isoformat(), e.kind, e.what, e.organisation) for e in entries] == [
        ("2026-03-01", "death", "Died", None),
        ("2026-02-12", "episodes", "Reablement ended", "Nurses"),
        ("2026-01-20", "messages", "Note: " + "x" * 159 + "…", "Oak Surgery"),
        (
            "2026-01-18",
            "referrals",
            "Referral for Community nursing rejected (No capacity)",
            "Nurses",
        ),
        ("2026-01-16", "referrals", "Referral for Community nursing accepted", "Nurses"),
        ("2026-01-15", "episodes", "Reablement started", "Nurses"),
        # At the same moment, entries keep a fixed order (by their keys).
        ("2026-01-14", "referrals", "Referral made: Community nursing to Nurses", "Oak Surgery"),
        ("2026-01-14", "encounters", "Discharged from hospital after 4 days", "City Hospital"),
        ("2026-01-10", "encounters", "Admitted to hospital: Hip fracture", "City Hospital"),
        ("2025-06-01", "conditions", "Diagnosed: Dementia", "Oak Surgery"),
    ]
    assert {e.link for e in entries if e.kind == "referrals" and "Referral for" in e.what} == {
        "/tasks/t1"
    }
    assert entries[0].when.precision == "time"
    assert all(e.kind in KINDS for e in entries)


def test_tasks_and_care_plans_show_when_they_were_set_done_and_changed() -> None:
    plan = {
        "resourceType": "CarePlan",
        "id": "cp1",
        "status": "active",
        "created": "2026-01-05",
        "author": {"reference": "PractitionerRole/r1"},
    }
    entries = timeline_from(
        record(
            Task=[
                {
                    "resourceType": "Task",
                    "id": "t2",
                    "status": "completed",
                    "code": coding(TASK_TYPE, "post-discharge-check"),
                    "authoredOn": "2026-01-02",
                    "lastModified": "2026-01-03T15:00:00Z",
                    "requester": {"reference": "PractitionerRole/r1"},
                    "owner": {"reference": "Organization/nurses"},
                }
            ],
            CarePlan=[plan],
        ),
        {
            "CarePlan/cp1": [
                Version(plan, moment("2026-01-05T10:00:00")),
                Version(plan, moment("2026-02-05T10:00:00")),
            ]
        },
    )
    found = [(e.what, e.organisation, e.link) for e in entries if e.kind != "death"]
    assert found == [
        ("Care and support plan updated", "Oak Surgery", "/people/p1/care-plan"),
        ("Care and support plan created", "Oak Surgery", "/people/p1/care-plan"),
        ("Task completed: Post discharge check", "Nurses", "/tasks/t2"),
        ("Task set: Post discharge check", "Oak Surgery", "/tasks/t2"),
    ]
    assert [e.what for e in entries if e.kind == "care-plan"] == [
        "Care and support plan updated",
        "Care and support plan created",
    ]


def _entries(count: int) -> list[TimelineEntry]:
    entries = timeline_from(
        record(
            Communication=[
                {
                    "resourceType": "Communication",
                    "id": f"n{n:03d}",
                    "status": "completed",
                    "sent": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00Z",
                    "payload": [{"contentString": f"note {n}"}],
                }
                for n in range(count)
            ]
        )
    )
    return entries


def test_pages_neither_repeat_nor_skip_and_filters_choose_kinds() -> None:
    entries = _entries(120)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = page_of(entries, (), cursor)
        assert len(page.entries) <= PAGE_SIZE
        seen += [e.key for e in page.entries]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    assert seen == [e.key for e in entries] and len(set(seen)) == 121  # 120 notes and death
    only_death = page_of(entries, ["death"])
    assert [e.kind for e in only_death.entries] == ["death"] and only_death.total == 1
    unknown = page_of(entries, ["nonsense"])  # unknown kinds are ignored: everything
    assert unknown.total == 121


def test_a_new_entry_does_not_shift_the_next_page() -> None:
    entries = _entries(60)
    first = page_of(entries)
    assert first.next_cursor is not None
    newer = timeline_from(
        record(
            Communication=[
                {
                    "resourceType": "Communication",
                    "id": "fresh",
                    "status": "completed",
                    "sent": "2026-11-01T10:00:00Z",
                }
            ]
        )
    )
    merged = sorted([*entries, *newer], key=lambda e: e.position, reverse=True)
    second = page_of(merged, (), first.next_cursor)
    assert [e.key for e in second.entries] == [e.key for e in entries[PAGE_SIZE:]]


def test_a_cursor_it_did_not_make_is_refused() -> None:
    with pytest.raises(CursorError):
        page_of(_entries(3), (), "not-a-cursor")


def test_marys_timeline_through_the_guard(place: Place) -> None:
    build_marys_record(place)
    task = place.store.read("Task", "t-nursing").as_dict()
    task.pop("meta", None)
    for status in ("in-progress", "completed"):
        place.put({**task, "status": status})

    place.put(
        {
            "resourceType": "Communication",
            "id": "carl-says",
            "status": "completed",
            "category": [coding(COMMUNICATION_CATEGORY, "what-matters-to-me")],
            "subject": {"reference": "Patient/mary"},
            "sent": "2026-01-02",
            "sender": {"reference": "RelatedPerson/carl"},
            "payload": [{"contentString": "Mum wants to stay in her own home."}],
        }
    )

    timeline = person_timeline(place.access("ann.gp"), "mary")
    said = next(e for e in timeline.entries if e.key == "Communication/carl-says")
    assert (said.what, said.organisation, said.person) == (
        "What matters to me: Mum wants to stay in her own home.",
        None,
        "Carl Example",
    )
    assert timeline.person.name == "Mary Example"
    whats = [(e.what, e.organisation, e.link) for e in timeline.entries]
    community = "Northshire Community Health NHS Trust"
    assert ("Referral for Community nursing accepted", community, "/tasks/t-nursing") in whats
    assert ("Referral for Community nursing started", community, "/tasks/t-nursing") in whats
    assert ("Referral for Community nursing completed", community, "/tasks/t-nursing") in whats
    referral_changes = [w for w, _, _ in whats if w.startswith("Referral for")]
    assert referral_changes == [
        "Referral for Community nursing completed",
        "Referral for Community nursing started",
        "Referral for Community nursing accepted",
    ]
    assert (
        "Admitted to hospital: Pneumonia",
        "Northshire General Hospital NHS Trust",
        None,
    ) in whats
    assert any(w == "Diagnosed: Sexual health clinic finding" for w, _, _ in whats)
    moments = [e.position for e in timeline.entries]
    assert moments == sorted(moments, reverse=True)

    coordinator = person_timeline(place.access("cara.coord"), "mary")
    assert not any("Sexual health" in e.what for e in coordinator.entries)
    with pytest.raises(NotFound):
        person_timeline(place.access("hal.gp"), "mary")


def test_a_status_change_is_dated_by_the_task_when_it_says() -> None:
    loaded = {**referral_task("completed"), "lastModified": "2025-12-01T16:20:00Z"}
    entries = timeline_from(
        record(Task=[loaded]),
        {"Task/t1": [Version(loaded, moment("2026-11-28T09:00:00"))]},  # saved on import
    )
    [change] = [e for e in entries if e.kind == "referrals"]
    assert (change.what, change.when.instant) == (
        "Referral completed",
        moment("2025-12-01T16:20:00"),
    )
