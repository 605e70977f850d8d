"""The generator runs without the store: one fresh interpreter per worker loads it, so what it
imports is paid in start-up time and memory by every `careweave generate` process."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlalchemy", "fhir.resources", "careweave.store.repository", "careweave.api")


def test_the_generator_loads_neither_the_store_nor_the_fhir_validator() -> None:
    check = (
        "import sys, careweave.synth.generate; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"careweave.synth.generate loads {loaded}"
