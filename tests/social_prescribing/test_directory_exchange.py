"""Open Referral UK (HSDS) import and export: readable errors, all or nothing, round trips,
and re-imports that update in place (on SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from careweave.fhir.search_query import parse_search
from careweave.social_prescribing.directory_exchange import (
    DirectoryImportRejected,
    export_hsds_csv,
    export_hsds_json,
    hsds_tables,
    import_hsds_csv,
    import_hsds_json,
    write_hsds_csv,
    write_hsds_json,
)
from careweave.social_prescribing.directory_index import Directory, load_directory
from careweave.social_prescribing.hsds_tables import TABLES
from careweave.store.repository import FhirStore
from tests.social_prescribing.conftest import ORGANISATIONS, SERVICES, VENUES

Tables = dict[str, list[dict[str, Any]]]


def tables_of(directory: Directory) -> Tables:
    return {name: [dict(row) for row in rows] for name, rows in hsds_tables(directory).items()}


def write(tables: Tables, kind: str, where: Path) -> Path:
    if kind == "csv":
        write_hsds_csv(tables, where / "hsds")
        for name, rows in tables.items():
            if (
                rows
                and "organization_id" in TABLES[name].columns
                and "organization_id" not in rows[0]
            ):
                drop_column(where / "hsds" / f"{name}.csv", "organization_id")
        return where / "hsds"
    write_hsds_json(tables, where / "directory.json")
    return where / "directory.json"


def drop_column(path: Path, column: str) -> None:
    """Rewrite a CSV file without one of its columns (as a hand-made file might lack it)."""
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    drop = rows[0].index(column)
    with path.open("w", newline="") as file:
        csv.writer(file).writerows(
            [cell for i, cell in enumerate(row) if i != drop] for row in rows
        )


def run_import(store: FhirStore, kind: str, path: Path) -> Any:
    if kind == "csv":
        return import_hsds_csv(store.transaction, path)
    return import_hsds_json(store.transaction, path)


def count(store: FhirStore, resource_type: str) -> int:
    query = parse_search(resource_type, [("_summary", "count")], store.registry)
    total = store.search(query).total
    assert total is not None
    return total


def nothing_written(store: FhirStore) -> bool:
    return all(count(store, t) == 0 for t in ("Organization", "Location", "HealthcareService"))


def row_of(tables: Tables, table: str, row_id: str) -> dict[str, Any]:
    return next(row for row in tables[table] if row["id"] == row_id)


# -- malformed files ----------------------------------------------------------------------------


def missing_column(tables: Tables) -> None:
    for row in tables["services"]:
        del row["organization_id"]


def bad_email(tables: Tables) -> None:
    row_of(tables, "services", "lunch")["email"] = "lunch at the brook centre"


def bad_time(tables: Tables) -> None:
    row_of(tables, "regular_schedules", "lunch-schedule-1")["opens_at"] = "11.30am"


def unknown_category(tables: Tables) -> None:
    row_of(tables, "taxonomy_terms", "need-lunch-club")["code"] = "knitting"


def duplicate_id(tables: Tables) -> None:
    tables["services"].append(dict(row_of(tables, "services", "lunch")))


def missing_organisation(tables: Tables) -> None:
    row_of(tables, "services", "lunch")["organization_id"] = "zzc0099"


NEEDS_LIST = (
    "befriending, physical-activity, benefits-advice, housing, carers-support, bereavement, "
    "digital-skills, transport, lunch-club, memory-support, mental-wellbeing, arts-and-creativity"
)
MALFORMED: dict[str, tuple[Callable[[Tables], None], list[str], list[str]]] = {
    # case: (change, problems as CSV, problems as JSON)
    "missing column": (
        missing_column,
        ["services.csv: the column 'organization_id' is missing"],
        [f"directory.json services record {n}: 'organization_id' is needed" for n in range(1, 7)],
    ),
    "bad email": (
        bad_email,
        ["services.csv row 4: 'email' is not an email address"],
        ["directory.json services record 3: 'email' is not an email address"],
    ),
    "bad time": (
        bad_time,
        [
            "regular_schedules.csv row 3: 'opens_at' is not a time written HH:MM or HH:MM:SS: "
            "'11.30am'"
        ],
        [
            "directory.json regular_schedules record 2: 'opens_at' is not a time written HH:MM "
            "or HH:MM:SS: '11.30am'"
        ],
    ),
    "unknown category": (
        unknown_category,
        [
            "taxonomy_terms.csv row 6: 'code' 'knitting' is not a need category careweave "
            f"knows ({NEEDS_LIST})"
        ],
        [
            "directory.json taxonomy_terms record 5: 'code' 'knitting' is not a need category "
            f"careweave knows ({NEEDS_LIST})"
        ],
    ),
    "duplicate id": (
        duplicate_id,
        ["services.csv row 8: 'id' 'lunch' is used twice (also services.csv row 4)"],
        [
            "directory.json services record 7: 'id' 'lunch' is used twice (also directory.json "
            "services record 3)"
        ],
    ),
    "missing organisation": (
        missing_organisation,
        [
            "services.csv row 4: 'organization_id' 'zzc0099' is not the id of any organization "
            "in the import"
        ],
        [
            "directory.json services record 3: 'organization_id' 'zzc0099' is not the id of any "
            "organization in the import"
        ],
    ),
}


@pytest.mark.parametrize("kind", ["csv", "json"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_file_names_each_problem_and_writes_nothing(
    store: FhirStore, directory: Directory, tmp_path: Path, case: str, kind: str
) -> None:
    change, as_csv, as_json = MALFORMED[case]
    tables = tables_of(directory)
    change(tables)
    path = write(tables, kind, tmp_path)
    with pytest.raises(DirectoryImportRejected) as rejected:
        run_import(store, kind, path)
    expected = as_csv if kind == "csv" else as_json
    assert rejected.value.problems == expected
    assert str(rejected.value).splitlines()[1:] == expected
    assert str(rejected.value).startswith("Nothing was imported: ")
    assert nothing_written(store)


def test_every_problem_in_a_file_is_reported_at_once(directory: Directory, tmp_path: Path) -> None:
    tables = tables_of(directory)
    bad_email(tables)
    bad_time(tables)
    row_of(tables, "locations", "park")["postal_code"] = "the park"
    row_of(tables, "services", "walk")["status"] = "temporarily closed"
    row_of(tables, "regular_schedules", "walk-schedule-1")["byday"] = "Monday"
    row_of(tables, "cost_options", "walk-cost")["amount"] = "two pounds"
    from careweave.social_prescribing.directory_exchange import entries_from_tables
    from careweave.social_prescribing.hsds_tables import read_csv_folder

    with pytest.raises(DirectoryImportRejected) as rejected:
        entries_from_tables(read_csv_folder(write(tables, "csv", tmp_path)))
    assert rejected.value.problems == [
        "locations.csv row 5: 'postal_code' is not a UK postcode: 'the park'",
        "services.csv row 4: 'email' is not an email address",
        "services.csv row 7: 'status' must be one of active, defunct, not 'temporarily closed'",
        "regular_schedules.csv row 3: 'opens_at' is not a time written HH:MM or HH:MM:SS: "
        "'11.30am'",
        "regular_schedules.csv row 6: 'byday' must be days written MO,TU,WE,TH,FR,SA,SU: 'Monday'",
        "cost_options.csv row 3: 'amount' is not an amount of money in pounds: 'two pounds'",
    ]


def test_json_that_is_not_the_expected_shape_is_refused(store: FhirStore, tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    path.write_text('{"organizations": [], "services": [{"id": ["s1"]}]}')
    with pytest.raises(DirectoryImportRejected) as rejected:
        import_hsds_json(store.transaction, path)
    assert rejected.value.problems == [
        "directory.json services record 1: 'id' must be text or a number, not a list"
    ]
    path.write_text("[1, 2")
    with pytest.raises(DirectoryImportRejected, match=r"directory.json is not JSON"):
        import_hsds_json(store.transaction, path)
    assert nothing_written(store)


def test_an_id_taken_by_a_record_the_directory_does_not_manage_stops_the_whole_import(
    store: FhirStore, directory: Directory, tmp_path: Path
) -> None:
    store.update(
        "Location",
        "park",
        {"resourceType": "Location", "id": "park", "name": "The GP surgery car park"},
    )
    with pytest.raises(DirectoryImportRejected) as rejected:
        import_hsds_json(store.transaction, write(tables_of(directory), "json", tmp_path))
    assert rejected.value.problems == [
        "directory.json locations record 4: 'id' 'park' is already a location in careweave "
        "that the directory does not manage; use another id"
    ]
    assert count(store, "Organization") == count(store, "HealthcareService") == 0
    assert store.read("Location", "park").as_dict()["name"] == "The GP surgery car park"


def test_an_organisation_careweave_holds_is_linked_by_its_ods_code_not_overwritten(
    store: FhirStore, directory: Directory, tmp_path: Path
) -> None:
    place_own = {
        "resourceType": "Organization",
        "id": "zzc0002",
        "identifier": [
            {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "ZZC0002"}
        ],
        "name": "Mill Lane Walkers CIC",
        "telecom": [{"system": "phone", "value": "0113 496 0000"}],
    }
    store.update("Organization", "zzc0002", place_own)
    report = import_hsds_json(store.transaction, write(tables_of(directory), "json", tmp_path))
    assert report.created == {"Organization": 1, "Location": 4, "HealthcareService": 6}
    kept = store.read("Organization", "zzc0002")
    assert (kept.version_id, kept.as_dict()["name"]) == (1, "Mill Lane Walkers CIC")
    walk = store.read("HealthcareService", "walk").as_dict()
    assert walk["providedBy"] == {
        "reference": "Organization/zzc0002",
        "display": "Mill Lane Walkers CIC",
    }


# -- round trips and re-imports -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_export_then_import_gives_the_same_services(
    store: FhirStore, directory: Directory, tmp_path: Path, kind: str
) -> None:
    if kind == "csv":
        export_hsds_csv(directory, tmp_path / "first")
        report = import_hsds_csv(store.transaction, tmp_path / "first")
    else:
        export_hsds_json(directory, tmp_path / "first.json")
        report = import_hsds_json(store.transaction, tmp_path / "first.json")
    assert report.created == {"Organization": 2, "Location": 4, "HealthcareService": 6}
    imported = load_directory(store)
    assert sorted(imported.services.values(), key=lambda s: s.id) == sorted(
        SERVICES, key=lambda s: s.id
    )
    assert set(imported.venues.values()) == set(VENUES)
    assert set(imported.organisations.values()) == set(ORGANISATIONS)
    # And the store's directory exports to the very same files.
    if kind == "csv":
        export_hsds_csv(imported, tmp_path / "second")
        for first in sorted((tmp_path / "first").iterdir()):
            assert (tmp_path / "second" / first.name).read_text() == first.read_text()
    else:
        export_hsds_json(imported, tmp_path / "second.json")
        assert (tmp_path / "second.json").read_bytes() == (tmp_path / "first.json").read_bytes()


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_importing_again_updates_in_place_and_never_duplicates(
    store: FhirStore, directory: Directory, tmp_path: Path, kind: str
) -> None:
    tables = tables_of(directory)
    run_import(store, kind, write(tables, kind, tmp_path / "one"))
    again = run_import(store, kind, write(tables, kind, tmp_path / "two"))
    assert again.created == again.updated == {}
    assert again.total("unchanged") == 12
    changed = copy.deepcopy(tables)
    row_of(changed, "services", "walk")["name"] = "Thursday walking group"
    row_of(changed, "services", "walk")["assured_date"] = "2025-07-20"
    third = run_import(store, kind, write(changed, kind, tmp_path / "three"))
    assert third.created == {}
    assert third.updated == {"HealthcareService": 1}
    assert count(store, "HealthcareService") == 6
    walk = store.read("HealthcareService", "walk")
    assert walk.version_id == 2
    assert walk.as_dict()["name"] == "Thursday walking group"
    assert store.vread("HealthcareService", "walk", 1).as_dict()["name"] == "Walking group"


def test_a_spreadsheet_csv_with_a_byte_order_mark_and_extra_columns_reads(
    directory: Directory, tmp_path: Path
) -> None:
    from careweave.social_prescribing.directory_exchange import entries_from_tables
    from careweave.social_prescribing.hsds_tables import read_csv_folder

    folder = write(tables_of(directory), "csv", tmp_path)
    services = folder / "services.csv"
    with services.open(newline="") as file:
        rows = list(csv.reader(file))
    rows = [[*row, "fees" if n == 0 else "see cost options"] for n, row in enumerate(rows)]
    with services.open("w", newline="", encoding="utf-8-sig") as file:
        csv.writer(file).writerows([*rows, []])
    entries = entries_from_tables(read_csv_folder(folder))
    assert sorted(entries.services, key=lambda s: s.id) == sorted(SERVICES, key=lambda s: s.id)
