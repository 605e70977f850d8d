"""The same measure SQL on Spark: the projection's tables exported as Parquet, read by a local
PySpark session, and `person_measures_query` run unchanged gives exactly the rows DuckDB gives
(docs/scaling.md describes running it over a nation this way).

Spark needs a Java runtime (17 or later). Where there is none the test is skipped with the
reason, except under CI, where it must run.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from careweave.population.columnar import MEASURES, connect
from careweave.population.exports import SPARK_TABLES, export_tables
from careweave.population.measures_sql import MEASURE_COLUMNS, MeasureDays, person_measures_query
from careweave.population.projection import MeasureSettings, build_from_resources
from careweave.synth.generate import generate_place
from tests.population.test_place_agreement import keyed_resources

PEOPLE = 500
SEED = 12

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    if os.environ.get("CI"):
        pytest.fail("CI must run the Spark test: install a Java runtime (17+)")
    pytest.skip("no Java runtime for Spark", allow_module_level=True)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    # Spark takes over SIGINT and its handler fails once the session has stopped (a warning at
    # the end of the run when the test worker is interrupted): give the handler back after.
    interrupt = signal.getsignal(signal.SIGINT)
    session = (
        SparkSession.builder.master("local[1]")
        .appName("careweave-population-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    signal.signal(signal.SIGINT, interrupt)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[date, Path, list[tuple[Any, ...]]]:
    out = tmp_path_factory.mktemp("place")
    summary = generate_place(people=PEOPLE, seed=SEED, out=out)
    path = out / "projection.duckdb"
    build_from_resources(path, keyed_resources(out), MeasureSettings(summary.as_of))
    con = connect(path, read_only=True)
    try:
        export_tables(con, out / "parquet")
        rows = con.execute(f"SELECT * FROM {MEASURES} ORDER BY patient_id").fetchall()
    finally:
        con.close()
    return summary.as_of, out / "parquet", rows


def test_spark_runs_the_measure_sql_unchanged_and_agrees_with_duckdb(
    spark: Any, exported: tuple[date, Path, list[tuple[Any, ...]]]
) -> None:
    as_of, folder, duckdb_rows = exported
    for table in SPARK_TABLES:
        spark.read.parquet(str(folder / f"{table}.parquet")).createOrReplaceTempView(table)
    query = person_measures_query(MeasureDays.of(as_of))
    result = spark.sql(query)
    assert tuple(result.columns) == MEASURE_COLUMNS
    spark_rows = sorted((tuple(row) for row in result.collect()), key=lambda r: str(r[0]))
    assert len(spark_rows) == len(duckdb_rows) == PEOPLE
    differing = [
        (d[0], column, s_value, d_value)
        for s, d in zip(spark_rows, duckdb_rows, strict=True)
        for column, s_value, d_value in zip(MEASURE_COLUMNS, s, d, strict=True)
        if s_value != d_value or type(s_value) is not type(d_value)
    ]
    assert differing == []
    assert sum(1 for r in spark_rows if r[MEASURE_COLUMNS.index("segment")]) > 50
