"""The electronic Frailty Index of hand-built records: each deficit, the category boundaries,
dating as of a day, entries that do not count, polypharmacy, and why a deficit was found."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careweave.population.efi import (
    CODED_DEFICITS,
    DEFICIT_COUNT,
    DEFICIT_LABELS,
    EFI_DEFICITS,
    FRAILTY_CATEGORIES,
    efi_score,
    electronic_frailty_index,
    frailty_category,
)
from tests.population.records import (
    AS_OF,
    MEDICINE_CODES,
    coded_observation,
    condition,
    deficit_code,
    deficit_records,
    medicines,
    request,
    statement,
)


def test_there_are_36_deficits_each_with_a_label() -> None:
    assert DEFICIT_COUNT == 36
    assert len(set(EFI_DEFICITS)) == 36
    assert list(EFI_DEFICITS) == sorted(EFI_DEFICITS)  # the paper's alphabetical order
    assert set(DEFICIT_LABELS) == set(EFI_DEFICITS)
    assert len(CODED_DEFICITS) == 35


@pytest.mark.parametrize("deficit", EFI_DEFICITS)
def test_each_deficit_on_its_own_is_one_deficit(deficit: str) -> None:
    efi = electronic_frailty_index(deficit_records({deficit}), AS_OF)
    assert efi.deficit_names == {deficit}
    assert efi.deficit_count == 1
    assert efi.score == pytest.approx(1 / 36)
    assert efi.category == "fit"
    assert efi.has(deficit)
    assert efi.deficits[0].label == DEFICIT_LABELS[deficit]


def test_no_record_is_fit_with_no_deficits() -> None:
    efi = electronic_frailty_index([], AS_OF)
    assert efi.deficits == ()
    assert (efi.deficit_count, efi.score, efi.category) == (0, 0.0, "fit")


def test_a_record_with_every_deficit_scores_one() -> None:
    efi = electronic_frailty_index(deficit_records(set(EFI_DEFICITS)), AS_OF)
    assert [found.deficit for found in efi.deficits] == list(EFI_DEFICITS)
    assert (efi.deficit_count, efi.score, efi.category) == (36, 1.0, "severe")


@pytest.mark.parametrize(
    ("count", "category"),
    [
        (4, "fit"),
        (5, "mild"),
        (8, "mild"),
        (9, "moderate"),
        (12, "moderate"),
        (13, "severe"),
    ],
)
def test_category_boundaries_by_count(count: int, category: str) -> None:
    deficits = set(CODED_DEFICITS[:count])
    efi = electronic_frailty_index(deficit_records(deficits), AS_OF)
    assert efi.deficit_count == count
    assert efi.category == category
    assert frailty_category(count) == category


def test_nine_deficits_is_moderate_although_the_score_is_a_quarter() -> None:
    """9/36 = 0.25 is the documented float trap: the category comes from the count."""
    assert efi_score(9) == 0.25
    assert frailty_category(9) == "moderate"
    assert frailty_category(8) == "mild"


@pytest.mark.parametrize("count", [-1, 37])
def test_counts_outside_the_index_are_rejected(count: int) -> None:
    with pytest.raises(ValueError, match="0 to 36"):
        frailty_category(count)
    with pytest.raises(ValueError, match="0 to 36"):
        efi_score(count)


# -- as of a day ---------------------------------------------------------------------------------


def test_a_code_recorded_after_the_day_does_not_count() -> None:
    record = [condition(deficit_code("falls"), AS_OF + timedelta(days=1))]
    assert electronic_frailty_index(record, AS_OF).deficit_count == 0
    assert electronic_frailty_index(record, AS_OF + timedelta(days=1)).has("falls")


def test_a_code_recorded_on_the_day_counts() -> None:
    record = [condition(deficit_code("falls"), AS_OF)]
    assert electronic_frailty_index(record, AS_OF).has("falls")


def test_the_recorded_date_decides_not_the_onset() -> None:
    """A problem recorded after the day (with an earlier onset) was not on the record then."""
    record = [condition(deficit_code("diabetes"), "2026-04-02", onset="2010-01-01")]
    assert not electronic_frailty_index(record, AS_OF).has("diabetes")


def test_the_onset_dates_a_condition_with_no_recorded_date() -> None:
    record = [condition(deficit_code("diabetes"), None, onset="2010-01-01")]  # type: ignore[arg-type]
    assert electronic_frailty_index(record, AS_OF).has("diabetes")


def test_an_undated_entry_does_not_count() -> None:
    record = [condition(deficit_code("diabetes"), None)]  # type: ignore[arg-type]
    assert electronic_frailty_index(record, AS_OF).deficit_count == 0


def test_a_partial_date_counts_from_its_first_day() -> None:
    record = [condition(deficit_code("falls"), "2026-04")]
    assert not electronic_frailty_index(record, AS_OF).has("falls")
    assert electronic_frailty_index(record, date(2026, 4, 1)).has("falls")


def test_a_time_is_read_as_the_day_in_london() -> None:
    """23:30 UTC on 31 March 2026 is 00:30 on 1 April in London (BST): after the day."""
    record = [condition(deficit_code("falls"), "2026-03-31T23:30:00Z")]
    assert not electronic_frailty_index(record, AS_OF).has("falls")
    record = [condition(deficit_code("falls"), "2026-03-31T22:30:00Z")]
    assert electronic_frailty_index(record, AS_OF).has("falls")


def test_a_deficit_once_coded_stays_even_when_resolved() -> None:
    record = [condition(deficit_code("falls"), "2001-05-01", clinical="resolved")]
    assert electronic_frailty_index(record, AS_OF).has("falls")


# -- entries that do not count -------------------------------------------------------------------


@pytest.mark.parametrize("verification", ["entered-in-error", "refuted"])
def test_conditions_recorded_in_error_or_refuted_do_not_count(verification: str) -> None:
    record = [condition(deficit_code("heart-failure"), verification=verification)]
    assert electronic_frailty_index(record, AS_OF).deficit_count == 0


@pytest.mark.parametrize("verification", ["unconfirmed", "provisional", "differential", None])
def test_unconfirmed_conditions_count(verification: str | None) -> None:
    record = [condition(deficit_code("heart-failure"), verification=verification)]
    assert electronic_frailty_index(record, AS_OF).has("heart-failure")


def test_a_coded_observation_counts_and_a_cancelled_one_does_not() -> None:
    code = deficit_code("housebound")
    assert electronic_frailty_index([coded_observation(code)], AS_OF).has("housebound")
    for status in ("cancelled", "entered-in-error"):
        record = [coded_observation(code, status=status)]
        assert electronic_frailty_index(record, AS_OF).deficit_count == 0


def test_codes_outside_the_list_and_other_systems_do_not_count() -> None:
    depression = condition("35489007")  # a long-term condition, not an eFI deficit
    read_code = condition(deficit_code("falls"))
    read_code["code"]["coding"][0]["system"] = "http://read.info/ctv3"
    assert electronic_frailty_index([depression, read_code], AS_OF).deficit_count == 0


def test_two_codes_of_one_deficit_are_one_deficit_with_both_as_evidence() -> None:
    first = condition("1912002", "2019-02-03", resource_id="fall-1")
    second = condition("279992002", "2024-07-08", resource_id="fall-2")
    efi = electronic_frailty_index([second, first], AS_OF)
    assert efi.deficit_count == 1
    (falls,) = efi.deficits
    assert [(e.reference, e.day, e.code) for e in falls.evidence] == [
        ("Condition/fall-1", date(2019, 2, 3), "1912002"),
        ("Condition/fall-2", date(2024, 7, 8), "279992002"),
    ]
    assert falls.first_recorded == date(2019, 2, 3)
    assert falls.evidence[0].display == "1912002"  # the hand-built concept has no display


# -- polypharmacy --------------------------------------------------------------------------------


def test_four_medicines_are_not_polypharmacy_and_five_are() -> None:
    assert not electronic_frailty_index(medicines(4), AS_OF).has("polypharmacy")
    efi = electronic_frailty_index(medicines(5), AS_OF)
    assert efi.has("polypharmacy")
    (found,) = efi.deficits
    assert sorted(e.code for e in found.evidence) == sorted(MEDICINE_CODES[:5])
    assert {e.resource_type for e in found.evidence} == {"MedicationStatement"}


def test_the_same_medicine_twice_is_one_medicine() -> None:
    record = [*medicines(4), statement(MEDICINE_CODES[0], "2025-06-01")]
    assert not electronic_frailty_index(record, AS_OF).has("polypharmacy")


def test_a_medicine_stopped_before_the_year_does_not_count() -> None:
    """The window is the 365 days ending on the day: 1 April 2025 to 31 March 2026."""
    first_day = date(2025, 4, 1)
    stopped_before = statement(MEDICINE_CODES[4], "2020-01-01", first_day - timedelta(days=1))
    record = [*medicines(4), stopped_before]
    assert not electronic_frailty_index(record, AS_OF).has("polypharmacy")
    stopped_on_first_day = statement(MEDICINE_CODES[4], "2020-01-01", first_day, status="stopped")
    assert electronic_frailty_index([*medicines(4), stopped_on_first_day], AS_OF).has(
        "polypharmacy"
    )


def test_a_medicine_started_after_the_day_does_not_count() -> None:
    later = statement(MEDICINE_CODES[4], AS_OF + timedelta(days=1))
    assert not electronic_frailty_index([*medicines(4), later], AS_OF).has("polypharmacy")
    on_the_day = statement(MEDICINE_CODES[4], AS_OF)
    assert electronic_frailty_index([*medicines(4), on_the_day], AS_OF).has("polypharmacy")


@pytest.mark.parametrize("status", ["entered-in-error", "not-taken", "intended"])
def test_statements_not_taken_do_not_count(status: str) -> None:
    record = [*medicines(4), statement(MEDICINE_CODES[4], status=status)]
    assert not electronic_frailty_index(record, AS_OF).has("polypharmacy")


def test_completed_statements_count_as_at_a_death() -> None:
    """A dead person's medicines are closed on the day of death: still taken that year."""
    died = date(2025, 12, 1)
    record = [
        statement(code, "2021-01-01", died, status="completed") for code in MEDICINE_CODES[:5]
    ]
    assert electronic_frailty_index(record, AS_OF).has("polypharmacy")


def test_prescriptions_count_unless_they_are_one_off_courses() -> None:
    base = medicines(4)
    issued = request(MEDICINE_CODES[4], "2025-10-01")
    assert electronic_frailty_index([*base, issued], AS_OF).has("polypharmacy")
    acute = request(MEDICINE_CODES[4], "2025-10-01", course="acute")
    assert not electronic_frailty_index([*base, acute], AS_OF).has("polypharmacy")
    proposal = request(MEDICINE_CODES[4], "2025-10-01", intent="proposal")
    assert not electronic_frailty_index([*base, proposal], AS_OF).has("polypharmacy")
    old_issue = request(MEDICINE_CODES[4], "2023-10-01", status="completed")
    assert not electronic_frailty_index([*base, old_issue], AS_OF).has("polypharmacy")
    old_repeat = request(MEDICINE_CODES[4], "2023-10-01", course="continuous")
    assert electronic_frailty_index([*base, old_repeat], AS_OF).has("polypharmacy")


def test_a_shorter_medicine_window_can_be_asked_for() -> None:
    record = [*medicines(4, "2020-01-01"), statement(MEDICINE_CODES[4], "2020-01-01", "2026-01-15")]
    assert electronic_frailty_index(record, AS_OF).has("polypharmacy")
    assert not electronic_frailty_index(record, AS_OF, medicine_window_days=30).has("polypharmacy")


# -- properties ----------------------------------------------------------------------------------


@given(st.sets(st.sampled_from(EFI_DEFICITS)))
def test_the_score_is_the_count_over_36_and_the_category_follows_the_count(
    deficits: set[str],
) -> None:
    efi = electronic_frailty_index(deficit_records(deficits), AS_OF)
    assert efi.deficit_names == deficits
    assert efi.score == len(deficits) / 36
    assert efi.category == frailty_category(len(deficits))


@given(st.integers(0, 36), st.integers(0, 36))
def test_the_category_never_falls_as_the_count_rises(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert FRAILTY_CATEGORIES.index(frailty_category(low)) <= FRAILTY_CATEGORIES.index(
        frailty_category(high)
    )


@given(
    st.sets(st.sampled_from(CODED_DEFICITS)),
    st.sets(st.sampled_from(CODED_DEFICITS)),
    st.integers(1, 4000),
)
def test_entries_after_the_day_never_change_the_index(
    before: set[str], after: set[str], days_later: int
) -> None:
    later = AS_OF + timedelta(days=days_later)
    record = deficit_records(before) + deficit_records(after, later)
    efi = electronic_frailty_index(record, AS_OF)
    assert efi.deficit_names == before
    assert all(e.day <= AS_OF for found in efi.deficits for e in found.evidence)
    assert electronic_frailty_index(record, later).deficit_names == before | after
