"""The coordination of care in the synthetic place (careweave.synth.coordination): care teams,
plans, referrals, people in hospital now and their discharges, frailty findings.

The place is the one `make demo` generates (5,000 people, seed 2026), so these tests also
guard what the demo needs: a care coordinator with a caseload, a community trust with incoming
referrals, a discharge team with people in hospital.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from careweave.coordination import codes
from careweave.fhir.index_values import references_in
from careweave.fhir.validation import validate_resource
from careweave.synth.clinical_codes import EFI_DEFICIT_CODES
from careweave.synth.coordination import (
    COORDINATION_STREAM,
    COORDINATION_TARGETS,
    Services,
    coordination_resources,
)
from careweave.synth.coordination_discharge import PATHWAY_SHARES, in_hospital_now
from careweave.synth.coordination_situation import Resources, situation_of
from careweave.synth.draws import stream
from careweave.synth.frailty import deficits_from_resources
from careweave.synth.generate import GenerationSummary, generate_place
from careweave.synth.older_person import FRAILTY_CODE, build_older_person
from careweave.synth.people import Register
from careweave.synth.place import build_place
from careweave.synth.statistics import coordination_rows, read_place

PEOPLE = 5_000  # the Makefile's DEMO_PEOPLE
SEED = 2026  # the Makefile's DEMO_SEED
NEW_TYPES = ("CareTeam", "CarePlan", "Goal", "Task", "Communication", "Appointment")
CLOSED = codes.CLOSED_TASK_STATUSES

Files = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationSummary, Files]:
    out = tmp_path_factory.mktemp("place")
    summary = generate_place(people=PEOPLE, seed=SEED, out=out)
    files = {
        path.stem: [orjson.loads(line) for line in path.read_bytes().splitlines()]
        for path in sorted(out.glob("*.ndjson"))
    }
    return summary, files


@pytest.fixture(scope="module")
def files(place: tuple[GenerationSummary, Files]) -> Files:
    return place[1]


@pytest.fixture(scope="module")
def as_of(place: tuple[GenerationSummary, Files]) -> str:
    return place[0].as_of.isoformat()


def by_id(files: Files) -> dict[str, dict[str, Any]]:
    return {f"{r['resourceType']}/{r['id']}": r for resources in files.values() for r in resources}


def ref(value: dict[str, Any] | None) -> str:
    return str((value or {}).get("reference", ""))


def task_type(task: dict[str, Any]) -> str | None:
    return codes.code_in(task.get("code"), codes.TASK_TYPE)


def due(resource: dict[str, Any]) -> str:
    return str(resource["restriction"]["period"]["end"])[:10]


def inputs(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {codes.code_in(i["type"], codes.DISCHARGE_INPUT) or "": i for i in task["input"]}


def post_role(reference: str) -> str:
    """The workforce role key of a synthetic PractitionerRole (`<org>-<role>-<n>-role`)."""
    post = reference.removeprefix("PractitionerRole/").removesuffix("-role")
    rest = post.partition("-")[2]
    return rest.rpartition("-")[0]


def living_older(files: Files, as_of: str) -> set[str]:
    day = date.fromisoformat(as_of)
    found = set()
    for patient in files["Patient"]:
        born = date.fromisoformat(patient["birthDate"])
        age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        if age >= 65 and "deceasedDateTime" not in patient:
            found.add(f"Patient/{patient['id']}")
    return found


# -- the place as a whole ------------------------------------------------------------------------


def test_the_rates_are_within_their_documented_tolerances(
    place: tuple[GenerationSummary, Files],
) -> None:
    summary, _ = place
    rows = coordination_rows(read_place(summary.out, summary.as_of))
    assert {row.name for row in rows} >= {
        "Named coordinator, 65+ living",
        "Care and support plan, 65+ with a named coordinator",
        "In hospital now, 65+ living",
        "Referral in the last 11 weeks, 65+ living",
    }
    failures = [
        f"{row.name}: {row.generated:.2f}% of {row.n}, target {row.target:.2f} ±{row.tolerance:.2f}"
        for row in rows
        if not row.within_tolerance
    ]
    assert failures == []
    assert COORDINATION_TARGETS["pathway_0"] + COORDINATION_TARGETS["pathway_1"] < 100


def test_the_same_seed_gives_the_same_coordination_whoever_writes_it(tmp_path: Path) -> None:
    generate_place(people=1_500, seed=9, out=tmp_path / "a")
    generate_place(people=1_500, seed=9, out=tmp_path / "b", workers=2)
    generate_place(people=1_500, seed=10, out=tmp_path / "c")
    for kind in (*NEW_TYPES, "Encounter", "ServiceRequest", "Observation"):
        first = (tmp_path / "a" / f"{kind}.ndjson").read_bytes()
        assert first == (tmp_path / "b" / f"{kind}.ndjson").read_bytes(), kind
        assert first != (tmp_path / "c" / f"{kind}.ndjson").read_bytes(), kind


def test_every_new_resource_is_valid_and_every_reference_resolves(files: Files) -> None:
    known = set(by_id(files))
    checked = Counter[str]()
    for kind in (*NEW_TYPES, "Encounter", "ServiceRequest", "Observation"):
        for resource in files[kind]:
            validate_resource(resource)
            for target in references_in(resource):
                assert f"{target[0]}/{target[1]}" in known, (resource["id"], target)
            checked[kind] += 1
    assert all(checked[kind] > 0 for kind in NEW_TYPES), checked


def test_only_living_older_people_have_coordination_and_ids_are_theirs(
    files: Files, as_of: str
) -> None:
    living = living_older(files, as_of)
    for kind in NEW_TYPES:
        for resource in files[kind]:
            person = ref(resource.get("subject") or resource.get("for"))
            if kind == "Appointment":
                person = ref(resource["participant"][0]["actor"])
            assert person in living, (kind, resource["id"])
            assert resource["id"].startswith(person.removeprefix("Patient/") + "-")


# -- care teams ----------------------------------------------------------------------------------


def test_care_teams_have_one_care_coordinator_of_the_persons_network_and_their_gp(
    files: Files, as_of: str
) -> None:
    everything = by_id(files)
    patients = {f"Patient/{p['id']}": p for p in files["Patient"]}
    teams = files["CareTeam"]
    assert len({ref(t["subject"]) for t in teams}) == len(teams)  # one team per person
    for team in teams:
        assert team["status"] == "active" and team["name"] == "Care team"
        assert codes.has_code(team["category"], *codes.CARE_TEAM_CATEGORY)
        assert team["period"]["start"] <= as_of
        roles = [codes.code_in(p["role"], codes.CARE_TEAM_ROLE) for p in team["participant"]]
        assert roles.count(codes.COORDINATOR) == 1
        assert set(roles) <= {codes.COORDINATOR, codes.MEMBER}
        members = set()
        for participant in team["participant"]:
            post = everything[ref(participant["member"])]
            assert post["resourceType"] == "PractitionerRole"
            assert ref(participant["onBehalfOf"]) == ref(post["organization"])
            assert participant["period"]["start"] <= as_of
            members.add(post["id"])
        coordinator = team["participant"][roles.index(codes.COORDINATOR)]
        post = everything[ref(coordinator["member"])]
        assert "-care-coordinator-" in post["id"]
        practice = everything[ref(patients[ref(team["subject"])]["managingOrganization"])]
        assert ref(post["organization"]) == ref(practice["partOf"])  # the person's network
        assert [ref(team["managingOrganization"][0])] == [ref(post["organization"])]
        gp = next(
            r for r in patients[ref(team["subject"])]["generalPractitioner"] if "Role/" in ref(r)
        )
        assert ref(gp).removeprefix("PractitionerRole/") in members


def test_care_teams_bring_in_nurses_social_workers_care_homes_and_link_workers(
    files: Files,
) -> None:
    roles = Counter(
        post_role(ref(participant["member"]))
        for team in files["CareTeam"]
        for participant in team["participant"]
    )
    assert roles["gp"] == roles["care-coordinator"] == len(files["CareTeam"])
    for role in ("community-nurse", "social-worker", "care-home-manager", "link-worker"):
        assert roles[role] > 0, roles


def test_the_demo_care_coordinator_has_a_caseload_of_20_to_60(files: Files) -> None:
    caseloads = Counter(
        ref(p["member"])
        for team in files["CareTeam"]
        for p in team["participant"]
        if codes.code_in(p["role"], codes.CARE_TEAM_ROLE) == codes.COORDINATOR
    )
    # `careweave users demo` gives demo.care-coordinator the network's first care coordinator.
    first = min(caseloads, key=lambda post: (len(post), post))
    assert first.endswith("-care-coordinator-1-role")
    assert 20 <= caseloads[first] <= 60, caseloads


# -- plans ---------------------------------------------------------------------------------------


def test_care_plans_are_shaped_as_the_coordination_doc_says(files: Files, as_of: str) -> None:
    everything = by_id(files)
    teams = {ref(t["subject"]): t for t in files["CareTeam"]}
    sections: Counter[str] = Counter()
    for plan in files["CarePlan"]:
        person = ref(plan["subject"])
        team = teams[person]
        assert (plan["status"], plan["intent"]) == ("active", "plan")
        assert codes.has_code(plan["category"], *codes.CARE_PLAN_CATEGORY)
        assert [ref(t) for t in plan["careTeam"]] == [f"CareTeam/{team['id']}"]
        coordinator = next(
            p
            for p in team["participant"]
            if codes.code_in(p["role"], codes.CARE_TEAM_ROLE) == codes.COORDINATOR
        )
        assert ref(plan["author"]) == ref(coordinator["member"])
        extensions = {e["url"]: e["valueDate"] for e in plan["extension"]}
        assert codes.NEXT_REVIEW_EXTENSION in extensions
        if codes.LAST_REVIEWED_EXTENSION in extensions:
            assert plan["created"] <= extensions[codes.LAST_REVIEWED_EXTENSION] <= as_of
        for condition in plan.get("addresses", ()):
            assert ref(everything[ref(condition)]["subject"]) == person
        goals = [everything[ref(g)] for g in plan["goal"]]
        assert 1 <= len(goals) <= 3
        for goal in goals:
            assert goal["description"]["text"] and ref(goal["subject"]) == person
            assert ref(goal["expressedBy"]).startswith(("Patient/", "RelatedPerson/"))
            assert goal["target"][0]["dueDate"]
        actions = [everything[ref(a["reference"])] for a in plan["activity"]]
        assert 2 <= len(actions) <= 6
        assert len({a["description"] for a in actions}) == len(actions)
        for task in actions:
            assert task_type(task) == "care-plan-action" and task["intent"] == "plan"
            assert [ref(b) for b in task["basedOn"]] == [f"CarePlan/{plan['id']}"]
            assert ref(task["for"]) == person and task["owner"]["reference"]
            section = codes.code_in(task["performerType"], codes.CARE_PLAN_SECTION)
            assert section in codes.ACTION_SECTIONS
            assert due(task)
        for note in plan["note"]:
            (section,) = (e["valueCode"] for e in note["extension"])
            assert section in codes.NOTE_SECTIONS and note["text"]
            sections[section] += 1
    assert len(files["CarePlan"]) > 10
    assert sections["about-me"] == len(files["CarePlan"])
    assert sections["contingency"] > 0


def test_plans_have_actions_across_organisations_in_every_state_some_overdue(
    files: Files, as_of: str
) -> None:
    actions = [t for t in files["Task"] if task_type(t) == "care-plan-action"]
    statuses = Counter(t["status"] for t in actions)
    assert statuses["completed"] and statuses["in-progress"] and statuses["requested"]
    overdue = [t for t in actions if t["status"] not in CLOSED and due(t) < as_of]
    assert overdue
    owners = {ref(t["owner"]).split("/")[0] for t in actions}
    assert {"Organization", "PractitionerRole", "Patient"} <= owners
    sections = {codes.code_in(t["performerType"], codes.CARE_PLAN_SECTION) for t in actions}
    assert sections == set(codes.ACTION_SECTIONS)


def test_some_plans_are_overdue_for_review_with_an_open_review_task(
    files: Files, as_of: str
) -> None:
    overdue = []
    for plan in files["CarePlan"]:
        extensions = {e["url"]: e["valueDate"] for e in plan["extension"]}
        if extensions[codes.NEXT_REVIEW_EXTENSION] < as_of:
            overdue.append(f"CarePlan/{plan['id']}")
    assert overdue
    reviews = {ref(t["focus"]): t for t in files["Task"] if task_type(t) == "review-care-plan"}
    for plan_reference in overdue:
        review = reviews[plan_reference]
        assert review["status"] == "requested" and due(review) < as_of


def test_anticipatory_care_is_in_the_plan_of_everyone_with_severe_frailty(files: Files) -> None:
    severe = {
        ref(o["subject"])
        for o in files["Observation"]
        if codes.has_code(o["code"], codes.SNOMED, FRAILTY_CODE["severe"])
    }
    plans = [p for p in files["CarePlan"] if ref(p["subject"]) in severe]
    assert plans
    for plan in plans:
        sections = {e["valueCode"] for note in plan["note"] for e in note["extension"]}
        assert "anticipatory" in sections


def test_what_matters_is_in_the_words_of_the_person_or_their_carer(files: Files) -> None:
    everything = by_id(files)
    categories = Counter[str]()
    for message in files["Communication"]:
        category = codes.code_in(message["category"], codes.COMMUNICATION_CATEGORY)
        categories[category or ""] += 1
        assert category in ("what-matters-to-me", "question-for-review")
        plan = everything[ref(message["about"][0])]
        assert ref(plan["subject"]) == ref(message["subject"])
        sender = everything[ref(message["sender"])]
        person = ref(message["subject"])
        assert f"Patient/{sender['id']}" == person or ref(sender.get("patient")) == person
        assert message["payload"][0]["contentString"]
    assert categories["what-matters-to-me"] >= len(files["CarePlan"])


# -- referrals -----------------------------------------------------------------------------------


def test_referrals_are_a_service_request_and_a_task_whose_status_is_the_workflow(
    files: Files, as_of: str
) -> None:
    everything = by_id(files)
    referrals = [
        r
        for r in files["ServiceRequest"]
        if codes.has_code(r.get("category"), *codes.REFERRAL_CATEGORY)
    ]
    tasks = {
        ref(t["focus"]): t for t in files["Task"] if t["code"]["coding"][0]["code"] == "fulfill"
    }
    statuses = Counter[str]()
    for request in referrals:
        assert request["intent"] == "order"
        assert codes.code_in(request["code"], codes.REFERRAL_SERVICE)
        assert ref(request["requester"]).startswith("PractitionerRole/")
        (performer,) = request["performer"]
        assert everything[ref(performer)]["resourceType"] == "Organization"
        task = tasks[f"ServiceRequest/{request['id']}"]
        assert task["intent"] == "order" and ref(task["for"]) == ref(request["subject"])
        assert ref(task["requester"]) == ref(request["requester"])
        statuses[task["status"]] += 1
        expected = {"completed": "completed", "cancelled": "revoked"}.get(task["status"], "active")
        assert request["status"] == expected
        if task["status"] == "rejected":
            assert task["statusReason"]["text"]
        if task["status"] in ("requested", "received", "rejected"):
            assert ref(task["owner"]) == ref(performer)
        if codes.code_in(request["code"], codes.REFERRAL_SERVICE) == "social-prescribing":
            assert codes.has_code(request["code"], *codes.SOCIAL_PRESCRIBING_REFERRAL)
        assert request["authoredOn"] <= as_of
    assert {"requested", "accepted", "rejected", "completed"} <= set(statuses), statuses
    waiting = [t for t in tasks.values() if t["status"] in ("requested", "received")]
    assert any(due(t) < as_of for t in waiting), "some referrals wait past their respond-by date"


def test_the_community_trust_has_incoming_referrals_for_the_demo_nurse(files: Files) -> None:
    community = next(o for o in files["Organization"] if o["id"] == "zzr01")
    incoming = [
        t
        for t in files["Task"]
        if t["code"]["coding"][0]["code"] == "fulfill"
        and t["status"] not in CLOSED
        and (
            ref(t["owner"]) == f"Organization/{community['id']}"
            or ref(t["owner"]).startswith("PractitionerRole/zzr01-")
        )
    ]
    assert len(incoming) >= 5
    teams_with_nurse = [
        team
        for team in files["CareTeam"]
        if any("zzr01-community-nurse-1-role" in ref(p["member"]) for p in team["participant"])
    ]
    assert teams_with_nurse


# -- hospital ------------------------------------------------------------------------------------


def test_people_in_hospital_now_have_an_admission_in_progress_and_a_discharge_to_assess(
    files: Files, as_of: str
) -> None:
    everything = by_id(files)
    acute = next(o for o in files["Organization"] if o["identifier"][0]["value"] == "ZZR02")
    team = next(o for o in files["Organization"] if o["identifier"][0]["value"] == "ZZR02DT")
    in_progress = [e for e in files["Encounter"] if e["status"] == "in-progress"]
    assert in_progress, "the demo's discharge coordinator needs people in hospital"
    discharges = {
        ref(t["focus"]): t
        for t in files["Task"]
        if task_type(t) == "discharge-to-assess" and t["status"] == "in-progress"
    }
    assert len(discharges) == len(in_progress)
    stays = defaultdict(list)
    for encounter in files["Encounter"]:
        if encounter["class"]["code"] == "IMP":
            stays[ref(encounter["subject"])].append(encounter)
    for encounter in in_progress:
        assert encounter["class"]["code"] == "IMP"
        assert "end" not in encounter["period"] and encounter["period"]["start"] <= as_of
        assert "dischargeDisposition" not in encounter["hospitalization"]
        assert ref(encounter["serviceProvider"]) == f"Organization/{acute['id']}"
        for other in stays[ref(encounter["subject"])]:  # no other stay overlaps this one
            if other is not encounter:
                assert other["period"]["end"] < encounter["period"]["start"]
        task = discharges[f"Encounter/{encounter['id']}"]
        assert ref(task["owner"]) == f"Organization/{team['id']}"
        assert ref(task["for"]) == ref(encounter["subject"])
        given = inputs(task)
        pathway = codes.code_in(given["pathway"]["valueCodeableConcept"], codes.D2A_PATHWAY)
        assert pathway in PATHWAY_SHARES
        if "medically-optimised" in given:
            optimised = given["medically-optimised"]["valueDateTime"]
            assert encounter["period"]["start"] <= optimised <= as_of
            if optimised < as_of:
                assert codes.code_in(task["statusReason"], codes.DISCHARGE_DELAY_REASON)
        else:
            assert "statusReason" not in task
        for part in (
            t for t in files["Task"] if ref((t.get("partOf") or [{}])[0]) == f"Task/{task['id']}"
        ):
            owner = everything[ref(part["owner"])]
            assert owner["resourceType"] == "Organization"
            assert (
                task_type(part) == "discharge-dependency"
                or part["code"]["coding"][0]["code"] == "fulfill"
            )


def test_discharge_pathways_follow_the_documented_shares(
    place: tuple[GenerationSummary, Files],
) -> None:
    """Many admissions drawn for the place's living older people: the pathway split is the
    DHSC planning model's, with care home residents going back on pathway 0."""
    summary, _ = place
    directory = build_place(people=PEOPLE, seed=SEED, as_of=summary.as_of)
    register, services = Register(directory), Services.of(directory.place)
    pathways: Counter[str] = Counter()
    in_care_homes = people = 0
    for index in range(PEOPLE):
        person = register.person(index)
        if person.age < 65:
            continue
        outcome, facts = build_older_person(person, directory.place, stream(SEED, "record", index))
        if facts.deceased is not None:
            continue
        situation = situation_of(person, outcome, facts, services)
        for draw in range(4):
            out = Resources(person.patient_id)
            in_hospital_now(situation, out, situation.as_of - 5, random.Random(index * 10 + draw))
            (task,) = [t for t in out.of_type("Task") if task_type(t) == "discharge-to-assess"]
            pathway = codes.code_in(
                inputs(task)["pathway"]["valueCodeableConcept"], codes.D2A_PATHWAY
            )
            pathways[pathway or ""] += 1
            people += 1
            in_care_homes += situation.care_home is not None
    home = 1 - in_care_homes / people
    for pathway, share in PATHWAY_SHARES.items():
        expected = share * home + (1 - home if pathway == "0" else 0)
        observed = pathways[pathway] / people
        assert abs(observed - expected) < 4 * (expected * (1 - expected) / people) ** 0.5 + 0.005


def test_recent_discharges_have_their_first_48_hours_and_a_check(files: Files, as_of: str) -> None:
    cutoff = date.fromordinal(date.fromisoformat(as_of).toordinal() - 30).isoformat()
    recent = [
        e
        for e in files["Encounter"]
        if e["class"]["code"] == "IMP"
        and e["status"] == "finished"
        and e["period"]["end"] >= cutoff
    ]
    assert recent, "finished admissions in the last 30 days"
    finished = {
        t["id"]: t
        for t in files["Task"]
        if task_type(t) == "discharge-to-assess" and t["status"] == "completed"
    }
    assert finished
    parts = defaultdict(list)
    for task in files["Task"]:
        if task_type(task) == "first-48-hours":
            parts[ref(task["partOf"][0]).removeprefix("Task/")].append(task)
    checks = {
        ref(t["focus"]).removeprefix("Task/"): t
        for t in files["Task"]
        if task_type(t) == "post-discharge-check"
    }
    for task_id, task in finished.items():
        ended = task["executionPeriod"]["end"]
        assert ended <= as_of
        assert parts[task_id], "the practice at least acts in the first 48 hours"
        for part in parts[task_id]:
            assert (
                due(part) == date.fromordinal(date.fromisoformat(ended).toordinal() + 2).isoformat()
            )
        assert task_id in checks


# -- frailty -------------------------------------------------------------------------------------


def test_frailty_findings_are_coded_for_mild_moderate_and_severe_frailty(
    place: tuple[GenerationSummary, Files],
) -> None:
    """Every person 65+ with frailty has the matching finding, dated at a review in the year
    before their record ends, by their practice; and the eFI computed from the record (its
    Conditions and medicines, with the findings and every coordination resource beside them) is
    what the generator intended: findings are not eFI deficits."""
    summary, files = place
    assert not set(FRAILTY_CODE.values()) & set(EFI_DEFICIT_CODES)
    directory = build_place(people=PEOPLE, seed=SEED, as_of=summary.as_of)
    register = Register(directory)
    of_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resources in files.values():
        for resource in resources:
            about = resource.get("subject") or resource.get("for") or resource.get("patient")
            of_person[ref(about)].append(resource)
    frail = 0
    for index in range(PEOPLE):
        person = register.person(index)
        if person.age < 65:
            continue
        _outcome, facts = build_older_person(person, directory.place, stream(SEED, "record", index))
        record = of_person[f"Patient/{person.patient_id}"]
        assert deficits_from_resources(record) == facts.deficits
        findings = [
            r
            for r in record
            if r["resourceType"] == "Observation"
            and codes.code_in(r["code"], codes.SNOMED) in codes.FRAILTY_FINDINGS
        ]
        if facts.category == "fit":
            assert findings == []
            continue
        frail += 1
        (finding,) = findings
        assert codes.FRAILTY_FINDINGS[codes.code_in(finding["code"], codes.SNOMED) or ""] == (
            facts.category
        )
        assert finding["status"] == "final"
        assert finding["category"][0]["coding"][0]["code"] == "survey"
        assert [ref(p) for p in finding["performer"]] == [
            f"Organization/{person.practice.organisation.id}"
        ]
        end = (facts.deceased or summary.as_of).toordinal()
        reviewed = date.fromisoformat(finding["effectiveDateTime"]).toordinal()
        assert end - 365 < reviewed <= end
    assert frail > 300


def test_a_persons_coordination_is_the_same_from_the_same_stream(
    place: tuple[GenerationSummary, Files],
) -> None:
    summary, _ = place
    directory = build_place(people=PEOPLE, seed=SEED, as_of=summary.as_of)
    register, services = Register(directory), Services.of(directory.place)
    made = 0
    for index in range(400):
        person = register.person(index)
        if person.age < 65:
            continue
        outcome, facts = build_older_person(person, directory.place, stream(SEED, "record", index))
        first, second = (
            coordination_resources(
                person, outcome, facts, services, stream(SEED, COORDINATION_STREAM, index)
            )
            for _ in range(2)
        )
        assert orjson.dumps(first) == orjson.dumps(second)
        made += bool(first)
    assert made > 0


# -- appointments --------------------------------------------------------------------------------


def test_appointments_are_booked_in_the_weeks_after_the_record_date(
    files: Files, as_of: str
) -> None:
    kinds = Counter[str]()
    for appointment in files["Appointment"]:
        assert appointment["status"] == "booked"
        assert (
            as_of
            < appointment["start"][:10]
            <= date.fromordinal(date.fromisoformat(as_of).toordinal() + 40).isoformat()
        )
        assert appointment["start"] < appointment["end"]
        actors = [ref(p["actor"]).split("/")[0] for p in appointment["participant"]]
        assert actors[:2] == ["Patient", "PractitionerRole"]
        assert all(p["status"] == "accepted" for p in appointment["participant"])
        kinds[codes.code_in(appointment["serviceType"], codes.APPOINTMENT_TYPE) or ""] += 1
    assert kinds and "" not in kinds
