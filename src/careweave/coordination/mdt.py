"""MDT meetings: scheduling a multidisciplinary team meeting across organisations, who is
invited and who came, and whether it was held (docs/care-coordination.md, "MDT meetings").

A meeting is one FHIR `Appointment` (serviceType `appointment-type|mdt-meeting`). Its attendees
are participants whose actor is a PractitionerRole from any organisation; the room is a
participant whose actor is a `Location` from the directory, or, for a place the directory does
not hold (a video call, a room number), the text of the `meeting-place` extension. Who arranged
it is in the `meeting-organiser` (PractitionerRole) and `meeting-organisation` (Organization)
extensions, since R4's Appointment has no organiser element; the organiser is also a
participant, so "meetings I organise or attend" is one search on `actor`.

Who may see a meeting follows from the access rules, not from this module: an Appointment that
names no Patient is in nobody's Patient compartment, so every member of staff whose role and
sharing agreement give them the coordination category may read it (the title and time, who is
invited). That is why a meeting's title must not name anyone: the people to be discussed are
separate `Communication`s, each in the compartment of the person it is about
(careweave.coordination.mdt_discussions), and the Appointment only keeps how many there are.

Changing a meeting (attendance, held or cancelled: careweave.coordination.mdt_attendance;
people and actions: .mdt_discussions) is for the people taking part: its attendees and the
staff of the organiser's organisation. The guard still decides whether their role may write
at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeVar

from careweave.access.guard import CareRecordAccess
from careweave.access.principal import Principal
from careweave.coordination import codes
from careweave.coordination.care_team import UnknownStaff, member_from, staff_member
from careweave.coordination.caseload import search_all
from careweave.coordination.record import (
    UK,
    TooManyResults,
    find,
    find_with_includes,
    if_none_exist,
    now_instant,
    read_or_none,
    referenced_id,
    submission_identifier,
    today,
    version_of,
)
from careweave.fhir.errors import Gone, NotFound, VersionConflict
from careweave.fhir.resource_types import is_fhir_id
from careweave.store.repository import StoreTransaction
from careweave.uk_time import uk_moment

_T = TypeVar("_T")

MEETING_DISPLAY: Final = "Multidisciplinary team meeting"
PLACE_EXTENSION: Final = codes.CAREWEAVE_EXTENSIONS + "meeting-place"
"""valueString: where the meeting is when it is not a Location in the directory."""
ORGANISER_EXTENSION: Final = codes.CAREWEAVE_EXTENSIONS + "meeting-organiser"
"""valueReference: the PractitionerRole who arranged the meeting."""
ORGANISATION_EXTENSION: Final = codes.CAREWEAVE_EXTENSIONS + "meeting-organisation"
"""valueReference: the Organization arranging the meeting (the organiser's)."""
PEOPLE_COUNT_EXTENSION: Final = codes.CAREWEAVE_EXTENSIONS + "mdt-people-count"
"""valueUnsignedInt: how many people are on the meeting's list, kept by every change to it, so
an attendee can be told how many others there are without being shown who they are."""

DURATIONS: Final[Mapping[int, str]] = {
    30: "30 minutes",
    45: "45 minutes",
    60: "1 hour",
    90: "1 hour 30 minutes",
    120: "2 hours",
    180: "3 hours",
}
"""How long a meeting may be booked for, in minutes, and how people say it."""
MAX_TITLE: Final = 200
MAX_PLACE: Final = 200
MAX_REASON: Final = 1000
LATEST_YEARS: Final = 2
"""A meeting is booked at most this many years ahead (a later date is a typing mistake)."""
MEETINGS_LIMIT: Final = 1000
PAST_SHOWN: Final = 50

_TIME = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?\s*([ap]\.?m\.?)?", re.IGNORECASE)
_TOKEN = re.compile(r"[0-9a-f]{32}")
_ATTEMPTS = 3
_STATUS_WORDS: Final[Mapping[str, tuple[str, str]]] = {
    "booked": ("Booked", "blue"),
    "fulfilled": ("Held", "green"),
    "cancelled": ("Cancelled", "grey"),
}


def service_type() -> dict[str, Any]:
    """Appointment.serviceType of an MDT meeting."""
    return codes.concept(codes.APPOINTMENT_TYPE, codes.MDT_MEETING, MEETING_DISPLAY)


def service_type_search() -> str:
    """The `service-type` search value that finds MDT meetings."""
    return f"{codes.APPOINTMENT_TYPE}|{codes.MDT_MEETING}"


def is_meeting(appointment: Mapping[str, Any]) -> bool:
    return codes.has_code(appointment.get("serviceType"), codes.APPOINTMENT_TYPE, codes.MDT_MEETING)


# -- what can go wrong -------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with what was asked for; `field` is the form field it is about."""

    field: str | None
    message: str


class MeetingProblem(Exception):  # noqa: N818 - a refusal shown to the person who asked
    """A change to a meeting that cannot be made; `message` says why, `field` which form
    field it is about (None: the form as a whole), `status` the HTTP status to answer."""

    status: int = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidMeeting(MeetingProblem):
    """Several things are wrong with a form; nothing was saved."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems), problems[0].field)
        self.problems = tuple(problems)


class NotTakingPart(MeetingProblem):
    """Only the meeting's attendees and its organiser's organisation change it."""

    status = 403

    def __init__(self) -> None:
        super().__init__(
            "Only the people invited to this meeting, and staff of the organisation arranging "
            "it, can change it"
        )


class NotNow(MeetingProblem):
    """The meeting's status (or the time) does not allow this change."""

    status = 409


class ChangedMeanwhile(MeetingProblem):
    """Someone else changed what the form showed after it was opened; nothing was saved."""

    status = 409


MEETING_CHANGED: Final = (
    "Someone else changed this meeting after you opened the form, so your change was not "
    "saved. The meeting is shown as it is now: check it and make your change again."
)


# -- reading a meeting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Attendee:
    """A participant of the meeting from the staff directory, with their organisation."""

    practitioner_role_id: str
    name: str
    profession: str | None
    organisation_id: str | None
    organisation: str
    status: str
    organiser: bool


@dataclass(frozen=True)
class Meeting:
    """An MDT meeting as its page shows it."""

    id: str
    version: int
    title: str
    start: datetime | None
    end: datetime | None
    status: str
    place: str | None
    location_id: str | None
    organiser_role_id: str | None
    organiser: str | None
    organisation_id: str | None
    attendees: tuple[Attendee, ...]
    people_count: int
    cancel_reason: str | None

    @property
    def day(self) -> date | None:
        """The UK day the meeting is on."""
        return self.start.astimezone(UK).date() if self.start else None

    @property
    def minutes(self) -> int | None:
        if self.start is None or self.end is None:
            return None
        return int((self.end - self.start).total_seconds() // 60)

    def started(self, now: datetime | None = None) -> bool:
        """Whether the meeting has begun (attendance and discussions can be recorded)."""
        return self.start is not None and self.start <= (now or datetime.now(UTC))

    def over(self, now: datetime | None = None) -> bool:
        """Held, cancelled, or past its end time."""
        if self.status != "booked":
            return True
        return self.end is not None and self.end < (now or datetime.now(UTC))

    @property
    def status_words(self) -> tuple[str, str]:
        """The meeting's status in words, with the NHS.UK tag colour to show it in."""
        if self.status == "booked" and self.end is not None and self.end < datetime.now(UTC):
            return "Not yet marked as held", "orange"
        return _STATUS_WORDS.get(self.status, (self.status.replace("-", " ").capitalize(), "grey"))

    def attendee(self, practitioner_role_id: str | None) -> Attendee | None:
        for attendee in self.attendees:
            if attendee.practitioner_role_id == practitioner_role_id:
                return attendee
        return None


def meeting(access: CareRecordAccess, appointment_id: str) -> Meeting:
    """The MDT meeting with the directory entries of its attendees; NotFound for anything
    else (a malformed id, another kind of appointment, or one the asker may not see)."""
    if not is_fhir_id(appointment_id):
        raise NotFound(f"Appointment/{appointment_id} is not known")
    found, directory = find_with_includes(
        access,
        "Appointment",
        [
            ("_id", appointment_id),
            ("_include", "Appointment:actor"),
            ("_include:iterate", "PractitionerRole:practitioner"),
            ("_include:iterate", "PractitionerRole:organization"),
        ],
    )
    appointments = [a for a in found if a.get("id") == appointment_id and is_meeting(a)]
    if not appointments:
        raise NotFound(f"Appointment/{appointment_id} is not an MDT meeting")
    return meeting_from(appointments[0], directory)


def meeting_from(appointment: dict[str, Any], directory: dict[str, dict[str, Any]]) -> Meeting:
    """A Meeting from its Appointment and the directory entries ("Type/id") it refers to."""
    organiser_ref = _extension(appointment, ORGANISER_EXTENSION, "valueReference")
    organiser_role = referenced_id(organiser_ref, "PractitionerRole")
    attendees: list[Attendee] = []
    location_id = None
    location_words = None
    for participant in appointment.get("participant") or ():
        if not isinstance(participant, dict):
            continue
        actor = participant.get("actor")
        if (found_location := referenced_id(actor, "Location")) is not None:
            location_id = found_location
            location = directory.get(f"Location/{found_location}", {})
            location_words = _text(location.get("name")) or _display(actor) or found_location
            continue
        role_id = referenced_id(actor, "PractitionerRole")
        if role_id is None:
            continue
        member = member_from({"member": actor}, directory)
        if member is None:
            continue
        attendees.append(
            Attendee(
                practitioner_role_id=role_id,
                name=member.name,
                profession=member.profession,
                organisation_id=member.organisation_id,
                organisation=member.organisation,
                status=str(participant.get("status") or "needs-action"),
                organiser=role_id == organiser_role,
            )
        )
    attendees.sort(key=lambda a: (not a.organiser, a.organisation.casefold(), a.name.casefold()))
    place = location_words or _text(_extension(appointment, PLACE_EXTENSION, "valueString"))
    count = _extension(appointment, PEOPLE_COUNT_EXTENSION, "valueUnsignedInt")
    cancel = appointment.get("cancelationReason")
    return Meeting(
        id=str(appointment["id"]),
        version=version_of(appointment),
        title=_text(appointment.get("description")) or MEETING_DISPLAY,
        start=moment_of(appointment.get("start")),
        end=moment_of(appointment.get("end")),
        status=str(appointment.get("status") or "booked"),
        place=place,
        location_id=location_id,
        organiser_role_id=organiser_role,
        organiser=_display(organiser_ref),
        organisation_id=referenced_id(
            _extension(appointment, ORGANISATION_EXTENSION, "valueReference"), "Organization"
        ),
        attendees=tuple(attendees),
        people_count=count if isinstance(count, int) and count >= 0 else 0,
        cancel_reason=_text(cancel.get("text")) if isinstance(cancel, dict) else None,
    )


def takes_part(principal: Principal, meeting: Meeting) -> bool:
    """Whether the asker may change the meeting: an attendee, or staff of the organisation
    arranging it (so a colleague can stand in for an organiser who is away)."""
    if meeting.attendee(principal.practitioner_role_id) is not None:
        return True
    return principal.organisation_id is not None and (
        principal.organisation_id == meeting.organisation_id
    )


def check_takes_part(access: CareRecordAccess, meeting: Meeting) -> None:
    if not takes_part(access.principal, meeting):
        raise NotTakingPart()


# -- the meetings I organise or attend ---------------------------------------------------------


@dataclass(frozen=True)
class MeetingSummary:
    """One meeting in the list of someone's meetings."""

    meeting: Meeting
    my_status: str | None


@dataclass(frozen=True)
class MyMeetings:
    """The signed-in person's meetings: those still to come (soonest first) and those over
    (latest first, the PAST_SHOWN most recent). `has_post` is False for an account with no
    PractitionerRole, who cannot be invited to anything."""

    has_post: bool
    upcoming: list[MeetingSummary]
    past: list[MeetingSummary]
    more_past: bool


def my_meetings(access: CareRecordAccess, now: datetime | None = None) -> MyMeetings:
    """The MDT meetings the asker's PractitionerRole is a participant of (organiser included)."""
    role_id = access.principal.practitioner_role_id
    if role_id is None:
        return MyMeetings(False, [], [], False)
    moment = now or datetime.now(UTC)
    found, included, _ = search_all(
        access,
        "Appointment",
        [
            ("actor", f"PractitionerRole/{role_id}"),
            ("service-type", service_type_search()),
            ("_include", "Appointment:actor"),
            ("_include:iterate", "PractitionerRole:practitioner"),
            ("_include:iterate", "PractitionerRole:organization"),
        ],
        limit=MEETINGS_LIMIT,
    )
    upcoming: list[MeetingSummary] = []
    past: list[MeetingSummary] = []
    for appointment in found:
        if not is_meeting(appointment) or appointment.get("status") == "entered-in-error":
            continue
        held = meeting_from(appointment, included)
        mine = held.attendee(role_id)
        summary = MeetingSummary(held, mine.status if mine else None)
        (past if held.over(moment) else upcoming).append(summary)
    far = datetime.max.replace(tzinfo=UTC)
    upcoming.sort(key=lambda s: (s.meeting.start or far, s.meeting.id))
    past.sort(key=lambda s: (s.meeting.start or far, s.meeting.id), reverse=True)
    return MyMeetings(True, upcoming, past[:PAST_SHOWN], len(past) > PAST_SHOWN)


# -- scheduling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingRequest:
    """A meeting as the schedule form asks for it (as typed: checked by `check_meeting`).

    `location_id` is a Location chosen from the directory, `place` where it is otherwise;
    `attendees` the PractitionerRoles invited besides the organiser."""

    title: str
    day: date | None
    start_time: str
    minutes: str
    location_id: str = ""
    place: str = ""
    attendees: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlaceChoice:
    """A Location in the directory a meeting can be held at."""

    id: str
    name: str


def places(access: CareRecordAccess) -> list[PlaceChoice]:
    """The active Locations of the directory, by name (none when there are too many to
    offer as a list: then the place is typed)."""
    try:
        found = find(access, "Location", [("_sort", "name")], limit=2000)
    except TooManyResults:
        return []
    listed = [
        PlaceChoice(str(loc["id"]), _text(loc.get("name")) or str(loc["id"]))
        for loc in found
        if loc.get("status") in (None, "active")
    ]
    return sorted(listed, key=lambda p: (p.name.casefold(), p.id))


SKIPPED_TIME: Final = "That time does not exist on that day, because the clocks go forward"
"""What a form says of a UK time the clocks skip (careweave.uk_time.uk_moment gives None)."""


def start_of(day: date, typed: str) -> tuple[datetime | None, Problem | None]:
    """The instant a meeting on `day` starting at the typed UK time begins (14:30, 2.30pm,
    9am), or what is wrong with the time."""
    text = typed.strip()
    if not text:
        return None, Problem("start_time", "Enter the start time")
    match = _TIME.fullmatch(text)
    if match is None:
        return None, Problem("start_time", "Enter the start time like 14:30 or 2:30pm")
    hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    half = (match.group(3) or "").lower().replace(".", "")
    if half:
        if not 1 <= hours <= 12:
            return None, Problem("start_time", "Start time must be a real time, like 2:30pm")
        hours = hours % 12 + (12 if half == "pm" else 0)
    elif match.group(2) is None:
        return None, Problem("start_time", "Enter the start time like 14:30 or 2:30pm")
    if hours > 23 or minutes > 59:
        return None, Problem("start_time", "Start time must be a real time, like 14:30")
    local = uk_moment(day, hours, minutes)
    if local is None:
        return None, Problem("start_time", SKIPPED_TIME)
    return local, None


def check_meeting(access: CareRecordAccess, request: MeetingRequest) -> list[Problem]:
    """Everything wrong with a meeting as asked for (empty when it can be booked)."""
    problems: list[Problem] = []
    title = request.title.strip()
    if not title:
        problems.append(Problem("title", "Enter a title for the meeting"))
    elif len(title) > MAX_TITLE:
        problems.append(Problem("title", f"Title must be {MAX_TITLE} characters or fewer"))
    if request.day is None:
        problems.append(Problem("day", "Enter the date of the meeting"))
    elif request.day < today():
        problems.append(Problem("day", "Date of the meeting must be today or in the future"))
    elif request.day > today() + timedelta(days=366 * LATEST_YEARS):
        problems.append(
            Problem("day", f"Date of the meeting must be within {LATEST_YEARS} years from today")
        )
    # Without a date the time is still read, on a day with no clock change, so every
    # problem with the form is said at once.
    _, time_problem = start_of(request.day or date(2000, 1, 10), request.start_time)
    if time_problem is not None:
        problems.append(time_problem)
    if not request.minutes.isdigit() or int(request.minutes) not in DURATIONS:
        problems.append(Problem("minutes", "Select how long the meeting is"))
    location_id, place = request.location_id.strip(), request.place.strip()
    if location_id and place:
        problems.append(Problem("location", "Choose a place from the list or type one, not both"))
    elif location_id:
        if not is_fhir_id(location_id) or read_or_none(access, "Location", location_id) is None:
            problems.append(Problem("location", "Choose a place from the list"))
    elif not place:
        problems.append(Problem("location", "Choose where the meeting is, or type the place"))
    elif len(place) > MAX_PLACE:
        problems.append(Problem("place", f"Place must be {MAX_PLACE} characters or fewer"))
    for role_id in request.attendees:
        try:
            staff_member(access, role_id)
        except UnknownStaff:
            problems.append(Problem("attendees", "Select people from the list"))
            break
    if access.principal.practitioner_role_id is None:
        problems.append(
            Problem(
                None,
                "Your account is not linked to a post in the staff directory, so you cannot "
                "arrange meetings. Ask your administrator to check it.",
            )
        )
    return problems


@dataclass(frozen=True)
class MeetingMade:
    """The meeting's Appointment id; `created` is False when the same form had already been
    sent (a double submit finds the first meeting)."""

    appointment_id: str
    created: bool


def schedule_meeting(access: CareRecordAccess, request: MeetingRequest, token: str) -> MeetingMade:
    """Book the meeting, with the asker as its organiser and an attendee. Sending the same
    form again (the same one-time `token`) finds the first meeting and books nothing.
    InvalidMeeting says what is wrong; nothing is saved then."""
    problems = check_meeting(access, request)
    if not _TOKEN.fullmatch(token):
        problems.append(Problem(None, "This form was not sent as expected: open it again"))
    if problems:
        raise InvalidMeeting(problems)
    assert request.day is not None
    start, _ = start_of(request.day, request.start_time)
    assert start is not None
    minutes = int(request.minutes)
    end = (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(UK)
    principal = access.principal
    organiser = staff_member(access, str(principal.practitioner_role_id))
    organiser_ref = {
        "reference": f"PractitionerRole/{organiser.practitioner_role_id}",
        "display": organiser.name,
    }
    participants = [attending(organiser_ref, "accepted")]
    invited = {organiser.practitioner_role_id}
    for role_id in request.attendees:
        if role_id in invited:
            continue
        invited.add(role_id)
        chosen = staff_member(access, role_id)
        participants.append(
            attending(
                {"reference": f"PractitionerRole/{role_id}", "display": chosen.name},
                "needs-action",
            )
        )
    extensions: list[dict[str, Any]] = [
        {"url": ORGANISER_EXTENSION, "valueReference": organiser_ref},
        {"url": PEOPLE_COUNT_EXTENSION, "valueUnsignedInt": 0},
    ]
    if organiser.organisation_id:
        extensions.insert(
            1,
            {
                "url": ORGANISATION_EXTENSION,
                "valueReference": {
                    "reference": f"Organization/{organiser.organisation_id}",
                    "display": organiser.organisation,
                },
            },
        )
    if request.location_id.strip():
        location = read_or_none(access, "Location", request.location_id.strip()) or {}
        participants.append(
            attending(
                {
                    "reference": f"Location/{request.location_id.strip()}",
                    "display": _text(location.get("name")) or request.location_id.strip(),
                },
                "accepted",
            )
        )
    else:
        extensions.append({"url": PLACE_EXTENSION, "valueString": request.place.strip()})
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "identifier": [submission_identifier(token)],
        "extension": extensions,
        "status": "booked",
        "serviceType": [service_type()],
        "description": request.title.strip(),
        "start": start.isoformat(timespec="seconds"),
        "end": end.isoformat(timespec="seconds"),
        "minutesDuration": minutes,
        "created": now_instant(),
        "participant": participants,
    }

    def work(tx: StoreTransaction) -> MeetingMade:
        made = tx.create(appointment, if_none_exist=if_none_exist(token))
        return MeetingMade(made.stored.id, made.created)

    return access.write("create", "Appointment", work)


def attending(actor: dict[str, str], status: str) -> dict[str, Any]:
    return {"actor": actor, "required": "required", "status": status}


# -- shared pieces -----------------------------------------------------------------------------


def meeting_in(tx: StoreTransaction, appointment_id: str) -> dict[str, Any]:
    """The meeting's Appointment as this transaction sees it (NotFound if it is not one)."""
    try:
        appointment = tx.read("Appointment", appointment_id).as_dict()
    except Gone:
        raise NotFound(f"Appointment/{appointment_id} is not known") from None
    if not is_meeting(appointment):
        raise NotFound(f"Appointment/{appointment_id} is not an MDT meeting")
    return appointment


def with_people_count(appointment: dict[str, Any], change: int) -> dict[str, Any]:
    """The Appointment with its count of people on the list moved by `change` (never below 0)."""
    extensions = [e for e in appointment.get("extension") or () if isinstance(e, dict)]
    count = 0
    for extension in extensions:
        if extension.get("url") == PEOPLE_COUNT_EXTENSION:
            value = extension.get("valueUnsignedInt")
            count = value if isinstance(value, int) else 0
    kept = [e for e in extensions if e.get("url") != PEOPLE_COUNT_EXTENSION]
    kept.append({"url": PEOPLE_COUNT_EXTENSION, "valueUnsignedInt": max(0, count + change)})
    return {**appointment, "extension": kept}


def retrying(attempt: Callable[[], _T]) -> _T:
    """Run `attempt` again when a change that landed in between made its If-Match stale
    (only for changes that add to what is there, never for a form's own version)."""
    for tries in range(_ATTEMPTS):
        try:
            return attempt()
        except VersionConflict:
            if tries == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def moment_of(value: Any) -> datetime | None:
    """A FHIR instant or dateTime with a time, as an aware datetime (UTC if it has no zone)."""
    if not isinstance(value, str) or len(value) <= 10:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _extension(resource: Mapping[str, Any], url: str, value_name: str) -> Any:
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == url:
            return extension.get(value_name)
    return None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _display(reference: Any) -> str | None:
    return _text(reference.get("display")) if isinstance(reference, dict) else None
