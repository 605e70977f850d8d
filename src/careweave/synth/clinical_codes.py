"""The codes and rates an older person's record is drawn from, each with where it comes from.

Everything numeric here is documented, with its source, in docs/synthetic-data.md.
SNOMED CT codes were checked against public codelists: the electronic Frailty Index (eFI)
deficit code sets of the Greater Manchester Secure Data Environment
(github.com/UoM-Data-Science-Platforms/gm-sde, shared/clinical-code-sets/*/efi-*), their
medication code sets (shared/clinical-code-sets/medications/*), the Exeter Diabetes SDE dm+d
lists (github.com/Exeter-Diabetes/sde-sw-framework, code_lists/medications) and OpenCodelists
dm+d codelists kept in OpenSAFELY study repositories; a few only against public code (queries,
fixtures), which each `Medicine.source` says. Every code emitted for an eFI deficit appears in
exactly one of the 35 code-based eFI deficit code sets, so computing the eFI from the record
with `EFI_DEFICIT_CODES` (or with those public code sets) gives the category the generator
intended. dm+d ids are SNOMED CT UK Drug Extension concepts: mostly VMPs (a generic product
with strength and form), and two VTMs (the drug alone) where no VMP id could be checked. Some
VMP ids are the ones the code sets list, which dm+d may since have replaced by a subsequent id
(keeping this one as the previous id, which GP systems and codelists still recognise).

The numbers are approximate and several are from memory; the docs page says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from careweave.synth.model import LOINC, SNOMED, UCUM

CAREWEAVE_CODES: Final = "https://fhir.careweave.example/CodeSystem/"
"""Base of the few local code systems (social care) for which no checked SNOMED code exists."""
V3_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ROLE_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_MARITAL_STATUS: Final = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V3_ACT_PRIORITY: Final = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
DISCHARGE_DISPOSITION: Final = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
ADMIT_SOURCE: Final = "http://terminology.hl7.org/CodeSystem/admit-source"

AGE_BANDS: Final = ("65-74", "75-84", "85+")
ANCHOR_AGES: Final = (69, 79, 89)
"""Typical age inside each band: band targets are fitted at these ages and interpolated."""


def age_band(age: int) -> str:
    return "65-74" if age < 75 else ("75-84" if age < 85 else "85+")


def band_index(age: int) -> int:
    return 0 if age < 75 else (1 if age < 85 else 2)


def concept(code: str, display: str, system: str = SNOMED) -> dict[str, Any]:
    """A CodeableConcept with one coding; built once and shared by every resource using it."""
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


# --------------------------------------------------------------------------------------------
# The electronic Frailty Index: 36 deficits (Clegg et al. 2016) and the codes emitted for each.
# --------------------------------------------------------------------------------------------

# The 36 deficits themselves are careweave.population.efi.EFI_DEFICITS: the generator writes the
# records from which that module computes the eFI.


POLYPHARMACY_THRESHOLD: Final = 5
"""Polypharmacy deficit: 5 or more distinct medicines (active MedicationStatements)."""


@dataclass(frozen=True)
class Problem:
    """A coded problem the generator may put on someone's record as a Condition.

    `deficit` is the eFI deficit it counts towards (None: not an eFI deficit, e.g. depression).
    `codes` are (SNOMED code, display, weight): one is drawn per person.
    """

    key: str
    label: str
    deficit: str | None
    codes: tuple[tuple[str, str, float], ...]
    long_term_condition: bool  # counts towards multimorbidity
    event: bool = False  # a dated event (a fall, a fracture) rather than an ongoing problem


def _p(
    key: str,
    label: str,
    deficit: str | None,
    codes: tuple[tuple[str, str, float], ...],
    *,
    ltc: bool = False,
    event: bool = False,
) -> Problem:
    return Problem(key, label, deficit, codes, ltc, event)


LONG_TERM_CONDITIONS: Final[tuple[Problem, ...]] = (
    _p(
        "hypertension",
        "Hypertension",
        "hypertension",
        (
            ("38341003", "Hypertensive disorder, systemic arterial", 0.5),
            ("59621000", "Essential hypertension", 0.5),
        ),
        ltc=True,
    ),
    _p(
        "diabetes",
        "Type 2 diabetes",
        "diabetes",
        (("44054006", "Diabetes mellitus type 2", 1.0),),
        ltc=True,
    ),
    _p(
        "chd",
        "Coronary heart disease",
        "ischaemic-heart-disease",
        (
            ("414545008", "Ischemic heart disease", 0.5),
            ("194828000", "Angina", 0.3),
            ("1755008", "Old myocardial infarction", 0.2),
        ),
        ltc=True,
    ),
    _p(
        "af",
        "Atrial fibrillation",
        "atrial-fibrillation",
        (("49436004", "Atrial fibrillation", 1.0),),
        ltc=True,
    ),
    _p(
        "heart_failure",
        "Heart failure",
        "heart-failure",
        (("84114007", "Heart failure", 1.0),),
        ltc=True,
    ),
    _p(
        "stroke",
        "Stroke or TIA",
        "cerebrovascular-disease",
        (
            ("230690007", "Cerebrovascular accident", 0.6),
            ("266257000", "Transient ischemic attack", 0.4),
        ),
        ltc=True,
    ),
    _p(
        "ckd",
        "Chronic kidney disease stage 3-5",
        "chronic-kidney-disease",
        (
            ("700378005", "Chronic kidney disease stage 3A", 0.6),
            ("700379002", "Chronic kidney disease stage 3B", 0.28),
            ("431857002", "Chronic kidney disease stage 4", 0.09),
            ("433146000", "Chronic kidney disease stage 5", 0.03),
        ),
        ltc=True,
    ),
    _p(
        "copd",
        "COPD",
        "respiratory-disease",
        (("13645005", "Chronic obstructive lung disease", 1.0),),
        ltc=True,
    ),
    _p("asthma", "Asthma", "respiratory-disease", (("195967001", "Asthma", 1.0),), ltc=True),
    _p(
        "osteoarthritis",
        "Osteoarthritis",
        "arthritis",
        (
            ("396275006", "Osteoarthritis", 0.5),
            ("239873007", "Osteoarthritis of knee", 0.3),
            ("239872002", "Osteoarthritis of hip", 0.2),
        ),
        ltc=True,
    ),
    _p(
        "rheumatoid_arthritis",
        "Rheumatoid arthritis",
        "arthritis",
        (("69896004", "Rheumatoid arthritis", 1.0),),
        ltc=True,
    ),
    _p(
        "osteoporosis",
        "Osteoporosis",
        "osteoporosis",
        (
            ("102447009", "Postmenopausal osteoporosis", 0.7),
            ("18040001", "Senile osteoporosis", 0.3),
        ),
        ltc=True,
    ),
    _p(
        "dementia",
        "Dementia",
        "memory-cognitive-problems",
        (
            ("52448006", "Dementia", 0.4),
            ("26929004", "Alzheimer's disease", 0.4),
            ("429998004", "Vascular dementia", 0.2),
        ),
        ltc=True,
    ),
    _p("depression", "Depression", None, (("35489007", "Depressive disorder", 1.0),), ltc=True),
    _p("anxiety", "Anxiety", None, (("197480006", "Anxiety disorder", 1.0),), ltc=True),
    _p("cancer", "Cancer", None, (("363346000", "Malignant neoplastic disease", 1.0),), ltc=True),
    _p(
        "hypothyroidism",
        "Hypothyroidism",
        "thyroid-disease",
        (("40930008", "Hypothyroidism", 1.0),),
        ltc=True,
    ),
    _p(
        "parkinsons",
        "Parkinson's disease",
        "parkinsonism-tremor",
        (("49049000", "Parkinson's disease", 1.0),),
        ltc=True,
    ),
    _p(
        "pad",
        "Peripheral arterial disease",
        "peripheral-vascular-disease",
        (
            ("400047006", "Peripheral vascular disease", 0.6),
            ("399957001", "Peripheral arterial occlusive disease", 0.4),
        ),
        ltc=True,
    ),
    _p(
        "visual_impairment",
        "Visual impairment",
        "visual-impairment",
        (
            ("397540003", "Visual impairment", 0.4),
            ("267718000", "Age-related macular degeneration", 0.3),
            ("193570009", "Cataract", 0.3),
        ),
        ltc=True,
    ),
    _p(
        "hearing_loss",
        "Hearing loss",
        "hearing-impairment",
        (("15188001", "Hearing loss", 0.6), ("49526009", "Presbycusis", 0.4)),
        ltc=True,
    ),
)
"""The 21 long-term conditions of the issue; multimorbidity is 2 or more of them."""

# fmt: off
CONDITION_PREVALENCE: Final[dict[str, tuple[float, float, float, float, float, float]]] = {
    # recorded prevalence (%) men 65-74, 75-84, 85+, women 65-74, 75-84, 85+
    "hypertension":         (38.7, 49.3, 52.8, 35.2, 49.3, 55.4),
    "diabetes":             (16.7, 19.4, 15.8, 11.4, 14.1, 12.3),
    "chd":                  (13.2, 19.4, 23.8, 6.2, 11.4, 16.7),
    "af":                   (6.0, 13.0, 20.0, 3.5, 9.0, 16.0),
    "heart_failure":        (3.0, 7.0, 14.0, 2.0, 5.0, 11.0),
    "stroke":               (6.0, 10.0, 14.0, 4.5, 8.0, 13.0),
    "ckd":                  (5.3, 14.1, 28.2, 7.0, 17.6, 31.7),
    "copd":                 (6.2, 8.8, 8.8, 5.3, 7.0, 6.2),
    "asthma":               (7.0, 7.0, 6.2, 10.6, 9.7, 7.9),
    "osteoarthritis":       (13.2, 19.4, 22.9, 21.1, 29.0, 32.6),
    "rheumatoid_arthritis": (1.0, 1.4, 1.4, 2.2, 2.8, 2.8),
    "osteoporosis":         (1.3, 3.1, 5.3, 7.9, 15.0, 21.1),
    "dementia":             (1.5, 6.0, 18.0, 1.5, 7.0, 24.0),
    "depression":           (7.0, 7.9, 9.7, 11.4, 12.3, 13.2),
    "anxiety":              (4.4, 4.4, 4.4, 7.9, 7.9, 7.0),
    "cancer":               (7.9, 12.3, 15.0, 7.0, 8.8, 9.7),
    "hypothyroidism":       (2.6, 4.4, 5.3, 8.8, 11.4, 12.3),
    "parkinsons":           (0.5, 1.5, 2.5, 0.3, 0.9, 1.5),
    "pad":                  (2.6, 4.4, 6.2, 1.3, 2.6, 4.4),
    "visual_impairment":    (3.5, 7.0, 14.1, 4.4, 8.8, 17.6),
    "hearing_loss":         (9.7, 16.7, 26.4, 7.0, 13.2, 22.9),
}
# fmt: on

CONDITION_LOADING: Final[dict[str, float]] = {
    "hypertension": 0.55,
    "diabetes": 0.7,
    "chd": 0.8,
    "af": 0.6,
    "heart_failure": 0.9,
    "stroke": 0.7,
    "ckd": 0.75,
    "copd": 0.9,
    "asthma": 0.5,
    "osteoarthritis": 0.5,
    "rheumatoid_arthritis": 0.5,
    "osteoporosis": 0.6,
    "dementia": 0.6,
    "depression": 0.7,
    "anxiety": 0.6,
    "cancer": 0.3,
    "hypothyroidism": 0.3,
    "parkinsons": 0.5,
    "pad": 0.9,
    "visual_impairment": 0.5,
    "hearing_loss": 0.4,
}
"""How strongly each condition follows the person's latent health propensity (log-odds per SD).

The latent propensity makes conditions, frailty deficits, admissions and death cluster; its mean
rises with deprivation (`DEPRIVATION_SHIFT`)."""

DEPRIVATION_SHIFT: Final = 0.4
"""Mean of the latent propensity in IMD decile 1 (and minus this in decile 10), in SD units;
tuned so that the odds of multimorbidity are about twice as high in the most deprived decile."""

# Other long-standing conditions: not among the generator's 21 long-term conditions (that list
# is the issue's, and the multimorbidity targets were set on it; careweave's measure counts
# these too since long-term-conditions-v2) and not eFI deficits, but conditions of the
# Cambridge Multimorbidity Score, so that a generated place exercises all 20 of
# its conditions. Every code is in the matching OpenCodelists bristol/multimorbidity-* list (as
# data/cambridge-multimorbidity-v1.csv holds it) and in no GM SDE eFI code set (checked against
# efi-arthritis for the connective tissue disorders; no eFI deficit is about the others).
# fmt: off
OTHER_CONDITIONS: Final[tuple[Problem, ...]] = (
    _p("epilepsy", "Epilepsy", None,
       (("84757009", "Epilepsy", 0.6), ("230381009", "Focal epilepsy", 0.25),
        ("352818000", "Tonic-clonic epilepsy", 0.15))),
    _p("ibs", "Irritable bowel syndrome", None,
       (("10743008", "Irritable bowel syndrome", 0.8),
        ("440630006", "Irritable bowel syndrome characterized by constipation", 0.1),
        ("197125005", "Irritable bowel syndrome with diarrhea", 0.1))),
    _p("smi", "Schizophrenia or bipolar disorder", None,
       (("13746004", "Bipolar disorder", 0.45), ("58214004", "Schizophrenia", 0.3),
        ("64905009", "Paranoid schizophrenia", 0.15), ("26472000", "Paraphrenia", 0.1))),
    _p("alcohol_problems", "Alcohol problems", None,
       (("1094151000000108", "Harmful use of alcohol", 0.55),
        ("268645007", "Nondependent alcohol abuse", 0.3),
        ("41309000", "Alcoholic liver damage", 0.15))),
    _p("connective_tissue_disorder", "Connective tissue disorder", None,
       (("65323003", "Polymyalgia rheumatica", 0.7), ("400130008", "Temporal arteritis", 0.12),
        ("83901003", "Sjögren's syndrome", 0.1), ("55464009", "Systemic lupus erythematosus",
                                                   0.08))),
)
"""Epilepsy, irritable bowel syndrome, schizophrenia or bipolar disorder (SMI), alcohol problems
and connective tissue disorders (polymyalgia rheumatica, giant cell arteritis, Sjögren's, lupus):
each drawn like a long-term condition, from age, sex and the latent propensity."""

OTHER_CONDITION_PREVALENCE: Final[dict[str, tuple[float, float, float, float, float, float]]] = {
    # recorded prevalence (%) men 65-74, 75-84, 85+, women 65-74, 75-84, 85+ (approx., from memory)
    "epilepsy":                   (1.3, 1.4, 1.3, 1.1, 1.1, 1.0),
    "ibs":                        (3.0, 2.5, 2.0, 7.0, 6.0, 4.5),
    "smi":                        (0.9, 0.8, 0.7, 1.1, 1.1, 1.0),
    "alcohol_problems":           (3.5, 2.5, 1.2, 1.2, 0.7, 0.4),
    "connective_tissue_disorder": (1.0, 2.0, 2.4, 1.8, 3.4, 4.0),
}
OTHER_CONDITION_LOADING: Final[dict[str, float]] = {
    "epilepsy": 0.5,
    "ibs": 0.3,
    "smi": 0.6,
    "alcohol_problems": 0.7,
    "connective_tissue_disorder": 0.4,
}
"""Log-odds per SD of latent propensity: alcohol problems and SMI follow deprivation and poor
health most, irritable bowel syndrome least."""
# fmt: on

# Extra (non-condition) eFI deficits, with their recorded prevalence (%) at 65-74, 75-84, 85+.
# fmt: off
EXTRA_DEFICITS: Final[tuple[Problem, ...]] = (
    _p("activity_limitation", "Activity limitation", "activity-limitation",
       (("21134002", "Disability", 1.0),)),
    _p("anaemia", "Anaemia", "anaemia",
       (("271737000", "Anemia", 0.6), ("87522002", "Iron deficiency anemia", 0.3),
        ("84027009", "Pernicious anemia", 0.1))),
    _p("dizziness", "Dizziness", "dizziness", (("404640003", "Dizziness", 1.0),)),
    _p("dyspnoea", "Breathlessness", "dyspnoea",
       (("267036007", "Dyspnea", 0.6), ("60845006", "Dyspnea on exertion", 0.4))),
    _p("falls", "Falls", "falls",
       (("1912002", "Fall", 0.6), ("161898004", "Falls", 0.25),
        ("279992002", "Recurrent falls", 0.15)), event=True),
    _p("foot_problems", "Foot problems", "foot-problems",
       (("201037000", "Corns and callus", 0.7), ("47850008", "Hard corn", 0.3))),
    _p("fragility_fracture", "Fragility fracture", "fragility-fracture",
       (("5913000", "Fracture of neck of femur", 0.5), ("123971006", "Colles' fracture", 0.5)),
       event=True),
    _p("heart_valve_disease", "Heart valve disease", "heart-valve-disease",
       (("60573004", "Aortic valve stenosis", 0.6), ("48724000", "Mitral valve regurgitation",
                                                     0.4))),
    _p("housebound", "Housebound", "housebound", (("160689007", "Housebound", 1.0),)),
    _p("hypotension", "Low blood pressure or syncope", "hypotension-syncope",
       (("45007003", "Low blood pressure", 0.3), ("28651003", "Orthostatic hypotension", 0.3),
        ("271594007", "Syncope", 0.4))),
    _p("memory_problems", "Memory problems", "memory-cognitive-problems",
       (("386807006", "Memory impairment", 1.0),)),
    _p("mobility_problems", "Mobility problems", "mobility-transfer-problems",
       (("8510008", "Reduced mobility", 0.6), ("302046008", "Difficulty mobilizing", 0.4))),
    _p("peptic_ulcer", "Peptic ulcer", "peptic-ulcer",
       (("13200003", "Peptic ulcer", 0.6), ("397825006", "Gastric ulcer", 0.4))),
    _p("skin_ulcer", "Skin ulcer", "skin-ulcer",
       (("402863005", "Venous stasis ulcer of leg", 0.6), ("399912005", "Pressure ulcer", 0.4))),
    _p("sleep_disturbance", "Sleep disturbance", "sleep-disturbance",
       (("193462001", "Insomnia", 1.0),)),
    _p("urinary_incontinence", "Urinary incontinence", "urinary-incontinence",
       (("165232002", "Urinary incontinence", 0.7), ("87557004", "Urge incontinence of urine",
                                                     0.3))),
    _p("urinary_system_disease", "Urinary system disease", "urinary-system-disease",
       (("197927001", "Recurrent urinary tract infection", 0.5),
        ("61033006", "Detrusor instability of bladder", 0.5))),
    _p("weight_loss", "Weight loss", "weight-loss-anorexia",
       (("89362005", "Weight loss", 0.6), ("448765001", "Unintentional weight loss", 0.4))),
)

EXTRA_DEFICIT_PREVALENCE: Final[dict[str, tuple[float, float, float]]] = {
    "activity_limitation":    (9.5, 12.0, 14.5),
    "anaemia":                (19.5, 19.0, 19.0),
    "dizziness":              (23.0, 19.0, 14.5),
    "dyspnoea":               (23.0, 22.0, 17.0),
    "falls":                  (16.0, 24.5, 30.0),
    "foot_problems":          (12.5, 15.5, 15.5),
    "fragility_fracture":     (9.5, 12.0, 12.5),
    "heart_valve_disease":    (7.0, 10.5, 10.0),
    "housebound":             (1.0, 5.0, 14.5),
    "hypotension":            (12.5, 14.0, 12.5),
    "memory_problems":        (7.0, 8.5, 7.0),
    "mobility_problems":      (9.5, 15.5, 23.5),
    "peptic_ulcer":           (9.5, 8.5, 6.5),
    "skin_ulcer":             (7.0, 8.5, 10.0),
    "sleep_disturbance":      (23.0, 17.5, 12.0),
    "urinary_incontinence":   (12.5, 15.5, 18.0),
    "urinary_system_disease": (16.0, 15.5, 12.5),
    "weight_loss":            (9.5, 10.5, 11.0),
}
# fmt: on
EXTRA_DEFICIT_LOADING: Final = 0.7
"""Log-odds per SD of latent propensity for each extra deficit (the same for all)."""

BPH: Final = Problem(
    "bph",
    "Benign prostatic hyperplasia",
    "urinary-system-disease",
    (("266569009", "Benign prostatic hyperplasia", 1.0),),
    False,
)
"""Men's urinary system disease is coded as BPH in half of cases."""

SOCIAL_VULNERABILITY: Final = Problem(
    "social_vulnerability",
    "Social vulnerability",
    "social-vulnerability",
    (("105529008", "Lives alone", 0.8), ("267076002", "Feeling lonely", 0.2)),
    False,
)
LIVES_ALONE_CODED: Final = 0.45
"""Share of people living alone whose record carries a social-vulnerability code."""
LONELY_CODED: Final = 0.02
"""Share of people not living alone with a 'feeling lonely' code."""

CARE_REQUIREMENT: Final[dict[str, tuple[str, str]]] = {
    "care-home": ("248171000000108", "Lives in care home"),
    "nursing-home": ("160734000", "Lives in nursing home"),
    "home-care": ("160774006", "Home help attends"),
    "carer": ("184156005", "Has a caregiver"),
}
"""Requirement-for-care deficit codes, one per kind of care a person receives."""

# Other problems that are neither long-term conditions of the issue nor eFI deficits, but are
# common reasons for repeat medicines: ever-recorded prevalence (%) at 65-74, 75-84, 85+.
# fmt: off
OTHER_PROBLEMS: Final[tuple[Problem, ...]] = (
    _p("constipation", "Constipation", None, (("14760008", "Constipation", 1.0),)),
    _p("gord", "Gastro-oesophageal reflux disease", None,
       (("235595009", "Gastro-oesophageal reflux disease", 1.0),)),
    _p("vitamin_d_deficiency", "Vitamin D deficiency", None,
       (("34713006", "Vitamin D deficiency", 1.0),)),
)
OTHER_PROBLEM_PREVALENCE: Final[dict[str, tuple[float, float, float]]] = {
    "constipation": (9.0, 14.0, 20.0),
    "gord":         (16.0, 18.0, 18.0),
    "vitamin_d_deficiency": (8.0, 10.0, 12.0),
}
# fmt: on
OTHER_PROBLEM_LOADING: Final = 0.4
"""Constipation (14760008), GORD (235595009) and vitamin D deficiency (34713006) codes are in
many public code lists and in no GM SDE eFI code set (GORD with ulceration, 245754007, is in the
peptic-ulcer set; we never emit it); prevalences are (approx., from memory) of recorded diagnoses
in older people."""

ALL_PROBLEMS: Final[tuple[Problem, ...]] = (
    *LONG_TERM_CONDITIONS,
    *OTHER_CONDITIONS,
    *EXTRA_DEFICITS,
    BPH,
    SOCIAL_VULNERABILITY,
    *OTHER_PROBLEMS,
)


def _deficit_codes() -> dict[str, str]:
    table: dict[str, str] = {}
    for problem in ALL_PROBLEMS:
        if problem.deficit is not None:
            for code, _display, _weight in problem.codes:
                table[code] = problem.deficit
    for code, _display in CARE_REQUIREMENT.values():
        table[code] = "requirement-for-care"
    return table


EFI_DEFICIT_CODES: Final[dict[str, str]] = _deficit_codes()
"""SNOMED code -> eFI deficit, for every code the generator may emit as a Condition.

Population analytics computes a person's eFI from their record with this table: a deficit is
present if any of their Conditions carries one of its codes (whatever its clinical status; eFI
deficits do not expire), plus polypharmacy from 5 or more distinct active MedicationStatements.
Encounter reason codes are not a source. Every code here is in the matching public eFI code set
(gm-sde efi-*), and none is in two of them."""

LONG_TERM_CONDITION_CODES: Final[dict[str, str]] = {
    code: problem.key for problem in LONG_TERM_CONDITIONS for code, _d, _w in problem.codes
}
"""SNOMED code -> long-term condition key (multimorbidity counts distinct keys)."""

OTHER_CONDITION_CODES: Final[dict[str, str]] = {
    code: problem.key for problem in OTHER_CONDITIONS for code, _d, _w in problem.codes
}
"""SNOMED code -> other condition key (not in the generator's multimorbidity targets)."""


def efi_category(deficit_count: int) -> str:
    """The eFI category of a deficit count (Clegg 2016 cut-points, by count to avoid rounding)."""
    if deficit_count <= 4:
        return "fit"
    if deficit_count <= 8:
        return "mild"
    if deficit_count <= 12:
        return "moderate"
    return "severe"


FRAILTY_CATEGORIES: Final = ("fit", "mild", "moderate", "severe")

# --------------------------------------------------------------------------------------------
# Medicines (dm+d, as SNOMED CT UK Drug Extension codings)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Medicine:
    """A repeat medicine: its dm+d concept, when it is prescribed, and where its code was checked.

    `indications` are (problem key, chance) pairs: the first problem on the record is the
    recorded reason, and its chance is the chance of being prescribed the medicine for it.
    `companions` are medicines (earlier in `MEDICINES`) that bring this one with them with
    `companion_chance` (a PPI to protect the stomach from an antiplatelet, a laxative with an
    opioid); it then takes its companion's reason. It is never prescribed with any medicine in
    `unless` (an alternative of the same class, or one that already contains it). When
    `reason_codes` is set, only a problem coded with one of them is an indication (latanoprost
    for a generic visual impairment code, not for cataract).
    """

    key: str
    code: str
    display: str
    dosage: str
    indications: tuple[tuple[str, float], ...]
    source: str  # where the code was checked (see the module docstring and the docs page)
    companions: tuple[str, ...] = ()
    companion_chance: float = 0.0
    unless: tuple[str, ...] = ()
    reason_codes: tuple[str, ...] = ()

    @property
    def indication_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _chance in self.indications)


# Where codes were checked (short labels used in `Medicine.source`; full paths in the docs):
GM_SDE: Final = "GM SDE medication code set"
"""github.com/UoM-Data-Science-Platforms/gm-sde, shared/clinical-code-sets/medications/<set>/."""
EXETER: Final = "Exeter Diabetes SDE dm+d list"
OPENCODELISTS: Final = "OpenCodelists dm+d codelist"
"""CSV codelists downloaded from OpenCodelists into OpenSAFELY study repositories
(github.com/opensafely/polypharmacy-deprescribing-dementia, codelists/)."""
PUBLIC_CODE: Final = "public code only"
"""Seen with this name only in public code (queries, fixtures), not in a published codelist:
verify in TRUD before relying on it."""

_PPI_COMPANIONS: Final = ("aspirin", "clopidogrel", "apixaban", "prednisolone")
"""Medicines with which a PPI is commonly co-prescribed to protect the stomach."""
_OPIOIDS: Final = ("co_codamol",)
_EPILEPSY_LIST: Final = f"{OPENCODELISTS} user-ZoeMZou/multimorbidity_prescription_epilepsy"
_INDICATED_FOR_STATINS: Final = ("chd", "stroke", "pad", "diabetes", "ckd", "hypertension")

# Chances are approximate (from memory of NICE pathways and prescribing patterns), then tuned so
# that the number of repeat medicines per person lands near the polypharmacy targets (TARGETS).
# fmt: off
MEDICINES: Final[tuple[Medicine, ...]] = (
    # Cardiovascular
    Medicine("amlodipine", "39732011000001102", "Amlodipine 5mg tablets",
             "One tablet once a day", (("hypertension", 0.35),),
             f"{GM_SDE} calcium-channel-blockers"),
    Medicine("ramipril", "108564000", "Ramipril",
             "2.5mg capsule, one once a day",
             (("heart_failure", 0.65), ("diabetes", 0.4), ("chd", 0.4), ("ckd", 0.3),
              ("hypertension", 0.15)), f"{EXETER} acei (VTM)"),
    Medicine("losartan", "318956006", "Losartan 50mg tablets",
             "One tablet once a day",
             (("heart_failure", 0.35), ("diabetes", 0.3), ("chd", 0.2), ("ckd", 0.3),
              ("hypertension", 0.15)), f"{GM_SDE} angiotensin-receptor-blockers",
             unless=("ramipril",)),
    Medicine("indapamide", "112481000001106", "Indapamide 2.5mg tablets",
             "One tablet each morning", (("hypertension", 0.15),), f"{EXETER} thiazides"),
    Medicine("doxazosin", "42209311000001101", "Doxazosin 4mg tablets",
             "One tablet once a day", (("hypertension", 0.07),),
             f"{OPENCODELISTS} opensafely/alpha-adrenoceptor-blocking-drugs"),
    Medicine("bisoprolol", "108547003", "Bisoprolol",
             "2.5mg tablet, one once a day",
             (("heart_failure", 0.8), ("af", 0.5), ("chd", 0.4), ("heart_valve_disease", 0.15),
              ("hypertension", 0.04)), f"{EXETER} beta-blockers (VTM)"),
    Medicine("furosemide", "42294811000001108", "Furosemide 40mg tablets",
             "One tablet each morning",
             (("heart_failure", 0.8), ("heart_valve_disease", 0.12), ("ckd", 0.05),
              ("skin_ulcer", 0.06), ("dyspnoea", 0.03)), f"{GM_SDE} furosemide"),
    Medicine("atorvastatin", "39733011000001106", "Atorvastatin 20mg tablets",
             "One tablet at night",
             tuple((key, 0.25 if key == "hypertension" else 0.6) for key in _INDICATED_FOR_STATINS),
             f"{GM_SDE} statins"),
    Medicine("simvastatin", "42382311000001100", "Simvastatin 40mg tablets",
             "One tablet at night",
             tuple((key, 0.15 if key == "hypertension" else 0.4) for key in _INDICATED_FOR_STATINS),
             f"{GM_SDE} statins", unless=("atorvastatin",)),
    Medicine("apixaban", "42206511000001102", "Apixaban 5mg tablets",
             "One tablet twice a day", (("af", 0.8),), PUBLIC_CODE),
    Medicine("aspirin", "319773006", "Aspirin 75mg dispersible tablets",
             "One tablet once a day", (("chd", 0.5), ("pad", 0.2)), f"{GM_SDE} aspirin",
             unless=("apixaban",)),
    Medicine("clopidogrel", "319799004", "Clopidogrel 75mg tablets",
             "One tablet once a day", (("stroke", 0.55), ("pad", 0.55), ("chd", 0.1)),
             f"{GM_SDE} clopidogrel", unless=("apixaban",)),
    # Diabetes
    Medicine("metformin", "325278007", "Metformin 500mg tablets",
             "One tablet twice a day with meals", (("diabetes", 0.8),), PUBLIC_CODE),
    Medicine("gliclazide", "325242002", "Gliclazide 80mg tablets",
             "One tablet twice a day with meals", (("diabetes", 0.3),), f"{GM_SDE} gliclazide"),
    Medicine("sitagliptin", "424345005", "Sitagliptin 100mg tablets",
             "One tablet once a day", (("diabetes", 0.2),), f"{GM_SDE} sitagliptin"),
    # Respiratory
    Medicine("salbutamol", "39113611000001102", "Salbutamol 100micrograms/dose inhaler CFC free",
             "Two puffs when required", (("copd", 0.9), ("asthma", 0.9), ("dyspnoea", 0.1)),
             f"{GM_SDE} salbutamol"),
    Medicine("fostair", "12911011000001100",
             "Beclometasone 100micrograms/dose / Formoterol 6micrograms/dose inhaler CFC free",
             "Two puffs twice a day", (("copd", 0.45), ("asthma", 0.35)),
             f"{PUBLIC_CODE} (two OpenSAFELY/OpenPrescribing queries)"),
    Medicine("beclometasone", "35908111000001105",
             "Beclometasone 100micrograms/dose inhaler CFC free", "Two puffs twice a day",
             (("asthma", 0.5),), f"{GM_SDE} bnf-respiratory-meds", unless=("fostair",)),
    Medicine("prednisolone", "325427002", "Prednisolone 5mg tablets",
             "As directed, usually one tablet each morning",
             (("connective_tissue_disorder", 0.45), ("rheumatoid_arthritis", 0.25),
              ("copd", 0.06)), f"{GM_SDE} prednisolone",
             reason_codes=("65323003", "400130008", "69896004", "13645005")),
    # Pain
    Medicine("co_codamol", "322341003", "Co-codamol 30mg/500mg tablets",
             "One or two tablets up to four times a day when required",
             (("osteoarthritis", 0.18), ("rheumatoid_arthritis", 0.18),
              ("fragility_fracture", 0.18)), f"{GM_SDE} codeine"),
    Medicine("paracetamol", "42109611000001109", "Paracetamol 500mg tablets",
             "Two tablets up to four times a day when required",
             (("osteoarthritis", 0.6), ("rheumatoid_arthritis", 0.6),
              ("fragility_fracture", 0.45), ("mobility_problems", 0.35), ("skin_ulcer", 0.3),
              ("pad", 0.15), ("foot_problems", 0.15), ("falls", 0.15)),
             f"{PUBLIC_CODE} (SCMD and other public fixtures)",
             unless=("co_codamol",)),
    Medicine("amitriptyline", "321745007", "Amitriptyline 10mg tablets",
             "One tablet at night",
             (("osteoarthritis", 0.06), ("diabetes", 0.06), ("depression", 0.06),
              ("sleep_disturbance", 0.04)),
             f"{GM_SDE} amitriptyline"),
    Medicine("methotrexate", "326874007", "Methotrexate 2.5mg tablets",
             "Four tablets once a week, on the same day each week",
             (("rheumatoid_arthritis", 0.6),), f"{GM_SDE} methotrexate"),
    Medicine("hydroxychloroquine", "330037008", "Hydroxychloroquine 200mg tablets",
             "One tablet once a day",
             (("connective_tissue_disorder", 0.5), ("rheumatoid_arthritis", 0.1)),
             f"{GM_SDE} hydroxychloroquine", reason_codes=("83901003", "55464009", "69896004")),
    # Gastro-intestinal
    Medicine("omeprazole", "42356411000001102", "Omeprazole 20mg gastro-resistant capsules",
             "One capsule once a day", (("peptic_ulcer", 0.6), ("gord", 0.6)),
             f"{GM_SDE} proton-pump-inhibitors", companions=_PPI_COMPANIONS,
             companion_chance=0.5),
    Medicine("lansoprazole", "42354511000001109", "Lansoprazole 15mg gastro-resistant capsules",
             "One capsule once a day", (("peptic_ulcer", 0.35), ("gord", 0.3)),
             f"{GM_SDE} proton-pump-inhibitors", companions=_PPI_COMPANIONS,
             companion_chance=0.25, unless=("omeprazole",)),
    Medicine("senna", "42358311000001108", "Senna 7.5mg tablets",
             "Two tablets at night", (("constipation", 0.4),),
             f"{OPENCODELISTS} user-ZoeMZou/multimorbidity_prescription_chronic_constipation",
             companions=_OPIOIDS, companion_chance=0.4),
    Medicine("macrogol", "3591211000001105", "Macrogol compound oral powder sachets NPF sugar free",
             "One sachet once or twice a day", (("constipation", 0.45),),
             f"{OPENCODELISTS} user-ZoeMZou/multimorbidity_prescription_chronic_constipation"),
    Medicine("lactulose", "42354411000001105", "Lactulose 3.1-3.7g/5ml oral solution",
             "15ml twice a day", (("constipation", 0.15),),
             f"{OPENCODELISTS} user-ZoeMZou/multimorbidity_prescription_chronic_constipation",
             unless=("macrogol",)),
    Medicine("bisacodyl", "42351711000001102", "Bisacodyl 5mg gastro-resistant tablets",
             "One or two tablets at night when required", (("constipation", 0.15),),
             f"{OPENCODELISTS} user-ZoeMZou/multimorbidity_prescription_chronic_constipation"),
    Medicine("ispaghula", "38897111000001108",
             "Ispaghula husk 3.5g effervescent granules sachets gluten free sugar free",
             "One sachet twice a day in water", (("constipation", 0.1),),
             f"{OPENCODELISTS} user-ZoeMZou/multimorbidity_prescription_chronic_constipation"),
    Medicine("mebeverine", "42355011000001102", "Mebeverine 135mg tablets",
             "One tablet three times a day, 20 minutes before meals", (("ibs", 0.12),),
             f"{OPENCODELISTS} user-ZoeMZou/multimorbidity_prescription_anti_spasmodic"),
    # Bone
    Medicine("alendronic_acid", "39731311000001108", "Alendronic acid 70mg tablets",
             "One tablet once a week", (("osteoporosis", 0.6), ("fragility_fracture", 0.35)),
             f"{GM_SDE} bisphosphonates"),
    Medicine("calcium_vitamin_d", "18764211000001106",
             "Colecalciferol 800unit / Calcium carbonate 1.25g chewable tablets",
             "One tablet twice a day",
             (("osteoporosis", 0.65), ("fragility_fracture", 0.4), ("falls", 0.1)),
             f"{GM_SDE} bnf-nutrition-bloods-meds", companions=("alendronic_acid",),
             companion_chance=0.8),
    Medicine("colecalciferol", "19372611000001107", "Colecalciferol 400unit tablets",
             "Two tablets once a day",
             (("vitamin_d_deficiency", 0.6), ("housebound", 0.2), ("falls", 0.05)),
             f"{GM_SDE} bnf-nutrition-bloods-meds", unless=("calcium_vitamin_d",)),
    # Neurology and mental health
    Medicine("donepezil", "42035611000001109", "Donepezil 5mg tablets",
             "One tablet at night", (("dementia", 0.45),),
             f"{GM_SDE} acetylcholinesterase-inhibitors"),
    Medicine("memantine", "42037411000001100", "Memantine 10mg tablets",
             "One tablet once a day", (("dementia", 0.2),), f"{GM_SDE} memantine"),
    Medicine("co_careldopa", "39734811000001102", "Co-careldopa 25mg/100mg tablets",
             "One tablet three times a day, at the same times each day", (("parkinsons", 0.85),),
             f"{GM_SDE} bnf-cns-meds"),
    Medicine("levetiracetam", "42131311000001108", "Levetiracetam 500mg tablets",
             "One tablet twice a day", (("epilepsy", 0.25),), _EPILEPSY_LIST),
    Medicine("lamotrigine", "42130611000001108", "Lamotrigine 100mg tablets",
             "One tablet twice a day", (("epilepsy", 0.2),), _EPILEPSY_LIST,
             unless=("levetiracetam",)),
    Medicine("sodium_valproate", "42137111000001104",
             "Sodium valproate 500mg gastro-resistant tablets", "One tablet twice a day",
             (("epilepsy", 0.15),), _EPILEPSY_LIST, unless=("levetiracetam", "lamotrigine")),
    Medicine("carbamazepine", "42126211000001106", "Carbamazepine 200mg tablets",
             "One tablet twice a day", (("epilepsy", 0.1),), _EPILEPSY_LIST,
             unless=("levetiracetam", "lamotrigine", "sodium_valproate")),
    Medicine("lithium", "39110111000001103", "Lithium carbonate 400mg modified-release tablets",
             "One tablet at night; dose set by the lithium level", (("smi", 0.15),),
             f"{OPENCODELISTS} user-ZoeMZou/multimorbidity_prescription_schizophrenia_bipolar"
             "_disorder",
             reason_codes=("13746004",)),
    Medicine("olanzapine", "321612002", "Olanzapine 5mg tablets",
             "One tablet at night", (("smi", 0.3),), f"{GM_SDE} antipsychotics"),
    Medicine("risperidone", "321589009", "Risperidone 1mg tablets",
             "One tablet twice a day", (("smi", 0.2),), f"{GM_SDE} antipsychotics",
             unless=("olanzapine",)),
    Medicine("sertraline", "39704111000001102", "Sertraline 50mg tablets",
             "One tablet once a day", (("depression", 0.45), ("anxiety", 0.4)),
             f"{GM_SDE} sertraline"),
    Medicine("citalopram", "42269411000001107", "Citalopram 20mg tablets",
             "One tablet once a day", (("depression", 0.35), ("anxiety", 0.3)),
             f"{GM_SDE} citalopram", unless=("sertraline",)),
    Medicine("mirtazapine", "375193003", "Mirtazapine 15mg tablets",
             "One tablet at night",
             (("depression", 0.12), ("dementia", 0.05), ("weight_loss", 0.03),
              ("sleep_disturbance", 0.02)),
             f"{GM_SDE} mirtazapine"),
    # Endocrine
    Medicine("levothyroxine", "39698611000001106", "Levothyroxine sodium 50microgram tablets",
             "One tablet each morning", (("hypothyroidism", 0.97),), f"{GM_SDE} levothyroxine"),
    # Urology
    Medicine("tamsulosin", "38754011000001109", "Tamsulosin 400microgram modified-release capsules",
             "One capsule once a day after food", (("bph", 0.75),),
             f"{PUBLIC_CODE} (two public queries)"),
    Medicine("finasteride", "42036011000001106", "Finasteride 5mg tablets",
             "One tablet once a day", (("bph", 0.3),), PUBLIC_CODE),
    Medicine("solifenacin", "42042911000001105", "Solifenacin 5mg tablets",
             "One tablet once a day",
             (("urinary_incontinence", 0.1), ("urinary_system_disease", 0.15)), PUBLIC_CODE,
             reason_codes=("165232002", "87557004", "61033006")),
    Medicine("prochlorperazine", "42040311000001105", "Prochlorperazine 5mg tablets",
             "One tablet three times a day when required", (("dizziness", 0.06),),
             f"{OPENCODELISTS} opensafely/prochlorperazine-dmd"),
    # Eyes and blood
    Medicine("latanoprost", "330729005", "Latanoprost 50micrograms/ml eye drops",
             "One drop into both eyes at night", (("visual_impairment", 0.5),),
             f"{GM_SDE} bnf-eye-meds", reason_codes=("397540003",)),
    Medicine("ferrous_fumarate", "41984711000001104", "Ferrous fumarate 210mg tablets",
             "One tablet twice a day", (("anaemia", 0.15),),
             f"{PUBLIC_CODE} (two public queries)", reason_codes=("271737000", "87522002")),
    # Alcohol problems: last, so that adding it left every other medicine's draw as it was
    Medicine("thiamine", "329266003", "Thiamine 100mg tablets",
             "One tablet three times a day", (("alcohol_problems", 0.3),),
             f"{GM_SDE} bnf-nutrition-bloods-meds"),
)
# fmt: on
MEDICINE_CODES: Final[dict[str, Medicine]] = {medicine.code: medicine for medicine in MEDICINES}
PRESCRIBING_SHIFT: Final = 1.06
PRESCRIBING_LOADING: Final = 0.2
PRESCRIBING_SPREAD: Final = 0.4
"""A person's prescribing shift (log-odds added to every chance above) is SHIFT + LOADING x the
latent propensity + SPREAD x a standard normal draw (tuned to the polypharmacy targets)."""
MEDICINE_KEYS: Final[dict[str, Medicine]] = {medicine.key: medicine for medicine in MEDICINES}

# --------------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------------


def _snomed_loinc(snomed: str, display: str, loinc: str, loinc_display: str) -> dict[str, Any]:
    return {
        "coding": [
            {"system": SNOMED, "code": snomed, "display": display},
            {"system": LOINC, "code": loinc, "display": loinc_display},
        ],
        "text": display,
    }


BLOOD_PRESSURE: Final = _snomed_loinc(
    "75367002", "Blood pressure", "85354-9", "Blood pressure panel with all children optional"
)
SYSTOLIC: Final = _snomed_loinc(
    "271649006", "Systolic blood pressure", "8480-6", "Systolic blood pressure"
)
DIASTOLIC: Final = _snomed_loinc(
    "271650006", "Diastolic blood pressure", "8462-4", "Diastolic blood pressure"
)
BODY_WEIGHT: Final = _snomed_loinc("27113001", "Body weight", "29463-7", "Body weight")
BMI: Final = _snomed_loinc(
    "60621009", "Body mass index", "39156-5", "Body mass index (BMI) [Ratio]"
)
HBA1C: Final = concept(
    "999791000000106",
    "Haemoglobin A1c level - International Federation of Clinical Chemistry and Laboratory "
    "Medicine standardised",
)
EGFR: Final = concept(
    "1011481000000105",
    "eGFR (estimated glomerular filtration rate) using creatinine Chronic Kidney Disease "
    "Epidemiology Collaboration equation per 1.73 square metres",
)
VITAL_SIGNS: Final = [concept("vital-signs", "Vital Signs", OBSERVATION_CATEGORY)]
LABORATORY: Final = [concept("laboratory", "Laboratory", OBSERVATION_CATEGORY)]
MM_HG: Final = {"unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
KG: Final = {"unit": "kg", "system": UCUM, "code": "kg"}
KG_M2: Final = {"unit": "kg/m2", "system": UCUM, "code": "kg/m2"}
MMOL_MOL: Final = {"unit": "mmol/mol", "system": UCUM, "code": "mmol/mol"}
EGFR_UNIT: Final = {"unit": "mL/min/1.73m2", "system": UCUM, "code": "mL/min/{1.73_m2}"}
HOURS_PER_WEEK: Final = {"unit": "hours per week", "system": UCUM, "code": "h/wk"}

# --------------------------------------------------------------------------------------------
# Hospital use and deaths
# --------------------------------------------------------------------------------------------

INPATIENT: Final = {"system": V3_ACT_CODE, "code": "IMP", "display": "inpatient encounter"}
EMERGENCY: Final = {"system": V3_ACT_CODE, "code": "EMER", "display": "emergency"}
HOME_HEALTH: Final = {"system": V3_ACT_CODE, "code": "HH", "display": "home health"}
EMERGENCY_ADMISSION: Final = [concept("183452005", "Emergency hospital admission")]
EMERGENCY_DEPARTMENT_VISIT: Final = [concept("4525004", "Emergency department patient visit")]
EMERGENCY_PRIORITY: Final = concept("EM", "emergency", V3_ACT_PRIORITY)
FROM_EMERGENCY_DEPARTMENT: Final = concept(
    "emd", "From accident/emergency department", ADMIT_SOURCE
)
DISCHARGED_TO: Final[dict[str, dict[str, Any]]] = {
    "home": concept("home", "Home", DISCHARGE_DISPOSITION),
    "long": concept("long", "Long-term care", DISCHARGE_DISPOSITION),
    "rehab": concept("rehab", "Rehabilitation", DISCHARGE_DISPOSITION),
    "exp": concept("exp", "Expired", DISCHARGE_DISPOSITION),
}

# Why older people are admitted: (SNOMED code, display, weight, problems of which the person must
# have one; empty: anyone).
# fmt: off
ADMISSION_REASONS: Final[tuple[tuple[str, str, float, tuple[str, ...]], ...]] = (
    ("233604007", "Pneumonia", 14.0, ()),
    ("29857009", "Chest pain", 8.0, ()),
    ("128045006", "Cellulitis", 5.0, ()),
    ("14669001", "Acute kidney injury", 5.0, ()),
    ("91302008", "Sepsis", 5.0, ()),
    ("68566005", "Urinary tract infectious disease", 8.0, ("urinary_system_disease", "bph")),
    ("1912002", "Fall", 12.0, ("falls",)),
    ("5913000", "Fracture of neck of femur", 6.0, ("fragility_fracture",)),
    ("84114007", "Heart failure", 8.0, ("heart_failure",)),
    ("195951007", "Acute exacerbation of chronic obstructive airways disease", 8.0, ("copd",)),
    ("230690007", "Cerebrovascular accident", 5.0, ("stroke",)),
    ("2776000", "Delirium", 6.0, ("dementia",)),
    ("271594007", "Syncope", 4.0, ("hypotension",)),
    ("267036007", "Dyspnea", 4.0, ("dyspnoea",)),
)
# fmt: on
ATTENDANCE_REASONS: Final = ADMISSION_REASONS

# Emergency admissions and A&E attendances (not admitted) per person-year, by eFI category.
ADMISSION_RATE: Final[dict[str, float]] = {
    "fit": 0.10,
    "mild": 0.20,
    "moderate": 0.35,
    "severe": 0.55,
}
ATTENDANCE_RATE: Final[dict[str, float]] = {
    "fit": 0.15,
    "mild": 0.27,
    "moderate": 0.42,
    "severe": 0.62,
}
HOSPITAL_YEARS: Final = 2
"""Hospital use is generated over the 2 years before the record date."""
DIED_IN_HOSPITAL: Final = 0.45
"""Share of deaths in hospital (ONS place of death, 65+, approximate)."""

ANNUAL_MORTALITY: Final[dict[str, float]] = {"65-74": 0.015, "75-84": 0.045, "85+": 0.14}
MORTALITY_MULTIPLIER: Final[dict[str, float]] = {
    "fit": 1.0,
    "mild": 1.9,
    "moderate": 3.1,
    "severe": 4.5,
}
"""Relative annual mortality by eFI category (Clegg 2016 hazard ratios, approximate)."""

# --------------------------------------------------------------------------------------------
# Social care and carers
# --------------------------------------------------------------------------------------------

SOCIAL_CARE: Final = CAREWEAVE_CODES + "social-care"
CARE_ACT_ASSESSMENT: Final = [
    concept("care-act-assessment", "Care Act 2014 section 9 needs assessment", SOCIAL_CARE)
]
HOME_CARE_EPISODE: Final = [concept("home-care", "Home care package", SOCIAL_CARE)]
CARE_HOME_EPISODE: Final = [concept("care-home", "Care home residence", SOCIAL_CARE)]
NURSING_HOME_EPISODE: Final = [concept("nursing-home", "Nursing home residence", SOCIAL_CARE)]
HOME_CARE_SERVICE: Final = concept("home-care", "Home care (domiciliary care)", SOCIAL_CARE)
UNPAID_CARER: Final = concept("unpaid-carer", "Unpaid carer", SOCIAL_CARE)

CARE_HOME_BASE: Final[dict[str, float]] = {"65-74": 0.01, "75-84": 0.035, "85+": 0.077}
CARE_HOME_MULTIPLIER: Final[dict[str, float]] = {
    "fit": 0.15,
    "mild": 0.7,
    "moderate": 2.2,
    "severe": 4.5,
}
CARE_HOME_DEMENTIA: Final = 3.0
"""Care-home residence: base chance by age band x frailty multiplier x dementia multiplier."""
NURSING_HOME_SHARE: Final[dict[str, float]] = {
    "fit": 0.15,
    "mild": 0.25,
    "moderate": 0.4,
    "severe": 0.6,
}
HOME_CARE_RATE: Final[dict[str, float]] = {
    "fit": 0.0045,
    "mild": 0.03,
    "moderate": 0.11,
    "severe": 0.27,
}
"""Chance of a council-arranged home care package for someone living at home, by category."""
HOME_CARE_HOURS: Final = (
    (3.5, 0.15),
    (5.0, 0.2),
    (7.0, 0.25),
    (10.5, 0.2),
    (14.0, 0.12),
    (21.0, 0.08),
)
ASSESSMENT_ONLY_RATE: Final[dict[str, float]] = {
    "fit": 0.002,
    "mild": 0.01,
    "moderate": 0.04,
    "severe": 0.08,
}
"""Chance of a Care Act assessment in the last 2 years without a package following it."""
CARER_RATE: Final[dict[str, float]] = {"fit": 0.042, "mild": 0.185, "moderate": 0.45, "severe": 0.6}
"""Chance that someone living at home has an unpaid carer on record, by category."""

# v3 MaritalStatus shares (M, W, D, S) by sex and age band (ONS Census 2021, approximate).
MARITAL_STATUS: Final[dict[tuple[str, int], tuple[float, float, float, float]]] = {
    ("male", 0): (0.70, 0.07, 0.14, 0.09),
    ("male", 1): (0.68, 0.17, 0.08, 0.07),
    ("male", 2): (0.53, 0.38, 0.04, 0.05),
    ("female", 0): (0.58, 0.18, 0.15, 0.09),
    ("female", 1): (0.42, 0.44, 0.08, 0.06),
    ("female", 2): (0.18, 0.72, 0.04, 0.06),
}
MARITAL_DISPLAY: Final = {"M": "Married", "W": "Widowed", "D": "Divorced", "S": "Never Married"}
LIVES_ALONE_IF_NOT_MARRIED: Final = 0.72
LIVES_ALONE_IF_MARRIED: Final = 0.02

# Household composition, recorded for everyone 65+ as a social-history Observation whose value
# says who they live with. Codes checked in public code: 224130005 |Household composition| (FHIR
# profiles and examples in three countries), 105529008 |Lives alone| (GM SDE eFI
# social-vulnerability set), 447051007 |Lives with spouse| and 224133007 |Lives with family|
# (public value sets and examples, and the NHS COVID-19 care record "living arrangements" text),
# 248171000000108 |Lives in care home| and 160734000 |Lives in nursing home| (GM SDE eFI
# requirement-for-care set).
HOUSEHOLD_COMPOSITION: Final = concept("224130005", "Household composition")
SOCIAL_HISTORY: Final = [concept("social-history", "Social History", OBSERVATION_CATEGORY)]
LIVES_WITH: Final[dict[str, dict[str, Any]]] = {
    "alone": concept("105529008", "Lives alone"),
    "spouse": concept("447051007", "Lives with spouse"),
    "family": concept("224133007", "Lives with family"),
    "care-home": concept("248171000000108", "Lives in care home"),
    "nursing-home": concept("160734000", "Lives in nursing home"),
}
"""Household composition values; the eFI is computed from Conditions only, so a "Lives alone"
value here is a social fact, not a second social-vulnerability entry."""

CARER_RELATIONSHIPS: Final = {
    "SPS": "spouse",
    "DAU": "natural daughter",
    "SON": "natural son",
    "NBOR": "neighbor",
    "FRND": "unrelated friend",
}

# --------------------------------------------------------------------------------------------
# Targets for the statistical test (documented in docs/synthetic-data.md)
# --------------------------------------------------------------------------------------------


def _by_sex_and_band(
    table: dict[str, tuple[float, float, float, float, float, float]],
) -> dict[str, dict[str, dict[str, float]]]:
    """A prevalence table (men's three bands, then women's) as condition -> sex -> band."""
    return {
        key: {
            "male": dict(zip(AGE_BANDS, values[:3], strict=True)),
            "female": dict(zip(AGE_BANDS, values[3:], strict=True)),
        }
        for key, values in table.items()
    }


TARGETS: Final[dict[str, Any]] = {
    "condition_prevalence": _by_sex_and_band(CONDITION_PREVALENCE),
    "other_condition_prevalence": _by_sex_and_band(OTHER_CONDITION_PREVALENCE),
    "multimorbidity_2plus": {"65+": 57.0, "65-74": 47.0, "75-84": 65.0, "85+": 79.0, "80+": 74.0},
    "multimorbidity_odds_ratio_decile_1_vs_10": 2.0,
    "efi_category": {"fit": 51.5, "mild": 33.0, "moderate": 11.7, "severe": 3.8},
    "efi_category_by_band": {
        "65-74": {"fit": 59.5, "mild": 30.7, "moderate": 8.0, "severe": 1.8},
        "75-84": {"fit": 45.3, "mild": 35.5, "moderate": 14.1, "severe": 5.1},
        "85+": {"fit": 33.8, "mild": 37.1, "moderate": 19.8, "severe": 9.3},
    },
    "polypharmacy_5plus": 47.0,
    "polypharmacy_10plus": 11.0,
    "household_composition_recorded": {"65+": 100.0},
    "care_home_share": {"65+": 3.0, "85+": 12.5},
    "unpaid_carer_share": {"65+": 14.0},
    "home_care_share": {"65+": 2.7},
    "lives_alone_share": {"65+": 31.5},
    "admissions_per_person_year": dict(ADMISSION_RATE),
    "attendances_per_person_year": dict(ATTENDANCE_RATE),
    "annual_deaths": dict(ANNUAL_MORTALITY),
}
"""What the population should show, in percent (rates per person-year); tolerances are the
statistical test's business. Condition prevalence is of the record (recorded diagnoses)."""
