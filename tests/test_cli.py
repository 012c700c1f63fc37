"""The command line's own promises: one line, not a traceback, for what a user can fix."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "event_gateway", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("event-gateway: ")]
    assert lines, done.stderr
    return lines[-1]


def test_a_port_in_use_under_workers_is_one_line(tmp_path: Path) -> None:
    # Found by a black-box run, as were the cases below: each ended in a traceback.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _run("serve", "--workers", "2", "--http", f"127.0.0.1:{port}", "--grpc", "127.0.0.1:0",
                    "--database", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    assert done.returncode == 1
    assert _one_line(done) == f"event-gateway: [Errno 98] cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["openapi", "-o", "/nonexistent-dir/openapi.json"], "No such file or directory"),
     (["tenants", "list", "--database", "/tmp/not-a-url.db"], "Could not parse SQLAlchemy URL"),
     (["db", "upgrade", "--database", "postgresql://nobody@127.0.0.1:9/none"], "Connect call failed")],
    ids=["output-directory", "database-not-a-url", "upgrade-unreachable"],
)
def test_what_a_user_can_fix_is_one_line(args: list[str], message: str) -> None:
    done = _run(*args)
    assert done.returncode in (1, 2) and message in _one_line(done)


def test_config_show_into_a_closed_pipe_is_quiet() -> None:
    shown = subprocess.run(f"{sys.executable} -m event_gateway config show | head -1", shell=True,
                           capture_output=True, text=True, timeout=60, check=False)
    assert shown.stdout.startswith("http = ") and "Traceback" not in shown.stderr
