"""Row-level visibility in the store, on SQLite and PostgreSQL: each legitimate relationship
opens a record, its ending closes it, and nothing leaks through counts, includes, chains,
history, deleted records or writes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.access.consent import (
    CONSENT_CATEGORY_SYSTEM,
    NATIONAL_DATA_OPT_OUT,
    OBJECTION,
    category_objections,
    objection_to,
    opted_out_patients,
)
from careweave.access.policy import planning_visibility, relationship_rules
from careweave.access.principal import Principal
from careweave.access.roles import Role
from careweave.access.scopes import Scopes
from careweave.access.sharing import SENSITIVE_SYSTEM
from careweave.fhir.errors import Forbidden, Gone, NotFound
from careweave.fhir.search_query import parse_search
from careweave.store.repository import FhirStore
from careweave.store.visibility import PatientSet, Visibility

NHS = "https://fhir.nhs.uk/Id/nhs-number"
ALL_TYPES = frozenset(
    {
        "Patient",
        "Observation",
        "Condition",
        "CareTeam",
        "ServiceRequest",
        "Task",
        "EpisodeOfCare",
        "Consent",
        "Organization",
        "PractitionerRole",
        "Practitioner",
        "Encounter",
    }
)


def put(store: FhirStore, body: dict[str, Any]) -> str:
    """Store with the id the body carries (the test names every resource)."""
    store.update(body["resourceType"], body["id"], body)
    return str(body["id"])


def patient(pid: str, nhs: str, practice: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": NHS, "value": nhs}],
        "name": [{"family": f"Family-{pid}", "given": ["Alex"]}],
    }
    if practice:
        body["generalPractitioner"] = [{"reference": f"Organization/{practice}"}]
    return body


def observation(oid: str, pid: str, label: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"text": "Weight"},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": 61.0, "unit": "kg"},
    }
    if label:
        body["meta"] = {"security": [{"system": SENSITIVE_SYSTEM, "code": label}]}
    return body


@pytest.fixture
def place(store: FhirStore) -> FhirStore:
    """Two organisations (a practice and the council), a social worker, six people."""
    for oid, name in (("prac", "Riverside Surgery"), ("council", "Northshire Council")):
        put(store, {"resourceType": "Organization", "id": oid, "name": name})
    put(store, {"resourceType": "Practitioner", "id": "sw", "name": [{"family": "Okafor"}]})
    put(
        store,
        {
            "resourceType": "PractitionerRole",
            "id": "sw-role",
            "practitioner": {"reference": "Practitioner/sw"},
            "organization": {"reference": "Organization/council"},
        },
    )
    numbers = ["9990000018", "9990000026", "9990000034", "9990000042", "9990000050", "9990000069"]
    for index, pid in enumerate(["reg", "team", "ref", "task", "ep", "none"]):
        put(store, patient(pid, numbers[index], "prac" if pid == "reg" else None))
        put(store, observation(f"obs-{pid}", pid))
    put(
        store,
        {
            "resourceType": "CareTeam",
            "id": "ct",
            "status": "active",
            "subject": {"reference": "Patient/team"},
            "participant": [{"member": {"reference": "PractitionerRole/sw-role"}}],
        },
    )
    put(
        store,
        {
            "resourceType": "ServiceRequest",
            "id": "sr",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/ref"},
            "performer": [{"reference": "Organization/council"}],
        },
    )
    put(
        store,
        {
            "resourceType": "Task",
            "id": "tk",
            "status": "requested",
            "intent": "order",
            "for": {"reference": "Patient/task"},
            "owner": {"reference": "Organization/council"},
        },
    )
    put(
        store,
        {
            "resourceType": "EpisodeOfCare",
            "id": "eoc",
            "status": "active",
            "patient": {"reference": "Patient/ep"},
            "managingOrganization": {"reference": "Organization/council"},
        },
    )
    return store


def staff(
    organisation: str, role_id: str | None = None, practitioner: str | None = None
) -> Principal:
    return Principal(
        username="u",
        display_name="U",
        role=Role.SOCIAL_WORKER,
        scopes=Scopes.everything(),
        user_pk=1,
        organisation_id=organisation,
        practitioner_role_id=role_id,
        practitioner_id=practitioner,
    )


def view(principal: Principal, **extra: Any) -> Visibility:
    args: dict[str, Any] = {
        "readable_types": ALL_TYPES,
        "patients": PatientSet(
            rules=relationship_rules(principal),
            excluded=(objection_to(principal.organisation_id or ""),),
        ),
        "label_objections": category_objections(principal.organisation_id or ""),
    }
    args.update(extra)
    return Visibility(**args)


def ids(
    store: FhirStore, resource_type: str, visibility: Visibility, *params: tuple[str, str]
) -> set[str]:
    query = parse_search(resource_type, list(params), store.registry)
    return {rid for _, rid, _ in store.search(query, visibility=visibility).matches}


def total(store: FhirStore, resource_type: str, visibility: Visibility) -> int | None:
    query = parse_search(resource_type, [("_summary", "count")], store.registry)
    return store.search(query, visibility=visibility).total


def test_each_relationship_opens_the_record_and_only_that_one(place: FhirStore) -> None:
    council = view(staff("council", "sw-role", "sw"))
    practice = view(staff("prac"))
    assert ids(place, "Patient", council) == {"team", "ref", "task", "ep"}
    assert ids(place, "Patient", practice) == {"reg"}
    assert ids(place, "Observation", council) == {"obs-team", "obs-ref", "obs-task", "obs-ep"}
    assert total(place, "Observation", council) == 4
    assert total(place, "Patient", practice) == 1
    # The directory is not about a person: everyone may read it.
    assert ids(place, "Organization", practice) == {"prac", "council"}


def test_a_closed_referral_task_team_or_episode_closes_the_record(place: FhirStore) -> None:
    council = view(staff("council", "sw-role", "sw"))
    endings = [
        ("CareTeam", "ct", {"status": "inactive"}, "team"),
        ("ServiceRequest", "sr", {"status": "completed"}, "ref"),
        ("Task", "tk", {"status": "completed"}, "task"),
        ("EpisodeOfCare", "eoc", {"status": "finished"}, "ep"),
    ]
    for resource_type, rid, change, pid in endings:
        body = {**place.read(resource_type, rid).as_dict(), **change}
        place.update(resource_type, rid, body)
        assert pid not in ids(place, "Patient", council), resource_type
        with pytest.raises(NotFound):
            place.read("Observation", f"obs-{pid}", visibility=council)
    assert ids(place, "Patient", council) == set()


def test_hidden_and_missing_records_get_the_same_answer(place: FhirStore) -> None:
    practice = view(staff("prac"))
    with pytest.raises(NotFound) as hidden:
        place.read("Observation", "obs-team", visibility=practice)
    with pytest.raises(NotFound) as missing:
        place.read("Observation", "obs-nobody", visibility=practice)
    assert str(hidden.value).replace("obs-team", "X") == str(missing.value).replace(
        "obs-nobody", "X"
    )
    assert place.read("Observation", "obs-reg", visibility=practice).id == "obs-reg"


def test_includes_revincludes_and_chains_stop_at_what_is_hidden(place: FhirStore) -> None:
    # The council sees obs-team; a chain on the patient's name of someone hidden finds nothing.
    council = view(staff("council", "sw-role", "sw"))
    assert ids(place, "Observation", council, ("subject:Patient.name", "Family-reg")) == set()
    assert ids(
        place, "Observation", view(staff("prac")), ("subject:Patient.name", "Family-reg")
    ) == {"obs-reg"}
    # A revinclude of every Observation naming a visible patient: only theirs, never others'.
    query = parse_search(
        "Organization",
        [("_id", "council"), ("_revinclude", "PractitionerRole:organization")],
        place.registry,
    )
    page = place.search(query, visibility=council)
    assert {rid for _, rid, _ in page.included} == {"sw-role"}
    query = parse_search("Patient", [("_revinclude", "Observation:subject")], place.registry)
    page = place.search(query, visibility=view(staff("prac")))
    assert {rid for _, rid, _ in page.matches} == {"reg"}
    assert {rid for _, rid, _ in page.included} == {"obs-reg"}
    # An include from a visible resource to a hidden one is dropped.
    place.update(
        "Observation",
        "obs-reg",
        {**observation("obs-reg", "reg"), "focus": [{"reference": "Patient/team"}]},
    )
    query = parse_search(
        "Observation", [("_id", "obs-reg"), ("_include", "Observation:focus")], place.registry
    )
    page = place.search(query, visibility=view(staff("prac")))
    assert [rid for _, rid, _ in page.matches] == ["obs-reg"]
    assert page.included == []


def test_sensitive_labels_are_hidden_unless_allowed(place: FhirStore) -> None:
    put(place, observation("obs-mh", "reg", label="mental-health"))
    allowed = view(staff("prac"))
    hidden = view(staff("prac"), hidden_labels=frozenset({(SENSITIVE_SYSTEM, "mental-health")}))
    assert "obs-mh" in ids(place, "Observation", allowed)
    assert "obs-mh" not in ids(place, "Observation", hidden)
    with pytest.raises(NotFound):
        place.read("Observation", "obs-mh", visibility=hidden)


def test_reverse_chains_count_only_what_the_user_may_see(place: FhirStore) -> None:
    """`_has` on a visible patient must not tell who holds a hidden record about them."""
    put(place, {**observation("obs-mh", "reg", label="mental-health"), "code": {"text": "Mood"}})
    asks = ("_has:Observation:subject:code:text", "mood")
    allowed = view(staff("prac"))
    hidden = view(staff("prac"), hidden_labels=frozenset({(SENSITIVE_SYSTEM, "mental-health")}))
    assert ids(place, "Patient", allowed, asks) == {"reg"}
    assert ids(place, "Patient", hidden, asks) == set()
    assert ids(place, "Patient", hidden, ("_has:Observation:subject:code:text", "weight")) == {
        "reg"
    }
    # Nor about a patient outside the user's relationships: everyone has a weight recorded,
    # but the council finds only the people it works with.
    council = view(staff("council", "sw-role", "sw"))
    weighed = ids(place, "Patient", council, ("_has:Observation:subject:code:text", "weight"))
    assert "reg" not in weighed
    assert weighed == ids(place, "Patient", council) != set()
    # A type the token may not read is never searched through.
    no_observations = view(staff("prac"), readable_types=ALL_TYPES - {"Observation"})
    assert ids(place, "Patient", no_observations, asks) == set()


def test_an_objection_to_an_organisation_removes_the_record_from_it(place: FhirStore) -> None:
    council = view(staff("council", "sw-role", "sw"))
    consent = {
        "resourceType": "Consent",
        "id": "objects",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "policyRule": {"coding": [{"code": "OPTOUT"}]},
        "category": [{"coding": [{"system": CONSENT_CATEGORY_SYSTEM, "code": OBJECTION}]}],
        "patient": {"reference": "Patient/team"},
        "provision": {
            "type": "deny",
            "actor": [
                {"reference": {"reference": "Organization/council"}, "role": {"text": "recipient"}}
            ],
        },
    }
    put(place, consent)
    assert "team" not in ids(place, "Patient", council)
    assert "obs-team" not in ids(place, "Observation", council)
    # Withdrawn (inactive), the objection no longer applies.
    place.update("Consent", "objects", {**consent, "status": "inactive"})
    assert "team" in ids(place, "Patient", council)


def team_objects_to_council_seeing_sexual_health() -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": "no-sh",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "policyRule": {"coding": [{"code": "OPTOUT"}]},
        "category": [{"coding": [{"system": CONSENT_CATEGORY_SYSTEM, "code": OBJECTION}]}],
        "patient": {"reference": "Patient/team"},
        "provision": {
            "type": "deny",
            "actor": [
                {"reference": {"reference": "Organization/council"}, "role": {"text": "recipient"}}
            ],
            "securityLabel": [{"system": SENSITIVE_SYSTEM, "code": "sexual-health"}],
        },
    }


def test_an_objection_to_one_category_hides_only_that_category(place: FhirStore) -> None:
    council = view(staff("council", "sw-role", "sw"))
    put(place, observation("obs-sh", "team", label="sexual-health"))
    assert "obs-sh" in ids(place, "Observation", council)
    put(
        place,
        team_objects_to_council_seeing_sexual_health(),
    )
    assert "obs-sh" not in ids(place, "Observation", council)
    assert "obs-team" in ids(place, "Observation", council)
    # Another person's objection hides nothing of someone who has not objected.
    put(place, observation("obs-sh-ref", "ref", label="sexual-health"))
    assert "obs-sh-ref" in ids(place, "Observation", council)
    assert "team" in ids(place, "Patient", council)


def test_history_and_vread_judge_each_version_by_what_it_held(place: FhirStore) -> None:
    hidden = view(staff("prac"), hidden_labels=frozenset({(SENSITIVE_SYSTEM, "mental-health")}))
    place.update("Observation", "obs-reg", observation("obs-reg", "reg", label="mental-health"))
    place.update("Observation", "obs-reg", observation("obs-reg", "reg"))
    versions = place.history(
        resource_type="Observation", resource_id="obs-reg", visibility=hidden
    ).versions
    assert [v.version_id for v in versions] == [3, 1]
    with pytest.raises(NotFound):
        place.vread("Observation", "obs-reg", 2, visibility=hidden)
    assert place.vread("Observation", "obs-reg", 1, visibility=hidden).version_id == 1
    with pytest.raises(NotFound):
        place.history(resource_type="Observation", resource_id="obs-team", visibility=hidden)


def test_a_deleted_record_is_gone_only_to_those_who_could_see_it(place: FhirStore) -> None:
    place.delete("Observation", "obs-team")
    with pytest.raises(Gone):
        place.read("Observation", "obs-team", visibility=view(staff("council", "sw-role", "sw")))
    with pytest.raises(NotFound):
        place.read("Observation", "obs-team", visibility=view(staff("prac")))


def test_writing_about_someone_you_cannot_see_is_refused_and_nothing_is_kept(
    place: FhirStore,
) -> None:
    practice = view(staff("prac"))
    with pytest.raises(Forbidden), place.transaction(visibility=practice) as tx:
        tx.update("Observation", "sneaky", observation("sneaky", "team"))
    with pytest.raises(NotFound):
        place.read("Observation", "sneaky")
    # Updating a hidden record is answered as if it did not exist.
    with pytest.raises(NotFound), place.transaction(visibility=practice) as tx:
        tx.update("Observation", "obs-team", observation("obs-team", "team"))
    assert place.read("Observation", "obs-team").version_id == 1
    with place.transaction(visibility=practice) as tx:
        tx.update("Observation", "fine", observation("fine", "reg"))
    assert place.read("Observation", "fine").id == "fine"


def test_break_glass_patients_are_visible_despite_no_relationship_or_an_objection(
    place: FhirStore,
) -> None:
    principal = staff("prac")
    glass = view(
        principal,
        patients=PatientSet(ids=frozenset({"none"}), rules=relationship_rules(principal)),
    )
    assert ids(place, "Patient", glass) == {"reg", "none"}
    assert "obs-none" in ids(place, "Observation", glass)


def test_planning_outputs_leave_out_people_with_a_national_data_opt_out(
    place: FhirStore,
) -> None:
    planning = planning_visibility()
    assert ids(place, "Patient", planning) == {"reg", "team", "ref", "task", "ep", "none"}
    opt_out = {
        "resourceType": "Consent",
        "id": "ndoo-ep",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "policyRule": {"coding": [{"code": "OPTOUT"}]},
        "category": [
            {"coding": [{"system": CONSENT_CATEGORY_SYSTEM, "code": NATIONAL_DATA_OPT_OUT}]}
        ],
        "patient": {"reference": "Patient/ep"},
        "provision": {"type": "deny"},
    }
    put(place, opt_out)
    assert opted_out_patients(place) == {"ep"}
    assert "ep" not in ids(place, "Patient", planning)
    assert "obs-ep" not in ids(place, "Observation", planning)
    assert total(place, "Observation", planning) == 5
    # Direct care is not affected: the council still sees the person it works with.
    assert "ep" in ids(place, "Patient", view(staff("council", "sw-role", "sw")))
    place.update("Consent", "ndoo-ep", {**opt_out, "status": "inactive"})
    assert "ep" in ids(place, "Patient", planning)


def test_the_named_care_manager_of_another_providers_episode_sees_the_person(
    place: FhirStore,
) -> None:
    """Home care arranged by the council, provided by an agency: the council's social worker
    is the episode's care manager, though the agency manages it."""
    put(place, {"resourceType": "Organization", "id": "agency", "name": "Homecare Agency"})
    put(
        place,
        {
            "resourceType": "EpisodeOfCare",
            "id": "package",
            "status": "active",
            "patient": {"reference": "Patient/none"},
            "managingOrganization": {"reference": "Organization/agency"},
            "careManager": {"reference": "Practitioner/sw"},
        },
    )
    assert "none" in ids(place, "Patient", view(staff("council", "sw-role", "sw")))
    # Another social worker at the same council is not the care manager.
    assert "none" not in ids(place, "Patient", view(staff("council", "other-role", "other")))


def _included_by(store: FhirStore, observation_id: str, visibility: Visibility) -> list[str]:
    query = parse_search(
        "Observation",
        [("_id", observation_id), ("_include", "Observation:subject")],
        store.registry,
    )
    page = store.search(query, visibility=visibility)
    assert [rid for _, rid, _ in page.matches] == [observation_id]
    return [f"{rt}/{rid}" for rt, rid, _ in page.included]


def _labelled(store: FhirStore, patient_id: str, label: str) -> None:
    body = store.read("Patient", patient_id).as_dict()
    body["meta"] = {"security": [{"system": SENSITIVE_SYSTEM, "code": label}]}
    store.update("Patient", patient_id, body)


def test_a_reached_persons_own_labels_still_keep_them_out_of_an_include(place: FhirStore) -> None:
    """A record the user may see shows they reach its patient, so an include of that Patient
    skips the relationship rules; the Patient's own labels, and objections to them, still
    decide."""
    practice = view(staff("prac"))
    mental_health_hidden = view(
        staff("prac"), hidden_labels=frozenset({(SENSITIVE_SYSTEM, "mental-health")})
    )
    assert _included_by(place, "obs-reg", mental_health_hidden) == ["Patient/reg"]
    _labelled(place, "reg", "mental-health")
    assert _included_by(place, "obs-reg", practice) == ["Patient/reg"]
    assert _included_by(place, "obs-reg", mental_health_hidden) == []
    # The council reaches the person, but they object to its seeing their sexual health.
    council = view(staff("council", "sw-role", "sw"))
    assert _included_by(place, "obs-team", council) == ["Patient/team"]
    _labelled(place, "team", "sexual-health")
    put(
        place,
        team_objects_to_council_seeing_sexual_health(),
    )
    council = view(staff("council", "sw-role", "sw"))
    assert _included_by(place, "obs-team", council) == []
    assert "team" not in ids(place, "Patient", council)


@pytest.mark.parametrize(
    ("end", "last_day"),
    [
        ("2026-06-10", date(2026, 6, 10)),
        ("2026-06-10T23:30:00Z", date(2026, 6, 11)),  # 00:30 BST on 11 June
        ("2026-12-10T23:30:00Z", date(2026, 12, 10)),
        ("2026-06", date(2026, 6, 30)),
    ],
)
def test_a_care_team_participant_reaches_the_person_through_the_uk_day_they_end(
    place: FhirStore, end: str, last_day: date
) -> None:
    """Ended participation (cover that has run out) is no legitimate relationship: the
    participant reaches the person through the UK day their period ends, and not after, in
    searches, counts and reads alike. Someone also in the team without an end still does."""
    team = place.read("CareTeam", "ct").as_dict()
    ending = {"member": {"reference": "PractitionerRole/sw-role"}, "period": {"end": end}}
    place.update("CareTeam", "ct", {**team, "participant": [ending]})
    principal = staff("council", "sw-role", "sw")

    def on(day: date) -> Visibility:
        return view(principal, patients=PatientSet(rules=relationship_rules(principal, day)))

    assert ids(place, "Patient", on(last_day)) == {"team", "ref", "task", "ep"}
    assert place.read("Observation", "obs-team", visibility=on(last_day)).id == "obs-team"
    after = on(last_day + timedelta(days=1))
    assert ids(place, "Patient", after) == {"ref", "task", "ep"}
    assert total(place, "Observation", after) == 3
    with pytest.raises(NotFound):
        place.read("Observation", "obs-team", visibility=after)
    with pytest.raises(NotFound):
        place.read("Patient", "team", visibility=after)

    # Also a member with no end (a member who covered keeps their membership): still reached.
    staying = {"member": {"reference": "PractitionerRole/sw-role"}}
    place.update("CareTeam", "ct", {**team, "participant": [ending, staying]})
    assert "team" in ids(place, "Patient", after)
    assert place.read("Observation", "obs-team", visibility=after).id == "obs-team"
