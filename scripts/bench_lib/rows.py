"""The benchmark's rows: each starts its own server process, loads it, returns numbers.

A row that cannot produce its numbers raises RowError with the reason; the runner puts
that reason in the table instead of crashing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import payloads
from .loadgen import LoadResult, run_h2load, run_wrk, wrk_script
from .procs import RowError, Server, free_port

SCRIPTS = Path(__file__).resolve().parent.parent
SERVERS = SCRIPTS / "bench_servers"
REPO = SCRIPTS.parent
# The bench key's limits (`keys create --limit`): high enough never to refuse the load,
# so every request is charged and answered with its rate-limit headers.
BENCH_KEY_LIMITS = ("per_key=100000000/minute", "per_key_ip=100000000/minute")


@dataclass
class Mode:
    quick: bool
    seconds: float  # one measured run
    warmup: float  # unmeasured load before the runs, on the same server
    repeats: int  # measured runs per row; the table shows their medians
    soak_seconds: float  # the RSS row
    rss_flat_after: float  # RSS is compared between this many seconds of load and the end
    latency_seconds: float  # the paced latency row
    # The policy-cost row: one switched run of many short windows (a paired difference
    # needs many pairs on a noisy machine more than it needs long ones), and its calibration.
    switch_seconds: float = 6.0
    switch_window: float = 0.5
    calibration_seconds: float = 6.0

    @classmethod
    def create(cls, quick: bool, seconds: float | None, repeats: int | None) -> Mode:
        if quick:
            mode = cls(True, 3.0, 1.0, 1, 6.0, 2.0, 4.0, 6.0, 0.5, 4.0)
        else:
            mode = cls(False, 15.0, 3.0, 3, 60.0, 10.0, 30.0, 90.0, 0.5, 60.0)
        if seconds is not None:
            mode.seconds = seconds
        if repeats is not None:
            mode.repeats = repeats
        return mode


@dataclass
class RowResult:
    name: str
    label: str
    kind: str  # limit | naive | gateway
    events_per_s: float | None = None
    req_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    peak_rss_mb: float | None = None
    error: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    seconds_taken: float = 0.0

    @property
    def has_number(self) -> bool:
        return self.error is None and (self.events_per_s or self.req_per_s) is not None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class Context:
    """What rows share in one bench run: mode, scratch directory, earlier rows' results."""

    def __init__(self, mode: Mode, workdir: Path) -> None:
        self.mode = mode
        self.workdir = workdir
        self.results: dict[str, RowResult] = {}
        self._files: dict[str, Path] = {}

    def file(self, name: str, data: bytes) -> Path:
        if name not in self._files:
            path = self.workdir / name
            path.write_bytes(data)
            self._files[name] = path
        return self._files[name]

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def say(self, text: str) -> None:
        print(f"bench: {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fill_from_runs(row: RowResult, runs: list[LoadResult], events_per_request: int | None) -> None:
    row.runs = [r.to_json() for r in runs]
    row.req_per_s = _median([r.req_per_s for r in runs])
    if events_per_request is not None and row.req_per_s is not None:
        row.events_per_s = row.req_per_s * events_per_request
    row.p50_ms = _median([r.p50_ms for r in runs])
    row.p99_ms = _median([r.p99_ms for r in runs])
    row.p999_ms = _median([r.p999_ms for r in runs])


def _check_failures(result: LoadResult, what: str) -> None:
    total = result.requests + result.failed
    if result.requests == 0:
        raise RowError(f"{what}: no successful requests ({result.extra.get('errors', result.failed)})")
    if result.failed > 0.01 * total:
        raise RowError(f"{what}: {result.failed} of {total} requests failed "
                       f"({result.extra.get('errors', '')})")


def _stored_events(db: Path) -> int:
    """Rows in the events table (max rowid: rows are only ever appended in these runs)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            found = conn.execute("SELECT max(id) FROM events").fetchone()[0]
    except sqlite3.Error as exc:
        raise RowError(f"cannot count stored events in {db.name}: {exc}") from exc
    return int(found or 0)


def _python() -> str:
    return sys.executable


def rest_headers(key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": payloads.USER_AGENT}
    if key:
        headers["x-api-key"] = key
    return headers


def _http_probe(port: int, body: bytes, key: str | None) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{payloads.REST_PATH}", data=body, method="POST",
        headers=rest_headers(key),
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        text = exc.read()[:200].decode(errors="replace")
        raise RowError(f"probe POST {payloads.REST_PATH}: HTTP {exc.code} {text}") from exc
    except OSError as exc:
        raise RowError(f"probe POST {payloads.REST_PATH}: {exc}") from exc


def _grpc_probe(port: int, message: bytes, key: str | None) -> None:
    """One real call: h2load cannot see grpc-status, so check a call succeeds first."""
    import grpc

    metadata = (("x-api-key", key),) if key else ()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(payloads.GRPC_PATH)  # bytes in, bytes out
        try:
            call(message, metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            raise RowError(
                f"probe {payloads.GRPC_PATH}: {exc.code().name} {exc.details()}"  # type: ignore[attr-defined]
            ) from exc


def _measure(server: Server, what: str, warmup: Callable[[], object] | None,
             run_once: Callable[[], LoadResult], repeats: int,
             store: tuple[Path, int] | None = None) -> list[LoadResult]:
    """Warm up, then `repeats` measured runs; with `store` = (db, events per request) each
    run must find every acknowledged event in the database (durable acknowledgement)."""
    if warmup is not None:
        warmup()
        server.check_alive()
    before = _stored_events(store[0]) if store else 0
    runs = []
    for i in range(repeats):
        result = run_once()
        server.check_alive()
        _check_failures(result, f"{what} run {i + 1}")
        if store:
            _check_stored(store[0], before, result, store[1], server.log)
            before = _stored_events(store[0])
        runs.append(result)
    return runs


def _wrk_runs(ctx: Context, server: Server, port: int, body: bytes, key: str | None,
              seconds: float, repeats: int, store: tuple[Path, int] | None = None,
              ) -> list[LoadResult]:
    script = wrk_script(ctx.workdir / f"wrk-{len(body)}-{bool(key)}.lua", body, rest_headers(key))
    url = f"http://127.0.0.1:{port}{payloads.REST_PATH}"
    warmup = (lambda: run_wrk(url, script, ctx.mode.warmup)) if ctx.mode.warmup else None
    return _measure(server, "wrk", warmup, lambda: run_wrk(url, script, seconds), repeats, store)


def _h2load_runs(ctx: Context, server: Server, port: int, message: bytes, key: str | None,
                 store: tuple[Path, int] | None = None, clients: int = 16, streams: int = 16,
                 ) -> list[LoadResult]:
    body = ctx.file(f"grpc-{len(message)}.bin", payloads.grpc_frame(message))
    url = f"http://127.0.0.1:{port}{payloads.GRPC_PATH}"
    headers = {"x-api-key": key} if key else {}
    log = ctx.workdir / "h2load-requests.log"
    def once(seconds: float) -> LoadResult:
        return run_h2load(url, body, headers, seconds, log, clients=clients, streams=streams)

    warmup = (lambda: once(ctx.mode.warmup)) if ctx.mode.warmup else None
    return _measure(server, "h2load", warmup, lambda: once(ctx.mode.seconds),
                    ctx.mode.repeats, store)


def _check_stored(db: Path, before: int, result: LoadResult, per_request: int,
                  server_log: Path | None = None) -> None:
    stored = _stored_events(db) - before
    acknowledged = result.requests * per_request
    result.extra["stored_events"] = stored
    result.extra["acknowledged_events"] = acknowledged
    if stored >= acknowledged:
        return
    why = f"{acknowledged} events acknowledged but only {stored} stored"
    if result.tool == "h2load":
        # h2load counts HTTP 200 as success; grpc-status travels in trailers it ignores.
        why += " (h2load cannot see grpc-status: calls ended non-OK"
        codes = _logged_codes(server_log)
        why += f"; server log: {codes})" if codes else ")"
    raise RowError(why)


def _logged_codes(log: Path | None) -> str:
    """Non-OK status codes counted in the server's access log, if it writes `code=NAME`."""
    if log is None:
        return ""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    counts: dict[str, int] = {}
    for code in re.findall(r"\bcode=([A-Z_]+)", text):
        if code not in ("OK", "CANCELLED"):  # CANCELLED: the load generator stopping
            counts[code] = counts.get(code, 0) + 1
    return ", ".join(f"{c} x{n}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1]))


# ------------------------------------------------------------------------------ limits


def limit_asgi(ctx: Context, row: RowResult) -> None:
    port = free_port()
    argv = [_python(), str(SERVERS / "raw_asgi.py"), "--port", str(port)]
    with Server("raw ASGI app", argv, [port], ctx.log(row.name)) as server:
        runs = _wrk_runs(ctx, server, port, payloads.rest_body(1), None,
                         ctx.mode.seconds, ctx.mode.repeats)
    _fill_from_runs(row, runs, None)
    row.peak_rss_mb = server.peak_rss_mb


def limit_grpc(ctx: Context, row: RowResult) -> None:
    port = free_port()
    argv = [_python(), str(SERVERS / "raw_grpc.py"), "--port", str(port)]
    message = payloads.grpc_message(1)
    with Server("raw grpc.aio server", argv, [port], ctx.log(row.name)) as server:
        _grpc_probe(port, message, None)
        runs = _h2load_runs(ctx, server, port, message, None)
    _fill_from_runs(row, runs, None)
    row.peak_rss_mb = server.peak_rss_mb


def limit_sqlite(ctx: Context, row: RowResult) -> None:
    rows_file = ctx.file("storage-rows.json", json.dumps(payloads.storage_rows(100)).encode())
    runs = []
    for i in range(ctx.mode.repeats):
        db = ctx.workdir / f"ceiling-{i}.db"
        argv = [_python(), str(SERVERS / "sqlite_ceiling.py"), "--database", str(db),
                "--rows-file", str(rows_file), "--seconds", str(ctx.mode.seconds)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=ctx.mode.seconds + 120,
                             cwd=REPO)
        _remove_db(db)
        if out.returncode != 0:
            raise RowError(f"sqlite_ceiling.py failed: {out.stderr.strip()[-300:]}")
        result = json.loads(out.stdout)
        if result["stored"] != result["rows"]:
            raise RowError(f"ceiling wrote {result['rows']} rows but {result['stored']} are stored")
        runs.append(result)
    row.runs = runs
    row.events_per_s = _median([r["rows_per_s"] for r in runs])
    row.extra = {"schema": runs[0]["schema"], "sqlite_version": runs[0]["sqlite_version"],
                 "rows_per_txn": 1000,
                 "txn_ms_p50": _median([r["txn_ms_p50"] for r in runs]),
                 "txn_ms_p99": _median([r["txn_ms_p99"] for r in runs])}


def _remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


# ------------------------------------------------------------------------------- naive


def naive(ctx: Context, row: RowResult) -> None:
    port = free_port()
    db = ctx.workdir / "naive.db"
    argv = [_python(), str(SERVERS / "naive_fastapi.py"), "--port", str(port),
            "--database", str(db)]
    body = payloads.rest_body(1)
    with Server("naive FastAPI app", argv, [port], ctx.log(row.name)) as server:
        _http_probe(port, body, None)
        runs = _wrk_runs(ctx, server, port, body, None, ctx.mode.seconds, ctx.mode.repeats,
                         store=(db, 1))
    _remove_db(db)
    _fill_from_runs(row, runs, 1)
    row.peak_rss_mb = server.peak_rss_mb


# ----------------------------------------------------------------------------- gateway


def _gateway_command() -> list[str]:
    script = Path(sys.executable).parent / "event-gateway"
    if script.exists():
        return [str(script)]
    found = shutil.which("event-gateway")
    return [found] if found else [sys.executable, "-m", "event_gateway"]


def repeated(flag: str, values: Iterable[str]) -> list[str]:
    """`flag` before each value: ["--limit", "a", "--limit", "b"]."""
    return [arg for value in values for arg in (flag, value)]


def _admin(ctx: Context, args: list[str], url: str) -> str:
    argv = [*_gateway_command(), *args, "--database", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ctx.workdir,
                         env={**os.environ, "EVENT_GATEWAY_DATABASE": url})
    if out.returncode != 0:
        why = (out.stderr or out.stdout).strip().splitlines()
        raise RowError(f"`event-gateway {' '.join(args[:2])}` failed ({out.returncode}): "
                       f"{why[-1] if why else 'no output'}")
    return out.stdout.strip()


@dataclass
class Gateway:
    server: Server
    http_port: int
    grpc_port: int
    key: str
    db: Path


@contextmanager
def gateway(
    ctx: Context, row: RowResult, command: Callable[[int, int, str, str], list[str]] | None = None,
    name: str = "", start_timeout: float = 30.0,
) -> Iterator[Gateway]:
    """A fresh gateway on its own SQLite file, with a tenant and an unthrottled key.

    `command(http_port, grpc_port, database_url, key)` replaces `event-gateway serve`'s argv
    (a bench server composing the same gateway); `name` tells its files apart.
    """
    name = name or row.name
    db = ctx.workdir / f"gateway-{name}.db"
    _remove_db(db)
    url = f"sqlite+aiosqlite:///{db}"
    _admin(ctx, ["tenants", "add", payloads.TENANT, "--slug", "bench-store", "--number", "1"], url)
    key = _admin(ctx, ["keys", "create", "--tenant", payloads.TENANT, "--name", "bench",
                       *repeated("--limit", BENCH_KEY_LIMITS)], url)
    if not key or len(key.split()) != 1:
        raise RowError(f"`keys create` printed {key[:80]!r}, not a key alone")
    http_port, grpc_port = free_port(), free_port()
    if command is None:
        label = "event-gateway serve"
        argv = [*_gateway_command(), "serve", "--http", f"127.0.0.1:{http_port}",
                "--grpc", f"127.0.0.1:{grpc_port}", "--database", url]
    else:
        label, argv = f"gateway ({name})", command(http_port, grpc_port, url, key)
    server = Server(label, argv, [http_port, grpc_port], ctx.log(name), cwd=ctx.workdir,
                    start_timeout=start_timeout)
    try:
        with server:
            _http_probe(http_port, payloads.rest_body(1), key)
            _grpc_probe(grpc_port, payloads.grpc_message(1), key)
            yield Gateway(server, http_port, grpc_port, key, db)
    finally:
        if command is None:
            row.peak_rss_mb = server.peak_rss_mb
        row.extra["server_log_tail"] = _log_tail(ctx.log(name))
        _remove_db(db)


def _log_tail(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-5:]
    except OSError:
        return []


def _gateway_rest(per_request: int) -> Callable[[Context, RowResult], None]:
    def run(ctx: Context, row: RowResult) -> None:
        with gateway(ctx, row) as gw:
            runs = _wrk_runs(ctx, gw.server, gw.http_port, payloads.rest_body(per_request),
                             gw.key, ctx.mode.seconds, ctx.mode.repeats, store=(gw.db, per_request))
        _fill_from_runs(row, runs, per_request)

    return run


def _gateway_grpc(per_request: int, clients: int, streams: int,
                  ) -> Callable[[Context, RowResult], None]:
    def run(ctx: Context, row: RowResult) -> None:
        # h2load counts HTTP 200 as success whatever grpc-status said: the stored rows
        # are the proof that the calls succeeded.
        with gateway(ctx, row) as gw:
            runs = _h2load_runs(ctx, gw.server, gw.grpc_port, payloads.grpc_message(per_request),
                                gw.key, store=(gw.db, per_request), clients=clients,
                                streams=streams)
        row.extra["h2load"] = f"-c{clients} -m{streams}"
        _fill_from_runs(row, runs, per_request)

    return run


gateway_rest_single = _gateway_rest(1)
gateway_rest_batch = _gateway_rest(100)
# Single calls: the load of the grpc.aio limit row (16 connections x 16 streams), so the
# ratio compares like with like. Batches: 64 calls in flight, as wrk's 64 connections do
# for REST batches (256 x 100 events would exceed the writer's default 20,000-row queue,
# and the gateway rightly sheds that load with RESOURCE_EXHAUSTED).
gateway_grpc_single = _gateway_grpc(1, 16, 16)
gateway_grpc_batch = _gateway_grpc(100, 4, 16)


def gateway_latency(ctx: Context, row: RowResult) -> None:
    """p99 of REST single-event requests sent at a constant 50% of the measured max rate."""
    body = payloads.rest_body(1)
    with gateway(ctx, row) as gw:
        measured = ctx.results.get("rest-single")
        if measured is not None and measured.req_per_s:
            max_rate = measured.req_per_s
            row.extra["max_rate_from"] = "rest-single row of this run"
        else:
            runs = _wrk_runs(ctx, gw.server, gw.http_port, body, gw.key,
                             ctx.mode.seconds, 1)
            max_rate = runs[0].req_per_s
            row.extra["max_rate_from"] = "own wrk run (rest-single not in this run)"
        rate = max(1.0, 0.5 * max_rate)
        row.extra["max_rate"] = max_rate
        row.extra["offered_rate"] = rate
        body_file = ctx.file("rest-1.json", body)
        before = _stored_events(gw.db)
        commits_before = _commit_buckets(gw.http_port)
        argv = [_python(), "-m", "bench_lib.paced", "--port", str(gw.http_port),
                "--path", payloads.REST_PATH, "--body-file", str(body_file),
                "--header", f"x-api-key: {gw.key}", "--rate", f"{rate:.1f}",
                "--seconds", str(ctx.mode.latency_seconds),
                "--warmup", str(min(2.0, ctx.mode.warmup or 1.0))]
        out = subprocess.run(argv, capture_output=True, text=True, cwd=SCRIPTS,
                             timeout=ctx.mode.latency_seconds + 60,
                             env={**os.environ, "PYTHONPATH": str(SCRIPTS)})
        gw.server.check_alive()
        if out.returncode != 0:
            raise RowError(f"paced generator failed: {out.stderr.strip()[-300:]}")
        result = json.loads(out.stdout)
        stored = _stored_events(gw.db) - before
        row.extra["commits"] = _commit_summary(commits_before, _commit_buckets(gw.http_port))
    row.runs = [result]
    bad = sum(v for k, v in result["statuses"].items() if not k.startswith("2"))
    if result["ok"] == 0 or bad or result["unanswered"] or result["lost"]:
        raise RowError(f"paced run: {result['ok']} ok, statuses {result['statuses']}, "
                       f"{result['unanswered']} unanswered, {result['lost']} lost")
    if stored < result["ok"]:
        raise RowError(f"{result['ok']} events acknowledged but only {stored} stored")
    row.req_per_s = result["achieved_per_s"]
    row.events_per_s = result["achieved_per_s"]
    row.p50_ms, row.p99_ms, row.p999_ms = result["p50_ms"], result["p99_ms"], result["p999_ms"]


_COMMIT_BUCKET = re.compile(r'^event_gateway_writer_commit_seconds_bucket\{le="([^"]+)"\} (\S+)$', re.MULTILINE)


def _commit_buckets(port: int) -> dict[str, float]:
    """The gateway's group-commit duration histogram (cumulative counts by bound)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError as exc:
        raise RowError(f"GET /metrics: {exc}") from exc
    buckets = {bound: float(count) for bound, count in _COMMIT_BUCKET.findall(text)}
    if "+Inf" not in buckets:
        raise RowError("GET /metrics: no event_gateway_writer_commit_seconds histogram")
    return buckets


def _commit_summary(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    """Commits during the paced run, and how many took longer than 0.1, 0.5 and 1 s: a
    latency stall that coincides with slow commits is the disk, not the request path."""
    def during(bound: str) -> int:
        return int(after.get(bound, 0.0) - before.get(bound, 0.0))

    total = during("+Inf")
    return {
        "commits": total,
        "over_0.1s": total - during("0.1"),
        "over_0.5s": total - during("0.5"),
        "over_1s": total - during("1.0"),
    }


def gateway_rss(ctx: Context, row: RowResult) -> None:
    """REST single-event at full load for the soak time; RSS early in the run vs at its end."""
    body = payloads.rest_body(1)
    with gateway(ctx, row) as gw:
        memory = gw.server.memory
        assert memory is not None
        start = time.monotonic()
        runs = _wrk_runs(ctx, gw.server, gw.http_port, body, gw.key, ctx.mode.soak_seconds, 1,
                         store=(gw.db, 1))
        end_rss = memory.sample()
        load_start = start + (ctx.mode.warmup or 0.0)
        early = memory.rss_at(load_start + ctx.mode.rss_flat_after)
    _fill_from_runs(row, runs, 1)
    row.extra["rss_mb_early"] = early / 1024 if early else None
    row.extra["rss_mb_end"] = end_rss / 1024 if end_rss else None
    row.extra["rss_early_at_s"] = ctx.mode.rss_flat_after
    row.extra["soak_seconds"] = ctx.mode.soak_seconds


# ------------------------------------------------------------------------ policy cost


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError as exc:
        raise RowError(f"cannot read CPU time of {pid}: {exc}") from exc
    # Fields 14 and 15 of proc(5), counted from the state (field 3) after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Turns of the calibration loop: about the policy's own cost per request (~35 us here),
# so that the noise of the method is small beside it.
_CALIBRATION_LOOPS = 2000


def policy_cost(ctx: Context, row: RowResult) -> None:
    """What auth + throttling (memory store) cost per REST single-event request.

    One gateway switches its policy layers on and off every half second under one
    unbroken wrk load (scripts/bench_servers/gateway_switched_policy.py); the cost is the
    median over pairs of windows of the difference in CPU per call (all threads), with a
    95% confidence interval, and its share is that over the CPU per call with the policy
    on. A second run switches a timed empty loop instead: if the method reads that loop
    at about its own time, it reads the policy right too. Then the layers are timed in
    situ on their own (`_timed_policy`), to show where the time goes.
    """
    body = payloads.rest_body(1)
    measured = _switched(ctx, row, body, "auth,throttle", ctx.mode.switch_seconds)
    row.runs = [{"part": "policy", **window} for window in measured["windows"]]
    row.req_per_s = row.events_per_s = measured["req_per_s"]
    row.p50_ms, row.p99_ms = measured["p50_ms"], measured["p99_ms"]
    cost = measured["median_us"]
    with_policy = measured["cpu_us_per_call_on"]
    row.extra.update({
        "pairs": len(measured["differences_us"]),
        "differences_us": measured["differences_us"],
        "cost_us_per_request": cost,
        "cost_ci95_us": measured["ci95_us"],
        "cost_share": cost / with_policy,
        "cost_share_ci95": [bound / with_policy for bound in measured["ci95_us"]],
        "cpu_us_per_request_with": with_policy,
        "cpu_us_per_request_without": measured["cpu_us_per_call_off"],
        "loop_cpu_us_per_request_with": measured["loop_cpu_us_per_call_on"],
        "loop_cpu_us_per_request_without": measured["loop_cpu_us_per_call_off"],
    })
    calibration = _switched(ctx, row, body, "known,busy", ctx.mode.calibration_seconds)
    row.extra.update({
        "calibration_busy_us": calibration["busy_us_median"],
        "calibration_read_us": calibration["median_us"],
        "calibration_ci95_us": calibration["ci95_us"],
        "calibration_factor": calibration["median_us"] / calibration["busy_us_median"],
    })
    row.extra.update(_timed_policy(ctx, row, body))


def _switched(
    ctx: Context, row: RowResult, body: bytes, on: str, seconds: float
) -> dict[str, Any]:
    """One run of the switched gateway with `on` in its on state; its report, plus wrk's."""
    name = f"{row.name}-switched-{on.replace(',', '-')}"
    report = ctx.workdir / f"{name}.json"

    def command(http_port: int, grpc_port: int, url: str, key: str) -> list[str]:
        return [_python(), str(SERVERS / "gateway_switched_policy.py"),
                "--http", f"127.0.0.1:{http_port}", "--grpc", f"127.0.0.1:{grpc_port}",
                "--database", url, "--tenant", payloads.TENANT, "--key-id", key.split("_")[1],
                "--report", str(report), "--on", on, "--window", str(ctx.mode.switch_window),
                "--settle", str(ctx.mode.warmup), "--busy-loops", str(_CALIBRATION_LOOPS),
                *repeated("--key-limit", BENCH_KEY_LIMITS)]

    with gateway(ctx, row, command, name=name) as gw:
        script = wrk_script(ctx.workdir / f"wrk-{name}.lua", body, rest_headers(gw.key))
        url = f"http://127.0.0.1:{gw.http_port}{payloads.REST_PATH}"
        if ctx.mode.warmup:
            run_wrk(url, script, ctx.mode.warmup)  # the server keeps no window meanwhile
        before_events = _stored_events(gw.db)
        result = run_wrk(url, script, seconds)
        gw.server.check_alive()
        _check_failures(result, f"wrk (switched {on})")
        _check_stored(gw.db, before_events, result, 1, gw.server.log)
    measured = _timing_report(report, f"the switched gateway ({on})", "differences_us")
    measured.update({"req_per_s": result.req_per_s, "p50_ms": result.p50_ms or 0.0,
                     "p99_ms": result.p99_ms or 0.0})
    return measured


def _timing_report(path: Path, server: str, counted: str = "calls") -> dict[str, Any]:
    """What a bench server measured, written when it stopped; `counted` must be non-empty."""
    try:
        timing: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RowError(f"{server} wrote no timing report: {exc}") from exc
    if not timing.get(counted):
        raise RowError(f"{server} measured nothing ({counted} is empty)")
    return timing


def _timed_policy(ctx: Context, row: RowResult, body: bytes) -> dict[str, Any]:
    """The same load on a gateway whose policy layers are timed per call, in situ.

    The switched difference is the answer; this measures the two layers
    themselves (scripts/bench_servers/gateway_timed_policy.py says how), as the median of
    per-call times, against that server's own CPU per request.
    """
    report = ctx.workdir / f"{row.name}-timed.json"

    def command(http_port: int, grpc_port: int, url: str, key: str) -> list[str]:
        return [_python(), str(SERVERS / "gateway_timed_policy.py"),
                "--http", f"127.0.0.1:{http_port}", "--grpc", f"127.0.0.1:{grpc_port}",
                "--database", url, "--report", str(report)]

    with gateway(ctx, row, command, name=f"{row.name}-timed") as gw:
        script = wrk_script(ctx.workdir / "wrk-policy-timed.lua", body, rest_headers(gw.key))
        url = f"http://127.0.0.1:{gw.http_port}{payloads.REST_PATH}"
        if ctx.mode.warmup:
            run_wrk(url, script, ctx.mode.warmup)
        pid = gw.server.proc.pid if gw.server.proc else 0
        before_events, cpu = _stored_events(gw.db), _cpu_seconds(pid)
        result = run_wrk(url, script, ctx.mode.seconds)
        cpu = _cpu_seconds(pid) - cpu
        gw.server.check_alive()
        _check_failures(result, "wrk (timed policy)")
        _check_stored(gw.db, before_events, result, 1, gw.server.log)
    timed = _timing_report(report, "the timed gateway")
    cpu_per_request = cpu / result.requests * 1e6
    return {
        "timed_calls": timed["calls"],
        "timed_net_us": timed["net_us_median"],
        "timed_net_us_mean": timed["net_us_mean"],
        "timed_net_us_quartiles": [timed["net_us_p25"], timed["net_us_p75"]],
        "timed_empty_pair_us": timed["empty_pair_us_median"],
        "timed_cpu_us_per_request": cpu_per_request,
        "timed_share": timed["net_us_median"] / cpu_per_request,
    }


@dataclass
class RowSpec:
    name: str
    label: str
    kind: str
    run: Callable[[Context, RowResult], None]


ROWS: tuple[RowSpec, ...] = (
    RowSpec("limit-asgi", "limit: raw ASGI app (uvicorn)", "limit", limit_asgi),
    RowSpec("limit-grpc", "limit: raw grpc.aio handler", "limit", limit_grpc),
    RowSpec("limit-sqlite", "limit: sqlite3 executemany", "limit", limit_sqlite),
    RowSpec("naive", "naive: FastAPI+SQLModel, 1 event", "naive", naive),
    RowSpec("rest-single", "gateway: REST 1 event", "gateway", gateway_rest_single),
    RowSpec("rest-batch", "gateway: REST 100 events", "gateway", gateway_rest_batch),
    RowSpec("grpc-single", "gateway: gRPC 1 event", "gateway", gateway_grpc_single),
    RowSpec("grpc-batch", "gateway: gRPC 100 events", "gateway", gateway_grpc_batch),
    RowSpec("latency", "gateway: REST 1 event, paced 50%", "gateway", gateway_latency),
    RowSpec("rss", "gateway: REST 1 event, RSS soak", "gateway", gateway_rss),
    RowSpec("policy", "gateway: REST 1 event, auth+throttle cost", "gateway", policy_cost),
)
GROUPS = {
    "limits": ("limit-asgi", "limit-grpc", "limit-sqlite"),
    "gateway": ("rest-single", "rest-batch", "grpc-single", "grpc-batch", "latency", "rss",
                "policy"),
    "all": tuple(r.name for r in ROWS),
}
