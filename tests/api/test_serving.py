"""A server process puts what it loaded at start-up out of the garbage collector's way and
checkpoints SQLite's log from a thread of its own; an app built for a test does neither
(freezing the test process would keep every earlier test's garbage alive)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from careweave.api.serving import YOUNGEST_GENERATION_THRESHOLD

PROGRAM = """
import gc, sys
from fastapi.testclient import TestClient
from careweave.api.app import create_app
from careweave.settings import Settings
from careweave.store.migrate import upgrade
from careweave.store.database import open_database

url = "sqlite:///" + sys.argv[1]
upgrade(open_database(url))
app = create_app(Settings(database_url=url), long_running=sys.argv[2] == "server")
before = gc.get_freeze_count()
with TestClient(app) as client:
    assert client.get("/fhir/R4/metadata").status_code == 200
    with app.state.store.database.write() as conn:
        checkpoint_pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    print(before, gc.get_freeze_count(), gc.get_threshold()[0], checkpoint_pages)
"""


@pytest.mark.parametrize("kind", ["server", "test"])
def test_a_server_freezes_what_it_loaded_at_start_up(kind: str, tmp_path: object) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, f"{tmp_path}/careweave.sqlite3", kind],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    before, after, threshold, checkpoint_pages = (int(x) for x in done.stdout.split())
    assert before == 0
    if kind == "server":
        # Everything the app loaded (tens of thousands of objects) is frozen.
        assert after > 10_000
        assert threshold == YOUNGEST_GENERATION_THRESHOLD
        assert checkpoint_pages == 0  # its thread does (careweave.store.wal_checkpoints)
    else:
        assert after == 0
        assert threshold == 700
        assert checkpoint_pages == 1000
