"""`careweave serve --workers N`: every worker accepts connections and keeps to a core of its
own, a dead worker is replaced, SIGTERM stops them all, and a port another server holds is
reported instead of shared.

These run the real command on a loopback port (SQLite: the supervisor does not touch the
database) and read who holds which connection from /proc, so they need Linux.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from careweave.api.workers import worker_cores
from tests.e2e.conftest import careweave_command, free_port, migrate

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads sockets from /proc (Linux only)"
)

CONNECTIONS = 16
WAIT_SECONDS = 60.0
TWO_CORES = len(os.sched_getaffinity(0)) >= 2


def _entries(directory: str) -> list[Path]:
    """The entries of a /proc directory, or none when its process (or thread) has gone while
    we looked: a killed worker can be reaped between listing the children and reading them."""
    try:
        return list(Path(directory).iterdir())
    except FileNotFoundError:
        return []


def _cores_of_threads(pid: int) -> set[frozenset[int]]:
    """The set of cores each of the process's threads may run on."""
    cores = set()
    for task in _entries(f"/proc/{pid}/task"):
        try:
            cores.add(frozenset(os.sched_getaffinity(int(task.name))))
        except ProcessLookupError:  # the thread ended while we looked
            continue
    return cores


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in _entries(f"/proc/{pid}/task"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended while we looked
            continue
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in _entries(f"/proc/{pid}/fd"):
        try:
            target = fd.readlink().name
        except OSError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _tcp_sockets(port: int) -> dict[str, str]:
    """inode -> state ('0A' listening, '01' established) of the sockets on local `port`."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found[fields[9]] = fields[3]
    return found


def _workers(pid: int, port: int) -> dict[int, list[str]]:
    """The states of the port's sockets each child process holds, for the children that
    listen on it (the workers)."""
    sockets = _tcp_sockets(port)
    held = {
        child: [sockets[inode] for inode in _socket_inodes(child) if inode in sockets]
        for child in _children(pid)
    }
    return {child: states for child, states in held.items() if "0A" in states}


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


@pytest.fixture
def database_file(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'careweave.sqlite3'}"
    migrate(url)
    return url


STALL_SECONDS = 3


def _serve(port: int, database_url: str) -> list[str]:
    command = [str(careweave_command()), "serve", "--port", str(port), "--workers", "2"]
    stall = ["--worker-stall-seconds", str(STALL_SECONDS)]
    return [*command, *stall, "--database-url", database_url]


@pytest.fixture
def just_started(
    database_file: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`careweave serve --workers 2` the moment it was started: no worker listens yet."""
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        _serve(port, database_file),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process, port
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@pytest.fixture
def two_workers(
    just_started: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> tuple[subprocess.Popen[bytes], int]:
    process, port = just_started

    def serving() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {(tmp_path / 'serve.log').read_text()}")
        return _answers(port)

    # As a client would: from the first answer on, not once every worker is up (a worker
    # that started serving before the other took every connection made meanwhile).
    _wait_for(serving, "the server to answer")
    return process, port


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/fhir/R4/metadata", timeout=5).ok
    except requests.ConnectionError:
        return False


def test_connections_opened_together_reach_every_worker(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = two_workers
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    try:
        for client in clients:  # each one answered, so each one was accepted
            client.sendall(b"GET /fhir/R4/metadata HTTP/1.1\r\nHost: test\r\n\r\n")
        for client in clients:
            assert client.recv(64).startswith(b"HTTP/1.1 200")
        held = {pid: states.count("01") for pid, states in _workers(process.pid, port).items()}
        assert sum(held.values()) == CONNECTIONS
        # With one shared socket, the first worker to wake took all of them (most runs).
        assert all(count > 0 for count in held.values()), held
    finally:
        for client in clients:
            client.close()


@pytest.mark.skipif(not TWO_CORES, reason="keeping workers to cores needs two cores")
def test_each_worker_and_its_threads_keep_to_a_core_of_their_own(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = two_workers
    for _ in range(CONNECTIONS):  # requests run on the thread pool, which starts on demand
        assert _answers(port)
    workers = _workers(process.pid, port)
    held = [_cores_of_threads(pid) for pid in workers]
    assert all(len(cores) == 1 and len(next(iter(cores))) == 1 for cores in held), held
    assert len({next(iter(cores)) for cores in held}) == len(workers) == 2
    assert len(_cores_of_threads(process.pid)) == 1  # the supervisor is not pinned
    assert next(iter(_cores_of_threads(process.pid))) == frozenset(os.sched_getaffinity(0))


def test_workers_share_cores_only_when_there_are_more_workers_than_cores() -> None:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:
        assert worker_cores(len(cores)) == cores
        assert worker_cores(2) == cores[:2]
    assert worker_cores(len(cores) + 1) == [None] * (len(cores) + 1)


def test_a_worker_that_dies_is_replaced_and_sigterm_stops_them_all(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = two_workers
    victim, survivor = sorted(_workers(process.pid, port))
    victims_cores = _cores_of_threads(victim)
    subprocess.run(["kill", "-9", str(victim)], check=True)
    _wait_for(
        lambda: victim not in _workers(process.pid, port) and len(_workers(process.pid, port)) == 2,
        "a replacement worker",
    )
    assert survivor in _workers(process.pid, port)
    (replacement,) = set(_workers(process.pid, port)) - {survivor}
    assert _cores_of_threads(replacement) == victims_cores  # it takes over the same core
    _wait_for(lambda: _answers(port), "the server to answer again")

    workers = list(_workers(process.pid, port))
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid)
    assert not _answers(port)


def test_a_worker_that_stops_ticking_is_killed_and_replaced(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = two_workers
    frozen, running = sorted(_workers(process.pid, port))
    started = time.monotonic()
    subprocess.run(["kill", "-STOP", str(frozen)], check=True)  # alive, but its loop is still
    _wait_for(
        lambda: frozen not in _workers(process.pid, port) and len(_workers(process.pid, port)) == 2,
        "the stalled worker's replacement",
    )
    assert time.monotonic() - started >= STALL_SECONDS  # not before it had stalled that long
    assert not Path(f"/proc/{frozen}").exists()  # killed and reaped, not left stopped
    assert running in _workers(process.pid, port)  # the healthy one was left alone
    _wait_for(lambda: _answers(port), "the server to answer again")


def test_a_worker_that_stalls_before_its_loop_first_ticks_is_replaced(
    just_started: tuple[subprocess.Popen[bytes], int],
) -> None:
    """A worker stopped the moment it listens, before its event loop has ticked once (as one
    hung in the app's start-up would be), already holds a share of the port's connections: it
    is replaced like any stalled worker, not left waiting as one still starting. (Before the
    fix this froze a worker ahead of its first tick in most runs, and it was never replaced.)"""
    process, port = just_started
    deadline = time.monotonic() + WAIT_SECONDS
    while not (listening := _workers(process.pid, port)):
        assert process.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "no worker began listening"
        time.sleep(0.002)
    frozen = min(listening)
    subprocess.run(["kill", "-STOP", str(frozen)], check=True)
    _wait_for(
        lambda: frozen not in _workers(process.pid, port) and len(_workers(process.pid, port)) == 2,
        "the stalled worker's replacement",
    )
    assert not Path(f"/proc/{frozen}").exists()  # killed and reaped, not left stopped
    _wait_for(lambda: _answers(port), "the server to answer")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].splitlines()[0]
    except (OSError, IndexError):
        return "zombie"


def test_a_port_another_server_holds_is_reported_not_shared(
    two_workers: tuple[subprocess.Popen[bytes], int], database_file: str
) -> None:
    _, port = two_workers
    second = subprocess.run(
        _serve(port, database_file),
        capture_output=True,
        timeout=60,
    )
    said = second.stdout.decode() + second.stderr.decode()
    assert second.returncode == 1, said
    assert "address already in use" in said.lower()
    assert "is serving" not in said  # refused before claiming to serve
