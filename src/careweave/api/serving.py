"""How a long-running server process treats Python's garbage collector.

A page such as the caseload builds some tens of thousands of small objects (the JSON of a few
hundred records) and drops them again when it is answered. With the interpreter's defaults a
collection of the oldest generation then now and again walks every object the process holds,
the hundreds of thousands loaded at start-up (FHIR models, search parameters, templates)
included, inside somebody's request: that was the slowest tenth of caseload requests (p90 250
ms against a median of 135 ms at 100,000 people). What is loaded at start-up lives as long as
the process, so it is frozen out of the collector's sight, and the youngest generation is
collected less often, since nearly everything a request makes is freed by reference counting
before any collection would look at it.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNGEST_GENERATION_THRESHOLD: Final = 20_000
"""Net new container objects between collections of the youngest generation (default 700)."""


def settle_for_serving() -> None:
    """Collect once, freeze what survived (it stays for the life of the process), and collect
    the youngest generation less often. Call once, when the app has started."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST_GENERATION_THRESHOLD, middle, oldest)
