"""Bad input and attacks on the FHIR API, over HTTP with real users and real tokens, on SQLite
and PostgreSQL.

Each attack gets the refusal that tells the caller nothing they may not know: 401 without a
usable token, 403 for what a token or role may not do to a whole type, 404 - exactly as for a
record that does not exist - for anyone else's record. Every refusal is in the audit trail
(outcome 4), and none of them writes anything to the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update

from careweave.access.accounts import add_user, disable_user
from careweave.access.audit import verify_chain
from careweave.access.scopes import Scopes
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.access.tokens import issue_token, revoke_token, token_hash
from careweave.api.app import create_app
from careweave.settings import Settings
from careweave.store.access_tables import api_token, audit_log
from careweave.store.repository import FhirStore
from careweave.store.tables import resource, resource_version

BASE = "/fhir/R4"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = {"Content-Type": "application/fhir+json"}

# Who holds which token in the place below, and what it says it may do.
TOKENS: dict[str, tuple[str | None, str]] = {
    "gp.a": ("gp.a", "user/*.cruds"),
    "gp.a observations": ("gp.a", "user/Observation.rs"),
    "gp.a read only": ("gp.a", "user/*.r"),
    "volunteer": ("volunteer", "user/*.cruds"),
    "admin": ("admin", "user/*.cruds"),
    "alice": ("alice", "patient/*.rs"),
    "system": (None, "system/*.cruds"),
}


def username_of(who: str) -> str:
    """The username the audit trail names for a token's holder (a client's is its name)."""
    return TOKENS[who][0] or f"client:tests: {who}"


def put(store: FhirStore, body: dict[str, Any]) -> None:
    """Set up the place as the store itself (no user): the tests are about what users do."""
    store.update(body["resourceType"], body["id"], body)


def observation(oid: str, subject: str, text_: str = "Weight", **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"text": text_},
        "subject": {"reference": f"Patient/{subject}"},
        **more,
    }


def condition(cid: str, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": {"text": "Hypertension"},
        "subject": {"reference": f"Patient/{subject}"},
    }


def build_place(store: FhirStore) -> None:
    """Two practices and the council. Alice is registered at practice A, Bob at practice B:
    practice A's GP has a legitimate relationship with Alice only.

    Some of Alice's records point at Bob's (a panel whose member is Bob's result, a link to
    Bob's record), one Observation names both (hidden from practice A: it is partly Bob's), and
    one was Bob's in its first version and moved to Alice in its second.
    """
    for oid, name in (
        ("prac-a", "Riverside Surgery"),
        ("prac-b", "Hillside Practice"),
        ("council", "Northshire Council Adult Social Care"),
    ):
        put(store, {"resourceType": "Organization", "id": oid, "name": name})
    for pid, organisation in (("gp-a", "prac-a"), ("gp-b", "prac-b"), ("vol", "council")):
        put(store, {"resourceType": "Practitioner", "id": pid, "name": [{"family": pid}]})
        put(
            store,
            {
                "resourceType": "PractitionerRole",
                "id": f"{pid}-role",
                "active": True,
                "practitioner": {"reference": f"Practitioner/{pid}"},
                "organization": {"reference": f"Organization/{organisation}"},
            },
        )
    for pid, nhs, family, practice in (
        ("alice", "9990000018", "Smith", "prac-a"),
        ("bob", "9990000026", "Jones", "prac-b"),
    ):
        put(
            store,
            {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [{"system": NHS, "value": nhs}],
                "name": [{"family": family, "given": [pid.title()]}],
                "generalPractitioner": [{"reference": f"Organization/{practice}"}],
            },
        )
    put(store, observation("obs-bob", "bob", "Viral load"))
    put(store, observation("obs-alice", "alice"))
    put(
        store,
        observation(
            "obs-alice-panel",
            "alice",
            "Panel",
            hasMember=[{"reference": "Observation/obs-bob"}],
        ),
    )
    put(store, observation("obs-joint", "alice", performer=[{"reference": "Patient/bob"}]))
    put(store, observation("obs-moved", "bob", "Blood pressure"))
    put(store, observation("obs-moved", "alice", "Blood pressure"))
    put(store, condition("cond-alice", "alice"))
    put(store, condition("cond-bob", "bob"))
    put(store, condition("cond-bob-gone", "bob"))
    store.delete("Condition", "cond-bob-gone")
    alice = store.read("Patient", "alice").as_dict()
    alice["link"] = [{"other": {"reference": "Patient/bob"}, "type": "seealso"}]
    put(store, alice)


@dataclass
class Place:
    client: TestClient
    store: FhirStore
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def request(
        self, method: str, who: str, path: str, body: Any = None, **kwargs: Any
    ) -> httpx.Response:
        """`method` on `path` (relative to the FHIR base) with `who`'s token."""
        url = f"{BASE}/{path}" if path else BASE
        headers = {**self.auth(who), **(FHIR_JSON if body is not None else {})}
        response: httpx.Response = self.client.request(
            method, url, json=body, headers=headers, **kwargs
        )
        return response

    def get(self, who: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", who, path, **kwargs)

    def post(self, who: str, path: str, body: Any) -> httpx.Response:
        return self.request("POST", who, path, body)

    def put(self, who: str, path: str, body: Any) -> httpx.Response:
        return self.request("PUT", who, path, body)

    def delete(self, who: str, path: str) -> httpx.Response:
        return self.request("DELETE", who, path)


@pytest.fixture
def place(store: FhirStore, database_url: str) -> Iterator[Place]:
    database = store.database
    build_place(store)
    save_agreement(database, "test", DEFAULT_TERMS)
    add_user(database, "gp.a", "Dr Asha Patel", "gp", practitioner_role_id="gp-a-role", store=store)
    add_user(
        database,
        "volunteer",
        "Val Oduya",
        "volunteer",
        practitioner_role_id="vol-role",
        store=store,
    )
    add_user(database, "admin", "Ade Min", "administrator", store=store)
    add_user(database, "alice", "Alice Smith", "patient", patient_id="alice", store=store)
    tokens = {
        name: issue_token(
            database, Scopes.parse(scope), username=username, client_name=f"tests: {name}"
        ).token
        for name, (username, scope) in TOKENS.items()
    }
    app = create_app(Settings(database_url=database_url), store)
    with TestClient(app, base_url="http://testserver") as client:
        yield Place(client, store, tokens)


# -- what a request left behind ------------------------------------------------------------------


@dataclass(frozen=True)
class Before:
    """The store and the audit trail before a request, to compare with afterwards."""

    seq: int
    resources: int
    versions: int


def before(store: FhirStore) -> Before:
    with store.database.read() as conn:
        seq = conn.execute(select(func.coalesce(func.max(audit_log.c.seq), 0))).scalar_one()
        resources = conn.execute(select(func.count()).select_from(resource)).scalar_one()
        versions = conn.execute(select(func.count()).select_from(resource_version)).scalar_one()
    return Before(int(seq), int(resources), int(versions))


def audit_since(store: FhirStore, mark: Before) -> list[dict[str, Any]]:
    """The audit entries written since `mark`, oldest first."""
    a = audit_log
    columns = (a.c.seq, a.c.event, a.c.outcome, a.c.username, a.c.patient_id, a.c.entity)
    with store.database.read() as conn:
        rows = conn.execute(select(*columns).where(a.c.seq > mark.seq).order_by(a.c.seq)).all()
    return [dict(row._mapping) for row in rows]


def refused_and_wrote_nothing(
    store: FhirStore, mark: Before, *, username: str | None, event: str | None = None
) -> list[dict[str, Any]]:
    """The refusals (outcome 4) audited since `mark`; fails unless there is one by `username`
    (of `event`, if given) and the store holds exactly what it held at `mark`."""
    after = before(store)
    assert (after.resources, after.versions) == (mark.resources, mark.versions), (
        "a refused request wrote to the store"
    )
    refusals = [e for e in audit_since(store, mark) if e["outcome"] == "4"]
    assert any(
        e["username"] == username and (event is None or e["event"] == event) for e in refusals
    ), f"no refusal by {username} ({event or 'any event'}) was audited: {audit_since(store, mark)}"
    return refusals


def outcome(response: httpx.Response, status: int, code: str) -> str:
    """The diagnostics of the OperationOutcome a refusal must be, with its status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert [issue["code"] for issue in body["issue"]] == [code]
    return str(body["issue"][0]["diagnostics"])


def matched(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in response.json().get("entry", [])
        if e.get("search", {}).get("mode") == "match"
    ]


def everything(response: httpx.Response) -> list[str]:
    """Every resource a Bundle carries, matches, includes or versions alike."""
    assert response.status_code == 200, response.text
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in response.json().get("entry", [])
        if "resource" in e and e["resource"]["resourceType"] != "OperationOutcome"
    ]


def same_as_missing(
    hidden: httpx.Response, missing: httpx.Response, hidden_id: str, id_: str
) -> None:
    """A hidden record's answer is a missing one's, byte for byte apart from the id asked."""
    assert hidden.status_code == missing.status_code == 404, (hidden.text, missing.text)
    assert hidden.content.replace(hidden_id.encode(), id_.encode()) == missing.content
    for header in ("content-type", "etag", "last-modified", "location"):
        assert hidden.headers.get(header) == missing.headers.get(header)


# -- no usable token -----------------------------------------------------------------------------


def _working(place: Place, token: str) -> dict[str, str]:
    """The header for `token`, checked to work now (so that its refusal later is about what
    happened to it since)."""
    headers = {"Authorization": f"Bearer {token}"}
    assert place.client.get(f"{BASE}/Patient/alice", headers=headers).status_code == 200
    return headers


def _expired(place: Place) -> dict[str, str]:
    token = issue_token(
        place.store.database,
        Scopes.parse("user/*.cruds"),
        username="gp.a",
        client_name="tests: expiring",
        lifetime=timedelta(hours=1),
    ).token
    headers = _working(place, token)
    gone = (datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None)
    with place.store.database.write() as conn:
        conn.execute(
            update(api_token)
            .where(api_token.c.token_hash == token_hash(token))
            .values(expires=gone)
        )
    return headers


def _revoked(place: Place) -> dict[str, str]:
    token = issue_token(
        place.store.database, Scopes.parse("user/*.cruds"), username="gp.a", client_name="tests"
    ).token
    headers = _working(place, token)
    assert revoke_token(place.store.database, token)
    return headers


def _of_disabled_user(place: Place) -> dict[str, str]:
    database = place.store.database
    add_user(
        database, "gp.left", "Dr Gone", "gp", practitioner_role_id="gp-a-role", store=place.store
    )
    token = issue_token(
        database, Scopes.parse("user/*.cruds"), username="gp.left", client_name="tests"
    ).token
    headers = _working(place, token)
    disable_user(database, "gp.left")
    return headers


UNUSABLE: dict[str, Callable[[Place], dict[str, str]]] = {
    "no header": lambda place: {},
    "empty header": lambda place: {"Authorization": ""},
    "basic credentials": lambda place: {"Authorization": "Basic Z3AuYTpwYXNzd29yZA=="},
    "bearer without a token": lambda place: {"Authorization": "Bearer "},
    "token without a scheme": lambda place: {"Authorization": place.tokens["gp.a"]},
    "two tokens": lambda place: {
        "Authorization": f"Bearer {place.tokens['gp.a']} {place.tokens['system']}"
    },
    "overlong token": lambda place: {"Authorization": "Bearer " + "A" * 5000},
    "unknown token": lambda place: {"Authorization": "Bearer " + "x" * 43},
    "token's hash as the token": lambda place: {
        "Authorization": f"Bearer {token_hash(place.tokens['gp.a'])}"
    },
    "expired token": _expired,
    "revoked token": _revoked,
    "token of a disabled user": _of_disabled_user,
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_without_a_usable_token_every_request_is_401_audited_and_writes_nothing(
    place: Place, case: str
) -> None:
    headers = UNUSABLE[case](place)
    new_patient = {
        "resourceType": "Patient",
        "name": [{"family": "Intruder"}],
        "generalPractitioner": [{"reference": "Organization/prac-a"}],
    }
    requests = [
        ("GET", f"{BASE}/Patient/alice", None),
        ("GET", f"{BASE}/Patient?name=Smith", None),
        ("POST", f"{BASE}/Patient", new_patient),
        ("PUT", f"{BASE}/Patient/alice", {**new_patient, "id": "alice"}),
        ("DELETE", f"{BASE}/Observation/obs-alice", None),
        ("GET", f"{BASE}/AuditEvent", None),
    ]
    for method, url, body in requests:
        mark = before(place.store)
        sent = {**headers, **FHIR_JSON} if body is not None else headers
        response = place.client.request(method, url, json=body, headers=sent)
        diagnostics = outcome(response, 401, "login")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "Bearer" in diagnostics
        refusals = refused_and_wrote_nothing(place.store, mark, username=None, event="refused")
        assert [e["entity"] for e in refusals] == [f"{method} {url.split('?')[0]}"]


def test_a_401_says_nothing_about_whether_the_record_exists(place: Place) -> None:
    there = place.client.get(f"{BASE}/Patient/alice")
    missing = place.client.get(f"{BASE}/Patient/nobody")
    assert there.status_code == missing.status_code == 401
    assert there.content == missing.content


def test_the_capability_statement_stays_open_and_names_the_security_service(
    place: Place,
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = place.client.get(f"{BASE}/metadata", headers=headers)
        assert response.status_code == 200, response.text
        security = response.json()["rest"][0]["security"]
        codes = [c["code"] for s in security["service"] for c in s["coding"]]
        assert codes == ["SMART-on-FHIR"]
        assert "Bearer" in security["description"]


def test_the_same_requests_with_a_good_token_work(place: Place) -> None:
    """The 401s above are about the token, not the requests."""
    assert place.get("gp.a", "Patient/alice").status_code == 200
    assert matched(place.get("gp.a", "Patient", params={"name": "Smith"})) == ["Patient/alice"]


# -- scopes never grant more than they say -------------------------------------------------------


def test_an_observation_token_cannot_create_observations_or_read_conditions(place: Place) -> None:
    assert place.get("gp.a observations", "Observation/obs-alice").status_code == 200
    mark = before(place.store)
    created = place.post("gp.a observations", "Observation", observation("x", "alice"))
    assert "scopes do not allow create on Observation" in outcome(created, 403, "forbidden")
    refused_and_wrote_nothing(place.store, mark, username="gp.a", event="create")
    mark = before(place.store)
    read = place.get("gp.a observations", "Condition/cond-alice")
    assert "scopes do not allow read on Condition" in outcome(read, 403, "forbidden")
    refused_and_wrote_nothing(place.store, mark, username="gp.a", event="read")
    mark = before(place.store)
    searched = place.get("gp.a observations", "Condition", params={"patient": "alice"})
    outcome(searched, 403, "forbidden")
    refused_and_wrote_nothing(place.store, mark, username="gp.a", event="search")


def test_a_token_that_may_read_but_not_search_cannot_search(place: Place) -> None:
    assert place.get("gp.a read only", "Patient/alice").status_code == 200
    for query in ("Patient?name=Smith", "Observation?patient=alice", "Patient?_summary=count"):
        mark = before(place.store)
        response = place.get("gp.a read only", query)
        assert "scopes do not allow search" in outcome(response, 403, "forbidden")
        refused_and_wrote_nothing(place.store, mark, username="gp.a", event="search")


def test_a_persons_token_cannot_reach_anyone_elses_record(place: Place) -> None:
    assert place.get("alice", "Patient/alice").status_code == 200
    assert place.get("alice", "Observation/obs-alice").status_code == 200
    for hidden, missing in (
        ("Patient/bob", "Patient/nobody"),
        ("Observation/obs-bob", "Observation/obs-nobody"),
        ("Observation/obs-joint", "Observation/obs-nobody"),
        ("Condition/cond-bob", "Condition/cond-nobody"),
    ):
        mark = before(place.store)
        response = place.get("alice", hidden)
        refused_and_wrote_nothing(place.store, mark, username="alice", event="read")
        same_as_missing(
            response, place.get("alice", missing), hidden.split("/")[1], missing.split("/")[1]
        )
    assert matched(place.get("alice", "Patient")) == ["Patient/alice"]
    assert matched(place.get("alice", "Observation", params={"patient": "bob"})) == []
    assert matched(place.get("alice", "Patient", params={"name": "Jones"})) == []


def test_a_persons_token_cannot_write_their_record(place: Place) -> None:
    """A patient/*.rs token reads; it neither changes nor adds to the record."""
    mark = before(place.store)
    current = place.get("alice", "Patient/alice").json()
    response = place.put("alice", "Patient/alice", {**current, "gender": "female"})
    outcome(response, 403, "forbidden")
    refused_and_wrote_nothing(place.store, mark, username="alice", event="update")


# -- roles limit what any token can do -----------------------------------------------------------


def test_a_volunteer_cannot_record_a_condition_whatever_their_token_says(place: Place) -> None:
    for subject in ("alice", "nobody"):
        mark = before(place.store)
        response = place.post("volunteer", "Condition", condition("x", subject))
        assert "volunteer role may not create Condition" in outcome(response, 403, "forbidden")
        refused_and_wrote_nothing(place.store, mark, username="volunteer", event="create")


def test_an_administrator_sees_the_directory_and_no_one(place: Place) -> None:
    found = place.get("admin", "Patient")
    assert found.json()["total"] == 0 and "entry" not in found.json()
    assert place.get("admin", "Patient", params={"_summary": "count"}).json()["total"] == 0
    assert matched(place.get("admin", "Observation", params={"patient": "alice"})) == []
    mark = before(place.store)
    same_as_missing(
        place.get("admin", "Patient/alice"), place.get("admin", "Patient/nobody"), "alice", "nobody"
    )
    refused_and_wrote_nothing(place.store, mark, username="admin", event="read")
    assert place.get("admin", "Organization/prac-a").json()["name"] == "Riverside Surgery"
    assert sorted(matched(place.get("admin", "Organization"))) == [
        "Organization/council",
        "Organization/prac-a",
        "Organization/prac-b",
    ]


# -- guessing the ids of another organisation's records ------------------------------------------


@pytest.mark.parametrize(
    ("hidden", "missing"),
    [
        ("Patient/bob", "Patient/nobody"),
        ("Observation/obs-bob", "Observation/obs-nobody"),
        ("Observation/obs-joint", "Observation/obs-nobody"),
        ("Condition/cond-bob", "Condition/cond-nobody"),
        # Deleted: "gone" (410) would say it once existed.
        ("Condition/cond-bob-gone", "Condition/cond-nobody"),
        ("Observation/obs-bob/_history/1", "Observation/obs-nobody/_history/1"),
        ("Observation/obs-bob/_history", "Observation/obs-nobody/_history"),
        ("Condition/cond-bob-gone/_history", "Condition/cond-nobody/_history"),
        ("Condition/cond-bob-gone/_history/1", "Condition/cond-nobody/_history/1"),
    ],
)
def test_another_organisations_record_is_answered_as_if_it_did_not_exist(
    place: Place, hidden: str, missing: str
) -> None:
    hidden_id, missing_id = hidden.split("/")[1], missing.split("/")[1]
    assert place.get("system", hidden).status_code in (200, 410)
    mark = before(place.store)
    response = place.get("gp.a", hidden)
    refused_and_wrote_nothing(place.store, mark, username="gp.a")
    same_as_missing(response, place.get("gp.a", missing), hidden_id, missing_id)


def test_a_version_from_before_a_record_was_visible_is_answered_as_missing(place: Place) -> None:
    """obs-moved was Bob's in version 1 and Alice's from version 2."""
    assert place.get("gp.a", "Observation/obs-moved").json()["meta"]["versionId"] == "2"
    assert place.get("system", "Observation/obs-moved/_history/1").status_code == 200
    mark = before(place.store)
    response = place.get("gp.a", "Observation/obs-moved/_history/1")
    refused_and_wrote_nothing(place.store, mark, username="gp.a", event="vread")
    never = place.get("gp.a", "Observation/obs-moved/_history/7")
    assert response.status_code == never.status_code == 404
    assert response.content.replace(b"1", b"7") == never.content


def test_counts_count_only_what_the_user_may_see(place: Place) -> None:
    expected = {
        "Patient": (1, 2),
        "Observation": (3, 5),  # Alice's own three; not Bob's, nor the one naming both
        "Condition": (1, 2),
    }
    for resource_type, (mine, all_) in expected.items():
        for params in ({"_summary": "count"}, {"_count": "0", "_total": "accurate"}):
            assert place.get("gp.a", resource_type, params=params).json()["total"] == mine
            assert place.get("system", resource_type, params=params).json()["total"] == all_
    paged = place.get("gp.a", "Observation", params={"_count": "1", "_total": "accurate"})
    assert paged.json()["total"] == 3
    names = place.get("gp.a", "Patient", params={"name": "Jones", "_summary": "count"})
    assert names.json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "theirs"),
    [
        ("Observation?_id=obs-alice-panel&_include=Observation:has-member", "Observation/obs-bob"),
        ("Patient?_id=alice&_include=Patient:link", "Patient/bob"),
        ("Patient?_id=alice&_revinclude=Observation:subject", "Observation/obs-joint"),
        ("Patient?_id=alice&_revinclude=Observation:patient", "Observation/obs-joint"),
        (
            "Patient?_id=alice&_revinclude=Observation:subject"
            "&_include:iterate=Observation:has-member",
            "Observation/obs-bob",
        ),
        ("Observation?_id=obs-joint&_include=Observation:performer", "Patient/bob"),
        ("Condition?_include=Condition:subject", "Patient/bob"),
    ],
)
def test_includes_never_bring_hidden_records(place: Place, query: str, theirs: str) -> None:
    assert theirs in everything(place.get("system", query))
    mine = everything(place.get("gp.a", query))
    assert theirs not in mine
    assert not [r for r in mine if r.endswith(("/bob", "obs-bob", "obs-joint", "cond-bob"))]


@pytest.mark.parametrize(
    "query",
    [
        "Observation?has-member:Observation.code:text=Viral",
        "Observation?has-member:Observation.subject=Patient/bob",
        "Patient?link:Patient.family=Jones",
        "Patient?link:Patient.identifier=9990000026",
        "Observation?subject:Patient.family=Jones",
    ],
)
def test_chained_searches_cannot_test_what_a_hidden_record_says(place: Place, query: str) -> None:
    assert matched(place.get("system", query))
    assert matched(place.get("gp.a", query)) == []


def test_history_never_shows_hidden_versions(place: Place) -> None:
    def versions(response: httpx.Response) -> set[tuple[str, str]]:
        assert response.status_code == 200, response.text
        return {
            (
                f"{e['resource']['resourceType']}/{e['resource']['id']}",
                e["resource"]["meta"]["versionId"],
            )
            for e in response.json().get("entry", [])
            if "resource" in e
        }

    assert versions(place.get("gp.a", "Observation/_history")) == {
        ("Observation/obs-alice", "1"),
        ("Observation/obs-alice-panel", "1"),
        ("Observation/obs-moved", "2"),
    }
    assert versions(place.get("gp.a", "Observation/obs-moved/_history")) == {
        ("Observation/obs-moved", "2")
    }
    assert ("Observation/obs-moved", "1") in versions(
        place.get("system", "Observation/obs-moved/_history")
    )
    assert versions(place.get("gp.a", "Patient/_history")) == {
        ("Patient/alice", "1"),
        ("Patient/alice", "2"),
    }
    assert versions(place.get("gp.a", "Condition/_history")) == {("Condition/cond-alice", "1")}
    seen = {r for r, _ in versions(place.get("gp.a", "_history", params={"_count": "1000"}))}
    assert "Patient/alice" in seen
    assert not [r for r in seen if "bob" in r or r == "Observation/obs-joint"]
    # Deleting leaves a version without content: it must not slip through either.
    history = place.get("gp.a", "Condition/_history").json()
    assert [e["fullUrl"].rsplit("/", 1)[1] for e in history["entry"]] == ["cond-alice"]


def test_everything_shows_only_what_the_user_may_see(place: Place) -> None:
    def listed(who: str) -> set[str]:
        response = place.get(who, "Patient/alice/$everything", params={"_count": "1000"})
        assert response.status_code == 200, response.text
        return {
            f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in response.json().get("entry", [])
        }

    mine, everyone = listed("gp.a"), listed("system")
    assert {"Patient/alice", "Observation/obs-alice", "Observation/obs-moved"} <= mine
    assert "Observation/obs-joint" in everyone - mine  # it names Bob, whom gp.a may not see
    for name in mine:
        assert place.get("gp.a", name).status_code == 200, name
    for name in everyone - mine:
        assert place.get("gp.a", name).status_code == 404, name
    hidden = place.get("gp.a", "Patient/bob/$everything")
    same_as_missing(hidden, place.get("gp.a", "Patient/nobody/$everything"), "bob", "nobody")


# -- Bundles -------------------------------------------------------------------------------------


def _entry(body: dict[str, Any]) -> dict[str, Any]:
    url = f"{body['resourceType']}/{body['id']}"
    return {"fullUrl": f"{BASE}/{url}", "resource": body, "request": {"method": "PUT", "url": url}}


def _bundle(kind: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def test_a_transaction_about_someone_hidden_is_refused_whole(place: Place) -> None:
    answers = {}
    for other in ("bob", "nobody"):
        mark = before(place.store)
        bundle = _bundle(
            "transaction",
            [_entry(observation("tx-alice", "alice")), _entry(observation("tx-other", other))],
        )
        response = place.post("gp.a", "", bundle)
        answers[other] = response
        refused_and_wrote_nothing(place.store, mark, username="gp.a", event="transaction")
    assert answers["bob"].status_code == answers["nobody"].status_code
    assert answers["bob"].status_code in (403, 404)
    assert answers["bob"].content == answers["nobody"].content
    assert place.get("system", "Observation/tx-alice").status_code == 404


def test_a_transaction_reading_or_changing_a_hidden_record_is_refused_whole(place: Place) -> None:
    def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
        return _bundle("transaction", [_entry(observation("tx-alice", "alice")), *entries])

    mark = before(place.store)
    response = place.post(
        "gp.a", "", transaction({"request": {"method": "GET", "url": "Observation/obs-bob"}})
    )
    assert "Observation/obs-bob is not known" in outcome(response, 404, "not-found")
    refused_and_wrote_nothing(place.store, mark, username="gp.a", event="transaction")
    missing = place.post(
        "gp.a", "", transaction({"request": {"method": "GET", "url": "Observation/obs-nobody"}})
    )
    assert response.content.replace(b"obs-bob", b"obs-nobody") == missing.content
    mark = before(place.store)
    changed = place.post("gp.a", "", transaction(_entry(observation("obs-bob", "alice"))))
    outcome(changed, 404, "not-found")
    refused_and_wrote_nothing(place.store, mark, username="gp.a", event="transaction")
    assert place.get("system", "Observation/obs-bob").json()["subject"]["reference"] == (
        "Patient/bob"
    )


def test_deleting_a_hidden_record_in_a_bundle_is_deleting_nothing(place: Place) -> None:
    """A Bundle's DELETE of what is not there is a no-op (204); so is one of a hidden record,
    which stays as it was."""
    answers = {}
    for target in ("obs-bob", "obs-nobody"):
        bundle = _bundle(
            "batch", [{"request": {"method": "DELETE", "url": f"Observation/{target}"}}]
        )
        answers[target] = place.post("gp.a", "", bundle)
    assert answers["obs-bob"].status_code == answers["obs-nobody"].status_code == 200
    assert answers["obs-bob"].json()["entry"] == answers["obs-nobody"].json()["entry"]
    assert answers["obs-bob"].json()["entry"][0]["response"]["status"].startswith("204")
    assert place.get("system", "Observation/obs-bob").json()["meta"]["versionId"] == "1"
    mark = before(place.store)
    direct = place.delete("gp.a", "Observation/obs-bob")
    same_as_missing(direct, place.delete("gp.a", "Observation/obs-nobody"), "obs-bob", "obs-nobody")
    refused_and_wrote_nothing(place.store, mark, username="gp.a", event="delete")
    assert place.get("system", "Observation/obs-bob").json()["meta"]["versionId"] == "1"


def test_a_batch_fails_only_the_entries_about_someone_hidden(place: Place) -> None:
    mark = before(place.store)
    bundle = _bundle(
        "batch",
        [
            _entry(observation("batch-alice", "alice")),
            _entry(observation("batch-bob", "bob")),
            {"request": {"method": "GET", "url": "Observation/obs-bob"}},
            _entry(observation("obs-bob", "alice")),
        ],
    )
    response = place.post("gp.a", "", bundle)
    audited = audit_since(place.store, mark)
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"].split()[0] for e in response.json()["entry"]]
    assert statuses == ["201", "403", "404", "404"]
    assert place.get("gp.a", "Observation/batch-alice").status_code == 200
    assert place.get("system", "Observation/batch-bob").status_code == 404
    assert place.get("system", "Observation/obs-bob").json()["meta"]["versionId"] == "1"
    # Each refused entry is a refusal like any other: in the audit trail.
    refusals = [e for e in audited if e["outcome"] == "4"]
    assert len(refusals) >= 3, f"refused batch entries were not audited: {audited}"
    assert {e["username"] for e in refusals} == {"gp.a"}


def test_patching_a_hidden_record_is_patching_nothing(place: Place) -> None:
    """A patch of a hidden record answers as one of a missing record, even one whose `test`
    would have told the caller what the record holds, and changes nothing."""
    answers = {}
    probe = [
        {"op": "test", "path": "/subject/reference", "value": "Patient/bob"},
        {"op": "replace", "path": "/status", "value": "amended"},
    ]
    for target in ("obs-bob", "obs-nobody"):
        mark = before(place.store)
        answers[target] = place.client.request(
            "PATCH",
            f"{BASE}/Observation/{target}",
            json=probe,
            headers={**place.auth("gp.a"), "Content-Type": "application/json-patch+json"},
        )
        refused_and_wrote_nothing(place.store, mark, username="gp.a", event="patch")
    same_as_missing(answers["obs-bob"], answers["obs-nobody"], "obs-bob", "obs-nobody")
    assert place.get("system", "Observation/obs-bob").json()["meta"]["versionId"] == "1"


def test_writing_a_reference_does_not_tell_whether_a_hidden_record_exists(place: Place) -> None:
    """Referring to another organisation's record must be answered as referring to nothing,
    or the integrity check becomes a way to find out which ids exist."""
    answers = {}
    for target in ("obs-bob", "obs-nobody"):
        mark = before(place.store)
        body = observation(
            f"probe-{target}", "alice", hasMember=[{"reference": f"Observation/{target}"}]
        )
        answers[target] = place.put("gp.a", f"Observation/probe-{target}", body)
        after = before(place.store)
        assert (after.resources, after.versions) == (mark.resources, mark.versions), (
            f"PUT Observation/probe-{target} (hasMember Observation/{target}) was saved: "
            f"{answers[target].status_code}"
        )
    assert answers["obs-bob"].status_code == answers["obs-nobody"].status_code
    assert answers["obs-bob"].content.replace(b"obs-bob", b"obs-nobody") == (
        answers["obs-nobody"].content
    )


# -- injection -------------------------------------------------------------------------------------


INJECTIONS = [
    ("name", "' OR 1=1 --"),
    ("name", "Smith' OR '1'='1"),
    ("family", "Jones'; DROP TABLE resource; --"),
    ("_id", "x' OR '1'='1"),
    ("_id", "alice,bob"),
    ("_id", "bob"),
    ("identifier", f"{NHS}|9990000026' OR 1=1 --"),
    ("identifier", "9990000026"),
    ("general-practitioner", "Organization/prac-b"),
    ("general-practitioner", "Organization/prac-b' OR '1'='1"),
    ("_sort", "name;DROP TABLE resource"),
    ("_sort", "-family); DELETE FROM resource; --"),
    ("_count", "1; DROP TABLE resource"),
    ("_lastUpdated", "gt2000-01-01' OR 1=1 --"),
    ("birthdate", "1' OR '1'='1"),
    ("name", "%"),
    ("name", "_"),
    ("name:contains", "%"),
    ("name:exact", "Jones"),
    ("name", "\u202e\u0000"),
    ("name", "Smith\u0000' OR 1=1"),
    ("name", "J\u00f6nes\U0001f600' --"),
    ("name", "\ufffd\ud7ff"),
    ("_include", "Patient:link' OR 1=1"),
    ("_has:Observation:subject:code", "x"),
    ("link:Patient._id", "bob"),
]


@pytest.mark.parametrize(("param", "value"), INJECTIONS)
def test_injection_in_search_parameters_is_refused_or_finds_only_ones_own(
    place: Place, param: str, value: str
) -> None:
    mark = before(place.store)
    response = place.get("gp.a", "Patient", params={param: value})
    assert response.status_code in (200, 400), response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    if response.status_code == 200:
        assert set(everything(response)) <= {"Patient/alice"}
        entries = str(response.json().get("entry", []))
        assert "Jones" not in entries and "9990000026" not in entries
    else:
        outcome(response, 400, response.json()["issue"][0]["code"])
    after = before(place.store)
    assert (after.resources, after.versions) == (mark.resources, mark.versions)
    with place.store.database.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM resource")).scalar_one() > 0


def test_like_wildcards_are_not_wildcards(place: Place) -> None:
    """A string search is a prefix match on the characters given, '%' and '_' included."""
    for value in ("%", "_", "%mith", "Sm_th"):
        assert matched(place.get("system", "Patient", params={"name": value})) == []
        assert matched(place.get("system", "Patient", params={"name:contains": value})) == []
    assert matched(place.get("system", "Patient", params={"name": "Smi"})) == ["Patient/alice"]


# -- stored cross-site scripting -------------------------------------------------------------------


def test_markup_in_a_record_comes_back_as_json_unchanged(place: Place) -> None:
    script = "<script>alert(1)</script>"
    image = '<img src=x onerror="alert(document.cookie)">'
    body = {
        "resourceType": "Patient",
        "name": [{"family": script, "given": [image]}],
        "generalPractitioner": [{"reference": "Organization/prac-a"}],
    }
    created = place.post("gp.a", "Patient", body)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/fhir+json")
    new_id = created.json()["id"]
    for accept in (None, "*/*", "text/html,application/fhir+json;q=0.9"):
        headers = {**place.auth("gp.a"), **({"Accept": accept} if accept else {})}
        for url in (f"{BASE}/Patient/{new_id}", f"{BASE}/Patient?_id={new_id}"):
            response = place.client.get(url, headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("application/fhir+json")
            assert "text/html" not in response.headers["content-type"]
            found = response.json()
            patient = found if found["resourceType"] == "Patient" else found["entry"][0]["resource"]
            assert patient["name"] == [{"family": script, "given": [image]}]
    html_only = place.client.get(
        f"{BASE}/Patient/{new_id}", headers={**place.auth("gp.a"), "Accept": "text/html"}
    )
    assert html_only.status_code == 406
    assert html_only.headers["content-type"].startswith("application/fhir+json")
    assert script not in html_only.text


# -- the audit trail cannot be written through the API ---------------------------------------------


AUDIT_WRITES = {
    "create": ("POST", "AuditEvent"),
    "update": ("PUT", "AuditEvent/1"),
    "create with an id": ("PUT", "AuditEvent/999999"),
    "delete": ("DELETE", "AuditEvent/1"),
    "conditional delete": ("DELETE", "AuditEvent?patient=alice"),
    "conditional update": ("PUT", "AuditEvent?patient=alice"),
    "patch": ("PATCH", "AuditEvent/1"),
    "transaction": ("POST", ""),
}


@pytest.mark.parametrize("who", ["system", "gp.a"])
@pytest.mark.parametrize("attempt", list(AUDIT_WRITES))
def test_audit_events_cannot_be_written_through_the_api(
    place: Place, who: str, attempt: str
) -> None:
    assert place.get("gp.a", "Patient/alice").status_code == 200  # audit entry 1
    first = place.get("system", "AuditEvent/1")
    assert first.status_code == 200, first.text
    event = first.json()
    fresh = {k: v for k, v in event.items() if k not in ("id", "meta")}
    bodies: dict[str, Any] = {
        "create": fresh,
        "update": {**fresh, "id": "1", "outcome": "8"},
        "create with an id": {**fresh, "id": "999999"},
        "conditional update": fresh,
        "patch": [{"op": "replace", "path": "/outcome", "value": "8"}],
        "transaction": _bundle(
            "transaction", [{"resource": fresh, "request": {"method": "POST", "url": "AuditEvent"}}]
        ),
    }
    with place.store.database.read() as conn:
        chain = conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by("seq")).all()
    method, path = AUDIT_WRITES[attempt]
    body = bodies.get(attempt)
    mark = before(place.store)
    url = f"{BASE}/{path}" if path else BASE
    sent_as = {"Content-Type": "application/json-patch+json"} if method == "PATCH" else FHIR_JSON
    headers = {**place.auth(who), **(sent_as if body is not None else {})}
    response = place.client.request(method, url, json=body, headers=headers)
    outcome(response, 403, "forbidden")
    new = audit_since(place.store, mark)
    assert [(e["outcome"], e["username"]) for e in new] == [("4", username_of(who))]
    refused_and_wrote_nothing(place.store, mark, username=username_of(who))
    with place.store.database.read() as conn:
        kept = conn.execute(
            select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.seq <= chain[-1][0])
        ).all()
        stored = conn.execute(
            select(func.count())
            .select_from(resource)
            .where(resource.c.resource_type == "AuditEvent")
        ).scalar_one()
    assert [tuple(row) for row in kept] == [tuple(row) for row in chain]
    assert stored == 0
    assert verify_chain(place.store.database).ok
    assert place.get("system", "AuditEvent/1").json() == event
