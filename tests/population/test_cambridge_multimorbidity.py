"""The Cambridge Multimorbidity Score of hand-built records: each usage rule on both sides of
its edge, the adapted prescription count, exact sums, and the data files' checks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.population.cambridge_multimorbidity import (
    CANCER_DAYS,
    CMS_CODES,
    CMS_CONDITIONS,
    CMS_VERSION,
    RULES,
    CambridgeCodeLists,
    cambridge_code_lists,
    cambridge_lists_from,
    cambridge_multimorbidity_score,
    diagnosis_lists,
    medicine_lists,
)
from careweave.population.code_lists import CodeListProblem, parse_code_list, read_code_list
from careweave.population.multimorbidity import long_term_condition_list
from careweave.synth.clinical_codes import (
    ADMISSION_REASONS,
    ALL_PROBLEMS,
    MEDICINE_KEYS,
    MEDICINES,
    OTHER_CONDITIONS,
)
from careweave.synth.privacy import ALCOHOL_CODES
from tests.population.records import AS_OF, condition, request, statement

PAPER_WEIGHTS = {
    "alcohol-problems": 65,
    "anxiety-depression": 50,
    "atrial-fibrillation": 134,
    "cancer": 153,
    "chronic-kidney-disease": 53,
    "connective-tissue-disorder": 43,
    "copd": 146,
    "coronary-heart-disease": 49,
    "dementia": 250,
    "diabetes": 75,
    "epilepsy": 92,
    "hearing-loss": 9,
    "heart-failure": 118,
    "irritable-bowel-syndrome": 21,
    "psychosis-bipolar": 64,
    "stroke-tia": 80,
    "asthma": 19,
    "hypertension": 8,
    "constipation": 112,
    "painful-condition": 92,
}
"""Payne et al. 2020, the 20-condition general-outcome weights (hundredths)."""

# One code per list, so each test names what it records. Diagnoses are real SNOMED CT ids;
# the medicine ids are made up, with valid check digits (the score never looks them up).
DIAGNOSIS = {
    "alcohol-problems": "7200002",
    "anxiety-depression": "35489007",
    "asthma": "195967001",
    "atrial-fibrillation": "49436004",
    "cancer": "363346000",
    "chronic-kidney-disease": "700378005",
    "connective-tissue-disorder": "69896004",
    "copd": "13645005",
    "coronary-heart-disease": "414545008",
    "dementia": "52448006",
    "diabetes": "44054006",
    "epilepsy": "84757009",
    "hearing-loss": "15188001",
    "heart-failure": "84114007",
    "hypertension": "38341003",
    "irritable-bowel-syndrome": "10743008",
    "psychosis-bipolar": "58214004",
    "stroke-tia": "230690007",
}
ANTIDEPRESSANT = "39100011000001102"
INHALER = "39100111000001101"
ANTIEPILEPTIC = "39100211000001107"  # in both epilepsy and pain lists, as gabapentin would be
ANTISPASMODIC = "39100311000001104"
LITHIUM = "39100411000001106"
LAXATIVE = "39100511000001105"
ANALGESIC = "39100611000001109"
MEDICINE = {
    "anxiety-depression-medicines": [ANTIDEPRESSANT],
    "asthma-medicines": [INHALER],
    "epilepsy-medicines": [ANTIEPILEPTIC],
    "irritable-bowel-syndrome-medicines": [ANTISPASMODIC],
    "psychosis-bipolar-medicines": [LITHIUM],
    "constipation-medicines": [LAXATIVE],
    "painful-condition-analgesics": [ANALGESIC],
    "painful-condition-antiepileptics": [ANTIEPILEPTIC],
}

HEADER = "# version: 1\n# compiled: 2026-11-29\n# source: a test\n"


def conditions_text(weights: dict[str, str] | None = None) -> str:
    rows = weights or {c: f"{w / 100:.2f}" for c, w in PAPER_WEIGHTS.items()}
    return HEADER + "condition,label,weight\n" + "".join(f"{c},{c},{w}\n" for c, w in rows.items())


def codes_text(extra: str = "") -> str:
    rows = [f"{name},{code},x,list" for name, code in DIAGNOSIS.items()]
    rows += [f"{name},{code},x,list" for name, codes in MEDICINE.items() for code in codes]
    return HEADER + "list,snomed_code,display,source\n" + "\n".join(rows) + "\n" + extra


def lists_from(conditions: str, codes: str) -> CambridgeCodeLists:
    return cambridge_lists_from(
        parse_code_list(CMS_CONDITIONS + "-v1", conditions, "1", ("condition", "label", "weight")),
        parse_code_list(CMS_CODES + "-v1", codes, "1", ("list", "snomed_code", "display")),
    )


LISTS = lists_from(conditions_text(), codes_text())


def on(days: int) -> date:
    """The day `days` from the as-of day (negative: before it)."""
    return AS_OF + timedelta(days=days)


def score_of(record: list[dict[str, Any]]) -> tuple[float, list[str]]:
    found = cambridge_multimorbidity_score(record, AS_OF, code_lists=LISTS)
    return found.score, [c.condition for c in found.conditions]


def diagnosed(name: str, day: date | str = "2015-06-01", **kwargs: Any) -> dict[str, Any]:
    return condition(DIAGNOSIS[name], day, **kwargs)


def acute(code: str, day: date) -> dict[str, Any]:
    return request(code, day, course="acute", status="completed")


# -- rules ---------------------------------------------------------------------------------------


def test_nothing_recorded_scores_zero() -> None:
    assert score_of([]) == (0.0, [])


def test_diagnoses_ever_recorded_add_their_weights() -> None:
    record = [diagnosed("dementia"), diagnosed("hypertension"), diagnosed("copd", "1999")]
    found = cambridge_multimorbidity_score(record, AS_OF, code_lists=LISTS)
    assert found.score == 4.04
    assert found.hundredths == 404
    assert [c.condition for c in found.conditions] == ["copd", "dementia", "hypertension"]
    assert [c.weight for c in found.conditions] == [1.46, 2.50, 0.08]
    assert found.conditions[1].evidence[0].code == DIAGNOSIS["dementia"]


def test_a_refuted_or_mistaken_or_later_diagnosis_does_not_count() -> None:
    record = [
        diagnosed("dementia", verification="refuted"),
        diagnosed("diabetes", verification="entered-in-error"),
        diagnosed("heart-failure", on(1)),
    ]
    assert score_of(record) == (0.0, [])
    assert score_of([diagnosed("heart-failure", on(0))])[1] == ["heart-failure"]


def test_cancer_counts_for_five_years_after_a_code() -> None:
    assert score_of([diagnosed("cancer", on(-(CANCER_DAYS - 1)))]) == (1.53, ["cancer"])
    assert score_of([diagnosed("cancer", on(-CANCER_DAYS))]) == (0.0, [])


def test_anxiety_or_depression_needs_a_code_in_the_last_year_or_repeated_treatment() -> None:
    assert score_of([diagnosed("anxiety-depression", on(-364))])[1] == ["anxiety-depression"]
    assert score_of([diagnosed("anxiety-depression", on(-365))])[1] == []
    old_code = diagnosed("anxiety-depression", "2010-01-01")
    repeat = statement(ANTIDEPRESSANT, "2020-01-01")
    assert score_of([old_code, repeat])[1] == ["anxiety-depression"]
    ended = statement(ANTIDEPRESSANT, "2020-01-01", on(-365))
    assert score_of([old_code, ended])[1] == []
    assert score_of([statement(ANTIDEPRESSANT, "2020-01-01", on(-364))])[1] == [
        "anxiety-depression"
    ]


def test_four_one_off_prescriptions_in_the_year_count_and_three_do_not() -> None:
    three = [acute(ANTIDEPRESSANT, on(-n * 30)) for n in range(3)]
    assert score_of(three)[1] == []
    assert score_of([*three, acute(ANTIDEPRESSANT, on(-364))])[1] == ["anxiety-depression"]
    assert score_of([*three, acute(ANTIDEPRESSANT, on(-365))])[1] == []
    cancelled = {**acute(ANTIDEPRESSANT, on(-10)), "status": "cancelled"}
    assert score_of([*three, cancelled])[1] == []
    proposed = {**acute(ANTIDEPRESSANT, on(-10)), "intent": "proposal"}
    assert score_of([*three, proposed])[1] == []


def test_a_repeat_prescription_stands_for_four() -> None:
    assert score_of([request(LAXATIVE, on(-100), course="continuous")]) == (
        1.12,
        ["constipation"],
    )
    assert score_of([statement(LAXATIVE, on(-30))]) == (1.12, ["constipation"])
    assert score_of([statement(LAXATIVE, on(-30), status="entered-in-error")]) == (0.0, [])


def test_asthma_and_epilepsy_count_only_when_treated_in_the_last_year() -> None:
    assert score_of([diagnosed("asthma")])[1] == []
    assert score_of([diagnosed("asthma"), acute(INHALER, on(-364))])[1] == ["asthma"]
    assert score_of([diagnosed("asthma"), acute(INHALER, on(-365))])[1] == []
    assert score_of([acute(INHALER, on(-1))])[1] == []
    assert score_of([diagnosed("epilepsy"), statement(ANTIEPILEPTIC, "2010-01-01")])[1] == [
        "epilepsy"
    ]


def test_anti_epileptics_count_as_pain_only_without_epilepsy() -> None:
    repeat = statement(ANTIEPILEPTIC, "2024-01-01")
    assert score_of([repeat]) == (0.92, ["painful-condition"])
    assert score_of([repeat, diagnosed("epilepsy")]) == (0.92, ["epilepsy"])
    one = acute(ANTIEPILEPTIC, on(-3))
    assert score_of([one]) == (0.0, [])
    assert score_of([statement(ANALGESIC, "2024-01-01"), diagnosed("epilepsy")])[1] == [
        "painful-condition"
    ]


def test_irritable_bowel_syndrome_by_code_ever_or_repeated_antispasmodics() -> None:
    assert score_of([diagnosed("irritable-bowel-syndrome", "2001")])[1] == [
        "irritable-bowel-syndrome"
    ]
    assert score_of([statement(ANTISPASMODIC, on(-10))])[1] == ["irritable-bowel-syndrome"]
    assert score_of([statement(ANTISPASMODIC, "2015-01-01", "2016-01-01")])[1] == []


def test_lithium_ever_prescribed_counts_for_psychosis_or_bipolar_disorder() -> None:
    assert score_of([statement(LITHIUM, "2005-01-01", "2006-01-01")]) == (
        0.64,
        ["psychosis-bipolar"],
    )
    assert score_of([acute(LITHIUM, date(2003, 5, 1))])[1] == ["psychosis-bipolar"]
    assert score_of([statement(LITHIUM, on(1))])[1] == []
    assert score_of([statement(LITHIUM, "2005-01-01", status="entered-in-error")])[1] == []


def test_every_condition_at_once_adds_up_exactly() -> None:
    record = [diagnosed(name, on(-10)) for name in DIAGNOSIS]
    record += [
        statement(code, "2020-01-01")
        for name, codes in MEDICINE.items()
        for code in codes
        if name != "painful-condition-antiepileptics"
    ]
    found = cambridge_multimorbidity_score(record, AS_OF, code_lists=LISTS)
    assert found.condition_count == 20
    assert found.hundredths == sum(PAPER_WEIGHTS.values()) == 1633
    assert found.score == 16.33
    assert found.hundredths == LISTS.top_hundredths


def test_the_top_score_is_every_weight_added() -> None:
    assert LISTS.top_hundredths == cambridge_code_lists().top_hundredths == 1633
    weights = {c: f"{w / 100:.2f}" for c, w in PAPER_WEIGHTS.items()}
    weights["dementia"] = "3.5"
    assert lists_from(conditions_text(weights), codes_text()).top_hundredths == 1633 + 100


def test_the_evidence_names_the_entries_behind_each_condition() -> None:
    record = [diagnosed("asthma", resource_id="c-asthma"), acute(INHALER, on(-2))]
    (found,) = cambridge_multimorbidity_score(record, AS_OF, code_lists=LISTS).conditions
    assert [e.reference for e in found.evidence] == [
        "Condition/c-asthma",
        f"MedicationRequest/{record[1]['id']}",
    ]
    assert found.evidence[1].resource_type == "MedicationRequest"


# -- the data files ------------------------------------------------------------------------------


def test_a_weight_must_be_positive_with_two_decimals_at_most() -> None:
    for bad in ("0.655", "-0.5", "0", "lots"):
        weights = {c: f"{w / 100:.2f}" for c, w in PAPER_WEIGHTS.items()}
        weights["dementia"] = bad
        with pytest.raises(CodeListProblem, match="dementia"):
            lists_from(conditions_text(weights), codes_text())


def test_the_conditions_must_be_the_rules_conditions() -> None:
    weights = {c: f"{w / 100:.2f}" for c, w in PAPER_WEIGHTS.items() if c != "asthma"}
    with pytest.raises(CodeListProblem, match="asthma"):
        lists_from(conditions_text(weights), codes_text())


def test_a_list_no_rule_reads_or_a_code_twice_in_a_list_is_refused() -> None:
    with pytest.raises(CodeListProblem, match="no rule reads"):
        lists_from(conditions_text(), codes_text("gout,90560007,Gout,list\n"))
    with pytest.raises(CodeListProblem, match="twice"):
        lists_from(conditions_text(), codes_text("dementia,52448006,Dementia,list\n"))


def test_every_list_a_rule_reads_needs_codes() -> None:
    codes = codes_text().replace(f"epilepsy-medicines,{ANTIEPILEPTIC},x,list\n", "")
    with pytest.raises(CodeListProblem, match="no codes for epilepsy-medicines"):
        lists_from(conditions_text(), codes)


def test_the_shipped_weights_are_the_papers() -> None:
    shipped = cambridge_code_lists()
    assert dict(shipped.weight_of) == PAPER_WEIGHTS
    assert set(shipped.conditions) == set(RULES)


def test_the_shipped_codes_hold_what_the_synthetic_place_records() -> None:
    """Each long-term condition careweave records under a Cambridge condition's name is in
    that condition's list, and so is every laxative the generator prescribes. The privacy
    stream's alcohol dependence and misuse are long-term conditions but, as the published
    Cambridge alcohol list holds neither, not in the score's list."""
    shipped = cambridge_code_lists()
    ltc = long_term_condition_list()
    not_cambridge = {code for code, _display, _weight in ALCOHOL_CODES}
    for code in not_cambridge:
        assert ltc.condition_of[code] == "alcohol-problems"
        assert "alcohol-problems" not in shipped.lists_of.get(code, ())
    for code, condition_name in ltc.condition_of.items():
        if condition_name in diagnosis_lists() and code not in not_cambridge:
            assert condition_name in shipped.lists_of.get(code, ()), (code, condition_name)
    laxatives = {m.code for m in MEDICINES if "constipation" in m.indication_keys}
    assert laxatives
    assert laxatives <= shipped.codes_in("constipation-medicines")
    for code_list in diagnosis_lists() | medicine_lists():
        assert shipped.codes_in(code_list), code_list


CAMBRIDGE_LIST_OF_OTHER_CONDITION = {
    "epilepsy": "epilepsy",
    "ibs": "irritable-bowel-syndrome",
    "smi": "psychosis-bipolar",
    "alcohol_problems": "alcohol-problems",
    "connective_tissue_disorder": "connective-tissue-disorder",
}


def test_the_shipped_codes_hold_the_other_conditions_and_their_medicines() -> None:
    """Every code the generator records for its other long-standing conditions is in the
    Cambridge list of that condition, and the anti-epileptics, lithium and mebeverine it
    prescribes for them are in the medicine lists their rules read; the antipsychotics are in
    none (schizophrenia and bipolar disorder count by code or lithium)."""
    shipped = cambridge_code_lists()
    assert {p.key for p in OTHER_CONDITIONS} == set(CAMBRIDGE_LIST_OF_OTHER_CONDITION)
    for problem in OTHER_CONDITIONS:
        for code, _display, _weight in problem.codes:
            assert CAMBRIDGE_LIST_OF_OTHER_CONDITION[problem.key] in shipped.lists_of.get(
                code, ()
            ), (code, problem.key)
    for keys, code_list in (
        (
            ("levetiracetam", "lamotrigine", "sodium_valproate", "carbamazepine"),
            "epilepsy-medicines",
        ),
        (("lithium",), "psychosis-bipolar-medicines"),
        (("mebeverine",), "irritable-bowel-syndrome-medicines"),
    ):
        for key in keys:
            assert MEDICINE_KEYS[key].code in shipped.codes_in(code_list), key
    for key in ("olanzapine", "risperidone", "prednisolone", "hydroxychloroquine"):
        assert MEDICINE_KEYS[key].code not in shipped.lists_of, key
    assert "69896004" not in shipped.lists_of  # rheumatoid arthritis: see data/README.md


def test_the_source_of_each_code_says_truthfully_whether_the_generator_emits_it() -> None:
    """`synth+list` rows are codes the synthetic generator writes (as a Condition, a medicine
    or an admission reason), `list` rows codes it never writes; `careweave` rows (CKD stages)
    are its own."""
    rows = read_code_list(CMS_CODES, CMS_VERSION, ("list", "snomed_code", "display", "source"))
    emitted = {
        *(code for problem in ALL_PROBLEMS for code, _display, _weight in problem.codes),
        *(code for code, _display, _weight in ALCOHOL_CODES),
        *(code for code, *_rest in ADMISSION_REASONS),
        *(medicine.code for medicine in MEDICINES),
    }
    assert {row["source"] for row in rows.rows} == {"synth+list", "list", "careweave"}
    for row in rows.rows:
        if row["source"] == "list":
            assert row["snomed_code"] not in emitted, row
        else:
            assert row["snomed_code"] in emitted, row
