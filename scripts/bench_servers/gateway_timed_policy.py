"""The gateway with a stopwatch around its auth and throttle interceptors: the policy
row's in-situ measure of what they cost.

Everything is the real gateway (`event_gateway.server.run`), and the policy layers are
the real AuthInterceptor and ThrottleInterceptor over a real Authenticator (SqlCatalog)
and Throttler (MemoryStore), in the order `build_interceptors` gives them. Two timing
interceptors bracket them, and an empty pair of the same timers sits inside, so that

    policy = (inner entered - outer entered) + (outer returning - inner returned)
    empty  = the same two spans for the empty pair

and policy - empty is the time the two policy layers took on this call, their wrapping
included and the timers' own cost cancelled. Nothing in between awaits anything slow in
memory mode (a valid key's record is in the catalogue's cache), so on nearly every call
this wall time is CPU time; the median ignores the few that waited (a catalogue refresh,
while other requests ran) or were preempted. Medians (and the mean) are written as
JSON to --report when the server stops.

It measures the policy objects' work and the metadata they hand on, not the HTTP layer
writing that metadata out as four response headers.

    python gateway_timed_policy.py --http 127.0.0.1:8080 --grpc 127.0.0.1:50051 \\
        --database sqlite+aiosqlite:///gw.db --report timed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import deque
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import grpc
import uvloop

from event_gateway.config import load_settings
from event_gateway.contract import default_contract
from event_gateway.interceptors import AuthInterceptor, ThrottleInterceptor
from event_gateway.interceptors._wrap import Behaviour, WrappingInterceptor
from event_gateway.observability.logging import configure_logging
from event_gateway.policy.auth import Authenticator
from event_gateway.policy.stores import MemoryStore
from event_gateway.policy.throttle import Throttler
from event_gateway.server import run
from event_gateway.storage.catalog import SqlCatalog
from event_gateway.storage.engine import create_engine

_clock = time.perf_counter_ns
# The call's four instants, in ns: outer entered, inner entered, inner returned, outer returning.
_marks: ContextVar[list[int]] = ContextVar("bench_policy_marks")


class Outer(WrappingInterceptor):
    """Starts the span; when the call is done, records it into `spans`."""

    def __init__(self, spans: deque[int]) -> None:
        super().__init__()
        self._spans = spans

    def wrap(self, inner: Behaviour) -> Behaviour:
        spans = self._spans

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            marks = [_clock(), 0, 0]
            token = _marks.set(marks)
            try:
                return await inner(request, context)
            finally:
                end = _clock()
                _marks.reset(token)
                if marks[1]:  # the inner timer ran: the call got past the policy layers
                    spans.append((marks[1] - marks[0]) + (end - marks[2]))

        return behaviour


class Inner(WrappingInterceptor):
    def wrap(self, inner: Behaviour) -> Behaviour:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            marks = _marks.get()
            marks[1] = _clock()
            try:
                return await inner(request, context)
            finally:
                marks[2] = _clock()

        return behaviour


def report(policy: deque[int], empty: deque[int]) -> dict[str, Any]:
    if not policy or not empty:
        return {"calls": 0}
    # Paired per call, so a preempted call is one outlier, not a skew of one side.
    net = [p - e for p, e in zip(policy, empty)]
    return {
        "calls": len(net),
        "policy_us_median": statistics.median(policy) / 1e3,
        "empty_pair_us_median": statistics.median(empty) / 1e3,
        "net_us_median": statistics.median(net) / 1e3,
        # The mean keeps what the median sets aside: preempted calls, and calls that
        # waited for a key record's reload while other requests ran on the thread.
        "net_us_mean": statistics.fmean(net) / 1e3,
        "net_us_p25": statistics.quantiles(net, n=4)[0] / 1e3,
        "net_us_p75": statistics.quantiles(net, n=4)[2] / 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--report", required=True, type=Path)
    args = parser.parse_args()
    settings = load_settings({"http": args.http, "grpc": args.grpc, "database": args.database})
    authenticator = Authenticator(
        SqlCatalog(create_engine(settings.database.get_secret_value())),
        failure_store=MemoryStore(),
        failure_rate=settings.throttle.auth_failures,
    )
    throttler = Throttler(MemoryStore(), default_contract(), overrides=settings.throttle.limits)
    # Kept bounded; the first calls (cold caches) fall out as the run goes on.
    policy: deque[int] = deque(maxlen=500_000)
    empty: deque[int] = deque(maxlen=500_000)
    chain = [
        Outer(policy), AuthInterceptor(authenticator), ThrottleInterceptor(throttler), Inner(),
        Outer(empty), Inner(),
    ]  # fmt: skip
    listener = configure_logging(settings)
    try:
        uvloop.run(run(settings, policy=chain))
    finally:
        args.report.write_text(json.dumps(report(policy, empty)))
        listener.stop()


if __name__ == "__main__":
    main()
