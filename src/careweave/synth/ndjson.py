"""Write resources as NDJSON, one file per resource type (`<dir>/<ResourceType>.ndjson`).

This is the FHIR bulk data layout: each line one resource, compact JSON, UTF-8. Files are opened
the first time a type is written, with a large buffer, and only counts are kept, so memory stays
the same however many resources pass through. `orjson` writes keys in the order the dicts were
built, so the same resources always give the same bytes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

BUFFER_BYTES = 1 << 20


def ndjson_path(directory: Path, resource_type: str) -> Path:
    return directory / f"{resource_type}.ndjson"


class NdjsonWriter:
    """Appends resources to per-type NDJSON files in `directory`, counting them by type."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.counts: dict[str, int] = {}
        self._files: dict[str, IO[bytes]] = {}

    def _file(self, resource_type: str) -> IO[bytes]:
        handle = self._files.get(resource_type)
        if handle is None:
            path = ndjson_path(self.directory, resource_type)
            handle = path.open("wb", buffering=BUFFER_BYTES)
            self._files[resource_type] = handle
            self.counts[resource_type] = 0
        return handle

    def write(self, resource: Mapping[str, Any]) -> None:
        resource_type = resource["resourceType"]
        self._file(resource_type).write(orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE))
        self.counts[resource_type] += 1

    def write_all(self, resources: Iterable[Mapping[str, Any]]) -> None:
        for resource in resources:
            self.write(resource)

    def append_part(self, part_directory: Path, counts: Mapping[str, int]) -> None:
        """Append the files another writer left in `part_directory` (with its `counts`)."""
        for resource_type, count in counts.items():
            with ndjson_path(part_directory, resource_type).open("rb") as part:
                shutil.copyfileobj(part, self._file(resource_type), BUFFER_BYTES)
            self.counts[resource_type] += count

    @property
    def paths(self) -> tuple[Path, ...]:
        """The files written, in the order each type was first written."""
        return tuple(ndjson_path(self.directory, t) for t in self._files)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()

    def __enter__(self) -> NdjsonWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
