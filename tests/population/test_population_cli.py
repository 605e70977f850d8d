"""`careweave population`: refresh the projection of a real store, then report and export from
it; bad input is a readable message and exit code 2."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from careweave.cli import app
from careweave.population.projection import PROJECTION_SUFFIX
from careweave.store.database import open_database
from careweave.store.migrate import upgrade
from careweave.store.repository import FhirStore
from tests.population.records import AS_OF, deficit_records, patient

runner = CliRunner()


def _store_with_people(url: str, count: int) -> None:
    database = open_database(url)
    upgrade(database)
    store = FhirStore(database)
    for n in range(count):
        person = f"pt{n}"
        store.update(
            "Patient",
            person,
            patient(patient_id=person, born="1940-01-01" if n % 2 else "1950-06-01"),
        )
        for k, entry in enumerate(deficit_records({"falls", "diabetes"} if n % 3 else set())):
            body = {**entry, "id": f"{person}-d{k}", "subject": {"reference": f"Patient/{person}"}}
            store.update(str(body["resourceType"]), str(body["id"]), body)
    database.dispose()


def test_refresh_then_report_and_export(tmp_path: Path) -> None:
    store_file = tmp_path / "careweave.sqlite3"
    url = f"sqlite:///{store_file}"
    _store_with_people(url, 30)
    refreshed = runner.invoke(
        app, ["population", "refresh", "--database-url", url, "--as-of", AS_OF.isoformat()]
    )
    assert refreshed.exit_code == 0, refreshed.output
    assert "30 people measured as of 2026-03-31" in refreshed.output
    assert (tmp_path / f"careweave{PROJECTION_SUFFIX}").exists()

    report = tmp_path / "report.html"
    made = runner.invoke(
        app,
        ["population", "report", "--database-url", url, "--out", str(report), "--place", "Ashby"],
    )
    assert made.exit_code == 0, made.output
    html = report.read_text()
    assert "<title>Population health report: Ashby, 31 March 2026</title>" in html
    # 30 people, all 65+ on the day: a count split so fine is mostly suppressed.
    assert "30 people aged 65 and over." in html
    # No one opted out here, and the report says so as the pages do, under the small-number rule.
    assert "&lt;10 people with a national data opt-out are left out of every figure." in html
    assert "&lt;10" in html
    assert "by IMD decile (1 = most deprived)" in html and "by ethnic group" in html
    assert '<svg role="img"' in html and "<script" not in html

    out = tmp_path / "out"
    exported = runner.invoke(
        app, ["population", "export", "--database-url", url, "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    rows = [
        r
        for r in csv.reader(
            line for line in (out / "measures.csv").open() if not line.startswith("#")
        )
    ]
    assert len(rows) == 31  # the header and thirty people
    assert (out / "equity.csv").exists()


def test_bad_input_is_a_readable_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'careweave.sqlite3'}"
    _store_with_people(url, 1)
    no_projection = runner.invoke(
        app, ["population", "report", "--database-url", url, "--out", str(tmp_path / "r.html")]
    )
    assert no_projection.exit_code == 2
    assert "There is no population projection" in no_projection.output
    bad_day = runner.invoke(
        app, ["population", "refresh", "--database-url", url, "--as-of", "yesterday"]
    )
    assert bad_day.exit_code == 2
    assert "--as-of must be a date" in bad_day.output
    postgres = runner.invoke(
        app,
        ["population", "refresh", "--database-url", "postgresql+psycopg://nobody@127.0.0.1/none"],
    )
    assert postgres.exit_code == 2
    assert "has no file to keep the population projection beside" in postgres.output
    bad_format = runner.invoke(
        app,
        ["population", "export", "--database-url", url, "--out", str(tmp_path), "--format", "xls"],
    )
    assert bad_format.exit_code == 2
    assert "--format must be csv or parquet" in bad_format.output


def test_refresh_sets_complex_thresholds_and_refuses_bad_ones_writing_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'careweave.sqlite3'}"
    _store_with_people(url, 3)
    projection = tmp_path / f"careweave{PROJECTION_SUFFIX}"
    refresh = ["population", "refresh", "--database-url", url, "--as-of", AS_OF.isoformat()]
    refused = [
        (("1", "1"), "--complex-conditions must be a whole number, 2 or more, not '1'"),
        (("4.5", "1"), "--complex-conditions must be a whole number, 2 or more, not '4.5'"),
        (("four", "1"), "--complex-conditions must be a whole number, 2 or more, not 'four'"),
        (("-4", "1"), "--complex-conditions must be a whole number, 2 or more, not '-4'"),
        (("4", "0"), "--complex-body-systems must be a whole number, 1 or more, not '0'"),
        (("3", "4"), "cannot ask for 4 body systems with only 3 conditions"),
        (("4", None), "Give --complex-conditions and --complex-body-systems together"),
    ]

    def bad_refreshes() -> None:
        for (conditions, systems), message in refused:
            options = ["--complex-conditions", conditions]
            if systems is not None:
                options += ["--complex-body-systems", systems]
            result = runner.invoke(app, [*refresh, *options])
            said = " ".join(result.output.split())  # the console wraps long lines
            assert result.exit_code == 2, (options, result.output)
            assert message in said, (options, result.output)
            assert "Traceback" not in said

    bad_refreshes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["careweave.sqlite3"]

    kingston = runner.invoke(
        app, [*refresh, "--complex-conditions", "4", "--complex-body-systems", "1"]
    )
    assert kingston.exit_code == 0, kingston.output
    assert "(complex multimorbidity: 4 or more conditions)" in " ".join(kingston.output.split())
    made = projection.read_bytes()
    bad_refreshes()
    assert projection.read_bytes() == made  # a refused refresh leaves the projection as it was
    rebuilt = runner.invoke(app, [*refresh, "--full"])  # a scheduled rebuild keeps the choice
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "(complex multimorbidity: 4 or more conditions)" in " ".join(rebuilt.output.split())
