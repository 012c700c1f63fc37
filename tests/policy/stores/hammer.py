"""Run as a separate process by test_redis.py: charge one bucket as fast as possible.

Prints "ready", waits for a line on stdin, hammers, prints how many were admitted.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as redis

from event_gateway.policy.rates import Rate
from event_gateway.policy.stores.base import Check
from event_gateway.policy.stores.redis import RedisStore


async def main(url: str, key: str, count: int, per_hour: int) -> None:
    client = redis.from_url(url)
    store = RedisStore(client, fail_open=False)
    check = [Check(key, Rate(per_hour, 3600))]
    await client.ping()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    admitted = 0
    for _ in range(count // 10):
        decisions = await asyncio.gather(*(store.acquire(check) for _ in range(10)))
        admitted += sum(d.allowed for d in decisions)
    print(admitted, flush=True)
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
