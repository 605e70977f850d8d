"""Writing the directory: adding and changing entries, recording a check, closing a service.

Every change is a new version of the resource (the store keeps them all), so the history of an
entry says what it said when, and who was told what. Each function works in a transaction the
caller opens (`FhirStore.transaction`, or `CareRecordAccess.transaction` for a signed-in user,
whose permissions and audit then apply), so several changes can be kept or dropped together.
`If-Match` versions guard against overwriting someone else's change made since the entry was
read: that is a `ChangedSinceRead`, never a silent overwrite.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from careweave.fhir.errors import Gone, NotFound, VersionConflict
from careweave.social_prescribing.directory import (
    CLOSED,
    CommunityService,
    DirectoryOrganisation,
    Venue,
    organisation_resource,
    service_from,
    service_resource,
    venue_resource,
)
from careweave.social_prescribing.directory_codes import LAST_CHECKED_EXTENSION
from careweave.social_prescribing.problems import ChangedSinceRead, ServiceNotFound
from careweave.store.repository import StoreTransaction

OpenTransaction = Callable[[], AbstractContextManager[StoreTransaction]]
"""Opens a write transaction: `FhirStore.transaction`, or `CareRecordAccess.transaction`."""


@dataclass
class SaveReport:
    """How many resources of each type a save created, changed, or found already so."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def count(self, resource_type: str, created: bool, changed: bool) -> None:
        tally = self.created if created else self.updated if changed else self.unchanged
        tally[resource_type] = tally.get(resource_type, 0) + 1

    def total(self, outcome: str) -> int:
        tally: dict[str, int] = getattr(self, outcome)
        return sum(tally.values())


def save_entries(
    tx: StoreTransaction,
    organisations: Sequence[DirectoryOrganisation],
    venues: Sequence[Venue],
    services: Sequence[CommunityService],
) -> SaveReport:
    """Write these entries under their own ids (an unchanged entry gets no new version)."""
    report = SaveReport()
    names = {o.id: o.name for o in organisations}
    for organisation in organisations:
        _put(tx, organisation_resource(organisation), report)
    for venue in venues:
        _put(tx, venue_resource(venue), report)
    for service in services:
        name = names.get(service.organisation_id) or _organisation_name(tx, service)
        _put(tx, service_resource(service, name), report)
    return report


def _put(tx: StoreTransaction, body: dict[str, Any], report: SaveReport) -> None:
    result = tx.update(body["resourceType"], body["id"], body)
    report.count(body["resourceType"], result.created, result.changed)


def _organisation_name(tx: StoreTransaction, service: CommunityService) -> str | None:
    try:
        name = tx.read("Organization", service.organisation_id).as_dict().get("name")
    except (NotFound, Gone):
        return None  # the store's integrity check names the missing organisation
    return str(name) if name else None


def read_service(tx: StoreTransaction, service_id: str) -> CommunityService:
    return service_from(_read_service(tx, service_id))


def _read_service(tx: StoreTransaction, service_id: str) -> dict[str, Any]:
    try:
        return tx.read("HealthcareService", service_id).as_dict()
    except (NotFound, Gone):
        raise ServiceNotFound(f"There is no service {service_id} in the directory") from None


def _write(tx: StoreTransaction, body: dict[str, Any], if_match: int | None) -> CommunityService:
    try:
        result = tx.update("HealthcareService", body["id"], body, if_match=if_match)
    except VersionConflict:
        raise ChangedSinceRead(
            f"Someone else changed the entry for {body.get('name', body['id'])} since you "
            "opened it; open it again to see their change, then make yours"
        ) from None
    return service_from(result.stored.as_dict())


def record_checked(
    tx: StoreTransaction, service_id: str, on: date, *, if_match: int | None = None
) -> CommunityService:
    """Record that the entry was checked with the service on `on` and is still right: a new
    version whose last-checked date is `on` (the rest of the entry is kept as it is)."""
    body = _read_service(tx, service_id)
    kept = [e for e in body.get("extension") or () if e.get("url") != LAST_CHECKED_EXTENSION]
    body["extension"] = [
        {"url": LAST_CHECKED_EXTENSION, "valueDateTime": on.isoformat()},
        *kept,
    ]
    return _write(tx, body, if_match)


def update_service(
    tx: StoreTransaction,
    service: CommunityService,
    *,
    checked_on: date | None = None,
    if_match: int | None = None,
) -> CommunityService:
    """Write a changed entry; with `checked_on`, the change was checked with the service that
    day (so it is no longer stale). `if_match` defaults to the version `service` was read at."""
    _read_service(tx, service.id)
    if checked_on is not None:
        service = replace(service, last_checked=checked_on)
    body = service_resource(service, _organisation_name(tx, service))
    return _write(tx, body, service.version if if_match is None else if_match)


def close_service(
    tx: StoreTransaction, service_id: str, closed_on: date, *, if_match: int | None = None
) -> CommunityService:
    """Mark a service closed from `closed_on`: `active` false and a `notAvailable` entry, as a
    new version, so its history (and any referral that named it) still reads."""
    body = _read_service(tx, service_id)
    body["active"] = False
    kept = [n for n in body.get("notAvailable") or () if n.get("description") != CLOSED]
    body["notAvailable"] = [
        *kept,
        {"description": CLOSED, "during": {"start": closed_on.isoformat()}},
    ]
    return _write(tx, body, if_match)
