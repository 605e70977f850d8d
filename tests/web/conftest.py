"""What the browser tests in this folder share: one Debian Chromium for each test module, the
real server's pages, and a journey through them (the helpers: tests/web/browser.py and
tests/web/journey_place.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import live_server
from tests.web.browser import database_kind, launch_chromium, web_root
from tests.web.journey_place import Journey

__all__ = ["live_server"]  # the real server on a fresh database, from tests/e2e/conftest.py


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One browser for the module; each test opens its own contexts (cookies) in it."""
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def web(live_server: str) -> str:
    """The pages' root on the real server (`live_server` yields its FHIR base URL)."""
    return web_root(live_server)


@pytest.fixture
def journey(screenshots: Path, database_url: str, javascript: bool) -> Journey:
    """One run of a module's journey: its pages photographed into the module's `screenshots`
    folder, named by the database and by `javascript` (the test's parameter)."""
    return Journey(screenshots, database_kind(database_url), javascript)
