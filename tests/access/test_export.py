"""`careweave export`: bulk export through the same rules and audit as the API, on SQLite and
PostgreSQL. A planning extract leaves out people with a national data opt-out; a direct-care
export holds only what its user may see; every person whose records left is in the trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from typer.testing import CliRunner

from careweave import cli
from careweave.access.accounts import add_user
from careweave.access.consent import CONSENT_CATEGORY_SYSTEM, NATIONAL_DATA_OPT_OUT
from careweave.access.sharing import DEFAULT_TERMS, save_agreement
from careweave.store.access_tables import audit_log
from careweave.store.database import open_database
from careweave.store.migrate import upgrade
from careweave.store.repository import FhirStore

NHS = "https://fhir.nhs.uk/Id/nhs-number"
NUMBERS = ["9990000018", "9990000026", "9990000034"]


def put(store: FhirStore, body: dict[str, Any]) -> None:
    store.update(body["resourceType"], body["id"], body)


def make_place(store: FhirStore) -> None:
    """A practice with two registered people (one opted out), and one person elsewhere."""
    put(store, {"resourceType": "Organization", "id": "prac", "name": "Riverside Surgery"})
    put(store, {"resourceType": "Organization", "id": "other", "name": "Hillside Surgery"})
    for pid, number, practice in zip(
        ("a", "b", "c"), NUMBERS, ("prac", "prac", "other"), strict=True
    ):
        put(
            store,
            {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [{"system": NHS, "value": number}],
                "generalPractitioner": [{"reference": f"Organization/{practice}"}],
            },
        )
        put(
            store,
            {
                "resourceType": "Condition",
                "id": f"cond-{pid}",
                "subject": {"reference": f"Patient/{pid}"},
                "code": {"text": "Heart failure"},
            },
        )
    put(
        store,
        {
            "resourceType": "Consent",
            "id": "ndoo-b",
            "status": "active",
            "scope": {"coding": [{"code": "patient-privacy"}]},
            "policyRule": {"coding": [{"code": "OPTOUT"}]},
            "category": [
                {"coding": [{"system": CONSENT_CATEGORY_SYSTEM, "code": NATIONAL_DATA_OPT_OUT}]}
            ],
            "patient": {"reference": "Patient/b"},
            "provision": {"type": "deny"},
        },
    )


def ids_in(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {orjson.loads(line)["id"] for line in path.read_text().splitlines()}


def run(database_url: str, *args: str) -> Any:
    return CliRunner().invoke(cli.app, ["export", *args, "--database-url", database_url])


def test_planning_and_direct_care_exports_follow_the_rules_and_are_audited(
    database_url: str, tmp_path: Path
) -> None:
    store = FhirStore(open_database(database_url))
    try:
        upgrade(store.database)
        make_place(store)
        save_agreement(store.database, "test", DEFAULT_TERMS)
        add_user(store.database, "gp.one", "Dr One", "gp", organisation_id="prac")

        planning = run(
            database_url, str(tmp_path / "planning"), "--type", "Patient", "--type", "Condition"
        )
        assert planning.exit_code == 0, planning.output
        assert ids_in(tmp_path / "planning" / "Patient.ndjson") == {"a", "c"}
        assert ids_in(tmp_path / "planning" / "Condition.ndjson") == {"cond-a", "cond-c"}
        manifest = orjson.loads((tmp_path / "planning" / "manifest.json").read_bytes())
        assert manifest["leftOutUnderNationalDataOptOut"] == 1
        assert manifest["counts"] == {"Patient": 2, "Condition": 2}

        care = run(
            database_url,
            str(tmp_path / "care"),
            "--type",
            "Patient",
            "--purpose",
            "direct-care",
            "--user",
            "gp.one",
        )
        assert care.exit_code == 0, care.output
        # Direct care is not affected by the opt-out; another practice's patient is not there.
        assert ids_in(tmp_path / "care" / "Patient.ndjson") == {"a", "b"}

        with store.database.read() as conn:
            exported = conn.execute(
                select(audit_log.c.username, audit_log.c.patient_id).where(
                    audit_log.c.event == "export"
                )
            ).all()
        assert {(u, p) for u, p in exported} == {
            ("careweave-cli", "a"),
            ("careweave-cli", "c"),
            ("gp.one", "a"),
            ("gp.one", "b"),
        }

        refused = run(database_url, str(tmp_path / "bad"), "--purpose", "direct-care")
        assert refused.exit_code != 0
        assert "--user" in refused.output
        not_empty = run(database_url, str(tmp_path / "planning"))
        assert not_empty.exit_code != 0 and "not empty" in not_empty.output
    finally:
        store.database.dispose()
