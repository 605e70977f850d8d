"""`careweave generate`, and a generated place imported and served through the FHIR API."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from careweave.access.scopes import Scopes
from careweave.access.tokens import issue_token
from careweave.api.app import create_app
from careweave.cli import app
from careweave.settings import Settings
from careweave.store.database import open_database
from careweave.store.repository import FhirStore

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_generate_writes_a_place_and_says_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "place"
    code, output = invoke("generate", "--people", "600", "--seed", "7", "--out", str(out))
    assert code == 0, output
    assert "600 people" in output
    patients = (out / "Patient.ndjson").read_bytes().splitlines()
    assert len(patients) == 600
    assert "Condition" in output and (out / "Condition.ndjson").stat().st_size > 0


def test_generate_check_prints_the_targets_beside_the_place(tmp_path: Path) -> None:
    code, output = invoke(
        "generate", "--people", "800", "--seed", "7", "--out", str(tmp_path), "--check"
    )
    assert code == 0, output
    assert "Generated versus target" in output
    assert "eFI fit" in output and "hypertension" in output


def test_generate_refuses_to_mix_places_and_bad_options(tmp_path: Path) -> None:
    assert invoke("generate", "--people", "300", "--out", str(tmp_path))[0] == 0
    code, output = invoke("generate", "--people", "300", "--out", str(tmp_path))
    assert code == 1 and "already holds" in output
    code, output = invoke("generate", "--people", "300", "--out", str(tmp_path), "--overwrite")
    assert code == 0, output
    code, output = invoke("generate", "--out", str(tmp_path), "--as-of", "2026-02-30")
    assert code == 1 and "is not a date" in output
    code, output = invoke("generate", "--people", "2000000", "--out", str(tmp_path / "big"))
    assert code == 1 and "NHS number" in output


def test_a_generated_place_imports_and_is_searchable_over_the_api(
    database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "place"
    assert invoke("generate", "--people", "500", "--seed", "11", "--out", str(out))[0] == 0
    assert invoke("db", "upgrade", "--database-url", database_url)[0] == 0
    code, output = invoke("import", str(out), "--database-url", database_url, "--workers", "1")
    assert code == 0, output
    first = orjson.loads((out / "Patient.ndjson").read_bytes().splitlines()[-1])
    nhs_number = first["identifier"][0]["value"]
    database = open_database(database_url)
    try:
        token = issue_token(database, Scopes.parse("system/*.rs"), client_name="test").token
        client = TestClient(
            create_app(Settings(database_url=database_url), FhirStore(database)),
            headers={"Authorization": f"Bearer {token}"},
        )
        found = client.get(
            "/fhir/R4/Patient",
            params={"identifier": f"https://fhir.nhs.uk/Id/nhs-number|{nhs_number}"},
        ).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [first["id"]]
        older = [
            orjson.loads(line) for line in (out / "Condition.ndjson").read_bytes().splitlines()[:1]
        ]
        subject = older[0]["subject"]["reference"]
        conditions = client.get("/fhir/R4/Condition", params={"subject": subject}).json()
        assert conditions["entry"], "the person's conditions are searchable by subject"
    finally:
        database.dispose()
