"""The codes the social prescribing pathway writes and reads, and what each means.

National codes are used only where one was checked: SNOMED CT 871731000000106 |Referral to
social prescribing service| (shared/standards.md section 6, via coordination's referral
service list) names the referral. Everything else is careweave's own code system under
`https://fhir.careweave.example/CodeSystem/`, listed in docs/social-prescribing.md: no SNOMED CT
concepts for the reasons, stages or connection outcomes were checked, and a plausible-looking
code that turns out wrong is worse than an honest local one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from careweave.coordination.codes import CARE_PLAN_CATEGORY
from careweave.social_prescribing.directory_codes import CAREWEAVE_CODES, NEEDS

REASON_SYSTEM: Final = CAREWEAVE_CODES + "social-prescribing-reason"
"""Why someone is referred: ServiceRequest.reasonCode of a referral."""
STAGE_SYSTEM: Final = CAREWEAVE_CODES + "social-prescribing-stage"
"""Where a referral has got to: the referral Task's businessStatus."""
COMMUNICATION_SYSTEM: Final = CAREWEAVE_CODES + "social-prescribing-communication"
"""Kinds of Communication the pathway writes (contacts, conversations, the outcome report)."""
PATHWAY_SYSTEM: Final = CAREWEAVE_CODES + "social-prescribing"
"""Markers: an onward connection's ServiceRequest.category, a Goal's category."""
OUTCOME_SYSTEM: Final = CAREWEAVE_CODES + "connection-outcome"
"""Where an onward connection has got to: the connection Task's businessStatus."""
ENDING_SYSTEM: Final = CAREWEAVE_CODES + "social-prescribing-ending"
"""Why an episode ended: the referral Task's statusReason when it is completed."""
CONNECTION_CODE_SYSTEM: Final = CAREWEAVE_CODES + "social-prescribing-connection"
"""ServiceRequest.code of an onward connection (its text is the service's name)."""
PARTICIPATION_MODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
"""HL7 v3 ParticipationMode: Communication.medium (FACE, PHONE, VIDEOCONF)."""

SOCIAL_PRESCRIBING_PLAN: Final = (CARE_PLAN_CATEGORY[0], "social-prescribing-plan")
"""CarePlan.category of the plan a link worker and the person make together (careweave's
care-plan-category system, beside coordination's personalised care and support plan)."""

REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "loneliness": "Loneliness or social isolation",
        "low-mood": "Low mood or anxiety",
        "financial-worries": "Money worries or debt",
        "housing": "Housing problems",
        "carer-stress": "Stress from caring for someone",
        "physical-inactivity": "Physical inactivity",
        "bereavement": "Bereavement",
        "memory-worries": "Worries about memory",
        "digital-exclusion": "Not getting online",
        "getting-out": "Difficulty getting out and about",
        "long-term-condition": "Living well with a long-term condition",
        "other": "Something else (see the details)",
    }
)
"""Reason for referral code -> the words on the form (the social-prescribing-reason system)."""

REASON_NEEDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "loneliness": ("befriending", "lunch-club"),
        "low-mood": ("mental-wellbeing", "arts-and-creativity"),
        "financial-worries": ("benefits-advice",),
        "housing": ("housing",),
        "carer-stress": ("carers-support",),
        "physical-inactivity": ("physical-activity",),
        "bereavement": ("bereavement",),
        "memory-worries": ("memory-support",),
        "digital-exclusion": ("digital-skills",),
        "getting-out": ("transport",),
        "long-term-condition": ("physical-activity", "mental-wellbeing"),
        "other": (),
    }
)
"""Which directory needs usually answer each reason: a starting point for the search, never
a rule (the conversation about what matters decides)."""

STAGES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "waiting": "Waiting for the link worker",
        "accepted": "Accepted",
        "first-contact": "First contact made",
        "what-matters": "What matters conversation held",
        "plan-agreed": "Plan agreed",
        "connected": "Connected to services",
        "ended": "Support ended",
        "not-taken-on": "Not taken on",
    }
)
"""Stage code -> words (referral Task.businessStatus; its text shows in the task history)."""

COMMUNICATIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "first-contact": "First contact",
        "conversation": "What matters conversation",
        "outcome-report": "Social prescribing outcome",
    }
)

CONTACT_MODES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "in-person": ("FACE", "face-to-face"),
        "phone": ("PHONE", "telephone"),
        "video": ("VIDEOCONF", "videoconferencing"),
    }
)
"""How a contact happened -> the v3 ParticipationMode code and display for Communication.medium."""

OUTCOMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "waiting": "Waiting for the service",
        "accepted": "Accepted by the service",
        "attended": "Attended",
        "declined": "Declined by the person",
        "not-reached": "Not reached",
        "turned-down": "The service could not take them",
        "withdrawn": "Withdrawn",
    }
)
"""Connection outcome code -> words (connection Task.businessStatus)."""

OUTCOME_TASK_STATUS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "waiting": "requested",
        "accepted": "accepted",
        "attended": "completed",
        "declined": "cancelled",
        "not-reached": "failed",
        "turned-down": "rejected",
        "withdrawn": "cancelled",
    }
)
"""The FHIR Task.status each outcome puts the connection's Task in (docs/social-prescribing.md)."""

FINAL_OUTCOMES: Final = frozenset(
    {"attended", "declined", "not-reached", "turned-down", "withdrawn"}
)

ENDINGS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "support-complete": "Support complete",
        "person-stopped": "The person chose to stop",
        "not-reached": "Could not reach the person",
        "needs-other-service": "Needs a different service",
        "moved-away": "Moved away",
        "died": "Died",
    }
)
"""Why an episode ended -> words (referral Task.statusReason)."""

assert set(REASON_NEEDS) == set(REASONS)
assert all(need in NEEDS for needs in REASON_NEEDS.values() for need in needs)
assert set(OUTCOME_TASK_STATUS) == set(OUTCOMES)


def suggested_needs(reasons: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The directory needs that usually answer these reasons, in the directory's order."""
    wanted = {need for reason in reasons for need in REASON_NEEDS.get(reason, ())}
    return tuple(need for need in NEEDS if need in wanted)
