"""What only the Redis store promises: key TTLs, one limit across processes, outages."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from event_gateway import errors
from event_gateway.policy.rates import Rate
from event_gateway.policy.stores.base import Check
from event_gateway.policy.stores.redis import RedisStore, connect

pytestmark = pytest.mark.redis

HAMMER = Path(__file__).with_name("hammer.py")


async def test_buckets_expire_when_they_would_be_full_again(redis_client: Any) -> None:
    store = RedisStore(redis_client)
    await store.acquire([Check("rl:t:ttl:{a}", Rate(10, 60)), Check("rl:t:ttl2:{a}", Rate(1, 3600))])
    assert 5_000 < await redis_client.pttl("rl:t:ttl:{a}") <= 6_000  # one interval of debt
    assert 3_599_000 < await redis_client.pttl("rl:t:ttl2:{a}") <= 3_600_000


async def test_a_denial_and_a_look_write_nothing(redis_client: Any) -> None:
    store = RedisStore(redis_client)
    await store.acquire([Check("rl:t:full:{a}", Rate(1, 3600))])
    await store.acquire([Check("rl:t:full:{a}", Rate(1, 3600)), Check("rl:t:other:{a}", Rate(5, 60))])
    await store.acquire([Check("rl:t:looked:{a}", Rate(5, 60))], consume=False)
    assert sorted(await redis_client.keys("*")) == [b"rl:t:full:{a}"]


async def test_two_processes_share_one_limit(redis_client: Any, redis_url: str) -> None:
    # Per hour: nothing refills. Each side tries 300 times against 400: shared, exactly 400
    # pass (unshared, 600 would), and each side admits some whatever the scheduling.
    key, limit = "rl:t:shared:{p}", 400
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(HAMMER), redis_url, key, "300", str(limit),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"ready"
        store = RedisStore(redis_client, fail_open=False)
        check = [Check(key, Rate(limit, 3600))]
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        admitted_here = 0
        for _ in range(30):
            decisions = await asyncio.gather(*(store.acquire(check) for _ in range(10)))
            admitted_here += sum(d.allowed for d in decisions)
        admitted_there = int(await asyncio.wait_for(child.stdout.readline(), 60))
    finally:
        if child.returncode is None:
            await asyncio.wait_for(child.wait(), 60)
    assert child.returncode == 0
    assert admitted_here + admitted_there == limit
    assert admitted_there > 0 and admitted_here > 0, "the two processes did not overlap"


class Proxy:
    """A TCP proxy to Redis that the test can cut, as an outage would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def drop_connections(self) -> None:
        """Close every open connection and go on accepting, as a restarted Redis does."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


@pytest.fixture
async def outage(redis_url: str) -> Any:
    """(client through a proxy, function that cuts the proxy)."""
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    proxy = Proxy((host, int(port or 6379)))
    proxy_port = await proxy.start()
    # No retries with back-off: the outage should be seen at once.
    client = redis.Redis(host="127.0.0.1", port=proxy_port, db=15, retry=Retry(NoBackoff(), 1))
    yield client, proxy.close
    await client.aclose()


CHECK = [Check("rl:t:outage:{o}", Rate(100, 60))]


async def test_fail_open_allows_counts_and_logs_once(outage: Any, caplog: Any) -> None:
    client, cut = outage
    seen: list[BaseException] = []
    store = RedisStore(client, on_unavailable=seen.append, log_interval=3600)
    assert (await store.acquire(CHECK)).degraded is False
    await cut()
    with caplog.at_level(logging.WARNING, logger="event_gateway.policy.stores.redis"):
        decisions = [await store.acquire(CHECK) for _ in range(3)]
    assert all(d.allowed and d.degraded and d.buckets == () for d in decisions)
    assert len(seen) == 3
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1


async def test_fail_closed_refuses_with_unavailable(outage: Any) -> None:
    client, cut = outage
    seen: list[BaseException] = []
    store = RedisStore(client, fail_open=False, on_unavailable=seen.append)
    assert (await store.acquire(CHECK)).allowed
    await cut()
    with pytest.raises(errors.Unavailable) as raised:
        await store.acquire(CHECK)
    assert raised.value.retry_after == 1.0 and len(seen) == 1


async def test_nothing_listening_from_the_start(unused_tcp_port: int) -> None:
    client = redis.Redis(host="127.0.0.1", port=unused_tcp_port, retry=Retry(NoBackoff(), 0))
    try:
        store = RedisStore(client)
        assert (await store.acquire(CHECK)).degraded
        with pytest.raises(errors.Unavailable):
            await RedisStore(client, fail_open=False).acquire(CHECK)
    finally:
        await client.aclose()


async def test_a_hung_redis_is_bounded_by_the_timeout() -> None:
    # A server that accepts and never answers.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    try:
        decision = await RedisStore(client, timeout=0.05).acquire(CHECK)
        assert decision.degraded
    finally:
        await client.aclose()
        server.close()


async def test_after_a_restart_the_pooled_connections_are_replaced_without_a_failure(redis_url: str) -> None:
    # Found by a black-box run: after Redis restarted, every dead pooled connection
    # failed one request (let through uncounted, or refused failing closed).
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    proxy = Proxy((host, int(port or 6379)))
    proxy_port = await proxy.start()
    client = connect(f"redis://127.0.0.1:{proxy_port}/15", max_connections=8)
    seen: list[BaseException] = []
    store = RedisStore(client, fail_open=False, on_unavailable=seen.append)
    check = [Check("rl:t:restart:{r}", Rate(1000, 60), window=True)]
    try:
        # Eight at once: eight pooled connections.
        assert all(d.allowed for d in await asyncio.gather(*(store.acquire(check) for _ in range(8))))
        proxy.drop_connections()
        await asyncio.sleep(0.1)
        decisions = await asyncio.gather(*(store.acquire(check) for _ in range(16)))
        assert all(d.allowed and not d.degraded for d in decisions) and seen == []
        assert min(d.buckets[0].remaining for d in decisions) == 1000 - 24  # every one counted
    finally:
        await client.aclose()
        await proxy.close()
