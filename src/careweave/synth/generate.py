"""Generate a synthetic place as FHIR R4 NDJSON: the orchestration behind `careweave generate`.

Order of work: build the place (small), write its Organizations, Locations, Practitioners and
PractitionerRoles, then walk the people by index in chunks, writing each Patient (and, for
people 65+, their record) as soon as it is made. Nothing but counts outlives a person, so memory
stays flat as the population grows.

With `workers > 1` the chunks go to a process pool. Each worker writes its chunk to part files
of its own, and the parent appends the parts to the real files strictly in chunk order, so the
output is byte-for-byte what one process writes: every draw comes from a stream named after the
thing drawn (`stream(seed, "person", index)`, `stream(seed, "record", index)`,
`stream(seed, "privacy", index)`, `stream(seed, "coordination", index)`), never from a shared
sequence that would depend on who ran first.

For a person aged 65+ the order is: their Patient, their record (labelled by the privacy
stream), their choices about data, then the coordination of their care
(careweave.synth.coordination: care team, plan, referrals, a stay in hospital now), which refers
only to what was written before it and to itself.
"""

from __future__ import annotations

import functools
import multiprocessing
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from careweave.synth.coordination import COORDINATION_STREAM, Services, coordination_resources
from careweave.synth.demography import OLDER_AGE
from careweave.synth.draws import stream
from careweave.synth.ndjson import NdjsonWriter
from careweave.synth.older_person import build_older_person
from careweave.synth.people import NHS_NUMBER_CAPACITY, Register, patient_resource
from careweave.synth.place import build_place
from careweave.synth.privacy import PRIVACY_STREAM, privacy_resources
from careweave.synth.resources import place_resources

__all__ = [
    "DEFAULT_AS_OF",
    "NHS_NUMBER_CAPACITY",
    "GenerationSummary",
    "generate_place",
    "write_people",
]

DEFAULT_AS_OF = date(2026, 3, 31)
"""The date records are "as of" unless told otherwise: fixed, so output never depends on today."""

CHUNK_PEOPLE = 2_000
"""People per chunk: how often progress is reported, and the unit of work of a worker."""

PARTS_DIRECTORY = ".careweave-parts"
"""Where workers leave their part files inside the output directory (removed at the end)."""


@dataclass(frozen=True)
class GenerationSummary:
    """What was generated and where it went."""

    out: Path
    place_name: str
    seed: int
    as_of: date
    people: int
    older_people: int  # aged 65 or over on `as_of`
    resources: Mapping[str, int]  # resource type -> how many were written
    files: tuple[Path, ...]  # one NDJSON file per type, in the order types were first written

    @property
    def total_resources(self) -> int:
        return sum(self.resources.values())


def write_people(
    register: Register, start: int, stop: int, writer: NdjsonWriter, *, privacy: bool = True
) -> int:
    """Write people `start` .. `stop - 1` and their records; return how many were 65 or over.

    With `privacy` (careweave.synth.privacy), sensitive Conditions are labelled and each person
    may also get an alcohol dependence Condition, a safeguarding Flag and Consents; without it
    the record is written exactly as before those existed. The coordination of an older
    person's care (careweave.synth.coordination) is the same either way.
    """
    place = register.place
    seed = place.seed
    services = Services.of(place)
    older = 0
    for index in range(start, stop):
        person = register.person(index)
        outcome = None
        if person.age >= OLDER_AGE:
            older += 1
            outcome, facts = build_older_person(person, place, stream(seed, "record", index))
            writer.write(patient_resource(person, outcome))
            if not privacy:
                writer.write_all(outcome.resources)
        else:
            writer.write(patient_resource(person))
        if privacy:
            rng = stream(seed, PRIVACY_STREAM, index)
            writer.write_all(privacy_resources(person, place, outcome, rng))
        if outcome is not None:
            rng = stream(seed, COORDINATION_STREAM, index)
            writer.write_all(coordination_resources(person, outcome, facts, services, rng))
    return older


def _check(people: int, workers: int, untraced_past_capacity: bool) -> None:
    if people < 1:
        raise ValueError("a place needs at least 1 person")
    if people > NHS_NUMBER_CAPACITY and not untraced_past_capacity:
        raise ValueError(
            f"cannot generate {people:,} people: a place holds at most {NHS_NUMBER_CAPACITY:,}, "
            "the number of valid NHS numbers in the test range 999 000 0000 - 999 999 9999 "
            "(ask for the people past that to have no NHS number to go beyond it)"
        )
    if workers < 1:
        raise ValueError("workers must be at least 1")


def _prepare(out: Path, overwrite: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(out.glob("*.ndjson"))
    if existing and not overwrite:
        raise ValueError(
            f"{out} already holds {len(existing)} NDJSON file(s) ({existing[0].name}, ...): "
            "choose an empty directory, or overwrite"
        )
    for path in existing:
        path.unlink()


def _chunks(people: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, people)) for start in range(0, people, size)]


@dataclass(frozen=True)
class _Chunk:
    number: int
    start: int
    stop: int
    people: int
    seed: int
    as_of: date
    directory: Path
    privacy: bool
    untraced_past_capacity: bool


@dataclass(frozen=True)
class _ChunkResult:
    number: int
    stop: int
    counts: dict[str, int]
    older: int


@functools.lru_cache(maxsize=1)
def _worker_register(people: int, seed: int, as_of: date, untraced_past_capacity: bool) -> Register:
    """The place and register of a worker process, built on its first chunk and then kept."""
    directory = build_place(people=people, seed=seed, as_of=as_of)
    return Register(directory, untraced_past_capacity=untraced_past_capacity)


def _write_chunk(chunk: _Chunk) -> _ChunkResult:
    register = _worker_register(chunk.people, chunk.seed, chunk.as_of, chunk.untraced_past_capacity)
    chunk.directory.mkdir()
    with NdjsonWriter(chunk.directory) as writer:
        older = write_people(register, chunk.start, chunk.stop, writer, privacy=chunk.privacy)
    return _ChunkResult(chunk.number, chunk.stop, dict(writer.counts), older)


def _write_in_parallel(
    *,
    people: int,
    seed: int,
    as_of: date,
    out: Path,
    workers: int,
    writer: NdjsonWriter,
    progress: Callable[[int], None] | None,
    privacy: bool,
    untraced_past_capacity: bool,
) -> int:
    parts = out / PARTS_DIRECTORY
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir()
    size = max(500, min(10_000, people // (workers * 8) or 1))
    chunks = [
        _Chunk(
            number,
            start,
            stop,
            people,
            seed,
            as_of,
            parts / f"{number:06d}",
            privacy,
            untraced_past_capacity,
        )
        for number, (start, stop) in enumerate(_chunks(people, size))
    ]
    older = 0
    try:
        # "spawn": a fresh interpreter per worker, safe whatever threads the caller runs.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for result in pool.imap(_write_chunk, chunks):  # in chunk order
                part = parts / f"{result.number:06d}"
                writer.append_part(part, result.counts)
                shutil.rmtree(part)
                older += result.older
                if progress is not None:
                    progress(result.stop)
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return older


def generate_place(
    *,
    people: int,
    seed: int,
    out: Path,
    as_of: date = DEFAULT_AS_OF,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    overwrite: bool = False,
    privacy: bool = True,
    untraced_past_capacity: bool = False,
) -> GenerationSummary:
    """Generate a place of `people` registered people from `seed` into `out` as NDJSON.

    The same arguments always give the same bytes, whatever `workers` is. `progress`, if
    given, is called with the number of people written so far after each chunk. Raises
    `ValueError` for fewer than 1 or more than `NHS_NUMBER_CAPACITY` people, for workers < 1,
    and when `out` already holds NDJSON files (unless `overwrite`, which deletes them first).
    `privacy=False` leaves out sensitive labels, safeguarding flags, alcohol dependence
    Conditions and Consents (careweave.synth.privacy): every other file is byte-for-byte the
    same either way.
    `untraced_past_capacity=True` lets a benchmark go past `NHS_NUMBER_CAPACITY`: the people
    past it get no NHS number (careweave.synth.people).
    """
    _check(people, workers, untraced_past_capacity)
    _prepare(out, overwrite)
    directory = build_place(people=people, seed=seed, as_of=as_of)
    with NdjsonWriter(out) as writer:
        writer.write_all(place_resources(directory))
        if workers == 1:
            register = Register(directory, untraced_past_capacity=untraced_past_capacity)
            older = 0
            for start, stop in _chunks(people, CHUNK_PEOPLE):
                older += write_people(register, start, stop, writer, privacy=privacy)
                if progress is not None:
                    progress(stop)
        else:
            older = _write_in_parallel(
                people=people,
                seed=seed,
                as_of=as_of,
                out=out,
                workers=workers,
                writer=writer,
                progress=progress,
                privacy=privacy,
                untraced_past_capacity=untraced_past_capacity,
            )
    return GenerationSummary(
        out=out,
        place_name=directory.place.name,
        seed=seed,
        as_of=as_of,
        people=people,
        older_people=older,
        resources=dict(writer.counts),
        files=writer.paths,
    )
