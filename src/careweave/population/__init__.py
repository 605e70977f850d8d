"""Population health: frailty (eFI), multimorbidity and the other measures used to find people
who may need proactive care, defined person by person over FHIR resources.

The definitions are data (versioned code lists in `data/`) plus small pure functions, so a
columnar engine can re-express them and be checked against `measures_for`, the reference.
docs/population-measures.md describes every rule and where each code list came from.
"""

from careweave.population.clinical_frailty_scale import (
    InvalidFrailtyScore,
    clinical_frailty_scale_observation,
    latest_clinical_frailty_scale,
)
from careweave.population.efi import (
    EFI_DEFICITS,
    ElectronicFrailtyIndex,
    efi_code_list,
    electronic_frailty_index,
    frailty_category,
)
from careweave.population.multimorbidity import (
    Multimorbidity,
    long_term_condition_list,
    multimorbidity,
)
from careweave.population.person_measures import PersonMeasures, PersonRecordProblem, measures_for

__all__ = [
    "EFI_DEFICITS",
    "ElectronicFrailtyIndex",
    "InvalidFrailtyScore",
    "Multimorbidity",
    "PersonMeasures",
    "PersonRecordProblem",
    "clinical_frailty_scale_observation",
    "efi_code_list",
    "electronic_frailty_index",
    "frailty_category",
    "latest_clinical_frailty_scale",
    "long_term_condition_list",
    "measures_for",
    "multimorbidity",
]
