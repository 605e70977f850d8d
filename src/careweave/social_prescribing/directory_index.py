"""The whole directory of community services held in memory, kept in step with the store.

**Why in memory.** A link worker's question is "what is near this person", and the store has
no `near` search parameter: its search indexes are exact-match and range tables, so a distance
ordering would mean reading every candidate's Location anyway. The directory is small (10,000
services, their venues and organisations are about 30,000 resources and a few tens of MB as
Python objects), so `DirectoryIndex` reads it once and answers every search from memory: a need
narrows the candidates through a dict, and the haversine distance of a thousand venues takes
about a millisecond. (A bounding-box prefilter over the store's number index on
Location.position would still need a join to HealthcareService per search, and an ordering in
Python afterwards; with the index in memory there is nothing left for the database to do.)

**Keeping in step.** Every store write is a new version, and history is ordered by
`last_updated`. Before answering, `DirectoryIndex.current()` asks the store for the versions
of HealthcareService, Location and Organization written since the newest one it has seen (one
small indexed query per type, usually empty) and applies each one newer than the version it
holds (a deletion removes the entry); a page full of changes (a bulk import) makes it read
everything again instead. So an edit is in the next search, on any process sharing the
database. One gap remains on PostgreSQL: a write whose transaction was stamped before another
one but committed after this index had seen the later one is missed until the next full
re-read, which happens at least every `max_age` (five minutes by default). SQLite stamps
writes under its single write lock, so there they commit in order.

A `Directory` is a consistent snapshot: searches, the staleness report and the export all
read one, and it never changes once built (a refresh builds a new one).
"""

from __future__ import annotations

import math
import threading
import time as clock
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import orjson

from careweave.fhir.search_query import CURSOR_PARAMETER, parse_search
from careweave.social_prescribing.directory import (
    CommunityService,
    DirectoryOrganisation,
    Venue,
    organisation_from,
    service_from,
    venue_from,
)
from careweave.social_prescribing.postcodes import EMPTY_LOOKUP, PostcodeLookup
from careweave.store.repository import FhirStore

DIRECTORY_TYPES: Final = ("Organization", "Location", "HealthcareService")
PAGE_SIZE: Final = 2000
CHANGES_PAGE: Final = 500
"""More versions than this since the last look is a bulk change: read everything again."""
DEFAULT_MAX_AGE_SECONDS: Final = 300.0

Model = DirectoryOrganisation | Venue | CommunityService


@dataclass(frozen=True, slots=True)
class Candidate:
    """A service as a search meets it: its name for ordering, and each of its venues that has
    a position, with the latitude and longitude in radians and the latitude's cosine worked
    out once (the parts of the haversine formula that do not depend on the starting point)."""

    service: CommunityService
    sort_name: str
    places: tuple[tuple[float, float, float, Venue], ...]
    venue_ids: tuple[Venue | None, ...]
    """The venues it was built from (None: not in the directory), to tell when it is stale."""


def _candidate(service: CommunityService, venues: Mapping[str, Venue]) -> Candidate:
    places = []
    found = tuple(venues.get(v) for v in service.venue_ids)
    for venue in found:
        if venue is not None and venue.position is not None:
            latitude = math.radians(venue.position.latitude)
            longitude = math.radians(venue.position.longitude)
            places.append((latitude, longitude, math.cos(latitude), venue))
    return Candidate(service, service.name.casefold(), tuple(places), found)


@dataclass(frozen=True)
class Directory:
    """Every organisation, venue (Location) and service, as read at one moment."""

    organisations: Mapping[str, DirectoryOrganisation]
    venues: Mapping[str, Venue]
    services: Mapping[str, CommunityService]
    postcodes: PostcodeLookup
    """The lookup the index was given, with every venue's postcode added where it has none."""
    by_need: Mapping[str, tuple[Candidate, ...]]
    """Each need category's services (closed ones too), for searches by need."""
    candidates: tuple[Candidate, ...]
    """Every service, for searches without a need."""

    @classmethod
    def of(
        cls,
        organisations: Mapping[str, DirectoryOrganisation],
        venues: Mapping[str, Venue],
        services: Mapping[str, CommunityService],
        postcodes: PostcodeLookup = EMPTY_LOOKUP,
        earlier: Directory | None = None,
    ) -> Directory:
        """The directory of these entries; `earlier` lends the candidates of services that
        did not change, nor did their venues (so a refresh after one edit is cheap)."""
        by_need: dict[str, list[Candidate]] = {}
        known = {} if earlier is None else {c.service.id: c for c in earlier.candidates}

        def reused(service: CommunityService) -> Candidate:
            held = known.get(service.id)
            if (
                held is not None
                and held.service is service
                and held.venue_ids == tuple(venues.get(v) for v in service.venue_ids)
            ):
                return held
            return _candidate(service, venues)

        candidates = tuple(reused(service) for service in services.values())
        for candidate in candidates:
            for need in candidate.service.needs:
                by_need.setdefault(need, []).append(candidate)
        located = ((v.postcode, v.position) for v in venues.values() if v.position is not None)
        return cls(
            organisations=MappingProxyType(dict(organisations)),
            venues=MappingProxyType(dict(venues)),
            services=MappingProxyType(dict(services)),
            postcodes=postcodes.joined((code, at) for code, at in located if at is not None),
            by_need=MappingProxyType({k: tuple(v) for k, v in by_need.items()}),
            candidates=candidates,
        )

    def organisation_of(self, service: CommunityService) -> DirectoryOrganisation | None:
        return self.organisations.get(service.organisation_id)

    def venues_of(self, service: CommunityService) -> tuple[Venue, ...]:
        return tuple(self.venues[v] for v in service.venue_ids if v in self.venues)


def _model(resource_type: str, resource: dict[str, Any]) -> Model:
    if resource_type == "Organization":
        return organisation_from(resource)
    if resource_type == "Location":
        return venue_from(resource)
    return service_from(resource)


def _every(store: FhirStore, resource_type: str) -> Iterator[dict[str, Any]]:
    """Every current resource of a type, a page at a time (keyset paging, never OFFSET)."""
    cursor: str | None = None
    while True:
        params = [("_count", str(PAGE_SIZE)), ("_total", "none")]
        if cursor is not None:
            params.append((CURSOR_PARAMETER, cursor))
        query = parse_search(resource_type, params, store.registry, max_count=PAGE_SIZE)
        page = store.search(query)
        for _, _, content in page.matches:
            yield orjson.loads(content)
        cursor = page.next_cursor
        if cursor is None:
            return


def load_directory(store: FhirStore, postcodes: PostcodeLookup = EMPTY_LOOKUP) -> Directory:
    """The directory as the store holds it now (every Organization, Location and service)."""
    models = _load(store)
    return _snapshot(models, postcodes)


def _load(store: FhirStore) -> dict[tuple[str, str], tuple[int, Model]]:
    models: dict[tuple[str, str], tuple[int, Model]] = {}
    for resource_type in DIRECTORY_TYPES:
        for resource in _every(store, resource_type):
            version = int((resource.get("meta") or {}).get("versionId", 0))
            models[(resource_type, str(resource["id"]))] = (
                version,
                _model(resource_type, resource),
            )
    return models


def _snapshot(
    models: Mapping[tuple[str, str], tuple[int, Model]],
    postcodes: PostcodeLookup,
    earlier: Directory | None = None,
) -> Directory:
    organisations: dict[str, DirectoryOrganisation] = {}
    venues: dict[str, Venue] = {}
    services: dict[str, CommunityService] = {}
    for (_, rid), (_, model) in models.items():
        if isinstance(model, DirectoryOrganisation):
            organisations[rid] = model
        elif isinstance(model, Venue):
            venues[rid] = model
        else:
            services[rid] = model
    return Directory.of(organisations, venues, services, postcodes, earlier)


class DirectoryIndex:
    """The directory in memory for one store, refreshed from the store's history as it changes
    (see the module docstring). Safe to share between threads; build one per store."""

    def __init__(
        self,
        store: FhirStore,
        postcodes: PostcodeLookup = EMPTY_LOOKUP,
        *,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        self.store = store
        self.postcodes = postcodes
        self.max_age_seconds = max_age_seconds
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], tuple[int, Model]] = {}
        self._seen: dict[str, datetime | None] = {}
        self._directory: Directory | None = None
        self._loaded_at = 0.0
        self.full_loads = 0
        """How many times the whole directory was read (tests and the benchmark report it)."""

    def current(self) -> Directory:
        """The directory as the store holds it now."""
        with self._lock:
            directory = self._directory
            if directory is None or clock.monotonic() - self._loaded_at > self.max_age_seconds:
                return self._reload()
            if self._catch_up():
                directory = _snapshot(self._models, self.postcodes, self._directory)
                self._directory = directory
            return directory

    def _newest(self, resource_type: str) -> datetime | None:
        versions = self.store.history(resource_type=resource_type, count=1).versions
        return versions[0].last_updated if versions else None

    def _reload(self) -> Directory:
        # Note the newest versions first: whatever is written while we read is newer, and is
        # applied (or found already applied) by the next catch-up.
        self._seen = {t: self._newest(t) for t in DIRECTORY_TYPES}
        self._models = _load(self.store)
        self._loaded_at = clock.monotonic()
        self.full_loads += 1
        self._directory = _snapshot(self._models, self.postcodes)
        return self._directory

    def _catch_up(self) -> bool:
        """Apply the versions written since the last look; True when anything changed."""
        changed = False
        for resource_type in DIRECTORY_TYPES:
            since = self._seen.get(resource_type)
            if since is None:
                page = self.store.history(resource_type=resource_type, count=CHANGES_PAGE)
            else:
                page = self.store.history(
                    resource_type=resource_type, since=since, count=CHANGES_PAGE
                )
            if page.next_cursor is not None:
                self._reload()
                return True
            for version in reversed(page.versions):  # oldest first
                key = (resource_type, version.id)
                held = self._models.get(key)
                if held is not None and held[0] >= version.version_id:
                    continue
                if version.deleted or version.content is None:
                    if held is not None:
                        del self._models[key]
                        changed = True
                else:
                    model = _model(resource_type, orjson.loads(version.content))
                    self._models[key] = (version.version_id, model)
                    changed = True
                newest = self._seen.get(resource_type)
                if newest is None or version.last_updated > newest:
                    self._seen[resource_type] = version.last_updated
        return changed
