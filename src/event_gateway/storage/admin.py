"""Administration of the catalog and read access to stored events, for the command line.

Plain async functions over an engine; they use the ORM and simple queries since none of
this is on the request path. Mistakes a user can make (a duplicate tenant, an unknown
key) raise `AdminError` with a message meant for a terminal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from event_gateway.policy.keys import NewKey, generate_key
from event_gateway.storage.base import ApiKeyRecord, Tenant
from event_gateway.storage.catalog import key_record, tenant_record
from event_gateway.storage.engine import STORE_ERRORS, unavailable
from event_gateway.storage.models import (
    ApiKeyRow,
    ProductRow,
    TenantRow,
    events_table,
    rejected_table,
    utcnow,
)

EVENT_EXPORT_COLUMNS = (
    "id",
    "api",
    "tenant",
    "event_type",
    "occurred_at",
    "received_at",
    "visitor_id",
    "user_id",
    "session_id",
    "product_id",
    "client_ip",
    "user_agent",
    "dedup_key",
    "future_dated",
    "payload",
)
REJECTED_EXPORT_COLUMNS = ("id", "api", "tenant", "reason", "received_at", "client_ip", "payload")


class AdminError(Exception):
    """A command cannot be done as asked; the message says why."""


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


async def _run(engine: AsyncEngine, work: Any) -> Any:
    """Run `work(connection)` in one transaction, translating store failures."""
    try:
        async with engine.begin() as connection:
            return await work(connection)
    except (AdminError, IntegrityError):
        raise
    except STORE_ERRORS as exc:
        if isinstance(exc, sa.exc.ProgrammingError | sa.exc.OperationalError) and (
            "does not exist" in str(exc) or "no such table" in str(exc)
        ):
            raise AdminError(
                "the database has no event-gateway tables; run `event-gateway db upgrade`"
            ) from exc
        raise unavailable(exc) from exc


async def _require_tenant(connection: AsyncConnection, tenant_id: str) -> None:
    found = await connection.scalar(
        sa.select(sa.literal(1)).where(_table(TenantRow).c.id == tenant_id)
    )
    if found is None:
        raise AdminError(f"unknown tenant {tenant_id!r} (see `event-gateway tenants list`)")


async def add_tenant(
    engine: AsyncEngine, tenant_id: str, slug: str, number: int, *, active: bool = True
) -> Tenant:
    tenants = _table(TenantRow)
    if not tenant_id or not slug:
        raise AdminError("a tenant needs a non-empty id and slug")

    async def work(connection: AsyncConnection) -> Tenant:
        # Look first so the message can name the clashing field; the unique
        # constraints still decide if two admins race.
        for column, value in (("id", tenant_id), ("slug", slug), ("number", number)):
            clash = await connection.scalar(
                sa.select(tenants.c.id).where(tenants.c[column] == value)
            )
            if clash is not None:
                raise AdminError(f"tenant {clash!r} already has {column} {value!r}")
        await connection.execute(
            sa.insert(tenants).values(
                id=tenant_id, slug=slug, number=number, active=active, created_at=utcnow()
            )
        )
        return Tenant(id=tenant_id, slug=slug, number=number, active=active)

    try:
        result: Tenant = await _run(engine, work)
    except IntegrityError as exc:
        raise AdminError(f"tenant {tenant_id!r} clashes with an existing tenant") from exc
    return result


async def list_tenants(engine: AsyncEngine) -> list[Tenant]:
    async def work(connection: AsyncConnection) -> list[Tenant]:
        rows = await connection.execute(sa.select(_table(TenantRow)).order_by("id"))
        return [tenant_record(row) for row in rows]

    result: list[Tenant] = await _run(engine, work)
    return result


async def add_products(engine: AsyncEngine, tenant_id: str, product_ids: Iterable[int]) -> int:
    """Register products for a tenant; already registered ones are left alone. Returns
    how many were new."""
    products = _table(ProductRow)
    wanted = sorted(set(product_ids))

    async def work(connection: AsyncConnection) -> int:
        await _require_tenant(connection, tenant_id)
        existing = set(
            await connection.scalars(
                sa.select(products.c.product_id).where(
                    products.c.tenant_id == tenant_id, products.c.product_id.in_(wanted)
                )
            )
        )
        new = [p for p in wanted if p not in existing]
        if new:
            await connection.execute(
                sa.insert(products), [{"tenant_id": tenant_id, "product_id": p} for p in new]
            )
        return len(new)

    try:
        result: int = await _run(engine, work)
    except IntegrityError as exc:
        raise AdminError("products were added concurrently; run the command again") from exc
    return result


async def create_key(
    engine: AsyncEngine,
    tenant_id: str,
    *,
    name: str = "",
    apis: Sequence[str] = (),
    limits: Mapping[str, str] | None = None,
) -> NewKey:
    """A new key for the tenant; only the secret's hash is stored, the plaintext returned once."""
    new_key = generate_key()

    async def work(connection: AsyncConnection) -> NewKey:
        await _require_tenant(connection, tenant_id)
        await connection.execute(
            sa.insert(_table(ApiKeyRow)).values(
                key_id=new_key.key_id,
                tenant_id=tenant_id,
                name=name,
                secret_hash=new_key.secret_hash,
                apis=sorted(set(apis)),
                limits=dict(limits or {}),
                created_at=utcnow(),
                revoked_at=None,
            )
        )
        return new_key

    result: NewKey = await _run(engine, work)
    return result


async def list_keys(engine: AsyncEngine, tenant_id: str | None = None) -> list[ApiKeyRecord]:
    keys = _table(ApiKeyRow)
    query = sa.select(keys).order_by(keys.c.tenant_id, keys.c.created_at)
    if tenant_id is not None:
        query = query.where(keys.c.tenant_id == tenant_id)

    async def work(connection: AsyncConnection) -> list[ApiKeyRecord]:
        return [key_record(row) for row in await connection.execute(query)]

    result: list[ApiKeyRecord] = await _run(engine, work)
    return result


async def revoke_key(engine: AsyncEngine, key_id: str) -> None:
    """Revoke a key (idempotent); it stops working once catalog caches expire (≤ 5 s)."""
    keys = _table(ApiKeyRow)

    async def work(connection: AsyncConnection) -> None:
        found = await connection.scalar(sa.select(keys.c.revoked_at.is_(None)).where(
            keys.c.key_id == key_id
        ))
        if found is None:
            raise AdminError(f"unknown key {key_id!r} (see `event-gateway keys list`)")
        await connection.execute(
            sa.update(keys)
            .where(keys.c.key_id == key_id, keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    await _run(engine, work)


def _filters(
    table: sa.Table,
    api: str | None,
    tenant: str | None,
    event_type: str | None = None,
    since: datetime | None = None,
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if api is not None:
        conditions.append(table.c.api == api)
    if tenant is not None:
        conditions.append(table.c.tenant == tenant)
    if event_type is not None:
        conditions.append(table.c.event_type == event_type)
    if since is not None:
        conditions.append(table.c.received_at >= since)
    return conditions


async def count_events(
    engine: AsyncEngine,
    *,
    api: str | None = None,
    tenant: str | None = None,
    event_type: str | None = None,
    rejected: bool = False,
) -> int:
    table = rejected_table() if rejected else events_table()
    query = sa.select(sa.func.count()).select_from(table)
    query = query.where(*_filters(table, api, tenant, event_type))

    async def work(connection: AsyncConnection) -> int:
        return int(await connection.scalar(query) or 0)

    result: int = await _run(engine, work)
    return result


async def export_events(
    engine: AsyncEngine,
    *,
    api: str | None = None,
    tenant: str | None = None,
    since: datetime | None = None,
    rejected: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Stored events (or quarantined rejects) in storage order, streamed from the database
    so an export of millions of rows runs in constant memory."""
    table = rejected_table() if rejected else events_table()
    columns = REJECTED_EXPORT_COLUMNS if rejected else EVENT_EXPORT_COLUMNS
    query = (
        sa.select(*(table.c[name] for name in columns))
        .where(*_filters(table, api, tenant, since=since))
        .order_by(table.c.id)
    )
    try:
        async with engine.connect() as connection:
            result = await connection.stream(query.execution_options(yield_per=1000))
            async for row in result:
                yield dict(row._mapping)
    except STORE_ERRORS as exc:
        raise unavailable(exc) from exc
