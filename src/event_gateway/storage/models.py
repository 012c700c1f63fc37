"""The tables, as SQLModel classes on their own registry.

The writer inserts through SQLAlchemy Core on these tables (`EventRow.__table__`);
the ORM is for admin paths only (docs: Core executemany is ~7x faster than add_all).
A private registry keeps `METADATA` to exactly these tables, so `create_all` and the
migrations never pick up a table some other module declared on SQLModel's default one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores `timestamptz`. SQLite has no time zone type, so the value is
    stored as naive UTC text and given its UTC zone back on the way out. Naive values
    handed in are taken to be UTC already.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime | None, dialect: sa.Dialect
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Client-supplied strings are unbounded VARCHAR/TEXT: a length limit enforced only by
# PostgreSQL would fail a whole commit group for one long value; ingest validates sizes.
# JSONB on PostgreSQL: stored parsed, so later queries on payload fields can use indexes.
JsonDocument = sa.JSON().with_variant(JSONB(), "postgresql")
# SQLite only autoincrements an INTEGER PRIMARY KEY (a BIGINT one would stay NULL).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(SQLModel, registry=registry()):
    pass


METADATA: sa.MetaData = Base.metadata


class TenantRow(Base, table=True):
    __tablename__ = "tenants"

    id: str = Field(primary_key=True)
    slug: str = Field(unique=True)
    number: int = Field(sa_column=sa.Column(sa.BigInteger, unique=True, nullable=False))
    active: bool = Field(default=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UtcDateTime, nullable=False)
    )


class ProductRow(Base, table=True):
    __tablename__ = "products"

    tenant_id: str = Field(
        sa_column=sa.Column(
            sa.String, sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
        )
    )
    product_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))


class ApiKeyRow(Base, table=True):
    __tablename__ = "api_keys"

    key_id: str = Field(primary_key=True)
    tenant_id: str = Field(
        sa_column=sa.Column(
            sa.String,
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    name: str = Field(default="")
    secret_hash: str = Field()
    apis: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    limits: dict[str, str] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(UtcDateTime, nullable=False)
    )
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))


class EventRow(Base, table=True):
    __tablename__ = "events"
    __table_args__ = (
        # Exports and counts read one tenant's events in time order.
        sa.Index("ix_events_tenant_received_at", "tenant", "received_at"),
        # De-duplication: partial (rows without a key cost no index entry; a unique
        # index on random ids is what makes inserts slow) and scoped per API and tenant.
        sa.Index(
            "uq_events_dedup",
            "api",
            "tenant",
            "dedup_key",
            unique=True,
            sqlite_where=sa.text("dedup_key IS NOT NULL"),
            postgresql_where=sa.text("dedup_key IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    api: str = Field()
    tenant: str = Field()
    event_type: str = Field()
    visitor_id: str | None = Field(default=None)
    user_id: str | None = Field(default=None)
    session_id: str | None = Field(default=None)
    product_id: str | None = Field(default=None)
    occurred_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime))
    received_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    client_ip: str | None = Field(default=None)
    user_agent: str | None = Field(default=None)
    dedup_key: str | None = Field(default=None)
    future_dated: bool = Field(default=False)
    payload: dict[str, Any] = Field(sa_column=sa.Column(JsonDocument, nullable=False))


class RejectedRow(Base, table=True):
    __tablename__ = "rejected_events"
    __table_args__ = (sa.Index("ix_rejected_tenant_received_at", "tenant", "received_at"),)

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    api: str = Field()
    tenant: str = Field()
    reason: str
    received_at: datetime = Field(sa_column=sa.Column(UtcDateTime, nullable=False))
    client_ip: str | None = Field(default=None)
    payload: dict[str, Any] = Field(sa_column=sa.Column(JsonDocument, nullable=False))


def events_table() -> sa.Table:
    return EventRow.__table__  # type: ignore[attr-defined,no-any-return]


def rejected_table() -> sa.Table:
    return RejectedRow.__table__  # type: ignore[attr-defined,no-any-return]
