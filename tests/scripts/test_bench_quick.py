"""scripts/bench --quick on the limit rows: every row must produce a number.

The limit rows need no gateway, so this guards the harness itself (server processes,
wrk and h2load parsing, the SQLite ceiling, the table and the JSON file) in ~20 s.
The gateway rows are covered by `scripts/bench --quick` in .ci/run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "scripts" / "bench"
LIMIT_ROWS = ("limit-asgi", "limit-grpc", "limit-sqlite")


def _tools_available() -> bool:
    if shutil.which("wrk") and shutil.which("h2load"):
        return True
    # scripts/bench installs them itself when it runs as root on Debian.
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


@pytest.mark.timeout(240)
def test_quick_limit_rows_each_produce_a_number(tmp_path: Path) -> None:
    if not _tools_available():
        if os.environ.get("CI") == "true":
            pytest.fail("wrk and h2load are required under CI=true")
        pytest.skip("wrk/h2load missing and not root: apt-get install wrk nghttp2-client")
    env = {**os.environ, "BENCH_PYTHON": sys.executable}
    done = subprocess.run(
        [str(BENCH), "--quick", "--rows", ",".join(LIMIT_ROWS), "--seconds", "2",
         "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=200, env=env, cwd=REPO,
    )
    assert done.returncode == 0, f"bench failed:\n{done.stdout}\n{done.stderr}"
    [result_file] = tmp_path.glob("*.json")
    document = json.loads(result_file.read_text())
    rows = {row["name"]: row for row in document["rows"]}
    assert set(rows) == set(LIMIT_ROWS)
    for name, row in rows.items():
        assert row["error"] is None, f"{name}: {row['error']}"
    # Throughput figures, not placeholders: each ceiling did real work.
    assert rows["limit-asgi"]["req_per_s"] > 100
    assert rows["limit-grpc"]["req_per_s"] > 100
    assert rows["limit-sqlite"]["events_per_s"] > 1000
    for name in ("limit-asgi", "limit-grpc"):
        row = rows[name]
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"], row
        assert row["peak_rss_mb"] > 0
    # The table printed on stdout names every row, with no error cell.
    for name in ("raw ASGI", "raw grpc.aio", "sqlite3 executemany"):
        assert name in done.stdout
    assert "error:" not in done.stdout
    assert document["machine"]["nproc"] and document["mode"]["quick"] is True
