"""The real `careweave serve` process, started on a free loopback port, and what it costs.

Memory comes from /proc/<pid>/status: `VmHWM` (the kernel's record of a process's peak resident
set) for each process of the server's tree, plus a sampler thread that sums `VmRSS` over the
tree every few tenths of a second (with several workers, the sum of per-process peaks is only an
upper bound, since the peaks need not coincide). CPU comes from /proc/<pid>/stat.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def careweave_command() -> list[str]:
    """The `careweave` script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "careweave"
    if script.exists():
        return [str(script)]
    found = shutil.which("careweave")
    if found is None:
        raise RuntimeError("the `careweave` command is not installed in this environment")
    return [found]


REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SourceSnapshot:
    """A frozen copy of src/careweave that every server process of a run imports.

    Other people edit the working tree while a benchmark runs; without a snapshot, the import
    server and the query server (started minutes apart) could run different code. The
    snapshot's directory goes first on PYTHONPATH, ahead of the editable install.
    """

    src: Path
    sha256: str
    described_as: str

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.src), env.get("PYTHONPATH", "")) if p
        )
        return env


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPOSITORY), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def _digest(package: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def snapshot_source(into: Path, ref: str | None) -> SourceSnapshot:
    """Copy src/careweave as committed at `ref`, or as it is in the working tree now."""
    src = into / "src"
    src.mkdir(parents=True)
    if ref is not None:
        commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
        if not commit:
            raise RuntimeError(f"{ref!r} is not a commit of {REPOSITORY}")
        archive = subprocess.run(
            ["git", "-C", str(REPOSITORY), "archive", commit, "src/careweave"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(into, filter="data")
        described = f"commit {commit}"
    else:
        shutil.copytree(
            REPOSITORY / "src" / "careweave",
            src / "careweave",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        head = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--", "src/careweave"))
        described = (
            f"working tree at {head or 'no commit'}{' with uncommitted changes' if dirty else ''}"
        )
    return SourceSnapshot(src, _digest(src / "careweave"), described)


def check_snapshot(snapshot: SourceSnapshot) -> None:
    """Fail unless a `careweave` started with the snapshot's environment imports the snapshot."""
    found = subprocess.run(
        [sys.executable, "-c", "import careweave; print(careweave.__file__)"],
        env=snapshot.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(snapshot.src.resolve()):
        raise RuntimeError(f"the server would import {found}, not the snapshot in {snapshot.src}")


def migrate(database_url: str, log: IO[bytes], snapshot: SourceSnapshot) -> None:
    """`careweave db upgrade`, as an operator would run it."""
    subprocess.run(
        [*careweave_command(), "db", "upgrade", "--database-url", database_url],
        check=True,
        stdout=log,
        stderr=log,
        env=snapshot.env,
    )


def issue_token(database_url: str, log: IO[bytes], snapshot: SourceSnapshot) -> str:
    """A bearer token for a platform-wide system client (`careweave token issue`, as an
    operator would): the API refuses requests without one. Such a client sees every record,
    so the access rules add no per-row conditions here (bench.access_checks measures those)."""
    issued = subprocess.run(
        [
            *careweave_command(),
            "token",
            "issue",
            "--scope",
            "system/*.cruds",
            "--client",
            "make bench",
            "--database-url",
            database_url,
        ],
        check=True,
        capture_output=True,
        env=snapshot.env,
    )
    log.write(issued.stderr)
    return issued.stdout.decode().strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            found += [int(child) for child in text.split()]
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants that are still alive."""
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for parent in frontier for child in _children(parent)]
        tree += frontier
    return tree


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of one process, in seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent not idle since boot, summed over its CPUs."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds used by the load generator (this process), the server's processes, and the
    whole machine (which includes the database server and anything else running)."""

    generator: float
    server: float
    machine: float

    def __sub__(self, other: CpuUse) -> CpuUse:
        return CpuUse(
            self.generator - other.generator,
            self.server - other.server,
            self.machine - other.machine,
        )

    def __add__(self, other: CpuUse) -> CpuUse:
        return CpuUse(
            self.generator + other.generator,
            self.server + other.server,
            self.machine + other.machine,
        )


@dataclass
class MemoryReport:
    peak_rss_sum_mb: float
    """The largest sum of VmRSS over the process tree seen by the sampler."""
    peak_anon_sum_mb: float
    """The same for RssAnon: heap and caches, without mapped files (SQLite's mmap, libraries)."""
    peak_hwm_mb: dict[int, float]
    """VmHWM of each process, by pid."""
    samples: int

    @property
    def peak_mb(self) -> float:
        """The headline: exact for one process, an upper bound for several."""
        return max(self.peak_rss_sum_mb, sum(self.peak_hwm_mb.values()))


class _Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True, name="memory-sampler")
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_anon_kb = 0
        self.hwm_kb: dict[int, int] = {}
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        total = anonymous = 0
        for pid in process_tree(self.pid):
            total += _status_kb(pid, "VmRSS")
            anonymous += _status_kb(pid, "RssAnon")
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), _status_kb(pid, "VmHWM"))
        self.peak_rss_kb = max(self.peak_rss_kb, total)
        self.peak_anon_kb = max(self.peak_anon_kb, anonymous)
        self.samples += 1

    def finish(self) -> MemoryReport:
        self.sample()
        self._stop_event.set()
        self.join()
        return MemoryReport(
            peak_rss_sum_mb=self.peak_rss_kb / 1024,
            peak_anon_sum_mb=self.peak_anon_kb / 1024,
            peak_hwm_mb={pid: kb / 1024 for pid, kb in self.hwm_kb.items()},
            samples=self.samples,
        )


class ServerProcess:
    """One run of `careweave serve`; use as a context manager so it is always stopped."""

    def __init__(
        self, database_url: str, workers: int, log_path: Path, snapshot: SourceSnapshot
    ) -> None:
        self.database_url = database_url
        self.snapshot = snapshot
        self.workers = workers
        self.port = free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._sampler: _Sampler | None = None
        self._dead_cpu = 0.0
        self._cpu_seen: dict[int, float] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir/R4"

    @property
    def pid(self) -> int:
        assert self._process is not None, "the server is not running"
        return self._process.pid

    def start(self, timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    *careweave_command(),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--database-url",
                    self.database_url,
                    "--workers",
                    str(self.workers),
                ],
                stdout=log,
                stderr=log,
                env=self.snapshot.env,
                start_new_session=True,  # our Ctrl-C does not reach it; stop() always does
            )
        self._sampler = _Sampler(self._process.pid)
        self._sampler.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited at start; see {self.log_path}")
            if self._answers():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {timeout:.0f}s; see {self.log_path}")

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/fhir/R4/metadata")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def cpu_seconds(self) -> float:
        """CPU used so far by the server's processes (those that exited are remembered)."""
        for pid in process_tree(self.pid):
            self._cpu_seen[pid] = max(self._cpu_seen.get(pid, 0.0), cpu_seconds(pid))
        return sum(self._cpu_seen.values())

    def cpu_by_process(self) -> dict[int, float]:
        """CPU seconds used since it started by each of the server's processes, the biggest
        first: with several workers, one near its start-up cost (a few seconds) means the load
        did not spread across them."""
        self.cpu_seconds()
        return dict(sorted(self._cpu_seen.items(), key=lambda item: -item[1]))

    def cpu_use(self) -> CpuUse:
        """A snapshot to subtract from a later one."""
        return CpuUse(time.process_time(), self.cpu_seconds(), machine_busy_seconds())

    def stop(self) -> MemoryReport | None:
        """Stop the server (SIGINT, as uvicorn expects, then SIGKILL) and report its memory."""
        if self._process is None:
            return None
        report = self._sampler.finish() if self._sampler is not None else None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)  # the group this object started
                self._process.wait(timeout=10)
        self._process = None
        return report

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
