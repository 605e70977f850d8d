"""The `careweave` command: migrate, load all-or-nothing, readable errors and exit codes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from careweave.cli import _demo_people, app
from careweave.examples import all_examples
from careweave.fhir.search_query import SearchQuery
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from careweave.uk_time import today as uk_today

runner = CliRunner()


def count(store: FhirStore, resource_type: str) -> int | None:
    return store.search(SearchQuery(resource_type=resource_type, summary="count")).total


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


def test_import_a_place_then_again_without_duplicates(database_url: str, tmp_path: Path) -> None:
    from tests.store.test_bulk_import import all_resources, make_place, write_place

    place = make_place()
    write_place(tmp_path / "place", place)
    total = len(all_resources(place))
    invoke("db", "upgrade", "--database-url", database_url)
    args = ("import", str(tmp_path / "place"), "--database-url", database_url)
    code, output = invoke(*args, "--batch-size", "5", "--workers", "1")
    assert code == 0, output
    assert "README.txt: not an .ndjson file" in output
    assert f"Imported {total} resources from 5 files" in output
    assert f"{total} created, 0 updated, 0 unchanged" in output
    code, output = invoke(*args, "--workers", "2")
    assert code == 0, output
    assert f"0 created, 0 updated, {total} unchanged" in output
    store = FhirStore(open_database(database_url))
    try:
        assert count(store, "Observation") == len(place["Observation"])
        assert store.read("Patient", "pat-0").version_id == 1
    finally:
        store.database.dispose()


def test_import_stops_at_a_bad_line_with_a_readable_message(
    database_url: str, tmp_path: Path
) -> None:
    from tests.store.test_bulk_import import make_place, write_place

    write_place(tmp_path, make_place())
    patients = tmp_path / "Patient.ndjson"
    lines = patients.read_bytes().splitlines(keepends=True)
    patients.write_bytes(b"".join([*lines[:2], b'{"resourceType": "Patient"\n', *lines[2:]]))
    invoke("db", "upgrade", "--database-url", database_url)
    args = ("import", str(tmp_path), "--database-url", database_url, "--batch-size", "4")
    code, output = invoke(*args, "--workers", "1")
    assert code == 1
    # Organizations (3), Practitioners (5) and two Patients come first: two batches of four
    # are kept, the third (two Patients and the bad line) is not.
    assert f"{patients}:3: not valid JSON" in output
    assert "8 resources were imported (2 batches) and are kept; 2 read since then are not" in output
    assert "run the same command again" in output
    assert "Traceback" not in output
    patients.write_bytes(b"".join(lines))
    code, output = invoke(*args, "--workers", "1")
    assert code == 0, output
    assert "8 unchanged" in output


def test_import_refuses_an_unmigrated_database_and_a_missing_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    code, output = invoke("import", str(tmp_path), "--database-url", url)
    assert code == 1 and "careweave db upgrade" in output
    invoke("db", "upgrade", "--database-url", url)
    code, output = invoke("import", str(tmp_path / "nowhere"), "--database-url", url)
    assert code == 1 and "does not exist" in output


def test_the_demo_person_is_65_by_the_uk_day_on_a_server_elsewhere(
    store: FhirStore, server_a_day_from_the_uk: date
) -> None:
    """The demo patient must be 65 or over on the day in England. On a server a day ahead of
    the UK, someone whose 65th birthday is tomorrow in England is not yet 65; on one a day
    behind, someone whose 65th birthday is today in England already is."""
    uk = uk_today()
    birthday = server_a_day_from_the_uk if server_a_day_from_the_uk > uk else uk
    born = birthday.replace(year=birthday.year - 65)
    store.update(
        "Patient",
        "p1",
        {
            "resourceType": "Patient",
            "id": "p1",
            "birthDate": born.isoformat(),
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}],
        },
    )
    store.update(
        "RelatedPerson",
        "r1",
        {
            "resourceType": "RelatedPerson",
            "id": "r1",
            "active": True,
            "patient": {"reference": "Patient/p1"},
        },
    )
    if birthday == uk:
        patient, carer = _demo_people(store)
        assert (patient["id"], carer["id"]) == ("p1", "r1")
    else:
        with pytest.raises(typer.Exit):
            _demo_people(store)
