"""One gateway that switches its policy layers on and off every half second: the policy
row's measure of what auth and throttling cost the process per request.

Every call passes a Switch interceptor. While it is on, the call goes through the real
AuthInterceptor and ThrottleInterceptor (a real Authenticator over the SqlCatalog, a
Throttler over a MemoryStore, in `build_interceptors`' order); while it is off, through
KnownCaller, which only puts the bench key's principal into the call scope (the
servicers need a tenant). Everything else is the real gateway (`event_gateway.server.run`)
and the load (one wrk, the same requests with the same key) never stops.

The switch flips every `--window` seconds in the order on, off, off, on, on, off, ...:
each two windows are a pair with one of each state, and a steady drift cancels over two
pairs. At each flip the server notes the process's CPU time (all threads), the event
loop thread's, and how many calls it let in. A pair's difference in CPU per call is what
the switched layers cost, measured on the same process, caches and machine a moment
apart. (Two servers loaded at once, the earlier method, compare processes on different
vCPUs, whose speeds on a shared machine differ by more than the budget; see
docs/performance.md.)

`--on` names what the on state runs, in order: `auth`, `throttle`, `known` (KnownCaller,
for the throttle alone), `busy` (a timed empty loop: the calibration, a known amount of
work read by the same method) or `headers` (the four rate-limit trailers with fixed
values: what writing them costs). Windows before `--settle` seconds from the first call
are not kept. The report (JSON, to --report when the server stops) has every window,
the pairs' differences, their median with a 95% confidence interval, and the busy
loop's own median time when it ran.

    python gateway_switched_policy.py --http 127.0.0.1:8080 --grpc 127.0.0.1:50051 \\
        --database sqlite+aiosqlite:///gw.db --tenant bench --key-id KEYID --report out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import time
from collections import deque
from pathlib import Path
from typing import Any

import grpc
import uvloop

from event_gateway import scope
from event_gateway.config import load_settings
from event_gateway.contract import default_contract
from event_gateway.interceptors import AuthInterceptor, ThrottleInterceptor
from event_gateway.interceptors._wrap import Behaviour, WrappingInterceptor
from event_gateway.observability.logging import configure_logging
from event_gateway.policy.auth import Authenticator
from event_gateway.policy.stores import MemoryStore
from event_gateway.policy.throttle import Throttler
from event_gateway.scope import Principal
from event_gateway.server import run
from event_gateway.storage.catalog import DEFAULT_TTL, SqlCatalog
from event_gateway.storage.engine import create_engine

# The states in order, repeated; each consecutive two windows make one pair.
_ORDER = (True, False, False, True)


class KnownCaller(WrappingInterceptor):
    """Every call is `principal`'s: no credential is read, no limit is charged."""

    def __init__(self, principal: Principal) -> None:
        super().__init__()
        self._principal = principal

    def wrap(self, inner: Behaviour) -> Behaviour:
        principal = self._principal

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                scope.current_scope().principal = principal
            except LookupError:
                pass  # health, reflection: no scope
            return await inner(request, context)

        return behaviour


class BusyLoop(WrappingInterceptor):
    """`loops` turns of an empty loop per call, timed into `spans` (ns)."""

    def __init__(self, loops: int, spans: deque[int]) -> None:
        super().__init__()
        self._loops = loops
        self._spans = spans

    def wrap(self, inner: Behaviour) -> Behaviour:
        loops, spans = self._loops, self._spans

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter_ns()
            for _ in range(loops):
                pass
            spans.append(time.perf_counter_ns() - started)
            return await inner(request, context)

        return behaviour


class FixedTrailers(WrappingInterceptor):
    """The four rate-limit trailers a throttled call carries, with fixed values."""

    TRAILERS = (
        ("x-ratelimit-limit", "100000000"),
        ("x-ratelimit-remaining", "99999998"),
        ("ratelimit-policy", '"per_key";q=100000000;w=60, "per_key_ip";q=100000000;w=60'),
        ("ratelimit", '"per_key";r=99999998;t=1, "per_key_ip";r=99999998;t=1'),
    )

    def wrap(self, inner: Behaviour) -> Behaviour:
        trailers = self.TRAILERS

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            context.set_trailing_metadata(trailers)
            return await inner(request, context)

        return behaviour


class Switch(WrappingInterceptor):
    """Sends each call through the `on` or the `off` chain, and keeps the windows."""

    def __init__(
        self,
        on: list[WrappingInterceptor],
        off: list[WrappingInterceptor],
        window: float,
        settle: float,
    ) -> None:
        super().__init__()
        self._on, self._off = on, off
        self._window, self._settle = window, settle
        self._state = _ORDER[0]
        self._calls = 0
        self._flips = 0
        self._started = False
        self._mark = (0.0, 0.0, 0)
        self.windows: list[dict[str, Any]] = []

    def wrap(self, inner: Behaviour) -> Behaviour:
        on, off = _chain(self._on, inner), _chain(self._off, inner)

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if not self._started:
                self._started = True
                asyncio.get_running_loop().call_later(self._settle, self._flip)
            self._calls += 1
            return await (on if self._state else off)(request, context)

        return behaviour

    def _flip(self) -> None:
        # Runs on the event loop's thread, so thread_time() is the loop thread's CPU.
        now = (time.process_time(), time.thread_time(), self._calls)
        if self._flips:  # the first flip only opens the first kept window
            cpu, loop_cpu, calls = (b - a for a, b in zip(self._mark, now))
            self.windows.append(
                {"on": self._state, "cpu_s": cpu, "loop_cpu_s": loop_cpu, "calls": calls}
            )
        self._mark = now
        self._state = _ORDER[self._flips % len(_ORDER)]
        self._flips += 1
        asyncio.get_running_loop().call_later(self._window, self._flip)


def _chain(interceptors: list[WrappingInterceptor], inner: Behaviour) -> Behaviour:
    for interceptor in reversed(interceptors):
        inner = interceptor.wrap(inner)
    return inner


def report(windows: list[dict[str, Any]], busy: deque[int] | None = None) -> dict[str, Any]:
    """Per pair of windows, CPU per call on minus off (µs); their median and its 95%
    confidence interval (order statistics, no assumption about the distribution)."""
    differences = []
    for first, second in zip(windows[0::2], windows[1::2]):
        if first["calls"] and second["calls"] and first["on"] != second["on"]:
            on, off = (first, second) if first["on"] else (second, first)
            differences.append((on["cpu_s"] / on["calls"] - off["cpu_s"] / off["calls"]) * 1e6)
    out: dict[str, Any] = {"windows": windows, "differences_us": differences}
    if differences:
        out["median_us"] = statistics.median(differences)
        out["ci95_us"] = median_interval(differences)
        for state, name in ((True, "on"), (False, "off")):
            kept = [w for w in windows if w["on"] is state and w["calls"]]
            out[f"cpu_us_per_call_{name}"] = statistics.median(
                w["cpu_s"] / w["calls"] * 1e6 for w in kept
            )
            out[f"loop_cpu_us_per_call_{name}"] = statistics.median(
                w["loop_cpu_s"] / w["calls"] * 1e6 for w in kept
            )
    if busy:
        out["busy_us_median"] = statistics.median(busy) / 1e3
    return out


def median_interval(values: list[float]) -> tuple[float, float]:
    """A 95% confidence interval of the median: the sorted values at ranks
    n/2 - 0.98·√n and 1 + n/2 + 0.98·√n (1-based, rounded; the binomial's normal
    approximation), clamped to the sample."""
    ordered = sorted(values)
    n = len(ordered)
    half = 0.98 * math.sqrt(n)
    low = max(1, round(n / 2 - half))
    high = min(n, round(1 + n / 2 + half))
    return ordered[low - 1], ordered[high - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--report", required=True, type=Path)
    parser.add_argument("--on", default="auth,throttle", help="what the on state runs")
    parser.add_argument("--window", type=float, default=0.5, help="seconds per state")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds not kept at first")
    parser.add_argument("--busy-loops", type=int, default=400, help="turns of the busy loop")
    parser.add_argument(
        "--key-limit", action="append", default=[], metavar="NAME=RATE",
        help="a limit the key was created with (`keys create --limit`), for KnownCaller's "
        "principal, so that the throttle alone charges the buckets it charges behind auth",
    )  # fmt: skip
    parser.add_argument(
        "--key-ttl", type=float, default=DEFAULT_TTL,
        help="seconds the catalogue keeps a key record (scripts/bench instructions raises "
        "it: under valgrind a reload every 5 s weighs ~40 times more per request)",
    )  # fmt: skip
    args = parser.parse_args()
    limits = dict(item.partition("=")[::2] for item in args.key_limit)
    if any(not name or not rate for name, rate in limits.items()):
        parser.error("--key-limit: expected NAME=RATE, such as per_key=100/minute")
    settings = load_settings({"http": args.http, "grpc": args.grpc, "database": args.database})
    known = KnownCaller(
        Principal(key_id=args.key_id, tenant=args.tenant, name="bench", limits=limits)
    )
    busy: deque[int] = deque(maxlen=500_000)
    authenticator = Authenticator(
        SqlCatalog(create_engine(settings.database.get_secret_value()), key_ttl=args.key_ttl),
        failure_store=MemoryStore(),
        failure_rate=settings.throttle.auth_failures,
    )
    throttler = Throttler(MemoryStore(), default_contract(), overrides=settings.throttle.limits)
    parts = {
        "auth": lambda: AuthInterceptor(authenticator),
        "throttle": lambda: ThrottleInterceptor(throttler),
        "known": lambda: known,
        "busy": lambda: BusyLoop(args.busy_loops, busy),
        "headers": FixedTrailers,
    }
    try:
        on = [parts[name]() for name in args.on.split(",")]
    except KeyError as exc:
        parser.error(f"--on: unknown part {exc} (known: {', '.join(parts)})")
    switch = Switch(on, [known], args.window, args.settle)
    listener = configure_logging(settings)
    try:
        uvloop.run(run(settings, policy=[switch]))
    finally:
        args.report.write_text(json.dumps(report(switch.windows, busy)))
        listener.stop()


if __name__ == "__main__":
    main()
