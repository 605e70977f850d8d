"""Finding services for a person: by need, nearest first, open when they can go, accessible.

A search is a `ServiceSearch` (what is asked) answered over one `Directory` snapshot by
`find_services`, a pure function, so a page, a CLI and the tests ask the same way and get the
same answer. Why the directory is searched in memory rather than in the store is in
careweave.social_prescribing.directory_index.

What a search means:

* **need**: services with any of the given need categories (none given: every service);
* **near** a postcode or a position: each service's distance is that of its nearest venue;
  results are ordered nearest first (then by name), and a service with no venue that has a
  position (a phone line, say) is left out, since "how far" has no answer for it. Without a
  starting point results are in name order. An unknown postcode is an `UnknownPostcode`;
* **within** a radius (km; `miles_to_km` converts): only services at most that far away;
* **open at** a weekday and time: services with a session covering that moment, sessions past
  midnight included (a Friday 22:00-02:00 session is open at Saturday 01:00). A service with
  no opening times listed is not "open at" any time, so it is left out of such a search;
* **accessibility**: services with every feature asked for;
* **closed** services (`active` false) are left out unless `include_closed` is set.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Final
from zoneinfo import ZoneInfo

from careweave.social_prescribing.directory import CommunityService, DirectoryOrganisation, Venue
from careweave.social_prescribing.directory_codes import ACCESSIBILITY, DAY_NAMES, DAYS, NEEDS
from careweave.social_prescribing.directory_index import Candidate, Directory, DirectoryIndex
from careweave.social_prescribing.postcodes import EARTH_RADIUS_KM, Position, km_to_miles
from careweave.social_prescribing.problems import DirectoryProblem

UK: Final = ZoneInfo("Europe/London")
DEFAULT_LIMIT: Final = 50


@dataclass(frozen=True)
class WeeklyTime:
    """A moment in the week, as opening times are given: a day (DAYS code) and a time."""

    day: str
    at: time

    def __post_init__(self) -> None:
        if self.day not in DAYS:
            raise DirectoryProblem(
                f"'{self.day}' is not a day of the week; use one of {', '.join(DAYS)}"
            )

    @classmethod
    def of(cls, moment: datetime) -> WeeklyTime:
        """The UK weekday and time of `moment` (a naive datetime is taken as UK time)."""
        local = moment.astimezone(UK) if moment.tzinfo is not None else moment
        return cls(DAYS[local.weekday()], local.time().replace(tzinfo=None))

    def describe(self) -> str:
        return f"{DAY_NAMES[self.day]} {self.at:%H:%M}"


@dataclass(frozen=True)
class ServiceSearch:
    """What a link worker is looking for; every part is optional (see the module docstring)."""

    needs: frozenset[str] = frozenset()
    near_postcode: str | None = None
    near: Position | None = None
    within_km: float | None = None
    open_at: WeeklyTime | None = None
    accessibility: frozenset[str] = frozenset()
    include_closed: bool = False
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        object.__setattr__(self, "needs", frozenset(self.needs))
        object.__setattr__(self, "accessibility", frozenset(self.accessibility))
        unknown = sorted(self.needs - set(NEEDS))
        if unknown:
            raise DirectoryProblem(
                f"{_quoted(unknown)} {'is not a need' if len(unknown) == 1 else 'are not needs'}"
                f" the directory knows; choose from {', '.join(NEEDS)}"
            )
        features = sorted(self.accessibility - set(ACCESSIBILITY))
        if features:
            raise DirectoryProblem(
                f"{_quoted(features)} {'is' if len(features) == 1 else 'are'} not an "
                f"accessibility feature the directory knows; choose from {', '.join(ACCESSIBILITY)}"
            )
        if self.near_postcode is not None and self.near is not None:
            raise DirectoryProblem("Search near a postcode or near a position, not both")
        if self.within_km is not None:
            if self.near_postcode is None and self.near is None:
                raise DirectoryProblem("A distance limit needs a postcode to measure it from")
            if self.within_km < 0:
                raise DirectoryProblem("A distance limit cannot be less than nothing")
        if self.limit < 1:
            raise DirectoryProblem("A search must be allowed to find at least one service")


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


@dataclass(frozen=True)
class ServiceMatch:
    """A service found, with who runs it, its nearest venue, and how far that is."""

    service: CommunityService
    organisation: DirectoryOrganisation | None
    venue: Venue | None
    distance_km: float | None = None
    venues: tuple[Venue, ...] = field(default=(), compare=False)

    @property
    def distance_miles(self) -> float | None:
        return None if self.distance_km is None else km_to_miles(self.distance_km)


def find_services(directory: Directory, search: ServiceSearch) -> list[ServiceMatch]:
    """The services `search` asks for (see the module docstring), at most `search.limit`.

    Every candidate is measured, so "nearest first" is exact. The haversine formula is worked
    inline on values prepared per venue (`Candidate`), and compared before its final square
    root and arcsine, which keep the order; only the services returned get a distance in km
    and a `ServiceMatch`, so a search makes few objects (and gives the garbage collector
    little to do) however many services it looks at.
    """
    origin = search.near
    if search.near_postcode is not None:
        origin = directory.postcodes.position_of(search.near_postcode)
    candidates: Iterable[Candidate]
    if not search.needs:
        candidates = directory.candidates
    elif len(search.needs) == 1:
        candidates = directory.by_need.get(next(iter(search.needs)), ())
    else:
        chosen = {id(c): c for need in search.needs for c in directory.by_need.get(need, ())}
        candidates = chosen.values()
    wanted = search.accessibility
    moment = search.open_at
    found: list[tuple[float, str, str, Candidate, Venue | None]] = []
    if origin is not None:
        o_lat = math.radians(origin.latitude)
        o_lon = math.radians(origin.longitude)
        o_cos = math.cos(o_lat)
        limit = math.inf
        if search.within_km is not None:
            limit = math.sin(min(search.within_km / (2 * EARTH_RADIUS_KM), math.pi / 2)) ** 2
    sin = math.sin
    for candidate in candidates:
        service = candidate.service
        if not (search.include_closed or service.active):
            continue
        if wanted and not wanted <= service.accessibility:
            continue
        if moment is not None and not service.is_open(moment.day, moment.at):
            continue
        if origin is None:
            found.append((0.0, candidate.sort_name, service.id, candidate, None))
            continue
        best, nearest = math.inf, None
        for latitude, longitude, cosine, venue in candidate.places:
            h = (
                sin((latitude - o_lat) / 2) ** 2
                + o_cos * cosine * sin((longitude - o_lon) / 2) ** 2
            )
            if h < best:
                best, nearest = h, venue
        if nearest is not None and best <= limit:
            found.append((best, candidate.sort_name, service.id, candidate, nearest))
    best_found = heapq.nsmallest(search.limit, found, key=lambda item: item[:3])
    return [_match(directory, item, origin is not None) for item in best_found]


def _match(
    directory: Directory,
    item: tuple[float, str, str, Candidate, Venue | None],
    measured: bool,
) -> ServiceMatch:
    h, _, _, candidate, venue = item
    service = candidate.service
    venues = directory.venues_of(service)
    if not measured:
        return ServiceMatch(
            service, directory.organisation_of(service), venues[0] if venues else None, None, venues
        )
    km = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
    return ServiceMatch(service, directory.organisation_of(service), venue, km, venues)


def search_directory(index: DirectoryIndex, search: ServiceSearch) -> list[ServiceMatch]:
    """`find_services` over the index's current directory (what a page or CLI calls)."""
    return find_services(index.current(), search)
