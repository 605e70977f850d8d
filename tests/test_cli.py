"""The `careweave` command: migrate, load all-or-nothing, readable errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from careweave.cli import app
from careweave.examples import all_examples
from careweave.fhir.search_query import SearchQuery
from careweave.store.database import open_database
from careweave.store.repository import FhirStore

runner = CliRunner()


def count(store: FhirStore, resource_type: str) -> int | None:
    return store.search(SearchQuery(resource_type=resource_type, summary_count=True)).total


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_upgrade_then_load_examples_is_repeatable(database_url: str) -> None:
    assert invoke("db", "upgrade", "--database-url", database_url)[0] == 0
    code, output = invoke("load-examples", "--database-url", database_url)
    assert code == 0, output
    assert f"Loaded {len(all_examples())} example resources" in output
    assert invoke("load-examples", "--database-url", database_url)[0] == 0
    store = FhirStore(open_database(database_url))
    try:
        patient = store.read("Patient", "pat-1")
        assert patient.version_id == 1  # loading the same data again changed nothing
    finally:
        store.database.dispose()


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    code, output = invoke("load-examples", "--database-url", url)
    assert code == 1
    assert "careweave db upgrade" in output


def test_load_is_all_or_nothing(database_url: str, tmp_path: Path) -> None:
    invoke("db", "upgrade", "--database-url", database_url)
    good = {"resourceType": "Organization", "id": "org-9", "name": "Riverside"}
    dangling = {
        "resourceType": "Flag",
        "id": "flag-9",
        "status": "active",
        "code": {"text": "Falls risk"},
        "subject": {"reference": "Patient/nobody"},
    }
    path = tmp_path / "data.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in (good, dangling)) + "\n")
    code, output = invoke("load", str(path), "--database-url", database_url)
    assert code == 1
    assert "nothing was loaded" in output and "Patient/nobody" in output
    store = FhirStore(open_database(database_url))
    try:
        assert count(store, "Organization") == 0
    finally:
        store.database.dispose()


def test_load_reports_bad_json_with_its_line(database_url: str, tmp_path: Path) -> None:
    invoke("db", "upgrade", "--database-url", database_url)
    path = tmp_path / "broken.ndjson"
    path.write_text('{"resourceType": "Organization", "id": "a", "name": "A"}\n{"resourceType":\n')
    code, output = invoke("load", str(path), "--database-url", database_url)
    assert code == 1
    assert "broken.ndjson:2" in output
    assert invoke("load", str(tmp_path / "missing.json"), "--database-url", database_url)[0] == 1


def test_load_a_bundle_file(database_url: str, tmp_path: Path) -> None:
    invoke("db", "upgrade", "--database-url", database_url)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in all_examples()],
    }
    path = tmp_path / "examples.json"
    path.write_text(json.dumps(bundle))
    code, output = invoke("load", str(path), "--database-url", database_url)
    assert code == 0, output
    store = FhirStore(open_database(database_url))
    try:
        assert count(store, "Patient") == 1
    finally:
        store.database.dispose()
