"""`careweave directory` (careweave.cli_directory, registered in careweave.cli as `directory`)
on a real SQLite file and on PostgreSQL: generate a synthetic directory, list its stale
entries, export it as HSDS CSV and JSON and import it back; a malformed file is refused with
readable row errors, exit code 2 and nothing written."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from careweave.cli import app as careweave_app
from careweave.cli_directory import directory_app
from careweave.social_prescribing.directory_index import load_directory
from careweave.social_prescribing.directory_staleness import is_stale
from careweave.store.database import open_database
from careweave.store.repository import FhirStore

runner = CliRunner()


def directory(command: str, url: str) -> Result:
    """Run `careweave directory <command>` against the database at `url`."""
    args = [*shlex.split(command), "--database-url", url]
    return runner.invoke(directory_app, args, env={"COLUMNS": "250"})


@pytest.fixture
def url(database_url: str) -> str:
    migrated = runner.invoke(careweave_app, ["db", "upgrade", "--database-url", database_url])
    assert migrated.exit_code == 0, migrated.output
    return database_url


@pytest.fixture
def store(url: str) -> Iterator[FhirStore]:
    database = open_database(url)
    yield FhirStore(database)
    database.dispose()


def counts(result: Result, row: str) -> list[str]:
    """A row of the report table the command prints: added, changed, already so."""
    line = next(line for line in result.output.splitlines() if row in line)
    return [cell for cell in line.replace("│", " ").split() if cell.isdigit()]


def services_in(store: FhirStore) -> dict[str, str]:
    return {s.id: s.name for s in load_directory(store).services.values()}


def test_generate_writes_a_directory_for_the_place_and_again_changes_nothing(
    url: str, store: FhirStore
) -> None:
    made = directory("generate --services 30 --seed 3 --checked-on 2026-06-01", url)
    assert made.exit_code == 0, made.output
    assert "30 services" in made.output
    assert "(5,000 people, place seed 2026, directory seed 3)" in made.output
    held = load_directory(store)
    assert len(held.services) == 30
    # Venues are on the place's streets: each has a postcode with a position.
    assert all(v.position is not None and v.postcode for v in held.venues.values())
    again = directory("generate --services 30 --seed 3 --checked-on 2026-06-01", url)
    assert again.exit_code == 0
    assert counts(again, "Services") == ["0", "0", "30"]  # added, changed, already so

    stale = directory("stale --on 2026-06-01", url)
    assert stale.exit_code == 0, stale.output
    never_or_old = [s for s in held.services.values() if is_stale(s, date(2026, 6, 1))]
    assert never_or_old  # a quarter or so of a synthetic directory is stale on the day
    assert f"{len(never_or_old):,} entries at" in stale.output
    for service in never_or_old:
        assert service.id in stale.output
    fresh = directory("stale --on 2026-06-01", url)
    assert fresh.output == stale.output


def test_export_and_import_round_trip_as_csv_and_json(
    url: str, store: FhirStore, tmp_path: Path
) -> None:
    assert directory("generate --services 12 --seed 5", url).exit_code == 0
    before = services_in(store)
    csv = directory(f"export --out {tmp_path / 'csv'}", url)
    assert csv.exit_code == 0, csv.output
    assert (tmp_path / "csv" / "services.csv").exists()
    as_json = directory(f"export --out {tmp_path / 'directory.json'} --format json", url)
    assert as_json.exit_code == 0
    document = json.loads((tmp_path / "directory.json").read_text())
    assert len(document["services"]) == 12

    for source in (tmp_path / "csv", tmp_path / "directory.json"):
        again = directory(f"import {source}", url)
        assert again.exit_code == 0, again.output
        assert counts(again, "Services") == ["0", "0", "12"]
    assert services_in(store) == before


def test_a_malformed_file_is_refused_row_by_row_and_nothing_is_written(
    url: str, store: FhirStore, tmp_path: Path
) -> None:
    folder = tmp_path / "hsds"
    folder.mkdir()
    (folder / "organizations.csv").write_text("id,name\nzzc9001,Riverside Friends\n")
    (folder / "services.csv").write_text(
        "id,organization_id,name,status,email\n"
        "tea,zzc9001,Tea and chat,active,tea at riverside\n"
        "walk,zzc9999,Walks,active,\n"
        "old,zzc9001,Old club,defunct,\n"
    )
    (folder / "regular_schedules.csv").write_text(
        "id,service_id,byday,opens_at\ns1,tea,MO,11.30am\n"
    )
    result = directory(f"import {folder}", url)
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "Nothing was imported: 4 problems to put right" in output
    for line in (
        "services.csv row 2: 'email' is not an email address",
        "services.csv row 3: 'organization_id' 'zzc9999' is not the id of any organization",
        "services.csv row 4:",
        "regular_schedules.csv row 2: 'opens_at' is not a time written HH:MM or HH:MM:SS",
    ):
        assert line in output
    assert services_in(store) == {}

    broken = tmp_path / "broken.json"
    broken.write_text('{"organizations": [], "services": [')
    refused = directory(f"import {broken}", url)
    assert refused.exit_code == 2
    assert "broken.json is not JSON" in refused.output
    assert services_in(store) == {}


def test_wrong_options_and_an_unmigrated_database_are_one_line_errors(
    url: str, tmp_path: Path, database_url: str
) -> None:
    missing = directory(f"import {tmp_path / 'nowhere'}", url)
    assert (missing.exit_code, "does not exist" in missing.output) == (2, True)
    text = tmp_path / "notes.txt"
    text.write_text("not a directory")
    assert directory(f"import {text}", url).exit_code == 2
    assert directory(f"export --out {tmp_path / 'x'} --format xml", url).exit_code == 2
    assert directory("stale --on 31/12/2026", url).exit_code == 2
    assert directory("generate --services 0", url).exit_code == 2  # Typer's own check
    if database_url.startswith("sqlite"):
        empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        unmigrated = directory("stale", empty)
        assert unmigrated.exit_code == 1
        assert "is not migrated; run `careweave db upgrade`" in " ".join(unmigrated.output.split())
