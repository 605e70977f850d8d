"""An async HTTP load generator: C workers, each with one request in flight, over a pool of
keep-alive connections; every request's latency is kept so percentiles are exact.

Two clients are offered. `httpx` (an `httpx.AsyncClient`) is the well-known one; `raw` is a
minimal HTTP/1.1 keep-alive client on asyncio streams that costs the benchmark process far less
CPU per request, which matters because the load generator shares the machine's cores with the
server it measures. Both count anything but a 2xx status, and any transport failure, as an
error; a measurement with errors is reported as such, never as a result.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from bench.server import CpuUse

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    absolute: bool = False
    """`path` is from the server's root rather than from the FHIR base URL."""


class Client(Protocol):
    async def send(self, request: Request) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class HttpxClient:
    """`httpx.AsyncClient` with a pool of `connections` keep-alive connections."""

    def __init__(
        self,
        base_url: str,
        connections: int,
        timeout: float,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._origin = str(httpx.URL(base_url).copy_with(path="/", query=None)).rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=base_url,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            timeout=timeout,
            headers={"accept": FHIR_JSON, **dict(headers)},
        )

    async def send(self, request: Request) -> tuple[int, bytes]:
        url = f"{self._origin}{request.path}" if request.absolute else request.path
        response = await self._client.request(
            request.method, url, content=request.body, headers=dict(request.headers)
        )
        return response.status_code, response.content

    async def close(self) -> None:
        await self._client.aclose()


class ProtocolError(Exception):
    """The server's response did not parse as HTTP/1.1."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0


IDLE_LIMIT = 3.0
"""Seconds after which an idle connection is not reused: uvicorn closes keep-alive connections
idle for 5 s, and a request sent as the server closes the connection would be lost."""


class RawClient:
    """HTTP/1.1 over asyncio streams, keep-alive, Content-Length or chunked bodies.

    Only what the benchmark needs: one request at a time per connection, no redirects, no TLS.
    `headers` go with every request (the bearer token).
    """

    def __init__(
        self,
        host: str,
        port: int,
        prefix: str,
        timeout: float,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._host, self._port, self._prefix, self._timeout = host, port, prefix, timeout
        self._headers = [f"{name}: {value}" for name, value in headers]
        self._idle: list[_Connection] = []
        self._open: list[_Connection] = []

    async def send(self, request: Request) -> tuple[int, bytes]:
        conn = await self._checkout()
        try:
            status, body, keep = await asyncio.wait_for(
                self._exchange(conn, request), self._timeout
            )
        except BaseException:
            self._discard(conn)
            raise
        if keep:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            self._discard(conn)
        return status, body

    async def _checkout(self) -> _Connection:
        """The most recently used idle connection that is surely still open, or a new one."""
        while self._idle:
            conn = self._idle.pop()
            fresh = time.monotonic() - conn.idle_since < IDLE_LIMIT
            if fresh and not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            self._discard(conn)
        return await self._connect()

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        conn = _Connection(reader, writer)
        self._open.append(conn)
        return conn

    def _discard(self, conn: _Connection) -> None:
        conn.writer.close()
        if conn in self._open:
            self._open.remove(conn)

    async def _exchange(self, conn: _Connection, request: Request) -> tuple[int, bytes, bool]:
        lines = [
            f"{request.method} {'' if request.absolute else self._prefix}{request.path} HTTP/1.1",
            f"host: {self._host}:{self._port}",
            f"accept: {FHIR_JSON}",
            *self._headers,
        ]
        lines += [f"{name}: {value}" for name, value in request.headers]
        if request.body is not None:
            lines.append(f"content-length: {len(request.body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        conn.writer.write(head + request.body if request.body is not None else head)
        await conn.writer.drain()
        raw_head = await conn.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {status_line!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close"
        if "content-length" in headers:
            body = await conn.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(conn.reader)
        elif int(parts[1]) in {204, 304}:
            body = b""
        else:
            body, keep = await conn.reader.read(), False
        return int(parts[1]), body, keep

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        for conn in list(self._open):
            self._discard(conn)


@dataclass
class Tally:
    """What one measurement saw; `items` counts something per response (e.g. search matches)."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)
    items: int = 0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.error_examples) < 5:
            self.error_examples.append(f"{kind}: {detail[:300]}")


@dataclass(frozen=True)
class Measurement:
    """The figures of one measurement, as printed and as written to the results JSON."""

    name: str
    count: int
    errors: int
    error_kinds: dict[str, int]
    error_examples: list[str]
    seconds: float
    throughput: float
    unit: str
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    generator_cpu: float
    """CPU seconds used by the benchmark process per wall second (1.0 = one core)."""
    server_cpu: float
    """CPU seconds used by the server's processes per wall second (1.0 = one core)."""
    server_ms_per_op: float
    """Server CPU milliseconds per request (per resource for an import): the cost of one
    operation, which depends much less than throughput on what else the machine is doing."""
    other_cpu: float
    """The rest of the machine's busy CPU per wall second: the database server (PostgreSQL),
    the kernel's network work, and anything else that ran meanwhile."""
    concurrency: int
    extra: dict[str, Any] = field(default_factory=dict)


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarise(
    name: str,
    tally: Tally,
    *,
    seconds: float,
    cpu: CpuUse,
    concurrency: int,
    work: int | None = None,
    unit: str = "requests",
    extra: dict[str, Any] | None = None,
) -> Measurement:
    """`work` is what throughput counts (resources for an import); default the requests."""
    ordered = sorted(tally.latencies)
    done = len(ordered) if work is None else work
    return Measurement(
        name=name,
        count=done,
        errors=sum(tally.errors.values()),
        error_kinds=dict(tally.errors),
        error_examples=list(tally.error_examples),
        seconds=seconds,
        throughput=done / seconds if seconds > 0 else 0.0,
        unit=unit,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p95_ms=percentile(ordered, 0.95) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        mean_ms=(sum(ordered) / len(ordered) * 1000) if ordered else 0.0,
        max_ms=(ordered[-1] * 1000) if ordered else 0.0,
        generator_cpu=cpu.generator / seconds if seconds > 0 else 0.0,
        server_cpu=cpu.server / seconds if seconds > 0 else 0.0,
        server_ms_per_op=cpu.server / done * 1000 if done else 0.0,
        other_cpu=max(cpu.machine - cpu.server - cpu.generator, 0.0) / seconds
        if seconds > 0
        else 0.0,
        concurrency=concurrency,
        extra=extra or {},
    )


Inspect = Callable[[Request, int, bytes, Tally], None]
"""Looks at a successful response (e.g. counts search matches or collects ids)."""


async def drive(
    client: Client,
    requests: Iterator[Request],
    *,
    concurrency: int,
    duration: float | None,
    inspect: Inspect | None = None,
) -> tuple[Tally, float]:
    """Run `concurrency` workers until `duration` seconds pass or `requests` runs out.

    Returns the tally and the wall-clock seconds from the first request to the last response.
    Requests still in flight at the deadline are completed and counted, so the measured time
    runs to the last response rather than stopping at the deadline.
    """
    tally = Tally()
    started = time.perf_counter()
    deadline = None if duration is None else started + duration

    async def worker() -> None:
        while deadline is None or time.perf_counter() < deadline:
            try:
                request = next(requests)
            except StopIteration:
                return
            sent = time.perf_counter()
            try:
                status, body = await client.send(request)
            except Exception as exc:  # every transport failure is an error of the measurement
                tally.latencies.append(time.perf_counter() - sent)
                tally.error(type(exc).__name__, f"{request.method} {request.path}: {exc!r}")
                continue
            tally.latencies.append(time.perf_counter() - sent)
            if not 200 <= status < 300:
                tally.error(f"HTTP {status}", f"{request.method} {request.path}: {body!r}")
            elif inspect is not None:
                inspect(request, status, body, tally)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally, time.perf_counter() - started
