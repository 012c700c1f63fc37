"""In-memory EventWriter and Catalog, for unit tests of the other parts.

`MemoryWriter` is the same group-commit queue as the SQL writer over a dictionary
sink, so queue bounds, de-dup counting and failure semantics are the real ones; the
storage contract suite runs against it too. Set `available = False` to make commits
fail with Unavailable (nothing stored), as a database outage would.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence

from event_gateway import errors
from event_gateway.config import WriterSettings
from event_gateway.storage.base import (
    ApiKeyRecord,
    EventRecord,
    RejectedRecord,
    Tenant,
    WriteResult,
    tenant_id_spellings,
)
from event_gateway.storage.writer import Batch, DedupKey, GroupCommitQueue, Observer


class MemorySink:
    def __init__(self) -> None:
        self.events: list[EventRecord] = []
        self.rejected: list[RejectedRecord] = []
        self.available = True
        self._keys: set[DedupKey] = set()

    async def commit(self, batch: Batch) -> set[DedupKey]:
        # Yield like real I/O would, so concurrent callers form groups as they do on a database.
        await asyncio.sleep(0)
        if not self.available:
            raise errors.Unavailable(
                "the in-memory store is marked unavailable",
                reason="STORE_UNAVAILABLE",
            )
        new = [e for e in batch.keyed if (e.api, e.tenant, e.dedup_key) not in self._keys]
        inserted: set[DedupKey] = {(e.api, e.tenant, e.dedup_key) for e in new}  # type: ignore[misc]
        self.events.extend(batch.plain)
        self.events.extend(new)
        self.rejected.extend(batch.rejected)
        self._keys |= inserted
        return inserted


class MemoryWriter(GroupCommitQueue):
    """EventWriter in memory. With `autostart` (default) the first write starts draining."""

    def __init__(
        self,
        settings: WriterSettings | None = None,
        observer: Observer | None = None,
        *,
        autostart: bool = True,
        sink: MemorySink | None = None,
    ) -> None:
        """`sink` lets several writers share one store (e.g. to look after a close())."""
        settings = settings or WriterSettings()
        self._memory = sink or MemorySink()
        self._autostart = autostart
        super().__init__(self._memory, settings, observer)

    @property
    def events(self) -> list[EventRecord]:
        return self._memory.events

    @property
    def rejected(self) -> list[RejectedRecord]:
        return self._memory.rejected

    @property
    def available(self) -> bool:
        return self._memory.available

    @available.setter
    def available(self, value: bool) -> None:
        self._memory.available = value

    async def write(
        self, events: Sequence[EventRecord], rejected: Sequence[RejectedRecord] = ()
    ) -> WriteResult:
        if self._autostart:
            self.start()
        return await super().write(events, rejected)


class MemoryCatalog:
    """Catalog over dictionaries; fill it with the add_* methods."""

    def __init__(
        self,
        tenants: Iterable[Tenant] = (),
        products: Iterable[tuple[str, int]] = (),
        keys: Iterable[ApiKeyRecord] = (),
    ) -> None:
        self._tenants: dict[str, Tenant] = {}
        self._products: set[tuple[str, int]] = set()
        self._keys: dict[str, ApiKeyRecord] = {}
        for tenant in tenants:
            self.add_tenant(tenant)
        for tenant_id, product_id in products:
            self.add_product(tenant_id, product_id)
        for key in keys:
            self.add_key(key)

    def add_tenant(self, tenant: Tenant) -> None:
        self._tenants[tenant.id] = tenant

    def add_product(self, tenant_id: str, product_id: int) -> None:
        self._products.add((tenant_id, product_id))

    def add_key(self, key: ApiKeyRecord) -> None:
        self._keys[key.key_id] = key

    def revoke_key(self, key_id: str) -> None:
        self._keys[key_id] = dataclasses.replace(self._keys[key_id], revoked=True)

    async def tenant_by_id(self, tenant_id: str) -> Tenant | None:
        found = (self._tenants.get(spelling) for spelling in tenant_id_spellings(tenant_id))
        return next((tenant for tenant in found if tenant is not None), None)

    async def tenant_by_slug(self, slug: str) -> Tenant | None:
        return next((t for t in self._tenants.values() if t.slug == slug), None)

    async def tenant_by_number(self, number: int) -> Tenant | None:
        return next((t for t in self._tenants.values() if t.number == number), None)

    async def product_exists(self, tenant_id: str, product_id: int) -> bool:
        return (tenant_id, product_id) in self._products

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        return self._keys.get(key_id)
