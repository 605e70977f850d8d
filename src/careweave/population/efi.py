"""The electronic Frailty Index (eFI, Clegg et al., Age and Ageing 2016) of one person, as of a day.

The eFI counts 36 deficits, each present or absent and equally weighted: 35 are present when
the record carries any code of the deficit's code list (`data/efi-deficits-v<n>.csv`), and the
36th, polypharmacy, when the person took 5 or more distinct medicines in the 12 months up to the
day (`careweave.population.medicines` has the rule). A deficit once coded stays: the original
eFI does not let deficits expire, so a resolved problem or a fall years ago still counts. Only
entries on the record by the end of the as-of day count (`careweave.population.record` says
which entries and which dates).

Score = deficits / 36; the category is taken from the integer count (fit 0-4, mild 5-8,
moderate 9-12, severe 13+), never from the score, to avoid float boundary errors (9/36 is
exactly 0.25 in no binary float). The result keeps, for each deficit, every entry that
evidences it, so a clinician can see why someone was found; the eFI finds people for review,
and a clinician confirms frailty (e.g. with the Clinical Frailty Scale) before it is a label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from types import MappingProxyType
from typing import Any, Final, Literal

from careweave.population.code_lists import (
    CodeListFile,
    CodeListInfo,
    CodeListProblem,
    groups_per_code,
    read_code_list,
)
from careweave.population.medicines import MEDICINE_WINDOW_DAYS, medicines_taken
from careweave.population.record import Evidence, coded_entries

EFI_DEFICITS: Final = (
    "activity-limitation",
    "anaemia",
    "arthritis",
    "atrial-fibrillation",
    "cerebrovascular-disease",
    "chronic-kidney-disease",
    "diabetes",
    "dizziness",
    "dyspnoea",
    "falls",
    "foot-problems",
    "fragility-fracture",
    "hearing-impairment",
    "heart-failure",
    "heart-valve-disease",
    "housebound",
    "hypertension",
    "hypotension-syncope",
    "ischaemic-heart-disease",
    "memory-cognitive-problems",
    "mobility-transfer-problems",
    "osteoporosis",
    "parkinsonism-tremor",
    "peptic-ulcer",
    "peripheral-vascular-disease",
    "polypharmacy",
    "requirement-for-care",
    "respiratory-disease",
    "skin-ulcer",
    "sleep-disturbance",
    "social-vulnerability",
    "thyroid-disease",
    "urinary-incontinence",
    "urinary-system-disease",
    "visual-impairment",
    "weight-loss-anorexia",
)
"""The 36 deficits in the paper's (alphabetical) order: the order results list them in."""

DEFICIT_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "activity-limitation": "Activity limitation",
        "anaemia": "Anaemia and haematinic deficiency",
        "arthritis": "Arthritis",
        "atrial-fibrillation": "Atrial fibrillation",
        "cerebrovascular-disease": "Cerebrovascular disease",
        "chronic-kidney-disease": "Chronic kidney disease",
        "diabetes": "Diabetes",
        "dizziness": "Dizziness",
        "dyspnoea": "Dyspnoea",
        "falls": "Falls",
        "foot-problems": "Foot problems",
        "fragility-fracture": "Fragility fracture",
        "hearing-impairment": "Hearing impairment",
        "heart-failure": "Heart failure",
        "heart-valve-disease": "Heart valve disease",
        "housebound": "Housebound",
        "hypertension": "Hypertension",
        "hypotension-syncope": "Hypotension or syncope",
        "ischaemic-heart-disease": "Ischaemic heart disease",
        "memory-cognitive-problems": "Memory and cognitive problems",
        "mobility-transfer-problems": "Mobility and transfer problems",
        "osteoporosis": "Osteoporosis",
        "parkinsonism-tremor": "Parkinsonism and tremor",
        "peptic-ulcer": "Peptic ulcer",
        "peripheral-vascular-disease": "Peripheral vascular disease",
        "polypharmacy": "Polypharmacy",
        "requirement-for-care": "Requirement for care",
        "respiratory-disease": "Respiratory disease",
        "skin-ulcer": "Skin ulcer",
        "sleep-disturbance": "Sleep disturbance",
        "social-vulnerability": "Social vulnerability",
        "thyroid-disease": "Thyroid disease",
        "urinary-incontinence": "Urinary incontinence",
        "urinary-system-disease": "Urinary system disease",
        "visual-impairment": "Visual impairment",
        "weight-loss-anorexia": "Weight loss and anorexia",
    }
)
DEFICIT_COUNT: Final = len(EFI_DEFICITS)
POLYPHARMACY: Final = "polypharmacy"
CODED_DEFICITS: Final = tuple(d for d in EFI_DEFICITS if d != POLYPHARMACY)
POLYPHARMACY_MEDICINES: Final = 5
"""Polypharmacy deficit: this many distinct medicines or more in the window (GM SDE's rule)."""
EFI_CODE_LIST: Final = "efi-deficits"
EFI_CODE_LIST_VERSION: Final = "1"

FrailtyCategory = Literal["fit", "mild", "moderate", "severe"]
FRAILTY_CATEGORIES: Final[tuple[FrailtyCategory, ...]] = ("fit", "mild", "moderate", "severe")
CATEGORY_UPPER_COUNTS: Final[Mapping[FrailtyCategory, int]] = MappingProxyType(
    {"fit": 4, "mild": 8, "moderate": 12, "severe": DEFICIT_COUNT}
)
"""The highest deficit count of each category (Clegg 2016 cut-points by count)."""


def frailty_category(deficit_count: int) -> FrailtyCategory:
    """The eFI category of a number of deficits: fit 0-4, mild 5-8, moderate 9-12, severe 13+."""
    if not 0 <= deficit_count <= DEFICIT_COUNT:
        raise ValueError(f"an eFI counts 0 to {DEFICIT_COUNT} deficits, not {deficit_count}")
    for category in FRAILTY_CATEGORIES:
        if deficit_count <= CATEGORY_UPPER_COUNTS[category]:
            return category
    raise AssertionError("unreachable: severe covers every count up to 36")


def efi_score(deficit_count: int) -> float:
    """The eFI score: the share of the 36 deficits present (0 to 1)."""
    if not 0 <= deficit_count <= DEFICIT_COUNT:
        raise ValueError(f"an eFI counts 0 to {DEFICIT_COUNT} deficits, not {deficit_count}")
    return deficit_count / DEFICIT_COUNT


@dataclass(frozen=True)
class EfiCodeList:
    """The SNOMED CT codes of the 35 code-based deficits, from one version of the data file."""

    info: CodeListInfo
    deficits_of: Mapping[str, frozenset[str]]  # SNOMED code -> its deficits (usually one)
    display_of: Mapping[str, str]  # SNOMED code -> display

    def codes_for(self, deficit: str) -> frozenset[str]:
        return frozenset(code for code, found in self.deficits_of.items() if deficit in found)

    @property
    def deficits(self) -> frozenset[str]:
        """The deficits the list has codes for."""
        return frozenset().union(*self.deficits_of.values())


@cache
def efi_code_list(version: str = EFI_CODE_LIST_VERSION) -> EfiCodeList:
    """The eFI deficit code list of `version` (`data/efi-deficits-v<version>.csv`), checked."""
    columns = ("deficit", "snomed_code", "display", "source")
    return efi_codes_from(read_code_list(EFI_CODE_LIST, version, columns))


def efi_codes_from(file: CodeListFile) -> EfiCodeList:
    """The eFI code list a file holds, checked: every code under known deficits (a code may
    count for several, as in the published code sets), none under polypharmacy (which comes
    from medicines), and every code-based deficit listed."""
    deficits_of = groups_per_code(file, "deficit")
    listed = frozenset().union(*deficits_of.values())
    unknown = sorted(listed - set(CODED_DEFICITS))
    if unknown:
        raise CodeListProblem(f"{file.info.name}: not a code-based eFI deficit: {unknown}")
    uncoded = [d for d in CODED_DEFICITS if d not in listed]
    if uncoded:
        raise CodeListProblem(f"{file.info.name}: no codes for {uncoded}")
    display_of = {row["snomed_code"]: row["display"] for row in file.rows}
    return EfiCodeList(file.info, MappingProxyType(deficits_of), MappingProxyType(display_of))


@dataclass(frozen=True)
class DeficitFound:
    """A deficit present on the record, and every entry that evidences it (earliest first)."""

    deficit: str
    evidence: tuple[Evidence, ...]

    @property
    def label(self) -> str:
        return DEFICIT_LABELS[self.deficit]

    @property
    def first_recorded(self) -> date:
        return self.evidence[0].day


@dataclass(frozen=True)
class ElectronicFrailtyIndex:
    """A person's eFI as of a day: the deficits found (in `EFI_DEFICITS` order) and why."""

    as_of: date
    deficits: tuple[DeficitFound, ...]
    code_list: CodeListInfo

    @property
    def deficit_count(self) -> int:
        return len(self.deficits)

    @property
    def score(self) -> float:
        return efi_score(self.deficit_count)

    @property
    def category(self) -> FrailtyCategory:
        return frailty_category(self.deficit_count)

    @property
    def deficit_names(self) -> frozenset[str]:
        return frozenset(found.deficit for found in self.deficits)

    def has(self, deficit: str) -> bool:
        return deficit in self.deficit_names


def electronic_frailty_index(
    resources: Iterable[Mapping[str, Any]],
    as_of: date,
    *,
    code_list: EfiCodeList | None = None,
    medicine_window_days: int = MEDICINE_WINDOW_DAYS,
) -> ElectronicFrailtyIndex:
    """The eFI of the person whose record `resources` is, counting what was recorded by `as_of`.

    `resources` are one person's FHIR resources as dicts (other types are ignored).
    """
    codes = code_list or efi_code_list()
    record = list(resources)
    evidence: dict[str, list[Evidence]] = {}
    for entry in coded_entries(record, as_of):
        for deficit in codes.deficits_of.get(entry.code, ()):
            evidence.setdefault(deficit, []).append(entry)
    medicines = medicines_taken(record, as_of, days=medicine_window_days)
    if len(medicines) >= POLYPHARMACY_MEDICINES:
        evidence[POLYPHARMACY] = [found for medicine in medicines for found in medicine.evidence]
    deficits = tuple(
        DeficitFound(deficit, tuple(sorted(evidence[deficit], key=_order)))
        for deficit in EFI_DEFICITS
        if deficit in evidence
    )
    return ElectronicFrailtyIndex(as_of, deficits, codes.info)


def _order(evidence: Evidence) -> tuple[date, str, str, str]:
    return evidence.day, evidence.resource_type, evidence.resource_id, evidence.code
