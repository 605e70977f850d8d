"""A MedicationStatement's span: the one reading of its dates that polypharmacy, the Cambridge
score and the projection share, so each edge here holds for all three."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from careweave.population.medicines import statement_span, statement_taken

ASSERTED = "2025-11-20T09:00:00Z"


def statement(**dates: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationStatement", "status": "active", **dates}


@pytest.mark.parametrize(
    ("dates", "span"),
    [
        # a dateTime is one day, read as a day in England (23:30 UTC in summer is the next day)
        ({"effectiveDateTime": "2026-01-15"}, (date(2026, 1, 15), date(2026, 1, 15))),
        ({"effectiveDateTime": "2025-07-01T23:30:00Z"}, (date(2025, 7, 2), date(2025, 7, 2))),
        (
            {"effectivePeriod": {"start": "2025-02-01", "end": "2025-08-31"}},
            (date(2025, 2, 1), date(2025, 8, 31)),
        ),
        # no end: open, still running
        ({"effectivePeriod": {"start": "2025-02-01"}}, (date(2025, 2, 1), None)),
        # partial dates count from the first day they could mean, and a period runs to the
        # last day its end could mean
        ({"effectiveDateTime": "2024"}, (date(2024, 1, 1), date(2024, 1, 1))),
        (
            {"effectivePeriod": {"start": "2024-03", "end": "2024-09"}},
            (date(2024, 3, 1), date(2024, 9, 30)),
        ),
        (
            {"effectivePeriod": {"start": "2023", "end": "2024"}},
            (date(2023, 1, 1), date(2024, 12, 31)),
        ),
        (
            {"effectivePeriod": {"start": "2024-01", "end": "2024-02"}},
            (date(2024, 1, 1), date(2024, 2, 29)),
        ),
        ({"effectivePeriod": {"start": "2024-01", "end": "2024-13"}}, (date(2024, 1, 1), None)),
        # a period without a readable start starts when the statement was asserted
        (
            {"effectivePeriod": {"end": "2026-02-01"}, "dateAsserted": ASSERTED},
            (date(2025, 11, 20), date(2026, 2, 1)),
        ),
        (
            {
                "effectivePeriod": {"start": "2025-13-01", "end": "2026-02-01"},
                "dateAsserted": ASSERTED,
            },
            (date(2025, 11, 20), date(2026, 2, 1)),
        ),
        ({"effectivePeriod": "2025-02-01", "dateAsserted": ASSERTED}, (date(2025, 11, 20), None)),
        ({"effectivePeriod": {"end": "not a day"}}, (None, None)),
        # an unreadable dateTime is no day at all: dateAsserted stands in only for a period
        ({"effectiveDateTime": "yesterday", "dateAsserted": ASSERTED}, (None, None)),
        # a period wins over a dateTime
        (
            {"effectivePeriod": {"start": "2025-02-01"}, "effectiveDateTime": "2026-01-15"},
            (date(2025, 2, 1), None),
        ),
        # no effective element: open from when it was asserted, else unknown
        ({"dateAsserted": ASSERTED}, (date(2025, 11, 20), None)),
        ({}, (None, None)),
    ],
)
def test_a_statements_span(dates: dict[str, Any], span: tuple[date | None, date | None]) -> None:
    assert statement_span(statement(**dates)) == span


def test_a_statement_is_taken_in_the_window_its_span_overlaps() -> None:
    since, as_of = date(2025, 4, 1), date(2026, 3, 31)
    ended_before = statement(effectivePeriod={"start": "2024-01-01", "end": "2025-03-31"})
    ended_in = statement(effectivePeriod={"start": "2024-01-01", "end": "2025-04-01"})
    asserted = statement(effectivePeriod={"end": "2026-02-01"}, dateAsserted=ASSERTED)
    assert statement_taken(ended_before, since, as_of) is None
    assert statement_taken(ended_in, since, as_of) == date(2024, 1, 1)
    # a course that ended "2025-04" was still taken in mid-April
    ended_april = statement(effectivePeriod={"start": "2024-01", "end": "2025-04"})
    assert statement_taken(ended_april, date(2025, 4, 15), as_of) == date(2024, 1, 1)
    assert statement_taken(ended_april, date(2025, 5, 1), as_of) is None
    assert statement_taken(asserted, since, as_of) == date(2025, 11, 20)
    assert statement_taken(statement(effectiveDateTime="2026-04-01"), since, as_of) is None
    assert statement_taken(statement(), since, as_of) is None
