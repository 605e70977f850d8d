"""The Clinical Frailty Scale (CFS, Rockwood): a clinician's confirmation of frailty, as FHIR.

The eFI finds people who may be frail; a clinician then judges, for example with the CFS (1 very
fit to 9 terminally ill, rating the person's baseline about two weeks before any acute illness).
`clinical_frailty_scale_observation` builds the Observation that records that judgement back
into the record, and `latest_clinical_frailty_scale` reads the most recent one as of a day.
The code is SNOMED CT 763264000 |Canadian Study of Health and Aging Clinical Frailty Scale
score| with the score as `valueInteger`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final, TypeGuard

from careweave.population.record import SNOMED, codes_in, observation_day

CFS_CODE: Final = "763264000"
CFS_DISPLAY: Final = "Canadian Study of Health and Aging Clinical Frailty Scale score"
CFS_LEVELS: Final[Mapping[int, str]] = MappingProxyType(
    {
        1: "Very fit",
        2: "Well",
        3: "Managing well",
        4: "Vulnerable",
        5: "Mildly frail",
        6: "Moderately frail",
        7: "Severely frail",
        8: "Very severely frail",
        9: "Terminally ill",
    }
)
"""The scale's levels (the original names; CFS version 2.0 words 4-8 as "Living with ...")."""
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
RECORDED_STATUSES: Final = frozenset({"final", "amended", "corrected"})
"""Statuses of a CFS Observation that count as the clinician's judgement."""


class InvalidFrailtyScore(ValueError):  # noqa: N818 - what the user is told, not a fault
    """A Clinical Frailty Scale score must be a whole number from 1 to 9."""


def check_score(score: object) -> int:
    """`score` if it is a CFS score (an int from 1 to 9, not a bool), else InvalidFrailtyScore."""
    if not _is_score(score):
        raise InvalidFrailtyScore(
            f"A Clinical Frailty Scale score is a whole number from 1 to 9, not {score!r}"
        )
    return score


def _effective(when: date | datetime) -> str:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("give the time of a CFS rating with its time zone (UTC in storage)")
        return when.isoformat()
    return when.isoformat()


def clinical_frailty_scale_observation(
    subject: str,
    score: int,
    when: date | datetime,
    *,
    performer: str | None = None,
    resource_id: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """A final Observation of a Clinical Frailty Scale score for `subject` ("Patient/<id>").

    `performer` is a reference ("PractitionerRole/<id>") to the clinician who rated it; `note`
    what they want to say about it (e.g. "Confirmed at frailty review after eFI case-finding").
    Raises InvalidFrailtyScore for a score outside 1-9.
    """
    value = check_score(score)
    resource: dict[str, Any] = {"resourceType": "Observation"}
    if resource_id is not None:
        resource["id"] = resource_id
    resource.update(
        {
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}
                    ]
                }
            ],
            "code": {
                "coding": [{"system": SNOMED, "code": CFS_CODE, "display": CFS_DISPLAY}],
                "text": "Clinical Frailty Scale",
            },
            "subject": {"reference": subject},
            "effectiveDateTime": _effective(when),
            "valueInteger": value,
        }
    )
    if performer is not None:
        resource["performer"] = [{"reference": performer}]
    if note:
        resource["note"] = [{"text": note}]
    return resource


@dataclass(frozen=True)
class FrailtyScaleRating:
    """A recorded CFS score, the day it was rated and the Observation that holds it."""

    score: int
    day: date
    resource_id: str

    @property
    def level(self) -> str:
        return CFS_LEVELS[self.score]


def latest_clinical_frailty_scale(
    resources: Iterable[Mapping[str, Any]], as_of: date
) -> FrailtyScaleRating | None:
    """The most recent CFS score rated on or before `as_of` (ties: the last in record order).

    Observations that are not final (or amended, corrected) or hold no valid score are ignored.
    """
    latest: FrailtyScaleRating | None = None
    for resource in resources:
        if resource.get("resourceType") != "Observation":
            continue
        if CFS_CODE not in codes_in(resource.get("code")):
            continue
        if resource.get("status") not in RECORDED_STATUSES:
            continue
        value = resource.get("valueInteger")
        day = observation_day(resource)
        if day is None or day > as_of or not _is_score(value):
            continue
        if latest is None or day >= latest.day:
            latest = FrailtyScaleRating(value, day, str(resource.get("id", "")))
    return latest


def _is_score(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value in CFS_LEVELS
