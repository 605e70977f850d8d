"""Closing one's own work, on SQLite and PostgreSQL: a user may complete the task that was
their only link to a person (losing sight of them with it), but may not use an update to move
a record to someone else or label it out of their own sight."""

from __future__ import annotations

import pytest

from careweave.access.sharing import SENSITIVE_SYSTEM
from careweave.coordination.people import person_banner
from careweave.fhir.errors import Forbidden, NotFound
from tests.coordination.place import Place


def _task_for_the_community(place: Place, patient: str = "mary") -> dict[str, object]:
    return place.put(
        {
            "resourceType": "Task",
            "id": "visit",
            "status": "requested",
            "intent": "order",
            "description": "Dress leg ulcer",
            "for": {"reference": f"Patient/{patient}"},
            "owner": {"reference": "Organization/community"},
        }
    )


def test_completing_the_only_link_is_kept_and_closes_the_record(place: Place) -> None:
    _task_for_the_community(place)
    nina = place.access("nina.nurse")
    task = nina.read("Task", "visit").as_dict()
    task["status"] = "completed"
    nina.update("Task", "visit", task)
    assert place.store.read("Task", "visit").as_dict()["status"] == "completed"
    with pytest.raises(NotFound):
        person_banner(place.access("nina.nurse"), "mary")


def test_an_update_cannot_move_a_record_to_another_person(place: Place) -> None:
    _task_for_the_community(place)
    nina = place.access("nina.nurse")
    task = nina.read("Task", "visit").as_dict()
    task["status"] = "completed"
    task["for"] = {"reference": "Patient/joe"}
    with pytest.raises((Forbidden, NotFound)):
        nina.update("Task", "visit", task)
    stored = place.store.read("Task", "visit").as_dict()
    assert (stored["status"], stored["for"]) == ("requested", {"reference": "Patient/mary"})


def test_an_update_cannot_label_a_record_out_of_sight(place: Place) -> None:
    _task_for_the_community(place)
    nina = place.access("nina.nurse")
    task = nina.read("Task", "visit").as_dict()
    task["meta"] = {"security": [{"system": SENSITIVE_SYSTEM, "code": "safeguarding"}]}
    task["status"] = "completed"
    with pytest.raises(Forbidden):
        nina.update("Task", "visit", task)
    assert place.store.read("Task", "visit").as_dict()["status"] == "requested"
