"""Wellbeing at the start and end of social prescribing, with two standard tools, and the
change the link worker sees.

**ONS4 personal wellbeing** (ONS harmonised standard, Open Government Licence): four
questions answered 0 to 10, never added up. Each is reported on its own, with the ONS bands:
life satisfaction, worthwhile and happiness low 0-4, medium 5-6, high 7-8, very high 9-10;
anxiety very low 0-1, low 2-3, medium 4-5, high 6-10 (higher anxiety is worse). The bands are
ONS's (shared/standards.md section 5, there marked unverified; checked against ONS's own
statement of its thresholds in a published FOI answer on ons.gov.uk).

**SWEMWBS** (Short Warwick-Edinburgh Mental Wellbeing Scale): seven statements about the past
two weeks, each 1 (none of the time) to 5 (all of the time); the raw total 7-35 is converted to
the Rasch metric score with the published table (`SWEMWBS_METRIC`: standards.md section 5, and
identical in an independent public implementation) before anything is compared or averaged.
A response with any statement unanswered is not scored (a partial sum cannot be converted).
The scale is free to use but its owners ask users to register with Warwick Medical School.

Both are FHIR Questionnaires (`questionnaires()`: Questionnaire is a directory type, written by
an administrator or at set-up with `save_questionnaires`) answered as QuestionnaireResponses:
`questionnaire` the canonical URL and version, `subject` and `source` the person, `author` who
entered it (the person themselves, or a link worker), `basedOn` the referral to social
prescribing when it belongs to one. The scores are worked out when read, from the answers;
nothing derived is stored that could disagree with them.

**Change**: the baseline is the person's earliest response (for the referral, when one is
given) and the latest their most recent; the change is latest minus baseline (for anxiety a fall
is an improvement). Whether a SWEMWBS change is meaningful needs a threshold: shared/standards.md
gives none, so `meaningful` is None unless the caller passes `meaningful_at` (docs/social-
prescribing.md lists the published candidates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination import codes
from careweave.coordination.care_plan import writer_of
from careweave.coordination.record import (
    UK,
    find,
    if_none_exist,
    now_instant,
    read,
    referenced_id,
    submission_identifier,
)
from careweave.social_prescribing.directory_codes import CAREWEAVE_CODES
from careweave.social_prescribing.pathway_problems import PathwayProblem, WellbeingAnswersProblem
from careweave.social_prescribing.pathway_record import (
    check_id,
    check_token,
    instant,
    is_social_prescribing_referral,
    moment_of,
)
from careweave.store.repository import StoreTransaction

QUESTIONNAIRES: Final = "https://fhir.careweave.example/Questionnaire/"
ONS4_URL: Final = QUESTIONNAIRES + "ons4-personal-wellbeing"
SWEMWBS_URL: Final = QUESTIONNAIRES + "swemwbs"
VERSION: Final = "1"
SWEMWBS_ANSWER_SYSTEM: Final = CAREWEAVE_CODES + "swemwbs-answer"
MIN_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/maxValue"

ONS4_ITEMS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "life-satisfaction": "Overall, how satisfied are you with your life nowadays?",
        "worthwhile": "Overall, to what extent do you feel that the things you do in your life "
        "are worthwhile?",
        "happiness": "Overall, how happy did you feel yesterday?",
        "anxiety": "On a scale where 0 is 'not at all anxious' and 10 is 'completely anxious', "
        "overall, how anxious did you feel yesterday?",
    }
)
"""The four ONS questions (linkId -> question), each answered 0 (not at all) to 10
(completely)."""
ONS4_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "life-satisfaction": "Life satisfaction",
        "worthwhile": "Feeling things done in life are worthwhile",
        "happiness": "Happiness yesterday",
        "anxiety": "Anxiety yesterday",
    }
)

SWEMWBS_ITEMS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "optimistic": "I've been feeling optimistic about the future",
        "useful": "I've been feeling useful",
        "relaxed": "I've been feeling relaxed",
        "dealing-with-problems": "I've been dealing with problems well",
        "thinking-clearly": "I've been thinking clearly",
        "close-to-others": "I've been feeling close to other people",
        "own-mind": "I've been able to make up my own mind about things",
    }
)
SWEMWBS_ANSWERS: Final[Mapping[int, str]] = MappingProxyType(
    {
        1: "None of the time",
        2: "Rarely",
        3: "Some of the time",
        4: "Often",
        5: "All of the time",
    }
)

SWEMWBS_METRIC: Final[Mapping[int, float]] = MappingProxyType(
    {
        7: 7.00, 8: 9.51, 9: 11.25, 10: 12.40, 11: 13.33, 12: 14.08, 13: 14.75, 14: 15.32,
        15: 15.84, 16: 16.36, 17: 16.88, 18: 17.43, 19: 17.98, 20: 18.59, 21: 19.25,
        22: 19.98, 23: 20.73, 24: 21.54, 25: 22.35, 26: 23.21, 27: 24.11, 28: 25.03,
        29: 26.02, 30: 27.03, 31: 28.13, 32: 29.31, 33: 30.70, 34: 32.55, 35: 35.00,
    }
)  # fmt: skip
"""SWEMWBS raw score -> Rasch metric score (shared/standards.md section 5)."""

POSITIVE_BANDS: Final = ((0, 4, "Low"), (5, 6, "Medium"), (7, 8, "High"), (9, 10, "Very high"))
ANXIETY_BANDS: Final = ((0, 1, "Very low"), (2, 3, "Low"), (4, 5, "Medium"), (6, 10, "High"))


# -- scoring (pure) -------------------------------------------------------------------------------


def ons4_band(item: str, score: int) -> str:
    """The ONS band of an ONS4 answer: anxiety has bands of its own."""
    if item not in ONS4_ITEMS:
        raise WellbeingAnswersProblem(f"{item!r} is not one of the ONS4 questions")
    _check_score(score, 0, 10, ONS4_NAMES[item])
    bands = ANXIETY_BANDS if item == "anxiety" else POSITIVE_BANDS
    return next(name for low, high, name in bands if low <= score <= high)


def swemwbs_metric(raw: int) -> float:
    """The metric score of a SWEMWBS raw score (7 to 35)."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in SWEMWBS_METRIC:
        raise WellbeingAnswersProblem(
            f"A SWEMWBS raw score is a whole number from 7 to 35, not {raw!r}"
        )
    return SWEMWBS_METRIC[raw]


def _check_score(score: object, low: int, high: int, what: str) -> int:
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise WellbeingAnswersProblem(
            f"{what}: the answer must be a whole number from {low} to {high}"
        )
    return score


@dataclass(frozen=True)
class Ons4:
    """One set of ONS4 answers, each 0-10, or None for a question not answered (each is
    reported on its own, so an unanswered one leaves the others usable)."""

    life_satisfaction: int | None = None
    worthwhile: int | None = None
    happiness: int | None = None
    anxiety: int | None = None

    def __post_init__(self) -> None:
        for item, score in self.scores().items():
            if score is not None:
                _check_score(score, 0, 10, ONS4_NAMES[item])
        if all(score is None for score in self.scores().values()):
            raise WellbeingAnswersProblem("Answer at least one of the four questions")

    def scores(self) -> dict[str, int | None]:
        return {
            "life-satisfaction": self.life_satisfaction,
            "worthwhile": self.worthwhile,
            "happiness": self.happiness,
            "anxiety": self.anxiety,
        }

    def band(self, item: str) -> str | None:
        score = self.scores()[item]
        return None if score is None else ons4_band(item, score)


@dataclass(frozen=True)
class Swemwbs:
    """One set of SWEMWBS answers: seven, each 1-5, in the order of SWEMWBS_ITEMS."""

    answers: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.answers) != len(SWEMWBS_ITEMS):
            raise WellbeingAnswersProblem(
                "Answer all seven statements: SWEMWBS is not scored with any left out"
            )
        for name, score in zip(SWEMWBS_ITEMS.values(), self.answers, strict=True):
            _check_score(score, 1, 5, name)

    @property
    def raw(self) -> int:
        return sum(self.answers)

    @property
    def metric(self) -> float:
        return swemwbs_metric(self.raw)


# -- FHIR -----------------------------------------------------------------------------------------


def questionnaires() -> list[dict[str, Any]]:
    """The ONS4 and SWEMWBS Questionnaires (fixed ids, so saving them again changes nothing)."""

    def bounded(link_id: str, text: str) -> dict[str, Any]:
        return {
            "linkId": link_id,
            "text": text,
            "type": "integer",
            "required": False,
            "extension": [
                {"url": MIN_VALUE, "valueInteger": 0},
                {"url": MAX_VALUE, "valueInteger": 10},
            ],
        }

    options = [
        {"valueCoding": codes.coding(SWEMWBS_ANSWER_SYSTEM, str(value), words)}
        for value, words in SWEMWBS_ANSWERS.items()
    ]
    return [
        {
            "resourceType": "Questionnaire",
            "id": "ons4-personal-wellbeing",
            "url": ONS4_URL,
            "version": VERSION,
            "name": "ONS4PersonalWellbeing",
            "title": "ONS personal wellbeing (ONS4)",
            "status": "active",
            "subjectType": ["Patient"],
            "publisher": "careweave (questions: Office for National Statistics)",
            "copyright": "Questions: Office for National Statistics, Open Government Licence.",
            "item": [bounded(link_id, text) for link_id, text in ONS4_ITEMS.items()],
        },
        {
            "resourceType": "Questionnaire",
            "id": "swemwbs",
            "url": SWEMWBS_URL,
            "version": VERSION,
            "name": "SWEMWBS",
            "title": "Short Warwick-Edinburgh Mental Wellbeing Scale (SWEMWBS)",
            "status": "active",
            "subjectType": ["Patient"],
            "publisher": "careweave (scale: University of Warwick)",
            "copyright": "SWEMWBS (c) University of Warwick, NHS Health Scotland and University "
            "of Edinburgh; free to use, registration with Warwick Medical School required.",
            "description": "Below are some statements about feelings and thoughts. Please "
            "choose the answer that best describes your experience of each over the last "
            "2 weeks.",
            "item": [
                {
                    "linkId": link_id,
                    "text": text,
                    "type": "choice",
                    "required": True,
                    "answerOption": options,
                }
                for link_id, text in SWEMWBS_ITEMS.items()
            ],
        },
    ]


def save_questionnaires(tx: StoreTransaction) -> None:
    """Write both Questionnaires (an administrator's transaction, or the store's at set-up)."""
    for questionnaire in questionnaires():
        tx.update("Questionnaire", questionnaire["id"], questionnaire)


def _response(
    url: str,
    patient_id: str,
    items: list[dict[str, Any]],
    authored: str,
    author: dict[str, Any],
    referral_id: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{url}|{VERSION}",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": authored,
        "author": author,
        "source": {"reference": f"Patient/{patient_id}"},
        "item": items,
    }
    if referral_id is not None:
        body["basedOn"] = [{"reference": f"ServiceRequest/{referral_id}"}]
    return body


def ons4_response(
    patient_id: str,
    answers: Ons4,
    *,
    authored: str,
    author: dict[str, Any],
    referral_id: str | None = None,
) -> dict[str, Any]:
    """The QuestionnaireResponse of a set of ONS4 answers (pure)."""
    items = []
    for link_id, score in answers.scores().items():
        item: dict[str, Any] = {"linkId": link_id, "text": ONS4_ITEMS[link_id]}
        if score is not None:
            item["answer"] = [{"valueInteger": score}]
        items.append(item)
    return _response(ONS4_URL, patient_id, items, authored, author, referral_id)


def swemwbs_response(
    patient_id: str,
    answers: Swemwbs,
    *,
    authored: str,
    author: dict[str, Any],
    referral_id: str | None = None,
) -> dict[str, Any]:
    """The QuestionnaireResponse of a set of SWEMWBS answers (pure)."""
    items = [
        {
            "linkId": link_id,
            "text": text,
            "answer": [
                {
                    "valueCoding": codes.coding(
                        SWEMWBS_ANSWER_SYSTEM, str(score), SWEMWBS_ANSWERS[score]
                    )
                }
            ],
        }
        for (link_id, text), score in zip(SWEMWBS_ITEMS.items(), answers.answers, strict=True)
    ]
    return _response(SWEMWBS_URL, patient_id, items, authored, author, referral_id)


def _answer(item: Mapping[str, Any]) -> int | None:
    for answer in item.get("answer") or ():
        if not isinstance(answer, dict):
            continue
        value = answer.get("valueInteger")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        coding = answer.get("valueCoding")
        if isinstance(coding, dict) and str(coding.get("code", "")).isdigit():
            return int(coding["code"])
    return None


def _answers(response: Mapping[str, Any]) -> dict[str, int | None]:
    return {
        str(item.get("linkId")): _answer(item)
        for item in response.get("item") or ()
        if isinstance(item, dict)
    }


def is_ons4(response: Mapping[str, Any]) -> bool:
    return str(response.get("questionnaire") or "").split("|")[0] == ONS4_URL


def is_swemwbs(response: Mapping[str, Any]) -> bool:
    return str(response.get("questionnaire") or "").split("|")[0] == SWEMWBS_URL


def ons4_from(response: Mapping[str, Any]) -> Ons4 | None:
    """The ONS4 answers of a response, or None when it has none that can be read."""
    found = _answers(response)
    try:
        return Ons4(
            found.get("life-satisfaction"),
            found.get("worthwhile"),
            found.get("happiness"),
            found.get("anxiety"),
        )
    except WellbeingAnswersProblem:
        return None


def swemwbs_from(response: Mapping[str, Any]) -> Swemwbs | None:
    """The SWEMWBS answers of a response, or None when it cannot be scored."""
    found = _answers(response)
    scores = [found.get(link_id) for link_id in SWEMWBS_ITEMS]
    if any(score is None for score in scores):
        return None
    try:
        return Swemwbs(tuple(s for s in scores if s is not None))
    except WellbeingAnswersProblem:
        return None


# -- recording ------------------------------------------------------------------------------------


def _record(
    access: CareRecordAccess,
    patient_id: str,
    build: Any,
    referral_id: str | None,
    answered_at: datetime | None,
    token: str,
) -> str:
    check_token(token)
    check_id(patient_id, "person")
    if referral_id is not None:
        referral = read(access, "ServiceRequest", check_id(referral_id, "referral"))
        if not is_social_prescribing_referral(referral) or (
            referenced_id(referral.get("subject"), "Patient") != patient_id
        ):
            raise PathwayProblem("That is not this person's referral to social prescribing")
    authored = now_instant()
    if answered_at is not None:
        authored = instant(answered_at)
        if authored > now_instant():
            raise PathwayProblem("The answers cannot have been given in the future", "answered_at")
    body: dict[str, Any] = build(authored, dict(writer_of(access).reference))
    body["identifier"] = submission_identifier(token)
    result: str = access.write(
        "create",
        "QuestionnaireResponse",
        lambda tx: tx.create(body, if_none_exist=if_none_exist(token)).stored.id,
    )
    return result


def record_ons4(
    access: CareRecordAccess,
    patient_id: str,
    answers: Ons4,
    *,
    token: str,
    referral_id: str | None = None,
    answered_at: datetime | None = None,
) -> str:
    """Save a person's ONS4 answers (entered by them or with a link worker); returns the
    QuestionnaireResponse's id. `answered_at` is for a paper form entered later."""
    return _record(
        access,
        patient_id,
        lambda authored, author: ons4_response(
            patient_id, answers, authored=authored, author=author, referral_id=referral_id
        ),
        referral_id,
        answered_at,
        token,
    )


def record_swemwbs(
    access: CareRecordAccess,
    patient_id: str,
    answers: Swemwbs,
    *,
    token: str,
    referral_id: str | None = None,
    answered_at: datetime | None = None,
) -> str:
    """Save a person's SWEMWBS answers; returns the QuestionnaireResponse's id."""
    return _record(
        access,
        patient_id,
        lambda authored, author: swemwbs_response(
            patient_id, answers, authored=authored, author=author, referral_id=referral_id
        ),
        referral_id,
        answered_at,
        token,
    )


# -- change ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemChange:
    """One ONS4 question from the first answers to the latest; for anxiety a fall is better."""

    item: str
    name: str
    baseline: int | None
    latest: int | None
    baseline_band: str | None
    latest_band: str | None

    @property
    def change(self) -> int | None:
        if self.baseline is None or self.latest is None:
            return None
        return self.latest - self.baseline

    @property
    def improved(self) -> bool | None:
        change = self.change
        if change is None or change == 0:
            return None if change is None else False
        return change < 0 if self.item == "anxiety" else change > 0


@dataclass(frozen=True)
class SwemwbsChange:
    baseline_raw: int
    baseline_metric: float
    baseline_on: date | None
    latest_raw: int | None
    latest_metric: float | None
    latest_on: date | None
    meaningful_at: float | None

    @property
    def change(self) -> float | None:
        """Metric score change, latest minus baseline, to two places."""
        if self.latest_metric is None:
            return None
        return round(self.latest_metric - self.baseline_metric, 2)

    @property
    def meaningful(self) -> bool | None:
        """Whether the change reaches the threshold given (None: no threshold, or no change
        yet to judge)."""
        change = self.change
        if change is None or self.meaningful_at is None:
            return None
        return abs(change) >= self.meaningful_at


@dataclass(frozen=True)
class WellbeingChange:
    """A person's wellbeing at the first measure and the latest, with the change."""

    ons4: tuple[ItemChange, ...]
    ons4_baseline_on: date | None
    ons4_latest_on: date | None
    ons4_responses: int
    swemwbs: SwemwbsChange | None
    swemwbs_responses: int


def _dated(responses: Sequence[Mapping[str, Any]]) -> list[tuple[datetime, Mapping[str, Any]]]:
    """Completed responses in the order they were given. `authored` is kept to the second, so
    two answered in the same second (a baseline and a quick re-measure) are told apart by when
    the store took them, never by their random ids."""
    dated = []
    for response in responses:
        if response.get("status") not in ("completed", "amended"):
            continue
        moment = moment_of(response.get("authored"))
        if moment is not None:
            stored_at = moment_of((response.get("meta") or {}).get("lastUpdated")) or moment
            dated.append((moment, stored_at, response))
    dated.sort(key=lambda row: (row[0], row[1], str(row[2].get("id", ""))))
    return [(moment, response) for moment, _, response in dated]


def change_from(
    responses: Sequence[Mapping[str, Any]], meaningful_at: float | None = None
) -> WellbeingChange:
    """The change shown by these QuestionnaireResponses (of one person): pure, so reports and
    the person's page work it out the same way."""
    ons = [(m, a) for m, r in _dated(responses) if is_ons4(r) for a in [ons4_from(r)] if a]
    wemwbs = [(m, s) for m, r in _dated(responses) if is_swemwbs(r) for s in [swemwbs_from(r)] if s]
    items: list[ItemChange] = []
    if ons:
        first, last = ons[0][1], ons[-1][1] if len(ons) > 1 else None
        for item in ONS4_ITEMS:
            baseline = first.scores()[item]
            latest = last.scores()[item] if last else None
            items.append(
                ItemChange(
                    item,
                    ONS4_NAMES[item],
                    baseline,
                    latest,
                    ons4_band(item, baseline) if baseline is not None else None,
                    ons4_band(item, latest) if latest is not None else None,
                )
            )
    swemwbs = None
    if wemwbs:
        (start, first_s), latest_pair = wemwbs[0], wemwbs[-1] if len(wemwbs) > 1 else None
        swemwbs = SwemwbsChange(
            baseline_raw=first_s.raw,
            baseline_metric=first_s.metric,
            baseline_on=start.astimezone(UK).date(),
            latest_raw=latest_pair[1].raw if latest_pair else None,
            latest_metric=latest_pair[1].metric if latest_pair else None,
            latest_on=latest_pair[0].astimezone(UK).date() if latest_pair else None,
            meaningful_at=meaningful_at,
        )
    return WellbeingChange(
        ons4=tuple(items),
        ons4_baseline_on=ons[0][0].astimezone(UK).date() if ons else None,
        ons4_latest_on=ons[-1][0].astimezone(UK).date() if len(ons) > 1 else None,
        ons4_responses=len(ons),
        swemwbs=swemwbs,
        swemwbs_responses=len(wemwbs),
    )


def wellbeing_change(
    access: CareRecordAccess,
    patient_id: str,
    *,
    referral_id: str | None = None,
    meaningful_at: float | None = None,
) -> WellbeingChange:
    """The person's wellbeing change as the asker may see it: over the referral's responses
    when `referral_id` is given, else over all of theirs."""
    params = [("patient", f"Patient/{check_id(patient_id, 'person')}")]
    if referral_id is not None:
        params.append(("based-on", f"ServiceRequest/{check_id(referral_id, 'referral')}"))
    found = find(access, "QuestionnaireResponse", params)
    return change_from(found, meaningful_at)
