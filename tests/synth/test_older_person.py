"""The clinical and social-care record of people aged 65+ (careweave.synth.older_person).

The small hand-made place of `careweave.synth.small_place` holds them, so these tests do not
depend on the place builder.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import orjson
import pytest

from careweave.fhir.validation import validate_resource
from careweave.population.efi import EFI_DEFICITS
from careweave.synth.clinical_codes import (
    ALL_PROBLEMS,
    CARE_REQUIREMENT,
    EFI_DEFICIT_CODES,
    FRAILTY_CATEGORIES,
    LIVES_WITH,
    LONG_TERM_CONDITION_CODES,
    MEDICINE_CODES,
    MEDICINE_KEYS,
    MEDICINES,
    OTHER_CONDITION_CODES,
    OTHER_CONDITIONS,
    TARGETS,
    age_band,
    efi_category,
)
from careweave.synth.conditions import Diagnosis
from careweave.synth.draws import stream
from careweave.synth.frailty import deficits_from_resources
from careweave.synth.medicines import draw_medicines
from careweave.synth.model import Person, RecordOutcome, Sex
from careweave.synth.older_person import (
    OlderPersonFacts,
    build_older_person,
    older_person_record,
)
from careweave.synth.small_place import resident, small_place

OTHER_CONDITIONS_BY_KEY = {problem.key: problem for problem in OTHER_CONDITIONS}
PROBLEM_OF_CODE: dict[str, set[str]] = {}
for _problem in ALL_PROBLEMS:
    for _code, _display, _weight in _problem.codes:
        PROBLEM_OF_CODE.setdefault(_code, set()).add(_problem.key)


PLACE = small_place()
AS_OF = PLACE.as_of


def _person(index: int, rng: random.Random) -> Person:
    age = rng.choices(range(65, 101), [max(1.0, 100 - 3.2 * (a - 65)) for a in range(65, 101)])[0]
    sex: Sex = "male" if rng.random() < (0.5 if age < 80 else 0.38) else "female"
    return resident(PLACE, index, age, sex, date(AS_OF.year - age - 1, 6, 1))


def _population(n: int) -> list[tuple[Person, RecordOutcome, OlderPersonFacts]]:
    rng = random.Random(2024)
    people = [_person(i, rng) for i in range(n)]
    return [(p, *build_older_person(p, PLACE, stream(7, "record", p.index))) for p in people]


@pytest.fixture(scope="module")
def population() -> list[tuple[Person, RecordOutcome, OlderPersonFacts]]:
    return _population(3000)


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


_DATE_KEYS = {
    "onsetDateTime",
    "recordedDate",
    "effectiveDateTime",
    "dateAsserted",
    "authoredOn",
    "start",
    "end",
}


def _dates(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _DATE_KEYS and isinstance(item, str):
                yield item
            else:
                yield from _dates(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dates(item)


def _place_targets() -> set[str]:
    targets = {f"Location/{PLACE.acute_hospital_location_id}"}
    organisations = [
        PLACE.council,
        PLACE.acute_trust,
        *PLACE.home_care_providers,
        *(home.organisation for home in PLACE.care_homes),
        *(practice.organisation for practice in PLACE.practices),
    ]
    targets |= {f"Organization/{org.id}" for org in organisations}
    staff = [*PLACE.staff, *(m for practice in PLACE.practices for m in practice.staff)]
    targets |= {f"PractitionerRole/{m.role_id}" for m in staff}
    targets |= {f"Practitioner/{m.practitioner_id}" for m in staff}
    return targets


def test_the_same_stream_gives_the_same_record_byte_for_byte() -> None:
    rng = random.Random(5)
    for index in range(200):
        person = _person(index, rng)
        first = older_person_record(person, PLACE, stream(7, "record", index))
        second = older_person_record(person, PLACE, stream(7, "record", index))
        assert orjson.dumps(first.resources) == orjson.dumps(second.resources)
        assert (first.deceased, first.care_home, first.lives_alone, first.marital_status) == (
            second.deceased,
            second.care_home,
            second.lives_alone,
            second.marital_status,
        )


def test_a_different_stream_gives_a_different_record() -> None:
    person = _person(0, random.Random(1))
    records = {
        orjson.dumps(older_person_record(person, PLACE, stream(7, "record", n)).resources)
        for n in range(20)
    }
    assert len(records) > 15


def test_every_kind_of_resource_validates(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    # Validate whole records until every resource type and encounter class has been seen.
    seen: Counter[str] = Counter()
    for _, outcome, _facts in population:
        kinds = {
            r["resourceType"] + ("/" + r["class"]["code"] if "class" in r else "")
            for r in outcome.resources
        }
        if kinds <= set(seen) and len(seen) > 0 and sum(seen.values()) > 800:
            continue
        for resource in outcome.resources:
            validate_resource(resource)
            seen[
                resource["resourceType"]
                + ("/" + resource["class"]["code"] if "class" in resource else "")
            ] += 1
    assert {
        "Condition",
        "Observation",
        "MedicationStatement",
        "Encounter/IMP",
        "Encounter/EMER",
        "Encounter/HH",
        "EpisodeOfCare",
        "ServiceRequest",
        "RelatedPerson",
    } <= set(seen)


def test_references_resolve_to_the_person_the_place_or_an_earlier_resource(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    place_targets = _place_targets()
    for person, outcome, _facts in population:
        earlier = {f"Patient/{person.patient_id}"}
        for resource in outcome.resources:
            for reference in _references(resource):
                assert reference in earlier or reference in place_targets, (
                    resource["id"],
                    reference,
                )
            earlier.add(f"{resource['resourceType']}/{resource['id']}")


def test_ids_are_short_unique_and_derived_from_the_person(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    for person, outcome, _facts in population:
        ids = [r["id"] for r in outcome.resources]
        assert len(ids) == len(set(ids))
        assert all(i.startswith(person.patient_id + "-") and len(i) <= 64 for i in ids)


def test_nothing_happens_after_the_record_date_or_after_death(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    deaths = 0
    for person, outcome, _facts in population:
        end = (outcome.deceased or AS_OF).isoformat()
        if outcome.deceased is not None:
            deaths += 1
            assert AS_OF.toordinal() - 365 < outcome.deceased.toordinal() <= AS_OF.toordinal()
        for resource in outcome.resources:
            for value in _dates(resource):
                assert value <= end, (person.patient_id, resource["id"], value, end)
                assert value >= person.birth_date.isoformat()
    assert deaths > 0


def _medicine(statement: dict[str, Any]) -> str:
    return MEDICINE_CODES[statement["medicationCodeableConcept"]["coding"][0]["code"]].key


def test_every_medicine_has_an_indicating_condition_on_the_record(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    """The reason is an indication of the medicine, or the reason of a medicine it came with
    (a PPI protecting the stomach from the antiplatelet given for coronary heart disease)."""
    statements = companions = 0
    for _, outcome, _facts in population:
        conditions = {r["id"]: r for r in outcome.resources if r["resourceType"] == "Condition"}
        taken = {
            _medicine(r): r["reasonReference"][0]["reference"]
            for r in outcome.resources
            if r["resourceType"] == "MedicationStatement"
        }
        for key, reference in taken.items():
            statements += 1
            medicine = MEDICINE_KEYS[key]
            code = conditions[reference.removeprefix("Condition/")]["code"]["coding"][0]["code"]
            if PROBLEM_OF_CODE[code] & set(medicine.indication_keys) and (
                not medicine.reason_codes or code in medicine.reason_codes
            ):
                continue
            companions += 1
            assert any(taken.get(other) == reference for other in medicine.companions), (
                key,
                code,
            )
    assert statements > 10_000 and companions > 100


def test_alternatives_of_one_class_are_never_prescribed_together(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    pairs = 0
    for _, _outcome, facts in population:
        taken = set(facts.medicines)
        for key in taken:
            assert not taken & set(MEDICINE_KEYS[key].unless), (key, taken)
        pairs += "omeprazole" in taken and bool(taken & {"aspirin", "clopidogrel", "apixaban"})
    assert pairs > 50


class _Rng(random.Random):
    """A stream whose every draw is the same number, to make a chance certain or impossible."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def _problems(*keys_and_codes: tuple[str, str]) -> dict[str, Diagnosis]:
    return {key: Diagnosis(key, code, key, 1.0, None) for key, code in keys_and_codes}


def test_prescribing_follows_indications_companions_and_alternatives() -> None:
    problems = _problems(
        ("af", "49436004"), ("chd", "414545008"), ("visual_impairment", "193570009")
    )
    certain = {p.medicine.key: p for p in draw_medicines(problems, _Rng(0.0), shift=0.0)}
    assert certain["apixaban"].reason_key == "af"
    assert "aspirin" not in certain and "clopidogrel" not in certain  # not with an anticoagulant
    assert certain["omeprazole"].companion == "apixaban"
    assert certain["omeprazole"].reason_key == "af"
    assert "lansoprazole" not in certain  # one PPI
    assert "latanoprost" not in certain  # cataract is not glaucoma
    assert "metformin" not in certain  # no indication
    glaucoma_like = _problems(("visual_impairment", "397540003"))
    assert [p.medicine.key for p in draw_medicines(glaucoma_like, _Rng(0.0))] == ["latanoprost"]
    assert draw_medicines(problems, _Rng(0.999999), shift=-5.0) == []


def test_the_other_long_standing_conditions_get_their_own_medicines() -> None:
    """Epilepsy brings one anti-epileptic, bipolar disorder lithium (schizophrenia never does),
    irritable bowel syndrome mebeverine, polymyalgia rheumatica prednisolone and lupus
    hydroxychloroquine (not prednisolone)."""
    problems = _problems(
        ("epilepsy", "84757009"),
        ("smi", "13746004"),
        ("ibs", "10743008"),
        ("connective_tissue_disorder", "65323003"),
    )
    certain = {p.medicine.key: p for p in draw_medicines(problems, _Rng(0.0), shift=0.0)}
    assert certain["levetiracetam"].reason_key == "epilepsy"
    assert not {"lamotrigine", "sodium_valproate", "carbamazepine"} & set(certain)  # one
    assert certain["lithium"].reason_key == "smi"
    assert certain["olanzapine"].reason_key == "smi" and "risperidone" not in certain
    assert certain["mebeverine"].reason_key == "ibs"
    assert certain["prednisolone"].reason_key == "connective_tissue_disorder"
    assert "hydroxychloroquine" not in certain  # not for polymyalgia rheumatica
    schizophrenia_and_lupus = _problems(
        ("smi", "58214004"), ("connective_tissue_disorder", "55464009")
    )
    other = {p.medicine.key for p in draw_medicines(schizophrenia_and_lupus, _Rng(0.0))}
    assert "lithium" not in other and "olanzapine" in other
    assert "hydroxychloroquine" in other and "prednisolone" not in other


def test_thiamine_is_prescribed_only_for_alcohol_problems(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    """Thiamine's only indication is the record's alcohol problems: everyone on it has them,
    its MedicationStatement gives one of their Conditions as the reason, and some (not all)
    people with alcohol problems are on it."""
    alcohol_codes = {code for code, _d, _w in OTHER_CONDITIONS_BY_KEY["alcohol_problems"].codes}
    thiamine = MEDICINE_KEYS["thiamine"].code
    drinkers = treated = 0
    for _person, outcome, facts in population:
        drinkers += "alcohol_problems" in facts.problems
        statements = [
            r
            for r in outcome.resources
            if r["resourceType"] == "MedicationStatement"
            and r["medicationCodeableConcept"]["coding"][0]["code"] == thiamine
        ]
        assert len(statements) == ("thiamine" in facts.medicines)
        if not statements:
            continue
        treated += 1
        assert "alcohol_problems" in facts.problems
        conditions = {r["id"]: r for r in outcome.resources if r["resourceType"] == "Condition"}
        reason = statements[0]["reasonReference"][0]["reference"].removeprefix("Condition/")
        assert conditions[reason]["code"]["coding"][0]["code"] in alcohol_codes
    assert 0 < treated < drinkers
    others = _problems(("epilepsy", "84757009"), ("depression", "35489007"))
    certain = {p.medicine.key for p in draw_medicines(others, _Rng(0.0), shift=5.0)}
    assert "thiamine" not in certain  # no other problem brings it, however likely prescribing is


def test_the_other_long_standing_conditions_follow_sex_age_and_treatment(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    """Irritable bowel syndrome is commoner in women, alcohol problems in men and in the
    youngest band, connective tissue disorders (mostly polymyalgia rheumatica) after 75; most
    people with epilepsy are on an anti-epileptic, and each such condition is a coded
    Condition on the record."""

    def share(key: str, who: list[tuple[Person, OlderPersonFacts]]) -> float:
        return sum(key in f.problems for _p, f in who) / len(who)

    people = [(p, f) for p, _o, f in population]
    men = [(p, f) for p, f in people if p.sex == "male"]
    women = [(p, f) for p, f in people if p.sex == "female"]
    young = [(p, f) for p, f in people if p.age < 75]
    older = [(p, f) for p, f in people if p.age >= 75]
    assert share("ibs", women) > 1.5 * share("ibs", men)
    assert share("alcohol_problems", men) > 1.5 * share("alcohol_problems", women)
    assert share("alcohol_problems", young) > share("alcohol_problems", older)
    assert share("connective_tissue_disorder", older) > share("connective_tissue_disorder", young)
    for key in ("epilepsy", "smi"):
        assert 0.003 < share(key, people) < 0.03, key
    epilepsy = [f for _p, f in people if "epilepsy" in f.problems]
    treated = [
        f
        for f in epilepsy
        if {"levetiracetam", "lamotrigine", "sodium_valproate", "carbamazepine"} & set(f.medicines)
    ]
    assert len(treated) >= 0.6 * len(epilepsy)
    for _person, outcome, facts in population:
        coded = {
            OTHER_CONDITION_CODES[code]
            for r in outcome.resources
            if r["resourceType"] == "Condition"
            and (code := r["code"]["coding"][0]["code"]) in OTHER_CONDITION_CODES
        }
        assert coded == set(facts.problems) & set(OTHER_CONDITION_CODES.values())


def test_every_medicine_code_is_unique_and_says_where_it_was_checked() -> None:
    assert len(MEDICINE_CODES) == len(MEDICINES) == len(MEDICINE_KEYS)
    for medicine in MEDICINES:
        assert medicine.code.isdigit() and medicine.source, medicine.key
        assert all(other in MEDICINE_KEYS for other in (*medicine.companions, *medicine.unless))
        assert all(0 < chance < 1 for _key, chance in medicine.indications)


def test_polypharmacy_is_common_and_rises_with_age_and_frailty(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    counts = [len(f.medicines) for _p, _o, f in population]
    five = 100 * sum(c >= 5 for c in counts) / len(counts)
    ten = 100 * sum(c >= 10 for c in counts) / len(counts)
    assert abs(five - TARGETS["polypharmacy_5plus"]) < 6, five
    assert abs(ten - TARGETS["polypharmacy_10plus"]) < 4, ten
    mean = {
        category: sum(len(f.medicines) for f in group) / len(group)
        for category in FRAILTY_CATEGORIES
        if (group := [f for _p, _o, f in population if f.category == category])
    }
    assert mean["fit"] < mean["mild"] < mean["moderate"]
    by_band = {
        band: [len(f.medicines) for p, _o, f in population if age_band(p.age) == band]
        for band in ("65-74", "85+")
    }
    assert sum(by_band["65-74"]) / len(by_band["65-74"]) < sum(by_band["85+"]) / len(by_band["85+"])


def test_measurements_agree_with_the_problems(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    for _, outcome, facts in population:
        codes = {
            r["code"]["coding"][0]["code"]
            for r in outcome.resources
            if r["resourceType"] == "Condition"
        }
        hba1c = [
            r["valueQuantity"]["value"]
            for r in outcome.resources
            if r["resourceType"] == "Observation"
            and r["code"]["coding"][0]["code"] == "999791000000106"
        ]
        egfr = [
            r["valueQuantity"]["value"]
            for r in outcome.resources
            if r["resourceType"] == "Observation"
            and r["code"]["coding"][0]["code"] == "1011481000000105"
        ]
        if "diabetes" in facts.conditions:
            assert "44054006" in codes and len(hba1c) >= 2
        else:
            assert all(value < 48 for value in hba1c)
        if "ckd" not in facts.conditions:
            assert all(value >= 60 for value in egfr)
        elif egfr:
            assert max(egfr) < 60


def test_efi_computed_from_the_record_equals_what_the_generator_intended(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    for _, outcome, facts in population:
        computed = deficits_from_resources(outcome.resources)
        assert computed == facts.deficits
        assert efi_category(len(computed)) == facts.category


def test_the_efi_table_covers_all_36_deficits_and_no_code_counts_twice() -> None:
    assert len(EFI_DEFICITS) == 36
    mapped = set(EFI_DEFICIT_CODES.values())
    assert mapped | {"polypharmacy"} == set(EFI_DEFICITS)


def test_care_home_residents_have_an_episode_at_their_home_and_do_not_live_alone(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    residents = 0
    for _, outcome, _facts in population:
        episodes = [
            r
            for r in outcome.resources
            if r["resourceType"] == "EpisodeOfCare"
            and r["type"][0]["coding"][0]["code"] in ("care-home", "nursing-home")
        ]
        if outcome.care_home is None:
            assert not episodes
            continue
        residents += 1
        assert not outcome.lives_alone
        home = f"Organization/{outcome.care_home.organisation.id}"
        assert [e["managingOrganization"]["reference"] for e in episodes] == [home]
    assert residents > 20


def test_home_care_packages_follow_an_assessment_and_have_hours(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    packages = 0
    for _, outcome, facts in population:
        requests = [r for r in outcome.resources if r["resourceType"] == "ServiceRequest"]
        assert bool(requests) == (facts.home_care_hours is not None)
        for request in requests:
            packages += 1
            assert request["quantityQuantity"]["code"] == "h/wk"
            assert request["quantityQuantity"]["value"] == facts.home_care_hours
            assessment = request["encounter"]["reference"].removeprefix("Encounter/")
            encounter = next(r for r in outcome.resources if r["id"] == assessment)
            assert encounter["period"]["start"] <= request["occurrencePeriod"]["start"]
    assert packages > 20


def test_household_and_carer_fields(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    for _, outcome, facts in population:
        assert outcome.marital_status in {"M", "W", "D", "S"}
        carers = [r for r in outcome.resources if r["resourceType"] == "RelatedPerson"]
        assert len(carers) == (facts.carer is not None)
        for carer in carers:
            code = carer["relationship"][0]["coding"][0]["code"]
            assert code == facts.carer
            if code == "SPS":
                assert outcome.marital_status == "M" and not outcome.lives_alone


def _share(flags: list[bool]) -> float:
    return sum(flags) / max(len(flags), 1)


def test_conditions_frailty_and_care_rise_with_age(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    by_band: dict[str, list[OlderPersonFacts]] = {"65-74": [], "75-84": [], "85+": []}
    for person, _outcome, facts in population:
        by_band[age_band(person.age)].append(facts)
    mean_conditions = [
        sum(len(f.conditions) for f in facts) / len(facts) for facts in by_band.values()
    ]
    assert mean_conditions[0] < mean_conditions[1] < mean_conditions[2]
    for condition in ("dementia", "heart_failure", "af", "ckd"):
        young = _share([condition in f.conditions for f in by_band["65-74"]])
        old = _share([condition in f.conditions for f in by_band["85+"]])
        assert old > 2 * young, condition
    fit = [_share([f.category == "fit" for f in facts]) for facts in by_band.values()]
    assert fit[0] > fit[1] > fit[2]
    assert _share([f.care_home for f in by_band["85+"]]) > 3 * _share(
        [f.care_home for f in by_band["65-74"]]
    )


def test_multimorbidity_is_commoner_in_the_most_deprived_neighbourhoods(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    deprived = [
        len(f.conditions) >= 2 for p, _o, f in population if p.neighbourhood.imd_decile <= 2
    ]
    affluent = [
        len(f.conditions) >= 2 for p, _o, f in population if p.neighbourhood.imd_decile >= 9
    ]
    assert _share(deprived) > _share(affluent) + 0.08
    overall = _share([len(f.conditions) >= 2 for _p, _o, f in population])
    assert 0.45 < overall < 0.7


def test_hospital_use_rises_with_frailty(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    rates = {}
    for category in FRAILTY_CATEGORIES:
        group = [f for _p, _o, f in population if f.category == category]
        years = sum(f.exposure_days for f in group) / 365
        rates[category] = sum(f.admissions for f in group) / years
    assert rates["fit"] < rates["mild"] < rates["moderate"]
    assert rates["severe"] > 2.5 * rates["fit"]


def test_some_discharges_are_recent_enough_for_a_worklist(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    cutoff = date.fromordinal(AS_OF.toordinal() - 30).isoformat()
    recent = [
        r
        for _p, o, _f in population
        for r in o.resources
        if r["resourceType"] == "Encounter"
        and r["class"]["code"] == "IMP"
        and r["period"]["end"] >= cutoff
    ]
    assert recent


def test_targets_are_exposed_as_data() -> None:
    prevalence = TARGETS["condition_prevalence"]
    assert set(prevalence) == set(LONG_TERM_CONDITION_CODES.values())
    for bands in prevalence.values():
        assert set(bands) == {"male", "female"}
        assert all(set(v) == {"65-74", "75-84", "85+"} for v in bands.values())
    others = TARGETS["other_condition_prevalence"]
    assert set(others) == set(OTHER_CONDITION_CODES.values())
    assert not set(others) & set(prevalence)  # not long-term conditions
    assert sum(TARGETS["efi_category"].values()) == pytest.approx(100, abs=0.5)
    for key in ("admissions_per_person_year", "attendances_per_person_year"):
        assert set(TARGETS[key]) == set(FRAILTY_CATEGORIES)


def test_everyone_has_their_household_composition_recorded(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    alone = 0
    for person, outcome, facts in population:
        household = [
            r
            for r in outcome.resources
            if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "224130005"
        ]
        assert len(household) == 1, person.patient_id
        (observation,) = household
        assert observation["category"][0]["coding"][0]["code"] == "social-history"
        value = observation["valueCodeableConcept"]["coding"][0]["code"]
        assert value == LIVES_WITH[facts.lives_with]["coding"][0]["code"]
        assert (value == "105529008") == outcome.lives_alone
        if outcome.care_home is not None:
            assert value == ("160734000" if outcome.care_home.nursing else "248171000000108")
        elif value == "447051007":
            assert outcome.marital_status == "M"
        alone += outcome.lives_alone
    assert 0.2 < alone / len(population) < 0.45


def test_carers_are_findable_from_a_coded_condition_as_well_as_the_related_person(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    carer_code = CARE_REQUIREMENT["carer"][0]
    carers = 0
    for _person, outcome, facts in population:
        coded = [
            r
            for r in outcome.resources
            if r["resourceType"] == "Condition" and r["code"]["coding"][0]["code"] == carer_code
        ]
        related = [r for r in outcome.resources if r["resourceType"] == "RelatedPerson"]
        assert len(coded) == len(related) == (facts.carer is not None)
        if related:
            carers += 1
            assert coded[0]["onsetDateTime"] == related[0]["period"]["start"]
    assert carers > 100


def test_a_deceased_persons_record_is_closed_on_the_day_of_death(
    population: list[tuple[Person, RecordOutcome, OlderPersonFacts]],
) -> None:
    deaths = closed = 0
    for _person, outcome, _facts in population:
        died = outcome.deceased.isoformat() if outcome.deceased is not None else None
        deaths += died is not None
        for resource in outcome.resources:
            kind = resource["resourceType"]
            if kind == "MedicationStatement":
                period = resource["effectivePeriod"]
                if died is None:
                    assert resource["status"] == "active" and "end" not in period
                else:
                    assert resource["status"] == "completed" and period["end"] == died
                    closed += 1
            elif kind == "ServiceRequest":
                assert (resource["status"] == "completed") == (died is not None)
                assert resource["occurrencePeriod"].get("end") == died
            elif kind == "EpisodeOfCare":
                assert (resource["status"] == "finished") == (died is not None)
                assert resource["period"].get("end") == died
            elif kind == "RelatedPerson":
                assert resource["active"] == (died is None)
                assert resource["period"].get("end") == died
            elif kind == "Condition":
                assert resource["clinicalStatus"]["coding"][0]["code"] in {"active", "resolved"}
    assert deaths > 20 and closed > 50
