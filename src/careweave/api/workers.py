"""Several server processes on one port, each accepting on a listening socket of its own.

uvicorn's ``--workers`` shares one listening socket among its processes, and whichever process
wakes first accepts every connection that is waiting (asyncio accepts up to the backlog at
once). Clients that open their keep-alive connections together, as a reverse proxy's upstream
pool or a load generator does, then all land on one process while the others idle: measured
here with 16 connections to two workers, one worker took all 16 in most runs, and the API
answered reads at one process's rate. With ``SO_REUSEPORT`` each process listens on a socket of
its own and the kernel spreads new connections across them by a hash of the client's address.

The supervisor is deliberately small: it starts the workers, replaces one that dies (unless it
died starting up: a broken app or a bad address fails the same way every time) and stops them
all on SIGINT or SIGTERM. It first binds the port once without ``SO_REUSEPORT``, so a port that
another server holds is reported as taken rather than silently shared with it.
"""

from __future__ import annotations

import importlib
import multiprocessing
import signal
import socket
import sys
import threading
import traceback
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Barrier
from threading import BrokenBarrierError

import uvicorn
from uvicorn.config import STARTUP_FAILURE

__all__ = ["WorkerSettings", "listening_socket", "run_workers"]

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


def _serve_one(settings: WorkerSettings, started_together: Barrier | None) -> None:
    """One worker process: its own socket in the port's group, then uvicorn until stopped.

    A socket takes connections once it listens. The app is loaded first (seconds: most of
    careweave is imported), and the first workers wait for each other, then all listen at once
    (a connection that arrives before its worker's app has started waits in the backlog):
    otherwise clients that connect as soon as the port answers all reach the worker that loaded
    first, and keep-alive keeps them there.
    """
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
    sock.listen(config.backlog)
    uvicorn.Server(config).run(sockets=[sock])


class _Supervisor:
    def __init__(self, settings: WorkerSettings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[SpawnProcess] = []
        self.stopping = threading.Event()

    def start_one(self, started_together: Barrier | None = None) -> SpawnProcess:
        args = (self.settings, started_together)
        process = self.context.Process(target=_serve_one, args=args, daemon=False)
        process.start()
        return process

    def run(self) -> int:
        """Serve until told to stop; the exit status (0, or 1 when a worker could not start)."""
        status = 0
        previous = {
            sig: signal.signal(sig, lambda _sig, _frame: self.stopping.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            together = self.context.Barrier(self.workers)
            self.processes = [self.start_one(together) for _ in range(self.workers)]
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
        for index, process in enumerate(self.processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                print("careweave: a worker failed to start; stopping", file=sys.stderr)
                return 1
            print(f"careweave: worker {process.pid} stopped ({process.exitcode}); replacing it")
            self.processes[index] = self.start_one()
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

    Raises OSError ("address already in use") when another server holds the port.
    """
    listening_socket(settings.host, settings.port, share=False).close()
    return _Supervisor(settings, workers).run()
