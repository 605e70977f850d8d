"""Sensitive labels, safeguarding flags and choices about data in the synthetic place
(careweave.synth.privacy): deterministic, valid FHIR R4, at the documented shares, without
changing anything generated before, and shaped so the real access rules act on them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from careweave.access import consent, sharing
from careweave.access.policy import planning_visibility
from careweave.fhir.index_values import references_in
from careweave.fhir.search_query import parse_search
from careweave.fhir.validation import validate_resource
from careweave.store.repository import FhirStore
from careweave.store.visibility import PatientSet, Visibility
from careweave.synth.clinical_codes import LONG_TERM_CONDITIONS
from careweave.synth.demography import age_and_sex_shares
from careweave.synth.generate import GenerationSummary, generate_place
from careweave.synth.people import age_on
from careweave.synth.privacy import (
    ALCOHOL_CODES,
    ALCOHOL_PROBLEM_CODES,
    CONSENT_CATEGORY_SYSTEM,
    LABELS,
    MENTAL_HEALTH,
    MENTAL_HEALTH_CODES,
    NATIONAL_DATA_OPT_OUT,
    NDOO_PERCENT,
    NDOO_START,
    OBJECTION,
    SAFEGUARDING,
    SENSITIVE_SYSTEM,
    SUBSTANCE_MISUSE,
    ndoo_chance,
)
from careweave.synth.statistics import read_place, statistics_table

PEOPLE = 6_000
SEED = 20_261_127
COUNCIL_ODS = "ZZL01"
PRIVACY_ROWS = (
    "National data opt-out, everyone",
    "National data opt-out, 65+",
    "Mental-health label, 65+",
    "Substance-misuse label, 65+",
    "Safeguarding flag, 65+",
    "Safeguarding flag, 85+",
    "Objection to an organisation, 65+",
    "Mental-health objection, 65+ with a mental-health label",
)
NEW_FILES = {"Consent.ndjson", "Flag.ndjson"}

Resources = dict[str, list[dict[str, Any]]]


def read(directory: Path) -> Resources:
    """Every NDJSON file of `directory` as lists of resources, by resource type."""
    return {
        path.stem: [orjson.loads(line) for line in path.read_bytes().splitlines()]
        for path in sorted(directory.glob("*.ndjson"))
    }


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.ndjson"))}


def labels(resource: dict[str, Any]) -> set[str]:
    security = (resource.get("meta") or {}).get("security", ())
    return {c["code"] for c in security if c["system"] == SENSITIVE_SYSTEM}


def snomed(condition: dict[str, Any]) -> str:
    return str(condition["code"]["coding"][0]["code"])


def category_codes(resource: dict[str, Any], system: str) -> set[str]:
    return {
        c["code"]
        for concept in resource.get("category", ())
        for c in concept["coding"]
        if c.get("system") == system
    }


def patient_of(resource: dict[str, Any]) -> str:
    """The person a resource is about: its subject, patient or (a Task) for; an Appointment's
    Patient participant."""
    about: dict[str, Any] | None = (
        resource.get("subject") or resource.get("patient") or resource.get("for")
    )
    if about is None:
        actors = (p.get("actor", {}) for p in resource.get("participant", ()))
        about = next((a for a in actors if str(a.get("reference", "")).startswith("Patient/")), {})
    return str(about.get("reference"))


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationSummary, Resources]:
    out = tmp_path_factory.mktemp("place")
    return generate_place(people=PEOPLE, seed=SEED, out=out), read(out)


@pytest.fixture(scope="module")
def patients(place: tuple[GenerationSummary, Resources]) -> dict[str, dict[str, Any]]:
    return {f"Patient/{p['id']}": p for p in place[1]["Patient"]}


@pytest.fixture(scope="module")
def council(place: tuple[GenerationSummary, Resources]) -> dict[str, Any]:
    (found,) = [
        org for org in place[1]["Organization"] if org["identifier"][0]["value"] == COUNCIL_ODS
    ]
    return found


def age(patient: dict[str, Any], as_of: date) -> int:
    return age_on(date.fromisoformat(patient["birthDate"]), as_of)


def record_end(patient: dict[str, Any], as_of: date) -> date:
    """The day the record ends: the death, or the date records are as of."""
    return date.fromisoformat(patient.get("deceasedDateTime", as_of.isoformat())[:10])


def test_the_codes_are_the_ones_the_access_rules_read() -> None:
    assert SENSITIVE_SYSTEM == sharing.SENSITIVE_SYSTEM
    assert set(LABELS) <= set(sharing.SENSITIVE_CATEGORIES)
    assert {MENTAL_HEALTH, SAFEGUARDING, SUBSTANCE_MISUSE} == set(LABELS)
    assert CONSENT_CATEGORY_SYSTEM == consent.CONSENT_CATEGORY_SYSTEM
    assert OBJECTION == consent.OBJECTION
    assert NATIONAL_DATA_OPT_OUT == consent.NATIONAL_DATA_OPT_OUT


def test_the_new_resources_are_the_same_for_the_same_seed_whoever_writes_them(
    tmp_path: Path,
) -> None:
    generate_place(people=1_500, seed=4, out=tmp_path / "a")
    generate_place(people=1_500, seed=4, out=tmp_path / "b", workers=2)
    generate_place(people=1_500, seed=5, out=tmp_path / "c")
    first, second, other = (file_bytes(tmp_path / name) for name in ("a", "b", "c"))
    assert set(first) >= NEW_FILES
    for name in (*NEW_FILES, "Condition.ndjson"):
        assert first[name] == second[name], name
        assert first[name] != other[name], name


def test_files_generated_before_are_unchanged(
    place: tuple[GenerationSummary, Resources], tmp_path: Path
) -> None:
    """Privacy draws come from a stream of their own: without them the place is exactly what
    the generator wrote before they existed, and with them only Condition.ndjson differs (by
    the labels on mental health and alcohol Conditions and the added alcohol dependence
    Conditions)."""
    summary, _ = place
    plain = generate_place(people=PEOPLE, seed=SEED, out=tmp_path, privacy=False)
    with_privacy, without = file_bytes(summary.out), file_bytes(plain.out)
    assert set(with_privacy) == set(without) | NEW_FILES
    assert not NEW_FILES & set(without)
    changed = {name for name in without if with_privacy[name] != without[name]}
    assert changed == {"Condition.ndjson"}
    added = {code for code, _, _ in ALCOHOL_CODES}
    unlabelled = []
    for line in with_privacy["Condition.ndjson"].splitlines():
        condition = orjson.loads(line)
        if snomed(condition) in added:
            assert labels(condition) == {SUBSTANCE_MISUSE}
            continue  # added by the privacy stream
        condition.pop("meta", None)
        unlabelled.append(orjson.dumps(condition))
    assert unlabelled == without["Condition.ndjson"].splitlines()
    kept = [orjson.loads(line) for line in without["Condition.ndjson"].splitlines()]
    assert any(snomed(c) in ALCOHOL_PROBLEM_CODES for c in kept)  # the record's own, unlabelled


def test_every_new_resource_is_valid_fhir_r4_and_refers_only_to_what_was_written(
    place: tuple[GenerationSummary, Resources],
) -> None:
    _, files = place
    ids = {(r["resourceType"], r["id"]) for resources in files.values() for r in resources}
    assert len(ids) == sum(len(resources) for resources in files.values())
    checked = [
        r
        for r in (*files["Consent"], *files["Flag"], *files["Condition"])
        if r["resourceType"] != "Condition" or labels(r)
    ]
    assert len(checked) > 400
    for resource in checked:
        validate_resource(resource)
        for target in references_in(resource):
            assert target in ids, f"{resource['resourceType']}/{resource['id']} -> {target}"


def test_only_mental_health_and_alcohol_conditions_are_labelled_and_every_one_of_them(
    place: tuple[GenerationSummary, Resources],
) -> None:
    # depression, anxiety, bipolar disorder, schizophrenia, paranoid schizophrenia, paraphrenia
    assert {
        "35489007",
        "197480006",
        "13746004",
        "58214004",
        "64905009",
        "26472000",
    } == MENTAL_HEALTH_CODES
    # the privacy stream's alcohol dependence and misuse, and the record's alcohol problems
    alcohol = {code for code, _, _ in ALCOHOL_CODES} | ALCOHOL_PROBLEM_CODES
    assert {"1094151000000108", "268645007", "41309000"} == ALCOHOL_PROBLEM_CODES
    seen = {MENTAL_HEALTH: 0, SUBSTANCE_MISUSE: 0}
    schizophrenia_or_bipolar = record_alcohol = 0
    for condition in place[1]["Condition"]:
        code, found = snomed(condition), labels(condition)
        expected = (
            {MENTAL_HEALTH}
            if code in MENTAL_HEALTH_CODES
            else {SUBSTANCE_MISUSE}
            if code in alcohol
            else set()
        )
        assert found == expected, f"{condition['id']} ({code}) is labelled {found}"
        for label in found:
            seen[label] += 1
        schizophrenia_or_bipolar += code in MENTAL_HEALTH_CODES - {"35489007", "197480006"}
        record_alcohol += code in ALCOHOL_PROBLEM_CODES
    assert seen[MENTAL_HEALTH] > 100
    assert seen[SUBSTANCE_MISUSE] >= 1
    assert schizophrenia_or_bipolar >= 1 and record_alcohol >= 1


def test_dementia_is_not_labelled_mental_health(
    place: tuple[GenerationSummary, Resources],
) -> None:
    """Dementia is shared for care planning: carers, care homes and social workers need it."""
    (dementia,) = [p for p in LONG_TERM_CONDITIONS if p.key == "dementia"]
    codes = {code for code, _, _ in dementia.codes}
    assert not codes & MENTAL_HEALTH_CODES
    with_dementia = [c for c in place[1]["Condition"] if snomed(c) in codes]
    assert len(with_dementia) > 20
    assert all("meta" not in c for c in with_dementia)


def test_consents_are_well_formed_and_name_only_what_exists(
    place: tuple[GenerationSummary, Resources],
    patients: dict[str, dict[str, Any]],
    council: dict[str, Any],
) -> None:
    summary, files = place
    mental_health_patients = {
        patient_of(c) for c in files["Condition"] if MENTAL_HEALTH in labels(c)
    }
    organisations = {f"Organization/{o['id']}" for o in files["Organization"]}
    kinds: dict[str, int] = {}
    for resource in files["Consent"]:
        assert resource["status"] == "active"
        assert resource["scope"]["coding"][0]["code"] == "patient-privacy"
        assert resource["policyRule"]["coding"][0]["code"] == "OPTOUT"
        provision = resource["provision"]
        assert provision["type"] == "deny"
        person = patients[resource["patient"]["reference"]]
        day = date.fromisoformat(resource["dateTime"])
        assert date.fromisoformat(person["birthDate"]) <= day
        assert day <= record_end(person, summary.as_of)
        (kind,) = category_codes(resource, CONSENT_CATEGORY_SYSTEM)
        if kind == NATIONAL_DATA_OPT_OUT:
            assert day >= NDOO_START
            assert {p["code"] for p in provision["purpose"]} == {"HRESCH", "POPHLTH"}
            assert "actor" not in provision and "securityLabel" not in provision
            kinds[kind] = kinds.get(kind, 0) + 1
            continue
        assert kind == OBJECTION
        assert age(person, summary.as_of) >= 65
        (actor,) = provision["actor"]
        assert actor["reference"]["reference"] == f"Organization/{council['id']}"
        assert actor["reference"]["reference"] in organisations
        assert actor["role"]["coding"][0]["code"] == "IRCP"
        assert all(o["reference"] in organisations for o in resource["organization"])
        objected = [c["code"] for c in provision.get("securityLabel", ())]
        if objected:
            assert objected == [MENTAL_HEALTH]
            assert provision["securityLabel"][0]["system"] == SENSITIVE_SYSTEM
            assert resource["patient"]["reference"] in mental_health_patients
            kind = "mental-health objection"
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds[NATIONAL_DATA_OPT_OUT] > 200
    assert kinds[OBJECTION] >= 1
    assert kinds["mental-health objection"] >= 1
    assert len({r["id"] for r in files["Consent"]}) == len(files["Consent"])


def test_safeguarding_flags_come_from_the_council_within_the_last_year(
    place: tuple[GenerationSummary, Resources],
    patients: dict[str, dict[str, Any]],
    council: dict[str, Any],
) -> None:
    summary, files = place
    flags = files["Flag"]
    assert flags
    for flag in flags:
        assert labels(flag) == {SAFEGUARDING}
        assert SAFEGUARDING in category_codes(
            flag, "https://fhir.careweave.example/CodeSystem/flag-category"
        )
        assert flag["author"]["reference"] == f"Organization/{council['id']}"
        person = patients[flag["subject"]["reference"]]
        assert age(person, summary.as_of) >= 65
        end = record_end(person, summary.as_of)
        start = date.fromisoformat(flag["period"]["start"])
        assert 0 <= (end - start).days < 365
        if "deceasedDateTime" in person:
            assert flag["status"] == "inactive"
            assert flag["period"]["end"] == end.isoformat()
        else:
            assert flag["status"] == "active" and "end" not in flag["period"]


def test_the_shares_are_within_tolerance_of_their_targets(
    place: tuple[GenerationSummary, Resources],
) -> None:
    summary, _ = place
    table = {row.name: row for row in statistics_table(read_place(summary.out, summary.as_of))}
    failures = [
        f"{row.name}: generated {row.generated:.2f}% of {row.n}, target {row.target:.2f}% "
        f"(±{row.tolerance:.2f})"
        for row in (table[name] for name in PRIVACY_ROWS)
        if not row.within_tolerance
    ]
    assert failures == []


def test_a_place_without_them_fails_the_rows(tmp_path: Path) -> None:
    """The rows count what the files hold: a place generated without privacy misses them."""
    summary = generate_place(people=3_000, seed=SEED, out=tmp_path, privacy=False)
    table = {row.name: row for row in statistics_table(read_place(summary.out, summary.as_of))}
    assert not table["National data opt-out, everyone"].within_tolerance
    assert not table["Mental-health label, 65+"].within_tolerance
    assert table["Safeguarding flag, 65+"].generated == 0


def test_the_opt_out_follows_the_published_age_and_sex_pattern(
    place: tuple[GenerationSummary, Resources],
) -> None:
    assert ndoo_chance(35, male=False) > ndoo_chance(35, male=True)
    assert ndoo_chance(35, male=False) > 4 * ndoo_chance(5, male=False)
    assert ndoo_chance(85, male=False) < ndoo_chance(65, male=False)
    mix = age_and_sex_shares()
    mean = sum(s * ndoo_chance(a, sex == "male") for sex, a, s in mix) / sum(s for *_, s in mix)
    assert mean == pytest.approx(NDOO_PERCENT / 100, rel=1e-9)
    summary, files = place
    opted_out = {
        r["patient"]["reference"]
        for r in files["Consent"]
        if NATIONAL_DATA_OPT_OUT in category_codes(r, CONSENT_CATEGORY_SYSTEM)
    }

    def share(low: int, high: int) -> float:
        people = [
            f"Patient/{p['id']}" for p in files["Patient"] if low <= age(p, summary.as_of) <= high
        ]
        return sum(p in opted_out for p in people) / len(people)

    assert share(20, 59) > 2 * share(0, 9)


def _a_few_people(files: Resources) -> Iterator[dict[str, Any]]:
    """The directory, then every resource of the people who object, a few who opted out and a
    few with a mental health label who did not object."""
    objecting = {
        r["patient"]["reference"]
        for r in files["Consent"]
        if OBJECTION in category_codes(r, CONSENT_CATEGORY_SYSTEM)
    }
    opted_out = sorted(
        r["patient"]["reference"]
        for r in files["Consent"]
        if NATIONAL_DATA_OPT_OUT in category_codes(r, CONSENT_CATEGORY_SYSTEM)
    )[:5]
    labelled = sorted(
        {patient_of(c) for c in files["Condition"] if MENTAL_HEALTH in labels(c)} - objecting
    )[:5]
    chosen = objecting | set(opted_out) | set(labelled)
    for resource_type in ("Organization", "Location", "Practitioner", "PractitionerRole"):
        yield from files[resource_type]
    yield from (p for p in files["Patient"] if f"Patient/{p['id']}" in chosen)
    for resource_type, resources in files.items():
        if resource_type in ("Organization", "Location", "Practitioner", "PractitionerRole"):
            continue
        if resource_type != "Patient":
            yield from (r for r in resources if patient_of(r) in chosen)


def test_the_generated_consents_drive_the_access_rules(
    place: tuple[GenerationSummary, Resources], council: dict[str, Any], store: FhirStore
) -> None:
    _, files = place
    with store.transaction() as tx:
        for resource in _a_few_people(files):
            tx.update(resource["resourceType"], resource["id"], resource)
    stored = {r["id"] for r in _a_few_people(files) if r["resourceType"] == "Patient"}

    def consents(kind: str, labelled: bool | None = None) -> set[str]:
        return {
            r["patient"]["reference"].removeprefix("Patient/")
            for r in files["Consent"]
            if kind in category_codes(r, CONSENT_CATEGORY_SYSTEM)
            and r["patient"]["reference"].removeprefix("Patient/") in stored
            and (labelled is None or bool(r["provision"].get("securityLabel")) == labelled)
        }

    def search(resource_type: str, visibility: Visibility, *params: tuple[str, str]) -> set[str]:
        query = parse_search(resource_type, [*params, ("_count", "1000")], store.registry)
        return {rid for _, rid, _ in store.search(query, visibility=visibility).matches}

    everyone = frozenset({"Patient", "Condition"})
    objecting = consents(OBJECTION, labelled=False)
    assert objecting
    council_view = Visibility(
        readable_types=everyone,
        patients=PatientSet(everyone=True, excluded=(consent.objection_to(council["id"]),)),
        label_objections=consent.category_objections(council["id"]),
    )
    assert search("Patient", council_view) == stored - objecting

    mental_health = f"{SENSITIVE_SYSTEM}|{MENTAL_HEALTH}"
    labelled_conditions = [
        c
        for c in files["Condition"]
        if MENTAL_HEALTH in labels(c) and patient_of(c).removeprefix("Patient/") in stored
    ]
    hide_from_council = consents(OBJECTION, labelled=True)
    assert hide_from_council
    shown = search("Condition", council_view, ("_security", mental_health))
    assert shown == {
        c["id"]
        for c in labelled_conditions
        if patient_of(c).removeprefix("Patient/") not in hide_from_council | objecting
    }
    assert shown, "someone's mental health Condition still reaches the council"

    opted_out = consents(NATIONAL_DATA_OPT_OUT)
    assert consent.opted_out_patients(store) == opted_out
    assert search("Patient", planning_visibility()) == stored - opted_out
