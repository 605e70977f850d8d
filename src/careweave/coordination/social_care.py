"""A person's social care picture: their care packages now and before, their Care Act needs
assessments and their carers' assessments, each with the organisation and person who
recorded it and when (docs/care-coordination.md, "Social care").

Social care is written in the same record as health care: assessments are QuestionnaireResponses
(careweave.coordination.social_care_assessments), packages a ServiceRequest with an
EpisodeOfCare (careweave.coordination.social_care_packages). The picture reads what this app
writes and what the synthetic place (or another system) writes the same way: the place's home
care packages and care-home places, and its assessment visits (Encounters typed
`care-act-assessment`, shown to roles that may read encounters).

The record is read with the summary's one guarded search (careweave.coordination.summary.
record_of), so who recorded each item is worked out exactly as on the summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination.codes import has_code
from careweave.coordination.record import today
from careweave.coordination.social_care_assessments import (
    Assessment,
    assessment_from,
    newest_first,
)
from careweave.coordination.social_care_packages import CarePackage, packages_from
from careweave.coordination.social_care_questionnaires import (
    CARERS_ASSESSMENT,
    NEEDS_ASSESSMENT,
    TITLES,
)
from careweave.coordination.social_care_rules import SOCIAL_CARE, day_of
from careweave.coordination.summary import record_of, source_of

PICTURE_TYPES: Final = (
    "ServiceRequest",
    "EpisodeOfCare",
    "QuestionnaireResponse",
    "RelatedPerson",
    "Encounter",
)
CARE_ACT_VISIT: Final = "care-act-assessment"
"""The synthetic place's Encounter type of a Care Act assessment visit."""


@dataclass(frozen=True)
class SocialCarePicture:
    current_packages: list[CarePackage]
    past_packages: list[CarePackage]
    assessments: list[Assessment]
    """Needs assessments, drafts included, newest first."""
    carers_assessments: list[Assessment]
    shared: bool
    """False when the asker's role may not read social care records at all ("not shared",
    which is not "none recorded")."""


def _visits(
    encounters: Iterable[Mapping[str, Any]], directory: Mapping[str, dict[str, Any]]
) -> Iterator[Assessment]:
    """Care Act assessment visits recorded as Encounters, as assessments without answers."""
    for encounter in encounters:
        if not has_code(encounter.get("type"), SOCIAL_CARE, CARE_ACT_VISIT):
            continue
        if encounter.get("status") in ("planned", "cancelled", "entered-in-error"):
            continue
        period = encounter.get("period")
        yield Assessment(
            response_id=None,
            kind=NEEDS_ASSESSMENT,
            title=f"{TITLES[NEEDS_ASSESSMENT]} (visit)",
            status="completed" if encounter.get("status") == "finished" else "in-progress",
            assessed_on=day_of(period.get("start")) if isinstance(period, dict) else None,
            eligible=None,
            unable=(),
            impairment=None,
            wellbeing_impact=None,
            summary=None,
            carer_id=None,
            carer=None,
            sustainable=None,
            carer_wellbeing=None,
            carer_outcomes=None,
            support_agreed=None,
            source=source_of(encounter, directory),
            version=0,
        )


def social_care_of(
    access: CareRecordAccess, patient_id: str, on: date | None = None
) -> SocialCarePicture:
    """The person's social care as the asker may see it (NotFound when the person is hidden
    from them or does not exist)."""
    day = on or today()
    record = record_of(access, patient_id, PICTURE_TYPES)
    packages = packages_from(record, day)
    found = [
        a
        for response in record.of("QuestionnaireResponse")
        if (a := assessment_from(response, record.directory)) is not None
    ]
    visits = list(_visits(record.of("Encounter"), record.directory))
    return SocialCarePicture(
        current_packages=[p for p in packages if p.current],
        past_packages=[p for p in packages if not p.current],
        assessments=newest_first([a for a in found if a.kind == NEEDS_ASSESSMENT] + visits),
        carers_assessments=newest_first([a for a in found if a.kind == CARERS_ASSESSMENT]),
        shared=record.shared("QuestionnaireResponse", "ServiceRequest", "EpisodeOfCare"),
    )
