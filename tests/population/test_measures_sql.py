"""The SQL measure engine (flattening + measures_sql on DuckDB) gives, for every person, the row
the Python reference gives (`person_row`, built on `measures_for`), over generated records that
stress every rule: the ehrQL way of keeping an engine honest."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careweave.coordination.codes import (
    CARE_PLAN_CATEGORY,
    LAST_REVIEWED_EXTENSION,
    NEXT_REVIEW_EXTENSION,
)
from careweave.population.cambridge_multimorbidity import cambridge_code_lists
from careweave.population.clinical_frailty_scale import CFS_CODE
from careweave.population.columnar import MEASURES, connect
from careweave.population.measures_sql import (
    CODE_TABLES,
    MEASURE_COLUMNS,
    code_list_tables,
    literal,
    person_measures_query,
)
from careweave.population.multimorbidity import DEFAULT_COMPLEX_THRESHOLDS, ComplexThresholds
from careweave.population.person_measures import SOCIAL_CARE, V3_ACT_CODE
from careweave.population.person_row import SEGMENTS, age_band, person_row, segment_of
from careweave.population.projection import MeasureSettings, build_from_resources
from careweave.population.record import SNOMED
from tests.population.generated_records import place
from tests.population.records import (
    AS_OF,
    carer,
    condition,
    deficit_records,
    encounter,
    household,
    medicines,
    patient,
    request,
    statement,
)

Record = list[dict[str, Any]]


def keyed(records: Iterable[Record]) -> list[tuple[int, dict[str, Any]]]:
    """Every resource with a store-like key, in record order (what ties are broken by)."""
    return list(enumerate((r for record in records for r in record), start=1))


def sql_rows(
    records: list[Record],
    as_of: date,
    objectors: frozenset[str] = frozenset(),
    complex_thresholds: ComplexThresholds = DEFAULT_COMPLEX_THRESHOLDS,
) -> dict[str, dict[str, object]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.duckdb"
        settings = MeasureSettings(as_of, complex_thresholds=complex_thresholds)
        build_from_resources(path, keyed(records), settings, objectors=objectors)
        con = connect(path, read_only=True)
        try:
            rows = con.execute(f"SELECT * FROM {MEASURES}").fetchall()
        finally:
            con.close()
    return {str(row[0]): dict(zip(MEASURE_COLUMNS, row, strict=True)) for row in rows}


def differences(
    records: list[Record],
    as_of: date,
    complex_thresholds: ComplexThresholds = DEFAULT_COMPLEX_THRESHOLDS,
) -> list[str]:
    found = sql_rows(records, as_of, complex_thresholds=complex_thresholds)
    problems = []
    for record in records:
        expected = person_row(record, as_of, complex_thresholds=complex_thresholds)
        got = found[str(expected["patient_id"])]
        problems += [
            f"{expected['patient_id']} {k}: SQL {got[k]!r}, reference {v!r}"
            for k, v in expected.items()
            if got[k] != v or type(got[k]) is not type(v)
        ]
    return problems


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place())
def test_sql_rows_equal_the_reference_for_generated_records(
    generated: tuple[date, list[Record]],
) -> None:
    as_of, records = generated
    assert differences(records, as_of) == []


VALID_THRESHOLDS: Final = st.integers(2, 6).flatmap(
    lambda conditions: st.builds(ComplexThresholds, st.just(conditions), st.integers(1, conditions))
)
"""Every definition of complex multimorbidity a place could choose, up to 6 conditions."""


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place(), VALID_THRESHOLDS)
def test_sql_rows_equal_the_reference_with_the_thresholds_a_place_chooses(
    generated: tuple[date, list[Record]], thresholds: ComplexThresholds
) -> None:
    as_of, records = generated
    assert differences(records, as_of, thresholds) == []


KINGSTON: Final = ComplexThresholds(4, 1)
FOUR_CIRCULATORY: Final = ("38341003", "414545008", "49436004", "84114007")
"""Hypertension, coronary heart disease, atrial fibrillation, heart failure: one body system."""
THREE_SYSTEMS: Final = ("38341003", "44054006", "13645005")
"""Hypertension, diabetes, COPD: three conditions in three body systems."""


@pytest.mark.parametrize(
    ("codes", "by_default", "by_kingston"),
    [(FOUR_CIRCULATORY, False, True), (THREE_SYSTEMS, True, False)],
)
def test_complex_multimorbidity_is_by_the_thresholds_given_in_both_engines(
    codes: tuple[str, ...], by_default: bool, by_kingston: bool
) -> None:
    record = [patient(), *(condition(code) for code in codes)]
    for thresholds, expected in ((DEFAULT_COMPLEX_THRESHOLDS, by_default), (KINGSTON, by_kingston)):
        row = sql_rows([record], AS_OF, complex_thresholds=thresholds)["pt1"]
        assert row == person_row(record, AS_OF, complex_thresholds=thresholds)
        assert row["complex_multimorbidity"] is expected, thresholds


def test_the_row_has_the_reference_columns_in_order() -> None:
    row = person_row([patient()], AS_OF)
    assert tuple(row) == MEASURE_COLUMNS


def test_a_frail_multimorbid_person_measured_both_ways() -> None:
    record = [
        patient(),
        *deficit_records({"falls", "diabetes", "hypertension", "heart-failure", "polypharmacy"}),
        condition("49436004"),  # atrial fibrillation: another condition and deficit
        *medicines(10),
        encounter("IMP", date(2026, 2, 1)),
        encounter("EMER", date(2026, 3, 1)),
        household("105529008", "2025-01-01"),
        carer("2024-01-01"),
    ]
    row = sql_rows([record], AS_OF)["pt1"]
    assert row == person_row(record, AS_OF)
    assert row["efi_deficits"] == 6
    assert row["efi_category"] == "mild"
    assert row["polypharmacy"] is True
    assert (row["admissions"], row["ae_attendances"]) == (1, 1)
    assert row["lives_alone"] is True
    assert row["segment"] == "mild-frailty"


def test_someone_who_objects_is_left_out_and_counted() -> None:
    records = [[patient(patient_id="pt1")], [patient(patient_id="pt2")]]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.duckdb"
        people = build_from_resources(
            path, keyed(records), MeasureSettings(AS_OF), objectors=frozenset({"pt2"})
        )
        con = connect(path, read_only=True)
        tables = ["people", "projected_resources", MEASURES]
        held = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone() for t in tables}
        excluded = con.execute("SELECT person_id FROM excluded_people").fetchall()
        con.close()
    assert people == 1
    # Of the objector, only the key of their Patient (to see it unchanged) and their id.
    assert held == {"people": (1,), "projected_resources": (2,), MEASURES: (1,)}
    assert excluded == [("pt2",)]


@pytest.mark.parametrize(
    ("age", "band"),
    [(None, "unknown"), (64, "under 65"), (65, "65-69"), (69, "65-69"), (89, "85-89"), (90, "90+")],
)
def test_age_bands(age: int | None, band: str) -> None:
    assert age_band(age) == band


def test_segments_are_ordered_by_need_and_one_each() -> None:
    base = {
        "age": 80,
        "deceased": False,
        "end_of_life": False,
        "care_home": None,
        "efi_category": "fit",
        "multimorbidity": False,
    }
    assert segment_of(base) == "fit"
    assert segment_of({**base, "multimorbidity": True}) == "long-term-conditions"
    assert segment_of({**base, "multimorbidity": True, "efi_category": "mild"}) == "mild-frailty"
    assert segment_of({**base, "efi_category": "severe", "care_home": "care-home"}) == "care-home"
    assert segment_of({**base, "care_home": "care-home", "end_of_life": True}) == "end-of-life"
    assert segment_of({**base, "age": 64}) is None
    assert segment_of({**base, "deceased": True}) is None
    assert set(SEGMENTS) >= {"fit", "end-of-life"}


def test_the_code_tables_are_those_named() -> None:
    assert tuple(code_list_tables()) == CODE_TABLES


def test_literals_are_quoted_for_both_engines() -> None:
    assert literal("O'Brien") == "'O''Brien'"
    assert literal(date(2026, 3, 31)) == "DATE '2026-03-31'"
    assert '"' not in person_measures_query(MeasureSettings(AS_OF).days)


def _on(offset: int, as_of: date = AS_OF) -> str:
    return (as_of + timedelta(days=offset)).isoformat()


EDGES = (-731, -730, -366, -365, -364, -363, -1, 0, 1)
"""Days (from the as-of day) on both sides of every window's first and last day."""


def boundary_entries() -> list[dict[str, Any]]:
    """One resource per rule and edge: each is a person's whole record beside their Patient."""
    system, code = CARE_PLAN_CATEGORY
    entries: list[dict[str, Any]] = []
    for offset in EDGES:
        day = _on(offset)
        for klass in ("IMP", "EMER"):
            for status in ("finished", "planned"):
                entries.append(
                    {
                        "resourceType": "Encounter",
                        "status": status,
                        "class": {"system": V3_ACT_CODE, "code": klass},
                        "period": {"start": day},
                    }
                )
        entries += [
            {**statement("39000011000001100", start="2010-01-01", end=day)},
            {**statement("39000011000001100", start=day)},
            {**statement("39000011000001100", start=day, status="entered-in-error")},
            {
                "resourceType": "MedicationStatement",
                "status": "completed",
                "medicationCodeableConcept": {"text": "Aspirin"},
                "effectiveDateTime": day,
            },
            {
                "resourceType": "Condition",
                "code": {"coding": [{"system": SNOMED, "code": "49436004"}]},
                "recordedDate": day,
            },
            {
                "resourceType": "Condition",
                "code": {"coding": [{"system": SNOMED, "code": "49436004"}]},
                "onsetDateTime": day,
            },
            household("105529008", day),
            {**household("160734000", day), "status": "cancelled"},
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": SNOMED, "code": CFS_CODE}]},
                "effectiveDateTime": day,
                "valueInteger": 9,
            },
            {
                "resourceType": "EpisodeOfCare",
                "status": "finished",
                "type": [{"coding": [{"system": SOCIAL_CARE, "code": "nursing-home"}]}],
                "period": {"start": "2020-01-01", "end": day},
            },
            {
                "resourceType": "EpisodeOfCare",
                "status": "active",
                "type": [{"coding": [{"system": SOCIAL_CARE, "code": "care-home"}]}],
                "period": {"start": day},
            },
            carer(day),
            carer("2020-01-01", day),
            {
                "resourceType": "CarePlan",
                "status": "active",
                "category": [{"coding": [{"system": system, "code": code}]}],
                "created": day,
                "extension": [
                    {"url": LAST_REVIEWED_EXTENSION, "valueDate": day},
                    {"url": NEXT_REVIEW_EXTENSION, "valueDate": day},
                ],
            },
        ]
        for course in (None, "continuous", "acute"):
            for status in ("active", "completed"):
                entries.append(request("39000111000001100", day, status=status, course=course))
        validity = request("39000211000001100", "2010-01-01", status="completed")
        validity["dispenseRequest"] = {"validityPeriod": {"start": "2020-01-01", "end": day}}
        entries.append(validity)
    return entries


def test_sql_rows_equal_the_reference_at_every_window_edge() -> None:
    records: list[Record] = []
    for number, entry in enumerate(boundary_entries()):
        person = f"edge{number}"
        field = (
            "patient" if entry["resourceType"] in ("EpisodeOfCare", "RelatedPerson") else "subject"
        )
        records.append(
            [
                patient(patient_id=person),
                {**entry, "id": f"{person}-1", field: {"reference": f"Patient/{person}"}},
            ]
        )
    for offset in (0, 1):
        born = date(1940, AS_OF.month, AS_OF.day) + timedelta(days=offset)
        records.append([patient(patient_id=f"born{offset}", born=born.isoformat())])
        died = AS_OF + timedelta(days=offset)
        records.append(
            [
                patient(patient_id=f"died{offset}", died=died),
                {
                    **household("105529008", "2020-01-01"),
                    "subject": {"reference": f"Patient/died{offset}"},
                },
            ]
        )
    many = [
        [
            patient(patient_id=f"meds{n}"),
            *({**m, "subject": {"reference": f"Patient/meds{n}"}} for m in medicines(n)),
        ]
        for n in (4, 5, 9, 10)
    ]
    assert differences([*records, *many, *tied_records()], AS_OF) == []


def tied_records() -> list[Record]:
    """People with several entries that tie, both ways round: the latest on the same day is
    the last in key order, the first found the first, the newest plan the first made."""
    system, code = CARE_PLAN_CATEGORY
    day = AS_OF.isoformat()

    def plan(reviewed: str) -> dict[str, Any]:
        return {
            "resourceType": "CarePlan",
            "status": "active",
            "category": [{"coding": [{"system": system, "code": code}]}],
            "created": "2025-01-01",
            "meta": {"lastUpdated": "2026-01-01T00:00:00Z"},
            "extension": [{"url": LAST_REVIEWED_EXTENSION, "valueDate": reviewed}],
        }

    def rating(score: int) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": SNOMED, "code": CFS_CODE}]},
            "effectiveDateTime": day,
            "valueInteger": score,
        }

    def stay(*kinds: str) -> dict[str, Any]:
        return {
            "resourceType": "EpisodeOfCare",
            "status": "active",
            "type": [{"coding": [{"system": SOCIAL_CARE, "code": k}]} for k in kinds],
            "period": {"start": "2020-01-01"},
        }

    two_values = household("105529008", day)
    two_values["valueCodeableConcept"]["coding"].append(
        {"system": SNOMED, "code": "447051007"}  # spouse, after alone
    )
    unperiodised = [{**carer("2020-01-01"), "active": active} for active in (False, True)]
    for entry in unperiodised:
        del entry["period"]
    ties = [
        [two_values],
        [unperiodised[0]],
        unperiodised,
        [household("105529008", day), household("160734000", day)],
        [rating(9), rating(5)],
        [plan("2024-01-01"), plan("2026-01-01")],
        [stay("care-home"), stay("nursing-home")],
        [stay("home-care", "nursing-home", "care-home")],
    ]
    records: list[Record] = []
    for number, entries in enumerate(ties):
        for order in (entries, entries[::-1]):
            person = f"tie{number}-{len(records)}"
            records.append(
                [
                    patient(patient_id=person),
                    *(
                        {
                            **entry,
                            "id": f"{person}-{n}",
                            (
                                "patient"
                                if entry["resourceType"] in ("EpisodeOfCare", "RelatedPerson")
                                else "subject"
                            ): {"reference": f"Patient/{person}"},
                        }
                        for n, entry in enumerate(order)
                    ),
                ]
            )
    return records


def test_the_cambridge_score_in_sql_equals_the_reference_at_its_edges() -> None:
    """Each Cambridge rule on both sides of its window (5 years, 12 months, the day itself):
    the SQL twin, rendered from the same rules, gives the reference's count and score."""
    lists = cambridge_code_lists()

    def code(code_list: str) -> str:
        return min(lists.codes_in(code_list))

    def one_off(code_list: str, day: str) -> dict[str, Any]:
        return request(code(code_list), day, course="acute", status="completed")

    records: list[Record] = []
    for offset in (-1825, -1824, -365, -364, 0, 1):
        day = _on(offset)
        cases: list[Record] = [
            [condition(code("cancer"), day)],
            [condition(code("anxiety-depression"), day)],
            [condition(code("asthma"), "2010-01-01"), one_off("asthma-medicines", day)],
            [one_off("anxiety-depression-medicines", _on(offset + n)) for n in (0, 10, 20, 30)],
            [statement(code("constipation-medicines"), "2010-01-01", day)],
            [statement(code("psychosis-bipolar-medicines"), day, day, status="completed")],
            [statement(code("painful-condition-antiepileptics"), day)],
            [
                statement(code("painful-condition-antiepileptics"), day),
                condition(code("epilepsy"), "2001-01-01"),
                condition(code("hypertension"), day),
                condition(code("dementia"), "2001-01-01", verification="refuted"),
            ],
        ]
        for number, case in enumerate(cases):
            person = f"cms{offset}-{number}"
            subject = {"reference": f"Patient/{person}"}
            records.append(
                [patient(patient_id=person), *({**entry, "subject": subject} for entry in case)]
            )
    assert differences(records, AS_OF) == []
    scores = {
        row["patient_id"]: row["cambridge_score"] for row in sql_rows(records, AS_OF).values()
    }
    assert scores["cms-1824-0"] == 1.53  # cancer coded 1,824 days ago
    assert scores["cms-1825-0"] == 0.0
    assert scores["cms-364-3"] == 0.5  # the fourth one-off antidepressant on the year's first day
    assert scores["cms-365-3"] == 0.0
    # Epilepsy rules out pain; the medicine treats epilepsy only if it is on that list too.
    treats = code("painful-condition-antiepileptics") in lists.codes_in("epilepsy-medicines")
    assert scores["cms0-7"] == (8 + (92 if treats else 0)) / 100
    assert scores["cms0-6"] == 0.92  # anti-epileptics for pain, with no epilepsy
