"""Personalised care and support plans: the CarePlan, its Goals in the person's own words, its
actions as Tasks owned across organisations, "what matters to me" in the person's (or their
carer's) words, and the plan's text sections.

Shapes are those of docs/care-coordination.md, "Personalised care and support plan". What a
plan holds follows the person's situation: a falls goal and a strength-and-balance action for
someone who falls, a carer's assessment when there is a carer, anticipatory care for severe
frailty. The phrase banks are invented and written as people talk; the shares are in
docs/synthetic-data.md, "Care coordination".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

from careweave.coordination import codes
from careweave.coordination.codes import concept
from careweave.synth.coordination_situation import Resources, Situation, day, pick, reference
from careweave.synth.coordination_words import (
    ACTIONS,
    CARER_GOALS,
    GOALS,
    NOTE_WORDS,
    QUESTIONS,
    WHAT_MATTERS,
    WHAT_MATTERS_FROM_CARER,
    Action,
)
from careweave.synth.model import StaffMember

PLAN_SHARE: Final = 0.65
"""Share of people with a named coordinator who have a personalised care and support plan on
the record (issue 6 asks for 60-70%; assumption: plans follow the first conversations)."""
REVIEW_MONTHS: Final = {"severe": 6, "moderate": 6, "mild": 12, "fit": 12}
"""Plans are reviewed every 6 months for moderate and severe frailty, else every 12 (assumption;
the PCSP standard asks for a review date, not an interval)."""
REVIEWED_SHARE: Final = 0.75
"""Share of plans older than their review interval that have been reviewed (assumption)."""
ACTION_STATUSES: Final = (
    ("completed", 0.35),
    ("in-progress", 0.25),
    ("accepted", 0.1),
    ("requested", 0.25),
    ("on-hold", 0.05),
)
"""Where a plan's actions stand (assumption)."""
OVERDUE_SHARE: Final = 0.2
"""Share of open actions due before the record date (assumption)."""
WORDS_BY_CARER: Final = 0.25
"""Share of "what matters to me" written by the carer, when there is one (assumption)."""

_GOAL_ACHIEVEMENT: Final = "http://terminology.hl7.org/CodeSystem/goal-achievement"
_ACHIEVEMENT: Final = {
    "in-progress": "In Progress",
    "improving": "Improving",
    "no-change": "No Change",
    "achieved": "Achieved",
    "not-achieved": "Not Achieved",
}

QUESTION_SHARE: Final = 0.3
"""Share of plans due for review within 8 weeks with a question for the review (assumption)."""


@dataclass(frozen=True)
class Plan:
    """What the rest of the coordination needs to know of a plan just made."""

    care_plan_id: str
    next_review: int  # date ordinal
    review_task_id: str | None


def _owner(
    situation: Situation, action: Action, coordinator: StaffMember, rng: random.Random
) -> dict[str, str] | None:
    services = situation.services
    place = services.place
    voluntary = services.voluntary
    role_staff = {
        "gp": [m for m in (situation.gp(),) if m is not None],
        "practice-nurse": list(situation.practice_staff("practice-nurse")),
        "pharmacist": list(situation.practice_staff("pharmacist")),
        "link-worker": list(situation.practice_staff("link-worker")),
        "community-nurse": list(services.in_role("community-nurse")),
        "occupational-therapist": list(services.in_role("occupational-therapist")),
        "social-worker": [situation.social_worker]
        if situation.social_worker is not None
        else list(services.in_role("social-worker")),
    }
    if action.owner in role_staff:
        staff = role_staff[action.owner]
        return pick(staff, rng).role_reference if staff else situation.practice.reference
    organisations = {
        "community-trust": place.community_trust,
        "council": place.council,
        "care-home": situation.care_home.organisation if situation.care_home else None,
        "later-life": voluntary.later_life,
        "carers": voluntary.carers,
        "transport": voluntary.transport,
        "memory-cafe": voluntary.memory_cafe,
        "good-neighbours": voluntary.good_neighbours,
        "befriending": services.befriending_for(situation.person.neighbourhood.town),
    }
    if action.owner in organisations:
        found = organisations[action.owner]
        return found.reference if found is not None else None
    if action.owner == "carer":
        return situation.carer
    return situation.subject  # the person


def _status(rng: random.Random) -> str:
    roll = rng.random()
    for status, share in ACTION_STATUSES:
        if roll < share:
            return status
        roll -= share
    return ACTION_STATUSES[-1][0]


def _choose_actions(situation: Situation, rng: random.Random) -> list[Action]:
    """2-6 actions that suit the person, at least one of them a health action."""
    suitable = [a for a in ACTIONS if a.needs(situation)]
    rng.shuffle(suitable)
    wanted = rng.randint(2, 6)
    chosen: list[Action] = []
    health = next((a for a in suitable if a.section == "health"), None)
    if health is not None:
        chosen.append(health)
    for action in suitable:
        if len(chosen) >= wanted:
            break
        if action not in chosen:
            chosen.append(action)
    return chosen


def _section(code: str) -> dict[str, Any]:
    return concept(codes.CARE_PLAN_SECTION, code, code.replace("-", " ").capitalize())


def care_plan(
    situation: Situation,
    out: Resources,
    team_id: str,
    team_since: int,
    coordinator: StaffMember,
    rng: random.Random,
) -> Plan:
    """The person's plan, its goals, actions, words and review task; returns what others need."""
    as_of = situation.as_of
    author = coordinator.role_reference
    created = team_since + int(rng.expovariate(1 / 30))
    if created > as_of:  # a team formed this last month: its plan is younger still
        created = rng.randint(min(team_since, as_of), as_of)
    interval = REVIEW_MONTHS[situation.category] * 30
    last_reviewed: int | None = None
    if as_of - created > interval * 0.8 and rng.random() < REVIEWED_SHARE:
        earliest = max(created + 60, as_of - int(interval * 1.3))
        last_reviewed = rng.randint(min(earliest, as_of), as_of)
    next_review = (last_reviewed or created) + interval
    plan_id = out.new_id("cp")
    plan_reference = reference("CarePlan", plan_id)
    since = last_reviewed or created

    goals = _goals(situation, out, since, rng)
    actions = [
        _action(situation, out, plan_reference, action, author, coordinator, since, rng)
        for action in _choose_actions(situation, rng)
    ]
    extension = [
        {"url": codes.NEXT_REVIEW_EXTENSION, "valueDate": day(next_review)},
    ]
    if last_reviewed is not None:
        extension.append({"url": codes.LAST_REVIEWED_EXTENSION, "valueDate": day(last_reviewed)})
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": plan_id,
        "extension": extension,
        "status": "active",
        "intent": "plan",
        "category": [concept(*codes.CARE_PLAN_CATEGORY, "Personalised care and support plan")],
        "title": "Personalised care and support plan",
        "subject": situation.subject,
        "period": {"start": day(created)},
        "created": day(created),
        "author": author,
        "careTeam": [reference("CareTeam", team_id)],
    }
    addresses = [ref for _key, ref in situation.condition_references[:6]]
    if addresses:
        plan["addresses"] = addresses
    plan["goal"] = [reference("Goal", goal["id"]) for goal in goals]
    plan["activity"] = [
        {"reference": {**reference("Task", task["id"]), "display": task["description"]}}
        for task in actions
    ]
    plan["note"] = _notes(situation, goals, author, since, rng)
    out.add(plan)
    for task in actions:
        out.add(task)
    review_task = _review_task(situation, out, plan_reference, author, next_review, rng)
    _words(situation, out, plan_reference, created, next_review, rng)
    return Plan(plan_id, next_review, review_task)


def _goals(
    situation: Situation, out: Resources, since: int, rng: random.Random
) -> list[dict[str, Any]]:
    suitable = [words for words, needs in GOALS if needs(situation)]
    chosen = rng.sample(suitable, min(len(suitable), rng.randint(1, 3)))
    by_carer = situation.carer is not None and rng.random() < 0.15
    found = []
    for n, words in enumerate(chosen):
        expressed = situation.subject
        if by_carer and n == len(chosen) - 1 and situation.carer is not None:
            words, expressed = pick(CARER_GOALS, rng), situation.carer
        achievement = pick(tuple(_ACHIEVEMENT), rng)
        goal = {
            "resourceType": "Goal",
            "id": out.new_id("g"),
            "lifecycleStatus": "completed" if achievement == "achieved" else "active",
            "achievementStatus": concept(_GOAL_ACHIEVEMENT, achievement, _ACHIEVEMENT[achievement]),
            "description": {"text": words},
            "subject": situation.subject,
            "startDate": day(since),
            "target": [{"dueDate": day(since + rng.choice((90, 182, 365)))}],
            "expressedBy": expressed,
        }
        found.append(out.add(goal))
    return found


def _action(
    situation: Situation,
    out: Resources,
    plan: dict[str, str],
    action: Action,
    author: dict[str, str],
    coordinator: StaffMember,
    since: int,
    rng: random.Random,
) -> dict[str, Any]:
    as_of = situation.as_of
    status = _status(rng)
    owner = _owner(situation, action, coordinator, rng) or situation.practice.reference
    authored = since + rng.randint(0, max(0, min(7, as_of - since)))
    if status == "completed":
        due = authored + rng.randint(14, 120)
        modified = min(as_of, authored + rng.randint(7, max(7, as_of - authored)))
    elif authored < as_of and rng.random() < OVERDUE_SHARE:
        due = as_of - rng.randint(1, min(60, as_of - authored))  # due after it was agreed
        modified = min(as_of, authored + rng.randint(0, 14))
    else:
        due = as_of + rng.randint(1, 90)
        modified = min(as_of, authored + rng.randint(0, 30))
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": out.new_id("t"),
        "status": status,
        "intent": "plan",
        "code": concept(codes.TASK_TYPE, "care-plan-action", "Care plan action"),
        "description": action.words,
        "basedOn": [plan],
        "for": situation.subject,
        "authoredOn": day(authored),
        "lastModified": day(max(authored, modified)),
        "requester": author,
        "performerType": [_section(action.section)],
        "owner": owner,
        "restriction": {"period": {"end": day(max(due, authored))}},
    }
    return task


def _notes(
    situation: Situation,
    goals: list[dict[str, Any]],
    author: dict[str, str],
    since: int,
    rng: random.Random,
) -> list[dict[str, Any]]:
    notes: list[tuple[str, str]] = []
    home = (
        f"Lives at {situation.care_home.organisation.name}"
        if situation.care_home is not None
        else ("Lives alone" if situation.lives_alone else "Lives with family")
    )
    carer = f"; {situation.carer_name} helps day to day" if situation.carer_name else ""
    first = goals[0]["description"]["text"] if goals else ""
    notes.append(("about-me", f"{home}{carer}. Most important to them: {first}"))
    if rng.random() < 0.7:
        words = pick(NOTE_WORDS["contingency"], rng)
        notes.append(("contingency", words.format(carer=situation.carer_name or "the family")))
    if {"copd", "falls", "dementia"} & situation.problems and rng.random() < 0.5:
        notes.append(("crisis", pick(NOTE_WORDS["crisis"], rng)))
    if situation.category == "severe" or (situation.category == "moderate" and rng.random() < 0.15):
        notes.append(("anticipatory", pick(NOTE_WORDS["anticipatory"], rng)))
    return [
        {
            "extension": [{"url": codes.SECTION_EXTENSION, "valueCode": section}],
            "authorReference": author,
            "time": day(since),
            "text": text,
        }
        for section, text in notes
    ]


def _review_task(
    situation: Situation,
    out: Resources,
    plan: dict[str, str],
    author: dict[str, str],
    next_review: int,
    rng: random.Random,
) -> str | None:
    """The open review task of a plan due for review within four weeks, or overdue."""
    if next_review > situation.as_of + 28:
        return None
    authored = min(situation.as_of, next_review - 28 + rng.randint(0, 7))
    task = out.add(
        {
            "resourceType": "Task",
            "id": out.new_id("t"),
            "status": "requested",
            "intent": "plan",
            "code": concept(codes.TASK_TYPE, "review-care-plan", "Review the care plan"),
            "description": "Review the personalised care and support plan",
            "basedOn": [plan],
            "focus": plan,
            "for": situation.subject,
            "authoredOn": day(authored),
            "lastModified": day(authored),
            "requester": author,
            "owner": author,
            "restriction": {"period": {"end": day(next_review)}},
        }
    )
    return str(task["id"])


def _communication(
    out: Resources,
    situation: Situation,
    plan: dict[str, str],
    category: str,
    display: str,
    sender: dict[str, str],
    sent: int,
    words: str,
) -> None:
    out.add(
        {
            "resourceType": "Communication",
            "id": out.new_id("cm"),
            "status": "completed",
            "category": [concept(codes.COMMUNICATION_CATEGORY, category, display)],
            "subject": situation.subject,
            "about": [plan],
            "sent": day(sent),
            "sender": sender,
            "payload": [{"contentString": words}],
        }
    )


def _words(
    situation: Situation,
    out: Resources,
    plan: dict[str, str],
    created: int,
    next_review: int,
    rng: random.Random,
) -> None:
    """What matters to the person (1-2, some from their carer) and a question for the review."""
    as_of = situation.as_of
    for words in rng.sample(WHAT_MATTERS, rng.randint(1, 2)):
        sender = situation.subject
        if situation.carer is not None and rng.random() < WORDS_BY_CARER:
            words, sender = pick(WHAT_MATTERS_FROM_CARER, rng), situation.carer
        sent = min(as_of, created - rng.randint(0, 14) + rng.randint(0, 30))
        _communication(
            out, situation, plan, "what-matters-to-me", "What matters to me", sender, sent, words
        )
    if next_review <= as_of + 56 and rng.random() < QUESTION_SHARE:
        sender = situation.carer if situation.carer and rng.random() < 0.3 else situation.subject
        _communication(
            out,
            situation,
            plan,
            "question-for-review",
            "Question for the next review",
            sender,
            as_of - rng.randint(0, 20),
            pick(QUESTIONS, rng),
        )
