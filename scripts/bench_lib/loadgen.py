"""External load generators: wrk (HTTP/1.1 POST) and h2load (gRPC over h2c).

Both run closed-loop (a fixed number of connections/streams, each sending its next
request when the previous one is answered) and report throughput and latency.
Latencies are in milliseconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .procs import RowError

PACKAGES = {"wrk": "wrk", "h2load": "nghttp2-client"}
_apt_updated = False


def ensure_tool(name: str) -> str:
    """Path of `name`; installed from Debian when missing and we are root, else a RowError."""
    global _apt_updated
    found = shutil.which(name)
    if found:
        return found
    package = PACKAGES[name]
    hint = f"{name} is not installed: run `apt-get install -y {package}` (Debian/Ubuntu) as root"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RowError(hint)
    print(f"bench: installing {package} (apt-get) for {name}", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if not _apt_updated:
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env,
                           stdout=subprocess.DEVNULL, timeout=300)
            _apt_updated = True
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env,
                       stdout=subprocess.DEVNULL, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        raise RowError(f"{hint} (automatic install failed: {exc})") from exc
    found = shutil.which(name)
    if not found:
        raise RowError(hint)
    return found


@dataclass
class LoadResult:
    tool: str
    seconds: float
    requests: int  # answered with a success status
    failed: int  # answered with another status, or errored / timed out
    req_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    extra: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


# ---------------------------------------------------------------------------------- wrk

_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p99":%d,"p999":%d,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


def _lua_string(data: bytes) -> str:
    return '"' + "".join(
        chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:03d}" for b in data
    ) + '"'


def wrk_script(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body)}"]
    lines += [f"wrk.headers[{_lua_string(k.encode())}] = {_lua_string(v.encode())}"
              for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n" + _WRK_DONE)
    return path


def run_wrk(url: str, script: Path, seconds: float, connections: int = 64,
            threads: int = 1) -> LoadResult:
    wrk = ensure_tool("wrk")
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", str(script), url]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired as exc:
        raise RowError(f"wrk did not finish within {seconds + 60:.0f}s") from exc
    match = re.search(r"BENCHJSON (\{.*\})", out.stdout)
    if out.returncode != 0 or not match:
        raise RowError(f"wrk failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-300:]}")
    r = json.loads(match.group(1))
    secs = r["duration_us"] / 1e6
    failed = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    ok = max(0, r["requests"] - r["status"])
    return LoadResult(
        tool="wrk", seconds=secs, requests=ok, failed=failed, req_per_s=ok / secs,
        p50_ms=r["p50"] / 1000, p99_ms=r["p99"] / 1000, p999_ms=r["p999"] / 1000,
        max_ms=r["max"] / 1000,
        extra={"connections": connections, "threads": threads, "errors": {
            k: r[k] for k in ("status", "connect", "read", "write", "timeout")}},
    )


# ------------------------------------------------------------------------------- h2load

GRPC_HEADERS = {"content-type": "application/grpc", "te": "trailers"}


def _percentile(sorted_values: list[int], p: float) -> float:
    i = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values))) - 1))
    return float(sorted_values[i])


def run_h2load(url: str, body_file: Path, headers: dict[str, str], seconds: float,
               log_file: Path, clients: int = 16, streams: int = 16) -> LoadResult:
    """gRPC unary calls: POST of a length-prefixed message with gRPC headers.

    h2load sees HTTP statuses only (grpc-status travels in trailers), so callers must
    check the calls' real outcome another way (a probe call, rows stored).
    """
    h2load = ensure_tool("h2load")
    argv = [h2load, "-t1", f"-c{clients}", f"-m{streams}", f"-D{max(1, round(seconds))}",
            "-d", str(body_file), f"--log-file={log_file}"]
    for k, v in {**GRPC_HEADERS, **headers}.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(url)
    started = time.time()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired as exc:
        raise RowError(f"h2load did not finish within {seconds + 60:.0f}s") from exc
    text = out.stdout
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                     r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    finished = re.search(r"finished in ([\d.]+)(m?s)", text)
    if out.returncode != 0 or not done or not finished:
        raise RowError(f"h2load failed ({out.returncode}): {(out.stderr or text).strip()[-300:]}")
    secs = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    succeeded, failed = int(done.group(4)), int(done.group(5)) + int(done.group(6))
    latencies: list[int] = []
    with open(log_file) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].startswith("2"):
                latencies.append(int(parts[2]))
    latencies.sort()
    if not latencies:
        raise RowError(f"h2load: no successful calls ({text.strip()[-300:]})")
    return LoadResult(
        tool="h2load", seconds=secs, requests=succeeded, failed=failed,
        req_per_s=succeeded / secs,
        p50_ms=_percentile(latencies, 50) / 1000, p99_ms=_percentile(latencies, 99) / 1000,
        p999_ms=_percentile(latencies, 99.9) / 1000, max_ms=latencies[-1] / 1000,
        extra={"clients": clients, "streams": streams, "wall_s": time.time() - started},
    )
