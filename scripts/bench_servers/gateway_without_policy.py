"""The gateway without authentication and throttling: the other side of the policy-cost row.

Everything is the real gateway (`event_gateway.server.run`: uvicorn, grpc.aio, the
transcoder, scope/access/error interceptors, servicers, group-commit writer on SQLite)
except the auth and throttle interceptors. In their place one interceptor puts a fixed
principal (the bench tenant's key) into the call scope without checking anything, since
the servicers need a tenant. The difference between this server and `event-gateway
serve` under the same load is what verifying the key and charging the limits cost.

    python gateway_without_policy.py --http 127.0.0.1:8080 --grpc 127.0.0.1:50051 \\
        --database sqlite+aiosqlite:///gw.db --tenant bench --key-id KEYID
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import deque
from pathlib import Path
from typing import Any

import grpc
import uvloop

from event_gateway import scope
from event_gateway.config import load_settings
from event_gateway.interceptors._wrap import Behaviour, WrappingInterceptor
from event_gateway.observability.logging import configure_logging
from event_gateway.scope import Principal
from event_gateway.server import run


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
    """A calibration weight: `loops` turns of an empty Python loop per call, timed.

    The policy row runs two stand-ins, with and without it, as it runs the gateway
    with and without its policy, to show how a known amount of work added to every
    request reads in the paired CPU difference.
    """

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--busy-loops", type=int, default=0, help="add a BusyLoop of this many turns")
    parser.add_argument("--report", type=Path, help="where the BusyLoop's timing goes at exit")
    args = parser.parse_args()
    settings = load_settings({"http": args.http, "grpc": args.grpc, "database": args.database})
    principal = Principal(key_id=args.key_id, tenant=args.tenant, name="bench")
    chain: list[grpc.aio.ServerInterceptor] = [KnownCaller(principal)]
    spans: deque[int] = deque(maxlen=500_000)
    if args.busy_loops:
        chain.append(BusyLoop(args.busy_loops, spans))
    listener = configure_logging(settings)
    try:
        uvloop.run(run(settings, policy=chain))
    finally:
        if args.report is not None:
            timing = {"calls": len(spans)}
            if spans:
                timing |= {"busy_us_median": statistics.median(spans) / 1e3,
                           "busy_us_mean": statistics.fmean(spans) / 1e3}
            args.report.write_text(json.dumps(timing))
        listener.stop()


if __name__ == "__main__":
    main()
