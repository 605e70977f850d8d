"""The projection's DuckDB database: its tables, and loading rows into them quickly.

DuckDB's Python INSERT of one row at a time costs milliseconds a row (a million rows would take
an hour), and its fast paths need pandas, pyarrow or fsspec, which careweave does not depend
on. So rows are written to a CSV file in a temporary folder (the csv module, in C) and loaded
with DuckDB's own CSV reader, a few hundred thousand rows at a time: about a second per million
rows. Absent values are empty fields and load as NULL (the flattening never produces empty
strings, so nothing is lost).
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

import duckdb

from careweave.population.flatten import TABLES, Column, Row
from careweave.population.measures_sql import MEASURE_COLUMNS, CodeTable

MEMORY_LIMIT: Final = "3GB"
"""DuckDB's memory limit for a refresh and for queries (the issue's aim is under 4 GB in all)."""
FLUSH_ROWS: Final = 250_000
"""Rows of one table held before they are loaded (bounds the refresh's memory)."""

MANIFEST: Final = "projected_resources"
"""Every watched resource of every person, with its version and person: what a refresh
compares with the store to see what changed, and where a deleted resource's person is found.
For people who object, this key, type and version is all that is kept."""
MANIFEST_COLUMNS: Final = (
    Column("resource_pk", "BIGINT"),
    Column("resource_type", "VARCHAR"),
    Column("version_id", "INTEGER"),
    Column("person_id", "VARCHAR"),
)
EXCLUDED: Final = "excluded_people"
"""The ids (nothing else) of people left out because they object: so the outputs can say how
many were left out, and a refresh knows whom to bring back when someone withdraws."""
ORGANISATIONS: Final = "organisations"
ORGANISATION_COLUMNS: Final = (
    Column("organisation_id", "VARCHAR"),
    Column("ods_code", "VARCHAR"),
    Column("name", "VARCHAR"),
)
STATE: Final = "projection_state"
MEASURES: Final = "person_measures"
SEGMENT_TREND: Final = "segment_trend_kept"
"""The segments on earlier days (as_of, segment, people), worked out at refresh so a page
that shows the trend only reads it."""

ALL_TABLES: Final[Mapping[str, tuple[Column, ...]]] = {
    **TABLES,
    MANIFEST: MANIFEST_COLUMNS,
    EXCLUDED: (Column("person_id", "VARCHAR"),),
    ORGANISATIONS: ORGANISATION_COLUMNS,
    STATE: (Column("name", "VARCHAR"), Column("value", "VARCHAR")),
}
PERSON_TABLES: Final = (*TABLES, MANIFEST, EXCLUDED, MEASURES)
"""Every table with a row per person (or per entry of a person), keyed by person_id."""


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with careweave's memory limit (threads: DuckDB's default, the CPUs)."""
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con


def read_state(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The projection's state: the day it measures, its windows and code lists, its watermark."""
    return {
        str(name): str(value) for name, value in con.execute(f"SELECT * FROM {STATE}").fetchall()
    }


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The projection's tables, empty (replacing any there were)."""
    for name, columns in ALL_TABLES.items():
        body = ", ".join(f"{c.name} {c.sql_type}" for c in columns)
        con.execute(f"CREATE OR REPLACE TABLE {name} ({body})")


def load_code_tables(con: duckdb.DuckDBPyConnection, tables: Mapping[str, CodeTable]) -> None:
    """The measure query's lookup tables (code lists), replaced."""
    for name, table in tables.items():
        columns = [Column(c, "VARCHAR") for c in table.columns]
        con.execute(
            f"CREATE OR REPLACE TABLE {name} ({', '.join(f'{c.name} VARCHAR' for c in columns)})"
        )
        with RowLoader(con, {name: tuple(columns)}) as loader:
            loader.extend(name, table.rows)


def _csv_columns(columns: Sequence[Column]) -> str:
    return "{" + ", ".join(f"'{c.name}': '{c.sql_type}'" for c in columns) + "}"


class RowLoader:
    """Collects rows per table and loads them into DuckDB through CSV files.

    Use as a context manager: leaving the block loads what is left and removes the folder.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        tables: Mapping[str, Sequence[Column]] = ALL_TABLES,
        *,
        flush_rows: int = FLUSH_ROWS,
        folder: Path | None = None,
    ) -> None:
        self.con = con
        self.tables = tables
        self.flush_rows = flush_rows
        self.loaded: dict[str, int] = dict.fromkeys(tables, 0)
        self.pending: dict[str, list[Row]] = {name: [] for name in tables}
        """Rows waiting to be loaded, by table: append to them directly, then call
        `load_full` now and then (cheaper than `add` for millions of rows)."""
        self._folder = tempfile.TemporaryDirectory(prefix="careweave-population-", dir=folder)

    def __enter__(self) -> RowLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.flush()
        finally:
            self._folder.cleanup()

    def add(self, table: str, row: Row) -> None:
        pending = self.pending[table]
        pending.append(row)
        if len(pending) >= self.flush_rows:
            self._load(table)

    def load_full(self) -> None:
        """Load the tables holding `flush_rows` rows or more."""
        for table, rows in self.pending.items():
            if len(rows) >= self.flush_rows:
                self._load(table)

    def extend(self, table: str, rows: Iterable[Row]) -> None:
        for row in rows:
            self.add(table, row)

    def flush(self) -> None:
        for table in self.tables:
            self._load(table)

    @property
    def folder(self) -> Path:
        """The loader's scratch folder (removed with it)."""
        return Path(self._folder.name)

    def _load(self, table: str) -> None:
        rows = self.pending[table]
        if not rows:
            return
        self.pending[table] = []
        path = self.folder / f"{table}.csv"
        with path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file, lineterminator="\n").writerows(rows)
        self.load_files(table, [path], len(rows))

    def load_files(self, table: str, paths: Sequence[Path | str], rows: int) -> None:
        """Load CSV files written elsewhere (as `_load` writes them) into `table`, then
        remove them."""
        self.con.execute(
            f"INSERT INTO {table} SELECT * FROM read_csv(?, header = false, delim = ',', "
            f"quote = '\"', escape = '\"', auto_detect = false, "
            f"columns = {_csv_columns(self.tables[table])})",
            [[str(p) for p in paths]],
        )
        self.loaded[table] += rows
        for path in paths:
            os.remove(path)


def create_measures_table(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """`person_measures` from the measure query, replacing what was there."""
    con.execute(f"CREATE OR REPLACE TABLE {MEASURES} AS {query}")
    columns = tuple(row[0] for row in con.execute(f"DESCRIBE {MEASURES}").fetchall())
    if columns != MEASURE_COLUMNS:
        raise AssertionError(f"the measure query gave columns {columns}, not {MEASURE_COLUMNS}")
