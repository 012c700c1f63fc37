"""Fakes for servicer tests: a recording writer, a catalogue, a call scope and context.

The servicers only see the storage Protocols, so small fakes keep these tests about the
API rules; the real stores have their own contract suite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from event_gateway import errors
from event_gateway.config import Settings
from event_gateway.contract import default_contract
from event_gateway.scope import CallScope, Principal, enter_scope, leave_scope
from event_gateway.storage.base import EventRecord, RejectedRecord, Tenant, WriteResult

NOW = datetime(2026, 3, 12, 12, 0, 0, tzinfo=UTC)
CLIENT_IP = "203.0.113.9"


@dataclass
class FakeWriter:
    """Stores in memory, de-duplicating by (api, tenant, dedup_key) like the real writer."""

    events: list[EventRecord] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    calls: int = 0
    fail_with: errors.GatewayError | None = None

    async def write(
        self, events: Sequence[EventRecord], rejected: Sequence[RejectedRecord] = ()
    ) -> WriteResult:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        seen = {(e.api, e.tenant, e.dedup_key) for e in self.events if e.dedup_key}
        stored = duplicates = 0
        for event in events:
            key = (event.api, event.tenant, event.dedup_key)
            if event.dedup_key and key in seen:
                duplicates += 1
                continue
            seen.add(key)
            self.events.append(event)
            stored += 1
        self.rejected.extend(rejected)
        return WriteResult(stored=stored, duplicates=duplicates)


@dataclass
class FakeCatalog:
    tenants: list[Tenant] = field(default_factory=list)
    products: set[tuple[str, int]] = field(default_factory=set)
    lookups: list[str] = field(default_factory=list)

    async def tenant_by_id(self, tenant_id: str) -> Tenant | None:
        self.lookups.append(f"id:{tenant_id}")
        return next((t for t in self.tenants if t.id == tenant_id), None)

    async def tenant_by_slug(self, slug: str) -> Tenant | None:
        self.lookups.append(f"slug:{slug}")
        return next((t for t in self.tenants if t.slug == slug), None)

    async def tenant_by_number(self, number: int) -> Tenant | None:
        self.lookups.append(f"number:{number}")
        return next((t for t in self.tenants if t.number == number), None)

    async def product_exists(self, tenant_id: str, product_id: int) -> bool:
        return (tenant_id, product_id) in self.products

    async def api_key(self, key_id: str) -> None:
        return None


class FakeContext:
    """The parts of grpc.aio.ServicerContext the servicers touch."""

    def __init__(self, metadata: Sequence[tuple[str, str]] = (), trailing: Sequence[tuple[str, str]] = ()) -> None:
        self._metadata = tuple(metadata)
        self._trailing = tuple(trailing)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._trailing = tuple(metadata)

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailing


R = TypeVar("R")


async def invoke(
    method: str,
    call: Callable[[], Awaitable[R]],
    *,
    tenant: str | None = "acme",
) -> R:
    """Run a servicer call inside the scope the interceptors would have set."""
    spec = default_contract().method(method)
    assert spec is not None, method
    principal = Principal(key_id="k1", tenant=tenant) if tenant is not None else None
    token = enter_scope(CallScope(method=spec, client_ip=CLIENT_IP, principal=principal))
    try:
        return await call()
    finally:
        leave_scope(token)


@pytest.fixture
def writer() -> FakeWriter:
    return FakeWriter()


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog(
        tenants=[
            Tenant(id="acme", slug="acme-store", number=1),
            Tenant(id="globex", slug="globex", number=2),
            Tenant(id="closed", slug="closed-shop", number=3, active=False),
        ],
        products={("acme", 101), ("globex", 202)},
    )


@pytest.fixture
def settings() -> Settings:
    return Settings()


def clock() -> datetime:
    return NOW


def violations(err: errors.InvalidArgument) -> dict[str, str]:
    return {v.field: v.kind for v in err.violations}


def as_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(message)
