"""Storage fixtures: one `Backend` per implementation, so one suite runs against all of them.

A backend gives writers (not started, so tests can queue calls first), a catalog without
caches, a way to seed the catalog, to read back what was stored, and to break and repair
the store (a failing commit must store nothing of its group).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from event_gateway.config import WriterSettings
from event_gateway.policy.keys import generate_key
from event_gateway.storage import admin
from event_gateway.storage.base import ApiKeyRecord, Catalog, Tenant
from event_gateway.storage.catalog import SqlCatalog
from event_gateway.storage.engine import create_engine, upgrade
from event_gateway.storage.memory import MemoryCatalog, MemorySink, MemoryWriter
from event_gateway.storage.models import events_table, rejected_table
from event_gateway.storage.writer import GroupCommitQueue


class Backend(Protocol):
    catalog: Catalog

    def writer(self, settings: WriterSettings) -> GroupCommitQueue: ...
    async def add_tenant(self, tenant: Tenant) -> None: ...
    async def add_products(self, tenant_id: str, product_ids: Sequence[int]) -> None: ...
    async def add_key(self, tenant_id: str, name: str, apis: Sequence[str],
                      limits: Mapping[str, str]) -> str: ...
    async def revoke_key(self, key_id: str) -> None: ...
    async def events(self) -> list[dict[str, Any]]: ...
    async def rejected(self) -> list[dict[str, Any]]: ...
    async def break_store(self) -> None: ...
    async def repair_store(self) -> None: ...


class MemoryBackend:
    def __init__(self) -> None:
        self.sink = MemorySink()
        self.catalog = MemoryCatalog()

    def writer(self, settings: WriterSettings) -> GroupCommitQueue:
        return MemoryWriter(settings, autostart=False, sink=self.sink)

    async def add_tenant(self, tenant: Tenant) -> None:
        self.catalog.add_tenant(tenant)

    async def add_products(self, tenant_id: str, product_ids: Sequence[int]) -> None:
        for product_id in product_ids:
            self.catalog.add_product(tenant_id, product_id)

    async def add_key(self, tenant_id: str, name: str, apis: Sequence[str],
                      limits: Mapping[str, str]) -> str:
        new = generate_key()
        self.catalog.add_key(
            ApiKeyRecord(new.key_id, tenant_id, new.secret_hash, name, frozenset(apis), limits)
        )
        return new.key_id

    async def revoke_key(self, key_id: str) -> None:
        self.catalog.revoke_key(key_id)

    async def events(self) -> list[dict[str, Any]]:
        return [e._asdict() for e in self.sink.events]

    async def rejected(self) -> list[dict[str, Any]]:
        return [r._asdict() for r in self.sink.rejected]

    async def break_store(self) -> None:
        self.sink.available = False

    async def repair_store(self) -> None:
        self.sink.available = True


class SqlBackend:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.catalog = SqlCatalog(engine, ttl=0, key_ttl=0)

    def writer(self, settings: WriterSettings) -> GroupCommitQueue:
        from event_gateway.storage.writer import GroupCommitWriter

        return GroupCommitWriter(self.engine, settings)

    async def add_tenant(self, tenant: Tenant) -> None:
        await admin.add_tenant(
            self.engine, tenant.id, tenant.slug, tenant.number, active=tenant.active
        )

    async def add_products(self, tenant_id: str, product_ids: Sequence[int]) -> None:
        await admin.add_products(self.engine, tenant_id, product_ids)

    async def add_key(self, tenant_id: str, name: str, apis: Sequence[str],
                      limits: Mapping[str, str]) -> str:
        new = await admin.create_key(self.engine, tenant_id, name=name, apis=apis, limits=limits)
        return new.key_id

    async def revoke_key(self, key_id: str) -> None:
        await admin.revoke_key(self.engine, key_id)

    async def _rows(self, table: sa.Table) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            result = await connection.execute(sa.select(table).order_by(table.c.id))
            return [dict(row._mapping) for row in result]

    async def events(self) -> list[dict[str, Any]]:
        return await self._rows(events_table())

    async def rejected(self) -> list[dict[str, Any]]:
        return await self._rows(rejected_table())

    # Renaming the quarantine table away makes the LAST insert of a commit fail, after the
    # events went in: the rollback has to take them out again.
    async def break_store(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(sa.text("ALTER TABLE rejected_events RENAME TO broken"))

    async def repair_store(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(sa.text("ALTER TABLE broken RENAME TO rejected_events"))


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None for the in-memory store, else a database URL (plain scheme on purpose)."""
    if request.param == "memory":
        yield None
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
async def backend(store_url: str | None) -> AsyncIterator[Backend]:
    if store_url is None:
        yield MemoryBackend()
        return
    if store_url.startswith("postgresql"):
        await upgrade(store_url)  # PostgreSQL gets its schema through the migrations
    engine = create_engine(store_url)
    try:
        yield SqlBackend(engine)
    finally:
        await engine.dispose()
