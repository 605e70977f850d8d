"""Loading the versioned code lists that define population measures.

A measure's definition is its code list plus a rule. The lists live as CSV files in
`careweave/population/data/`, named `<list>-v<version>.csv`, so a change of codes is a new file
(a new version) that can be reviewed as data and named in every result computed with it, and so
a columnar engine (DuckDB, SQL) can load the very same file as a table.

File format: lines starting with `#` come first and carry the list's metadata as `# key: value`
(`version`, `compiled` and `source` are required; other lines are notes), then a CSV header and
one row per SNOMED CT code. The loaders in `efi` and `multimorbidity` check the rows' meaning
(known deficits, one group per code); this module checks the form.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Final

DATA_PACKAGE: Final = "careweave.population"
DATA_FOLDER: Final = "data"
REQUIRED_METADATA: Final = ("version", "compiled", "source")
_METADATA: Final = re.compile(r"#\s*([a-z_-]+):\s*(.+)")
_SNOMED_ID: Final = re.compile(r"[1-9]\d{5,17}")
"""A SNOMED CT concept id: 6 to 18 digits, no leading zero."""
_VERHOEFF_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def is_snomed_id(text: str) -> bool:
    """Whether `text` is a well-formed SNOMED CT identifier: 6 to 18 digits whose last is the
    Verhoeff check digit of the rest (SNOMED CT Technical Implementation Guide, "Check-digit
    computation"). A mistyped digit in a data file is caught here, not by a silent non-match."""
    if not _SNOMED_ID.fullmatch(text):
        return False
    check = 0
    for position, digit in enumerate(reversed(text)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][int(digit)]]
    return check == 0


class CodeListProblem(ValueError):  # noqa: N818 - the data file is wrong, the message says how
    """A code list file is missing, malformed or inconsistent; the message names the file."""


@dataclass(frozen=True)
class CodeListInfo:
    """Where a code list came from: what every result computed with it should name."""

    name: str  # the file's stem, e.g. "efi-deficits-v1"
    version: str
    compiled: date
    source: str


@dataclass(frozen=True)
class CodeListFile:
    """A code list file read and checked for form: its metadata and its rows (all strings)."""

    info: CodeListInfo
    rows: tuple[dict[str, str], ...]


def file_name(list_name: str, version: str) -> str:
    return f"{list_name}-v{version}.csv"


def read_code_list(list_name: str, version: str, columns: Sequence[str]) -> CodeListFile:
    """Read `data/<list_name>-v<version>.csv`, checking its metadata, columns and codes.

    Every row must fill every one of `columns` (other columns are kept but optional), and
    `snomed_code` must look like a SNOMED CT id. The `version` line must match the file name,
    so a copied file that was not re-versioned is caught.
    """
    name = file_name(list_name, version)
    path = resources.files(DATA_PACKAGE).joinpath(DATA_FOLDER, name)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise CodeListProblem(f"There is no code list {name} in {DATA_PACKAGE}") from None
    return parse_code_list(name.removesuffix(".csv"), text, version, columns)


def parse_code_list(name: str, text: str, version: str, columns: Sequence[str]) -> CodeListFile:
    """Parse the text of a code list file (see the module docstring for its form)."""
    lines = text.splitlines()
    metadata: dict[str, str] = {}
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        match = _METADATA.fullmatch(lines[start].strip())
        if match:
            metadata[match[1]] = match[2].strip()
        start += 1
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise CodeListProblem(f"{name}: the header lacks {', '.join(missing)}")
    if metadata["version"] != version:
        raise CodeListProblem(
            f"{name}: the header says version {metadata['version']}, the file name {version}"
        )
    try:
        compiled = date.fromisoformat(metadata["compiled"])
    except ValueError:
        raise CodeListProblem(f"{name}: compiled must be a date (YYYY-MM-DD)") from None
    reader = csv.DictReader(lines[start:])
    absent = [column for column in columns if column not in (reader.fieldnames or ())]
    if absent:
        raise CodeListProblem(f"{name}: the CSV has no column {', '.join(absent)}")
    rows = []
    for number, row in enumerate(reader, start=start + 2):
        if None in row or any(value is None for value in row.values()):
            raise CodeListProblem(f"{name}, line {number}: the wrong number of fields")
        cleaned = {key: value.strip() for key, value in row.items()}
        empty = [column for column in columns if not cleaned[column]]
        if empty:
            raise CodeListProblem(f"{name}, line {number}: {', '.join(empty)} is empty")
        if "snomed_code" in cleaned and not is_snomed_id(cleaned["snomed_code"]):
            raise CodeListProblem(
                f"{name}, line {number}: {cleaned['snomed_code']!r} is not a SNOMED CT id"
            )
        rows.append(cleaned)
    if not rows:
        raise CodeListProblem(f"{name}: the list has no codes")
    info = CodeListInfo(name, version, compiled, metadata["source"])
    return CodeListFile(info, tuple(rows))


def groups_per_code(file: CodeListFile, group_column: str) -> dict[str, frozenset[str]]:
    """SNOMED code -> every group it is listed under. A code may stand in several groups (the
    published eFI sets list osteoporosis under both osteoporosis and fragility fracture, and
    a record holding it has both deficits); the same code twice in one group is an error."""
    groups: dict[str, set[str]] = {}
    for row in file.rows:
        code, group = row["snomed_code"], row[group_column]
        if group in groups.setdefault(code, set()):
            raise CodeListProblem(f"{file.info.name}: {code} is listed twice under {group}")
        groups[code].add(group)
    return {code: frozenset(found) for code, found in groups.items()}


def one_group_per_code(file: CodeListFile, group_column: str) -> dict[str, str]:
    """SNOMED code -> its group (deficit, condition); a code listed twice is an error, even
    under the same group, so the list stays one row per code and a count never doubles."""
    groups: dict[str, str] = {}
    for row in file.rows:
        code = row["snomed_code"]
        if code in groups:
            raise CodeListProblem(
                f"{file.info.name}: {code} is listed twice ({groups[code]}, {row[group_column]})"
            )
        groups[code] = row[group_column]
    return groups
