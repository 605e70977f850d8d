"""The rules for answering 304 Not Modified (RFC 9110 section 13, as FHIR R4 http.html uses)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from careweave.fhir.conditional_read import not_modified

CHANGED = datetime(2026, 11, 29, 10, 15, 30, 250000)  # naive UTC, as the store keeps it
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def check(none_match: str | None = None, since: str | None = None, version: int = 3) -> bool:
    return not_modified(
        version, CHANGED, if_none_match=none_match, if_modified_since=since, now=NOW
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('W/"3"', True),
        ('"3"', True),
        ("3", True),
        ('W/"2"', False),
        ('W/"2", W/"3"', True),
        ("*", True),
        ('W/"33"', False),
        ("", False),
    ],
)
def test_if_none_match_compares_entity_tags_weakly(header: str, expected: bool) -> None:
    assert check(none_match=header) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Sun, 29 Nov 2026 10:15:30 GMT", True),  # the same second as the change
        ("Sun, 29 Nov 2026 10:15:29 GMT", False),
        ("Sun, 29 Nov 2026 11:00:00 GMT", True),
        ("Sun, 29 Nov 2026 13:00:00 GMT", False),  # in the future: ignored
        ("yesterday", False),  # not an HTTP date: ignored
        ("Sun, 29 Nov 2026 10:15:30 +0100", False),  # 09:15:30 UTC, before the change
    ],
)
def test_if_modified_since_compares_whole_seconds(header: str, expected: bool) -> None:
    assert check(since=header) is expected


def test_if_none_match_wins_over_if_modified_since() -> None:
    assert check(none_match='W/"2"', since="Sun, 29 Nov 2026 11:00:00 GMT") is False
    assert check(none_match='W/"3"', since="Sun, 29 Nov 2026 09:00:00 GMT") is True


def test_no_condition_is_never_not_modified() -> None:
    assert check() is False
