"""The coordination of older people's care in the synthetic place: who has a named coordinator
and a shared care team, a personalised care and support plan, referrals, appointments coming
up, and who is in hospital on the record date with their discharge to assess.

It is what the care coordination web app shows, held exactly as docs/care-coordination.md says.
For each living person aged 65+ it is drawn from their own stream, `stream(seed,
"coordination", index)`, after their record is built and from what the record holds (eFI
category, conditions and deficits, care received, carer, hospital stays): nothing drawn here
changes a byte of the record, and any person's coordination can be generated alone, in any
process. The resources come after the person's record and refer only to it, to the person and
to the place; their ids are derived from the person (`p123-ct1` CareTeam, `-cp1` CarePlan, `-g`
Goal, `-t` Task, `-rf` ServiceRequest, `-cm` Communication, `-ap` Appointment, `-ip1` the
admission in progress). People who died in the year before the record date have none of it.

In order, for one person: are they in hospital now (`coordination_discharge`); do they have a
named coordinator (`NEEDS`: moderate or severe frailty, a care package or care home, a recent
admission, four or more long-term conditions, each raising the chance); if so their CareTeam,
and for most a plan (`coordination_plan`); their admission and discharge, or recent discharge;
their referrals (`coordination_referrals`); appointments coming up. Every number is in
docs/synthetic-data.md, "Care coordination", with its source or marked as an assumption.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

from careweave.coordination import codes
from careweave.coordination.codes import concept
from careweave.synth.coordination_discharge import (
    MEDICALLY_OPTIMISED_SHARE,
    PATHWAY_SHARES,
    draw_admission,
    in_hospital_now,
    recent_stays,
    recently_discharged,
)
from careweave.synth.coordination_plan import OVERDUE_SHARE, PLAN_SHARE, Plan, care_plan
from careweave.synth.coordination_referrals import referrals
from careweave.synth.coordination_situation import (
    RECENT_ADMISSION_DAYS,
    Resources,
    Services,
    Situation,
    day,
    instant,
    pick,
    reference,
    situation_of,
)
from careweave.synth.hospital import IN_HOSPITAL_SHARE
from careweave.synth.model import Person, RecordOutcome, StaffMember
from careweave.synth.older_person import OlderPersonFacts

__all__ = [
    "COORDINATION_STREAM",
    "COORDINATION_TARGETS",
    "NEEDS",
    "Services",
    "coordination_chance",
    "coordination_resources",
]

COORDINATION_STREAM: Final = "coordination"
"""The name of each person's coordination stream: `stream(seed, COORDINATION_STREAM, index)`."""

NEEDS: Final = {
    "severe-frailty": 0.50,
    "moderate-frailty": 0.15,
    "care-package": 0.18,
    "care-home": 0.12,
    "recent-admission": 0.15,
    "four-or-more-conditions": 0.05,
}
"""Why someone aged 65+ needs a named coordinator, and the chance each reason gives them one:
with several reasons, chance = 1 - product of (1 - each). Tuned (assumption) so that about 5.5%
of living people 65+ (1% of the registered list) have one: proactive care starts with moderate
and severe frailty at home (NHS England 2024, BGS "Be proactive" 2024); the Avoiding Unplanned
Admissions enhanced service (2014-16) case-managed 2% of adults; a network of 40,000 with two
care coordinators then holds about 200 people each."""
CARE_HOME_SHARE_IN_HOSPITAL: Final = 0.05
"""About 5% of people 65+ in hospital live in a care home (2.7% of the living 65+, admitted
about twice as often): they go back on pathway 0, which moves the pathway shares a little."""
COORDINATION_TARGETS: Final[dict[str, float]] = {
    "coordinator_65+": 5.5,
    "coordinator_everyone": 1.0,
    "plan_of_coordinated": 100 * PLAN_SHARE,
    "overdue_of_open_actions": 100 * OVERDUE_SHARE,
    "referred_65+": 4.5,
    "in_hospital_65+": 100 * IN_HOSPITAL_SHARE,
    "pathway_0": round(
        100
        * (CARE_HOME_SHARE_IN_HOSPITAL + (1 - CARE_HOME_SHARE_IN_HOSPITAL) * PATHWAY_SHARES["0"]),
        1,
    ),
    "pathway_1": round(100 * (1 - CARE_HOME_SHARE_IN_HOSPITAL) * PATHWAY_SHARES["1"], 1),
    "medically_optimised": MEDICALLY_OPTIMISED_SHARE,
}
"""What the coordination of the place should show, in percent (docs/synthetic-data.md, "Care
coordination"): of the living 65+ for the coordinator, referrals and stays in hospital; of the
registered list for `coordinator_everyone` (5.5% of the 17.8% who are 65+ and alive); of people
with a coordinator for plans; of open plan actions; of people in hospital for the rest."""
LINK_WORKER_IF_LONELY: Final = 0.35
LINK_WORKER_OTHERWISE: Final = 0.08
"""Shares of care teams with a social prescribing link worker (assumption)."""
DISTRICT_NURSE_SHARE: Final = 0.3
"""Share of care teams' community nurses who are district nurses (assumption)."""
TEAM_YEARS_MEAN: Final = 400
TEAM_YEARS_MAX: Final = 1460
"""Days since the team formed: exponential, mean 400 days, at most 4 years (assumption)."""

_CATEGORY: Final = concept(
    *codes.CARE_TEAM_CATEGORY, "Longitudinal care-coordination focused care team"
)
_ROLE_DISPLAY: Final = {codes.COORDINATOR: "Coordinator", codes.MEMBER: "Member"}
APPOINTMENT_TYPES: Final = {
    "gp-review": "GP review",
    "practice-nurse-review": "Practice nurse review",
    "community-nurse-visit": "Community nurse home visit",
    "care-plan-review": "Care plan review",
}
"""Appointment.serviceType codes in careweave's appointment-type system
(careweave.coordination.codes.APPOINTMENT_TYPE), besides `mdt-meeting`: new, local codes."""


def needs(situation: Situation, admitted: int | None) -> list[str]:
    """The reasons, of `NEEDS`, this person has for a named coordinator."""
    found = []
    if situation.category == "severe":
        found.append("severe-frailty")
    elif situation.category == "moderate":
        found.append("moderate-frailty")
    if situation.home_care_since is not None:
        found.append("care-package")
    if situation.care_home is not None:
        found.append("care-home")
    recent = situation.as_of - RECENT_ADMISSION_DAYS
    if admitted is not None or any(stay.start >= recent for stay in situation.stays):
        found.append("recent-admission")
    if situation.long_term_conditions >= 4:
        found.append("four-or-more-conditions")
    return found


def coordination_chance(reasons: list[str]) -> float:
    """The chance of a named coordinator with these reasons (0 with none)."""
    left = 1.0
    for reason in reasons:
        left *= 1.0 - NEEDS[reason]
    return 1.0 - left


@dataclass(frozen=True)
class Team:
    """The person's shared care team, as the rest of their coordination needs it."""

    care_team_id: str
    coordinator: StaffMember
    since: int  # date ordinal the team formed
    community_nurse: StaffMember | None


def _coordinator(situation: Situation, rng: random.Random) -> StaffMember | None:
    """A care coordinator of the person's network (else a practice nurse, else a GP)."""
    for role in ("care-coordinator", "practice-nurse", "gp"):
        staff = situation.practice_staff(role)
        if staff:
            return pick(staff, rng)
    return None


def _participant(member: StaffMember, team_role: str, since: int) -> dict[str, Any]:
    return {
        "role": [concept(codes.CARE_TEAM_ROLE, team_role, _ROLE_DISPLAY[team_role])],
        "member": member.role_reference,
        "onBehalfOf": member.organisation.reference,
        "period": {"start": day(since)},
    }


def care_team(
    situation: Situation,
    out: Resources,
    reasons: list[str],
    admitted: int | None,
    rng: random.Random,
) -> Team | None:
    """The CareTeam: the coordinator, the GP, and who else the person's care brings in."""
    coordinator = _coordinator(situation, rng)
    if coordinator is None:
        return None
    as_of = situation.as_of
    if reasons == ["recent-admission"]:
        start = admitted if admitted is not None else situation.stays[-1].start
        since = rng.randint(min(start, as_of), as_of)
    else:
        since = as_of - min(int(rng.expovariate(1 / TEAM_YEARS_MEAN)), TEAM_YEARS_MAX)
    participants = [_participant(coordinator, codes.COORDINATOR, since)]
    gp = situation.gp()
    if gp is not None and gp != coordinator:
        participants.append(_participant(gp, codes.MEMBER, since))
    nurse: StaffMember | None = None
    nursing_home = situation.care_home is not None and situation.care_home.nursing
    if (situation.housebound or situation.category == "severe") and not nursing_home:
        services = situation.services
        district = rng.random() < DISTRICT_NURSE_SHARE
        nurses = services.in_role("district-nurse" if district else "community-nurse")
        nurses = nurses or services.in_role("community-nurse")
        if nurses:
            nurse = pick(nurses, rng)
            participants.append(_participant(nurse, codes.MEMBER, since))
    worker = situation.social_worker
    if worker is not None and (situation.home_care_since is not None or situation.care_home):
        joined = max(since, situation.home_care_since or since)
        participants.append(_participant(worker, codes.MEMBER, min(joined, as_of)))
    if situation.care_home is not None:
        managers = [m for m in situation.care_home.staff if m.role == "care-home-manager"]
        if managers:
            participants.append(_participant(managers[0], codes.MEMBER, since))
    elif rng.random() < (LINK_WORKER_IF_LONELY if situation.lonely else LINK_WORKER_OTHERWISE):
        link_workers = situation.practice_staff("link-worker")
        if link_workers:
            participants.append(_participant(pick(link_workers, rng), codes.MEMBER, since))
    team_id = out.new_id("ct")
    out.add(
        {
            "resourceType": "CareTeam",
            "id": team_id,
            "status": "active",
            "category": [_CATEGORY],
            "name": "Care team",
            "subject": situation.subject,
            "period": {"start": day(since)},
            "participant": participants,
            "managingOrganization": [coordinator.organisation.reference],
        }
    )
    return Team(team_id, coordinator, since, nurse)


def _weekday_after(situation: Situation, days: int, rng: random.Random) -> tuple[int, int]:
    """A weekday `days` or a little more after the record date, and a time (minutes, UTC)."""
    when = situation.as_of + days
    while when % 7 in (0, 6):  # date ordinal 0 mod 7 is a Sunday, 6 a Saturday
        when += 1
    return when, rng.randint(18, 31) * 30  # 09:00 to 15:30


def _appointment(
    situation: Situation,
    out: Resources,
    kind: str,
    who: StaffMember,
    days: int,
    minutes: int,
    location: str | None,
    rng: random.Random,
) -> None:
    when, start = _weekday_after(situation, days, rng)
    participants: list[dict[str, Any]] = [
        {"actor": situation.subject, "required": "required", "status": "accepted"},
        {"actor": who.role_reference, "required": "required", "status": "accepted"},
    ]
    if location is not None:
        participants.append(
            {"actor": reference("Location", location), "required": "required", "status": "accepted"}
        )
    out.add(
        {
            "resourceType": "Appointment",
            "id": out.new_id("ap"),
            "status": "booked",
            "serviceType": [concept(codes.APPOINTMENT_TYPE, kind, APPOINTMENT_TYPES[kind])],
            "description": APPOINTMENT_TYPES[kind] + ("" if location else " (at home)"),
            "start": instant(when, start),
            "end": instant(when, start + minutes),
            "minutesDuration": minutes,
            "created": day(situation.as_of - rng.randint(0, 20)),
            "participant": participants,
        }
    )


def appointments(
    situation: Situation, out: Resources, team: Team, plan: Plan | None, rng: random.Random
) -> None:
    """Appointments in the next four weeks: a GP or practice nurse review at the surgery, a
    community nurse's visit at home, a plan review with the coordinator (assumption: shares)."""
    surgery = situation.person.practice.location_id
    at_home = situation.care_home is not None or situation.housebound
    gp = situation.gp()
    roll = rng.random()
    if gp is not None and roll < 0.25:
        _appointment(
            situation, out, "gp-review", gp, rng.randint(1, 28), 15, _where(at_home, surgery), rng
        )
    elif roll < 0.4:
        nurses = situation.practice_staff("practice-nurse")
        if nurses:
            _appointment(
                situation,
                out,
                "practice-nurse-review",
                pick(nurses, rng),
                rng.randint(1, 28),
                20,
                _where(at_home, surgery),
                rng,
            )
    if team.community_nurse is not None and rng.random() < 0.6:
        _appointment(
            situation,
            out,
            "community-nurse-visit",
            team.community_nurse,
            rng.randint(1, 14),
            30,
            None,
            rng,
        )
    if plan is not None and plan.next_review <= situation.as_of + 28 and rng.random() < 0.7:
        days = max(1, plan.next_review - situation.as_of)
        _appointment(situation, out, "care-plan-review", team.coordinator, days, 45, None, rng)


def _where(at_home: bool, surgery: str) -> str | None:
    return None if at_home else surgery


def coordination_resources(
    person: Person,
    outcome: RecordOutcome,
    facts: OlderPersonFacts,
    services: Services,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """The coordination resources of one person aged 65+, in write order (none if they died)."""
    if facts.deceased is not None:
        return []
    situation = situation_of(person, outcome, facts, services)
    out = Resources(person.patient_id)
    admitted = draw_admission(situation, rng)
    reasons = needs(situation, admitted)
    team: Team | None = None
    if reasons and rng.random() < coordination_chance(reasons):
        team = care_team(situation, out, reasons, admitted, rng)
    plan: Plan | None = None
    if team is not None and rng.random() < PLAN_SHARE:
        plan = care_plan(situation, out, team.care_team_id, team.since, team.coordinator, rng)
    if admitted is not None:
        in_hospital_now(situation, out, admitted, rng)
    coordinator = team.coordinator if team is not None else None
    for stay in recent_stays(situation):
        recently_discharged(situation, out, stay, coordinator, rng)
    referrals(situation, out, coordinator, rng)
    if team is not None and admitted is None:
        appointments(situation, out, team, plan, rng)
    return out.in_write_order()
