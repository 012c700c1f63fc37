"""Alembic migrations, run programmatically: no alembic.ini, the configuration is built here.

`event-gateway db upgrade` calls `upgrade(connection)`; a fresh SQLite database is
created from the models and `stamp`ed at head instead (same schema, one step). Both
take a synchronous SQLAlchemy connection (from `AsyncConnection.run_sync`), so the
caller owns the transaction.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

_HERE = Path(__file__).resolve().parent


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    # A filesystem path next to this module works from a source tree and from an
    # installed wheel alike.
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(connection), revision)


def stamp(connection: sa.Connection, revision: str = "head") -> None:
    command.stamp(alembic_config(connection), revision)


def current(connection: sa.Connection) -> str | None:
    """The revision the database is at, or None before any migration."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    from alembic.script import ScriptDirectory

    head_revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head_revision is None:
        raise RuntimeError("no migration revisions found")
    return head_revision
