"""MDT meetings held as FHIR: the Appointment a meeting is, the Communication for each person
discussed, the mdt-action Tasks agreed, and who sees what across organisations. Cara
(Riverside Surgery) arranges meetings with Nina (community trust) and Sam (council)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from careweave.coordination import codes
from careweave.coordination.caseload import worklist
from careweave.coordination.mdt import (
    ORGANISATION_EXTENSION,
    ORGANISER_EXTENSION,
    PEOPLE_COUNT_EXTENSION,
    PLACE_EXTENSION,
    ChangedMeanwhile,
    InvalidMeeting,
    MeetingMade,
    MeetingProblem,
    MeetingRequest,
    NotNow,
    NotTakingPart,
    check_meeting,
    meeting,
    my_meetings,
    schedule_meeting,
    start_of,
)
from careweave.coordination.mdt_attendance import add_attendees, record_attendance, set_status
from careweave.coordination.mdt_candidates import candidates
from careweave.coordination.mdt_discussions import (
    add_action,
    add_person,
    listed_person,
    owner_choices,
    people_on_list,
    record_discussion,
    remove_person,
)
from careweave.coordination.record import UK, find, new_submission_token, today
from tests.coordination.place import Place

SNOMED = codes.SNOMED
MILD, MODERATE, SEVERE = "925791000000100", "925831000000107", "925861000000102"


def book(
    place: Place,
    *,
    by: str = "cara.coord",
    day: date | None = None,
    start: str = "00:00",
    attendees: tuple[str, ...] = ("prr-nina", "prr-sam"),
    token: str | None = None,
    **more: Any,
) -> str:
    """Book a meeting (today at midnight unless told: so it has begun) as `by`."""
    request = MeetingRequest(
        title=more.pop("title", "Frailty MDT"),
        day=day or today(),
        start_time=start,
        minutes=more.pop("minutes", "60"),
        location_id=more.pop("location_id", ""),
        place=more.pop("where", "Microsoft Teams"),
        attendees=attendees,
    )
    made = schedule_meeting(place.access(by), request, token or new_submission_token())
    return made.appointment_id


def appointment(place: Place, appointment_id: str) -> dict[str, Any]:
    return place.store.read("Appointment", appointment_id).as_dict()


def extension(resource: dict[str, Any], url: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [e for e in resource.get("extension", []) if e["url"] == url]
    assert len(found) == 1
    return found[0]


def put_on_list(place: Place, appointment_id: str, patient_id: str, by: str = "cara.coord") -> str:
    added = add_person(
        place.access(by), appointment_id, patient_id, "Two falls this month", new_submission_token()
    )
    return added.communication_id


def discuss(
    place: Place, appointment_id: str, communication_id: str, by: str = "cara.coord"
) -> None:
    access = place.access(by)
    held = meeting(access, appointment_id)
    version = listed_person(access, held, communication_id).version
    record_discussion(
        access, appointment_id, communication_id, version, "Agreed a falls assessment at home."
    )


def frailty(place: Place, condition_id: str, patient_id: str, code: str, recorded: str) -> None:
    place.put(
        {
            "resourceType": "Condition",
            "id": condition_id,
            "subject": {"reference": f"Patient/{patient_id}"},
            "code": {"coding": [{"system": SNOMED, "code": code}]},
            "recordedDate": recorded,
        }
    )


# -- scheduling -----------------------------------------------------------------------------------


def test_a_meeting_is_an_appointment_in_uk_time_with_its_organiser(place: Place) -> None:
    day = today() + timedelta(days=3)
    token = new_submission_token()
    meeting_id = book(place, day=day, start="2:30pm", minutes="90", token=token)
    stored = appointment(place, meeting_id)
    assert stored["status"] == "booked"
    assert codes.has_code(stored["serviceType"], codes.APPOINTMENT_TYPE, codes.MDT_MEETING)
    assert stored["description"] == "Frailty MDT"
    start = datetime.fromisoformat(stored["start"])
    end = datetime.fromisoformat(stored["end"])
    assert start.utcoffset() == datetime.combine(day, start.time(), tzinfo=UK).utcoffset()
    assert (start.astimezone(UK).date(), start.astimezone(UK).strftime("%H:%M")) == (day, "14:30")
    assert end - start == timedelta(minutes=90) and stored["minutesDuration"] == 90
    assert extension(stored, ORGANISER_EXTENSION)["valueReference"]["reference"] == (
        "PractitionerRole/prr-cara"
    )
    assert extension(stored, ORGANISATION_EXTENSION)["valueReference"]["reference"] == (
        "Organization/riverside"
    )
    assert extension(stored, PLACE_EXTENSION)["valueString"] == "Microsoft Teams"
    assert extension(stored, PEOPLE_COUNT_EXTENSION)["valueUnsignedInt"] == 0
    assert [(p["actor"]["reference"], p["status"]) for p in stored["participant"]] == [
        ("PractitionerRole/prr-cara", "accepted"),
        ("PractitionerRole/prr-nina", "needs-action"),
        ("PractitionerRole/prr-sam", "needs-action"),
    ]

    # The same form sent again finds the first meeting.
    again = schedule_meeting(
        place.access("cara.coord"),
        MeetingRequest("Frailty MDT", day, "2:30pm", "90", place="Microsoft Teams"),
        token,
    )
    assert again == MeetingMade(meeting_id, False)
    found = find(
        place.access("cara.coord"),
        "Appointment",
        [("service-type", f"{codes.APPOINTMENT_TYPE}|{codes.MDT_MEETING}")],
    )
    assert [a["id"] for a in found] == [meeting_id]


def test_a_location_from_the_directory_is_a_participant(place: Place) -> None:
    place.put(
        {
            "resourceType": "Location",
            "id": "riverside-room",
            "status": "active",
            "name": "Riverside Surgery meeting room",
            "managingOrganization": {"reference": "Organization/riverside"},
        }
    )
    meeting_id = book(place, location_id="riverside-room", where="")
    stored = appointment(place, meeting_id)
    assert {
        "actor": {
            "reference": "Location/riverside-room",
            "display": "Riverside Surgery meeting room",
        },
        "required": "required",
        "status": "accepted",
    } in stored["participant"]
    assert all(e["url"] != PLACE_EXTENSION for e in stored["extension"])
    held = meeting(place.access("nina.nurse"), meeting_id)
    assert (held.place, held.location_id) == ("Riverside Surgery meeting room", "riverside-room")


def last_sunday_of_march(year: int) -> date:
    day = date(year, 3, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("14:30", "14:30"),
        ("9.05", "09:05"),
        ("2:30pm", "14:30"),
        ("9am", "09:00"),
        ("12am", "00:00"),
    ],
)
def test_start_times_are_read_as_people_type_them(typed: str, expected: str) -> None:
    start, problem = start_of(date(2030, 6, 4), typed)
    assert problem is None and start is not None
    assert (start.strftime("%H:%M"), start.utcoffset()) == (expected, timedelta(hours=1))


@pytest.mark.parametrize("typed", ["", "14", "25:00", "13pm", "14:75", "half two"])
def test_a_time_that_cannot_be_read_is_a_problem(typed: str) -> None:
    start, problem = start_of(date(2030, 6, 4), typed)
    assert start is None and problem is not None and problem.field == "start_time"


def test_a_time_the_clocks_skip_does_not_exist() -> None:
    spring = last_sunday_of_march(2030)
    _, problem = start_of(spring, "01:30")
    assert problem is not None and "clocks go forward" in problem.message
    winter, _ = start_of(date(2030, 1, 10), "01:30")
    assert winter is not None and winter.utcoffset() == timedelta(0)


def test_what_is_wrong_with_a_meeting_is_said_field_by_field(place: Place) -> None:
    access = place.access("cara.coord")
    problems = check_meeting(
        access,
        MeetingRequest(
            title=" ",
            day=today() - timedelta(days=1),
            start_time="10:00",
            minutes="20",
            location_id="nowhere",
            place="",
            attendees=("prr-nobody",),
        ),
    )
    assert [(p.field, p.message) for p in problems] == [
        ("title", "Enter a title for the meeting"),
        ("day", "Date of the meeting must be today or in the future"),
        ("minutes", "Select how long the meeting is"),
        ("location", "Choose a place from the list"),
        ("attendees", "Select people from the list"),
    ]
    both = check_meeting(
        access, MeetingRequest("MDT", today(), "10:00", "60", location_id="x", place="Teams")
    )
    assert [p.field for p in both] == ["location"]
    undated = check_meeting(access, MeetingRequest("MDT", None, "25:00", "60", place="Teams"))
    assert [p.field for p in undated] == ["day", "start_time"]
    with pytest.raises(InvalidMeeting):
        schedule_meeting(
            access,
            MeetingRequest("MDT", None, "10:00", "60", place="Teams"),
            new_submission_token(),
        )
    assert find(access, "Appointment", [("actor", "PractitionerRole/prr-cara")]) == []


# -- who sees the meeting and its people ---------------------------------------------------------


def test_attendees_see_their_meetings_upcoming_then_past(place: Place) -> None:
    soon = book(place, day=today() + timedelta(days=2), start="10:00")
    later = book(place, day=today() + timedelta(days=9), start="10:00", attendees=("prr-sam",))
    earlier = book(place)  # today at midnight: begun
    set_status(
        place.access("cara.coord"),
        earlier,
        meeting(place.access("cara.coord"), earlier).version,
        "fulfilled",
    )

    nina = my_meetings(place.access("nina.nurse"))
    assert [s.meeting.id for s in nina.upcoming] == [soon]
    assert [s.meeting.id for s in nina.past] == [earlier]
    assert nina.upcoming[0].my_status == "needs-action"
    cara = my_meetings(place.access("cara.coord"))
    assert [s.meeting.id for s in cara.upcoming] == [soon, later]
    assert my_meetings(place.access("hal.gp")).upcoming == []


def test_another_organisations_attendee_sees_only_people_they_know_and_a_count(
    place: Place,
) -> None:
    meeting_id = book(place)
    mary = put_on_list(place, meeting_id, "mary")
    put_on_list(place, meeting_id, "joe")
    cara = place.access("cara.coord")
    seen = people_on_list(cara, meeting(cara, meeting_id))
    assert ([p.person.name for p in seen.people], seen.others) == (["Joe Other", "Mary Example"], 0)

    nina = place.access("nina.nurse")
    held = meeting(nina, meeting_id)
    assert held.people_count == 2
    assert people_on_list(nina, held).people == []
    assert people_on_list(nina, held).others == 2
    assert find(nina, "Communication", [("part-of", f"Appointment/{meeting_id}")]) == []

    # An action the meeting gives Nina's organisation for Mary gives them Mary's record.
    discuss(place, meeting_id, mary)
    add_action(
        cara,
        meeting_id,
        mary,
        description="Falls assessment at home",
        owner="Organization/community",
        due=today() + timedelta(days=7),
        token=new_submission_token(),
    )
    seen = people_on_list(nina, meeting(nina, meeting_id))
    assert ([p.person.name for p in seen.people], seen.others) == (["Mary Example"], 1)
    assert seen.people[0].discussion == "Agreed a falls assessment at home."


def test_people_are_added_once_with_why_and_counted(place: Place) -> None:
    meeting_id = book(place, day=today() + timedelta(days=1), start="10:00")
    token = new_submission_token()
    access = place.access("cara.coord")
    first = add_person(access, meeting_id, "mary", "Two falls this month", token)
    again = add_person(access, meeting_id, "mary", "Two falls this month", token)
    assert (again.communication_id, first.created, again.created) == (
        first.communication_id,
        True,
        False,
    )
    communication = place.store.read("Communication", first.communication_id).as_dict()
    assert communication["status"] == "preparation"
    assert codes.has_code(communication["category"], codes.COMMUNICATION_CATEGORY, "mdt-discussion")
    assert communication["subject"] == {"reference": "Patient/mary"}
    assert communication["partOf"] == [{"reference": f"Appointment/{meeting_id}"}]
    assert communication["reasonCode"] == [{"text": "Two falls this month"}]
    assert communication["sender"]["reference"] == "PractitionerRole/prr-cara"
    assert extension(appointment(place, meeting_id), PEOPLE_COUNT_EXTENSION) == {
        "url": PEOPLE_COUNT_EXTENSION,
        "valueUnsignedInt": 1,
    }

    with pytest.raises(MeetingProblem, match="already on this meeting's list"):
        add_person(access, meeting_id, "mary", "Again", new_submission_token())
    # Sid is Hilltop's: Cara cannot see him, so he cannot be put on her list.
    with pytest.raises(MeetingProblem, match="Select a person from the list") as refused:
        add_person(access, meeting_id, "sid", "Unknown", new_submission_token())
    assert refused.value.field == "patient"
    with pytest.raises(MeetingProblem, match="Enter why"):
        add_person(access, meeting_id, "joe", "  ", new_submission_token())
    # Hal (Hilltop) is neither invited nor at Riverside: he cannot change the meeting.
    with pytest.raises(NotTakingPart):
        add_person(place.access("hal.gp"), meeting_id, "sid", "Falls", new_submission_token())
    assert (
        extension(appointment(place, meeting_id), PEOPLE_COUNT_EXTENSION)["valueUnsignedInt"] == 1
    )


def test_someone_taken_off_before_the_meeting_is_not_done_and_not_counted(place: Place) -> None:
    meeting_id = book(place)
    mary = put_on_list(place, meeting_id, "mary")
    joe = put_on_list(place, meeting_id, "joe")
    access = place.access("cara.coord")
    with pytest.raises(ChangedMeanwhile):
        remove_person(access, meeting_id, mary, 99)
    remove_person(access, meeting_id, mary, 1)
    stored = place.store.read("Communication", mary).as_dict()
    assert stored["status"] == "not-done"
    assert (
        extension(appointment(place, meeting_id), PEOPLE_COUNT_EXTENSION)["valueUnsignedInt"] == 1
    )
    seen = people_on_list(access, meeting(access, meeting_id))
    assert ([p.person.name for p in seen.people], seen.others) == (["Joe Other"], 0)

    # Once discussed, someone stays on the record of the meeting.
    discuss(place, meeting_id, joe)
    with pytest.raises(NotNow, match="discussed"):
        remove_person(access, meeting_id, joe, 2)
    # Put back on the list after being taken off, they are a new entry.
    again = put_on_list(place, meeting_id, "mary")
    assert again != mary


# -- the discussion and actions -----------------------------------------------------------------


def test_the_discussion_is_recorded_once_the_meeting_has_begun(place: Place) -> None:
    future = book(place, day=today() + timedelta(days=1), start="10:00")
    waiting = put_on_list(place, future, "mary")
    with pytest.raises(NotNow, match="once the meeting has started"):
        record_discussion(place.access("cara.coord"), future, waiting, 1, "Too early")

    meeting_id = book(place)
    mary = put_on_list(place, meeting_id, "mary")
    access = place.access("ann.gp")  # a colleague at the organiser's organisation
    with pytest.raises(MeetingProblem, match="Enter what the meeting discussed"):
        record_discussion(access, meeting_id, mary, 1, " ")
    record_discussion(access, meeting_id, mary, 1, "Falls clinic referral agreed.")
    stored = place.store.read("Communication", mary).as_dict()
    assert stored["status"] == "completed"
    assert stored["payload"] == [{"contentString": "Falls clinic referral agreed."}]
    assert stored["sender"]["reference"] == "PractitionerRole/prr-ann"
    assert datetime.fromisoformat(stored["sent"].replace("Z", "+00:00")) <= datetime.now(UTC)
    with pytest.raises(ChangedMeanwhile):
        record_discussion(access, meeting_id, mary, 1, "An edit of an old version")
    record_discussion(access, meeting_id, mary, 2, "Falls clinic referral agreed; OT visit.")
    held = meeting(access, meeting_id)
    person = listed_person(access, held, mary)
    assert (person.discussion, person.version, person.status_words[0]) == (
        "Falls clinic referral agreed; OT visit.",
        3,
        "Discussed",
    )


def test_actions_are_tasks_on_the_owners_worklist(place: Place) -> None:
    meeting_id = book(place)
    mary = put_on_list(place, meeting_id, "mary")
    cara = place.access("cara.coord")
    due = today() + timedelta(days=14)
    with pytest.raises(NotNow, match="Save the discussion"):
        add_action(
            cara,
            meeting_id,
            mary,
            description="Falls assessment",
            owner="Organization/community",
            due=due,
            token=new_submission_token(),
        )
    discuss(place, meeting_id, mary)
    token = new_submission_token()
    to_nina_team = add_action(
        cara,
        meeting_id,
        mary,
        description="Falls assessment at home",
        owner="Organization/community",
        due=due,
        token=token,
    )
    assert (
        add_action(
            cara,
            meeting_id,
            mary,
            description="Falls assessment at home",
            owner="Organization/community",
            due=due,
            token=token,
        )
        == to_nina_team
    )
    to_sam = add_action(
        cara,
        meeting_id,
        mary,
        description="Care Act assessment",
        owner="PractitionerRole/prr-sam",
        due=due,
        token=new_submission_token(),
    )
    task = place.store.read("Task", to_nina_team).as_dict()
    assert task["status"] == "requested"
    assert codes.has_code(task["code"], codes.TASK_TYPE, "mdt-action")
    assert task["basedOn"] == [{"reference": f"Communication/{mary}"}]
    assert task["for"] == {"reference": "Patient/mary"}
    assert task["owner"]["reference"] == "Organization/community"
    assert task["restriction"]["period"]["end"] == due.isoformat()
    assert task["requester"]["reference"] == "PractitionerRole/prr-cara"

    nina_tasks, _ = worklist(place.access("nina.nurse"), today())
    assert [(t.task_id, t.what, t.person_name) for t in nina_tasks] == [
        (to_nina_team, "Falls assessment at home", "Mary Example")
    ]
    sam_tasks, _ = worklist(place.access("sam.sw"), today())
    assert [t.task_id for t in sam_tasks] == [to_sam]
    person = listed_person(cara, meeting(cara, meeting_id), mary)
    assert [(a.id, a.description) for a in person.actions] == [
        (to_sam, "Care Act assessment"),
        (to_nina_team, "Falls assessment at home"),
    ]

    with pytest.raises(MeetingProblem, match="Select who will do it"):
        add_action(
            cara,
            meeting_id,
            mary,
            description="Something",
            owner="Organization/nowhere",
            due=due,
            token=new_submission_token(),
        )
    with pytest.raises(MeetingProblem, match="today or in the future"):
        add_action(
            cara,
            meeting_id,
            mary,
            description="Something",
            owner="Organization/community",
            due=today() - timedelta(days=1),
            token=new_submission_token(),
        )


def test_actions_can_go_to_attendees_the_care_team_or_any_organisation(place: Place) -> None:
    meeting_id = book(place, attendees=("prr-nina",))
    access = place.access("cara.coord")
    choices = owner_choices(access, meeting(access, meeting_id), "mary")
    assert [c.reference for c in choices.attendees] == [
        "PractitionerRole/prr-cara",
        "PractitionerRole/prr-nina",
    ]
    assert choices.care_team == []
    assert "Organization/council" in [c.reference for c in choices.organisations]
    assert choices.knows("PractitionerRole/prr-nina") and not choices.knows("Organization/x")


# -- attendance and status ----------------------------------------------------------------------


def test_attendance_is_recorded_once_the_meeting_has_begun(place: Place) -> None:
    future = book(place, day=today() + timedelta(days=1), start="10:00")
    with pytest.raises(NotNow, match="once the meeting has started"):
        record_attendance(place.access("cara.coord"), future, 1, {"prr-nina": True})

    meeting_id = book(place)
    nina = place.access("nina.nurse")
    assert add_attendees(nina, meeting_id, ["prr-dan", "prr-nina"]) == 1
    assert add_attendees(nina, meeting_id, ["prr-dan"]) == 0
    held = meeting(nina, meeting_id)
    # The organiser first, then by organisation name: community trust, council, hospital.
    assert [(a.practitioner_role_id, a.organiser) for a in held.attendees] == [
        ("prr-cara", True),
        ("prr-nina", False),
        ("prr-sam", False),
        ("prr-dan", False),
    ]
    record_attendance(
        nina, meeting_id, held.version, {"prr-cara": True, "prr-nina": True, "prr-sam": False}
    )
    statuses = {
        p["actor"]["reference"]: p["status"] for p in appointment(place, meeting_id)["participant"]
    }
    assert statuses == {
        "PractitionerRole/prr-cara": "accepted",
        "PractitionerRole/prr-nina": "accepted",
        "PractitionerRole/prr-sam": "declined",
        "PractitionerRole/prr-dan": "needs-action",
    }
    with pytest.raises(ChangedMeanwhile):
        record_attendance(nina, meeting_id, held.version, {"prr-sam": True})
    with pytest.raises(NotTakingPart):
        record_attendance(place.access("hal.gp"), meeting_id, held.version + 1, {"prr-sam": True})


def test_a_meeting_is_held_or_cancelled_once(place: Place) -> None:
    future = book(place, day=today() + timedelta(days=1), start="10:00")
    access = place.access("cara.coord")
    with pytest.raises(NotNow, match="once it has started"):
        set_status(access, future, 1, "fulfilled")
    set_status(access, future, 1, "cancelled", "Chair unwell")
    stored = appointment(place, future)
    assert (stored["status"], stored["cancelationReason"]) == (
        "cancelled",
        {"text": "Chair unwell"},
    )
    with pytest.raises(NotNow, match="already been cancelled"):
        set_status(access, future, 2, "fulfilled")
    with pytest.raises(NotNow):
        add_person(access, future, "mary", "Falls", new_submission_token())

    meeting_id = book(place)
    with pytest.raises(ChangedMeanwhile):
        set_status(access, meeting_id, 7, "fulfilled")
    set_status(access, meeting_id, 1, "fulfilled")
    assert appointment(place, meeting_id)["status"] == "fulfilled"
    assert meeting(access, meeting_id).status_words == ("Held", "green")


# -- candidates ---------------------------------------------------------------------------------


def test_candidates_come_from_frailty_findings_and_open_work(place: Place) -> None:
    frailty(place, "c-mary", "mary", SEVERE, "2025-01-10")
    frailty(place, "c-joe-1", "joe", MODERATE, "2024-05-01")
    frailty(place, "c-joe-2", "joe", MILD, "2025-02-01")  # now mild: not offered
    frailty(place, "c-sid", "sid", SEVERE, "2025-01-10")  # Hilltop's: Cara cannot see him
    place.put(
        {
            "resourceType": "Task",
            "id": "t-joe",
            "status": "requested",
            "intent": "order",
            "description": "Review medicines",
            "for": {"reference": "Patient/joe"},
            "owner": {"reference": "PractitionerRole/prr-cara"},
        }
    )
    found = candidates(place.access("cara.coord"), set())
    assert [(c.person.patient_id, c.why) for c in found.frail] == [
        ("mary", "Severe frailty (recorded 10 January 2025)")
    ]
    assert [(c.person.patient_id, c.why) for c in found.work] == [
        ("joe", "For you or your team: Review medicines")
    ]
    assert candidates(place.access("cara.coord"), {"mary", "joe"}).frail == []
    hal = candidates(place.access("hal.gp"), set())
    assert [c.person.patient_id for c in hal.frail] == ["sid"]
    # A link worker's role does not read conditions: case-finding says so rather than "none".
    assert candidates(place.access("lee.lw"), set()).sees_frailty is False
