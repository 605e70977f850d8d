"""How the pages say a moment: in UK time, whatever zone the server runs in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from careweave.web.wording import london_time


@pytest.mark.usefixtures("server_on_uk_time")
def test_a_naive_moment_is_utc_even_on_a_server_running_on_uk_time() -> None:
    """The store's naive datetimes are UTC: 13:05 UTC on 10 June is 14:05 BST, not 13:05."""
    assert datetime(2026, 6, 10, 13, 5).astimezone().utcoffset() == timedelta(hours=1)
    assert london_time(datetime(2026, 6, 10, 13, 5)) == "Wednesday 10 June 2026, 14:05"
    assert london_time(datetime(2026, 6, 10, 13, 5, tzinfo=UTC)) == "Wednesday 10 June 2026, 14:05"
    assert london_time(datetime(2026, 1, 10, 13, 5)) == "Saturday 10 January 2026, 13:05"
    assert london_time(datetime(2026, 6, 10, 23, 30)) == "Thursday 11 June 2026, 00:30"


def test_a_naive_moment_is_utc_on_a_server_running_on_utc() -> None:
    assert london_time(datetime(2026, 6, 10, 23, 30)) == "Thursday 11 June 2026, 00:30"
