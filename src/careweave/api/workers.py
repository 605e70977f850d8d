"""Several server processes on one port, each accepting on a listening socket of its own.

uvicorn's ``--workers`` shares one listening socket among its processes, and whichever process
wakes first accepts every connection that is waiting (asyncio accepts up to the backlog at
once). Clients that open their keep-alive connections together, as a reverse proxy's upstream
pool or a load generator does, then all land on one process while the others idle: measured
here with 16 connections to two workers, one worker took all 16 in most runs, and the API
answered reads at one process's rate. With ``SO_REUSEPORT`` each process listens on a socket of
its own and the kernel spreads new connections across them by a hash of the client's address.

The supervisor is deliberately small: it starts the workers, replaces one that dies (unless it
died starting up: a broken app or a bad address fails the same way every time) or whose event
loop has stopped ticking (`WorkerSettings.stall_seconds`), and stops them all on SIGINT or
SIGTERM. `check_port_free` binds the port once without ``SO_REUSEPORT``, so a port that
another server holds is reported as taken rather than silently shared with it.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import traceback
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Barrier
from threading import BrokenBarrierError
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

__all__ = ["WorkerSettings", "check_port_free", "listening_socket", "run_workers"]

Heartbeat = Any
"""A `c_double` in shared memory: when the worker's event loop last ticked (monotonic s)."""

_CHECK_SECONDS = 0.5
_STOP_SECONDS = 10.0
_START_SECONDS = 120.0


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker serves, and where (passed to each worker process)."""

    app: str
    host: str
    port: int
    log_level: str = "warning"
    stall_seconds: float = 30.0
    """A listening worker whose event loop has not ticked for this long (or not yet ticked this
    long after it began listening) is killed and replaced: requests run off the loop, so even
    a slow page leaves it ticking every 0.1 s."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listening_socket(host: str, port: int, *, share: bool = True) -> socket.socket:
    """A TCP socket bound to (host, port); with `share`, one of a group of such sockets among
    which the kernel spreads new connections. Raises OSError when the address is taken."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if share:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def check_port_free(host: str, port: int) -> None:
    """Raise OSError when another server holds (host, port).

    Binding without ``SO_REUSEPORT`` fails when any socket holds the port, where the workers'
    own sockets would quietly share it with a server that had set the option."""
    listening_socket(host, port, share=False).close()


class _BeatingServer(uvicorn.Server):
    """uvicorn's server, stamping `heartbeat` (monotonic seconds) from its event loop's tick,
    every 0.1 s: a worker whose loop stops (blocked, or the process stopped) stops stamping."""

    def __init__(self, config: uvicorn.Config, heartbeat: Heartbeat) -> None:
        super().__init__(config)
        self.heartbeat = heartbeat

    async def on_tick(self, counter: int) -> bool:
        self.heartbeat.value = time.monotonic()
        return await super().on_tick(counter)


def worker_cores(workers: int) -> list[int | None]:
    """The core each worker keeps to, or None for each when there are fewer cores than workers.

    A worker's event loop and its thread pool hand Python's lock (the GIL) to each other on
    every request. On different cores each hand-over wakes a thread on the other core, and a
    read cost about 1.8 ms of CPU instead of 1.25 ms when measured (py-spy and /proc, one
    worker, 16 clients). Kept to one core, the worker's threads hand over in place; the
    workers still use every core between them, and PostgreSQL's processes are not pinned.
    """
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2 or workers > len(cores):
        return [None] * workers
    pinned: list[int | None] = [*cores[:workers]]
    return pinned


def _serve_one(
    settings: WorkerSettings,
    started_together: Barrier | None,
    heartbeat: Heartbeat,
    core: int | None = None,
) -> None:
    """One worker process: its own socket in the port's group, then uvicorn until stopped.

    A socket takes connections once it listens. The app is loaded first (seconds: most of
    careweave is imported), and the first workers wait for each other, then all listen at once
    (a connection that arrives before its worker's app has started waits in the backlog):
    otherwise clients that connect as soon as the port answers all reach the worker that loaded
    first, and keep-alive keeps them there.
    """
    if core is not None:  # before the app starts any thread: threads inherit it
        os.sched_setaffinity(0, {core})
    try:
        sock = listening_socket(settings.host, settings.port)
        module, _, name = settings.app.partition(":")
        app = getattr(importlib.import_module(module), name)
    except BaseException:
        traceback.print_exc()
        if started_together is not None:
            started_together.abort()
        sys.exit(STARTUP_FAILURE)
    if started_together is not None:
        with suppress(BrokenBarrierError):  # one failed to start: the supervisor stops them all
            started_together.wait(_START_SECONDS)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
    )
    # From the moment it listens the worker holds a share of the port's connections, so it
    # must beat from then on: one that hangs before its loop first ticks (in the app's
    # start-up, say) has stalled, and is replaced like any other, not left "starting".
    heartbeat.value = time.monotonic()
    sock.listen(config.backlog)
    _BeatingServer(config, heartbeat).run(sockets=[sock])


class _Supervisor:
    def __init__(self, settings: WorkerSettings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[SpawnProcess] = []
        self.heartbeats: list[Heartbeat] = []
        self.cores = worker_cores(workers)
        self.stopping = threading.Event()

    def start_one(
        self, index: int, started_together: Barrier | None = None
    ) -> tuple[SpawnProcess, Heartbeat]:
        # No lock: a worker stopped while holding it would block the supervisor's read. One
        # aligned double is written and read whole.
        heartbeat = self.context.Value("d", 0.0, lock=False)
        args = (self.settings, started_together, heartbeat, self.cores[index])
        process = self.context.Process(target=_serve_one, args=args, daemon=False)
        process.start()
        return process, heartbeat

    def run(self) -> int:
        """Serve until told to stop; the exit status (0, or 1 when a worker could not start)."""
        status = 0
        previous = {
            sig: signal.signal(sig, lambda _sig, _frame: self.stopping.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            together = self.context.Barrier(self.workers)
            started = [self.start_one(index, together) for index in range(self.workers)]
            self.processes = [process for process, _ in started]
            self.heartbeats = [heartbeat for _, heartbeat in started]
            while not self.stopping.wait(_CHECK_SECONDS):
                status = self.replace_dead()
                if status:
                    break
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def replace_dead(self) -> int:
        """Replace each worker that has died or hung; 1 when one failed to start."""
        for index, process in enumerate(self.processes):
            beat = self.heartbeats[index].value
            if process.is_alive():
                if not beat or time.monotonic() - beat < self.settings.stall_seconds:
                    continue  # not listening yet (loading, or waiting for the others), or serving
                print(f"careweave: worker {process.pid} stalled; replacing it", file=sys.stderr)
                process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                print("careweave: a worker failed to start; stopping", file=sys.stderr)
                return 1
            print(f"careweave: worker {process.pid} stopped ({process.exitcode}); replacing it")
            self.processes[index], self.heartbeats[index] = self.start_one(index)
        return 0

    def stop_all(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(_STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()


def run_workers(settings: WorkerSettings, workers: int) -> int:
    """Serve `settings.app` from `workers` processes until SIGINT or SIGTERM; the exit status.

    Call `check_port_free` first: a worker that cannot bind fails to start, and that stops all.
    """
    return _Supervisor(settings, workers).run()
