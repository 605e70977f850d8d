"""The Open Referral UK (HSDS) tables the directory exchanges, and reading them from files.

The subset (docs/directory.md lists every column and what it becomes in FHIR): nine tables
named as HSDS names them, each a CSV file `<table>.csv` in a folder, or a list of records under
the table's name in one JSON object. Columns marked † are careweave's additions where HSDS has
no place for what a link worker needs.

A CSV file is UTF-8 (a spreadsheet's byte-order mark is fine) with a header row; its rows are
counted as a spreadsheet shows them, the header being row 1. JSON records are counted from 1.
Columns this subset does not use are ignored, so a fuller HSDS export reads; a required column
that is missing is an error naming the file.

Reading gives `RawTables`: every record's text values, each with where it came from, so the
checks (careweave.social_prescribing.directory_exchange) can name the file, row and column of
every problem.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import orjson


@dataclass(frozen=True)
class TableShape:
    columns: tuple[str, ...]
    required: tuple[str, ...]
    """Columns a file must have (each record must also give them a value)."""


TABLES: Final[Mapping[str, TableShape]] = {
    "organizations": TableShape(("id", "name", "ods_code", "email", "url"), ("id", "name")),
    "services": TableShape(
        (
            "id",
            "organization_id",
            "name",
            "description",
            "url",
            "email",
            "status",
            "eligibility_description",
            "assured_date",
            "referral_methods",
            "closed_date",
        ),
        ("id", "organization_id", "name", "status"),
    ),
    "locations": TableShape(
        (
            "id",
            "organization_id",
            "name",
            "address_1",
            "city",
            "postal_code",
            "country",
            "latitude",
            "longitude",
        ),
        ("id", "name", "address_1", "postal_code"),
    ),
    "service_at_locations": TableShape(
        ("id", "service_id", "location_id"), ("id", "service_id", "location_id")
    ),
    "regular_schedules": TableShape(
        ("id", "service_id", "freq", "byday", "opens_at", "closes_at"),
        ("id", "service_id", "byday"),
    ),
    "taxonomy_terms": TableShape(("id", "code", "name", "taxonomy"), ("id", "code", "taxonomy")),
    "service_taxonomies": TableShape(
        ("id", "service_id", "taxonomy_term_id"), ("id", "service_id", "taxonomy_term_id")
    ),
    "contacts": TableShape(("id", "service_id", "name", "title", "phone"), ("id", "service_id")),
    "cost_options": TableShape(
        ("id", "service_id", "option", "amount", "amount_description"),
        ("id", "service_id", "option"),
    ),
}
"""Each table of the subset: its columns in export order and those it must have."""
REQUIRED_TABLES: Final = ("organizations", "services")
CAREWEAVE_COLUMNS: Final = {("services", "referral_methods"), ("services", "closed_date"),
                            ("organizations", "ods_code")}  # fmt: skip
"""The † columns: careweave's additions to HSDS."""


@dataclass(frozen=True)
class Record:
    """One row or JSON record: where it is ("services.csv row 14") and its values as text
    (a column the file lacks, or left empty, is "")."""

    where: str
    values: Mapping[str, str]
    absent: frozenset[str] = frozenset()
    """Required columns the whole file lacks: reported once for the file, not per row."""

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass
class RawTables:
    """What the files held, before any check; `problems` are those found while reading."""

    records: dict[str, list[Record]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)
    """Each table's file name, for messages ("services.csv", "directory.json")."""

    def table(self, name: str) -> list[Record]:
        return self.records.get(name, [])


def read_csv_folder(folder: Path) -> RawTables:
    """The subset's tables from `<table>.csv` files in `folder` (a missing optional table is
    empty; a missing required one is a problem)."""
    raw = RawTables()
    for name, shape in TABLES.items():
        path = folder / f"{name}.csv"
        raw.source[name] = path.name
        if not path.exists():
            if name in REQUIRED_TABLES:
                raw.problems.append(f"{path.name} is missing from {folder}")
            continue
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raw.problems.append(f"{path.name} is not UTF-8 text (byte {exc.start} cannot be read)")
            continue
        raw.records[name] = _csv_records(path.name, text, shape, raw.problems)
    return raw


def _csv_records(file: str, text: str, shape: TableShape, problems: list[str]) -> list[Record]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.append(f"{file} row 1: {exc}")
        return []
    if header is None:
        problems.append(f"{file} is empty: it needs a header row ({', '.join(shape.required)})")
        return []
    names = [h.strip() for h in header]
    missing = [c for c in shape.required if c not in names]
    for column in missing:
        problems.append(f"{file}: the column '{column}' is missing")
    absent = frozenset(missing)
    records = []
    row = 1
    try:
        for cells in reader:
            row += 1
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, as spreadsheets leave at the end
            if len(cells) > len(names):
                problems.append(
                    f"{file} row {row}: it has {len(cells)} cells but the header has "
                    f"{len(names)} columns"
                )
                continue
            values = {
                name: cells[i].strip() if i < len(cells) else "" for i, name in enumerate(names)
            }
            records.append(Record(f"{file} row {row}", values, absent))
    except csv.Error as exc:
        problems.append(f"{file} row {row + 1}: {exc}")
    return records


def read_json(path: Path) -> RawTables:
    """The subset's tables from one JSON object with a list of records per table name."""
    return read_json_bytes(path.read_bytes(), path.name)


def read_json_bytes(content: bytes, file: str) -> RawTables:
    raw = RawTables(source=dict.fromkeys(TABLES, file))
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raw.problems.append(f"{file} is not JSON: {exc}")
        return raw
    if not isinstance(document, dict):
        raw.problems.append(f"{file} must hold a JSON object with a list of records per table")
        return raw
    for name in TABLES:
        if name not in document:
            if name in REQUIRED_TABLES:
                raw.problems.append(f"{file}: the table '{name}' is missing")
            continue
        items = document[name]
        if not isinstance(items, list):
            raw.problems.append(f"{file}: '{name}' must be a list of records")
            continue
        records = []
        for n, item in enumerate(items, start=1):
            where = f"{file} {name} record {n}"
            if not isinstance(item, dict):
                raw.problems.append(f"{where}: a record must be a JSON object")
                continue
            values: dict[str, str] = {}
            for column in TABLES[name].columns:
                value = item.get(column)
                text = _json_text(value)
                if text is None:
                    raw.problems.append(
                        f"{where}: '{column}' must be text or a number, not {_json_kind(value)}"
                    )
                    break
                values[column] = text
            else:  # a record with a value of the wrong kind is not checked further
                records.append(Record(where, values))
        raw.records[name] = records
    return raw


def _json_text(value: object) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float):
        return repr(value)
    return None


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, list):
        return "a list"
    return "an object"
