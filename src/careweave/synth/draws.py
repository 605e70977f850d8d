"""Deterministic random streams, one per thing generated.

Every person, organisation and team gets its own `random.Random`, seeded from the place's seed
and the thing's name (`stream(seed, "person", 1234)`). Because no stream depends on how much
another one was used, adding a draw to one part of the generator does not reshuffle the rest,
and any part can be generated on its own (in another process, or again in a test) with the same
result. `random.Random` seeded with an int is stable across platforms and Python releases for the
methods used here (`random`, `randint`, `choice`, `choices`, `gauss`, `lognormvariate`,
`shuffle`, `sample`).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


def stream(seed: int, *names: str | int) -> random.Random:
    """A random stream for one named thing of the place generated from `seed`."""
    key = "\x1f".join(str(part) for part in (seed, *names)).encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


class Weighted(Generic[T]):
    """A fixed weighted choice, precomputed once so each draw is one bisect.

    `random.choices` recomputes cumulative weights on every call; the generator draws from the
    same few tables millions of times.
    """

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if len(items) != len(weights) or not items:
            raise ValueError("a weighted choice needs as many weights as items, and at least one")
        self.items = tuple(items)
        self._cumulative = tuple(itertools.accumulate(weights))
        self._total = self._cumulative[-1]

    def draw(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return self.items[min(index, len(self.items) - 1)]
