"""Small stand-ins shared by the policy and interceptor tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from event_gateway.policy import keys
from event_gateway.storage.base import ApiKeyRecord, Tenant


@dataclass
class FakeCatalog:
    """Just enough of storage.base.Catalog for authentication; counts key lookups."""

    records: dict[str, ApiKeyRecord] = field(default_factory=dict)
    lookups: int = 0

    def add(self, tenant: str = "t1", **fields: object) -> str:
        """Store a new key; returns its plaintext."""
        new = keys.generate_key()
        self.records[new.key_id] = ApiKeyRecord(
            key_id=new.key_id, tenant=tenant, secret_hash=new.secret_hash, **fields  # type: ignore[arg-type]
        )
        return new.plaintext

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        self.lookups += 1
        return self.records.get(key_id)

    async def tenant_by_id(self, tenant_id: str) -> Tenant | None:
        return None

    async def tenant_by_slug(self, slug: str) -> Tenant | None:
        return None

    async def tenant_by_number(self, number: int) -> Tenant | None:
        return None

    async def product_exists(self, tenant_id: str, product_id: int) -> bool:
        return False
