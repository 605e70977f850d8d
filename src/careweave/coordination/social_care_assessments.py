"""Care Act 2014 assessments as FHIR QuestionnaireResponses: the s9 needs assessment, with the
ten eligibility outcomes of the Care and Support (Eligibility Criteria) Regulations 2015 and
the determination, and the s10 carer's assessment (docs/care-coordination.md, "Social care").

The responses answer careweave's two Questionnaires by canonical URL
(careweave.coordination.social_care_questionnaires), item by item with the same linkIds, so
another FHIR client reads them with the questions beside the answers.

A response is written with the one-time token of the form that made it (a double submit finds
the first), and a draft (`in-progress`) is continued with If-Match on the version the form was
opened at, so a colleague's save in between is shown rather than overwritten.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from careweave.access.guard import CareRecordAccess
from careweave.coordination.codes import coding
from careweave.coordination.record import (
    find,
    if_none_exist,
    now_instant,
    read,
    read_or_none,
    reference_to,
    referenced_id,
    submission_identifier,
    today,
    version_of,
)
from careweave.coordination.social_care_questionnaires import (
    CARER_OUTCOMES,
    CARER_WELLBEING,
    CARERS_ASSESSMENT_URL,
    DATE,
    DETERMINATION,
    ELIGIBILITY,
    IMPAIRMENT,
    NEEDS_ASSESSMENT,
    NEEDS_ASSESSMENT_URL,
    OUTCOME_BY_KEY,
    OUTCOMES,
    OUTCOMES_GROUP,
    OUTCOMES_NEEDED,
    QUESTIONNAIRE_VERSION,
    QUESTIONS,
    SUMMARY,
    SUPPORT_AGREED,
    SUSTAINABLE,
    TITLES,
    WELLBEING,
    Outcome,
    questionnaire_name,
)
from careweave.coordination.social_care_rules import (
    CARE_ACT_ELIGIBILITY,
    InvalidSocialCare,
    Problem,
    actor,
    check_recorder,
    day_of,
    text_problems,
    token_problems,
)
from careweave.coordination.summary import Source, source_of
from careweave.fhir.errors import NotFound, VersionConflict
from careweave.fhir.names import person_name
from careweave.fhir.resource_types import is_fhir_id
from careweave.store.repository import StoreTransaction

# -- what a form says -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NeedsAnswers:
    """A needs assessment as a form gives it; `complete` False saves a draft."""

    assessed_on: date | None
    unable: frozenset[str]
    """Keys of the OUTCOMES the adult is unable to achieve; the others they can."""
    impairment: bool | None
    wellbeing_impact: bool | None
    eligible: bool | None
    summary: str
    complete: bool


@dataclass(frozen=True)
class CarersAnswers:
    related_person_id: str
    assessed_on: date | None
    sustainable: bool | None
    wellbeing_impact: str
    outcomes_wanted: str
    eligible: bool | None
    support_agreed: str


def meets_eligibility_criteria(answers: NeedsAnswers) -> bool:
    """Regulation 2(1): needs from an impairment or illness, unable to achieve two or more
    outcomes, and a significant impact on wellbeing."""
    return bool(
        answers.impairment and len(answers.unable) >= OUTCOMES_NEEDED and answers.wellbeing_impact
    )


def _date_problems(assessed_on: date | None, on: date) -> list[Problem]:
    if assessed_on is None:
        return [Problem("assessed_on", "Enter the date of the assessment")]
    if assessed_on > on:
        return [Problem("assessed_on", "Date of the assessment must be today or in the past")]
    return []


def check_needs(answers: NeedsAnswers, on: date | None = None) -> list[Problem]:
    """Everything wrong with a needs assessment as given (empty when it can be saved). A
    draft needs only its date; a completed one every answer, and a determination that agrees
    with the regulation's three conditions."""
    problems = _date_problems(answers.assessed_on, on or today())
    unknown = answers.unable - OUTCOME_BY_KEY.keys()
    if unknown:
        problems.append(Problem("unable", "Select outcomes from the list"))
    if answers.complete:
        if answers.impairment is None:
            problems.append(
                Problem(
                    "impairment", "Select whether the needs arise from an impairment or illness"
                )
            )
        if answers.wellbeing_impact is None:
            problems.append(
                Problem(
                    "wellbeing_impact",
                    "Select whether there is a significant impact on the adult's wellbeing",
                )
            )
        if answers.eligible is None:
            problems.append(Problem("eligible", "Select the eligibility determination"))
        elif answers.impairment is not None and answers.wellbeing_impact is not None:
            meets = meets_eligibility_criteria(answers)
            if answers.eligible and not meets:
                problems.append(
                    Problem(
                        "eligible",
                        "The answers do not meet the eligibility criteria (needs from an "
                        "impairment or illness, unable to achieve 2 or more outcomes, and a "
                        "significant impact on wellbeing): select not eligible or check the "
                        "answers",
                    )
                )
            elif not answers.eligible and meets:
                problems.append(
                    Problem(
                        "eligible",
                        "The answers meet the eligibility criteria: select eligible or check "
                        "the answers",
                    )
                )
    problems += text_problems(
        answers.summary, "summary", "a summary of the needs", required=answers.complete
    )
    return problems


def check_carers(answers: CarersAnswers, on: date | None = None) -> list[Problem]:
    problems: list[Problem] = []
    if not answers.related_person_id:
        problems.append(Problem("carer", "Select the carer who was assessed"))
    problems += _date_problems(answers.assessed_on, on or today())
    if answers.sustainable is None:
        problems.append(Problem("sustainable", "Select whether the caring role is sustainable"))
    problems += text_problems(
        answers.wellbeing_impact, "wellbeing_impact", "how caring affects them", required=True
    )
    problems += text_problems(
        answers.outcomes_wanted, "outcomes_wanted", "what the carer wants to achieve", required=True
    )
    if answers.eligible is None:
        problems.append(Problem("eligible", "Select whether the carer has eligible needs"))
    problems += text_problems(
        answers.support_agreed, "support_agreed", "the support agreed", required=False
    )
    return problems


# -- the responses --------------------------------------------------------------------------------


def _answered(link_id: str, answer: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "text": QUESTIONS[link_id], "answer": [answer]}


def _determination_answer(eligible: bool) -> dict[str, Any]:
    code = "eligible" if eligible else "not-eligible"
    return {"valueCoding": coding(CARE_ACT_ELIGIBILITY, code, ELIGIBILITY[code])}


def needs_items(answers: NeedsAnswers) -> list[dict[str, Any]]:
    """The response's items; a question not yet answered (in a draft) is left out."""
    assert answers.assessed_on is not None
    items = [_answered(DATE, {"valueDate": answers.assessed_on.isoformat()})]
    items.append(
        {
            "linkId": OUTCOMES_GROUP,
            "text": QUESTIONS[OUTCOMES_GROUP],
            "item": [
                {
                    "linkId": o.link_id,
                    "text": o.text,
                    "answer": [{"valueBoolean": o.key in answers.unable}],
                }
                for o in OUTCOMES
            ],
        }
    )
    if answers.impairment is not None:
        items.append(_answered(IMPAIRMENT, {"valueBoolean": answers.impairment}))
    if answers.wellbeing_impact is not None:
        items.append(_answered(WELLBEING, {"valueBoolean": answers.wellbeing_impact}))
    if answers.eligible is not None:
        items.append(_answered(DETERMINATION, _determination_answer(answers.eligible)))
    if answers.summary.strip():
        items.append(_answered(SUMMARY, {"valueString": answers.summary.strip()}))
    return items


def carers_items(answers: CarersAnswers) -> list[dict[str, Any]]:
    assert answers.assessed_on is not None and answers.sustainable is not None
    assert answers.eligible is not None
    items = [
        _answered(DATE, {"valueDate": answers.assessed_on.isoformat()}),
        _answered(SUSTAINABLE, {"valueBoolean": answers.sustainable}),
        _answered(CARER_WELLBEING, {"valueString": answers.wellbeing_impact.strip()}),
        _answered(CARER_OUTCOMES, {"valueString": answers.outcomes_wanted.strip()}),
        _answered(DETERMINATION, _determination_answer(answers.eligible)),
    ]
    if answers.support_agreed.strip():
        items.append(_answered(SUPPORT_AGREED, {"valueString": answers.support_agreed.strip()}))
    return items


@dataclass(frozen=True)
class AssessmentSaved:
    """The QuestionnaireResponse written; `created` False when the same form had already been
    sent (a double submit finds the first) or nothing changed."""

    response_id: str
    created: bool


def _create_response(
    access: CareRecordAccess, patient_id: str, response: dict[str, Any], token: str
) -> AssessmentSaved:
    def work(tx: StoreTransaction) -> AssessmentSaved:
        made = tx.create(response, if_none_exist=if_none_exist(token))
        if not made.created:
            earlier = made.stored.as_dict()
            if referenced_id(earlier.get("subject"), "Patient") != patient_id:
                raise InvalidSocialCare(
                    [Problem(None, "This form has already been used: open it again")]
                )
        return AssessmentSaved(made.stored.id, made.created)

    return access.write("create", "QuestionnaireResponse", work)


def record_needs_assessment(
    access: CareRecordAccess, patient_id: str, answers: NeedsAnswers, token: str
) -> AssessmentSaved:
    """Record a needs assessment for the person, completed or as a draft (`in-progress`).

    InvalidSocialCare says what is wrong; Forbidden that the asker does not record social care
    or has no relationship with the person (nothing is saved either way)."""
    check_recorder(access)
    problems = check_needs(answers) + token_problems(token)
    if problems:
        raise InvalidSocialCare(problems)
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "identifier": submission_identifier(token),
        "questionnaire": f"{NEEDS_ASSESSMENT_URL}|{QUESTIONNAIRE_VERSION}",
        "status": "completed" if answers.complete else "in-progress",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": now_instant(),
        "author": actor(access),
        "item": needs_items(answers),
    }
    return _create_response(access, patient_id, response, token)


class NotADraft(InvalidSocialCare):
    """Only a draft assessment can be changed; a completed one is a record of what was found."""

    def __init__(self) -> None:
        super().__init__(
            [
                Problem(
                    None,
                    "This assessment has been completed, so it cannot be changed. Record a new "
                    "assessment if the person's needs have changed.",
                )
            ]
        )


def continue_needs_assessment(
    access: CareRecordAccess,
    patient_id: str,
    response_id: str,
    answers: NeedsAnswers,
    version: int,
) -> AssessmentSaved:
    """Save a draft needs assessment again, still a draft or now completed.

    `version` is the version the form was opened at: if someone else saved it since,
    VersionConflict (nothing saved), unless what is there is already exactly these answers
    (the same form sent twice). NotADraft once it has been completed."""
    check_recorder(access)
    problems = check_needs(answers)
    if problems:
        raise InvalidSocialCare(problems)
    author = actor(access)
    status = "completed" if answers.complete else "in-progress"
    items = needs_items(answers)

    def work(tx: StoreTransaction) -> AssessmentSaved:
        current = tx.read("QuestionnaireResponse", response_id).as_dict()
        if (
            referenced_id(current.get("subject"), "Patient") != patient_id
            or questionnaire_name(current) != NEEDS_ASSESSMENT
        ):
            raise InvalidSocialCare([Problem(None, "This is not a needs assessment of theirs")])
        if current.get("status") == status and current.get("item") == items:
            return AssessmentSaved(response_id, False)
        if version_of(current) != version:
            raise VersionConflict(f"QuestionnaireResponse/{response_id} has changed")
        if current.get("status") != "in-progress":
            raise NotADraft()
        changed = copy.deepcopy(current)
        changed.update(status=status, authored=now_instant(), author=author, item=items)
        tx.update("QuestionnaireResponse", response_id, changed, if_match=version)
        return AssessmentSaved(response_id, False)

    return access.write("update", f"QuestionnaireResponse/{response_id}", work)


def record_carers_assessment(
    access: CareRecordAccess, patient_id: str, answers: CarersAnswers, token: str
) -> AssessmentSaved:
    """Record a completed carer's assessment of one of the person's carers."""
    check_recorder(access)
    problems = check_carers(answers) + token_problems(token)
    carer = None
    if answers.related_person_id:
        carer = _carer_of(access, patient_id, answers.related_person_id)
        if carer is None:
            problems.append(Problem("carer", "Select a carer from the list"))
    if problems:
        raise InvalidSocialCare(problems)
    assert carer is not None
    source = {"reference": reference_to(carer)}
    name = person_name(carer)
    if name:
        source["display"] = name
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "identifier": submission_identifier(token),
        "questionnaire": f"{CARERS_ASSESSMENT_URL}|{QUESTIONNAIRE_VERSION}",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": now_instant(),
        "author": actor(access),
        "source": source,
        "item": carers_items(answers),
    }
    return _create_response(access, patient_id, response, token)


# -- the carers a carer's assessment can be of ----------------------------------------------------


@dataclass(frozen=True)
class CarerOption:
    related_person_id: str
    name: str
    relationship: str | None


def _carer_of(
    access: CareRecordAccess, patient_id: str, related_person_id: str
) -> dict[str, Any] | None:
    if not is_fhir_id(related_person_id):
        return None
    carer = read_or_none(access, "RelatedPerson", related_person_id)
    if carer is None or referenced_id(carer.get("patient"), "Patient") != patient_id:
        return None
    return carer


def _still_caring(carer: Mapping[str, Any], on: date) -> bool:
    if carer.get("active") is False:
        return False
    period = carer.get("period")
    end = day_of(period.get("end")) if isinstance(period, dict) else None
    return end is None or end >= on


def _relationship_words(carer: Mapping[str, Any]) -> str | None:
    words: list[str] = []
    for concept in carer.get("relationship") or ():
        if not isinstance(concept, dict):
            continue
        text = concept.get("text")
        if not isinstance(text, str):
            text = next(
                (
                    c.get("display")
                    for c in concept.get("coding") or ()
                    if isinstance(c, dict) and isinstance(c.get("display"), str)
                ),
                None,
            )
        if isinstance(text, str) and text.strip() and text.strip() not in words:
            words.append(text.strip())
    return ", ".join(words) or None


def carers_to_assess(access: CareRecordAccess, patient_id: str) -> list[CarerOption]:
    """The person's carers (RelatedPersons still caring), by name."""
    on = today()
    found = find(access, "RelatedPerson", [("patient", f"Patient/{patient_id}")])
    options = [
        CarerOption(str(c["id"]), person_name(c) or "Name not recorded", _relationship_words(c))
        for c in found
        if referenced_id(c.get("patient"), "Patient") == patient_id and _still_caring(c, on)
    ]
    return sorted(options, key=lambda o: (o.name.casefold(), o.related_person_id))


# -- reading a response back -----------------------------------------------------------------------


def _items(items: Any) -> Iterator[dict[str, Any]]:
    """Every item of a response, nested ones included."""
    for item in items or ():
        if isinstance(item, dict):
            yield item
            yield from _items(item.get("item"))


def _answers(response: Mapping[str, Any]) -> dict[str, Any]:
    """linkId -> the first answer's value (valueX), for the items that have one."""
    found: dict[str, Any] = {}
    for item in _items(response.get("item")):
        link_id = item.get("linkId")
        answers = [a for a in item.get("answer") or () if isinstance(a, dict)]
        if not isinstance(link_id, str) or not answers:
            continue
        value = next((v for k, v in answers[0].items() if k.startswith("value")), None)
        if value is not None:
            found.setdefault(link_id, value)
    return found


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _eligible(value: Any) -> bool | None:
    code = value.get("code") if isinstance(value, dict) else None
    return {"eligible": True, "not-eligible": False}.get(str(code)) if code else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class Assessment:
    """A needs assessment or carer's assessment as the social care page shows it."""

    response_id: str | None
    """None for a visit recorded as an Encounter only (the synthetic place's assessments)."""
    kind: str
    """NEEDS_ASSESSMENT or CARERS_ASSESSMENT."""
    title: str
    status: str
    """"completed" or "in-progress" (a draft)."""
    assessed_on: date | None
    eligible: bool | None
    unable: tuple[Outcome, ...]
    impairment: bool | None
    wellbeing_impact: bool | None
    summary: str | None
    carer_id: str | None
    carer: str | None
    sustainable: bool | None
    carer_wellbeing: str | None
    carer_outcomes: str | None
    support_agreed: str | None
    source: Source
    version: int

    @property
    def draft(self) -> bool:
        return self.status == "in-progress"

    @property
    def unable_keys(self) -> frozenset[str]:
        return frozenset(o.key for o in self.unable)


def assessment_from(
    response: Mapping[str, Any], directory: Mapping[str, dict[str, Any]]
) -> Assessment | None:
    """One of our responses as an Assessment; None for other questionnaires' responses and
    for ones entered in error or stopped."""
    kind = questionnaire_name(response)
    if kind is None or response.get("status") in ("entered-in-error", "stopped"):
        return None
    answers = _answers(response)
    source = source_of(response, directory)
    carer_id = referenced_id(response.get("source"), "RelatedPerson")
    carer = directory.get(f"RelatedPerson/{carer_id}") if carer_id else None
    display = response.get("source", {}).get("display") if carer_id else None
    return Assessment(
        response_id=str(response["id"]),
        kind=kind,
        title=TITLES[kind],
        status=str(response.get("status") or ""),
        assessed_on=day_of(answers.get(DATE)) or (source.when.day if source.when else None),
        eligible=_eligible(answers.get(DETERMINATION)),
        unable=tuple(o for o in OUTCOMES if answers.get(o.link_id) is True),
        impairment=_boolean(answers.get(IMPAIRMENT)),
        wellbeing_impact=_boolean(answers.get(WELLBEING)),
        summary=_text(answers.get(SUMMARY)),
        carer_id=carer_id,
        carer=(person_name(carer) if carer else None)
        or (display if isinstance(display, str) else None),
        sustainable=_boolean(answers.get(SUSTAINABLE)),
        carer_wellbeing=_text(answers.get(CARER_WELLBEING)),
        carer_outcomes=_text(answers.get(CARER_OUTCOMES)),
        support_agreed=_text(answers.get(SUPPORT_AGREED)),
        source=source,
        version=version_of(dict(response)),
    )


def _directory_for(access: CareRecordAccess, response: Mapping[str, Any]) -> dict[str, Any]:
    """The author's post, organisation and practitioner, and the carer, for one response."""
    directory: dict[str, Any] = {}
    role_id = referenced_id(response.get("author"), "PractitionerRole")
    role = read_or_none(access, "PractitionerRole", role_id) if role_id else None
    if role is not None:
        directory[reference_to(role)] = role
        for kind, element in (("Organization", "organization"), ("Practitioner", "practitioner")):
            rid = referenced_id(role.get(element), kind)
            found = read_or_none(access, kind, rid) if rid else None
            if found is not None:
                directory[reference_to(found)] = found
    carer_id = referenced_id(response.get("source"), "RelatedPerson")
    carer = read_or_none(access, "RelatedPerson", carer_id) if carer_id else None
    if carer is not None:
        directory[reference_to(carer)] = carer
    return directory


def assessment_of(access: CareRecordAccess, patient_id: str, response_id: str) -> Assessment:
    """One of the person's assessments (NotFound when it is not theirs, not one of ours, or
    hidden from the asker)."""
    response = read(access, "QuestionnaireResponse", response_id)
    found = None
    if referenced_id(response.get("subject"), "Patient") == patient_id:
        found = assessment_from(response, _directory_for(access, response))
    if found is None:
        raise NotFound(f"QuestionnaireResponse/{response_id} is not known")
    return found


def newest_first(assessments: Iterable[Assessment]) -> list[Assessment]:
    return sorted(
        assessments,
        key=lambda a: (
            a.assessed_on or date.min,
            a.source.when.instant.isoformat() if a.source.when else "",
        ),
        reverse=True,
    )
