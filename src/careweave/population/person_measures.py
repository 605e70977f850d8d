"""Every population measure of one person as of a day: `measures_for(person_resources, as_of)`.

This is the plain-Python reference: a columnar engine (DuckDB over a projection of the store)
must give the same `PersonMeasures.row()` for every person, and tests compare the two. Each
measure is a small rule over the person's FHIR resources (dicts); the rules, as the code
applies them:

* **eFI**, **multimorbidity** and the **Cambridge Multimorbidity Score**:
  `careweave.population.efi`, `.multimorbidity` and `.cambridge_multimorbidity`. Complex
  multimorbidity is by the thresholds given (`complex_thresholds`, 3 and 3 unless a place
  chose others), as the SQL twin is by the projection's.
* **Polypharmacy**: 10 or more distinct repeat medicines taken in the 12 months up to the day
  (the same medicines the eFI's 5-or-more deficit counts: `careweave.population.medicines`).
* **Emergency hospital use**: admissions are Encounters of class inpatient (v3 ActCode IMP,
  ACUTE or NONAC) and A&E attendances Encounters of class emergency (EMER) that began in the
  `days` days ending on the as-of day (365 by default); planned, cancelled and entered-in-error
  encounters did not happen. An attendance that led to admission is recorded as the admission
  (admitted from A&E), so it is counted once, as an admission.
* **Living arrangement**: the value of the latest household-composition Observation (SNOMED
  224130005) made by the day: alone, spouse, family, care-home or nursing-home; None if never
  recorded. `lives_alone` follows from it. A "Lives alone" problem code is not used: it counts
  towards the eFI's social vulnerability but is never updated when circumstances change.
* **Care-home residence**: a care-home or nursing-home EpisodeOfCare open on the day, else a
  living arrangement of care-home or nursing-home.
* **Unpaid carer**: a RelatedPerson coded as the person's unpaid carer (careweave social-care
  codes `unpaid-carer`, `main-unpaid-carer`) whose period includes the day (else whose `active`
  is not false). Whether the person is *themselves* a carer is not recorded in careweave yet.
* **Deprivation decile**: the IMD decile (1 = most deprived tenth of England) on the person's
  home address (the careweave `imd-decile` extension, set from the address's LSOA), from the
  Patient as it is now: the store keeps Patient history, but this function sees one version.
* After death, circumstances stop: for someone who died on or before the day (by its end, as
  every measure counts), living arrangement, care-home residence and carer are None/False. The
  eFI, conditions and medicines stay as the record left them (the eFI of someone who died is
  their eFI when they died).
* **Clinical Frailty Scale**: the latest clinician's rating by the day, if any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, Final

from careweave.population.cambridge_multimorbidity import (
    CambridgeCodeLists,
    CambridgeScore,
    cambridge_multimorbidity_score,
)
from careweave.population.clinical_frailty_scale import (
    FrailtyScaleRating,
    latest_clinical_frailty_scale,
)
from careweave.population.efi import (
    EfiCodeList,
    ElectronicFrailtyIndex,
    FrailtyCategory,
    electronic_frailty_index,
)
from careweave.population.medicines import (
    MEDICINE_WINDOW_DAYS,
    MedicineTaken,
    medicines_taken,
    window_start,
)
from careweave.population.multimorbidity import (
    DEFAULT_COMPLEX_THRESHOLDS,
    ComplexThresholds,
    LongTermConditionList,
    Multimorbidity,
    multimorbidity,
)
from careweave.population.record import (
    Evidence,
    codes_in,
    day_of,
    display_of,
    is_true_of_the_person,
    observation_day,
    period_days,
)

CAREWEAVE: Final = "https://fhir.careweave.example/"
IMD_DECILE_EXTENSION: Final = CAREWEAVE + "StructureDefinition/imd-decile"
"""Deprivation decile of the LSOA an address is in (IMD 2019 style, 1 = most deprived)."""
SOCIAL_CARE: Final = CAREWEAVE + "CodeSystem/social-care"
V3_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

HEAVY_POLYPHARMACY: Final = 10
"""Polypharmacy as a population measure: this many distinct repeat medicines or more."""
HOSPITAL_WINDOW_DAYS: Final = 365
ADMISSION_CLASSES: Final = frozenset({"IMP", "ACUTE", "NONAC"})
ATTENDANCE_CLASSES: Final = frozenset({"EMER"})
DID_NOT_HAPPEN: Final = frozenset({"planned", "cancelled", "entered-in-error"})

HOUSEHOLD_COMPOSITION: Final = "224130005"
LIVING_ARRANGEMENTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "105529008": "alone",
        "447051007": "spouse",
        "224133007": "family",
        "248171000000108": "care-home",
        "160734000": "nursing-home",
    }
)
"""SNOMED CT values of household composition, and what each says (the synthetic place's)."""
CARE_HOME_KINDS: Final = frozenset({"care-home", "nursing-home"})
CARER_CODES: Final = frozenset({"unpaid-carer", "main-unpaid-carer"})


class PersonRecordProblem(ValueError):  # noqa: N818 - a caller's mistake, the message says which
    """The resources given are not one person's record (no Patient, or several people)."""


@dataclass(frozen=True)
class HospitalUse:
    """Emergency admissions and A&E attendances that began in the window, each as evidence."""

    admissions: tuple[Evidence, ...]
    attendances: tuple[Evidence, ...]


@dataclass(frozen=True)
class PersonMeasures:
    """A person's population measures as of a day, each with what it rests on."""

    patient_id: str
    as_of: date
    age: int | None
    died_on: date | None
    deceased: bool  # died on or before the as-of day (a date may be unknown)
    efi: ElectronicFrailtyIndex
    multimorbidity: Multimorbidity
    complex_thresholds: ComplexThresholds  # the definition `complex_multimorbidity` is by
    cambridge: CambridgeScore
    medicines: tuple[MedicineTaken, ...]
    hospital_window_days: int
    hospital_use: HospitalUse
    living_arrangement: str | None
    care_home: str | None  # "care-home" or "nursing-home"
    unpaid_carer: bool
    imd_decile: int | None
    clinical_frailty_scale: FrailtyScaleRating | None

    @property
    def efi_category(self) -> FrailtyCategory:
        return self.efi.category

    @property
    def medicine_count(self) -> int:
        return len(self.medicines)

    @property
    def polypharmacy(self) -> bool:
        """10 or more repeat medicines in the last 12 months."""
        return self.medicine_count >= HEAVY_POLYPHARMACY

    @property
    def admission_count(self) -> int:
        return len(self.hospital_use.admissions)

    @property
    def attendance_count(self) -> int:
        return len(self.hospital_use.attendances)

    @property
    def lives_alone(self) -> bool | None:
        if self.living_arrangement is None:
            return None
        return self.living_arrangement == "alone"

    def row(self) -> dict[str, str | int | float | bool | None]:
        """The measures as one flat row: what a columnar engine must reproduce exactly."""
        rating = self.clinical_frailty_scale
        return {
            "patient_id": self.patient_id,
            "as_of": self.as_of.isoformat(),
            "age": self.age,
            "deceased": self.deceased,
            "efi_deficits": self.efi.deficit_count,
            "efi_score": self.efi.score,
            "efi_category": self.efi.category,
            "long_term_conditions": self.multimorbidity.condition_count,
            "body_systems": len(self.multimorbidity.body_systems),
            "multimorbidity": self.multimorbidity.multimorbid,
            "complex_multimorbidity": self.multimorbidity.complex_by(self.complex_thresholds),
            "cambridge_conditions": self.cambridge.condition_count,
            "cambridge_score": self.cambridge.score,
            "medicines": self.medicine_count,
            "polypharmacy": self.polypharmacy,
            "admissions": self.admission_count,
            "ae_attendances": self.attendance_count,
            "living_arrangement": self.living_arrangement,
            "lives_alone": self.lives_alone,
            "care_home": self.care_home,
            "unpaid_carer": self.unpaid_carer,
            "imd_decile": self.imd_decile,
            "clinical_frailty_scale": rating.score if rating is not None else None,
        }


def measures_for(
    person_resources: Iterable[Mapping[str, Any]],
    as_of: date,
    *,
    hospital_window_days: int = HOSPITAL_WINDOW_DAYS,
    medicine_window_days: int = MEDICINE_WINDOW_DAYS,
    complex_thresholds: ComplexThresholds = DEFAULT_COMPLEX_THRESHOLDS,
    efi_codes: EfiCodeList | None = None,
    long_term_conditions: LongTermConditionList | None = None,
    cambridge_codes: CambridgeCodeLists | None = None,
) -> PersonMeasures:
    """All the population measures of one person, from their resources, as of `as_of`.

    `person_resources` must hold exactly one Patient and nothing about anyone else (a resource
    whose subject or patient is another Patient raises PersonRecordProblem: a grouping mistake
    upstream should fail loudly, not blend two people's records).
    """
    record = list(person_resources)
    patient = _the_patient(record)
    died_on, deceased = _death(patient, as_of)
    efi = electronic_frailty_index(
        record, as_of, code_list=efi_codes, medicine_window_days=medicine_window_days
    )
    living = None if deceased else living_arrangement(record, as_of)
    episode = None if deceased else care_home_episode(record, as_of)
    return PersonMeasures(
        patient_id=str(patient["id"]),
        as_of=as_of,
        age=age_on(patient, as_of),
        died_on=died_on,
        deceased=deceased,
        efi=efi,
        multimorbidity=multimorbidity(record, as_of, code_list=long_term_conditions),
        complex_thresholds=complex_thresholds,
        cambridge=cambridge_multimorbidity_score(record, as_of, code_lists=cambridge_codes),
        medicines=medicines_taken(record, as_of, days=medicine_window_days),
        hospital_window_days=hospital_window_days,
        hospital_use=hospital_use(record, as_of, days=hospital_window_days),
        living_arrangement=living,
        care_home=episode or (living if living in CARE_HOME_KINDS else None),
        unpaid_carer=False if deceased else has_unpaid_carer(record, as_of),
        imd_decile=imd_decile(patient),
        clinical_frailty_scale=latest_clinical_frailty_scale(record, as_of),
    )


_PERSON_FIELDS: Final = ("subject", "patient", "for", "beneficiary")


def _the_patient(record: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    patients = [r for r in record if r.get("resourceType") == "Patient"]
    ids = {str(p.get("id")) for p in patients}
    if len(ids) != 1:
        raise PersonRecordProblem(
            f"A person's record holds exactly one Patient; these resources hold {len(ids)}"
        )
    (patient_id,) = ids
    for resource in record:
        for field in _PERSON_FIELDS:
            target = resource.get(field)
            reference = target.get("reference") if isinstance(target, Mapping) else None
            if (
                isinstance(reference, str)
                and reference.startswith("Patient/")
                and reference != f"Patient/{patient_id}"
            ):
                raise PersonRecordProblem(
                    f"{resource.get('resourceType')}/{resource.get('id')} is about {reference}, "
                    f"not Patient/{patient_id}"
                )
    return patients[0]


def age_on(patient: Mapping[str, Any], day: date) -> int | None:
    """Whole years of age on `day` (None without a full birth date)."""
    born = patient.get("birthDate")
    if not isinstance(born, str) or len(born) != 10:
        return None
    birth = day_of(born)
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _death(patient: Mapping[str, Any], as_of: date) -> tuple[date | None, bool]:
    """The day of death (if recorded) and whether the person had died by the end of `as_of`."""
    died_on = day_of(patient.get("deceasedDateTime"))
    if died_on is not None:
        return died_on, died_on <= as_of
    return None, patient.get("deceasedBoolean") is True


def _encounter_evidence(resource: Mapping[str, Any], start: date, klass: str) -> Evidence:
    kinds = resource.get("type") or ()
    for kind in kinds if isinstance(kinds, list) else ():
        codes = codes_in(kind)
        if codes:
            return Evidence(
                "Encounter",
                str(resource.get("id", "")),
                start,
                codes[0],
                display_of(kind, codes[0]),
            )
    return Evidence("Encounter", str(resource.get("id", "")), start, klass, klass)


def hospital_use(
    resources: Iterable[Mapping[str, Any]], as_of: date, *, days: int = HOSPITAL_WINDOW_DAYS
) -> HospitalUse:
    """Admissions and A&E attendances that began in the `days` days ending on `as_of`."""
    since = window_start(as_of, days)
    admissions: list[Evidence] = []
    attendances: list[Evidence] = []
    for resource in resources:
        if resource.get("resourceType") != "Encounter":
            continue
        if resource.get("status") in DID_NOT_HAPPEN:
            continue
        klass = resource.get("class")
        if not isinstance(klass, Mapping) or klass.get("system") != V3_ACT_CODE:
            continue
        code = klass.get("code")
        start, _end = period_days(resource.get("period"))
        if start is None or not since <= start <= as_of:
            continue
        if code in ADMISSION_CLASSES:
            admissions.append(_encounter_evidence(resource, start, str(code)))
        elif code in ATTENDANCE_CLASSES:
            attendances.append(_encounter_evidence(resource, start, str(code)))
    return HospitalUse(
        tuple(sorted(admissions, key=_by_day)), tuple(sorted(attendances, key=_by_day))
    )


def _by_day(evidence: Evidence) -> tuple[date, str]:
    return evidence.day, evidence.resource_id


def living_arrangement(resources: Iterable[Mapping[str, Any]], as_of: date) -> str | None:
    """Who the person lives with, from the latest household composition recorded by `as_of`."""
    latest: tuple[date, str] | None = None
    for resource in resources:
        if resource.get("resourceType") != "Observation" or not is_true_of_the_person(resource):
            continue
        if HOUSEHOLD_COMPOSITION not in codes_in(resource.get("code")):
            continue
        day = observation_day(resource)
        values = codes_in(resource.get("valueCodeableConcept"))
        arrangement = next(
            (LIVING_ARRANGEMENTS[v] for v in values if v in LIVING_ARRANGEMENTS), None
        )
        if day is None or day > as_of or arrangement is None:
            continue
        if latest is None or day >= latest[0]:
            latest = (day, arrangement)
    return latest[1] if latest is not None else None


def _covers(period: object, day: date) -> bool:
    start, end = period_days(period)
    return start is not None and start <= day and (end is None or end >= day)


def care_home_episode(resources: Iterable[Mapping[str, Any]], as_of: date) -> str | None:
    """ "care-home" or "nursing-home" when such an EpisodeOfCare is open on `as_of`."""
    for resource in resources:
        if resource.get("resourceType") != "EpisodeOfCare":
            continue
        if resource.get("status") in {"entered-in-error", "cancelled", "planned", "waitlist"}:
            continue
        if not _covers(resource.get("period"), as_of):
            continue
        for kind in resource.get("type") or ():
            for code in codes_in(kind, SOCIAL_CARE):
                if code in CARE_HOME_KINDS:
                    return code
    return None


def has_unpaid_carer(resources: Iterable[Mapping[str, Any]], as_of: date) -> bool:
    """Whether an unpaid carer of the person is on the record and caring on `as_of`."""
    for resource in resources:
        if resource.get("resourceType") != "RelatedPerson":
            continue
        relationships = resource.get("relationship") or ()
        if not any(set(codes_in(r, SOCIAL_CARE)) & CARER_CODES for r in relationships):
            continue
        period = resource.get("period")
        if period is not None:
            if _covers(period, as_of):
                return True
        elif resource.get("active") is not False:
            return True
    return False


def imd_decile(patient: Mapping[str, Any]) -> int | None:
    """The IMD decile of the Patient's home address (the first with one), 1 to 10, else None."""
    addresses = patient.get("address") or ()
    homes = [a for a in addresses if isinstance(a, Mapping) and a.get("use") in (None, "home")]
    for address in homes:
        for extension in address.get("extension") or ():
            if isinstance(extension, Mapping) and extension.get("url") == IMD_DECILE_EXTENSION:
                value = extension.get("valueInteger")
                if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10:
                    return value
    return None
