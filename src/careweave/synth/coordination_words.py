"""The words of the synthetic place's care plans: goals as people put them, plan actions with
their owners, "what matters to me", questions for a review and the plan's text sections.

Every phrase is invented and written as people talk and care teams write; each goal and action
says whom it suits (`needs`), so a plan follows the person's situation. Used by
careweave.synth.coordination_plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from careweave.synth.coordination_situation import Situation

Needs = Callable[[Situation], bool]


def _always(_: Situation) -> bool:
    return True


def _has(*keys: str) -> Needs:
    return lambda s: bool(set(keys) & s.problems)


def _at_home(s: Situation) -> bool:
    return s.care_home is None


def _home_and(*keys: str) -> Needs:
    return lambda s: s.care_home is None and bool(set(keys) & s.problems)


GOALS: Final[tuple[tuple[str, Needs], ...]] = (
    (
        "I want to get to the end of the garden and back without being frightened of falling.",
        _home_and("falls", "fragility_fracture"),
    ),
    ("To walk to the post office on my own again.", _home_and("falls", "mobility_problems")),
    ("I don't want to end up on the floor again waiting hours for someone to come.", _has("falls")),
    (
        "To get up the stairs without having to stop halfway.",
        _home_and("heart_failure", "copd", "dyspnoea"),
    ),
    (
        "To manage my breathing well enough to go to chapel on Sundays.",
        _has("copd", "heart_failure", "dyspnoea"),
    ),
    ("To stay in my own home for as long as I possibly can.", _at_home),
    ("To have someone to talk to more than once a week.", lambda s: s.lonely),
    ("To get back to the bowls club in the summer.", lambda s: s.lonely and s.care_home is None),
    ("To go out for a coffee with other people now and then.", lambda s: s.lonely),
    (
        "To feel settled here and see my grandchildren on Sundays.",
        lambda s: s.care_home is not None,
    ),
    ("To sit out in the garden when the weather is nice.", lambda s: s.care_home is not None),
    ("To keep doing my own shopping.", _at_home),
    ("To be well enough for my granddaughter's wedding in the summer.", _always),
    ("To sleep through the night.", _has("sleep_disturbance", "urinary_incontinence")),
    (
        "To understand what all my tablets are for, and take fewer if I can.",
        lambda s: "polypharmacy" in s.deficits,
    ),
    ("To stay out of hospital this winter.", _always),
    ("To keep my allotment going.", _home_and("osteoarthritis", "hypertension", "diabetes")),
    ("To cook my own meals again.", _home_and("mobility_problems", "weight_loss", "stroke")),
    ("To have less pain in my knees so I can walk the dog.", _home_and("osteoarthritis")),
    ("To be able to have a proper bath again.", _home_and("mobility_problems", "falls")),
    ("To keep my sugars steady without so many hypos.", _has("diabetes")),
    ("To still know the people around me and be treated kindly.", _has("dementia")),
    ("To be comfortable, and at home, when the time comes.", lambda s: s.category == "severe"),
    ("To make sure my family know what I want.", lambda s: s.category == "severe"),
)
"""Goals in the person's own words, and who they fit."""

CARER_GOALS: Final = (
    "For me to get a proper break now and then without worrying.",
    "For Mum to stay at home with us as long as she is safe.",
    "For Dad to be less muddled in the evenings.",
)
"""Goals a carer puts in their own words (expressed by the RelatedPerson)."""


@dataclass(frozen=True)
class Action:
    """A plan action: its words, plan section, who owns it and whom it suits."""

    words: str
    section: str  # health, social-care, voluntary, person (care-plan-section)
    owner: str  # gp, practice-nurse, pharmacist, community-trust, community-nurse, council,
    # social-worker, occupational-therapist, care-home, later-life, carers, transport,
    # memory-cafe, good-neighbours, befriending, link-worker, person, carer
    needs: Needs


ACTIONS: Final[tuple[Action, ...]] = (
    Action("Structured medication review with the clinical pharmacist", "health", "pharmacist",
           lambda s: "polypharmacy" in s.deficits),
    Action("Blood pressure and kidney blood tests", "health", "practice-nurse",
           _has("hypertension", "ckd")),
    Action("GP review of breathlessness and water tablets", "health", "gp",
           _has("heart_failure")),
    Action("Falls assessment and a strength and balance programme", "health",
           "community-trust", _has("falls", "fragility_fracture")),
    Action("Continence assessment", "health", "community-trust", _has("urinary_incontinence")),
    Action("Leg ulcer dressings twice a week at home", "health", "community-nurse",
           _home_and("skin_ulcer")),
    Action("Chase the memory clinic follow-up", "health", "gp", _has("dementia")),
    Action("Annual diabetes review, including feet and eyes", "health", "practice-nurse",
           _has("diabetes")),
    Action("Check inhaler technique and the rescue pack", "health", "practice-nurse",
           _has("copd", "asthma")),
    Action("Review of knee pain and painkillers", "health", "gp", _has("osteoarthritis")),
    Action("Flu, COVID-19 and pneumonia vaccinations", "health", "practice-nurse", _always),
    Action("Review the home care hours", "social-care", "social-worker",
           lambda s: s.home_care_since is not None),
    Action("Occupational therapy assessment for bathing and the stairs", "social-care",
           "occupational-therapist", _home_and("mobility_problems", "falls")),
    Action("Carer's assessment", "social-care", "council", lambda s: s.carer is not None),
    Action("Care Act needs assessment", "social-care", "council",
           lambda s: s.care_home is None and s.home_care_since is None
           and s.category in ("moderate", "severe")),
    Action("Pendant alarm (telecare) installed", "social-care", "council",
           lambda s: s.lives_alone),
    Action("Review the care plan with the family at the home", "social-care", "care-home",
           lambda s: s.care_home is not None),
    Action("Weekly befriending visits", "voluntary", "befriending",
           lambda s: s.lives_alone),
    Action("Community transport to the day centre on Tuesdays", "voluntary", "transport",
           lambda s: s.lonely and s.care_home is None),
    Action("Memory café on Thursday afternoons", "voluntary", "memory-cafe", _has("dementia")),
    Action("Support and a regular break for the carer", "voluntary", "carers",
           lambda s: s.carer is not None),
    Action("Help with shopping and collecting prescriptions", "voluntary", "good-neighbours",
           lambda s: s.housebound or s.lives_alone),
    Action("Benefits check, including Attendance Allowance", "voluntary", "later-life",
           lambda s: s.category in ("moderate", "severe") and s.care_home is None),
    Action("Meet the link worker about groups nearby", "voluntary", "link-worker",
           lambda s: s.lonely and s.care_home is None),
    Action("Do the strength and balance exercises three times a week", "person", "person",
           _has("falls", "mobility_problems")),
    Action("Wear the pendant alarm during the day", "person", "person",
           lambda s: s.lives_alone and "falls" in s.problems),
    Action("Keep a diary of dizzy spells to show the GP", "person", "person",
           _has("dizziness", "hypotension")),
    Action("Weigh myself every morning and ring the practice if my weight goes up by 2 kg in "
           "3 days", "person", "person", _has("heart_failure")),
    Action("Ring the care coordinator if anything changes or gets harder to manage", "person",
           "person", _always),
    Action("Keep an up-to-date list of my tablets in my bag", "person", "person",
           lambda s: "polypharmacy" in s.deficits),
    Action("Sort out Lasting Power of Attorney", "person", "carer",
           lambda s: s.carer is not None
           and ("dementia" in s.problems or s.category == "severe")),
)  # fmt: skip
"""Plan actions, each with its section, its owner and whom it suits."""

WHAT_MATTERS: Final = (
    "I don't want to go into a home.",
    "My garden keeps me going; I'd hate to lose it.",
    "My dog is everything to me: whoever helps needs to know he comes first.",
    "I'd like people to ring before they come round.",
    "I'm deaf in my left ear, so please sit on my right.",
    "Please speak to me, not just to my daughter.",
    "I like to be up and dressed before anyone calls.",
    "Church on Sunday matters a lot to me.",
    "I want to be independent for as long as I can, even if it takes me longer.",
    "I get anxious in hospital. I would rather be treated at home if it is safe.",
    "Seeing my grandchildren is the best part of my week.",
    "I'm happy to try new things, but not groups with lots of people.",
)
WHAT_MATTERS_FROM_CARER: Final = (
    "Mum gets muddled in the evenings; mornings are best for visits.",
    "Dad won't ask for help, so please ask him directly how he is managing.",
    "She is proud of her home; please take your shoes off.",
    "He worries about money: a letter from the council upset him for days.",
    "I work until 3, so please ring me after that.",
)
QUESTIONS: Final = (
    "Can we talk about whether I still need all these tablets?",
    "Could the carers come a bit later in the morning?",
    "Is there anything to help me sleep that isn't another tablet?",
    "Can I have the flu jab at home this year?",
    "Who do I ring at the weekend if things get worse?",
)

NOTE_WORDS: Final = {
    "contingency": (
        "If {carer} is unwell or away, ring the council's duty team for a short-term package, "
        "and the Carers' Centre for a sitting service.",
        "If unwell in the evening or at the weekend, ring NHS 111 and say there is a care plan.",
        "Spare key in the key safe by the back door; the code is with the care team.",
    ),
    "crisis": (
        "If breathing gets much worse, start the rescue pack and ring the practice; out of hours "
        "ring 111. Ring 999 if struggling to speak.",
        "After a fall: press the pendant alarm, don't try to get up if it hurts, and keep warm.",
        "If suddenly more confused, ring the practice the same day: it may be an infection.",
    ),
    "anticipatory": (
        "Has talked with the GP about wanting to stay at home at the end of life. ReSPECT form "
        "completed and kept at home.",
        "Would prefer not to go back into hospital unless it would make a real difference. "
        "Anticipatory medicines to be discussed with the GP and the hospice.",
        "Family aware of wishes; a DNACPR decision is recorded and a copy is in the house.",
    ),
}
"""Text for the plan's note sections (care-plan-section codes); `{carer}` is the carer's name."""
