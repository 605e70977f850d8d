"""`measures_for` over a generated synthetic place agrees, person by person, with what the
generator intended: the eFI deficits and category (careweave.synth.older_person documents that
computing the eFI from the record gives its category), the long-term conditions, medicines,
hospital use, care home, household, carer and deprivation decile."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from careweave.population.cambridge_multimorbidity import RULES
from careweave.population.person_measures import PersonMeasures, measures_for
from careweave.synth.clinical_codes import OTHER_CONDITION_CODES
from careweave.synth.draws import stream
from careweave.synth.generate import GenerationSummary, generate_place
from careweave.synth.model import Person, RecordOutcome
from careweave.synth.older_person import OlderPersonFacts, build_older_person
from careweave.synth.people import Register
from careweave.synth.place import build_place

PEOPLE = 3_000
SEED = 8
PERSON_FIELDS = ("subject", "patient", "for", "beneficiary")
HOSPITAL_DAYS = 731
"""The generator draws hospital use over the 730 days before the record date, both ends in."""
OTHER_CONDITIONS = set(OTHER_CONDITION_CODES.values())
"""The generator's other long-standing conditions (epilepsy, SMI, alcohol problems, ...), which
version 2 of the long-term condition list counts as well."""

Records = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationSummary, Records]:
    out = tmp_path_factory.mktemp("place")
    summary = generate_place(people=PEOPLE, seed=SEED, out=out)
    return summary, records_by_person(out)


def records_by_person(out: Path) -> Records:
    """Each person's resources (their Patient and everything about them), by Patient id."""
    found: Records = defaultdict(list)
    for path in sorted(out.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            if resource["resourceType"] == "Patient":
                found[resource["id"]].append(resource)
                continue
            for field in PERSON_FIELDS:
                reference = (resource.get(field) or {}).get("reference", "")
                if reference.startswith("Patient/"):
                    found[reference.removeprefix("Patient/")].append(resource)
                    break
    return found


def intended(summary: GenerationSummary) -> list[tuple[Person, RecordOutcome, OlderPersonFacts]]:
    """What the generator decided for each person 65+, redrawn from the same streams."""
    directory = build_place(people=PEOPLE, seed=SEED, as_of=summary.as_of)
    register = Register(directory)
    people = []
    for index in range(PEOPLE):
        person = register.person(index)
        if person.age >= 65:
            outcome, facts = build_older_person(
                person, directory.place, stream(SEED, "record", index)
            )
            people.append((person, outcome, facts))
    return people


def in_hospital_now(record: list[dict[str, Any]]) -> int:
    """Admissions still going on at the record date (drawn by the coordination stream, so not
    in the generator's admission count)."""
    return sum(
        1
        for r in record
        if r["resourceType"] == "Encounter"
        and r["class"]["code"] == "IMP"
        and r["status"] == "in-progress"
    )


def test_measures_agree_with_what_the_generator_intended(
    place: tuple[GenerationSummary, Records],
) -> None:
    summary, records = place
    as_of: date = summary.as_of
    people = intended(summary)
    assert len(people) == summary.older_people > 400
    problems: list[str] = []
    categories: Counter[str] = Counter()
    for person, outcome, facts in people:
        record = records[person.patient_id]
        found = measures_for(record, as_of, hospital_window_days=HOSPITAL_DAYS)
        categories[found.efi_category] += 1
        alive = facts.deceased is None
        home = outcome.care_home
        expected = {
            "efi deficits": (found.efi.deficit_names, facts.deficits),
            "efi category": (found.efi_category, facts.category),
            "conditions": (
                found.multimorbidity.condition_count,
                len(facts.conditions) + len(OTHER_CONDITIONS & set(facts.problems)),
            ),
            "medicines": (found.medicine_count, len(facts.medicines)),
            "admissions": (found.admission_count, facts.admissions + in_hospital_now(record)),
            "attendances": (found.attendance_count, facts.attendances),
            "age": (found.age, person.age),
            "deceased": (found.deceased, not alive),
            "care home": (
                found.care_home,
                None
                if home is None or not alive
                else ("nursing-home" if home.nursing else "care-home"),
            ),
            "living": (found.living_arrangement, facts.lives_with if alive else None),
            "carer": (found.unpaid_carer, alive and facts.carer is not None),
            "imd": (
                found.imd_decile,
                (home.neighbourhood if home is not None else person.neighbourhood).imd_decile,
            ),
        }
        problems.extend(
            f"{person.patient_id} {name}: measured {got!r}, intended {want!r}"
            for name, (got, want) in expected.items()
            if got != want
        )
    assert problems == []
    assert set(categories) == {"fit", "mild", "moderate", "severe"}


def test_every_deficit_found_is_evidenced_by_entries_on_the_record(
    place: tuple[GenerationSummary, Records],
) -> None:
    """Evidence names real resources of the person, dated by the record date."""
    summary, records = place
    checked = 0
    for patient_id, record in records.items():
        found: PersonMeasures = measures_for(record, summary.as_of)
        ids = {f"{r['resourceType']}/{r['id']}" for r in record}
        for deficit in found.efi.deficits:
            assert deficit.evidence
            for evidence in deficit.evidence:
                assert evidence.reference in ids, (patient_id, evidence)
                assert evidence.day <= summary.as_of
                checked += 1
    assert checked > 1_000


def test_younger_people_have_no_measures_but_their_deprivation(
    place: tuple[GenerationSummary, Records],
) -> None:
    summary, records = place
    younger = 0
    for record in records.values():
        found = measures_for(record, summary.as_of)
        if found.age is not None and found.age < 65:
            younger += 1
            assert found.efi.deficit_count == 0
            assert found.multimorbidity.condition_count == 0
            assert found.imd_decile is not None
    assert younger > 1_500


EPILEPSY_MEDICINES = {"levetiracetam", "lamotrigine", "sodium_valproate", "carbamazepine"}


def test_the_place_exercises_all_twenty_cambridge_conditions(
    place: tuple[GenerationSummary, Records],
) -> None:
    """Every one of the score's 20 conditions counts for someone alive and 65+, and the five
    the generator records only for it (epilepsy, irritable bowel syndrome, schizophrenia or
    bipolar disorder, alcohol problems, connective tissue disorders) count exactly for the
    people it meant them for: epilepsy only when treated, rheumatoid arthritis and the privacy
    stream's alcohol dependence never."""
    summary, records = place
    counted: Counter[str] = Counter()
    problems: list[str] = []
    for person, _outcome, facts in intended(summary):
        if facts.deceased is not None:
            continue
        found = measures_for(records[person.patient_id], summary.as_of)
        names = {c.condition for c in found.cambridge.conditions}
        counted.update(names)
        expected = {
            "epilepsy": "epilepsy" in facts.problems
            and bool(EPILEPSY_MEDICINES & set(facts.medicines)),
            "irritable-bowel-syndrome": "ibs" in facts.problems,
            "psychosis-bipolar": "smi" in facts.problems,
            "alcohol-problems": "alcohol_problems" in facts.problems,
            "connective-tissue-disorder": "connective_tissue_disorder" in facts.problems,
        }
        problems.extend(
            f"{person.patient_id} {name}: counted {name in names}, intended {want}"
            for name, want in expected.items()
            if (name in names) != want
        )
    assert problems == []
    assert set(counted) == set(RULES), sorted(set(RULES) - set(counted))
