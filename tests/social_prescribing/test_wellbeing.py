"""ONS4 and SWEMWBS scoring against the published values, their FHIR form, and the change the
link worker sees. The SWEMWBS table below is typed again from shared/standards.md section 5 (not
imported), so a slip in either copy fails; the ONS bands are ONS's published thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.coordination.record import new_submission_token
from careweave.fhir.validation import validate_resource
from careweave.social_prescribing.pathway_problems import PathwayProblem, WellbeingAnswersProblem
from careweave.social_prescribing.wellbeing import (
    SWEMWBS_METRIC,
    Ons4,
    Swemwbs,
    change_from,
    ons4_band,
    ons4_from,
    ons4_response,
    questionnaires,
    record_ons4,
    record_swemwbs,
    save_questionnaires,
    swemwbs_from,
    swemwbs_metric,
    swemwbs_response,
    wellbeing_change,
)
from tests.coordination.place import Place
from tests.social_prescribing.pathway_place import LINK_WORKER, refer_mary

PUBLISHED = {
    7: 7.00, 8: 9.51, 9: 11.25, 10: 12.40, 11: 13.33, 12: 14.08, 13: 14.75, 14: 15.32,
    15: 15.84, 16: 16.36, 17: 16.88, 18: 17.43, 19: 17.98, 20: 18.59, 21: 19.25, 22: 19.98,
    23: 20.73, 24: 21.54, 25: 22.35, 26: 23.21, 27: 24.11, 28: 25.03, 29: 26.02, 30: 27.03,
    31: 28.13, 32: 29.31, 33: 30.70, 34: 32.55, 35: 35.00,
}  # fmt: skip
ME = {"reference": "PractitionerRole/prr-pat"}


@pytest.mark.parametrize(("raw", "metric"), sorted(PUBLISHED.items()))
def test_every_swemwbs_raw_score_converts_as_published(raw: int, metric: float) -> None:
    assert swemwbs_metric(raw) == metric


def test_the_table_has_every_raw_score_and_no_other() -> None:
    assert sorted(SWEMWBS_METRIC) == list(range(7, 36))
    for wrong in (6, 36, 0, True, 20.0):
        with pytest.raises(WellbeingAnswersProblem, match="from 7 to 35"):
            swemwbs_metric(wrong)  # type: ignore[arg-type]


@given(st.lists(st.integers(1, 5), min_size=7, max_size=7))
def test_seven_answers_add_up_to_a_raw_score_that_converts(answers: list[int]) -> None:
    scored = Swemwbs(tuple(answers))
    assert scored.raw == sum(answers)
    assert scored.metric == PUBLISHED[sum(answers)]


@given(st.integers(7, 34))
def test_a_higher_raw_score_is_always_a_higher_metric_score(raw: int) -> None:
    assert swemwbs_metric(raw + 1) > swemwbs_metric(raw)


def test_swemwbs_is_not_scored_with_an_answer_missing_or_out_of_range() -> None:
    with pytest.raises(WellbeingAnswersProblem, match="Answer all seven"):
        Swemwbs((3, 3, 3, 3, 3, 3))
    with pytest.raises(WellbeingAnswersProblem, match="feeling relaxed: the answer must be"):
        Swemwbs((3, 3, 6, 3, 3, 3, 3))
    with pytest.raises(WellbeingAnswersProblem):
        Swemwbs((3, 3, 0, 3, 3, 3, 3))


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, "Low"), (4, "Low"), (5, "Medium"), (6, "Medium"), (7, "High"), (8, "High"),
     (9, "Very high"), (10, "Very high")],
)  # fmt: skip
@pytest.mark.parametrize("item", ["life-satisfaction", "worthwhile", "happiness"])
def test_ons4_positive_questions_band_at_the_ons_thresholds(
    item: str, score: int, band: str
) -> None:
    assert ons4_band(item, score) == band


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, "Very low"), (1, "Very low"), (2, "Low"), (3, "Low"), (4, "Medium"), (5, "Medium"),
     (6, "High"), (10, "High")],
)  # fmt: skip
def test_ons4_anxiety_bands_at_its_own_thresholds(score: int, band: str) -> None:
    assert ons4_band("anxiety", score) == band


def test_ons4_answers_are_whole_numbers_from_0_to_10() -> None:
    for wrong in (-1, 11, True):
        with pytest.raises(WellbeingAnswersProblem, match="from 0 to 10"):
            Ons4(life_satisfaction=wrong)
    with pytest.raises(WellbeingAnswersProblem, match="at least one"):
        Ons4()
    partial = Ons4(happiness=8)
    assert (partial.band("happiness"), partial.band("anxiety")) == ("High", None)


@given(
    st.tuples(*[st.one_of(st.none(), st.integers(0, 10))] * 4).filter(
        lambda t: any(v is not None for v in t)
    )
)
def test_ons4_answers_read_back_from_their_response(answers: tuple[int | None, ...]) -> None:
    original = Ons4(*answers)
    response = ons4_response("mary", original, authored="2026-01-05T10:00:00Z", author=ME)
    validate_resource(response)
    assert ons4_from(response) == original


@given(st.lists(st.integers(1, 5), min_size=7, max_size=7))
def test_swemwbs_answers_read_back_from_their_response(answers: list[int]) -> None:
    original = Swemwbs(tuple(answers))
    response = swemwbs_response("mary", original, authored="2026-01-05T10:00:00Z", author=ME)
    validate_resource(response)
    assert swemwbs_from(response) == original


def test_the_questionnaires_are_valid_fhir() -> None:
    for questionnaire in questionnaires():
        validate_resource(questionnaire)
    ons, short = questionnaires()
    assert [i["linkId"] for i in ons["item"]] == [
        "life-satisfaction",
        "worthwhile",
        "happiness",
        "anxiety",
    ]
    assert len(short["item"]) == 7


def at(days: int) -> str:
    return (datetime(2026, 1, 5, 10, tzinfo=UTC) + timedelta(days=days)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def responses() -> list[dict[str, Any]]:
    first_ons = ons4_response("mary", Ons4(3, 4, None, 8), authored=at(0), author=ME)
    middle_ons = ons4_response("mary", Ons4(5, 5, 5, 5), authored=at(30), author=ME)
    last_ons = ons4_response("mary", Ons4(7, 6, 6, 2), authored=at(84), author=ME)
    first = swemwbs_response("mary", Swemwbs((2, 2, 2, 2, 2, 2, 2)), authored=at(1), author=ME)
    last = swemwbs_response("mary", Swemwbs((3, 3, 3, 3, 3, 3, 3)), authored=at(85), author=ME)
    unscored = swemwbs_response("mary", Swemwbs((5, 5, 5, 5, 5, 5, 5)), authored=at(90), author=ME)
    unscored["item"][3].pop("answer")  # a statement left unanswered: not scored, not "latest"
    # Given out of order: the change is by when they were answered.
    return [last_ons, unscored, first, middle_ons, last, first_ons]


def test_the_change_runs_from_the_first_answers_to_the_latest() -> None:
    change = change_from(responses(), meaningful_at=3.0)
    assert (change.ons4_responses, change.swemwbs_responses) == (3, 2)
    assert [(i.item, i.baseline, i.latest, i.change, i.improved) for i in change.ons4] == [
        ("life-satisfaction", 3, 7, 4, True),
        ("worthwhile", 4, 6, 2, True),
        ("happiness", None, 6, None, None),
        ("anxiety", 8, 2, -6, True),
    ]
    assert [(i.baseline_band, i.latest_band) for i in change.ons4] == [
        ("Low", "High"),
        ("Low", "Medium"),
        (None, "Medium"),
        ("High", "Low"),
    ]
    swemwbs = change.swemwbs
    assert swemwbs is not None
    assert (swemwbs.baseline_raw, swemwbs.baseline_metric) == (14, 15.32)
    assert (swemwbs.latest_raw, swemwbs.latest_metric) == (21, 19.25)
    assert swemwbs.change == 3.93
    assert swemwbs.meaningful is True
    assert change_from(responses()).swemwbs is not None
    assert change_from(responses()).swemwbs.meaningful is None  # type: ignore[union-attr]
    assert change_from(responses(), meaningful_at=4.0).swemwbs.meaningful is False  # type: ignore[union-attr]


def test_one_set_of_answers_is_a_baseline_with_no_change_yet() -> None:
    only = [ons4_response("mary", Ons4(5, 5, 5, 5), authored=at(0), author=ME)]
    change = change_from(only)
    first = change.ons4[0]
    assert (first.baseline, first.latest, first.change) == (5, None, None)
    assert change.swemwbs is None


def test_answers_given_in_the_same_second_are_ordered_by_when_they_were_stored() -> None:
    # The store keeps lastUpdated to the microsecond; `authored` only to the second. Ids are
    # chosen so that ordering by id would put the later answers first.
    baseline = ons4_response("mary", Ons4(4, 5, 3, 7), authored=at(0), author=ME)
    again = ons4_response("mary", Ons4(7, 7, 6, 3), authored=at(0), author=ME)
    baseline |= {"id": "zz-first", "meta": {"lastUpdated": "2026-01-05T10:00:00.100000Z"}}
    again |= {"id": "aa-second", "meta": {"lastUpdated": "2026-01-05T10:00:00.900000Z"}}
    for order in ([baseline, again], [again, baseline]):
        change = change_from(order)
        assert [(i.baseline, i.latest) for i in change.ons4] == [(4, 7), (5, 7), (3, 6), (7, 3)]


def test_answers_are_recorded_by_the_person_or_the_link_worker(sp_place: Place) -> None:
    with sp_place.store.transaction() as tx:
        save_questionnaires(tx)
    assert sp_place.store.read("Questionnaire", "swemwbs").as_dict()["status"] == "active"
    made = refer_mary(sp_place)
    referral = made.service_request_id
    mine = record_swemwbs(
        sp_place.access("mary"),
        "mary",
        Swemwbs((1, 2, 3, 4, 5, 4, 3)),
        referral_id=referral,
        token=new_submission_token(),
    )
    response = sp_place.store.read("QuestionnaireResponse", mine).as_dict()
    assert response["author"]["reference"] == "Patient/mary"
    assert response["source"] == {"reference": "Patient/mary"}
    assert response["basedOn"] == [{"reference": f"ServiceRequest/{referral}"}]
    record_ons4(
        sp_place.access(LINK_WORKER),
        "mary",
        Ons4(6, 6, 6, 6),
        referral_id=referral,
        answered_at=datetime.now(UTC) - timedelta(days=1),
        token=new_submission_token(),
    )
    record_ons4(sp_place.access("ann.gp"), "mary", Ons4(1, 1, 1, 1), token=new_submission_token())
    with pytest.raises(PathwayProblem, match="not this person's referral"):
        record_ons4(
            sp_place.access("ann.gp"),
            "joe",
            Ons4(1, 1, 1, 1),
            referral_id=referral,
            token=new_submission_token(),
        )
    with pytest.raises(PathwayProblem, match="in the future"):
        record_ons4(
            sp_place.access(LINK_WORKER),
            "mary",
            Ons4(1, 1, 1, 1),
            answered_at=datetime.now(UTC) + timedelta(days=1),
            token=new_submission_token(),
        )
    for_referral = wellbeing_change(sp_place.access(LINK_WORKER), "mary", referral_id=referral)
    assert for_referral.ons4_responses == 1 and for_referral.swemwbs_responses == 1
    assert for_referral.swemwbs is not None and for_referral.swemwbs.baseline_raw == 22
    assert wellbeing_change(sp_place.access("ann.gp"), "mary").ons4_responses == 2
