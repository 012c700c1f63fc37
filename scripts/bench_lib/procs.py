"""Server processes under test: start, wait until they listen, sample memory, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path


class RowError(Exception):
    """Why a row produced no number; shown in the table as `error: <why>`."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, limit: int = 240) -> str:
    """The last line of a log (a traceback's last line names the exception), shortened."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    if not lines:
        return "(no output)"
    last = lines[-1]
    return last if len(last) <= limit else last[: limit - 3] + "..."


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def memory_kb(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of one process in kB, None when it is gone."""
    rss = hwm = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        return None
    if rss is None or hwm is None:
        return None
    return rss, hwm


class MemorySampler:
    """Samples VmRSS/VmHWM of a process and its children every `interval` seconds.

    The figure reported is the largest single process (one worker), not the sum: the
    requirement is per worker, and a supervisor parent, if any, is counted on its own.
    """

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (monotonic time, largest VmRSS kB)
        self.peak_hwm_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def sample(self) -> int:
        largest = 0
        for p in process_tree(self.pid):
            found = memory_kb(p)
            if found is None:
                continue
            rss, hwm = found
            largest = max(largest, rss)
            self.peak_hwm_kb = max(self.peak_hwm_kb, hwm)
        if largest:
            self.samples.append((time.monotonic(), largest))
        return largest

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=5)

    def rss_at(self, since: float) -> int | None:
        """Largest VmRSS (kB) in the first sample taken at or after monotonic time `since`."""
        for t, rss in self.samples:
            if t >= since:
                return rss
        return None


class Server:
    """One server under test, in its own process group, output going to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        ports: Sequence[int],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.start_timeout = start_timeout
        self.argv = list(argv)
        self.ports = list(ports)
        self.log = log
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.memory: MemorySampler | None = None

    def __enter__(self) -> Server:
        self.start(self.start_timeout)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                cwd=self.cwd, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not all(_listening(p) for p in self.ports):
            if self.proc.poll() is not None:
                raise RowError(
                    f"{self.name} exited with {self.proc.returncode} at start: {_tail(self.log)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RowError(f"{self.name} did not listen on {self.ports} within {timeout:.0f}s")
            time.sleep(0.1)
        self.memory = MemorySampler(self.proc.pid).start()

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RowError(f"{self.name} died (exit {self.proc.returncode}): {_tail(self.log)}")

    def stop(self) -> None:
        if self.memory is not None:
            self.memory.stop()
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    @property
    def peak_rss_mb(self) -> float | None:
        if self.memory is None or not self.memory.peak_hwm_kb:
            return None
        return self.memory.peak_hwm_kb / 1024
