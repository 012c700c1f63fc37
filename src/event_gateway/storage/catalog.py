"""SqlCatalog: tenants, products and API keys, read through short-lived caches.

Every request looks up its tenant (and often a product and a key), so without a cache
the catalog would cost more round trips than the events themselves. Entries live a few
seconds: an admin change (a new product, a revoked key) takes effect within `ttl`.
Misses are cached too, so a flood of unknown keys or tenants does not reach the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from event_gateway.storage.base import ApiKeyRecord, Tenant, tenant_id_spellings
from event_gateway.storage.engine import STORE_ERRORS, unavailable
from event_gateway.storage.models import ApiKeyRow, ProductRow, TenantRow

V = TypeVar("V")

DEFAULT_TTL = 5.0
DEFAULT_MAX_ENTRIES = 10_000


class TtlCache(Generic[V]):
    """A dict whose entries expire after `ttl` seconds; cleared whole when it gets too big.

    Clearing beats LRU bookkeeping here: it only happens under a flood of distinct
    keys, and every entry is cheap to fetch again.
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, V]] = {}
        # Loads in progress: callers that miss the same key meanwhile wait for that load
        # instead of starting their own (when an entry expires under load, every
        # concurrent request misses it at once; measured, that put a database query on
        # ~3% of the event loop's time at 64 concurrent requests).
        self._loading: dict[Hashable, asyncio.Future[V]] = {}

    def fresh(self, key: Hashable) -> V | None:
        """The entry if it is cached and not expired, else None (without loading).

        Lets a caller on a hot path skip building a loader and awaiting `get`.
        """
        hit = self._entries.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        return None

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._loading.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and task is not None and not task.cancelling():
                    return await self.get(key, load)  # the loader was cancelled, not us
                raise
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        except BaseException:
            future.cancel()  # cancelled: waiters load for themselves
            raise
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]
        future.set_result(value)
        if self._ttl > 0:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (now + self._ttl, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


class SqlCatalog:
    """The Catalog over the tenants, products and api_keys tables."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl: float = DEFAULT_TTL,
        key_ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        retry_after: float = 1.0,
    ) -> None:
        """`ttl` caches tenants and products; `key_ttl` (keep it ≤ 5 s) caches API keys,
        bounding how long a revoked key keeps working. 0 disables a cache. `retry_after`
        is the advice a lookup failed by an unreachable database carries (the writer's)."""
        self._engine = engine
        self._retry_after = retry_after
        self._tenants: TtlCache[Tenant | None] = TtlCache(ttl, max_entries, clock)
        self._products: TtlCache[bool] = TtlCache(ttl, max_entries, clock)
        self._keys: TtlCache[ApiKeyRecord | None] = TtlCache(key_ttl, max_entries, clock)

    async def tenant_by_id(self, tenant_id: str) -> Tenant | None:
        return await self._tenants.get(("id", tenant_id), lambda: self._tenant_with_id(tenant_id))

    async def _tenant_with_id(self, tenant_id: str) -> Tenant | None:
        spellings = tenant_id_spellings(tenant_id)
        if len(spellings) == 1:
            return await self._tenant(TenantRow.id == tenant_id)
        # A UUID in any letter case; the id as sent wins should a store hold one UUID
        # in two cases.
        exact_first = sa.case((TenantRow.id == tenant_id, 0), else_=1)
        query = (
            sa.select(TenantRow.__table__)  # type: ignore[attr-defined]
            .where(TenantRow.id.in_(spellings))  # type: ignore[attr-defined]
            .order_by(exact_first)
        )
        row = await self._one(query)
        return None if row is None else tenant_record(row)

    async def tenant_by_slug(self, slug: str) -> Tenant | None:
        return await self._tenants.get(
            ("slug", slug), lambda: self._tenant(TenantRow.slug == slug)
        )

    async def tenant_by_number(self, number: int) -> Tenant | None:
        return await self._tenants.get(
            ("number", number), lambda: self._tenant(TenantRow.number == number)
        )

    async def product_exists(self, tenant_id: str, product_id: int) -> bool:
        async def load() -> bool:
            query = sa.select(sa.literal(1)).where(
                ProductRow.tenant_id == tenant_id,  # type: ignore[arg-type]
                ProductRow.product_id == product_id,  # type: ignore[arg-type]
            )
            return await self._one(query) is not None

        return await self._products.get((tenant_id, product_id), load)

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        cached = self._keys.fresh(key_id)
        if cached is not None:
            return cached

        async def load() -> ApiKeyRecord | None:
            row = await self._one(
                sa.select(ApiKeyRow.__table__).where(ApiKeyRow.key_id == key_id)  # type: ignore[arg-type,attr-defined]
            )
            return None if row is None else key_record(row)

        return await self._keys.get(key_id, load)

    async def _tenant(self, condition: Any) -> Tenant | None:
        row = await self._one(sa.select(TenantRow.__table__).where(condition))  # type: ignore[attr-defined]
        return None if row is None else tenant_record(row)

    async def _one(self, query: sa.Select[Any]) -> sa.Row[Any] | None:
        try:
            async with self._engine.connect() as connection:
                return (await connection.execute(query)).first()
        except STORE_ERRORS as exc:
            raise unavailable(exc, self._retry_after) from exc


def tenant_record(row: Any) -> Tenant:
    return Tenant(id=row.id, slug=row.slug, number=row.number, active=row.active)


def key_record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row.key_id,
        tenant=row.tenant_id,
        secret_hash=row.secret_hash,
        name=row.name,
        apis=frozenset(row.apis or ()),
        limits=dict(row.limits or {}),
        revoked=row.revoked_at is not None,
    )
