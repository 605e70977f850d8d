"""The standalone population report publishes the number of people left out for a national
data opt-out as the population pages do: "<10" under 10, the number from 10 up."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from careweave.population.projection import MeasureSettings, build_from_resources, open_projection
from careweave.population.report import population_report
from careweave.uk_time import today
from tests.population.records import AS_OF
from tests.population.test_exports import people


@pytest.mark.parametrize(
    ("opted_out", "shown"), [(0, "&lt;10"), (3, "&lt;10"), (9, "&lt;10"), (12, "12")]
)
def test_the_report_suppresses_a_small_number_of_people_left_out(
    tmp_path: Path, opted_out: int, shown: str
) -> None:
    path = tmp_path / "p.duckdb"
    objectors = {f"pt{n}" for n in range(opted_out)}
    build_from_resources(path, people(40), MeasureSettings(AS_OF), objectors=objectors)
    con = open_projection(path)
    try:
        html = " ".join(population_report(con, place="Ashby").split())
    finally:
        con.close()
    assert f"{shown} people with a national data opt-out are left out of every figure." in html
    assert f"{40 - opted_out} people aged 65 and over." in html


def test_the_report_is_dated_the_uk_day_on_a_server_elsewhere(
    tmp_path: Path, server_a_day_from_the_uk: date
) -> None:
    path = tmp_path / "p.duckdb"
    build_from_resources(path, people(12), MeasureSettings(AS_OF), objectors=set())
    con = open_projection(path)
    try:
        html = " ".join(population_report(con, place="Ashby").split())
        uk = today()
        assert server_a_day_from_the_uk != uk
        assert f"Made on {uk.day} {uk:%B %Y}." in html
        dated = " ".join(population_report(con, place="Ashby", made=date(2026, 6, 11)).split())
        assert "Made on 11 June 2026." in dated
    finally:
        con.close()
