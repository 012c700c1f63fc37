#!/usr/bin/env python3
"""Latency of POST /api/v1/interactions for a known, an unknown and an inactive tenant.

Measures whether response time tells the three apart (docs/security.md, enumeration).
Requests alternate known/unknown/inactive one after another on one keep-alive
connection, so drift in machine load hits the three series alike.

Against a running gateway:

    scripts/enumeration_timing.py --url http://127.0.0.1:8080 --known 1 --unknown 999999 --inactive 3

or let the script start its own gateway on a fresh SQLite file (tenants 1 active,
3 inactive; storefront limits raised so throttling does not interfere):

    .venv/bin/python scripts/enumeration_timing.py --spawn --rounds 2000

Reports median, p90 and p99 in milliseconds per series, and the status codes seen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def spawned_gateway() -> Iterator[str]:
    sys.path.insert(0, str(ROOT))
    from tests.e2e.harness import Gateway, cli, create_tenant

    with tempfile.TemporaryDirectory() as directory:
        database = f"sqlite+aiosqlite:///{Path(directory) / 'events.db'}"
        create_tenant(database, "known", "known-store", 1)
        create_tenant(database, "dormant", "dormant-store", 3, "--inactive")
        cli(database, "events", "count")
        relaxed = '{"storefront": {"api": "10000000/minute", "tenant_aware": "10000000/minute"}}'
        gateway = Gateway(database, env={"EVENT_GATEWAY_THROTTLE__LIMITS": relaxed})
        gateway.start(Path(directory))
        try:
            yield gateway.base_url
        finally:
            gateway.stop()


def measure(url: str, tenants: dict[str, int], rounds: int, warmup: int) -> dict[str, tuple[list[float], dict[int, int]]]:
    results: dict[str, tuple[list[float], dict[int, int]]] = {name: ([], {}) for name in tenants}
    bodies = {name: {"tenant_id": number, "type": "view"} for name, number in tenants.items()}
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(warmup + rounds):
            # Rotate the order each round so no series always runs first.
            names = list(tenants)
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                response = client.post("/api/v1/interactions", json=bodies[name])
                elapsed = (time.perf_counter() - started) * 1000
                if i >= warmup:
                    latencies, statuses = results[name]
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--spawn", action="store_true", help="start a gateway on a fresh SQLite file")
    parser.add_argument("--known", type=int, default=1)
    parser.add_argument("--unknown", type=int, default=999_999)
    parser.add_argument("--inactive", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2000, help="requests per series")
    parser.add_argument("--warmup", type=int, default=100, help="rounds not counted")
    args = parser.parse_args()
    tenants = {"known": args.known, "unknown": args.unknown, "inactive": args.inactive}

    if args.spawn:
        with spawned_gateway() as url:
            results = measure(url, tenants, args.rounds, args.warmup)
    else:
        results = measure(args.url, tenants, args.rounds, args.warmup)

    print(f"{'series':<10}{'n':>6}{'median ms':>11}{'p90 ms':>9}{'p99 ms':>9}{'mean ms':>9}  statuses")
    for name, (latencies, statuses) in results.items():
        print(
            f"{name:<10}{len(latencies):>6}{statistics.median(latencies):>11.3f}"
            f"{percentile(latencies, 90):>9.3f}{percentile(latencies, 99):>9.3f}"
            f"{statistics.fmean(latencies):>9.3f}  {dict(sorted(statuses.items()))}"
        )
    known = statistics.median(results["known"][0])
    for name in ("unknown", "inactive"):
        other = statistics.median(results[name][0])
        print(f"median {name} - known: {other - known:+.3f} ms ({(other / known - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
