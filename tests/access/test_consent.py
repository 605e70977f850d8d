"""A carer's consent to see the plan lasts through the UK day its period ends, on SQLite and
PostgreSQL: the governance question is "may this carer see the plan today, in England?"."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from careweave.access.consent import (
    CARER_ACCESS,
    CONSENT_CATEGORY_SYSTEM,
    carer_consent_in_force,
    carer_consent_of,
)
from careweave.store.repository import FhirStore
from careweave.uk_time import today


def put(store: FhirStore, body: dict[str, Any]) -> None:
    store.update(body["resourceType"], body["id"], body)


def consent_ending(store: FhirStore, end: str | None) -> None:
    """Mary's active consent for her carer Carl to see her plan, its period ending `end`."""
    put(store, {"resourceType": "Patient", "id": "mary"})
    put(
        store,
        {"resourceType": "RelatedPerson", "id": "carl", "patient": {"reference": "Patient/mary"}},
    )
    period = {"start": "2026-06-01"} | ({"end": end} if end is not None else {})
    put(
        store,
        {
            "resourceType": "Consent",
            "id": "carer-consent",
            "status": "active",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                    }
                ]
            },
            "category": [{"coding": [{"system": CONSENT_CATEGORY_SYSTEM, "code": CARER_ACCESS}]}],
            "patient": {"reference": "Patient/mary"},
            "provision": {
                "type": "permit",
                "period": period,
                "actor": [
                    {
                        "role": {"coding": [{"code": "IRCP"}]},
                        "reference": {"reference": "RelatedPerson/carl"},
                    }
                ],
            },
        },
    )


@pytest.mark.parametrize(
    ("end", "last_day"),
    [
        ("2026-06-10", date(2026, 6, 10)),
        # 23:30 UTC on 10 June is 00:30 BST on 11 June: the consent runs through 11 June.
        ("2026-06-10T23:30:00Z", date(2026, 6, 11)),
        ("2026-06-10T22:30:00Z", date(2026, 6, 10)),
        ("2026-12-10T23:30:00Z", date(2026, 12, 10)),  # GMT: the UTC day is the UK day
        ("2026-06", date(2026, 6, 30)),  # a month alone runs to its last day
        ("2028-02", date(2028, 2, 29)),
        ("2026", date(2026, 12, 31)),
    ],
)
def test_a_consent_counts_through_the_uk_day_its_period_ends(
    store: FhirStore, end: str, last_day: date
) -> None:
    consent_ending(store, end)
    assert carer_consent_of(store, "mary", "carl", on=last_day) is not None
    assert carer_consent_of(store, "mary", "carl", on=last_day + timedelta(days=1)) is None


def test_a_consent_with_no_end_counts(store: FhirStore) -> None:
    consent_ending(store, None)
    assert carer_consent_of(store, "mary", "carl", on=date(2099, 1, 1)) is not None


@pytest.mark.parametrize("end", ["June 2026", "2026-13", "10/06/2026", 20260610])
def test_an_end_nobody_can_read_does_not_leave_the_consent_open(end: object) -> None:
    """Another system may write such an end; the access rules and the carers page read the
    consent with this one function, so neither treats it as open."""
    consent = {"provision": {"type": "permit", "period": {"end": end}}}
    assert not carer_consent_in_force(consent, date(2026, 1, 1))
    assert carer_consent_in_force({"provision": {"type": "permit"}}, date(2026, 1, 1))
    assert not carer_consent_in_force({"provision": {"type": "deny"}}, date(2026, 1, 1))


def test_without_a_day_the_consent_is_judged_on_today_in_the_uk(store: FhirStore) -> None:
    consent_ending(store, today().isoformat())
    assert carer_consent_of(store, "mary", "carl") is not None
    consent_ending(store, (today() - timedelta(days=1)).isoformat())
    assert carer_consent_of(store, "mary", "carl") is None
