"""careweave's two Care Act Questionnaires, defined in code: the s9 needs assessment (the
conditions and the ten outcomes of the Care and Support (Eligibility Criteria) Regulations
2015, regulation 2) and the s10 carer's assessment (docs/care-coordination.md, "Social care").

Responses name them by canonical URL and version
(`https://fhir.careweave.example/Questionnaire/<name>|1.0.0`, as the example PRISMA-7
questionnaire is named), so recording an assessment never depends on the Questionnaire being
in the store. A FHIR client that wants the questions resolves the canonical:
`publish_questionnaires` puts the definitions in the store with a conditional create on url
and version (idempotent). Questionnaire is directory data that care staff read but do not
write, so an administrator or a platform integration runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from careweave.access.guard import CareRecordAccess
from careweave.coordination.codes import coding
from careweave.coordination.social_care_rules import CARE_ACT_ELIGIBILITY
from careweave.store.repository import StoreTransaction

QUESTIONNAIRE_BASE: Final = "https://fhir.careweave.example/Questionnaire/"
NEEDS_ASSESSMENT: Final = "care-act-needs-assessment"
CARERS_ASSESSMENT: Final = "carers-assessment"
QUESTIONNAIRE_VERSION: Final = "1.0.0"
NEEDS_ASSESSMENT_URL: Final = QUESTIONNAIRE_BASE + NEEDS_ASSESSMENT
CARERS_ASSESSMENT_URL: Final = QUESTIONNAIRE_BASE + CARERS_ASSESSMENT
TITLES: Final[Mapping[str, str]] = {
    NEEDS_ASSESSMENT: "Care Act needs assessment",
    CARERS_ASSESSMENT: "Carer's assessment",
}


@dataclass(frozen=True)
class Outcome:
    """One of the specified outcomes of regulation 2(2) of the Eligibility Criteria
    Regulations 2015 (wording as the regulation gives it, "the adult" made plain)."""

    key: str
    text: str

    @property
    def link_id(self) -> str:
        return f"outcome-{self.key}"


OUTCOMES: Final[tuple[Outcome, ...]] = (
    Outcome("nutrition", "Managing and maintaining nutrition"),
    Outcome("hygiene", "Maintaining personal hygiene"),
    Outcome("toilet", "Managing toilet needs"),
    Outcome("clothed", "Being appropriately clothed"),
    Outcome("home-safely", "Being able to make use of the home safely"),
    Outcome("habitable-home", "Maintaining a habitable home environment"),
    Outcome("relationships", "Developing and maintaining family or other personal relationships"),
    Outcome(
        "work-education", "Accessing and engaging in work, training, education or volunteering"
    ),
    Outcome(
        "community",
        "Making use of necessary facilities or services in the local community, including "
        "public transport and recreational facilities or services",
    ),
    Outcome("caring-for-child", "Carrying out any caring responsibilities for a child"),
)
OUTCOME_BY_KEY: Final[Mapping[str, Outcome]] = {o.key: o for o in OUTCOMES}
OUTCOMES_NEEDED: Final = 2
"""Regulation 2(1)(b): unable to achieve two or more of the specified outcomes."""

# linkIds of the items, shared by the Questionnaires, the responses and the reader.
DATE: Final = "assessment-date"
OUTCOMES_GROUP: Final = "outcomes"
IMPAIRMENT: Final = "impairment"
WELLBEING: Final = "wellbeing-impact"
DETERMINATION: Final = "determination"
SUMMARY: Final = "summary"
SUSTAINABLE: Final = "caring-sustainable"
CARER_WELLBEING: Final = "carer-wellbeing"
CARER_OUTCOMES: Final = "carer-outcomes"
SUPPORT_AGREED: Final = "support-agreed"

QUESTIONS: Final[Mapping[str, str]] = {
    DATE: "Date of the assessment",
    OUTCOMES_GROUP: "Which outcomes is the adult unable to achieve? (Care and Support "
    "(Eligibility Criteria) Regulations 2015, regulation 2(2))",
    IMPAIRMENT: "Do the adult's needs arise from or relate to a physical or mental "
    "impairment or illness?",
    WELLBEING: "As a consequence, is there, or is there likely to be, a significant impact on "
    "the adult's wellbeing?",
    DETERMINATION: "Eligibility determination",
    SUMMARY: "Summary of needs and what matters to the person",
    SUSTAINABLE: "Is the caring role sustainable?",
    CARER_WELLBEING: "How caring affects the carer's health and wellbeing",
    CARER_OUTCOMES: "What the carer wants to achieve in day-to-day life",
    SUPPORT_AGREED: "Support agreed",
}
ELIGIBILITY: Final[Mapping[str, str]] = {"eligible": "Eligible", "not-eligible": "Not eligible"}


# -- the Questionnaires ---------------------------------------------------------------------------


def _question(link_id: str, kind: str, *, required: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": link_id, "text": QUESTIONS[link_id], "type": kind}
    if required:
        item["required"] = True
    return item


def _determination() -> dict[str, Any]:
    item = _question(DETERMINATION, "choice")
    item["answerOption"] = [
        {"valueCoding": coding(CARE_ACT_ELIGIBILITY, code, words)}
        for code, words in ELIGIBILITY.items()
    ]
    return item


def _questionnaire(
    name: str, title: str, description: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "url": QUESTIONNAIRE_BASE + name,
        "version": QUESTIONNAIRE_VERSION,
        "name": "".join(part.capitalize() for part in name.split("-")),
        "title": title,
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": "careweave",
        "description": description,
        "jurisdiction": [
            {
                "coding": [
                    {"system": "urn:iso:std:iso:3166", "code": "GB", "display": "United Kingdom"}
                ]
            }
        ],
        "item": items,
    }


def needs_assessment_questionnaire() -> dict[str, Any]:
    """The s9 needs assessment: the three conditions of regulation 2(1) and the outcome."""
    outcomes = _question(OUTCOMES_GROUP, "group")
    outcomes["item"] = [{"linkId": o.link_id, "text": o.text, "type": "boolean"} for o in OUTCOMES]
    return _questionnaire(
        NEEDS_ASSESSMENT,
        "Care Act 2014 section 9 needs assessment",
        "An adult's needs for care and support and whether they meet the eligibility criteria "
        "(Care and Support (Eligibility Criteria) Regulations 2015, regulation 2). Each outcome "
        "answered true is one the adult is unable to achieve.",
        [
            _question(DATE, "date", required=True),
            outcomes,
            _question(IMPAIRMENT, "boolean"),
            _question(WELLBEING, "boolean"),
            _determination(),
            _question(SUMMARY, "text"),
        ],
    )


def carers_assessment_questionnaire() -> dict[str, Any]:
    """The s10 carer's assessment; the response's `source` is the carer (RelatedPerson)."""
    return _questionnaire(
        CARERS_ASSESSMENT,
        "Care Act 2014 section 10 carer's assessment",
        "An unpaid carer's needs for support: whether caring is sustainable, its impact on "
        "their wellbeing, the outcomes they want, eligibility (Care and Support (Eligibility "
        "Criteria) Regulations 2015, regulation 3) and the support agreed. The response's "
        "subject is the person cared for and its source the carer.",
        [
            _question(DATE, "date", required=True),
            _question(SUSTAINABLE, "boolean", required=True),
            _question(CARER_WELLBEING, "text", required=True),
            _question(CARER_OUTCOMES, "text", required=True),
            _determination(),
            _question(SUPPORT_AGREED, "text"),
        ],
    )


def questionnaires() -> list[dict[str, Any]]:
    return [needs_assessment_questionnaire(), carers_assessment_questionnaire()]


def publish_questionnaires(access: CareRecordAccess) -> list[str]:
    """Put the Questionnaires in the store unless this version is already there (conditional
    create on url and version), in one transaction; the ids of those created. Forbidden for
    anyone but an administrator or a platform integration."""

    def work(tx: StoreTransaction) -> list[str]:
        created = []
        for questionnaire in questionnaires():
            made = tx.create(
                questionnaire,
                if_none_exist=f"url={questionnaire['url']}&version={QUESTIONNAIRE_VERSION}",
            )
            if made.created:
                created.append(made.stored.id)
        return created

    return access.write("create", "Questionnaire", work)


def questionnaire_name(response: Mapping[str, Any]) -> str | None:
    """NEEDS_ASSESSMENT or CARERS_ASSESSMENT for a response to one of ours (with or without
    its |version), else None."""
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str):
        return None
    url = canonical.split("|")[0].rstrip("/")
    for name in (NEEDS_ASSESSMENT, CARERS_ASSESSMENT):
        if url == QUESTIONNAIRE_BASE + name:
            return name
    return None
