"""What makes the synthetic place exercise the access rules: sensitive labels, safeguarding
flags, and people's choices about their data.

Real records carry these, so a demo or a test that never meets them proves nothing about the
rules that guard them:

* **Sensitive labels** (`meta.security`, system `SENSITIVE_SYSTEM`): Conditions that are
  mental health diagnoses (depression, anxiety, schizophrenia or bipolar disorder) are labelled
  `mental-health`; alcohol problems (the clinical record's harmful use, abuse or alcoholic liver
  damage, and this module's alcohol dependence or misuse), `substance-misuse`. Dementia is *not*
  labelled: it is shared for care planning (carers, care homes and social workers need it to
  care for the person).
* **Safeguarding**: a person 65+ with a Care Act section 42 enquiry in the last year has a
  Flag from the council, labelled `safeguarding`.
* **Choices about data**: the national data opt-out (a Consent, category `ndoo`) for a share
  of everyone registered, with the published age and sex gradient; an objection to the
  council's adult social care seeing the record (category `objection`, no security label) for
  a few people 65+; an objection to the council seeing mental health information (category
  `objection`, security label `mental-health`) for some of those whose record holds it.

Every draw comes from the person's own stream `stream(seed, "privacy", index)`, a stream
nothing else uses, so everything generated before this module existed is drawn exactly as
before: the files of a place differ only by the labels on mental health and alcohol
Conditions and by the new resources (alcohol dependence Conditions, Flags, Consents). The
decisions are drawn first, in a fixed order, so changing one rate never shifts another
decision.

Every figure is documented with its source in docs/synthetic-data.md ("Sensitive information
and choices about data"); figures we could not check are marked assumed there and here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any, Final

from careweave.synth import demography
from careweave.synth.clinical_codes import (
    CAREWEAVE_CODES,
    LONG_TERM_CONDITIONS,
    OTHER_CONDITIONS,
    SOCIAL_CARE,
    V3_ACT_CODE,
    age_band,
    concept,
)
from careweave.synth.conditions import chance_of_any, condition_resource
from careweave.synth.demography import OLDER_AGE
from careweave.synth.draws import Weighted
from careweave.synth.model import LOINC, SNOMED, Person, Place, RecordOutcome

PRIVACY_STREAM: Final = "privacy"
"""The name of every person's privacy stream: `stream(seed, PRIVACY_STREAM, index)`."""

SENSITIVE_SYSTEM: Final = CAREWEAVE_CODES + "sensitive-category"
"""Equals careweave.access.sharing.SENSITIVE_SYSTEM (the tests check); not imported from there
so that generating a place does not load the access layer and its database tables."""
CONSENT_CATEGORY_SYSTEM: Final = CAREWEAVE_CODES + "consent-category"
"""Equals careweave.access.consent.CONSENT_CATEGORY_SYSTEM (the tests check)."""
NATIONAL_DATA_OPT_OUT: Final = "ndoo"
OBJECTION: Final = "objection"

MENTAL_HEALTH: Final = "mental-health"
SAFEGUARDING: Final = "safeguarding"
SUBSTANCE_MISUSE: Final = "substance-misuse"

_LABEL_DISPLAY: Final = {
    MENTAL_HEALTH: "Mental health",
    SAFEGUARDING: "Safeguarding",
    SUBSTANCE_MISUSE: "Substance misuse",
}
LABELS: Final[Mapping[str, dict[str, str]]] = MappingProxyType(
    {
        category: {"system": SENSITIVE_SYSTEM, "code": category, "display": display}
        for category, display in _LABEL_DISPLAY.items()
    }
)
"""The security label Coding of each sensitive category the place uses (shared, never mutated).
Sexual health and gender reassignment are never used: see the docs for why."""

# --------------------------------------------------------------------------------------------
# Sensitive Conditions
# --------------------------------------------------------------------------------------------

MENTAL_HEALTH_PROBLEMS: Final = ("depression", "anxiety", "smi")
"""Problem keys whose Conditions are mental health diagnoses. Not dementia: see the docs."""

MENTAL_HEALTH_CODES: Final = frozenset(
    code
    for problem in (*LONG_TERM_CONDITIONS, *OTHER_CONDITIONS)
    if problem.key in MENTAL_HEALTH_PROBLEMS
    for code, _, _ in problem.codes
)
"""SNOMED CT codes the generator emits for mental health diagnoses (35489007 Depressive
disorder, 197480006 Anxiety disorder, and schizophrenia, bipolar disorder and paraphrenia):
every Condition with one of them is labelled."""

ALCOHOL_PROBLEMS: Final = "alcohol_problems"
ALCOHOL_PROBLEM_CODES: Final = frozenset(
    code
    for problem in OTHER_CONDITIONS
    if problem.key == ALCOHOL_PROBLEMS
    for code, _, _ in problem.codes
)
"""The alcohol problems of the clinical record (harmful use, nondependent abuse, alcoholic liver
damage: careweave.synth.clinical_codes.OTHER_CONDITIONS), labelled like this module's own."""

ALCOHOL_CODES: Final = (
    ("66590003", "Alcohol dependence", 0.6),
    ("15167005", "Alcohol misuse", 0.4),
)
"""Alcohol dependence or misuse; both codes are in the GM SDE code set
conditions/alcohol-dependence-and-related-diseases. Neither is in the published Cambridge
alcohol problems list (OpenCodelists bristol/multimorbidity-alcohol-problems), so these do not
count for the Cambridge Multimorbidity Score; the clinical record's alcohol problems do."""
_ALCOHOL: Final = Weighted(
    [(code, display) for code, display, _ in ALCOHOL_CODES], [w for _, _, w in ALCOHOL_CODES]
)

SENSITIVE_CONDITION_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {
        **dict.fromkeys(sorted(MENTAL_HEALTH_CODES), MENTAL_HEALTH),
        **dict.fromkeys((code for code, _, _ in ALCOHOL_CODES), SUBSTANCE_MISUSE),
        **dict.fromkeys(sorted(ALCOHOL_PROBLEM_CODES), SUBSTANCE_MISUSE),
    }
)
"""Condition code -> sensitive category of its label."""

ALCOHOL_PERCENT: Final[Mapping[tuple[str, str], float]] = MappingProxyType(
    {
        ("male", "65-74"): 0.17,
        ("male", "75-84"): 0.085,
        ("male", "85+"): 0.04,
        ("female", "65-74"): 0.076,
        ("female", "75-84"): 0.038,
        ("female", "85+"): 0.02,
    }
)
"""Percent of people 65+ with an active alcohol dependence or misuse problem on their record:
the annual rate at which people present to general practice with alcohol dependence (CPRD,
Thompson et al. PLoS ONE 2017: 17.1 per 10,000 men and 7.6 per 10,000 women, lowest over 75),
halved at 75-84 and quartered at 85+ (assumed)."""

# --------------------------------------------------------------------------------------------
# Safeguarding
# --------------------------------------------------------------------------------------------

SAFEGUARDING_PERCENT: Final[Mapping[str, float]] = MappingProxyType(
    {"65-74": 0.35, "75-84": 0.95, "85+": 2.5}
)
"""Percent of people in each band with a section 42 safeguarding enquiry started in the last
year. 85+: Safeguarding Adults Collection 2021-22, 2,479 individuals per 100,000 aged 85+
(2,635 in 2019-20). 65-74 and 75-84: derived (approx.) from the SAC totals (148,830
individuals in 2024-25, about 60% of them 65+) less the 85+, split between the bands by an
assumed ratio; about 0.84% of all 65+ with England's age mix."""

FLAG_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/flag-category"
SAFEGUARDING_CATEGORIES: Final = [
    concept(SAFEGUARDING, "Adult safeguarding", CAREWEAVE_CODES + "flag-category"),
    concept("safety", "Safety", FLAG_CATEGORY),
]
SAFEGUARDING_ENQUIRY: Final = concept(
    "safeguarding-enquiry", "Adult safeguarding enquiry (Care Act 2014 section 42)", SOCIAL_CARE
)
"""A local social care code: we found no SNOMED CT concept for a section 42 enquiry we could
check."""

# --------------------------------------------------------------------------------------------
# The national data opt-out
# --------------------------------------------------------------------------------------------

NDOO_PERCENT: Final = 5.4
"""Percent of the registered population with a national data opt-out: NHS England's national
data opt-out publication for 2024/25 (about 5.4-5.6%; not re-checked here). The last figures we
could check are 4.97% in June 2021 (Tazare et al., BJGP Open 2024)."""

NDOO_WOMEN_BY_DECADE: Final = (1.67, 3.12, 7.03, 8.06, 7.52, 7.19, 6.94, 6.13, 4.47)
"""Opt-out rate (%) of women aged 0-9, 10-19, ..., 70-79 and 80+, April 2022 (NHS Digital, as
given to the House of Commons in written evidence DDA0067); the 80+ figure is the 80-89 row,
the 90+ row assumed the same."""
NDOO_MEN_TO_WOMEN: Final = 4.41 / 5.53
"""Men's opt-out rate relative to women's: 4.41% against 5.53%, June 2021 (Tazare et al.);
men are assumed to follow women's age pattern."""


def _decade(age: int) -> int:
    return min(age // 10, len(NDOO_WOMEN_BY_DECADE) - 1)


def _relative_ndoo(age: int, male: bool) -> float:
    return NDOO_WOMEN_BY_DECADE[_decade(age)] * (NDOO_MEN_TO_WOMEN if male else 1.0)


_MIX: Final = tuple(demography.age_and_sex_shares())
"""Every (sex, age) of the generated population with its share (percent)."""


def _mean(value: Callable[[str, int], float], low: int = 0) -> float:
    """The mean of `value(sex, age)` over the generated population aged `low` or over."""
    weights = [(sex, age, share) for sex, age, share in _MIX if age >= low]
    return sum(share * value(sex, age) for sex, age, share in weights) / sum(
        share for _, _, share in weights
    )


_NDOO_SCALE: Final = NDOO_PERCENT / _mean(lambda sex, age: _relative_ndoo(age, sex == "male"))
"""Scales the 2022 age-sex rates so that the whole population's rate is `NDOO_PERCENT`."""


def ndoo_chance(age: int, male: bool) -> float:
    """Chance that someone of this age and sex has a national data opt-out."""
    return _NDOO_SCALE * _relative_ndoo(age, male) / 100


NDOO_START: Final = date(2018, 5, 25)
"""The national data opt-out began on 25 May 2018 (earlier type 2 opt-outs were converted)."""
NDOO_SURGE: Final = (date(2021, 5, 31), date(2021, 6, 30))
"""The month before the GP data for planning and research deadline, when the rate rose from
2.77% to 4.97% (Tazare et al.)."""
NDOO_SET_BEFORE_SURGE: Final = 2.77 / NDOO_PERCENT
NDOO_SET_IN_SURGE: Final = (4.97 - 2.77) / NDOO_PERCENT

# --------------------------------------------------------------------------------------------
# Objections (assumed: no published figure)
# --------------------------------------------------------------------------------------------

OBJECTION_PERCENT: Final = 0.5
"""Assumed: percent of people 65+ who object to the council's adult social care seeing their
record. No published figure exists; chosen so a place of a few thousand has a handful."""
MENTAL_HEALTH_OBJECTION_PERCENT: Final = 5.0
"""Assumed: percent of people 65+ with a mental health label who object to the council seeing
their mental health information."""
OBJECTION_YEARS: Final = 5
"""An objection was recorded at some time in the 5 years before the record ends (assumed)."""

PRIVACY_TARGETS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "ndoo_everyone": NDOO_PERCENT,
        "ndoo_65+": 100 * _mean(lambda sex, age: ndoo_chance(age, sex == "male"), OLDER_AGE),
        "mental_health_label_65+": 100
        * _mean(lambda sex, age: chance_of_any(MENTAL_HEALTH_PROBLEMS, age, sex), OLDER_AGE),
        "substance_misuse_label_65+": 100
        * _mean(
            lambda sex, age: (
                1
                - (1 - chance_of_any((ALCOHOL_PROBLEMS,), age, sex))
                * (1 - ALCOHOL_PERCENT[(sex, age_band(age))] / 100)
            ),
            OLDER_AGE,
        ),
        "safeguarding_flag_65+": _mean(
            lambda sex, age: SAFEGUARDING_PERCENT[age_band(age)], OLDER_AGE
        ),
        "safeguarding_flag_85+": SAFEGUARDING_PERCENT["85+"],
        "objection_65+": OBJECTION_PERCENT,
        "mental_health_objection_labelled_65+": MENTAL_HEALTH_OBJECTION_PERCENT,
    }
)
"""What a generated place should show, in percent: the rates above averaged over England's
age and sex mix (ONS, as the generator draws it). The mental health label share is what the
depression, anxiety and schizophrenia or bipolar disorder prevalences imply, with the way they
cluster (they share the latent propensity), not an independent figure; the substance misuse
share is the clinical record's alcohol problems or this module's alcohol dependence (drawn
independently of each other)."""

# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------

_PATIENT_PRIVACY: Final = concept(
    "patient-privacy", "Privacy Consent", "http://terminology.hl7.org/CodeSystem/consentscope"
)
_NDOO_CATEGORY: Final = [
    {"coding": [{"system": LOINC, "code": "59284-0"}], "text": "Patient consent"},
    concept(NATIONAL_DATA_OPT_OUT, "National data opt-out", CONSENT_CATEGORY_SYSTEM),
]
_OBJECTION_CATEGORY: Final = [
    {"coding": [{"system": LOINC, "code": "59284-0"}], "text": "Patient consent"},
    concept(OBJECTION, "Objection to sharing", CONSENT_CATEGORY_SYSTEM),
]
_OPT_OUT: Final = {"system": V3_ACT_CODE, "code": "OPTOUT", "display": "opt-out"}
_NDOO_POLICY: Final = {"coding": [_OPT_OUT], "text": "National data opt-out"}
_OBJECTION_POLICY: Final = {"coding": [_OPT_OUT], "text": "Objection to sharing for direct care"}
_V3_ACT_REASON: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_NDOO_PURPOSES: Final = [
    {"system": _V3_ACT_REASON, "code": "HRESCH", "display": "healthcare research"},
    {"system": _V3_ACT_REASON, "code": "POPHLTH", "display": "population health"},
]
_RECIPIENT: Final = concept(
    "IRCP", "information recipient", "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
)


def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _between(rng: random.Random, first: int, last: int) -> int:
    return rng.randint(first, last) if first < last else last


def label_conditions(resources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The record's resources with every sensitive Condition labelled (others unchanged).

    A labelled Condition is rebuilt with `meta` right after `id`, where FHIR writes it; the
    rest of the resource keeps its content and order.
    """
    for resource in resources:
        category = (
            _sensitive_category(resource) if resource["resourceType"] == "Condition" else None
        )
        if category is None:
            yield resource
            continue
        labelled = {"resourceType": "Condition", "id": resource["id"]}
        labelled["meta"] = {"security": [LABELS[category]]}
        labelled.update((k, v) for k, v in resource.items() if k not in labelled)
        yield labelled


def _sensitive_category(condition: Mapping[str, Any]) -> str | None:
    for coding in condition["code"]["coding"]:
        if coding.get("system") == SNOMED and coding.get("code") in SENSITIVE_CONDITION_CODES:
            return SENSITIVE_CONDITION_CODES[coding["code"]]
    return None


def _mental_health_onset(resources: list[dict[str, Any]]) -> int | None:
    """The first day a mental health diagnosis was recorded (None: the record holds none)."""
    days = [
        date.fromisoformat(r["onsetDateTime"]).toordinal()
        for r in resources
        if r["resourceType"] == "Condition" and _sensitive_category(r) == MENTAL_HEALTH
    ]
    return min(days) if days else None


def _ndoo_day(rng: random.Random, born: int, end: int) -> int:
    """When the opt-out was set: before, during or after the surge of June 2021."""
    start, (surge_start, surge_end) = NDOO_START.toordinal(), NDOO_SURGE
    u = rng.random()
    if u < NDOO_SET_BEFORE_SURGE:
        day = rng.randint(start, surge_start.toordinal() - 1)
    elif u < NDOO_SET_BEFORE_SURGE + NDOO_SET_IN_SURGE:
        day = rng.randint(surge_start.toordinal(), surge_end.toordinal())
    else:
        day = _between(rng, surge_end.toordinal() + 1, end)
    if day < born:  # set by a parent after the child was born
        day = _between(rng, max(born, start), end)
    if day > end:  # never after the record ends (the death, or the record date)
        day = _between(rng, max(born, start), end)
    return day


def _consent(
    resource_id: str,
    category: list[dict[str, Any]],
    subject: dict[str, str],
    day: int,
    policy: dict[str, Any],
    provision: dict[str, Any],
    recorded_by: dict[str, str] | None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": resource_id,
        "status": "active",
        "scope": _PATIENT_PRIVACY,
        "category": category,
        "patient": subject,
        "dateTime": _day(day),
    }
    if recorded_by is not None:
        resource["organization"] = [recorded_by]
    resource["policyRule"] = policy
    resource["provision"] = provision
    return resource


def national_data_opt_out(resource_id: str, subject: dict[str, str], day: int) -> dict[str, Any]:
    """The person's national data opt-out: out of research and planning, not of direct care."""
    return _consent(
        resource_id,
        _NDOO_CATEGORY,
        subject,
        day,
        _NDOO_POLICY,
        {"type": "deny", "purpose": _NDOO_PURPOSES},
        None,
    )


def objection(
    resource_id: str,
    subject: dict[str, str],
    day: int,
    organisation: dict[str, str],
    recorded_by: dict[str, str],
    label: str | None = None,
) -> dict[str, Any]:
    """An objection to `organisation` seeing the record (or, with `label`, that part of it)."""
    provision: dict[str, Any] = {
        "type": "deny",
        "actor": [{"role": _RECIPIENT, "reference": organisation}],
    }
    if label is not None:
        provision["securityLabel"] = [LABELS[label]]
    return _consent(
        resource_id, _OBJECTION_CATEGORY, subject, day, _OBJECTION_POLICY, provision, recorded_by
    )


def safeguarding_flag(
    resource_id: str,
    subject: dict[str, str],
    start: int,
    ended: int | None,
    council: dict[str, str],
) -> dict[str, Any]:
    """The council's flag that a section 42 safeguarding enquiry is open (closed at death)."""
    period = {"start": _day(start)}
    if ended is not None:
        period["end"] = _day(ended)
    return {
        "resourceType": "Flag",
        "id": resource_id,
        "meta": {"security": [LABELS[SAFEGUARDING]]},
        "status": "inactive" if ended is not None else "active",
        "category": SAFEGUARDING_CATEGORIES,
        "code": SAFEGUARDING_ENQUIRY,
        "subject": subject,
        "period": period,
        "author": council,
    }


def _alcohol_condition(
    resource_id: str, person: Person, rng: random.Random, end: int
) -> dict[str, Any]:
    """An active alcohol dependence or misuse problem, recorded like any long-term condition."""
    code, display = _ALCOHOL.draw(rng)
    years = min(rng.expovariate(1 / 8.0), max(person.age - 40, 1))
    gp = person.usual_gp.role_reference if person.usual_gp is not None else None
    unlabelled = condition_resource(
        resource_id, code, display, person.reference, _day(end - int(years * 365.25)), gp
    )
    return next(label_conditions([unlabelled]))


def _conditions_in(resources: list[dict[str, Any]]) -> int:
    return sum(1 for r in resources if r["resourceType"] == "Condition")


def privacy_resources(
    person: Person, place: Place, outcome: RecordOutcome | None, rng: random.Random
) -> Iterator[dict[str, Any]]:
    """What this module adds for one person, drawn from their privacy stream `rng`.

    For someone 65+ (`outcome` is their record): the record's resources with sensitive
    Conditions labelled, then an alcohol Condition, a safeguarding Flag and objections where
    drawn; for everyone, then, a national data opt-out where drawn. Each resource comes after
    everything it refers to (the Patient is written before).
    """
    # Decisions first, in a fixed order: opt-out, then (65+) safeguarding, alcohol, objection,
    # mental health objection. Dates and codes are drawn after, only for what was decided.
    ndoo = rng.random()
    subject = person.reference
    deceased = outcome.deceased if outcome is not None else None
    end = (deceased or place.as_of).toordinal()
    born = person.birth_date.toordinal()
    if outcome is not None:
        safeguarding, alcohol, objects, objects_to_mental_health = (rng.random() for _ in range(4))
        record = list(label_conditions(outcome.resources))
        yield from record
        band = age_band(person.age)
        if alcohol < ALCOHOL_PERCENT[(person.sex, band)] / 100:
            number = _conditions_in(record) + 1
            yield _alcohol_condition(f"{person.patient_id}-c{number}", person, rng, end)
        if safeguarding < SAFEGUARDING_PERCENT[band] / 100:
            start = _between(rng, max(end - 364, born), end)
            yield safeguarding_flag(
                f"{person.patient_id}-fl1",
                subject,
                start,
                end if deceased is not None else None,
                place.council.reference,
            )
        practice = person.practice.organisation.reference
        if objects < OBJECTION_PERCENT / 100:
            day = _between(rng, end - 365 * OBJECTION_YEARS, end)
            yield objection(
                f"{person.patient_id}-obj1", subject, day, place.council.reference, practice
            )
        onset = _mental_health_onset(record)
        if onset is not None and objects_to_mental_health < MENTAL_HEALTH_OBJECTION_PERCENT / 100:
            day = _between(rng, max(onset, end - 365 * OBJECTION_YEARS), end)
            yield objection(
                f"{person.patient_id}-obj2",
                subject,
                day,
                place.council.reference,
                practice,
                MENTAL_HEALTH,
            )
    if end >= NDOO_START.toordinal() and ndoo < ndoo_chance(person.age, person.sex == "male"):
        yield national_data_opt_out(f"{person.patient_id}-ndoo", subject, _ndoo_day(rng, born, end))
