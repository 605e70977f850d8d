"""Notes about a person, as FHIR and through the guard: cara.coord (Riverside Surgery, mary's
coordinator) writes about mary and mentions colleagues; each mention is a respond-to-message
Task that the person mentioned answers by replying or marks as done."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from careweave.coordination import codes
from careweave.coordination.care_team import add_member, assign_coordinator
from careweave.coordination.caseload import worklist
from careweave.coordination.notes import (
    MAXIMUM_MENTIONS,
    MAXIMUM_NOTE_LENGTH,
    InvalidNote,
    NoteWritten,
    PersonNotes,
    default_reply_by,
    mark_done,
    note_of_task,
    notes_for_person,
    others_to_mention,
    team_to_mention,
    threads_from,
    working_days_after,
    write_note,
)
from careweave.coordination.record import (
    FORM_SUBMISSION_SYSTEM,
    find,
    new_submission_token,
    read,
    today,
)
from careweave.coordination.tasks import ChangedSinceOpened, NotNow, NotYourSide, is_open
from careweave.coordination.timeline import person_timeline
from careweave.fhir.errors import NotFound
from tests.coordination.place import Place

WORDS = "Mary had a fall at home on Sunday; she says her new walking frame is too tall."


def stored(place: Place, resource_type: str, resource_id: str) -> dict[str, Any]:
    """The resource as the store holds it (no one's view)."""
    return place.store.read(resource_type, resource_id).as_dict()


def versions(place: Place, resource_type: str, resource_id: str) -> list[dict[str, Any]]:
    """Every version of a resource, oldest first (no one's view)."""
    history = place.store.history(resource_type=resource_type, resource_id=resource_id)
    return [v.as_dict() for v in sorted(history.versions, key=lambda v: v.version_id)]


def with_team(place: Place) -> Place:
    """Mary's care team: cara.coord coordinates, with sam.sw (the council) and ann.gp."""
    cara = place.access("cara.coord")
    made = assign_coordinator(cara, "mary", "prr-cara", version_id=0, token=new_submission_token())
    version = int(made["meta"]["versionId"])
    for role in ("prr-sam", "prr-ann"):
        version = int(add_member(cara, "mary", role, version_id=version)["meta"]["versionId"])
    return place


@pytest.fixture
def team_place(place: Place) -> Place:
    return with_team(place)


def write(
    place: Place,
    *,
    by: str = "cara.coord",
    text: str = WORDS,
    mentions: tuple[str, ...] = (),
    reply_by: date | None = None,
    token: str | None = None,
    reply_to: str | None = None,
    patient: str = "mary",
) -> NoteWritten:
    return write_note(
        place.access(by),
        patient,
        text,
        token=token or new_submission_token(),
        mentions=mentions,
        reply_by=reply_by,
        in_response_to=reply_to,
    )


# -- due dates ---------------------------------------------------------------------------------


def test_two_working_days_skip_the_weekend() -> None:
    monday, thursday, friday, saturday = (date(2026, 3, d) for d in (2, 5, 6, 7))
    assert working_days_after(monday, 2) == date(2026, 3, 4)
    assert working_days_after(thursday, 2) == date(2026, 3, 9)
    assert working_days_after(friday, 2) == date(2026, 3, 10)
    assert working_days_after(saturday, 2) == date(2026, 3, 10)
    assert working_days_after(friday, 0) == friday
    assert default_reply_by(friday) == date(2026, 3, 10)


# -- writing a note ----------------------------------------------------------------------------


def test_a_note_with_mentions_is_a_communication_and_a_task_for_each(team_place: Place) -> None:
    token = new_submission_token()
    due = today() + timedelta(days=5)
    written = write(team_place, mentions=("prr-sam", "prr-ann"), reply_by=due, token=token)
    assert written.created and len(written.task_ids) == 2

    note = stored(team_place, "Communication", written.communication_id)
    assert note["status"] == "completed"
    assert codes.has_code(note["category"], codes.COMMUNICATION_CATEGORY, "note")
    assert note["subject"] == {"reference": "Patient/mary"}
    assert note["sender"] == {
        "reference": "PractitionerRole/prr-cara",
        "display": "Cara Coordinator",
    }
    assert [r["reference"] for r in note["recipient"]] == [
        "PractitionerRole/prr-sam",
        "PractitionerRole/prr-ann",
    ]
    assert note["payload"] == [{"contentString": WORDS}]
    assert note["identifier"] == [{"system": FORM_SUBMISSION_SYSTEM, "value": token}]
    sent = datetime.fromisoformat(note["sent"].replace("Z", "+00:00"))
    assert abs(sent - datetime.now(UTC)) < timedelta(minutes=5)
    assert "inResponseTo" not in note

    owners = set()
    for task_id in written.task_ids:
        task = stored(team_place, "Task", task_id)
        assert (task["status"], task["intent"]) == ("requested", "order")
        assert codes.has_code(task["code"], codes.TASK_TYPE, "respond-to-message")
        assert task["focus"] == {"reference": f"Communication/{written.communication_id}"}
        assert task["for"] == {"reference": "Patient/mary"}
        assert task["requester"]["reference"] == "PractitionerRole/prr-cara"
        assert task["restriction"]["period"]["end"] == due.isoformat()
        assert task["description"] == "Reply to Cara Coordinator's note about Mary Example"
        owners.add(task["owner"]["reference"])
    assert owners == {"PractitionerRole/prr-sam", "PractitionerRole/prr-ann"}


def test_a_mention_is_due_in_two_working_days_unless_the_writer_says(team_place: Place) -> None:
    written = write(team_place, mentions=("prr-sam",))
    [task_id] = written.task_ids
    due = stored(team_place, "Task", task_id)["restriction"]["period"]["end"]
    assert due == working_days_after(today(), 2).isoformat()


def test_a_note_without_mentions_asks_no_one(team_place: Place) -> None:
    written = write(team_place)
    assert written.task_ids == ()
    assert "recipient" not in stored(team_place, "Communication", written.communication_id)
    assert find(team_place.access("cara.coord"), "Task", [("patient", "Patient/mary")]) == []


def test_sending_the_same_form_twice_writes_one_note_and_one_task_per_mention(
    team_place: Place,
) -> None:
    token = new_submission_token()
    first = write(team_place, mentions=("prr-sam", "prr-ann"), token=token)
    again = write(team_place, mentions=("prr-sam", "prr-ann"), token=token)
    assert not again.created
    assert again.communication_id == first.communication_id
    assert sorted(again.task_ids) == sorted(first.task_ids)
    cara = team_place.access("cara.coord")
    assert len(find(cara, "Communication", [("patient", "Patient/mary")])) == 1
    assert len(find(cara, "Task", [("patient", "Patient/mary")])) == 2


def test_the_same_person_mentioned_twice_is_asked_once(team_place: Place) -> None:
    written = write(team_place, mentions=("prr-sam", "prr-sam"))
    assert len(written.task_ids) == 1


@pytest.mark.parametrize(
    ("text", "mentions", "reply_by", "field", "message"),
    [
        ("   ", (), None, "text", "Enter your note"),
        ("x" * (MAXIMUM_NOTE_LENGTH + 1), (), None, "text", "5,000 characters or fewer"),
        (WORDS, ("prr-sam",), date(2020, 1, 1), "reply_by", "today or in the future"),
        (WORDS, ("prr-nobody",), None, "mentions", "Select people to mention"),
        (WORDS, ("prr-cara",), None, "mentions", "You cannot mention yourself"),
        (
            WORDS,
            tuple(f"prr-{n}" for n in range(MAXIMUM_MENTIONS + 1)),
            None,
            "mentions",
            f"Mention {MAXIMUM_MENTIONS} people or fewer",
        ),
    ],
)
def test_a_note_that_cannot_be_saved_says_why_and_saves_nothing(
    team_place: Place,
    text: str,
    mentions: tuple[str, ...],
    reply_by: date | None,
    field: str,
    message: str,
) -> None:
    with pytest.raises(InvalidNote) as refused:
        write(team_place, text=text, mentions=mentions, reply_by=reply_by)
    assert any(p.field == field and message in p.message for p in refused.value.problems)
    cara = team_place.access("cara.coord")
    assert find(cara, "Communication", [("patient", "Patient/mary")]) == []
    assert find(cara, "Task", [("patient", "Patient/mary")]) == []


def test_a_damaged_form_token_is_refused(team_place: Place) -> None:
    with pytest.raises(InvalidNote, match="not sent as expected"):
        write(team_place, token="not-a-token")


def test_no_one_writes_about_a_person_they_have_no_relationship_with(team_place: Place) -> None:
    with pytest.raises(NotFound):
        write(team_place, by="hal.gp")
    assert (
        find(team_place.access("cara.coord"), "Communication", [("patient", "Patient/mary")]) == []
    )


# -- who can be mentioned ----------------------------------------------------------------------


def test_the_care_team_is_offered_first_and_everyone_else_from_the_directory(
    team_place: Place,
) -> None:
    cara = team_place.access("cara.coord")
    team = team_to_mention(cara, "mary")
    assert {m.practitioner_role_id for m in team} == {"prr-sam", "prr-ann"}
    sam = next(m for m in team if m.practitioner_role_id == "prr-sam")
    assert (sam.name, sam.organisation, sam.profession) == (
        "Sam Social",
        "Northshire Council Adult Social Care",
        "social-worker",
    )
    others = {c.practitioner_role_id for c in others_to_mention(cara, team)}
    assert "prr-nina" in others
    assert others.isdisjoint({"prr-cara", "prr-sam", "prr-ann"})
    # The coordinator is offered to the others in the team.
    assert "prr-cara" in {
        m.practitioner_role_id for m in team_to_mention(team_place.access("sam.sw"), "mary")
    }


# -- someone from another organisation ---------------------------------------------------------


def test_a_mention_lets_a_nurse_at_another_organisation_see_the_note_until_she_answers(
    team_place: Place,
) -> None:
    nina = team_place.access("nina.nurse")
    assert notes_for_person(nina, "mary").threads == []
    with pytest.raises(NotFound):
        read(nina, "Patient", "mary")
    written = write(team_place, mentions=("prr-nina",))

    nina = team_place.access("nina.nurse")
    [thread] = notes_for_person(nina, "mary").threads
    assert thread.note.text == WORDS
    assert thread.note.author.name == "Cara Coordinator"
    assert thread.note.author.organisation == "Riverside Surgery"
    [mention] = thread.note.mentions
    assert mention.who.name == "Nina Nurse" and mention.waiting

    # ... and the task is on her worklist.
    tasks, _ = worklist(nina, today())
    assert [(t.task_id, t.person_name) for t in tasks] == [(written.task_ids[0], "Mary Example")]

    # Her reply is saved and her task done; the mention was her only link with mary.
    reply = write(team_place, by="nina.nurse", text="Frame swapped today.", reply_to=thread.note.id)
    assert reply.created and reply.completed == written.task_ids
    assert not reply.still_sees
    task = stored(team_place, "Task", written.task_ids[0])
    assert task["status"] == "completed"
    assert task["output"][0]["valueReference"] == {
        "reference": f"Communication/{reply.communication_id}"
    }
    assert stored(team_place, "Communication", reply.communication_id)["inResponseTo"] == [
        {"reference": f"Communication/{thread.note.id}"}
    ]
    with pytest.raises(NotFound):
        read(team_place.access("nina.nurse"), "Patient", "mary")
    [thread] = notes_for_person(team_place.access("cara.coord"), "mary").threads
    assert [r.text for r in thread.replies] == ["Frame swapped today."]
    assert thread.replies[0].author.name == "Nina Nurse"
    assert thread.note.mentions[0].replied and not thread.note.mentions[0].waiting


# -- replying and marking done -----------------------------------------------------------------


def test_a_reply_completes_the_repliers_task_in_the_same_transaction(team_place: Place) -> None:
    written = write(team_place, mentions=("prr-sam", "prr-ann"))
    sam_task, ann_task = (
        next(
            t
            for t in written.task_ids
            if stored(team_place, "Task", t)["owner"]["reference"].endswith(who)
        )
        for who in ("prr-sam", "prr-ann")
    )
    reply = write(
        team_place, by="sam.sw", text="I will visit on Thursday.", reply_to=written.communication_id
    )
    assert reply.completed == (sam_task,) and reply.still_sees

    history = versions(team_place, "Task", sam_task)
    assert [v["status"] for v in history] == ["requested", "completed"]
    assert history[-1]["output"][0]["valueReference"]["reference"] == (
        f"Communication/{reply.communication_id}"
    )
    assert history[-1]["note"][-1]["text"] == "Replied"
    assert stored(team_place, "Task", ann_task)["status"] == "requested"


def test_a_reply_anywhere_in_the_thread_answers_a_mention_in_a_reply(team_place: Place) -> None:
    first = write(team_place)
    asks_sam = write(
        team_place,
        text="Sam, can you check?",
        mentions=("prr-sam",),
        reply_to=first.communication_id,
    )
    answer = write(team_place, by="sam.sw", text="Checked.", reply_to=first.communication_id)
    assert answer.completed == asks_sam.task_ids
    [thread] = notes_for_person(team_place.access("cara.coord"), "mary").threads
    assert thread.note.id == first.communication_id
    assert [n.text for n in thread.replies] == ["Sam, can you check?", "Checked."]


def test_a_reply_in_another_thread_leaves_the_mention_open(team_place: Place) -> None:
    asks = write(team_place, mentions=("prr-sam",))
    other = write(team_place, text="Separate matter.")
    write(team_place, by="sam.sw", text="On the other matter...", reply_to=other.communication_id)
    assert stored(team_place, "Task", asks.task_ids[0])["status"] == "requested"


def test_only_a_note_about_the_same_person_can_be_replied_to(team_place: Place) -> None:
    about_mary = write(team_place)
    with pytest.raises(InvalidNote, match="cannot be found"):
        write(team_place, patient="joe", reply_to=about_mary.communication_id)
    with pytest.raises(InvalidNote, match="cannot be found"):
        write(team_place, reply_to="no-such-note")


def test_the_person_mentioned_marks_it_done_without_replying(team_place: Place) -> None:
    written = write(team_place, mentions=("prr-sam",))
    [task_id] = written.task_ids
    version = int(stored(team_place, "Task", task_id)["meta"]["versionId"])
    with pytest.raises(NotYourSide):
        mark_done(team_place.access("cara.coord"), task_id, version=version)
    with pytest.raises(ChangedSinceOpened):
        mark_done(team_place.access("sam.sw"), task_id, version=version + 1)

    done = mark_done(team_place.access("sam.sw"), task_id, version=version)
    assert (done.patient_id, done.still_sees) == ("mary", True)
    task = stored(team_place, "Task", task_id)
    assert task["status"] == "completed" and "output" not in task
    assert task["note"][-1]["text"] == "Marked as done without a reply"
    assert task["note"][-1]["authorReference"]["reference"] == "PractitionerRole/prr-sam"
    with pytest.raises(NotNow):
        mark_done(team_place.access("sam.sw"), task_id, version=version + 1)
    [thread] = notes_for_person(team_place.access("cara.coord"), "mary").threads
    mention = thread.note.mentions[0]
    assert not mention.waiting and not mention.replied
    assert mention.task is not None and mention.task.status == "completed"
    assert mention.status == ("Done without a reply", "green")


def test_an_outsider_marking_done_loses_sight_of_the_person(team_place: Place) -> None:
    written = write(team_place, mentions=("prr-nina",))
    [task_id] = written.task_ids
    done = mark_done(team_place.access("nina.nurse"), task_id, version=1)
    assert not done.still_sees
    assert not is_open(stored(team_place, "Task", task_id))


def test_a_mention_task_leads_to_its_note_and_thread(team_place: Place) -> None:
    first = write(team_place)
    asks = write(team_place, text="Ann?", mentions=("prr-ann",), reply_to=first.communication_id)
    found = note_of_task(team_place.access("ann.gp"), asks.task_ids[0])
    assert (found.patient_id, found.note_id, found.thread_id) == (
        "mary",
        asks.communication_id,
        first.communication_id,
    )
    with pytest.raises(NotFound):
        note_of_task(team_place.access("hal.gp"), asks.task_ids[0])


# -- reading -----------------------------------------------------------------------------------


def test_threads_newest_activity_first_with_each_mentions_task_status(team_place: Place) -> None:
    older = write(team_place, text="Older note", mentions=("prr-ann",))
    newer = write(team_place, text="Newer note")
    cara = team_place.access("cara.coord")
    assert [t.note.id for t in notes_for_person(cara, "mary").threads] == [
        newer.communication_id,
        older.communication_id,
    ]
    write(team_place, by="ann.gp", text="Reply to the older", reply_to=older.communication_id)
    threads = notes_for_person(cara, "mary").threads
    assert [t.note.id for t in threads] == [older.communication_id, newer.communication_id]
    mention = threads[0].note.mentions[0]
    assert (mention.who.name, mention.who.organisation) == ("Ann Example", "Riverside Surgery")
    assert mention.task is not None and mention.task.status == "completed"
    assert mention.status == ("Replied", "green")
    # Team membership is what lets sam see the notes; he is not mentioned in any.
    assert len(notes_for_person(team_place.access("sam.sw"), "mary").threads) == 2


def test_waiting_for_lists_what_each_person_has_been_asked() -> None:
    def note(
        note_id: str, sent: str, *, to: str | None = None, reply: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "resourceType": "Communication",
            "id": note_id,
            "status": "completed",
            "category": [codes.concept(codes.COMMUNICATION_CATEGORY, "note")],
            "subject": {"reference": "Patient/mary"},
            "sent": sent,
            "sender": {"reference": "PractitionerRole/prr-cara", "display": "Cara"},
            "payload": [{"contentString": f"text of {note_id}"}],
        }
        if to:
            body["recipient"] = [{"reference": f"PractitionerRole/{to}", "display": to}]
        if reply:
            body["inResponseTo"] = [{"reference": f"Communication/{reply}"}]
        return body

    def ask(task_id: str, note_id: str, owner: str, status: str) -> dict[str, Any]:
        return {
            "resourceType": "Task",
            "id": task_id,
            "status": status,
            "intent": "order",
            "code": codes.concept(codes.TASK_TYPE, "respond-to-message"),
            "focus": {"reference": f"Communication/{note_id}"},
            "for": {"reference": "Patient/mary"},
            "owner": {"reference": f"PractitionerRole/{owner}"},
            "restriction": {"period": {"end": "2026-03-04"}},
        }

    notes = [
        note("a", "2026-03-01T09:00:00Z", to="prr-sam"),
        note("b", "2026-03-01T10:00:00Z", reply="a"),
        note("c", "2026-03-01T11:00:00Z", reply="b", to="prr-ann"),
        note("d", "2026-03-02T09:00:00Z", reply="elsewhere"),
        {**note("e", "2026-03-03T09:00:00Z"), "category": [{"text": "handover"}]},
    ]
    tasks = [ask("t1", "a", "prr-sam", "completed"), ask("t2", "c", "prr-ann", "requested")]
    threads = threads_from(notes, {}, tasks, date(2026, 3, 5))
    # "d" answers a note the reader cannot see, so it begins its own thread; "e" is no note.
    assert [(t.note.id, [r.id for r in t.replies]) for t in threads] == [
        ("d", []),
        ("a", ["b", "c"]),
    ]
    waiting = PersonNotes(threads, more=False).waiting_for("prr-ann")
    assert [(t.note.id, n.id, m.status) for t, n, m in waiting] == [("a", "c", ("Overdue", "red"))]
    assert PersonNotes(threads, more=False).waiting_for("prr-sam") == []


def test_a_note_and_its_request_to_reply_are_on_the_timeline(team_place: Place) -> None:
    write(team_place, mentions=("prr-sam",))
    entries = person_timeline(team_place.access("cara.coord"), "mary").entries
    shown = {(e.kind, e.what) for e in entries}
    assert ("messages", f"Note: {WORDS}") in shown
    assert ("tasks", "Task set: Reply to Cara Coordinator's note about Mary Example") in shown
