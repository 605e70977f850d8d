"""The Clinical Frailty Scale Observation a clinician's confirmation is recorded as: valid FHIR
for every score 1-9, nothing else accepted, and the latest rating read back as of a day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.fhir.errors import InvalidResource
from careweave.fhir.validation import validate_resource
from careweave.population.clinical_frailty_scale import (
    CFS_CODE,
    InvalidFrailtyScore,
    clinical_frailty_scale_observation,
    latest_clinical_frailty_scale,
)
from careweave.population.record import SNOMED

SUBJECT = "Patient/pt1"


@pytest.mark.parametrize("score", range(1, 10))
def test_every_score_makes_a_valid_observation(score: int) -> None:
    observation = clinical_frailty_scale_observation(
        SUBJECT,
        score,
        date(2026, 3, 2),
        performer="PractitionerRole/gp-1",
        resource_id=f"cfs-{score}",
        note="Confirmed at frailty review after eFI case-finding",
    )
    assert validate_resource(observation) is observation
    assert observation["valueInteger"] == score
    assert observation["code"]["coding"] == [
        {
            "system": SNOMED,
            "code": "763264000",
            "display": "Canadian Study of Health and Aging Clinical Frailty Scale score",
        }
    ]
    assert observation["subject"] == {"reference": SUBJECT}
    assert observation["status"] == "final"
    assert observation["effectiveDateTime"] == "2026-03-02"


def test_a_rating_with_a_time_keeps_its_time_zone_and_is_valid() -> None:
    when = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    observation = clinical_frailty_scale_observation(SUBJECT, 5, when)
    assert observation["effectiveDateTime"] == "2026-03-02T14:05:00+00:00"
    validate_resource(observation)


def test_a_time_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        clinical_frailty_scale_observation(SUBJECT, 5, datetime(2026, 3, 2, 14, 5))


@pytest.mark.parametrize("score", [0, 10, -1, 5.0, "5", True, None])
def test_scores_outside_1_to_9_are_refused(score: object) -> None:
    with pytest.raises(InvalidFrailtyScore, match="whole number from 1 to 9"):
        clinical_frailty_scale_observation(SUBJECT, score, date(2026, 3, 2))  # type: ignore[arg-type]


@given(st.integers().filter(lambda n: not 1 <= n <= 9))
def test_no_integer_outside_the_scale_is_accepted(score: int) -> None:
    with pytest.raises(InvalidFrailtyScore):
        clinical_frailty_scale_observation(SUBJECT, score, date(2026, 3, 2))


@pytest.mark.parametrize("score", [0, 10])
def test_the_project_validation_would_not_catch_a_bad_score_so_the_builder_must(
    score: int,
) -> None:
    """FHIR itself allows any integer: the scale's range is ours to enforce."""
    observation = clinical_frailty_scale_observation(SUBJECT, 5, date(2026, 3, 2))
    observation["valueInteger"] = score
    validate_resource(observation)
    observation["valueInteger"] = str(score)
    with pytest.raises(InvalidResource):
        validate_resource(observation)


def test_the_latest_rating_by_the_day_is_read_back() -> None:
    def rated(score: int, day: date, resource_id: str, status: str = "final") -> dict[str, Any]:
        observation = clinical_frailty_scale_observation(
            SUBJECT, score, day, resource_id=resource_id
        )
        observation["status"] = status
        return observation

    record = [
        rated(4, date(2024, 5, 1), "a"),
        rated(6, date(2025, 9, 1), "b"),
        rated(7, date(2025, 10, 1), "c", status="preliminary"),
        rated(8, date(2026, 6, 1), "d"),
    ]
    latest = latest_clinical_frailty_scale(record, date(2026, 3, 31))
    assert latest is not None
    assert (latest.score, latest.day, latest.resource_id, latest.level) == (
        6,
        date(2025, 9, 1),
        "b",
        "Moderately frail",
    )
    assert latest_clinical_frailty_scale(record, date(2024, 4, 30)) is None
    record[1]["valueInteger"] = 12  # corrupt: not a rating
    earlier = latest_clinical_frailty_scale(record, date(2026, 3, 31))
    assert earlier is not None
    assert earlier.resource_id == "a"
    assert CFS_CODE == "763264000"
