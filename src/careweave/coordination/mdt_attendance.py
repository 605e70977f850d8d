"""Who came to an MDT meeting, and whether it was held: inviting more people, recording
attendance afterwards, and marking the meeting held or cancelled (docs/care-coordination.md,
"MDT meetings").

Attendance is the participants' status on the meeting's Appointment: `accepted` means attended
and `declined` did not attend once the meeting has begun (before it, they are the answers to
the invitation; `needs-action` is not yet known). These changes replace the Appointment's
version the form showed, so a change someone else made meanwhile is reported (ChangedMeanwhile)
rather than overwritten; inviting people only adds, so it is applied to the current version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination.care_team import UnknownStaff, staff_member
from careweave.coordination.mdt import (
    MAX_REASON,
    MEETING_CHANGED,
    ChangedMeanwhile,
    MeetingProblem,
    NotNow,
    attending,
    check_takes_part,
    meeting,
    meeting_in,
    retrying,
)
from careweave.coordination.record import referenced_id, version_of
from careweave.fhir.errors import VersionConflict
from careweave.store.repository import StoreTransaction

# -- attendance --------------------------------------------------------------------------------


def add_attendees(
    access: CareRecordAccess, appointment_id: str, practitioner_role_ids: Sequence[str]
) -> int:
    """Invite more people (PractitionerRoles from any organisation) to a meeting that is not
    cancelled; those already invited are left as they are. Returns how many were added.

    It only adds, so it writes on the version it reads and tries again if another change
    landed in between: nobody's change is lost and no form goes stale."""
    current = meeting(access, appointment_id)
    check_takes_part(access, current)
    if current.status == "cancelled":
        raise NotNow("This meeting has been cancelled")
    if not practitioner_role_ids:
        raise MeetingProblem("Select who you want to add", "attendees")
    chosen = []
    for role_id in dict.fromkeys(practitioner_role_ids):
        try:
            chosen.append(staff_member(access, role_id))
        except UnknownStaff:
            raise MeetingProblem("Select people from the list", "attendees") from None

    def work(tx: StoreTransaction) -> int:
        appointment = meeting_in(tx, appointment_id)
        if appointment.get("status") == "cancelled":
            raise NotNow("This meeting has been cancelled")
        participants = list(appointment.get("participant") or [])
        present = {
            referenced_id(p.get("actor"), "PractitionerRole")
            for p in participants
            if isinstance(p, dict)
        }
        added = 0
        for choice in chosen:
            if choice.practitioner_role_id in present:
                continue
            reference = {
                "reference": f"PractitionerRole/{choice.practitioner_role_id}",
                "display": choice.name,
            }
            participants.append(attending(reference, "needs-action"))
            added += 1
        if added:
            appointment["participant"] = participants
            tx.update("Appointment", appointment_id, appointment, if_match=version_of(appointment))
        return added

    return retrying(lambda: access.write("update", f"Appointment/{appointment_id}", work))


def record_attendance(
    access: CareRecordAccess,
    appointment_id: str,
    version: int,
    attended: Mapping[str, bool],
) -> None:
    """Record who attended (participant status `accepted`) and who did not (`declined`), for
    a meeting that has begun, on the version the form showed (ChangedMeanwhile if stale)."""
    current = meeting(access, appointment_id)
    check_takes_part(access, current)
    if current.status == "cancelled":
        raise NotNow("This meeting was cancelled, so there is no attendance to record")
    if not current.started():
        raise NotNow("You can record who attended once the meeting has started")
    unknown = set(attended) - {a.practitioner_role_id for a in current.attendees}
    if unknown:
        raise MeetingProblem("Record attendance for the people invited to this meeting")

    def work(tx: StoreTransaction) -> None:
        appointment = meeting_in(tx, appointment_id)
        if version_of(appointment) != version:
            raise ChangedMeanwhile(MEETING_CHANGED)
        for participant in appointment.get("participant") or ():
            if not isinstance(participant, dict):
                continue
            role_id = referenced_id(participant.get("actor"), "PractitionerRole")
            if role_id is not None and role_id in attended:
                participant["status"] = "accepted" if attended[role_id] else "declined"
        tx.update("Appointment", appointment_id, appointment, if_match=version)

    _write_meeting(access, appointment_id, work)


# -- held or cancelled -------------------------------------------------------------------------

NEW_STATUSES: Final[Mapping[str, str]] = {
    "fulfilled": "The meeting was held",
    "cancelled": "The meeting is cancelled",
}


def set_status(
    access: CareRecordAccess,
    appointment_id: str,
    version: int,
    status: str,
    reason: str = "",
) -> None:
    """Mark a booked meeting held (`fulfilled`, once it has started) or `cancelled` (with an
    optional reason), on the version the form showed."""
    if status not in NEW_STATUSES:
        raise MeetingProblem("Select whether the meeting was held or is cancelled", "status")
    why = reason.strip()
    if len(why) > MAX_REASON:
        raise MeetingProblem(f"Reason must be {MAX_REASON:,} characters or fewer", "reason")
    current = meeting(access, appointment_id)
    check_takes_part(access, current)
    _check_booked(current.status)
    if status == "fulfilled" and not current.started():
        raise NotNow("A meeting can be marked as held once it has started", "status")

    def work(tx: StoreTransaction) -> None:
        appointment = meeting_in(tx, appointment_id)
        if version_of(appointment) != version:
            raise ChangedMeanwhile(MEETING_CHANGED)
        _check_booked(appointment.get("status"))
        appointment["status"] = status
        if status == "cancelled" and why:
            appointment["cancelationReason"] = {"text": why}
        tx.update("Appointment", appointment_id, appointment, if_match=version)

    _write_meeting(access, appointment_id, work)


def _check_booked(status: object) -> None:
    if status == "fulfilled":
        raise NotNow("This meeting has already been marked as held")
    if status == "cancelled":
        raise NotNow("This meeting has already been cancelled")


def _write_meeting(
    access: CareRecordAccess, appointment_id: str, work: Callable[[StoreTransaction], None]
) -> None:
    """Run `work` as the asker; a version that moved between the check and the write (a
    concurrent change) is reported as the form being stale."""
    try:
        access.write("update", f"Appointment/{appointment_id}", work)
    except VersionConflict:
        raise ChangedMeanwhile(MEETING_CHANGED) from None
