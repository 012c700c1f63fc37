"""Initial schema: tenants, products, api_keys, events, rejected_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out by hand (not imported from models) so this revision never changes when the
models do. Timestamps are timestamptz on PostgreSQL and naive UTC text on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
        sa.UniqueConstraint("number"),
    )
    op.create_table(
        "products",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "product_id"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("apis", sa.JSON(), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        _timestamp("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("api", sa.String(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("visitor_id", sa.String(), nullable=True),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("session_id", sa.String(), nullable=True),
        sa.Column("product_id", sa.String(), nullable=True),
        _timestamp("occurred_at", nullable=True),
        _timestamp("received_at"),
        sa.Column("client_ip", sa.String(), nullable=True),
        sa.Column("user_agent", sa.String(), nullable=True),
        sa.Column("dedup_key", sa.String(), nullable=True),
        sa.Column("future_dated", sa.Boolean(), nullable=False),
        sa.Column("payload", _JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_events_tenant_received_at", "events", ["tenant", "received_at"])
    op.create_index(
        "uq_events_dedup",
        "events",
        ["api", "tenant", "dedup_key"],
        unique=True,
        sqlite_where=sa.text("dedup_key IS NOT NULL"),
        postgresql_where=sa.text("dedup_key IS NOT NULL"),
    )
    op.create_table(
        "rejected_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("api", sa.String(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        _timestamp("received_at"),
        sa.Column("client_ip", sa.String(), nullable=True),
        sa.Column("payload", _JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_rejected_tenant_received_at", "rejected_events", ["tenant", "received_at"]
    )


def downgrade() -> None:
    op.drop_table("rejected_events")
    op.drop_table("events")
    op.drop_table("api_keys")
    op.drop_table("products")
    op.drop_table("tenants")
