"""The storage boundary: what ingestion and policy need from a store.

Two small Protocols, `EventWriter` and `Catalog`; one contract test suite
(tests/storage/test_contract.py) runs against every implementation (SQLite and
PostgreSQL through SQLAlchemy). Records are immutable named tuples: one is built per
event on the event loop, where a tuple costs one C call (a frozen dataclass set each
field through object.__setattr__, ~10% of a batch's loop time), and the sinks' INSERTs
name their columns in field order, so a record binds as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol


class EventRecord(NamedTuple):
    """One accepted event, ready to store."""

    api: str
    tenant: str
    event_type: str
    received_at: datetime
    payload: Mapping[str, Any]  # the event as the client sent it, in its JSON spelling
    occurred_at: datetime | None = None
    visitor_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    product_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    # Scoped by (api, tenant): a second record with the same key is not stored.
    dedup_key: str | None = None
    # The client's time is later than received_at beyond the configured tolerance.
    future_dated: bool = False


class RejectedRecord(NamedTuple):
    """An event that failed validation, kept in quarantine with the reason."""

    api: str
    tenant: str
    reason: str
    received_at: datetime
    payload: Mapping[str, Any]
    client_ip: str | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored: int  # newly inserted
    duplicates: int  # skipped because their dedup key was already stored


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    slug: str
    number: int
    active: bool = True


_UUID = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")


def tenant_id_spellings(tenant_id: str) -> tuple[str, ...]:
    """The stored ids a lookup of `tenant_id` finds, the id as sent first.

    A UUID is one value in any letter case: MySQL's default collation and PostgreSQL's
    uuid type both compare it so, and the storefront's clients send whichever case
    their platform prints. It matches as sent, all lower and all upper case (a store
    compares these on its primary key index); any other id matches only itself.
    """
    if _UUID.fullmatch(tenant_id) is None:
        return (tenant_id,)
    return tuple(dict.fromkeys((tenant_id, tenant_id.lower(), tenant_id.upper())))


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    tenant: str
    secret_hash: str  # hex SHA-256 of the secret
    name: str = ""
    apis: frozenset[str] = frozenset()
    limits: Mapping[str, str] = field(default_factory=dict)
    revoked: bool = False


class EventWriter(Protocol):
    async def write(
        self, events: Sequence[EventRecord], rejected: Sequence[RejectedRecord] = ()
    ) -> WriteResult:
        """Store events and quarantined rejects in one transaction; return after commit.

        Raises `errors.ResourceExhausted` (reason QUEUE_FULL) when the queue is full and
        `errors.Unavailable` when the store cannot commit. On any exception nothing of
        this call was stored, so the client may retry.
        """
        ...


class Catalog(Protocol):
    async def tenant_by_id(self, tenant_id: str) -> Tenant | None: ...
    async def tenant_by_slug(self, slug: str) -> Tenant | None: ...
    async def tenant_by_number(self, number: int) -> Tenant | None: ...
    async def product_exists(self, tenant_id: str, product_id: int) -> bool: ...
    async def api_key(self, key_id: str) -> ApiKeyRecord | None: ...
