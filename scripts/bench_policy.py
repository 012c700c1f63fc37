"""Micro-benchmark of the request-path policy: µs per auth + throttle check.

    .venv/bin/python scripts/bench_policy.py [--redis redis://127.0.0.1:6379/15] [-n 20000]

Memory mode: Authenticator (fake in-memory catalog) + Throttler on MemoryStore, for
alana's two limits. Redis mode: one RedisStore acquire of the same two limits (one
EVALSHA), sequential and with 50 concurrent callers. Not a test: numbers vary by host.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from event_gateway.contract import default_contract
from event_gateway.policy import keys
from event_gateway.policy.auth import Authenticator
from event_gateway.policy.rates import Rate
from event_gateway.policy.stores.base import Check
from event_gateway.policy.stores.memory import MemoryStore
from event_gateway.policy.throttle import Throttler
from event_gateway.storage.base import ApiKeyRecord


class Catalog:
    def __init__(self, record: ApiKeyRecord) -> None:
        self.record = record

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        return self.record if key_id == self.record.key_id else None


async def bench_memory(n: int) -> None:
    contract = default_contract()
    method = contract.method("/alana.v1.ShopperEventsService/TrackEvents")
    assert method is not None
    new = keys.generate_key()
    record = ApiKeyRecord(key_id=new.key_id, tenant="t1", secret_hash=new.secret_hash)
    auth = Authenticator(Catalog(record), failure_store=MemoryStore())  # type: ignore[arg-type]
    big = {"alana": {"per_key": f"{10 * n}/minute", "per_key_ip": f"{10 * n}/minute"}}
    throttler = Throttler(MemoryStore(), contract, overrides=big)
    metadata = [("x-api-key", new.plaintext), ("user-agent", "bench")]

    async def one() -> None:
        principal = await auth.authenticate(method.api, metadata, "10.0.0.1")
        outcome = await throttler.check(method, principal=principal, client_ip="10.0.0.1", request=None)
        outcome.metadata()

    for _ in range(1000):
        await one()
    start = time.perf_counter()
    for _ in range(n):
        await one()
    print(f"memory: auth + throttle (2 limits) + headers: {(time.perf_counter() - start) / n * 1e6:.2f} µs")

    store = MemoryStore()
    checks = [Check("rl:a:per_key:{k}", Rate(10 * n, 60)), Check("rl:a:per_key_ip:{k}:ip", Rate(10 * n, 60))]
    start = time.perf_counter()
    for _ in range(n):
        await store.acquire(checks)
    print(f"memory: store acquire, 2 limits:           {(time.perf_counter() - start) / n * 1e6:.2f} µs")


async def bench_redis(url: str, n: int) -> None:
    import redis.asyncio as redis

    from event_gateway.policy.stores.redis import RedisStore

    client = redis.from_url(url)
    store = RedisStore(client, fail_open=False)
    checks = [Check("rl:bench:per_key:{k}", Rate(100 * n, 60)), Check("rl:bench:per_key_ip:{k}:ip", Rate(100 * n, 60))]
    await store.acquire(checks)
    start = time.perf_counter()
    for _ in range(n):
        await store.acquire(checks)
    seq = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n // 50):
        await asyncio.gather(*(store.acquire(checks) for _ in range(50)))
    conc = (time.perf_counter() - start) / (n // 50 * 50)
    start = time.perf_counter()
    for _ in range(n):
        await client.ping()
    ping = (time.perf_counter() - start) / n
    print(f"redis: acquire 2 limits (1 EVALSHA), sequential: {seq * 1e6:.0f} µs ({1 / seq:,.0f}/s); PING alone {ping * 1e6:.0f} µs")
    print(f"redis: 50 concurrent callers: {conc * 1e6:.0f} µs per check ({1 / conc:,.0f} checks/s)")
    await client.delete(*[c.key for c in checks])
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="", help="Redis URL; omit to skip the Redis bench")
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(bench_memory(args.n))
    if args.redis:
        asyncio.run(bench_redis(args.redis, args.n // 4))


if __name__ == "__main__":
    main()
