"""An older person's clinical and social-care record, composed from its parts.

For one person aged 65+ the generator draws, in this order and all from the person's own
stream: a latent health propensity (higher with deprivation), long-term conditions, the other
eFI deficits and other common problems (constipation, reflux), the other long-standing
conditions the Cambridge Multimorbidity Score counts (epilepsy, irritable bowel syndrome,
schizophrenia or bipolar disorder, alcohol problems, connective tissue disorders), their
household, medicines, the care they receive, then whether they died in the last year. Only
then are dates drawn, ending at death or the record date, and resources built: Conditions,
Observations (measurements and household composition), MedicationStatements, hospital
Encounters, then social care (assessment Encounter, ServiceRequest, EpisodeOfCare), carers
(RelatedPerson) and, last, the frailty category the practice coded at its last eFI review (an
Observation, for mild, moderate or severe frailty). Every resource comes after everything it
refers to, and nothing is dated after the record ends; for someone who died, what was open
(medicines, care, the carer relationship) is closed on the day of death.

The coordination of the person's care (care team, plan, referrals, a stay in hospital now) is
not part of this record: `careweave.synth.coordination` draws it from a stream of its own, from
what this record holds.

`build_older_person` also returns what the generator intended (`OlderPersonFacts`), so tests can
check the record says the same thing: its eFI deficits computed from the resources alone, for
instance, must equal the intended ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from careweave.coordination.codes import FRAILTY_DISPLAY, FRAILTY_FINDINGS
from careweave.synth.clinical_codes import (
    CARE_REQUIREMENT,
    LIVES_ALONE_CODED,
    LONELY_CODED,
    OBSERVATION_CATEGORY,
    concept,
)
from careweave.synth.conditions import (
    Diagnosis,
    condition_resource,
    draw_conditions,
    draw_other_conditions,
    latent_mean,
)
from careweave.synth.frailty import (
    category_of,
    deficits_of,
    draw_extra_deficits,
    draw_other_problems,
)
from careweave.synth.hospital import draw_death, hospital_encounters
from careweave.synth.medicines import draw_medicines, medication_statement, prescribing_shift
from careweave.synth.model import Person, Place, RecordOutcome
from careweave.synth.observations import observations
from careweave.synth.social_care import (
    draw_care,
    draw_care_dates,
    draw_household,
    household_observation,
    lives_with,
    social_care_resources,
)


@dataclass
class OlderPersonFacts:
    """What the generator decided for one person, before and beside the resources."""

    latent: float
    conditions: list[str]
    deficits: set[str]
    category: str
    medicines: list[str]
    deceased: date | None
    care_home: bool
    home_care_hours: float | None
    carer: str | None
    lives_with: str = ""  # clinical_codes.LIVES_WITH key
    admissions: int = 0
    attendances: int = 0
    exposure_days: int = 0
    problems: list[str] = field(default_factory=list)
    frailty_reviewed: date | None = None  # last eFI review, when a frailty category was coded


FRAILTY_CODE: Final = {category: code for code, category in FRAILTY_FINDINGS.items()}
"""The SNOMED CT finding a practice codes for each eFI category after a review (none for fit)."""
FRAILTY_REVIEW_DAYS: Final = 365
"""The last eFI review falls in the year before the record ends: the GP contract asks practices
to identify moderate and severe frailty with the eFI every year (approx.)."""
_SURVEY: Final = [concept("survey", "Survey", OBSERVATION_CATEGORY)]


def frailty_finding(
    resource_id: str,
    subject: dict[str, str],
    category: str,
    day: int,
    practice: dict[str, str],
) -> dict[str, Any]:
    """The frailty category coded at the last eFI review: a finding, not an eFI deficit (no
    frailty finding code is in `EFI_DEFICIT_CODES`, so the eFI of the record is unchanged)."""
    code = FRAILTY_CODE[category]
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": _SURVEY,
        "code": concept(code, FRAILTY_DISPLAY[code]),
        "subject": subject,
        "effectiveDateTime": _day(day),
        "performer": [practice],
    }


def _turned_65(person: Person) -> int:
    """The day (ordinal) the person turned 65 (a 29 February birthday counts from 1 March)."""
    born = person.birth_date
    if (born.month, born.day) == (2, 29):
        return date(born.year + 65, 3, 1).toordinal()
    return born.replace(year=born.year + 65).toordinal()


class _Ids:
    """Short, stable resource ids: p123-c1, p123-o4, p123-m2, p123-e1, p123-ep1, ..."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str) -> str:
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        return f"{self.patient_id}-{kind}{n}"


def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def build_older_person(
    person: Person, place: Place, rng: random.Random
) -> tuple[RecordOutcome, OlderPersonFacts]:
    """The record of one person aged 65 or over, and the facts it was built from."""
    age, sex = person.age, person.sex
    z = rng.gauss(latent_mean(person.neighbourhood.imd_decile), 1.0)
    conditions = draw_conditions(age, sex, z, rng)
    has_dementia = any(d.key == "dementia" for d in conditions)
    extras = draw_extra_deficits(age, sex, z, has_dementia, rng)
    others = draw_other_problems(age, z, rng)
    others.extend(draw_other_conditions(age, sex, z, rng))
    household = draw_household(age, sex, rng)
    social: list[Diagnosis] = []
    if household.lives_alone and rng.random() < LIVES_ALONE_CODED:
        social.append(
            Diagnosis(
                "social_vulnerability",
                "105529008",
                "Lives alone",
                rng.uniform(0.2, 6.0),
                "social-vulnerability",
            )
        )
    elif rng.random() < LONELY_CODED:
        social.append(
            Diagnosis(
                "social_vulnerability",
                "267076002",
                "Feeling lonely",
                rng.uniform(0.1, 3.0),
                "social-vulnerability",
            )
        )
    problems = {d.key: d for d in (*conditions, *extras, *others, *social)}
    prescriptions = draw_medicines(problems, rng, prescribing_shift(z, rng))
    before_care = category_of(deficits_of(problems.values(), len(prescriptions)))
    plan = draw_care(age, before_care, has_dementia, household, place, rng)
    care_codes: list[tuple[str, str]] = []
    if plan.care_home is not None:
        care_codes.append(
            CARE_REQUIREMENT["nursing-home" if plan.care_home.nursing else "care-home"]
        )
        household.lives_alone = False
    if plan.home_care_hours is not None:
        care_codes.append(CARE_REQUIREMENT["home-care"])
    if plan.carer is not None:
        care_codes.append(CARE_REQUIREMENT["carer"])
    care = [
        Diagnosis("requirement_for_care", code, display, 0.0, "requirement-for-care")
        for code, display in care_codes
    ]
    diagnoses = [*problems.values(), *care]
    deficits = deficits_of(diagnoses, len(prescriptions))
    category = category_of(deficits)

    as_of = place.as_of.toordinal()
    death = draw_death(age, category, as_of, rng)
    end = death if death is not None else as_of
    dates = draw_care_dates(plan, as_of, end, rng)

    ids = _Ids(person.patient_id)
    subject = person.reference
    gps = person.practice.staff_in("gp")
    gp = gps[int(rng.random() * len(gps))].role_reference if gps else None
    nurses = person.practice.staff_in("practice-nurse")
    nurse = nurses[int(rng.random() * len(nurses))].role_reference if nurses else gp
    resources: list[dict[str, Any]] = []

    care_days = iter(
        day
        for day in (
            (dates.care_start if plan.care_home is not None else None),
            (dates.care_start if plan.home_care_hours is not None else None),
            dates.carer_since,
        )
        if day is not None
    )
    for diagnosis in diagnoses:
        if diagnosis.key == "requirement_for_care":
            onset = next(care_days, end)
        else:
            onset = end - int(diagnosis.onset_years_before * 365.25)
        diagnosis.resource_id = ids("c")
        resources.append(
            condition_resource(
                diagnosis.resource_id,
                diagnosis.code,
                diagnosis.display,
                subject,
                _day(min(onset, end)),
                gp,
                event=diagnosis.event,
            )
        )
    onsets = {d.key: min(end, end - int(d.onset_years_before * 365.25)) for d in problems.values()}

    ckd_code = problems["ckd"].code if "ckd" in problems else None
    resources.extend(
        observations(
            lambda: ids("o"),
            subject,
            end,
            age,
            sex,
            problems,
            ckd_code,
            nurse,
            place.acute_trust.reference,
            rng,
        )
    )

    resources.append(
        household_observation(ids("o"), subject, household, plan, dates, end, nurse, rng)
    )

    ended = _day(end) if death is not None else None
    starts: dict[str, int] = {}
    for prescription in prescriptions:
        reason = problems[prescription.reason_key]
        if prescription.companion is not None:
            started = min(end, starts[prescription.companion] + rng.randint(0, 60))
        else:
            started = min(end, onsets[prescription.reason_key] + rng.randint(0, 180))
        starts[prescription.medicine.key] = started
        asserted = max(started, end - rng.randint(0, 180))
        resources.append(
            medication_statement(
                ids("m"),
                prescription,
                subject,
                _day(started),
                _day(asserted),
                {"reference": f"Condition/{reason.resource_id}"},
                gp,
                ended,
            )
        )

    encounters = hospital_encounters(
        lambda: ids("e"),
        subject,
        as_of,
        end,
        death is not None,
        category,
        problems,
        plan.care_home is not None,
        place,
        rng,
    )
    resources.extend(encounters)
    resources.extend(
        social_care_resources(ids, person, subject, plan, dates, death is not None, end, place, rng)
    )

    # Drawn last, so that every draw before it (and so every other resource) is unchanged.
    reviewed: int | None = None
    if category in FRAILTY_CODE:
        reviewed = max(end - rng.randint(0, FRAILTY_REVIEW_DAYS - 1), min(_turned_65(person), end))
        resources.append(
            frailty_finding(
                ids("o"), subject, category, reviewed, person.practice.organisation.reference
            )
        )

    deceased = date.fromordinal(death) if death is not None else None
    outcome = RecordOutcome(
        resources=resources,
        deceased=deceased,
        care_home=plan.care_home,
        lives_alone=household.lives_alone,
        marital_status=household.marital_status,
    )
    facts = OlderPersonFacts(
        latent=z,
        conditions=[d.key for d in conditions],
        deficits=deficits,
        category=category,
        medicines=[p.medicine.key for p in prescriptions],
        deceased=deceased,
        care_home=plan.care_home is not None,
        home_care_hours=plan.home_care_hours,
        carer=plan.carer,
        lives_with=lives_with(household, plan),
        admissions=sum(1 for r in encounters if r["class"]["code"] == "IMP"),
        attendances=sum(1 for r in encounters if r["class"]["code"] == "EMER"),
        exposure_days=max(end - (as_of - 730), 0),
        problems=list(problems),
        frailty_reviewed=date.fromordinal(reviewed) if reviewed is not None else None,
    )
    return outcome, facts


def older_person_record(person: Person, place: Place, rng: random.Random) -> RecordOutcome:
    """The resources of one person aged 65 or over, and what their Patient must show."""
    return build_older_person(person, place, rng)[0]
