"""AuditEvent in the FHIR API, over HTTP on SQLite and PostgreSQL: "who looked at my record" for
a person and their carer, the organisation's entries for its Caldicott guardian, everything for
a platform integration, nothing for anyone else; and `careweave audit verify` finding an edit.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner, Result

from careweave.access.accounts import add_user
from careweave.access.audit import chain_head
from careweave.access.scopes import Scopes
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.access.tokens import issue_token
from careweave.api.app import create_app
from careweave.api.audit_routes import recorded_between
from careweave.cli import app as cli
from careweave.fhir.validation import validate_resource
from careweave.settings import Settings
from careweave.store.access_tables import audit_log
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from tests.api.test_access import build_place, put

BASE = "/fhir/R4"
USERNAME_SYSTEM = "https://fhir.careweave.example/Id/username"
runner = CliRunner()

# token name -> (username or None for a platform integration, scopes)
TOKENS: dict[str, tuple[str | None, str]] = {
    "gp.a": ("gp.a", "user/*.rs"),
    "gp.b": ("gp.b", "user/*.rs"),
    "guardian.a": ("guardian.a", "user/*.rs"),
    "alice": ("alice", "patient/*.rs"),
    "carer": ("carer", "patient/*.rs"),
    "bob": ("bob", "patient/*.rs"),
    "system": (None, "system/*.rs"),
}


def add_people(store: FhirStore) -> None:
    """The place of test_access, its agreement, and the people who read its trail: practice A's
    GP and its Caldicott guardian, practice B's GP, Alice, her carer, and Bob."""
    database = store.database
    build_place(store)
    put(
        store,
        {
            "resourceType": "RelatedPerson",
            "id": "rp-alice",
            "active": True,
            "patient": {"reference": "Patient/alice"},
            "name": [{"family": "Smith", "given": ["Carol"]}],
        },
    )
    save_agreement(database, "test", DEFAULT_TERMS)
    add_user(database, "gp.a", "Dr Asha Patel", "gp", practitioner_role_id="gp-a-role", store=store)
    add_user(database, "gp.b", "Dr Ben Hill", "gp", practitioner_role_id="gp-b-role", store=store)
    add_user(
        database,
        "guardian.a",
        "Grace Guardian",
        "gp",
        organisation_id="prac-a",
        caldicott_guardian=True,
        store=store,
    )
    add_user(database, "alice", "Alice Smith", "patient", patient_id="alice", store=store)
    add_user(database, "bob", "Bob Jones", "patient", patient_id="bob", store=store)
    add_user(database, "carer", "Carol Smith", "carer", related_person_id="rp-alice", store=store)


@dataclass
class Trail:
    client: TestClient
    store: FhirStore
    tokens: dict[str, str]

    def get(self, who: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("http") else f"{BASE}/{path}"
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        response: httpx.Response = self.client.get(url, headers=headers, **kwargs)
        return response

    def events(self, who: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every AuditEvent `who` may read with these parameters (one large page)."""
        response = self.get(who, "AuditEvent", params={"_count": "1000", **(params or {})})
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
        return [entry["resource"] for entry in bundle.get("entry", [])]


def issue_tokens(store: FhirStore) -> dict[str, str]:
    return {
        name: issue_token(
            store.database, Scopes.parse(scope), username=username, client_name=f"tests: {name}"
        ).token
        for name, (username, scope) in TOKENS.items()
    }


def gp_traffic(trail: Trail) -> None:
    """Practice A's GP looks at Alice's record; practice B's GP at Bob's."""
    for who, path in (
        ("gp.a", "Patient/alice"),
        ("gp.a", "Observation?patient=alice"),
        ("gp.b", "Patient/bob"),
        ("gp.b", "Condition?patient=bob"),
    ):
        assert trail.get(who, path).status_code == 200


@pytest.fixture
def trail(store: FhirStore, database_url: str) -> Iterator[Trail]:
    add_people(store)
    app = create_app(Settings(database_url=database_url), store)
    with TestClient(app, base_url="http://testserver") as client:
        trail = Trail(client, store, issue_tokens(store))
        gp_traffic(trail)
        yield trail


def patients_of(event: dict[str, Any]) -> set[str]:
    return {
        entity["what"]["reference"]
        for entity in event.get("entity", [])
        if entity.get("what", {}).get("reference", "").startswith("Patient/")
    }


def username_in(event: dict[str, Any]) -> str | None:
    for agent in event["agent"]:
        if agent.get("requestor"):
            identifier = agent.get("who", {}).get("identifier", {})
            assert identifier.get("system", USERNAME_SYSTEM) == USERNAME_SYSTEM
            return identifier.get("value")  # type: ignore[no-any-return]
    return None


def organisations_in(event: dict[str, Any]) -> set[str]:
    return {
        agent["who"]["reference"]
        for agent in event["agent"]
        if agent.get("who", {}).get("reference", "").startswith("Organization/")
    }


def audit_rows(store: FhirStore, after: int = 0) -> list[dict[str, Any]]:
    a = audit_log
    columns = (a.c.seq, a.c.event, a.c.outcome, a.c.username, a.c.patient_id, a.c.entity)
    with store.database.read() as conn:
        rows = conn.execute(select(*columns).where(a.c.seq > after).order_by(a.c.seq)).all()
    return [dict(row._mapping) for row in rows]


def last_seq(store: FhirStore) -> int:
    with store.database.read() as conn:
        return int(conn.execute(select(func.coalesce(func.max(audit_log.c.seq), 0))).scalar_one())


# -- a person, and their carer, see who looked at their record -----------------------------------


@pytest.mark.parametrize("reader", ["alice", "carer"])
def test_a_person_and_their_carer_see_who_looked_at_the_record(trail: Trail, reader: str) -> None:
    events = trail.events(reader)
    assert events, "nothing about Alice's record was found"
    assert all(patients_of(event) == {"Patient/alice"} for event in events)
    gp_read = [
        e
        for e in events
        if username_in(e) == "gp.a"
        and any(c["code"] == "read" for c in e["subtype"])
        and any(x.get("what", {}).get("reference") == "Patient/alice" for x in e["entity"])
    ]
    assert len(gp_read) == 1
    named = gp_read[0]
    assert named["action"] == "R" and named["outcome"] == "0"
    requestor = next(agent for agent in named["agent"] if agent["requestor"])
    assert requestor["who"]["display"] == "Dr Asha Patel"
    assert requestor["who"]["reference"] == "PractitionerRole/gp-a-role"
    assert organisations_in(named) == {"Organization/prac-a"}
    searched = [e for e in events if any(c["code"] == "search" for c in e["subtype"])]
    assert [username_in(e) for e in searched] == ["gp.a"]
    assert "gp.b" not in {username_in(e) for e in events}


@pytest.mark.parametrize("reader", ["alice", "carer"])
@pytest.mark.parametrize(
    "params",
    [
        {"patient": "bob"},
        {"patient": "Patient/bob"},
        {"altid": "gp.b"},
        {"agent": "Organization/prac-b"},
        {"patient": "bob", "altid": "gp.b"},
    ],
)
def test_asking_about_someone_else_finds_nothing(
    trail: Trail, reader: str, params: dict[str, str]
) -> None:
    response = trail.get(reader, "AuditEvent", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["resourceType"] == "Bundle"
    assert "entry" not in response.json()


def test_a_persons_own_filters_narrow_their_own_entries(trail: Trail) -> None:
    everything = trail.events("alice")
    assert trail.events("alice", {"patient": "alice"}) == everything
    by_gp = trail.events("alice", {"altid": "gp.a"})
    assert by_gp and {username_in(e) for e in by_gp} == {"gp.a"}
    assert trail.events("alice", {"agent": "Organization/prac-a"}) == by_gp


def test_bob_sees_his_own_record_and_not_alices(trail: Trail) -> None:
    events = trail.events("bob")
    assert events and all(patients_of(e) == {"Patient/bob"} for e in events)
    assert {username_in(e) for e in events} == {"gp.b"}


# -- the Caldicott guardian, other staff, integrations ------------------------------------------


def test_a_caldicott_guardian_reads_their_organisations_entries_only(trail: Trail) -> None:
    events = trail.events("guardian.a")
    assert events
    assert all(organisations_in(e) == {"Organization/prac-a"} for e in events)
    users = {username_in(e) for e in events}
    assert "gp.a" in users and "gp.b" not in users
    assert not any("Patient/bob" in patients_of(e) for e in events)
    assert trail.events("guardian.a", {"agent": "Organization/prac-b"}) == []
    assert trail.events("guardian.a", {"altid": "gp.b"}) == []
    assert trail.events("guardian.a", {"patient": "bob"}) == []


def test_a_count_is_what_the_pages_hold_and_stays_within_what_the_reader_may_see(
    trail: Trail,
) -> None:
    # Reading the trail is audited too: compare only what was there before these readings.
    before = {"date": "lt" + datetime.now(UTC).isoformat().replace("+00:00", "Z")}

    def count(who: str, params: dict[str, str]) -> int:
        response = trail.get(who, "AuditEvent", params={**params, "_summary": "count"})
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert "entry" not in bundle
        return int(bundle["total"])

    for who, params in [
        ("guardian.a", before),
        ("guardian.a", {**before, "patient": "alice"}),
        ("guardian.a", {**before, "altid": "gp.a"}),
        ("system", before),
        ("alice", before),
    ]:
        expected = len(trail.events(who, params))
        assert expected > 0 and count(who, params) == expected, (who, params)
    assert count("guardian.a", {"patient": "bob"}) == 0
    assert count("system", {"patient": "bob"}) > 0
    refused = trail.get("system", "AuditEvent", params={"_summary": "true"})
    assert refused.status_code == 400


def test_the_trail_is_searched_by_date(trail: Trail) -> None:
    """A date filter was a 500 until it met the trail's timezone-aware queries."""
    day = trail.events("guardian.a")[0]["recorded"][:10]
    that_day = trail.events("guardian.a", {"date": day})  # the whole of that day
    assert that_day and all(e["recorded"].startswith(day) for e in that_day)
    assert trail.events("guardian.a", {"date": "ge2020"})
    assert trail.events("guardian.a", {"date": "lt2020"}) == []
    assert trail.events("guardian.a", {"date": "ge2999-01-01T00:00:00Z"}) == []


def test_date_prefixes_treat_each_value_as_a_period_and_repeated_values_all_hold() -> None:
    day, next_day = datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC)
    assert recorded_between(["2026-03-05"]) == (day, next_day)
    assert recorded_between(["eq2026-03-05"]) == (day, next_day)
    assert recorded_between(["ge2026-03-05"]) == (day, None)
    assert recorded_between(["gt2026-03-05"]) == (next_day, None)  # after the whole day
    assert recorded_between(["le2026-03-05"]) == (None, next_day)
    assert recorded_between(["lt2026-03-05"]) == (None, day)  # before the day begins
    assert recorded_between(["ge2026-03", "lt2026-03-05"]) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        day,
    )
    assert recorded_between(["ge2999", "ge2020"]) == (datetime(2999, 1, 1, tzinfo=UTC), None)
    assert recorded_between(["le2020", "le2999"]) == (None, datetime(2021, 1, 1, tzinfo=UTC))
    assert recorded_between([]) == (None, None)


def test_gt_and_lt_leave_out_the_second_they_name(trail: Trail) -> None:
    """`gt` and `lt` took in the whole period they name, as `ge` and `le` do, and a repeated
    `date` kept only its last value."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    before_now = f"le{now}"  # reading the trail adds entries: look only at those already there
    everything = trail.events("system", {"date": before_now})
    second = datetime_of(everything[len(everything) // 2])[:19]  # YYYY-MM-DDThh:mm:ss

    def ids(prefix: str) -> set[str]:
        found = trail.get(
            "system",
            "AuditEvent",
            params=[("date", before_now), ("date", f"{prefix}{second}Z"), ("_count", "1000")],
        )
        assert found.status_code == 200, found.text
        return {e["resource"]["id"] for e in found.json().get("entry", [])}

    def expected(keep: Callable[[str], bool]) -> set[str]:
        return {e["id"] for e in everything if keep(datetime_of(e)[:19])}

    assert ids("eq") == expected(lambda at: at == second) != set()
    assert ids("gt") == expected(lambda at: at > second)
    assert ids("ge") == expected(lambda at: at >= second)
    assert ids("lt") == expected(lambda at: at < second)
    assert ids("le") == expected(lambda at: at <= second)
    assert trail.events("system", {"date": before_now}) == everything


def datetime_of(event: dict[str, Any]) -> str:
    """An entry's recording time in UTC, as ISO text."""
    return datetime.fromisoformat(event["recorded"]).astimezone(UTC).isoformat()


@pytest.mark.parametrize("name", ["patient", "agent", "altid", "date"])
def test_a_nul_character_in_a_filter_is_a_400_not_a_server_error(trail: Trail, name: str) -> None:
    """PostgreSQL text cannot hold NUL: the filter reached the query and failed there (a 500)
    until the fuzzing of this route sent one."""
    response = trail.get("system", "AuditEvent", params={name: "a\x00b"})
    assert response.status_code == 400, response.text
    assert "NUL character" in response.json()["issue"][0]["diagnostics"]


def test_staff_who_are_not_guardians_may_not_read_the_trail(trail: Trail) -> None:
    for path in ("AuditEvent", "AuditEvent?patient=alice", "AuditEvent/1"):
        before = last_seq(trail.store)
        response = trail.get("gp.a", path)
        assert response.status_code == 403, response.text
        assert [i["code"] for i in response.json()["issue"]] == ["forbidden"]
        refusals = [e for e in audit_rows(trail.store, before) if e["outcome"] == "4"]
        assert [e["username"] for e in refusals] == ["gp.a"], (
            f"GET {path} by gp.a was refused but not audited: {audit_rows(trail.store, before)}"
        )


def test_a_platform_integration_reads_everything(trail: Trail) -> None:
    stored = len(audit_rows(trail.store))
    events = trail.events("system")
    assert len(events) == stored
    users = {username_in(e) for e in events}
    assert {"gp.a", "gp.b"} <= users
    assert {"Patient/alice", "Patient/bob"} <= set().union(*(patients_of(e) for e in events))


def test_an_organisations_integration_may_not_read_the_trail(trail: Trail) -> None:
    token = issue_token(
        trail.store.database,
        Scopes.parse("system/*.rs"),
        client_name="practice A's integration",
        organisation_id="prac-a",
    ).token
    response = trail.client.get(f"{BASE}/AuditEvent", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403, response.text


def test_someone_elses_entry_is_not_found(trail: Trail) -> None:
    bobs = [row["seq"] for row in audit_rows(trail.store) if row["patient_id"] == "bob"]
    alices = [row["seq"] for row in audit_rows(trail.store) if row["patient_id"] == "alice"]
    assert bobs and alices
    mine = trail.get("alice", f"AuditEvent/{alices[0]}")
    assert mine.status_code == 200, mine.text
    assert mine.json() in trail.events("alice")
    missing_id = last_seq(trail.store) + 1000
    for who in ("alice", "carer", "guardian.a"):
        hidden = trail.get(who, f"AuditEvent/{bobs[0]}")
        missing = trail.get(who, f"AuditEvent/{missing_id}")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.content.replace(str(bobs[0]).encode(), str(missing_id).encode()) == (
            missing.content
        )
    assert trail.get("system", f"AuditEvent/{bobs[0]}").status_code == 200


def test_pages_follow_next_links_to_the_end(trail: Trail) -> None:
    for _ in range(9):
        assert trail.get("gp.a", "Observation/obs-alice").status_code == 200
    everything = [e["id"] for e in trail.events("alice")]
    assert len(everything) >= 10
    seen: list[str] = []
    url = "AuditEvent?_count=3"
    pages = 0
    while url:
        response = trail.get("alice", url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        page = [entry["resource"]["id"] for entry in bundle.get("entry", [])]
        assert 1 <= len(page) <= 3
        seen += page
        pages += 1
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert "_count=3" in links["self"]
        url = links.get("next", "")
        assert pages <= len(everything)
    assert seen == everything
    assert pages == -(-len(everything) // 3)


def test_every_audit_event_served_is_valid_fhir_r4(trail: Trail) -> None:
    assert trail.get("gp.a", "Patient/bob").status_code == 404  # a refusal too
    assert trail.client.get(f"{BASE}/Patient").status_code == 401  # and an unknown caller
    served = trail.events("system") + trail.events("alice") + trail.events("guardian.a")
    assert len({e["resourceType"] for e in served}) == 1
    outcomes = set()
    for event in served:
        assert validate_resource(event, expected_type="AuditEvent", expected_id=event["id"])
        outcomes.add(event["outcome"])
    assert outcomes == {"0", "4"}
    one = trail.get("system", f"AuditEvent/{served[0]['id']}").json()
    assert validate_resource(one, expected_type="AuditEvent", expected_id=served[0]["id"])


def test_reading_the_trail_is_itself_audited(trail: Trail) -> None:
    before = last_seq(trail.store)
    trail.events("alice")
    entry = trail.events("alice")[0]["id"]
    trail.get("carer", f"AuditEvent/{entry}")
    rows = audit_rows(trail.store, before)
    assert [(r["username"], r["outcome"]) for r in rows] == [
        ("alice", "0"),
        ("alice", "0"),
        ("carer", "0"),
    ]
    assert all(r["entity"].startswith("AuditEvent") for r in rows)
    assert rows[-1]["entity"] == f"AuditEvent/{entry}"


# -- careweave audit verify ------------------------------------------------------------------------


def invoke(command: str, url: str) -> Result:
    return runner.invoke(
        cli, [*shlex.split(command), "--database-url", url], env={"COLUMNS": "250"}
    )


def test_audit_verify_passes_after_api_traffic_and_names_an_edited_entry(
    database_url: str,
) -> None:
    upgraded = invoke("db upgrade", database_url)
    assert upgraded.exit_code == 0, upgraded.output
    store = FhirStore(open_database(database_url))
    try:
        add_people(store)
        app = create_app(Settings(database_url=database_url), store)
        with TestClient(app, base_url="http://testserver") as client:
            trail = Trail(client, store, issue_tokens(store))
            gp_traffic(trail)
            assert trail.get("gp.a", "Patient/bob").status_code == 404
            assert trail.events("alice")
        head = chain_head(store.database)
        assert head is not None and head[0] >= 6
        verified = invoke("audit verify", database_url)
        assert verified.exit_code == 0, verified.output
        assert f"{head[0]} entries checked; the chain is intact." in verified.output
        assert verified.output.strip().splitlines()[-1] == head[1]
        assert invoke(f"audit verify --expect-head {head[1]}", database_url).exit_code == 0
        with store.database.read() as conn:
            content = conn.execute(
                select(audit_log.c.content).where(audit_log.c.seq == 2)
            ).scalar_one()
        edited = orjson.loads(content)
        edited["agent"][0]["who"]["display"] = "Someone Else"
        with store.database.write() as conn:
            conn.execute(
                update(audit_log)
                .where(audit_log.c.seq == 2)
                .values(content=orjson.dumps(edited, option=orjson.OPT_SORT_KEYS).decode())
            )
        tampered = invoke("audit verify", database_url)
        assert tampered.exit_code != 0
        assert "entry 2" in tampered.output
        assert "tampered" in tampered.output
        assert "entry 1:" not in tampered.output and "entry 3:" not in tampered.output
    finally:
        store.database.dispose()
