"""`make bench` must keep working as the product changes around it: the API began to require a
bearer token and the benchmark, untested, answered every request 401 until someone ran it.
This runs it end to end at a toy size and checks that every request succeeded; the figures it
prints are not looked at (timings are never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson


def test_the_fhir_store_benchmark_runs_without_an_error(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fhir_store",
            "--database",
            "sqlite",
            "--resources",
            "300",
            "--duration",
            "0.3",
            "--concurrency",
            "4",
            "--results-dir",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (written,) = results.glob("*.json")
    document = orjson.loads(written.read_bytes())
    (sqlite,) = document["results"]
    assert sqlite["database"] == "sqlite" and sqlite["failure"] is None
    measurements = [sqlite["import"], *sqlite["queries"]]
    assert sqlite["import"]["count"] == 300  # every resource went in
    assert {m["name"].split(" ")[0] for m in measurements} >= {"import:", "read", "search"}
    assert all(m["errors"] == 0 and m["count"] > 0 for m in measurements)
    # Where the server's CPU went, by process (the way to see whether workers shared the load).
    by_process = sqlite["server_cpu_seconds_by_process"]
    assert by_process and max(by_process.values()) > 0
    assert "server CPU seconds by process" in done.stdout
