"""The person's named coordinator and care team, held as a FHIR CareTeam: assigning, handing
over, cover, members joining and leaving, and who can see the person as a result."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.coordination.care_team import (
    AlreadyHasCoordinator,
    AlreadyInTeam,
    CoordinatorMustHandOver,
    CoverEndsInPast,
    HandoverNoteMissing,
    NoCareTeam,
    NotInTeam,
    Team,
    UnknownStaff,
    WouldLoseAccess,
    add_member,
    assign_coordinator,
    end_cover,
    end_membership,
    former_members,
    hand_over,
    member_from,
    set_cover,
    staff_to_choose,
    team_of,
)
from careweave.coordination.codes import CARE_TEAM_ROLE, COMMUNICATION_CATEGORY, LOINC
from careweave.coordination.people import person_banner
from careweave.coordination.record import find, new_submission_token, read, today
from careweave.fhir.errors import Forbidden, NotFound, VersionConflict
from tests.coordination.place import Place


def assign(place: Place, by: str = "cara.coord", role: str = "prr-cara") -> dict[str, Any]:
    return assign_coordinator(
        place.access(by), "mary", role, version_id=0, token=new_submission_token()
    )


def team(place: Place, who: str = "cara.coord") -> Team:
    found = team_of(place.access(who), "mary")
    assert found is not None
    return found


def roles_of(care_team: dict[str, Any]) -> list[tuple[str, str]]:
    """(PractitionerRole id, care-team-role code) of each participant, in order."""
    return [
        (
            p["member"]["reference"].removeprefix("PractitionerRole/"),
            next(c["code"] for c in p["role"][0]["coding"] if c["system"] == CARE_TEAM_ROLE),
        )
        for p in care_team.get("participant", [])
    ]


def handovers(place: Place) -> list[dict[str, Any]]:
    return find(
        place.access("cara.coord"),
        "Communication",
        [("subject", "Patient/mary"), ("category", f"{COMMUNICATION_CATEGORY}|handover")],
    )


def care_teams_of_mary(place: Place) -> list[dict[str, Any]]:
    return find(place.access("cara.coord"), "CareTeam", [("patient", "Patient/mary")])


def put_clinical_records(place: Place) -> None:
    place.put(
        {
            "resourceType": "Condition",
            "id": "mary-copd",
            "subject": {"reference": "Patient/mary"},
            "code": {"text": "COPD"},
        }
    )
    place.put(
        {
            "resourceType": "Observation",
            "id": "mary-weight",
            "status": "final",
            "subject": {"reference": "Patient/mary"},
            "code": {"text": "Body weight"},
            "valueQuantity": {"value": 61, "unit": "kg"},
        }
    )


# -- assigning ---------------------------------------------------------------------------------


def test_assigning_a_coordinator_sets_up_the_shared_care_team(place: Place) -> None:
    assert team_of(place.access("cara.coord"), "mary") is None
    stored = assign(place)

    resource = read(place.access("cara.coord"), "CareTeam", stored["id"])
    assert resource["meta"]["versionId"] == "1"
    assert resource["status"] == "active"
    assert resource["subject"] == {"reference": "Patient/mary"}
    assert {"system": LOINC, "code": "LA28865-6"}.items() <= resource["category"][0]["coding"][
        0
    ].items()
    assert resource["managingOrganization"] == [{"reference": "Organization/riverside"}]
    (participant,) = resource["participant"]
    assert roles_of(resource) == [("prr-cara", "coordinator")]
    assert participant["onBehalfOf"] == {"reference": "Organization/riverside"}
    assert participant["period"] == {"start": today().isoformat()}

    read_back = team(place)
    assert read_back.care_team_id == stored["id"] and read_back.version_id == 1
    assert read_back.coordinator is not None
    coordinator = read_back.coordinator
    assert (coordinator.name, coordinator.organisation, coordinator.team_role) == (
        "Cara Coordinator",
        "Riverside Surgery",
        "coordinator",
    )
    assert coordinator.email == "cara.coord@example.org" and coordinator.phone
    assert coordinator.profession == "care-coordinator" and coordinator.since == today()
    assert read_back.managing_organisation_id == "riverside"
    assert read_back.cover == [] and read_back.members == []


def test_each_change_is_a_new_version_of_the_care_team(place: Place) -> None:
    assign(place)
    access = place.access("cara.coord")
    after_add = add_member(access, "mary", "prr-nina", version_id=1)
    assert after_add["meta"]["versionId"] == "2"
    assert roles_of(after_add) == [("prr-cara", "coordinator"), ("prr-nina", "member")]
    nina = team(place).members[0]
    assert (nina.name, nina.organisation_id, nina.organisation) == (
        "Nina Nurse",
        "community",
        "Northshire Community Health NHS Trust",
    )
    assert read(access, "CareTeam", after_add["id"])["meta"]["versionId"] == "2"


def test_a_second_submission_of_the_same_form_makes_one_care_team(place: Place) -> None:
    token = new_submission_token()
    first = assign_coordinator(
        place.access("cara.coord"), "mary", "prr-cara", version_id=0, token=token
    )
    again = assign_coordinator(
        place.access("cara.coord"), "mary", "prr-cara", version_id=0, token=token
    )
    assert again["id"] == first["id"]
    assert len(care_teams_of_mary(place)) == 1
    assert team(place).version_id == 1


def test_a_team_set_up_meanwhile_is_a_conflict_not_a_second_team(place: Place) -> None:
    assign(place)
    with pytest.raises(VersionConflict):
        assign(place, by="ann.gp", role="prr-ann")
    assert len(care_teams_of_mary(place)) == 1
    assert team(place).coordinator is not None
    assert team(place).coordinator.practitioner_role_id == "prr-cara"  # type: ignore[union-attr]


def test_a_team_with_a_coordinator_needs_a_handover_to_change_them(place: Place) -> None:
    assign(place)
    with pytest.raises(AlreadyHasCoordinator, match="Cara Coordinator is already"):
        assign_coordinator(
            place.access("cara.coord"),
            "mary",
            "prr-ann",
            version_id=1,
            token=new_submission_token(),
        )


def test_unknown_or_malformed_staff_are_refused_and_nothing_is_written(place: Place) -> None:
    for role in ("prr-nobody", "not an id!", ""):
        with pytest.raises(UnknownStaff) as refused:
            assign(place, role=role)
        assert refused.value.field == "practitioner_role"
    assert care_teams_of_mary(place) == []


def test_an_inactive_post_cannot_join(place: Place) -> None:
    place.put(
        {
            "resourceType": "PractitionerRole",
            "id": "prr-left",
            "active": False,
            "practitioner": {"reference": "Practitioner/pr-nina"},
            "organization": {"reference": "Organization/community"},
        }
    )
    assign(place)
    with pytest.raises(UnknownStaff):
        add_member(place.access("cara.coord"), "mary", "prr-left", version_id=1)


# -- who can see it ----------------------------------------------------------------------------


def test_the_person_and_their_carer_see_who_their_coordinator_is(place: Place) -> None:
    assign(place)
    add_member(place.access("cara.coord"), "mary", "prr-sam", version_id=1)
    for who in ("mary", "carl"):
        seen = team(place, who)
        assert seen.coordinator is not None
        assert (seen.coordinator.name, seen.coordinator.phone, seen.coordinator.email) == (
            "Cara Coordinator",
            team(place).coordinator.phone,  # type: ignore[union-attr]
            "cara.coord@example.org",
        )
        assert [m.name for m in seen.members] == ["Sam Social"]
        assert seen.members[0].organisation == "Northshire Council Adult Social Care"


def test_someone_with_no_relationship_sees_no_team_and_cannot_change_it(place: Place) -> None:
    assign(place)
    hal = place.access("hal.gp")
    assert team_of(hal, "mary") is None
    assert former_members(hal, "mary") == []
    with pytest.raises(NotFound):
        add_member(hal, "mary", "prr-hal", version_id=1)
    with pytest.raises(NotFound):
        assign_coordinator(hal, "mary", "prr-hal", version_id=0, token=new_submission_token())
    assert team(place).version_id == 1


def test_a_role_that_only_reads_care_teams_cannot_change_one(place: Place) -> None:
    assign(place)
    add_member(place.access("cara.coord"), "mary", "prr-val", version_id=1)
    val = place.access("val.vol")
    assert team(place, "val.vol").version_id == 2
    with pytest.raises(Forbidden):
        add_member(val, "mary", "prr-lee", version_id=2)
    assert team(place).version_id == 2


def test_joining_the_team_opens_the_record_to_that_member_only(place: Place) -> None:
    put_clinical_records(place)
    assign(place)
    with pytest.raises(NotFound):
        person_banner(place.access("nina.nurse"), "mary")
    add_member(place.access("cara.coord"), "mary", "prr-nina", version_id=1)
    nina = place.access("nina.nurse")
    assert person_banner(nina, "mary").name == "Mary Example"
    assert read(nina, "Condition", "mary-copd")["code"]["text"] == "COPD"
    with pytest.raises(NotFound):
        person_banner(place.access("dan.dc"), "mary")


# -- handing over ------------------------------------------------------------------------------


def test_handing_over_writes_the_note_and_changes_who_sees_the_person(place: Place) -> None:
    put_clinical_records(place)
    stored = assign(place)
    with pytest.raises(NotFound):
        person_banner(place.access("nina.nurse"), "mary")

    after = hand_over(
        place.access("cara.coord"),
        "mary",
        "prr-nina",
        note="Mary's daughter visits on Tuesdays; the falls referral is in progress.",
        version_id=1,
        token=new_submission_token(),
    )
    assert after["meta"]["versionId"] == "2"
    assert roles_of(after) == [("prr-nina", "coordinator"), ("prr-cara", "member")]
    assert after["managingOrganization"] == [{"reference": "Organization/community"}]

    (note,) = handovers(place)
    assert note["subject"] == {"reference": "Patient/mary"}
    assert note["about"] == [{"reference": f"CareTeam/{stored['id']}"}]
    assert note["sender"] == {"reference": "PractitionerRole/prr-cara"}
    assert note["recipient"] == [{"reference": "PractitionerRole/prr-nina"}]
    assert note["payload"][0]["contentString"].startswith("Mary's daughter visits")
    assert note["status"] == "completed"

    # Nina, at another organisation, now has a relationship with Mary: her role's view of the
    # record (a nurse sees conditions and observations) opens; no one else's does.
    nina = place.access("nina.nurse")
    assert person_banner(nina, "mary").name == "Mary Example"
    assert read(nina, "Condition", "mary-copd")["id"] == "mary-copd"
    assert read(nina, "Observation", "mary-weight")["id"] == "mary-weight"
    assert read(nina, "CareTeam", stored["id"])["meta"]["versionId"] == "2"
    assert read(nina, "Communication", note["id"])["id"] == note["id"]
    with pytest.raises(NotFound):
        person_banner(place.access("sam.sw"), "mary")
    seen = team(place, "nina.nurse")
    assert seen.coordinator is not None and seen.coordinator.name == "Nina Nurse"
    assert [m.name for m in seen.members] == ["Cara Coordinator"]
    assert team(place, "mary").coordinator.name == "Nina Nurse"  # type: ignore[union-attr]


def test_the_old_coordinator_can_leave_the_team_at_handover(place: Place) -> None:
    assign(place)
    add_member(place.access("cara.coord"), "mary", "prr-nina", version_id=1)
    after = hand_over(
        place.access("cara.coord"),
        "mary",
        "prr-nina",
        note="Over to you",
        version_id=2,
        token=new_submission_token(),
        keep_old_coordinator=False,
    )
    # Nina was a member: she is now only the coordinator, and Cara has gone.
    assert roles_of(after) == [("prr-nina", "coordinator")]
    (gone,) = former_members(place.access("cara.coord"), "mary")
    assert gone.member.name == "Cara Coordinator"
    assert gone.member.team_role == "coordinator"
    assert gone.left_on == today()


def test_a_handover_needs_a_note_and_a_different_coordinator(place: Place) -> None:
    assign(place)
    access = place.access("cara.coord")
    with pytest.raises(HandoverNoteMissing):
        hand_over(access, "mary", "prr-nina", note="  ", version_id=1, token=new_submission_token())
    with pytest.raises(Exception, match="already the named coordinator"):
        hand_over(access, "mary", "prr-cara", note="x", version_id=1, token=new_submission_token())
    assert handovers(place) == [] and team(place).version_id == 1


def test_a_double_submitted_handover_hands_over_once(place: Place) -> None:
    assign(place)
    token = new_submission_token()
    for _ in range(2):
        hand_over(
            place.access("cara.coord"),
            "mary",
            "prr-ann",
            note="Handing over",
            version_id=1,
            token=token,
        )
    assert len(handovers(place)) == 1
    assert team(place).version_id == 2


def test_a_coordinator_cannot_hand_over_their_own_last_link_with_the_person(
    place: Place,
) -> None:
    assign(place)
    hand_over(
        place.access("cara.coord"),
        "mary",
        "prr-nina",
        note="Over to you",
        version_id=1,
        token=new_submission_token(),
        keep_old_coordinator=False,
    )
    nina = place.access("nina.nurse")
    with pytest.raises(WouldLoseAccess, match="end your own access"):
        hand_over(
            nina,
            "mary",
            "prr-sam",
            note="Over to you",
            version_id=2,
            token=new_submission_token(),
            keep_old_coordinator=False,
        )
    # Nothing was kept: Nina is still coordinator, and no second handover note exists.
    assert team(place).version_id == 2
    assert team(place).coordinator.practitioner_role_id == "prr-nina"  # type: ignore[union-attr]
    assert len(handovers(place)) == 1
    # Staying in the team keeps her link, so that handover goes through.
    hand_over(
        nina, "mary", "prr-sam", note="Over to you", version_id=2, token=new_submission_token()
    )
    assert team(place).coordinator.name == "Sam Social"  # type: ignore[union-attr]


def test_removing_yourself_when_the_team_is_your_only_link_is_refused(place: Place) -> None:
    assign(place)
    add_member(place.access("cara.coord"), "mary", "prr-nina", version_id=1)
    with pytest.raises(WouldLoseAccess):
        end_membership(place.access("nina.nurse"), "mary", "prr-nina", version_id=2)
    assert [m.name for m in team(place).members] == ["Nina Nurse"]


# -- cover -------------------------------------------------------------------------------------


def test_cover_runs_until_an_end_date_and_can_be_ended(place: Place) -> None:
    assign(place)
    access = place.access("cara.coord")
    ends = today() + timedelta(days=10)
    after = set_cover(access, "mary", "prr-lee", until=ends, version_id=1)
    assert roles_of(after) == [("prr-cara", "coordinator"), ("prr-lee", "cover")]
    assert after["participant"][1]["period"] == {
        "start": today().isoformat(),
        "end": ends.isoformat(),
    }
    (cover,) = team(place).cover
    assert (cover.name, cover.until, cover.team_role) == ("Lee Link", ends, "cover")
    assert team(place).members == []

    later = ends + timedelta(days=7)
    set_cover(access, "mary", "prr-lee", until=later, version_id=2)
    assert [c.until for c in team(place).cover] == [later]

    end_cover(access, "mary", "prr-lee", version_id=3)
    assert team(place).cover == []
    assert [f.member.name for f in former_members(access, "mary")] == ["Lee Link"]


def test_cover_ending_in_the_past_is_refused(place: Place) -> None:
    assign(place)
    with pytest.raises(CoverEndsInPast) as refused:
        set_cover(
            place.access("cara.coord"),
            "mary",
            "prr-lee",
            until=today() - timedelta(days=1),
            version_id=1,
        )
    assert refused.value.field == "until"
    assert team(place).version_id == 1
    # Cover ending today is allowed (not in the past).
    set_cover(place.access("cara.coord"), "mary", "prr-lee", until=today(), version_id=1)


def test_a_member_who_covers_stays_a_member_when_cover_ends(place: Place) -> None:
    assign(place)
    access = place.access("cara.coord")
    add_member(access, "mary", "prr-ann", version_id=1)
    set_cover(access, "mary", "prr-ann", until=today() + timedelta(days=3), version_id=2)
    assert [c.name for c in team(place).cover] == ["Ann Example"]
    end_cover(access, "mary", "prr-ann", version_id=3)
    assert [m.name for m in team(place).members] == ["Ann Example"]
    with pytest.raises(NotInTeam):
        end_cover(access, "mary", "prr-ann", version_id=4)


def test_the_coordinator_cannot_cover_themselves(place: Place) -> None:
    assign(place)
    with pytest.raises(Exception, match="cannot cover their own absence"):
        set_cover(
            place.access("cara.coord"),
            "mary",
            "prr-cara",
            until=today() + timedelta(days=1),
            version_id=1,
        )


# -- members -----------------------------------------------------------------------------------


def test_someone_already_in_the_team_is_not_added_twice(place: Place) -> None:
    assign(place)
    access = place.access("cara.coord")
    add_member(access, "mary", "prr-sam", version_id=1)
    with pytest.raises(AlreadyInTeam, match="Sam Social is already in this person's care team"):
        add_member(access, "mary", "prr-sam", version_id=2)
    with pytest.raises(AlreadyInTeam, match=r"\(the named coordinator\)"):
        add_member(access, "mary", "prr-cara", version_id=2)
    assert team(place).version_id == 2 and len(team(place).members) == 1


def test_members_come_from_any_organisation(place: Place) -> None:
    assign(place)
    access = place.access("cara.coord")
    for version, role in enumerate(("prr-sam", "prr-dan", "prr-val", "prr-hal"), start=1):
        add_member(access, "mary", role, version_id=version)
    assert sorted(m.organisation_id or "" for m in team(place).members) == [
        "acute",
        "council",
        "hilltop",
        "voluntary",
    ]


def test_members_need_a_team_first(place: Place) -> None:
    with pytest.raises(NoCareTeam):
        add_member(place.access("cara.coord"), "mary", "prr-sam", version_id=0)


def test_ending_a_membership_closes_the_record_and_lists_them_as_former(place: Place) -> None:
    assign(place)
    access = place.access("cara.coord")
    add_member(access, "mary", "prr-nina", version_id=1)
    assert person_banner(place.access("nina.nurse"), "mary").name == "Mary Example"
    after = end_membership(access, "mary", "prr-nina", version_id=2)
    assert roles_of(after) == [("prr-cara", "coordinator")]
    with pytest.raises(NotFound):
        person_banner(place.access("nina.nurse"), "mary")
    (gone,) = former_members(access, "mary")
    assert (gone.member.name, gone.member.team_role, gone.left_on) == (
        "Nina Nurse",
        "member",
        today(),
    )
    # Rejoining takes them off the former list.
    add_member(access, "mary", "prr-nina", version_id=3)
    assert former_members(access, "mary") == []


def test_the_coordinator_leaves_only_by_handing_over(place: Place) -> None:
    assign(place)
    with pytest.raises(CoordinatorMustHandOver):
        end_membership(place.access("cara.coord"), "mary", "prr-cara", version_id=1)
    with pytest.raises(NotInTeam):
        end_membership(place.access("cara.coord"), "mary", "prr-sam", version_id=1)
    assert team(place).version_id == 1


def test_a_stale_form_is_a_conflict_and_changes_nothing(place: Place) -> None:
    assign(place)
    access = place.access("cara.coord")
    add_member(access, "mary", "prr-sam", version_id=1)
    with pytest.raises(VersionConflict):
        add_member(access, "mary", "prr-nina", version_id=1)
    with pytest.raises(VersionConflict):
        end_membership(access, "mary", "prr-sam", version_id=1)
    with pytest.raises(VersionConflict):
        hand_over(access, "mary", "prr-ann", note="x", version_id=1, token=new_submission_token())
    assert team(place).version_id == 2
    assert [m.name for m in team(place).members] == ["Sam Social"]
    assert handovers(place) == []


# -- choosing staff ----------------------------------------------------------------------------


def test_staff_of_every_organisation_can_be_chosen(place: Place) -> None:
    choices = staff_to_choose(place.access("cara.coord"))
    assert {c.practitioner_role_id for c in choices} >= {
        "prr-cara",
        "prr-nina",
        "prr-sam",
        "prr-dan",
        "prr-val",
        "prr-hal",
    }
    organisations = [c.organisation for c in choices]
    assert organisations == sorted(organisations, key=str.casefold)
    nina = next(c for c in choices if c.practitioner_role_id == "prr-nina")
    assert (nina.name, nina.organisation, nina.profession) == (
        "Nina Nurse",
        "Northshire Community Health NHS Trust",
        "nurse",
    )


def test_cover_that_has_ended_no_longer_opens_the_record(place: Place) -> None:
    """Cover is set until a day; once that day has passed in the UK, being in the CareTeam as
    cover is no longer a legitimate relationship (it counts through the day it ends)."""
    put_clinical_records(place)
    assign(place)
    with pytest.raises(NotFound):
        person_banner(place.access("nina.nurse"), "mary")
    covered = set_cover(place.access("cara.coord"), "mary", "prr-nina", until=today(), version_id=1)
    assert person_banner(place.access("nina.nurse"), "mary").name == "Mary Example"
    assert read(place.access("nina.nurse"), "Condition", "mary-copd")["code"]["text"] == "COPD"

    cover = covered["participant"][1]
    cover["period"]["end"] = (today() - timedelta(days=1)).isoformat()
    place.put(covered)
    nina = place.access("nina.nurse")
    with pytest.raises(NotFound):
        person_banner(nina, "mary")
    with pytest.raises(NotFound):
        read(nina, "Condition", "mary-copd")
    assert find(nina, "Patient", [("_id", "mary")]) == []
    # The coordinator, whose participation has no end, still sees her.
    assert person_banner(place.access("cara.coord"), "mary").name == "Mary Example"


def test_the_team_shows_the_uk_days_a_participant_takes_part() -> None:
    """The day cover ends on the care team page is the one the access rules go by: the UK day
    of period.end (23:30 UTC on 10 June is 11 June in England)."""
    participant = {
        "member": {"reference": "PractitionerRole/prr-nina", "display": "Nina Nurse"},
        "period": {"start": "2026-05-31T23:30:00Z", "end": "2026-06-10T23:30:00Z"},
    }
    member = member_from(participant, {})
    assert member is not None
    assert (member.since, member.until) == (date(2026, 6, 1), date(2026, 6, 11))
