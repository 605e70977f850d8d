"""Postcodes and distances: where a person is, and how far a service is from them.

A search "near this postcode" needs the postcode's position. England's postcode positions (ONS
Postcode Directory) are not in careweave, and the synthetic place's postcodes are invented
(QX..., careweave.synth.place), so positions come from a `PostcodeLookup`: a table built from
the synthetic place (`place_postcodes`), joined by the search index with the postcodes of the
Locations in the store (each Location's address postcode at its position). A postcode that is
in neither is an `UnknownPostcode`, never a silently empty result.

Distances are great-circle distances (haversine) on a sphere of the Earth's mean radius: within
0.5% of the true distance on the ground, far better than "as the crow flies" needs to be for
"what is near me".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from careweave.social_prescribing.problems import NotAPostcode, UnknownPostcode
from careweave.synth.draws import stream
from careweave.synth.place import PlaceDirectory

EARTH_RADIUS_KM: Final = 6371.0088
"""The mean radius of the Earth (IUGG), the usual sphere for haversine distances."""
KM_PER_MILE: Final = 1.609344
_POSTCODE: Final = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})")
"""A UK postcode without its space: outward code (area and district), then inward code."""
POSTCODE_SPREAD: Final = (0.002, 0.003)
"""How far (degrees of latitude, longitude; about 220 m each way) a street's postcode lies from
its neighbourhood's centre in the synthetic place: the spread the place uses for its sites."""


@dataclass(frozen=True, slots=True)
class Position:
    """A point on the map (WGS84 degrees), as FHIR Location.position holds it."""

    latitude: float
    longitude: float


def distance_km(a: Position, b: Position) -> float:
    """The great-circle (haversine) distance between two points, in kilometres."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    half_dlat = (lat2 - lat1) / 2
    half_dlon = math.radians(b.longitude - a.longitude) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(half_dlon) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def km_to_miles(km: float) -> float:
    return km / KM_PER_MILE


def miles_to_km(miles: float) -> float:
    return miles * KM_PER_MILE


def normalise_postcode(text: str) -> str:
    """A postcode as Royal Mail writes it ("QX4 2AB"), whatever its case and spacing; raises
    NotAPostcode for text that is not shaped like one."""
    squeezed = "".join(text.split()).upper()
    match = _POSTCODE.fullmatch(squeezed)
    if match is None:
        raise NotAPostcode(f"'{text.strip()}' is not a postcode (a postcode looks like QX4 2AB)")
    return f"{match.group(1)} {match.group(2)}"


def is_postcode(text: str) -> bool:
    return _POSTCODE.fullmatch("".join(text.split()).upper()) is not None


class PostcodeLookup:
    """Postcode -> position, for the postcodes careweave knows where they are."""

    def __init__(self, positions: Mapping[str, Position], *, normalised: bool = False) -> None:
        """`normalised`: every key is already as `normalise_postcode` writes it."""
        self._positions = MappingProxyType(
            dict(positions)
            if normalised
            else {normalise_postcode(code): at for code, at in positions.items()}
        )

    def __len__(self) -> int:
        return len(self._positions)

    def __contains__(self, postcode: object) -> bool:
        return (
            isinstance(postcode, str)
            and is_postcode(postcode)
            and normalise_postcode(postcode) in self._positions
        )

    def position_of(self, postcode: str) -> Position:
        """Where `postcode` is; NotAPostcode or UnknownPostcode when that cannot be said."""
        code = normalise_postcode(postcode)
        at = self._positions.get(code)
        if at is None:
            raise UnknownPostcode(
                f"The postcode {code} is not one careweave knows the position of, so it cannot "
                "find services near it; check it, or search from another postcode"
            )
        return at

    def joined(self, others: Iterable[tuple[str, Position]]) -> PostcodeLookup:
        """This table with `others` added where it has no position of its own; a postcode that
        several of `others` share is placed at their mean."""
        gathered: dict[str, list[Position]] = {}
        for postcode, at in others:
            if is_postcode(postcode):
                code = normalise_postcode(postcode)
                if code not in self._positions:
                    gathered.setdefault(code, []).append(at)
        merged = dict(self._positions)
        for code, points in gathered.items():
            merged[code] = Position(
                sum(p.latitude for p in points) / len(points),
                sum(p.longitude for p in points) / len(points),
            )
        return PostcodeLookup(merged, normalised=True)

    def postcodes(self) -> tuple[str, ...]:
        return tuple(sorted(self._positions))


EMPTY_LOOKUP: Final = PostcodeLookup({})


def place_postcodes(directory: PlaceDirectory) -> PostcodeLookup:
    """Every street postcode of a synthetic place, each near its neighbourhood's centre.

    The place gives neighbourhoods a position but streets none; each street's postcode is put a
    small, seeded distance (`POSTCODE_SPREAD`) from its neighbourhood's centre, so the same place
    always gives the same table.
    """
    positions: dict[str, Position] = {}
    for neighbourhood in directory.place.neighbourhoods:
        for street in directory.streets[neighbourhood.code]:
            rng = stream(directory.place.seed, "postcode-position", street.postcode)
            positions[street.postcode] = Position(
                round(neighbourhood.latitude + rng.gauss(0, POSTCODE_SPREAD[0]), 5),
                round(neighbourhood.longitude + rng.gauss(0, POSTCODE_SPREAD[1]), 5),
            )
    return PostcodeLookup(positions)
