"""Exports as CSV and Parquet: without people who object, and saying so in the file; and,
like the report, naming complex multimorbidity by the thresholds the projection used."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from careweave.population.equity import equity_breakdown
from careweave.population.exports import SPARK_TABLES, export_equity, export_measures, export_tables
from careweave.population.measures_sql import MEASURE_COLUMNS
from careweave.population.multimorbidity import ComplexThresholds
from careweave.population.projection import MeasureSettings, build_from_resources, open_projection
from careweave.population.report import population_report
from tests.population.records import AS_OF, deficit_records, patient


def query(sql: str) -> list[tuple[object, ...]]:
    """Read an exported file back with a DuckDB of its own (as an analyst would)."""
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def people(count: int) -> list[tuple[int, dict[str, object]]]:
    resources: list[dict[str, object]] = []
    for n in range(count):
        person = f"pt{n}"
        resources.append(patient(patient_id=person, born="1940-01-01" if n % 2 else "1950-06-01"))
        for entry in deficit_records({"falls", "diabetes"} if n % 3 else set()):
            resources.append({**entry, "subject": {"reference": f"Patient/{person}"}})
    return list(enumerate(resources, start=1))


@pytest.fixture
def projection(tmp_path: Path) -> Path:
    path = tmp_path / "p.duckdb"
    build_from_resources(path, people(60), MeasureSettings(AS_OF), objectors={"pt0", "pt1"})
    return path


def test_a_measures_csv_says_who_is_left_out_and_leaves_them_out(
    projection: Path, tmp_path: Path
) -> None:
    con = open_projection(projection)
    path = export_measures(con, tmp_path / "out" / "measures.csv", "csv")
    con.close()
    lines = path.read_text().splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert "# note: People with a national data opt-out are not included: 2 left out." in comments
    assert "# objectors_excluded: 2" in comments
    assert "# as_of: 2026-03-31" in comments
    assert lines[len(comments)] == ",".join(MEASURE_COLUMNS)
    rows = query(f"SELECT * FROM read_csv('{path}', comment = '#', header = true)")
    ids = {r[0] for r in rows}
    assert len(rows) == 58 and not ids & {"pt0", "pt1"}


def test_parquet_exports_carry_the_same_words_as_metadata(projection: Path, tmp_path: Path) -> None:
    con = open_projection(projection)
    path = export_measures(con, tmp_path / "measures.parquet", "parquet")
    equity = export_equity(con, equity_breakdown(con), tmp_path / "equity.parquet", "parquet")
    tables = export_tables(con, tmp_path / "tables")
    con.close()
    for file in (path, equity, *tables):
        metadata = {
            str(key): str(value)
            for key, value in query(
                f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{file}')"
            )
        }
        # The published breakdown counts them under the small-number rule; extracts exactly.
        left_out = "<10" if file == equity else "2"
        assert metadata["careweave.objectors_excluded"] == left_out
        assert metadata["careweave.note"] == (
            f"People with a national data opt-out are not included: {left_out} left out."
        )
    assert {t.stem for t in tables} == set(SPARK_TABLES)
    assert query(f"SELECT COUNT(*) FROM '{path}'") == [(58,)]


def test_the_equity_csv_is_suppressed(projection: Path, tmp_path: Path) -> None:
    con = open_projection(projection)
    path = export_equity(con, equity_breakdown(con), tmp_path / "equity.csv", "csv")
    con.close()
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    assert rows and {r["measure"] for r in rows} >= {"frailty", "end_of_life", "cambridge_score"}
    assert {r["statistic"] for r in rows if r["measure"] == "cambridge_score"} == {"mean"}
    assert {r["statistic"] for r in rows if r["measure"] == "frailty"} == {"share"}
    for people_shown, having_shown in ((r["people"], r["with_measure"]) for r in rows):
        for value in (people_shown, having_shown):
            assert value in ("<10", "*") or int(value) >= 10


@pytest.mark.parametrize(
    ("thresholds", "words", "short"),
    [
        (
            ComplexThresholds(),
            "3 or more conditions in 3 or more body systems",
            "3+ conditions, 3+ body systems",
        ),
        (ComplexThresholds(4, 1), "4 or more conditions", "4+ conditions"),
        (
            ComplexThresholds(5, 2),
            "5 or more conditions in 2 or more body systems",
            "5+ conditions, 2+ body systems",
        ),
    ],
)
def test_exports_and_the_report_name_the_complex_thresholds_used(
    tmp_path: Path, thresholds: ComplexThresholds, words: str, short: str
) -> None:
    path = tmp_path / "p.duckdb"
    build_from_resources(path, people(30), MeasureSettings(AS_OF, complex_thresholds=thresholds))
    con = open_projection(path)
    try:
        measures = export_measures(con, tmp_path / "measures.csv", "csv")
        equity = export_equity(con, equity_breakdown(con), tmp_path / "equity.csv", "csv")
        report = " ".join(population_report(con, place="Ashby").split())
    finally:
        con.close()
    for file in (measures, equity):
        assert f"# complex_multimorbidity: {words}" in file.read_text().splitlines()
    lines = [line for line in equity.read_text().splitlines() if not line.startswith("#")]
    labels = {r["measure_label"] for r in csv.DictReader(lines)}
    assert f"Complex multimorbidity ({short})" in labels
    assert f"Complex multimorbidity ({short}), by IMD decile" in report
