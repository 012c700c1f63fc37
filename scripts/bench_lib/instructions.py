"""What auth + throttling add to a REST request, counted in instructions by callgrind.

The policy row measures CPU time, which on a shared machine wanders by more than the
effect; instructions do not depend on the machine's speed. Each state runs the
switched gateway (bench_servers/gateway_switched_policy.py) held in one state (a window
longer than the run) under `valgrind --tool=callgrind`, loaded by wrk. The counters are
zeroed after a warm-up, dumped after the measured load, then zeroed and dumped again
around an idle spell; what the process does per second while idle (timers, the writer's
loop) is taken off the loaded count before dividing by the requests wrk saw answered.
States run side by side, so a drift of the machine reaches them alike.

States are the switched server's `--on` parts: `off` is KnownCaller alone (the caller's
principal put into the scope, nothing checked), `on` the real AuthInterceptor and
ThrottleInterceptor; `--breakdown` adds auth alone, the throttle alone (behind
KnownCaller) and the four rate-limit trailers with fixed values.

Under valgrind the gateway serves ~70 requests a second instead of ~3,000, so anything
paid per second weighs ~40 times more per request: the idle subtraction covers the
timers, and the catalogue's key cache is kept for the whole run (--key-ttl) rather
than reloaded every 5 s, which at full speed costs a request well under 1%.

    scripts/bench instructions                # off and on, 40 s of load each (~3 min)
    scripts/bench instructions --breakdown    # also auth, throttle, headers alone (~8 min)

Needs valgrind (Debian's `valgrind`) and wrk. Prints a table; writes
bench-results/instructions-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import payloads
from .cli import git_commit, machine
from .loadgen import ensure_tool, run_wrk, wrk_script
from .procs import RowError
from .rows import (
    BENCH_KEY_LIMITS,
    REPO,
    SERVERS,
    Context,
    Mode,
    RowResult,
    gateway,
    repeated,
    rest_headers,
)

STATES = {
    "off": "known",
    "on": "auth,throttle",
    "auth": "auth",
    "throttle": "known,throttle",
    "headers": "known,headers",
}
_SUMMARY = re.compile(rb"^summary: (\d+)$", re.MULTILINE)


def instructions(path: Path) -> int:
    """The total a callgrind dump counted (its `summary:` line)."""
    match = _SUMMARY.search(path.read_bytes())
    if match is None:
        raise RowError(f"{path.name} holds no callgrind summary")
    return int(match.group(1))


def per_request(loaded: int, idle: int, idle_seconds: float, load_seconds: float,
                requests: int) -> float:
    """Instructions per request: the loaded count less the idle rate over the load's time."""
    return (loaded - idle / idle_seconds * load_seconds) / requests


def _control(pid: int, command: str) -> None:
    subprocess.run(["callgrind_control", command, str(pid)], check=True, capture_output=True,
                   timeout=120)


def measure(ctx: Context, state: str, seconds: float, idle: float, connections: int
            ) -> dict[str, Any]:
    """Instructions per request of the gateway held in `state`."""
    out = ctx.workdir / f"callgrind-{state}.out"

    def command(http_port: int, grpc_port: int, url: str, key: str) -> list[str]:
        return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, str(SERVERS / "gateway_switched_policy.py"),
                "--http", f"127.0.0.1:{http_port}", "--grpc", f"127.0.0.1:{grpc_port}",
                "--database", url, "--tenant", payloads.TENANT, "--key-id", key.split("_")[1],
                "--report", str(ctx.workdir / f"switched-{state}.json"),
                "--on", STATES[state], "--window", "1e9", "--settle", "0", "--key-ttl", "1e9",
                *repeated("--key-limit", BENCH_KEY_LIMITS)]

    row = RowResult(f"instructions-{state}", state, "gateway")
    with gateway(ctx, row, command, name=f"instructions-{state}", start_timeout=600) as gw:
        pid = gw.server.proc.pid if gw.server.proc else 0
        script = wrk_script(ctx.workdir / f"wrk-{state}.lua", payloads.rest_body(1),
                            rest_headers(gw.key))
        url = f"http://127.0.0.1:{gw.http_port}{payloads.REST_PATH}"
        run_wrk(url, script, ctx.mode.warmup, connections)
        _control(pid, "--zero")
        load = run_wrk(url, script, seconds, connections)
        _control(pid, "--dump")
        _control(pid, "--zero")
        idle_started = time.monotonic()
        time.sleep(idle)
        _control(pid, "--dump")
        idle_seconds = time.monotonic() - idle_started
        gw.server.check_alive()
    if load.failed or not load.requests:
        raise RowError(f"{state}: {load.failed} of {load.requests + load.failed} requests failed")
    loaded, quiet = instructions(Path(f"{out}.1")), instructions(Path(f"{out}.2"))
    return {
        "state": state, "on": STATES[state], "requests": load.requests,
        "load_seconds": load.seconds, "instructions_loaded": loaded,
        "instructions_idle_per_s": quiet / idle_seconds,
        "per_request": per_request(loaded, quiet, idle_seconds, load.seconds, load.requests),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench instructions",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--breakdown", action="store_true",
                        help="also auth alone, the throttle alone and the headers alone")
    parser.add_argument("--seconds", type=float, default=40.0, help="load per state")
    parser.add_argument("--idle", type=float, default=20.0, help="idle spell per state")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--parallel", type=int, default=2, help="states run at once")
    parser.add_argument("--output-dir", type=Path, default=REPO / "bench-results")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench instructions: needs valgrind (apt-get install -y valgrind)")
    ensure_tool("wrk")
    states = list(STATES) if args.breakdown else ["off", "on"]
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as scratch:
        mode = Mode.create(quick=False, seconds=args.seconds, repeats=1)
        mode.warmup = 10.0
        ctx = Context(mode, Path(scratch))
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            results = list(pool.map(
                lambda state: measure(ctx, state, args.seconds, args.idle, args.connections),
                states))
    by_state = {r["state"]: r["per_request"] for r in results}
    base, on = by_state["off"], by_state["on"]
    print(f"{'state':9} {'--on':16} {'requests':>8} {'instr/request':>14} {'vs off':>9} "
          f"{'of on':>6}")
    for r in results:
        added = r["per_request"] - base
        r["vs_off"] = added
        print(f"{r['state']:9} {r['on']:16} {r['requests']:8,} {r['per_request']:14,.0f} "
              f"{added:+9,.0f} {added / on:6.1%}")
    document = {"date": started.isoformat(timespec="seconds"), "commit": git_commit(),
                "machine": machine(), "connections": args.connections,
                "seconds": args.seconds, "idle": args.idle, "states": results}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / f"instructions-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nresults: {path}  (commit {document['commit']})")
    return 0
