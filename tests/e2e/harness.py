"""Run the real gateway as a subprocess and talk to it over real sockets.

Used by the end-to-end and reliability tests: `event-gateway serve` on free ports, the
admin commands through the real command line, REST through httpx, gRPC through the
generated stubs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(database: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `event-gateway ARGS --database URL` and return its result."""
    result = subprocess.run(
        [PYTHON, "-m", "event_gateway", *args, "--database", database],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"event-gateway {' '.join(args)} failed: {result.stderr}")
    return result


def create_tenant(database: str, tenant: str, slug: str, number: int, *extra: str) -> None:
    cli(database, "tenants", "add", tenant, "--slug", slug, "--number", str(number), *extra)


def create_key(database: str, tenant: str, *extra: str) -> str:
    return cli(database, "keys", "create", "--tenant", tenant, *extra).stdout.strip()


def count_events(database: str, *filters: str) -> int:
    return int(cli(database, "events", "count", *filters).stdout.strip())


@dataclass
class Gateway:
    database: str
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    extra_args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, log_dir: Path, timeout: float = 30.0) -> None:
        self.log_path = log_dir / f"gateway-{self.http_port}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                PYTHON, "-m", "event_gateway", "serve",
                "--http", f"127.0.0.1:{self.http_port}",
                "--grpc", f"127.0.0.1:{self.grpc_port}",
                "--database", self.database,
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gateway exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    if _grpc_listening(self.grpc_port):
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"gateway did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for the clean exit, return the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"gateway did not stop within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _grpc_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_gateway(database: str, log_dir: Path, *extra_args: str, **env: str) -> Iterator[Gateway]:
    gateway = Gateway(database, extra_args=extra_args, env=env)
    gateway.start(log_dir)
    try:
        yield gateway
    finally:
        if gateway.process is not None and gateway.process.poll() is None:
            gateway.stop()
