"""`measures_for` on hand-built records: polypharmacy, hospital use in a window, living
arrangement and care-home residence, unpaid carers, deprivation, death, and records that are
not one person's."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.population.clinical_frailty_scale import clinical_frailty_scale_observation
from careweave.population.person_measures import (
    PersonMeasures,
    PersonRecordProblem,
    measures_for,
)
from tests.population.records import (
    AS_OF,
    MEDICINE_CODES,
    carer,
    condition,
    deficit_records,
    encounter,
    episode,
    household,
    medicines,
    patient,
    statement,
)

ALONE, SPOUSE, CARE_HOME, NURSING_HOME = "105529008", "447051007", "248171000000108", "160734000"


def measures(
    *resources: dict[str, Any], as_of: date = AS_OF, hospital_window_days: int = 365
) -> PersonMeasures:
    return measures_for([patient(), *resources], as_of, hospital_window_days=hospital_window_days)


def test_an_empty_record_has_every_measure_at_its_floor() -> None:
    found = measures()
    assert found.row() == {
        "patient_id": "pt1",
        "as_of": "2026-03-31",
        "age": 85,
        "deceased": False,
        "efi_deficits": 0,
        "efi_score": 0.0,
        "efi_category": "fit",
        "long_term_conditions": 0,
        "body_systems": 0,
        "multimorbidity": False,
        "complex_multimorbidity": False,
        "cambridge_conditions": 0,
        "cambridge_score": 0.0,
        "medicines": 0,
        "polypharmacy": False,
        "admissions": 0,
        "ae_attendances": 0,
        "living_arrangement": None,
        "lives_alone": None,
        "care_home": None,
        "unpaid_carer": False,
        "imd_decile": 3,
        "clinical_frailty_scale": None,
    }


def test_age_is_in_whole_years_on_the_day() -> None:
    assert measures(as_of=date(2025, 6, 14)).age == 84
    assert measures(as_of=date(2025, 6, 15)).age == 85


def test_the_efi_and_conditions_are_the_persons() -> None:
    found = measures(*deficit_records({"falls", "diabetes", "hypertension", "polypharmacy"}))
    assert found.efi.deficit_count == 4
    assert found.multimorbidity.condition_count == 2  # diabetes and hypertension
    assert found.row()["efi_category"] == "fit"


def test_nine_medicines_are_not_polypharmacy_and_ten_are() -> None:
    assert not measures(*medicines(9)).polypharmacy
    found = measures(*medicines(10))
    assert found.polypharmacy
    assert found.medicine_count == 10
    assert found.efi.has("polypharmacy")


def test_a_medicine_stopped_more_than_a_year_ago_is_not_counted() -> None:
    stopped = statement(MEDICINE_CODES[10], "2015-01-01", "2025-03-31")
    assert measures(*medicines(9), stopped).medicine_count == 9


# -- hospital use --------------------------------------------------------------------------------


def test_admissions_and_attendances_in_the_last_year() -> None:
    first_day = AS_OF - timedelta(days=364)
    found = measures(
        encounter("IMP", first_day),
        encounter("IMP", AS_OF, status="in-progress"),
        encounter("IMP", first_day - timedelta(days=1)),
        encounter("IMP", AS_OF + timedelta(days=1)),
        encounter("IMP", date(2025, 9, 1), status="cancelled"),
        encounter("EMER", date(2025, 9, 1), days=0),
        encounter("EMER", date(2025, 11, 1), status="entered-in-error", days=0),
        encounter("HH", date(2025, 9, 1), days=0),  # a home visit is neither
    )
    assert found.admission_count == 2
    assert [e.day for e in found.hospital_use.admissions] == [first_day, AS_OF]
    assert found.attendance_count == 1
    assert found.hospital_use.admissions[0].code == "183452005"


def test_the_hospital_window_is_a_parameter() -> None:
    record = [encounter("EMER", AS_OF - timedelta(days=40), days=0)]
    assert measures(*record).attendance_count == 1
    assert measures(*record, hospital_window_days=30).attendance_count == 0
    assert measures(*record, hospital_window_days=41).attendance_count == 1


# -- living arrangement, care home, carer --------------------------------------------------------


def test_the_latest_household_composition_by_the_day_says_who_someone_lives_with() -> None:
    record = [household(SPOUSE, "2022-01-01"), household(ALONE, "2025-02-01")]
    found = measures(*record)
    assert (found.living_arrangement, found.lives_alone) == ("alone", True)
    earlier = measures(*record, as_of=date(2024, 1, 1))
    assert (earlier.living_arrangement, earlier.lives_alone) == ("spouse", False)
    assert measures(*record, as_of=date(2021, 1, 1)).lives_alone is None


def test_a_lives_alone_problem_is_social_vulnerability_not_the_living_arrangement() -> None:
    found = measures(condition(ALONE, "2018-01-01"), household(SPOUSE, "2025-01-01"))
    assert found.efi.has("social-vulnerability")
    assert found.lives_alone is False


def test_a_care_home_episode_open_on_the_day_is_residence() -> None:
    found = measures(episode("nursing-home", "2024-05-01"))
    assert found.care_home == "nursing-home"
    assert measures(episode("care-home", "2024-05-01"), as_of=date(2024, 4, 30)).care_home is None
    assert measures(episode("care-home", "2023-01-01", "2024-01-01")).care_home is None
    assert measures(episode("home-care", "2024-05-01")).care_home is None


def test_a_care_home_living_arrangement_is_residence_without_an_episode() -> None:
    found = measures(household(CARE_HOME, "2025-08-01"))
    assert (found.care_home, found.living_arrangement, found.lives_alone) == (
        "care-home",
        "care-home",
        False,
    )


def test_an_unpaid_carer_caring_on_the_day() -> None:
    assert measures(carer("2024-01-01")).unpaid_carer
    assert measures(carer("2024-01-01", code="main-unpaid-carer")).unpaid_carer
    assert not measures(carer("2024-01-01"), as_of=date(2023, 12, 31)).unpaid_carer
    assert not measures(carer("2020-01-01", "2025-01-01")).unpaid_carer
    contact = carer("2024-01-01")
    contact["relationship"] = contact["relationship"][:1]  # a daughter, not recorded as carer
    assert not measures(contact).unpaid_carer


# -- deprivation, death, CFS ---------------------------------------------------------------------


@pytest.mark.parametrize(("decile", "read"), [(1, 1), (10, 10), (0, None), (11, None)])
def test_the_deprivation_decile_of_the_home_address(decile: int, read: int | None) -> None:
    assert measures_for([patient(imd=decile)], AS_OF).imd_decile == read
    assert measures_for([patient(imd=None)], AS_OF).imd_decile is None


def test_after_death_circumstances_stop_but_the_record_stays() -> None:
    died = date(2025, 10, 1)
    record = [
        patient(died=died),
        household(CARE_HOME, "2024-01-01"),
        episode("care-home", "2024-01-01", died),
        carer("2020-01-01", died),
        *deficit_records({"falls", "memory-cognitive-problems"}),
    ]
    after = measures_for(record, AS_OF)
    assert after.deceased
    assert after.died_on == died
    assert (after.care_home, after.living_arrangement, after.unpaid_carer) == (None, None, False)
    assert after.efi.deficit_count == 2
    assert measures_for(record, died).deceased  # died that day: by its end
    the_day_before = measures_for(record, died - timedelta(days=1))
    assert not the_day_before.deceased
    assert (the_day_before.care_home, the_day_before.unpaid_carer) == ("care-home", True)


def test_the_latest_clinical_frailty_scale_rating_is_a_measure() -> None:
    rating = clinical_frailty_scale_observation("Patient/pt1", 6, date(2026, 1, 5), resource_id="r")
    assert measures(rating).row()["clinical_frailty_scale"] == 6


# -- not one person's record ---------------------------------------------------------------------


def test_a_record_without_a_patient_is_refused() -> None:
    with pytest.raises(PersonRecordProblem, match="exactly one Patient"):
        measures_for([condition("1912002")], AS_OF)


def test_two_people_are_refused() -> None:
    with pytest.raises(PersonRecordProblem, match="exactly one Patient; these resources hold 2"):
        measures_for([patient(), patient(patient_id="pt2")], AS_OF)


def test_a_resource_about_someone_else_is_refused() -> None:
    theirs = condition("1912002")
    theirs["subject"] = {"reference": "Patient/pt2"}
    with pytest.raises(PersonRecordProblem, match="is about Patient/pt2"):
        measures(theirs)
