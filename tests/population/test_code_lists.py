"""The versioned code lists: their form, their metadata, and that they say what the synthetic
generator means (every eFI code it emits under the same deficit, every long-term condition code
under one condition), so measures computed over a generated place find what it intended."""

from __future__ import annotations

from datetime import date

import pytest

from careweave.population.code_lists import CodeListProblem, parse_code_list, read_code_list
from careweave.population.efi import (
    CODED_DEFICITS,
    efi_code_list,
    efi_codes_from,
    electronic_frailty_index,
)
from careweave.population.measures_sql import code_list_tables
from careweave.population.multimorbidity import long_term_condition_list, long_term_conditions_from
from careweave.population.person_measures import (
    IMD_DECILE_EXTENSION,
    LIVING_ARRANGEMENTS,
    SOCIAL_CARE,
)
from careweave.synth import clinical_codes, privacy
from careweave.synth.model import IMD_EXTENSION
from tests.population.records import AS_OF, condition

COLUMNS = ("deficit", "snomed_code", "display")
HEADER = "# version: 1\n# compiled: 2026-11-28\n# source: a test\n"


def test_the_efi_list_loads_with_its_metadata() -> None:
    codes = efi_code_list()
    assert codes.info.name == "efi-deficits-v1"
    assert codes.info.version == "1"
    assert codes.info.compiled == date(2026, 11, 28)
    assert "GM SDE" in codes.info.source
    assert codes.deficits == set(CODED_DEFICITS)
    assert "polypharmacy" not in codes.deficits
    assert all(len(found) == 1 for found in codes.deficits_of.values())  # no overlap in v1


def test_the_long_term_condition_list_loads_with_one_body_system_per_condition() -> None:
    ltc = long_term_condition_list()
    assert ltc.info.name == "long-term-conditions-v2"
    assert len(ltc.conditions) == 27
    assert set(ltc.body_system_of) == set(ltc.conditions) == set(ltc.label_of)
    assert set(ltc.condition_of.values()) == set(ltc.conditions)
    assert len(set(ltc.body_system_of.values())) == 11


def test_version_2_keeps_version_1_and_counts_mental_illness_alcohol_and_learning_disability() -> (
    None
):
    """shared/standards.md §4: long-term conditions are "physical or mental, incl. e.g.
    learning disability, sensory impairment, alcohol/substance misuse"; version 1 held none of
    serious mental illness, alcohol problems or learning disability."""
    first, second = long_term_condition_list("1"), long_term_condition_list("2")
    assert set(first.condition_of.items()) <= set(second.condition_of.items())
    assert all(second.body_system_of[c] == first.body_system_of[c] for c in first.conditions)
    added = set(second.conditions) - set(first.conditions)
    assert added == {
        "epilepsy",
        "irritable-bowel-syndrome",
        "psychosis-bipolar",
        "alcohol-problems",
        "connective-tissue-disorder",
        "learning-disability",
    }
    assert second.condition_of["58214004"] == "psychosis-bipolar"  # schizophrenia
    assert second.condition_of["1094151000000108"] == "alcohol-problems"
    assert second.condition_of["110359009"] == "learning-disability"


def test_every_efi_code_the_generator_emits_is_listed_under_the_same_deficit() -> None:
    listed = efi_code_list().deficits_of
    emitted = clinical_codes.EFI_DEFICIT_CODES
    assert len(emitted) >= 75
    mismatched = {
        code: (deficit, listed.get(code))
        for code, deficit in emitted.items()
        if listed.get(code) != frozenset({deficit})
    }
    assert mismatched == {}


def test_no_code_the_generator_emits_for_something_else_is_an_efi_code() -> None:
    """Depression, cancer, constipation... are on records but are no eFI deficit."""
    listed = efi_code_list().deficits_of
    not_deficits = {
        code
        for problem in clinical_codes.ALL_PROBLEMS
        if problem.deficit is None
        for code, _display, _weight in problem.codes
    }
    assert not_deficits
    assert not_deficits.isdisjoint(listed)
    household = {c["coding"][0]["code"] for c in clinical_codes.LIVES_WITH.values()}
    assert clinical_codes.HOUSEHOLD_COMPOSITION["coding"][0]["code"] not in listed
    # "Lives alone" is both a household value and a social-vulnerability code: only the code of
    # a coded entry counts, never an Observation's value (tests/population/test_person_measures).
    assert household & set(listed) == {"105529008", "248171000000108", "160734000"}


def test_every_long_term_condition_code_the_generator_emits_is_one_condition() -> None:
    """The list partitions the clinical record's codes exactly as the generator's 21 long-term
    conditions and 5 other long-standing conditions do. Beyond them it holds the privacy
    stream's alcohol dependence and misuse, as alcohol problems, and one learning disability
    code (the generator records no learning disability)."""
    listed = long_term_condition_list().condition_of
    emitted = {
        **{code: ("ltc", key) for code, key in clinical_codes.LONG_TERM_CONDITION_CODES.items()},
        **{code: ("other", key) for code, key in clinical_codes.OTHER_CONDITION_CODES.items()},
    }
    privacy_alcohol = {code for code, _display, _weight in privacy.ALCOHOL_CODES}
    assert set(listed) - set(emitted) == {"110359009", *privacy_alcohol}
    assert {listed[code] for code in privacy_alcohol} == {"alcohol-problems"}
    assert set(emitted) <= set(listed)
    pairs = {(emitted[code], listed[code]) for code in emitted}
    assert len(pairs) == len({key for key, _ in pairs}) == len({c for _, c in pairs}) == 26


def test_the_extensions_and_codes_read_are_the_ones_the_generator_writes() -> None:
    assert IMD_DECILE_EXTENSION == IMD_EXTENSION
    assert SOCIAL_CARE == clinical_codes.SOCIAL_CARE
    assert {
        concept["coding"][0]["code"]: key for key, concept in clinical_codes.LIVES_WITH.items()
    } == dict(LIVING_ARRANGEMENTS)


# -- the file form -------------------------------------------------------------------------------


def test_a_well_formed_file_parses() -> None:
    text = HEADER + "deficit,snomed_code,display\nfalls,1912002,Fall\n"
    parsed = parse_code_list("test-v1", text, "1", COLUMNS)
    assert parsed.rows == ({"deficit": "falls", "snomed_code": "1912002", "display": "Fall"},)
    assert parsed.info.source == "a test"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# version: 1\n# source: x\ndeficit,snomed_code,display\n", "lacks compiled"),
        (
            HEADER.replace("version: 1", "version: 2") + "deficit,snomed_code,display\n",
            "says version 2",
        ),
        (
            HEADER.replace("2026-11-28", "last week") + "deficit,snomed_code,display\n",
            "must be a date",
        ),
        (HEADER + "deficit,snomed_code\nfalls,1912002\n", "no column display"),
        (HEADER + "deficit,snomed_code,display\nfalls,1912002\n", "wrong number of fields"),
        (
            HEADER + "deficit,snomed_code,display\nfalls,1912002,Fall,extra\n",
            "wrong number of fields",
        ),
        (HEADER + "deficit,snomed_code,display\nfalls,,Fall\n", "snomed_code is empty"),
        (HEADER + "deficit,snomed_code,display\nfalls,X1912,Fall\n", "not a SNOMED CT id"),
        (HEADER + "deficit,snomed_code,display\nfalls,0191200,Fall\n", "not a SNOMED CT id"),
        # lactulose's dm+d id with its last digit mistyped, as the generator once had it
        (HEADER + "deficit,snomed_code,display\nfalls,42354411000001107,L\n", "not a SNOMED CT id"),
        (HEADER + "deficit,snomed_code,display\n", "has no codes"),
    ],
)
def test_malformed_files_are_rejected_with_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(CodeListProblem, match=problem):
        parse_code_list("test-v1", text, "1", COLUMNS)


def test_a_version_that_does_not_exist_is_named() -> None:
    with pytest.raises(CodeListProblem, match=r"no code list efi-deficits-v99\.csv"):
        read_code_list("efi-deficits", "99", COLUMNS)


# -- the lists' meaning --------------------------------------------------------------------------


def _efi_file(extra_rows: str) -> str:
    """The real v1 list's rows plus `extra_rows`, under a test header."""
    rows = "".join(
        f"{deficit},{code},x,test\n"
        for code, deficits in efi_code_list().deficits_of.items()
        for deficit in sorted(deficits)
    )
    return HEADER + "deficit,snomed_code,display,source\n" + rows + extra_rows


def test_the_real_rows_under_a_test_header_make_the_same_list() -> None:
    parsed = efi_codes_from(parse_code_list("t-v1", _efi_file(""), "1", COLUMNS))
    assert dict(parsed.deficits_of) == dict(efi_code_list().deficits_of)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("falls,1912002,Fall,test\n", "1912002 is listed twice under falls"),
        ("polypharmacy,999999006,Five medicines,test\n", "not a code-based eFI deficit"),
        ("frailty,999999006,Frailty,test\n", "not a code-based eFI deficit"),
    ],
)
def test_efi_lists_that_would_miscount_are_rejected(extra: str, problem: str) -> None:
    with pytest.raises(CodeListProblem, match=problem):
        efi_codes_from(parse_code_list("t-v1", _efi_file(extra), "1", COLUMNS))


def test_a_code_listed_under_two_deficits_counts_for_both() -> None:
    """The published eFI code sets list osteoporosis codes under both osteoporosis and
    fragility fracture, and their SQL counts each set apart: one such code is two deficits.
    The loader refused any code listed twice, so a list compiled from those sets could not
    load, or would have to drop a row and count one deficit too few."""
    osteoporosis = "18040001"  # Senile osteoporosis, listed under osteoporosis in v1
    codes = efi_codes_from(
        parse_code_list(
            "t-v1",
            _efi_file(f"fragility-fracture,{osteoporosis},Osteoporosis,test\n"),
            "1",
            COLUMNS,
        )
    )
    assert codes.deficits_of[osteoporosis] == {"osteoporosis", "fragility-fracture"}
    assert osteoporosis in codes.codes_for("fragility-fracture")
    record = [
        {"resourceType": "Patient", "id": "p1", "birthDate": "1940-01-01"},
        condition(osteoporosis, "2025-01-01"),
    ]
    found = electronic_frailty_index(record, AS_OF, code_list=codes)
    assert set(found.deficit_names) == {"osteoporosis", "fragility-fracture"}
    sql_rows = code_list_tables(efi_codes=codes)["efi_codes"].rows
    assert {(osteoporosis, "osteoporosis"), (osteoporosis, "fragility-fracture")} <= set(sql_rows)


def test_an_efi_list_missing_a_deficit_is_rejected() -> None:
    text = HEADER + "deficit,snomed_code,display\nfalls,1912002,Fall\n"
    with pytest.raises(CodeListProblem, match="no codes for"):
        efi_codes_from(parse_code_list("t-v1", text, "1", COLUMNS))


def test_a_condition_in_two_body_systems_is_rejected() -> None:
    text = (
        HEADER
        + "condition,label,body_system,snomed_code,display\n"
        + "stroke-tia,Stroke,circulatory,230690007,Cerebrovascular accident\n"
        + "stroke-tia,Stroke,nervous,266257000,Transient ischemic attack\n"
    )
    columns = ("condition", "label", "body_system", "snomed_code", "display")
    with pytest.raises(CodeListProblem, match="stroke-tia has two body_systems"):
        long_term_conditions_from(parse_code_list("t-v1", text, "1", columns))


def test_the_source_of_each_efi_code_says_truthfully_whether_the_generator_emits_it() -> None:
    rows = read_code_list(
        "efi-deficits", "1", ("deficit", "snomed_code", "display", "source", "gm_sde_code_set")
    ).rows
    emitted = clinical_codes.EFI_DEFICIT_CODES
    assert {row["source"] for row in rows} == {"synth", "synth+seen", "gm-sde"}
    from_generator = {row["snomed_code"] for row in rows if row["source"].startswith("synth")}
    assert from_generator == set(emitted)
    sets = {(row["deficit"], row["gm_sde_code_set"]) for row in rows}
    assert len(sets) == len(CODED_DEFICITS)  # one GM SDE set per deficit
