"""Telling the people around a person when something meaningful happens to them.

Meaningful changes (docs/care-coordination.md, "Notifications and Subscriptions"), and who is
told:

- **admission**: an `Encounter` of class IMP that is now `in-progress` (and was not);
- **emergency-attendance**: an `Encounter` that is now of class EMER (A&E);
- **discharge**: an `Encounter` of class IMP that is now `finished` (and was not);
- **plan-updated**: a `CarePlan` version after the first;
- **death**: a `Patient` that now has `deceased[x]` set (and had not);
  all of these are told to the person's care team;
- **referral-received**: a new referral `Task` (code fulfill, focus a ServiceRequest), told
  to the receiving organisation (`ServiceRequest.performer`) and the Task's `owner`;
- **task-assigned**: any other open Task (a mention in a note, an MDT or care plan action, a
  discharge task...) that is new with an `owner`, or whose `owner` changed, told to the new
  owner. Its words are a fixed phrase for its task type and the due date, never its
  description (which may name the person); a mention names who asked. Whoever the Task
  records as making this version is not told (see `_set_by`): observers are not given the
  writer, so the Task's own `requester` (a new Task) or the author of a note this version
  added (an owner change) stands for them;
- **task-overdue**: an open Task whose due date (`restriction.period.end`) has passed, told
  to the Task's `owner`.

"The care team" is the user accounts of the PractitionerRoles taking part in the person's active
CareTeams (a participant whose `period.end` has passed is no longer on it). An organisation
(a performer, an owner) means the accounts of care staff at it; a PractitionerRole its own
account. Disabled accounts are never told, and **nobody is told about something they may not
see**: each recipient must be able to see the version's resource under careweave's access
rules, so a link worker on the team is not told of an admission (encounters are not shared
with link workers) but is told the plan changed. Admissions and discharges more than a week
old when written (a history being loaded) tell nobody.

Notifications are rows of the `notification` table, one per user, written by a write observer
(`watch_for_events`) in the same transaction as the version that caused them: they commit or
roll back with it. The observer looks at a version's type first and reads nothing more for
types that are never an event; only when an event fires does it find the care team. Overdue
tasks are about time, not a write: `notify_overdue_tasks` is a sweep the background worker runs,
and `overdue_task_notice` remembers each task and due date told, so each is told once.

The list a user reads is theirs alone. It names the person only if they may still see that
person's record when they read it (`people_named`, through the guard).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    exists,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from careweave.access.accounts import USER_COLUMNS, UserAccount, principal_for_user, user_from_row
from careweave.access.guard import CareRecordAccess
from careweave.access.policy import visibility_for
from careweave.access.roles import CARE_ROLES
from careweave.access.sharing import Agreement, active_agreements, shared_view
from careweave.coordination.codes import (
    CLOSED_TASK_STATUSES,
    EMERGENCY_CLASS,
    FULFIL,
    INPATIENT_CLASS,
    TASK_TYPE,
    has_code,
)
from careweave.coordination.notes import RESPOND_TO_MESSAGE
from careweave.coordination.people import PersonBanner, banner_of
from careweave.coordination.record import UK, find, referenced_id
from careweave.fhir.errors import Gone, NotFound
from careweave.fhir.search_query import parse_search
from careweave.fhir.search_values import SearchValueError, parse_fhir_date_range
from careweave.store.access_tables import user_account
from careweave.store.database import Database, as_utc, stored_time
from careweave.store.notification_tables import notification, overdue_task_notice
from careweave.store.repository import (
    FhirStore,
    StoredResource,
    WriteObserver,
    read_current,
    read_version,
)
from careweave.store.search import search
from careweave.store.tables import resource, token_index
from careweave.store.visibility import Visibility, visible_pks
from careweave.uk_time import uk_day

KINDS: Final[Mapping[str, str]] = {
    "admission": "Admitted to hospital",
    "emergency-attendance": "A&E attendance",
    "discharge": "Discharged from hospital",
    "plan-updated": "Care plan updated",
    "referral-received": "Referral received",
    "task-assigned": "Task for you",
    "task-overdue": "Task overdue",
    "death": "Died",
    "social-prescribing-outcome": "Social prescribing outcome",
}
"""Each kind of notification and what it is called in the list."""

RECENT: Final = timedelta(days=7)
"""Hospital stays that started (or ended) longer ago than this when written are history being
recorded, not news: nobody is told."""
MAX_SHOWN: Final = 200


@dataclass(frozen=True)
class Event:
    """Something meaningful that happened, and whom to tell."""

    kind: str
    text: str
    patient_id: str | None
    link: str | None
    resource_type: str
    resource_id: str
    version_id: int | None
    care_team: bool = False
    practitioner_roles: frozenset[str] = frozenset()
    organisations: frozenset[str] = frozenset()
    not_told: frozenset[str] = frozenset()
    """PractitionerRoles who made the change themselves, so need not be told of it."""


# -- which versions are events ------------------------------------------------------------------


def _previous(conn: Connection, version: StoredResource) -> dict[str, Any] | None:
    """The version before `version` (None for a first version, or after a delete)."""
    if version.version_id <= 1:
        return None
    try:
        return read_version(
            conn, version.resource_type, version.id, version.version_id - 1
        ).as_dict()
    except (NotFound, Gone):
        return None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object element, or an empty one when it is missing or not an object."""
    return value if isinstance(value, dict) else {}


def _class_code(encounter: Mapping[str, Any] | None) -> str | None:
    """IMP or EMER when the Encounter's class is that v3 ActCode, else None."""
    klass = encounter.get("class") if encounter else None
    if not isinstance(klass, dict):
        return None
    for system, code in (INPATIENT_CLASS, EMERGENCY_CLASS):
        if klass.get("code") == code and klass.get("system") in (system, None):
            return code
    return None


def _organisation_name(conn: Connection, reference: Any) -> str | None:
    organisation_id = referenced_id(reference, "Organization")
    if organisation_id is None:
        return None
    try:
        name = read_current(conn, "Organization", organisation_id).as_dict().get("name")
    except (NotFound, Gone):
        return None
    return name if isinstance(name, str) and name.strip() else None


def _moment(value: Any) -> datetime | None:
    """The start of a FHIR date or dateTime, naive UTC (None when it is not one)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_fhir_date_range(value).start
    except SearchValueError:
        return None


def _recent(value: Any, now: datetime) -> bool:
    moment = _moment(value)
    return moment is None or moment >= now - RECENT


def _person_link(patient_id: str, tab: str = "") -> str:
    return f"/people/{patient_id}{tab}"


def _encounter_event(
    conn: Connection, version: StoredResource, body: dict[str, Any], now: datetime
) -> Event | None:
    klass = _class_code(body)
    patient_id = referenced_id(body.get("subject"), "Patient")
    if klass is None or patient_id is None:
        return None
    status = body.get("status")
    previous = _previous(conn, version)
    was_class, was_status = _class_code(previous), (previous or {}).get("status")
    period = _object(body.get("period"))
    hospital = _organisation_name(conn, body.get("serviceProvider"))
    at = f" ({hospital})" if hospital else ""

    def event(kind: str, text: str) -> Event:
        return Event(
            kind,
            text,
            patient_id,
            _person_link(patient_id, "/timeline"),
            "Encounter",
            version.id,
            version.version_id,
            care_team=True,
        )

    if klass == "EMER":
        if was_class == "EMER" or status in ("planned", "cancelled", "entered-in-error"):
            return None
        if not _recent(period.get("start"), now):
            return None
        return event("emergency-attendance", f"Attended A&E{at}")
    if status == "in-progress" and (was_class, was_status) != ("IMP", "in-progress"):
        if not _recent(period.get("start"), now):
            return None
        return event("admission", f"Admitted to hospital{at}")
    if status == "finished" and was_status != "finished":
        if not _recent(period.get("end"), now):
            return None
        return event("discharge", f"Discharged from hospital{at}")
    return None


def _deceased(patient: Mapping[str, Any] | None) -> bool:
    if not patient:
        return False
    return patient.get("deceasedBoolean") is True or isinstance(
        patient.get("deceasedDateTime"), str
    )


def _patient_event(
    conn: Connection, version: StoredResource, body: dict[str, Any], now: datetime
) -> Event | None:
    if not _deceased(body):
        return None
    previous = _previous(conn, version)
    if previous is None or _deceased(previous):
        return None
    died = _moment(body.get("deceasedDateTime"))
    text = f"Died on {_day_words(died.date())}" if died else "Recorded as having died"
    return Event(
        "death",
        text,
        version.id,
        _person_link(version.id),
        "Patient",
        version.id,
        version.version_id,
        care_team=True,
    )


def _care_plan_event(
    conn: Connection, version: StoredResource, body: dict[str, Any], now: datetime
) -> Event | None:
    patient_id = referenced_id(body.get("subject"), "Patient")
    if version.version_id <= 1 or patient_id is None:
        return None
    title = body.get("title")
    text = f"Care plan updated: {title}" if isinstance(title, str) and title.strip() else ""
    return Event(
        "plan-updated",
        text or "Care plan updated",
        patient_id,
        _person_link(patient_id, "/care-plan"),
        "CarePlan",
        version.id,
        version.version_id,
        care_team=True,
    )


def _holders(references: Iterable[Any]) -> tuple[frozenset[str], frozenset[str]]:
    """The PractitionerRole ids and Organization ids among some References."""
    roles: set[str] = set()
    organisations: set[str] = set()
    for reference in references:
        role = referenced_id(reference, "PractitionerRole")
        organisation = referenced_id(reference, "Organization")
        if role:
            roles.add(role)
        if organisation:
            organisations.add(organisation)
    return frozenset(roles), frozenset(organisations)


def _concept_words(value: Any) -> str | None:
    """A CodeableConcept's text, or its first coding's display."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("text"), str) and value["text"].strip():
        return str(value["text"]).strip()
    for c in value.get("coding") or ():
        if isinstance(c, dict) and isinstance(c.get("display"), str):
            return str(c["display"])
    return None


def _task_event(
    conn: Connection, version: StoredResource, body: dict[str, Any], now: datetime
) -> Event | None:
    if not has_code(body.get("code"), *FULFIL):
        return _assigned_event(conn, version, body)
    if version.version_id != 1:
        return None
    request_id = referenced_id(body.get("focus"), "ServiceRequest")
    if request_id is None:
        return None
    try:
        request = read_current(conn, "ServiceRequest", request_id).as_dict()
    except (NotFound, Gone):
        return None
    patient_id = referenced_id(body.get("for"), "Patient") or referenced_id(
        request.get("subject"), "Patient"
    )
    roles, organisations = _holders([*(request.get("performer") or ()), body.get("owner")])
    service = _concept_words(request.get("code"))
    return Event(
        "referral-received",
        f"Referral received: {service}" if service else "Referral received",
        patient_id,
        _person_link(patient_id, "/referrals") if patient_id else None,
        "Task",
        version.id,
        version.version_id,
        practitioner_roles=roles,
        organisations=organisations,
    )


TASK_PHRASES: Final[Mapping[str, str]] = {
    "care-plan-action": "Action from a care plan",
    "review-care-plan": "Care plan to review",
    "mdt-action": "Action from an MDT meeting",
    "discharge-to-assess": "Discharge to assess",
    "discharge-dependency": "Needed before a discharge",
    "first-48-hours": "First 48 hours at home after a discharge",
    "post-discharge-check": "Check how the first 48 hours at home went",
}
"""What a task of each local type is called when its owner is told of it. Fixed words, not
the Task's description or code text, which are free text and may name the person."""


def _task_type(task: Mapping[str, Any]) -> str | None:
    for c in _object(task.get("code")).get("coding") or ():
        if isinstance(c, dict) and c.get("system") == TASK_TYPE and isinstance(c.get("code"), str):
            return str(c["code"])
    return None


def _owner_reference(task: Mapping[str, Any] | None) -> str | None:
    owner = _object((task or {}).get("owner")).get("reference")
    return owner if isinstance(owner, str) and owner else None


def _set_by(previous: Mapping[str, Any] | None, body: Mapping[str, Any]) -> frozenset[str]:
    """The PractitionerRoles the Task records as making this version: for a new Task its
    `requester`, for a later one the authors of the notes it added ("Assigned to ..."). The
    write observer is not given the writer, so this is the nearest the Task itself says."""
    if previous is None:
        return _holders([body.get("requester")])[0]
    earlier, notes = previous.get("note"), body.get("note")
    before = len(earlier) if isinstance(earlier, list) else 0
    added = notes[before:] if isinstance(notes, list) else []
    return _holders([_object(n).get("authorReference") for n in added])[0]


def _task_words(task: Mapping[str, Any], task_type: str | None) -> str:
    due = _due_text(task)
    day = due_day(due) if due else None
    if task_type == RESPOND_TO_MESSAGE:
        asker = _object(task.get("requester")).get("display")
        who = f" ({asker.strip()})" if isinstance(asker, str) and asker.strip() else ""
        by = f": reply by {_day_words(day)}" if day else ""
        return f"Asked to reply to a note{who}{by}"
    phrase = TASK_PHRASES.get(task_type or "", "Task assigned to you")
    return f"{phrase}: due {_day_words(day)}" if day else phrase


def _assigned_event(
    conn: Connection, version: StoredResource, body: dict[str, Any]
) -> Event | None:
    """A Task that is now someone's to do: new with an owner, or given a new owner, and open.
    (A draft is not yet ready to be done, so it is not news either.)"""
    owner = _owner_reference(body)
    if owner is None or body.get("status") in CLOSED_TASK_STATUSES | {"draft"}:
        return None
    previous = _previous(conn, version) if version.version_id > 1 else None
    if version.version_id > 1 and (previous is None or _owner_reference(previous) == owner):
        return None
    roles, organisations = _holders([body.get("owner")])
    if not roles and not organisations:
        return None
    task_type = _task_type(body)
    patient_id = referenced_id(body.get("for"), "Patient")
    note = "/note" if task_type == RESPOND_TO_MESSAGE else ""
    return Event(
        "task-assigned",
        _task_words(body, task_type),
        patient_id,
        f"/tasks/{version.id}{note}",
        "Task",
        version.id,
        version.version_id,
        practitioner_roles=roles,
        organisations=organisations,
        not_told=_set_by(previous, body),
    )


Classifier = Callable[[Connection, StoredResource, dict[str, Any], datetime], Event | None]
CLASSIFIERS: Final[Mapping[str, Classifier]] = {
    "Encounter": _encounter_event,
    "Patient": _patient_event,
    "CarePlan": _care_plan_event,
    "Task": _task_event,
}
"""The only types a write can be an event of; any other type is passed over unread."""


def events_in(conn: Connection, versions: Sequence[StoredResource], now: datetime) -> list[Event]:
    """The events among the versions a transaction wrote, in the order written."""
    found: list[Event] = []
    for version in versions:
        classify = CLASSIFIERS.get(version.resource_type)
        if classify is None or version.deleted or version.content is None:
            continue
        event = classify(conn, version, version.as_dict(), now)
        if event is not None:
            found.append(event)
    return found


# -- who is told ------------------------------------------------------------------------------


def _day_words(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def care_team_roles(
    conn: Connection, store: FhirStore, patient_id: str, today: date
) -> frozenset[str]:
    """The PractitionerRoles taking part in the person's active CareTeams today."""
    query = parse_search(
        "CareTeam",
        [("patient", f"Patient/{patient_id}"), ("status", "active"), ("_count", "100")],
        store.registry,
    )
    roles: set[str] = set()
    for _, _, content in search(conn, query).matches:
        for participant in orjson.loads(content).get("participant") or ():
            if not isinstance(participant, dict):
                continue
            period = _object(participant.get("period"))
            ended = _moment(period.get("end"))
            if ended is not None and ended.date() < today:
                continue
            role = referenced_id(participant.get("member"), "PractitionerRole")
            if role:
                roles.add(role)
    return frozenset(roles)


def accounts_for(
    conn: Connection, roles: Iterable[str], organisations: Iterable[str]
) -> list[UserAccount]:
    """Enabled accounts holding one of `roles`, or of care staff at one of `organisations`."""
    wanted_roles, wanted_organisations = sorted(set(roles)), sorted(set(organisations))
    if not wanted_roles and not wanted_organisations:
        return []
    u = user_account
    conditions: list[ColumnElement[bool]] = []
    if wanted_roles:
        conditions.append(u.c.practitioner_role_id.in_(wanted_roles))
    if wanted_organisations:
        conditions.append(
            and_(
                u.c.organisation_id.in_(wanted_organisations),
                u.c.role.in_(sorted(role.value for role in CARE_ROLES)),
            )
        )
    rows = conn.execute(
        select(*USER_COLUMNS).where(u.c.disabled == false(), or_(*conditions)).order_by(u.c.pk)
    ).all()
    return [user_from_row(row) for row in rows]


@dataclass
class Audience:
    """Works out who may be told: each account's view of the record is built once."""

    agreements: list[Agreement]
    _views: dict[int, Visibility | None] = field(default_factory=dict)

    def may_see(self, conn: Connection, user: UserAccount, pk: int, resource_type: str) -> bool:
        if user.pk not in self._views:
            principal = principal_for_user(user)
            view = shared_view(self.agreements, principal.organisation_id, principal.role)
            self._views[user.pk] = visibility_for(principal, view)
        visibility = self._views[user.pk]
        return visibility is None or bool(visible_pks(conn, visibility, [(pk, resource_type)]))


def tell(
    conn: Connection,
    store: FhirStore,
    events: Sequence[Event],
    now: datetime,
    audience: Audience | None = None,
) -> int:
    """Write a notification for everyone each event is for and who may see what caused it;
    one per person, kind and whose record, however often it happened in one go. Returns how
    many were written."""
    if not events:
        return 0
    audience = audience or Audience(active_agreements(store.database))
    today = now.replace(tzinfo=UTC).astimezone(UK).date()
    rows: dict[tuple[int, str, str | None], dict[str, Any]] = {}
    for event in events:
        roles = set(event.practitioner_roles)
        if event.care_team and event.patient_id:
            roles |= care_team_roles(conn, store, event.patient_id, today)
        accounts = accounts_for(conn, roles, event.organisations)
        if not accounts:
            continue
        pk = conn.execute(
            select(resource.c.pk).where(
                resource.c.resource_type == event.resource_type,
                resource.c.id == event.resource_id,
            )
        ).scalar()
        if pk is None:
            continue
        for account in accounts:
            key = (account.pk, event.kind, event.patient_id)
            if account.practitioner_role_id in event.not_told:
                continue
            if key in rows or not audience.may_see(conn, account, pk, event.resource_type):
                continue
            rows[key] = {
                "user_pk": account.pk,
                "patient_id": event.patient_id,
                "kind": event.kind,
                "text": event.text,
                "link": event.link,
                "resource_reference": f"{event.resource_type}/{event.resource_id}",
                "resource_version": event.version_id,
                "created": now,
                "read_at": None,
            }
    if rows:
        conn.execute(insert(notification), list(rows.values()))
    return len(rows)


def notification_observer(store: FhirStore) -> WriteObserver:
    """The write observer that tells people of the events in each transaction."""

    def observe(conn: Connection, versions: Sequence[StoredResource]) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        events = events_in(conn, versions, now)
        if events:
            tell(conn, store, events, now)

    return observe


def watch_for_events(store: FhirStore) -> None:
    """Tell people of meaningful changes in every write to `store` from now on."""
    store.observe_writes("notifications", notification_observer(store))


# -- overdue tasks ------------------------------------------------------------------------------


def _naive_utc(now: datetime | None) -> datetime:
    """`now` (aware, or naive UTC) as the naive UTC the tables hold; the present if None."""
    if now is None:
        return datetime.now(UTC).replace(tzinfo=None)
    return now if now.tzinfo is None else stored_time(now)


def due_day(due: str) -> date | None:
    """The UK day a due date or dateTime falls on (None when it is not a day or a moment),
    read as every page reads it (careweave.coordination.tasks.due_date)."""
    return uk_day(due)


def _due_text(task: Mapping[str, Any]) -> str | None:
    restriction = task.get("restriction")
    period = restriction.get("period") if isinstance(restriction, dict) else None
    end = period.get("end") if isinstance(period, dict) else None
    return end if isinstance(end, str) else None


def _open_tasks(conn: Connection) -> list[tuple[str, int, str]]:
    """(id, version, JSON) of every current Task not in a closed status."""
    r, t = resource, token_index
    closed = exists().where(
        t.c.resource_pk == r.c.pk,
        t.c.param == "status",
        t.c.code.in_(sorted(CLOSED_TASK_STATUSES)),
    )
    rows = conn.execute(
        select(r.c.id, r.c.version_id, r.c.content).where(
            r.c.resource_type == "Task", r.c.deleted == false(), not_(closed)
        )
    ).all()
    return [(row[0], int(row[1]), row[2]) for row in rows]


def _overdue_event(task_id: str, version_id: int, task: dict[str, Any], due: date) -> Event:
    patient_id = referenced_id(task.get("for"), "Patient")
    roles, organisations = _holders([task.get("owner")])
    what = task.get("description")
    if not isinstance(what, str) or not what.strip():
        what = _concept_words(task.get("code")) or "a task"
    return Event(
        "task-overdue",
        f"Task overdue: {what.strip()}. It was due on {_day_words(due)}",
        patient_id,
        _person_link(patient_id, "/referrals") if patient_id else None,
        "Task",
        task_id,
        version_id,
        practitioner_roles=roles,
        organisations=organisations,
    )


def _notice_once(conn: Connection, task_id: str, due: str, now: datetime) -> bool:
    """Remember that this task was told overdue for this due date; False if it already was
    (by an earlier sweep, or another worker at the same moment)."""
    values = {"task_id": task_id, "due": due, "noticed": now}
    statement: Any
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(overdue_task_notice).values(**values)
    else:
        statement = sqlite.insert(overdue_task_notice).values(**values)
    result = conn.execute(statement.on_conflict_do_nothing())
    return bool(result.rowcount)


def notify_overdue_tasks(store: FhirStore, *, now: datetime | None = None) -> int:
    """Tell each open Task's owner, once, that its due date has passed ("overdue": due before
    today in the UK). Returns how many tasks were newly told. `now` is aware or naive UTC."""
    moment = _naive_utc(now)
    today = moment.replace(tzinfo=UTC).astimezone(UK).date()
    with store.database.read() as conn:
        tasks = _open_tasks(conn)
        noticed = {
            (row[0], row[1])
            for row in conn.execute(
                select(overdue_task_notice.c.task_id, overdue_task_notice.c.due)
            )
        }
    overdue: list[tuple[str, int, dict[str, Any], str, date]] = []
    for task_id, version_id, content in tasks:
        body = orjson.loads(content)
        due = _due_text(body)
        day = due_day(due) if due else None
        if due is None or day is None or day >= today or (task_id, due) in noticed:
            continue
        overdue.append((task_id, version_id, body, due, day))
    if not overdue:
        return 0
    told = 0
    audience = Audience(active_agreements(store.database))
    with store.database.write() as conn:
        for task_id, version_id, body, due, day in overdue:
            if not _notice_once(conn, task_id, due, moment):
                continue
            told += 1
            tell(conn, store, [_overdue_event(task_id, version_id, body, day)], moment, audience)
    return told


# -- the list a user reads ------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One notification as its reader sees it; `created` is aware UTC."""

    pk: int
    patient_id: str | None
    kind: str
    text: str
    link: str | None
    created: datetime
    read: bool

    @property
    def what(self) -> str:
        return KINDS.get(self.kind, self.kind)


def notifications_for(
    database: Database, user_pk: int, *, limit: int = MAX_SHOWN
) -> list[Notification]:
    """The user's own notifications, newest first."""
    n = notification
    with database.read() as conn:
        rows = conn.execute(
            select(n.c.pk, n.c.patient_id, n.c.kind, n.c.text, n.c.link, n.c.created, n.c.read_at)
            .where(n.c.user_pk == user_pk)
            .order_by(n.c.created.desc(), n.c.pk.desc())
            .limit(limit)
        ).all()
    return [
        Notification(
            int(row[0]), row[1], row[2], row[3], row[4], as_utc(row[5]), row[6] is not None
        )
        for row in rows
    ]


def unread_count(database: Database, user_pk: int) -> int:
    n = notification
    with database.read() as conn:
        count = conn.execute(
            select(func.count()).where(n.c.user_pk == user_pk, n.c.read_at.is_(None))
        ).scalar_one()
    return int(count)


def mark_read(
    database: Database,
    user_pk: int,
    notification_pk: int | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Mark all the user's unread notifications read (`notification_pk` None), or one of
    theirs (already read stays as it was). Returns how many it applied to: 0 for one that is
    not theirs, which is left alone."""
    n = notification
    moment = stored_time(now or datetime.now(UTC))
    with database.write() as conn:
        if notification_pk is None:
            statement = (
                update(n)
                .where(n.c.user_pk == user_pk, n.c.read_at.is_(None))
                .values(read_at=moment)
            )
        else:
            statement = (
                update(n)
                .where(n.c.user_pk == user_pk, n.c.pk == notification_pk)
                .values(read_at=func.coalesce(n.c.read_at, moment))
            )
        result = conn.execute(statement)
    return int(result.rowcount)


def people_named(access: CareRecordAccess, patient_ids: Iterable[str]) -> dict[str, PersonBanner]:
    """The people among `patient_ids` whose record the asker may see now, by id (one guarded
    search, so naming them in the list is recorded like any other look at a record)."""
    wanted = sorted(set(patient_ids))
    found: dict[str, PersonBanner] = {}
    for start in range(0, len(wanted), 100):
        chunk = wanted[start : start + 100]
        for patient in find(access, "Patient", [("_id", ",".join(chunk))]):
            banner = banner_of(patient)
            found[banner.patient_id] = banner
    return found
