"""Alembic environment: always handed a live connection by `migrations.upgrade`/`stamp`."""

from __future__ import annotations

from alembic import context

from event_gateway.storage.models import METADATA

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `event-gateway db upgrade` "
        "(event_gateway.storage.engine.upgrade), not the alembic command"
    )

context.configure(
    connection=connection,
    target_metadata=METADATA,
    # SQLite alters tables by copying them; batch mode makes later revisions portable.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
