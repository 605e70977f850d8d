"""The real careweave server, started as a separate process on a loopback port.

`live_server` migrates a fresh database with `careweave db upgrade`, then starts `careweave
serve` on a free port, waits until `GET /fhir/R4/metadata` answers and yields the FHIR base URL.
It depends on `database_url`, so every end-to-end test runs against SQLite and PostgreSQL alike.

The `careweave` command is taken from the directory of the running interpreter, so the tests
use the same virtual environment as pytest wherever it lives. The server's output goes to files
(not pipes, which would fill and block it) and is shown when it fails to start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from careweave import cli

STARTUP_SECONDS = 90.0
"""How long the server may take to answer /metadata before the fixture gives up.

It usually answers in 3-8 s; the margin is for a loaded CI machine running tests in parallel.
"""

STOP_SECONDS = 10.0


def careweave_command() -> Path:
    """The `careweave` console script installed beside the interpreter running the tests."""
    command = Path(sys.executable).parent / ("careweave.exe" if os.name == "nt" else "careweave")
    if not command.exists():
        pytest.fail(f"the careweave command is not installed beside {sys.executable}")
    return command


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it, so parallel workers differ)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PortTaken(Exception):  # noqa: N818
    """Another process bound the port between `free_port` and the server starting."""


def _output(path: Path) -> str:
    return path.read_text(errors="replace").strip() or "(nothing)"


def migrate(database_url: str) -> None:
    """Run `careweave db upgrade`, failing the test with its output if it does not succeed.

    The command runs in this process (Typer's runner calls the same entry point as the shell
    would): a second interpreter start per test would double the fixture's cost, and it is the
    server, not the migration, that these tests need as a separate process.
    """
    result = CliRunner().invoke(cli.app, ["db", "upgrade", "--database-url", database_url])
    if result.exit_code != 0:
        problem = result.output.strip() or repr(result.exception)
        pytest.fail(f"`careweave db upgrade` exited with {result.exit_code}:\n{problem}")


def _wait_until_serving(process: subprocess.Popen[bytes], base_url: str, stderr: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if "address already in use" in _output(stderr).lower():
                raise PortTaken
            pytest.fail(
                f"`careweave serve` exited with {process.returncode} before answering "
                f"{base_url}/metadata; its stderr:\n{_output(stderr)}"
            )
        try:
            response = requests.get(f"{base_url}/metadata", timeout=2)
        except requests.ConnectionError as exc:
            last_problem = f"connection failed: {exc}"
        except requests.Timeout:
            last_problem = "timed out"
        else:
            if response.status_code == 200:
                return
            last_problem = f"HTTP {response.status_code}: {response.text[:500]}"
        time.sleep(0.1)
    pytest.fail(
        f"`careweave serve` did not answer {base_url}/metadata within {STARTUP_SECONDS:.0f} s "
        f"(last: {last_problem}); its stderr:\n{_output(stderr)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


def _start(database_url: str, log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `careweave serve` on a free port; a lost race for the port is retried."""
    stderr = log_dir / "stderr.log"
    for _attempt in range(3):
        port = free_port()
        with (log_dir / "stdout.log").open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [
                    str(careweave_command()),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--database-url",
                    database_url,
                ],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        base_url = f"http://127.0.0.1:{port}/fhir/R4"
        try:
            _wait_until_serving(process, base_url, stderr)
        except PortTaken:
            continue
        except BaseException:
            _stop(process)
            raise
        return process, base_url
    pytest.fail(f"no free loopback port found for `careweave serve`:\n{_output(stderr)}")


def issue_system_token(database_url: str, scope: str = "system/*.cruds") -> str:
    """A bearer token from `careweave token issue`, as an administrator would get one."""
    result = CliRunner().invoke(
        cli.app,
        ["token", "issue", "--scope", scope, "--client", "e2e", "--database-url", database_url],
    )
    if result.exit_code != 0:
        pytest.fail(f"`careweave token issue` exited with {result.exit_code}:\n{result.output}")
    return result.output.strip().splitlines()[-1]


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """The FHIR base URL (http://127.0.0.1:PORT/fhir/R4) of a real server on a fresh database."""
    log_dir = tmp_path / "server"
    log_dir.mkdir()
    migrate(database_url)
    process, base_url = _start(database_url, log_dir)
    try:
        yield base_url
    finally:
        _stop(process)


@pytest.fixture
def api_token(live_server: str, database_url: str) -> str:
    """A platform-wide integration's token for the live server (its database is migrated)."""
    return issue_system_token(database_url)
