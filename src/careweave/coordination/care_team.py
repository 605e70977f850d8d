"""The person's named coordinator and shared care team (docs/care-coordination.md, "The person
and their named coordinator").

One `CareTeam` per person (status active, category LOINC LA28865-6) whose participants are
PractitionerRoles: exactly one `coordinator`, any `cover` (with the date the cover ends) and
`member`s. Everyone around the person, the person and their carer included, reads it through
`team_of`, which the person summary page calls on every view: it is one search with its
PractitionerRoles, Practitioners and Organizations `_include`d.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any, Final

import orjson

from careweave.access.guard import CareRecordAccess
from careweave.coordination.codes import (
    CARE_TEAM_CATEGORY,
    CARE_TEAM_ROLE,
    COMMUNICATION_CATEGORY,
    COORDINATOR,
    COVER,
    MEMBER,
    code_in,
    concept,
)
from careweave.coordination.record import (
    PAGE_SIZE,
    UK,
    TooManyResults,
    find_with_includes,
    if_none_exist,
    now_instant,
    referenced_id,
    submission_identifier,
    today,
    version_of,
)
from careweave.fhir.errors import NotFound, VersionConflict
from careweave.fhir.resource_types import is_fhir_id
from careweave.fhir.search_query import CURSOR_PARAMETER, parse_search
from careweave.store.repository import StoredResource, StoreTransaction, parse_history_cursor
from careweave.uk_time import uk_day


@dataclass(frozen=True)
class TeamMember:
    """One participant of the care team, with what the team page needs to contact them."""

    practitioner_role_id: str
    name: str  # the practitioner's name ("Nina Nurse"), or the role's id if unknown
    profession: str | None  # from PractitionerRole.code text/display
    organisation_id: str | None
    organisation: str  # organisation name ("" if unknown)
    phone: str | None
    email: str | None
    team_role: str  # "coordinator" | "cover" | "member"
    since: date | None
    until: date | None  # cover end date, when set


@dataclass(frozen=True)
class Team:
    """The person's active shared care team as its current version holds it."""

    care_team_id: str
    version_id: int
    coordinator: TeamMember | None
    cover: list[TeamMember]
    members: list[TeamMember]  # everyone else, coordinator and cover excluded
    managing_organisation_id: str | None
    # A member who also covers an absence has two participants, so is in `cover` and in
    # `members`; ending the cover leaves the membership.


_TEAM_ROLES = (COORDINATOR, COVER, MEMBER)


def team_search(patient_id: str) -> list[tuple[str, str]]:
    """The search for the person's active shared care team and the directory entries of its
    participants (their PractitionerRole, Practitioner and Organization)."""
    system, code = CARE_TEAM_CATEGORY
    return [
        ("patient", f"Patient/{patient_id}"),
        ("status", "active"),
        ("category", f"{system}|{code}"),
        ("_include", "CareTeam:participant:PractitionerRole"),
        ("_include:iterate", "PractitionerRole:practitioner"),
        ("_include:iterate", "PractitionerRole:organization"),
    ]


def team_of(access: CareRecordAccess, patient_id: str) -> Team | None:
    """The person's active shared care team, or None when they have none (or the asker may
    not see it). Should more than one active team exist (written by another system), the
    most recently updated one is the person's team."""
    teams, included = find_with_includes(access, "CareTeam", team_search(patient_id))
    if not teams:
        return None
    team = max(teams, key=lambda t: str(t.get("meta", {}).get("lastUpdated", "")))
    return team_from(team, included)


def team_from(care_team: dict[str, Any], directory: dict[str, dict[str, Any]]) -> Team:
    """A Team from a CareTeam resource and the directory entries it refers to ("Type/id" ->
    resource); participants whose PractitionerRole is missing still show, by id."""
    coordinator: TeamMember | None = None
    cover: list[TeamMember] = []
    members: list[TeamMember] = []
    for participant in care_team.get("participant") or ():
        member = member_from(participant, directory)
        if member is None:
            continue
        if member.team_role == COORDINATOR and coordinator is None:
            coordinator = member
        elif member.team_role == COVER:
            cover.append(member)
        else:
            members.append(member)
    return Team(
        care_team_id=str(care_team["id"]),
        version_id=version_of(care_team),
        coordinator=coordinator,
        cover=cover,
        members=members,
        managing_organisation_id=_first_organisation(care_team.get("managingOrganization")),
    )


def member_from(participant: Any, directory: dict[str, dict[str, Any]]) -> TeamMember | None:
    """A participant as a TeamMember; None for one that is not a PractitionerRole."""
    if not isinstance(participant, dict):
        return None
    role_id = referenced_id(participant.get("member"), "PractitionerRole")
    if role_id is None:
        return None
    contact = _contact_of(role_id, directory)
    organisation_id = contact.organisation_id or referenced_id(
        participant.get("onBehalfOf"), "Organization"
    )
    organisation = contact.organisation or _organisation_name(organisation_id, directory)
    period = participant.get("period")
    if not isinstance(period, dict):
        period = {}
    return TeamMember(
        practitioner_role_id=role_id,
        name=contact.name or _reference_display(participant) or role_id,
        profession=contact.profession,
        organisation_id=organisation_id,
        organisation=organisation,
        phone=contact.phone,
        email=contact.email,
        team_role=_role_of(participant),
        since=uk_day(period.get("start")),
        until=uk_day(period.get("end")),
    )


@dataclass(frozen=True)
class _Contact:
    """What the directory says about a post: who holds it, where, and how to reach them."""

    name: str | None
    profession: str | None
    organisation_id: str | None
    organisation: str
    phone: str | None
    email: str | None


def _contact_of(role_id: str, directory: dict[str, dict[str, Any]]) -> _Contact:
    role = directory.get(f"PractitionerRole/{role_id}", {})
    practitioner_id = referenced_id(role.get("practitioner"), "Practitioner")
    practitioner = directory.get(f"Practitioner/{practitioner_id}", {}) if practitioner_id else {}
    organisation_id = referenced_id(role.get("organization"), "Organization")
    return _Contact(
        name=_practitioner_name(practitioner),
        profession=_profession(role),
        organisation_id=organisation_id,
        organisation=_organisation_name(organisation_id, directory),
        phone=_telecom(role, "phone") or _telecom(practitioner, "phone"),
        email=_telecom(role, "email") or _telecom(practitioner, "email"),
    )


def _organisation_name(organisation_id: str | None, directory: dict[str, dict[str, Any]]) -> str:
    if organisation_id is None:
        return ""
    name = directory.get(f"Organization/{organisation_id}", {}).get("name")
    return name if isinstance(name, str) else ""


def _practitioner_name(practitioner: dict[str, Any]) -> str | None:
    for name in practitioner.get("name") or ():
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str) and name["text"].strip():
            return str(name["text"]).strip()
        parts = [p for p in name.get("prefix") or () if isinstance(p, str)]
        parts += [g for g in name.get("given") or () if isinstance(g, str)]
        if isinstance(name.get("family"), str):
            parts.append(name["family"])
        if parts:
            return " ".join(parts)
    return None


def _reference_display(participant: dict[str, Any]) -> str | None:
    member = participant.get("member")
    display = member.get("display") if isinstance(member, dict) else None
    return display if isinstance(display, str) and display.strip() else None


def _profession(role: dict[str, Any]) -> str | None:
    for code in role.get("code") or ():
        if not isinstance(code, dict):
            continue
        if isinstance(code.get("text"), str) and code["text"].strip():
            return str(code["text"])
        for coding in code.get("coding") or ():
            if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                return str(coding["display"])
    return None


def _telecom(resource: dict[str, Any], system: str) -> str | None:
    for point in resource.get("telecom") or ():
        if isinstance(point, dict) and point.get("system") == system:
            value = point.get("value")
            if isinstance(value, str) and value:
                return value
    return None


def _first_organisation(value: Any) -> str | None:
    for reference in value or ():
        found = referenced_id(reference, "Organization")
        if found:
            return found
    return None


# -- choosing staff --------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffChoice:
    """A post (PractitionerRole) in any organisation that can join a person's care team."""

    practitioner_role_id: str
    name: str
    profession: str | None
    organisation_id: str | None
    organisation: str


STAFF_LIMIT: Final = 5000
"""How many posts the choose-a-person lists offer at most; a place with more needs a search."""


def staff_to_choose(access: CareRecordAccess) -> list[StaffChoice]:
    """Every active PractitionerRole of every organisation (the directory, which all staff may
    read), sorted by organisation and then name, for the lists a care team form offers."""
    params = [
        ("active", "true"),
        ("_include", "PractitionerRole:practitioner"),
        ("_include", "PractitionerRole:organization"),
    ]
    roles, directory = _find_all_with_includes(access, "PractitionerRole", params, STAFF_LIMIT)
    choices = [_choice(role, directory) for role in roles]
    return sorted(choices, key=lambda c: (c.organisation.casefold(), c.name.casefold()))


def staff_member(access: CareRecordAccess, practitioner_role_id: str) -> StaffChoice:
    """The active post a form chose, read from the directory; UnknownStaff when there is no
    such active PractitionerRole (a tampered or out-of-date form)."""
    if not is_fhir_id(practitioner_role_id):
        raise UnknownStaff()
    params = [
        ("_id", practitioner_role_id),
        ("_include", "PractitionerRole:practitioner"),
        ("_include", "PractitionerRole:organization"),
    ]
    roles, directory = find_with_includes(access, "PractitionerRole", params)
    roles = [r for r in roles if r.get("active") is not False]
    if not roles:
        raise UnknownStaff()
    return _choice(roles[0], directory)


def _choice(role: dict[str, Any], directory: dict[str, dict[str, Any]]) -> StaffChoice:
    contact = _contact_of(str(role["id"]), directory)
    return StaffChoice(
        practitioner_role_id=str(role["id"]),
        name=contact.name or str(role["id"]),
        profession=contact.profession,
        organisation_id=contact.organisation_id,
        organisation=contact.organisation,
    )


def _find_all_with_includes(
    access: CareRecordAccess, resource_type: str, params: list[tuple[str, str]], limit: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """As record.find_with_includes, following every page (up to `limit` matches)."""
    matches: list[dict[str, Any]] = []
    included: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    entity = f"{resource_type}?" + "&".join(f"{name}={value}" for name, value in params)
    while True:
        page_params = [*params, ("_count", str(PAGE_SIZE))]
        if cursor:
            page_params.append((CURSOR_PARAMETER, cursor))
        query = parse_search(resource_type, page_params, access.store.registry, max_count=PAGE_SIZE)
        page = access.search(query, entity)
        matches += [orjson.loads(content) for _, _, content in page.matches]
        included.update(
            {f"{rt}/{rid}": orjson.loads(content) for rt, rid, content in page.included}
        )
        if len(matches) > limit:
            raise TooManyResults(f"More than {limit} {resource_type} records match")
        cursor = page.next_cursor
        if cursor is None:
            for match in matches:
                included.setdefault(f"{resource_type}/{match['id']}", match)
            return matches, included


# -- what can go wrong -------------------------------------------------------------------------


class CareTeamProblem(Exception):  # noqa: N818 - a refusal the user is shown, with why
    """A change to the care team that cannot be made; `message` says why in the user's
    words and `field` names the form field it is about (None: the whole form)."""

    field: str | None = None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class NoCareTeam(CareTeamProblem):
    def __init__(self) -> None:
        super().__init__(
            "This person has no care team yet: assign a named coordinator first, "
            "which sets up the team"
        )


class AlreadyHasCoordinator(CareTeamProblem):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is already the named coordinator: hand over to change the coordinator",
            "practitioner_role",
        )


class UnknownStaff(CareTeamProblem):
    field = "practitioner_role"

    def __init__(self) -> None:
        super().__init__("Select someone from the list")


class AlreadyInTeam(CareTeamProblem):
    field = "practitioner_role"


class NotInTeam(CareTeamProblem):
    pass


class CoordinatorMustHandOver(CareTeamProblem):
    pass


class CoverEndsInPast(CareTeamProblem):
    field = "until"


class HandoverNoteMissing(CareTeamProblem):
    field = "note"

    def __init__(self) -> None:
        super().__init__("Enter a handover note for the new coordinator")


class WouldLoseAccess(CareTeamProblem):
    """The change would end the user's own relationship with the person, and the store keeps
    nothing a user could not see afterwards: they must ask someone else to make it."""

    def __init__(self) -> None:
        super().__init__(
            "This change would end your own access to this person's record (the care team is "
            "your only link with them), so nothing was saved. Keep yourself in the team, or "
            "ask someone else in the team to make the change."
        )


# -- changing the team -------------------------------------------------------------------------

HANDOVER_NOTE_LIMIT: Final = 5000


def assign_coordinator(
    access: CareRecordAccess,
    patient_id: str,
    practitioner_role_id: str,
    *,
    version_id: int,
    token: str,
) -> dict[str, Any]:
    """Name the person's coordinator. With no team yet (the form read `version_id` 0) this
    sets up the person's shared CareTeam, managed by the coordinator's organisation, and the
    form's one-time `token` makes a second submission find the team the first one made. A
    team without a coordinator gets one; a team with a coordinator needs a handover instead."""
    chosen = staff_member(access, practitioner_role_id)

    def work(tx: StoreTransaction) -> dict[str, Any]:
        tx.read("Patient", patient_id)
        made = tx.find_ids("CareTeam", if_none_exist(token))
        if made:
            return tx.read("CareTeam", made[0]).as_dict()
        team = _current_team(tx, patient_id)
        if team is None:
            if version_id != 0:
                raise _changed_meanwhile()
            body = _new_team(patient_id, chosen, token)
            stored = tx.create(body, if_none_exist=if_none_exist(token)).stored
        else:
            _check_version(team, version_id)
            current = _participant_with_role(team, COORDINATOR)
            if current is not None:
                raise _HasCoordinator(referenced_id(current.get("member"), "PractitionerRole"))
            _drop(team, chosen.practitioner_role_id, roles=(MEMBER, COVER))
            team.setdefault("participant", []).insert(0, _participant(chosen, COORDINATOR))
            _managed_by(team, chosen)
            stored = tx.update("CareTeam", team["id"], team, if_match=version_id).stored
        _check_still_sees(tx, patient_id)
        return stored.as_dict()

    try:
        return access.write("update", _entity(patient_id), work)
    except _HasCoordinator as has:
        # Named once the transaction is over: the store is not read during a write.
        raise AlreadyHasCoordinator(_name_of(access, has.practitioner_role_id)) from None


class _HasCoordinator(Exception):  # noqa: N818 - a signal out of the transaction, not shown
    def __init__(self, practitioner_role_id: str | None) -> None:
        super().__init__(practitioner_role_id)
        self.practitioner_role_id = practitioner_role_id


def hand_over(
    access: CareRecordAccess,
    patient_id: str,
    new_coordinator_role_id: str,
    *,
    note: str,
    version_id: int,
    token: str,
    keep_old_coordinator: bool = True,
) -> dict[str, Any]:
    """Hand the person over to a new coordinator: they replace the old one in the
    `coordinator` participant, the old one stays a `member` unless `keep_old_coordinator` is
    False, the team is managed by the new coordinator's organisation, and the handover note
    is a `handover` Communication from the old coordinator to the new one, about the team.
    The note carries the form's one-time `token`, so a second submission changes nothing."""
    words = note.strip()
    if not words:
        raise HandoverNoteMissing()
    if len(words) > HANDOVER_NOTE_LIMIT:
        raise CareTeamProblem(
            f"Handover note must be {HANDOVER_NOTE_LIMIT:,} characters or fewer", "note"
        )
    chosen = staff_member(access, new_coordinator_role_id)

    def work(tx: StoreTransaction) -> dict[str, Any]:
        tx.read("Patient", patient_id)
        if tx.find_ids("Communication", if_none_exist(token)):
            team = _current_team(tx, patient_id)
            if team is None:
                raise NoCareTeam()
            return team
        team = _existing_team(tx, patient_id, version_id)
        old = _participant_with_role(team, COORDINATOR)
        if old is None:
            raise CareTeamProblem(
                "This person has no named coordinator to hand over from: assign one instead"
            )
        old_role_id = referenced_id(old.get("member"), "PractitionerRole")
        if old_role_id == chosen.practitioner_role_id:
            raise CareTeamProblem(
                f"{chosen.name} is already the named coordinator: choose someone else",
                "practitioner_role",
            )
        _drop(team, chosen.practitioner_role_id, roles=(MEMBER, COVER))
        participants = team["participant"]
        position = participants.index(old)
        participants[position] = _participant(chosen, COORDINATOR)
        if keep_old_coordinator:
            stays = {**old, "role": [_role_concept(MEMBER)]}
            participants.insert(position + 1, stays)
        _managed_by(team, chosen)
        stored = tx.update("CareTeam", team["id"], team, if_match=version_id).stored
        tx.create(
            _handover_note(patient_id, team["id"], old_role_id, chosen, words, token),
            if_none_exist=if_none_exist(token),
        )
        _check_still_sees(tx, patient_id)
        return stored.as_dict()

    return access.write("update", _entity(patient_id), work)


def set_cover(
    access: CareRecordAccess,
    patient_id: str,
    practitioner_role_id: str,
    *,
    until: date,
    version_id: int,
) -> dict[str, Any]:
    """Someone covers the coordinator's absence until `until` (today or later). A member who
    covers keeps their membership besides; setting cover again for who already covers
    changes the date their cover ends."""
    if until < today():
        raise CoverEndsInPast("The date cover ends must be today or in the future")
    chosen = staff_member(access, practitioner_role_id)

    def change(team: dict[str, Any]) -> None:
        coordinator = _participant_with_role(team, COORDINATOR)
        if coordinator is not None and _is(coordinator, chosen.practitioner_role_id):
            raise CareTeamProblem(
                f"{chosen.name} is the named coordinator, so cannot cover their own absence",
                "practitioner_role",
            )
        existing = [
            p for p in _entries_of(team, chosen.practitioner_role_id) if _role_of(p) == COVER
        ]
        if existing:
            existing[0].setdefault("period", {})["end"] = until.isoformat()
            return
        cover = _participant(chosen, COVER)
        cover["period"]["end"] = until.isoformat()
        team["participant"].append(cover)

    return _change_team(access, patient_id, version_id, change)


def end_cover(
    access: CareRecordAccess, patient_id: str, practitioner_role_id: str, *, version_id: int
) -> dict[str, Any]:
    """Cover ends now: the cover participant is removed (a membership they hold stays)."""

    def change(team: dict[str, Any]) -> None:
        if not _drop(team, practitioner_role_id, roles=(COVER,)):
            raise NotInTeam("They are not covering for this person's coordinator")

    return _change_team(access, patient_id, version_id, change)


def add_member(
    access: CareRecordAccess, patient_id: str, practitioner_role_id: str, *, version_id: int
) -> dict[str, Any]:
    """Add someone from any organisation to the person's care team, which gives them (and
    only them, not their whole organisation) a relationship with the person."""
    chosen = staff_member(access, practitioner_role_id)

    def change(team: dict[str, Any]) -> None:
        entries = _entries_of(team, chosen.practitioner_role_id)
        if entries:
            as_what = {COORDINATOR: "the named coordinator", COVER: "covering"}
            role = _role_of(entries[0])
            raise AlreadyInTeam(
                f"{chosen.name} is already in this person's care team"
                + (f" ({as_what[role]})" if role in as_what else "")
            )
        team["participant"].append(_participant(chosen, MEMBER))

    return _change_team(access, patient_id, version_id, change)


def end_membership(
    access: CareRecordAccess, patient_id: str, practitioner_role_id: str, *, version_id: int
) -> dict[str, Any]:
    """Take someone out of the care team (any cover they give ends too); they then show
    among the former members. The coordinator leaves only by handing over."""

    def change(team: dict[str, Any]) -> None:
        entries = _entries_of(team, practitioner_role_id)
        if not entries:
            raise NotInTeam("They are not in this person's care team")
        if any(_role_of(p) == COORDINATOR for p in entries):
            raise CoordinatorMustHandOver(
                "The named coordinator cannot be removed from the team: hand over to a new "
                "coordinator first"
            )
        _drop(team, practitioner_role_id, roles=(MEMBER, COVER))

    return _change_team(access, patient_id, version_id, change)


def _change_team(
    access: CareRecordAccess,
    patient_id: str,
    version_id: int,
    change: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Change the person's team as read at `version_id` (VersionConflict if it has changed
    since), in one transaction that must leave the user still able to see the person."""

    def work(tx: StoreTransaction) -> dict[str, Any]:
        tx.read("Patient", patient_id)
        team = _existing_team(tx, patient_id, version_id)
        change(team)
        stored = tx.update("CareTeam", team["id"], team, if_match=version_id).stored
        _check_still_sees(tx, patient_id)
        return stored.as_dict()

    return access.write("update", _entity(patient_id), work)


def _entity(patient_id: str) -> str:
    return f"CareTeam?patient=Patient/{patient_id}"


def _team_query(patient_id: str) -> str:
    system, code = CARE_TEAM_CATEGORY
    return f"patient=Patient/{patient_id}&status=active&category={system}|{code}"


def _current_team(tx: StoreTransaction, patient_id: str) -> dict[str, Any] | None:
    """The person's active shared team as this transaction sees it (the latest updated, as
    `team_of` chooses, should there be several)."""
    ids = tx.find_ids("CareTeam", _team_query(patient_id), limit=20)
    teams = [tx.read("CareTeam", team_id).as_dict() for team_id in ids]
    if not teams:
        return None
    return max(teams, key=lambda t: str(t.get("meta", {}).get("lastUpdated", "")))


def _existing_team(tx: StoreTransaction, patient_id: str, version_id: int) -> dict[str, Any]:
    team = _current_team(tx, patient_id)
    if team is None:
        if version_id != 0:
            raise _changed_meanwhile()
        raise NoCareTeam()
    _check_version(team, version_id)
    team.setdefault("participant", [])
    return team


def _check_version(team: dict[str, Any], version_id: int) -> None:
    if version_of(team) != version_id:
        raise _changed_meanwhile()


def _changed_meanwhile() -> VersionConflict:
    return VersionConflict(CHANGED_MEANWHILE)


CHANGED_MEANWHILE: Final = (
    "Someone else changed this person's care team after you opened the form, so your change "
    "was not saved. Check the team as it is now and make your change again if it is still "
    "needed."
)


def _check_still_sees(tx: StoreTransaction, patient_id: str) -> None:
    """Refuse, with a reason the user understands, a change that would leave them unable to
    see the person (the store would refuse it anyway, in terms of resources)."""
    try:
        tx.read("Patient", patient_id)
    except NotFound:
        raise WouldLoseAccess() from None


def _new_team(patient_id: str, coordinator: StaffChoice, token: str) -> dict[str, Any]:
    system, code = CARE_TEAM_CATEGORY
    team: dict[str, Any] = {
        "resourceType": "CareTeam",
        "identifier": [submission_identifier(token)],
        "status": "active",
        "category": [concept(system, code, "Longitudinal care-coordination focused care team")],
        "name": "Care team",
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": today().isoformat()},
        "participant": [_participant(coordinator, COORDINATOR)],
    }
    _managed_by(team, coordinator)
    return team


_ROLE_DISPLAY: Final = {COORDINATOR: "Coordinator", COVER: "Cover", MEMBER: "Member"}


def _role_concept(team_role: str) -> dict[str, Any]:
    return concept(CARE_TEAM_ROLE, team_role, _ROLE_DISPLAY[team_role])


def _participant(who: StaffChoice, team_role: str) -> dict[str, Any]:
    participant: dict[str, Any] = {
        "role": [_role_concept(team_role)],
        "member": {"reference": f"PractitionerRole/{who.practitioner_role_id}"},
        "period": {"start": today().isoformat()},
    }
    if who.organisation_id:
        participant["onBehalfOf"] = {"reference": f"Organization/{who.organisation_id}"}
    return participant


def _managed_by(team: dict[str, Any], coordinator: StaffChoice) -> None:
    if coordinator.organisation_id:
        team["managingOrganization"] = [
            {"reference": f"Organization/{coordinator.organisation_id}"}
        ]
    else:
        team.pop("managingOrganization", None)


def _handover_note(
    patient_id: str,
    care_team_id: str,
    old_role_id: str | None,
    new: StaffChoice,
    words: str,
    token: str,
) -> dict[str, Any]:
    note: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [submission_identifier(token)],
        "status": "completed",
        "category": [concept(COMMUNICATION_CATEGORY, "handover", "Handover")],
        "subject": {"reference": f"Patient/{patient_id}"},
        "about": [{"reference": f"CareTeam/{care_team_id}"}],
        "sent": now_instant(),
        "recipient": [{"reference": f"PractitionerRole/{new.practitioner_role_id}"}],
        "payload": [{"contentString": words}],
    }
    if old_role_id is not None:
        note["sender"] = {"reference": f"PractitionerRole/{old_role_id}"}
    return note


def _role_of(participant: dict[str, Any]) -> str:
    role = code_in(participant.get("role"), CARE_TEAM_ROLE)
    return role if role in _TEAM_ROLES else MEMBER


def _is(participant: dict[str, Any], practitioner_role_id: str) -> bool:
    return referenced_id(participant.get("member"), "PractitionerRole") == practitioner_role_id


def _entries_of(team: dict[str, Any], practitioner_role_id: str) -> list[dict[str, Any]]:
    return [
        p
        for p in team.get("participant") or ()
        if isinstance(p, dict) and _is(p, practitioner_role_id)
    ]


def _participant_with_role(team: dict[str, Any], team_role: str) -> dict[str, Any] | None:
    for participant in team.get("participant") or ():
        if (
            isinstance(participant, dict)
            and code_in(participant.get("role"), CARE_TEAM_ROLE) == team_role
        ):
            return participant
    return None


def _drop(team: dict[str, Any], practitioner_role_id: str, *, roles: tuple[str, ...]) -> bool:
    """Remove the person's participants in `roles`; True when there was one."""
    before = team.get("participant") or []
    kept = [
        p
        for p in before
        if not (isinstance(p, dict) and _is(p, practitioner_role_id) and _role_of(p) in roles)
    ]
    team["participant"] = kept
    return len(kept) != len(before)


def _name_of(access: CareRecordAccess, role_id: str | None) -> str:
    if role_id is None:
        return "Someone"
    try:
        return staff_member(access, role_id).name
    except UnknownStaff:
        return role_id


# -- former members ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FormerMember:
    """Someone who was in the team and is no longer: as they were in the last version that
    held them, and the day (in the UK) of the first version without them."""

    member: TeamMember
    left_on: date


HISTORY_LIMIT: Final = 2000


def former_members(
    access: CareRecordAccess, patient_id: str, *, team: Team | None = None
) -> list[FormerMember]:
    """Who has left the person's care team, most recently left first, read from the
    CareTeam's version history (ending a membership removes the participant). A page that
    has just read the `team` passes it, to save finding it again."""
    if team is None:
        team = team_of(access, patient_id)
    if team is None:
        return []
    versions = _versions(access, team.care_team_id)
    last_seen: dict[str, dict[str, Any]] = {}
    left: dict[str, date] = {}
    present: set[str] = set()
    for stored in versions:
        if stored.content is None:
            continue
        body: dict[str, Any] = orjson.loads(stored.content)
        now_in: dict[str, dict[str, Any]] = {}
        for participant in body.get("participant") or ():
            role_id = (
                referenced_id(participant.get("member"), "PractitionerRole")
                if isinstance(participant, dict)
                else None
            )
            if role_id is not None and (
                role_id not in now_in or _role_of(participant) == COORDINATOR
            ):
                now_in[role_id] = participant
        for role_id in present - now_in.keys():
            left[role_id] = stored.last_updated.replace(tzinfo=UTC).astimezone(UK).date()
        for role_id in now_in:
            left.pop(role_id, None)
        last_seen.update(now_in)
        present = set(now_in)
    if not left:
        return []
    directory = _directory_of(access, sorted(left))
    former = [
        FormerMember(member, left[role_id])
        for role_id in left
        if (member := member_from(last_seen[role_id], directory)) is not None
    ]
    return sorted(former, key=lambda f: (f.left_on, f.member.name), reverse=True)


def _versions(access: CareRecordAccess, care_team_id: str) -> list[StoredResource]:
    """Every version of the team the user may see, oldest first."""
    found: list[StoredResource] = []
    cursor: str | None = None
    entity = f"CareTeam/{care_team_id}/_history"
    while True:
        page = access.history(
            "CareTeam",
            care_team_id,
            entity,
            count=PAGE_SIZE,
            cursor=parse_history_cursor(cursor) if cursor else None,
        )
        found += page.versions
        if len(found) > HISTORY_LIMIT:
            raise TooManyResults(f"The care team has more than {HISTORY_LIMIT} versions")
        cursor = page.next_cursor
        if cursor is None:
            return sorted(found, key=lambda v: v.version_id)


def _directory_of(access: CareRecordAccess, role_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The PractitionerRoles (with their Practitioners and Organizations) of `role_ids`, in
    searches of up to a hundred ids at a time."""
    directory: dict[str, dict[str, Any]] = {}
    for start in range(0, len(role_ids), 100):
        params = [
            ("_id", ",".join(role_ids[start : start + 100])),
            ("_include", "PractitionerRole:practitioner"),
            ("_include", "PractitionerRole:organization"),
        ]
        directory.update(find_with_includes(access, "PractitionerRole", params)[1])
    return directory
