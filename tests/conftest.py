"""Fixtures shared by the whole suite: real PostgreSQL and Redis servers.

Where a server is absent the tests that need it are skipped with the reason; under
CI=true an absent server is a failure, since .ci/run must have started it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

POSTGRES_URL = os.environ.get(
    "EVENT_GATEWAY_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("EVENT_GATEWAY_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _require(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} at {host}:{port} is required under CI=true but cannot be reached")
    pytest.skip(f"{name} is not reachable at {host}:{port}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema (dropped afterwards)."""
    _require("PostgreSQL", "127.0.0.1", 5432)
    import asyncio

    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    asyncio.run(run(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def redis_url() -> str:
    """URL of the Redis server, on a database the tests may flush."""
    _require("Redis", "127.0.0.1", 6379)
    return REDIS_URL.rsplit("/", 1)[0] + "/15"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[object]:
    import redis.asyncio as redis

    client = redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()
