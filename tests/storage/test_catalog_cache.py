"""SqlCatalog's caches: hits within the TTL, changes (revocations too) visible after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from event_gateway import errors
from event_gateway.storage import admin
from event_gateway.storage.catalog import SqlCatalog, TtlCache
from event_gateway.storage.engine import create_engine


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield engine
    await engine.dispose()


async def test_misses_and_hits_expire_after_the_ttl(engine: AsyncEngine) -> None:
    clock = Clock()
    catalog = SqlCatalog(engine, ttl=5, key_ttl=2, clock=clock)
    assert await catalog.tenant_by_slug("acme") is None
    await admin.add_tenant(engine, "t1", "acme", 1)
    await admin.add_products(engine, "t1", [5])
    assert await catalog.tenant_by_slug("acme") is None  # the miss is cached too
    clock.now += 5.01
    assert (await catalog.tenant_by_slug("acme")).id == "t1"  # type: ignore[union-attr]
    assert await catalog.product_exists("t1", 5)

    key = await admin.create_key(engine, "t1")
    assert not (await catalog.api_key(key.key_id)).revoked  # type: ignore[union-attr]
    await admin.revoke_key(engine, key.key_id)
    clock.now += 1.9
    assert not (await catalog.api_key(key.key_id)).revoked  # type: ignore[union-attr]
    clock.now += 0.2
    assert (await catalog.api_key(key.key_id)).revoked  # type: ignore[union-attr]


async def test_cache_is_cleared_when_full() -> None:
    loads: list[int] = []
    cache: TtlCache[int] = TtlCache(ttl=60, max_entries=2, clock=Clock())

    async def load(n: int) -> int:
        loads.append(n)
        return n

    for n in (1, 2, 1, 3, 1):
        assert await cache.get(n, lambda n=n: load(n)) == n  # type: ignore[misc]
    # 1 and 2 cached; 3 overflows and clears; 1 is loaded again.
    assert loads == [1, 2, 3, 1]


async def test_a_lookup_the_database_cannot_answer_is_unavailable_with_retry_advice() -> None:
    # PostgreSQL on loopback port 9, where nothing listens: every connection is refused.
    # (Not a SQLite file that cannot open: aiosqlite leaves that connection's thread
    # behind, to report to a loop the test has closed.)
    engine = create_engine("postgresql://postgres@127.0.0.1:9/none")
    catalog = SqlCatalog(engine, retry_after=3)
    try:
        for lookup in (catalog.tenant_by_id("acme"), catalog.tenant_by_number(1), catalog.api_key("k")):
            with pytest.raises(errors.Unavailable) as caught:
                await lookup
            # 503 + Retry-After over REST: clients are told when to come back.
            assert caught.value.retry_after == 3
    finally:
        await engine.dispose()
