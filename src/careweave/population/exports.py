"""Exports of population analytics as CSV and Parquet, written by DuckDB's COPY.

Every export leaves out people with a national data opt-out (they are not in the projection)
and says so: a CSV starts with `#` comment lines (read it with `comment='#'` in DuckDB or
`comment="#"` in pandas), a Parquet file carries the same words as key-value metadata
(`careweave.*` keys). What is exported:

* `export_measures`: one row per person (the measure row, keyed by patient id): a planning
  extract for analysts within the organisation, which must not leave it as it is;
* `export_equity`: the equity breakdown with small numbers suppressed, fit to publish;
* `export_tables`: the projection's tables as Parquet files, for Spark (docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import duckdb

from careweave.population.columnar import (
    EXCLUDED,
    MEASURES,
    ORGANISATIONS,
    RowLoader,
    connect,
    read_state,
)
from careweave.population.equity import EquityBreakdown, publishable
from careweave.population.flatten import TABLES, Column
from careweave.population.measures_sql import CODE_TABLES, MEASURE_COLUMNS
from careweave.population.multimorbidity import ComplexThresholds
from careweave.population.suppression import shown_count

Format = Literal["csv", "parquet"]
SPARK_TABLES: Final = (*TABLES, *CODE_TABLES, ORGANISATIONS)
"""The tables the measure query reads (and the directory), as exported for another engine."""
EQUITY_COLUMNS: Final = tuple(
    Column(name, sql_type)
    for name, sql_type in (
        ("dimension", "VARCHAR"),
        ("grp", "VARCHAR"),
        ("measure", "VARCHAR"),
        ("measure_label", "VARCHAR"),
        ("people", "VARCHAR"),
        ("with_measure", "VARCHAR"),
        ("rate", "DOUBLE"),
        ("ci95_low", "DOUBLE"),
        ("ci95_high", "DOUBLE"),
        ("statistic", "VARCHAR"),
    )
)


def provenance(
    con: duckdb.DuckDBPyConnection, what: str, *, published: bool = False
) -> dict[str, str]:
    """What every export says about itself: what it is, as of when, by which definitions
    (code lists, and the complex multimorbidity thresholds a place may choose), and who is
    left out.
    A `published` export (fit to leave the organisation) gives the number left out under the
    small-number rule, as the pages and the report do; an extract kept within it, exactly."""
    state = read_state(con)
    row = con.execute(f"SELECT COUNT(*) FROM {EXCLUDED}").fetchone()
    count = int(row[0]) if row else 0
    excluded = shown_count(count) if published else count
    return {
        "careweave.content": what,
        "careweave.as_of": state.get("as_of", ""),
        "careweave.exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "careweave.efi_code_list": state.get("efi_code_list", ""),
        "careweave.long_term_condition_list": state.get("long_term_condition_list", ""),
        "careweave.complex_multimorbidity": ComplexThresholds.from_state(state).describe(),
        "careweave.objectors_excluded": str(excluded),
        "careweave.note": (
            f"People with a national data opt-out are not included: {excluded} left out."
        ),
    }


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _copy(
    con: duckdb.DuckDBPyConnection,
    select: str,
    path: Path,
    kind: Format,
    metadata: Mapping[str, str],
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        pairs = ", ".join(
            f"'{k}': '{v.replace(chr(39), chr(39) * 2)}'" for k, v in sorted(metadata.items())
        )
        con.execute(f"COPY ({select}) TO {_quoted(path)} (FORMAT parquet, KV_METADATA {{{pairs}}})")
        return path
    body = path.with_name(path.name + ".part")
    con.execute(f"COPY ({select}) TO {_quoted(body)} (FORMAT csv, HEADER true)")
    with path.open("wb") as out:
        for key, value in metadata.items():
            out.write(f"# {key.removeprefix('careweave.')}: {value}\n".encode())
        with body.open("rb") as data:
            while chunk := data.read(1 << 20):
                out.write(chunk)
    body.unlink()
    return path


def export_measures(con: duckdb.DuckDBPyConnection, path: Path | str, kind: Format) -> Path:
    """Every person's measure row (people 65+ and younger alike), ordered by patient id."""
    select = f"SELECT {', '.join(MEASURE_COLUMNS)} FROM {MEASURES} ORDER BY patient_id"
    return _copy(con, select, Path(path), kind, provenance(con, "population measures per person"))


def export_equity(
    con: duckdb.DuckDBPyConnection,
    breakdown: EquityBreakdown,
    path: Path | str,
    kind: Format,
) -> Path:
    """The equity breakdown as published (suppressed), one row per dimension, group and
    measure; counts are text because "<10" and "*" are among them."""
    rows: Sequence[tuple[object, ...]] = [
        (
            c.dimension,
            c.group,
            c.measure,
            breakdown.words[c.measure],
            str(c.people),
            str(c.with_measure),
            c.rate,
            c.low,
            c.high,
            "mean" if c.mean else "share",
        )
        for c in publishable(breakdown)
    ]
    metadata = provenance(
        con, "population equity breakdown, small numbers suppressed", published=True
    )
    scratch = connect(":memory:")
    try:
        scratch.execute(
            f"CREATE TABLE equity ({', '.join(f'{c.name} {c.sql_type}' for c in EQUITY_COLUMNS)})"
        )
        with RowLoader(scratch, {"equity": EQUITY_COLUMNS}) as loader:
            loader.extend("equity", rows)
        return _copy(scratch, "SELECT * FROM equity", Path(path), kind, metadata)
    finally:
        scratch.close()


def export_tables(con: duckdb.DuckDBPyConnection, folder: Path | str) -> list[Path]:
    """The projection's tables as `<table>.parquet` files in `folder` (for Spark)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    metadata = provenance(con, "population projection table")
    return [
        _copy(con, f"SELECT * FROM {table}", target / f"{table}.parquet", "parquet", metadata)
        for table in SPARK_TABLES
    ]
