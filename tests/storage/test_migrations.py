"""`db upgrade` on an empty database gives exactly the schema the models create."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from event_gateway.storage.engine import create_all, create_engine, upgrade
from event_gateway.storage.models import METADATA


def _sqlite_schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name != 'alembic_version' ORDER BY name"
        ).fetchall()


async def test_sqlite_upgrade_matches_create_all(tmp_path: Path) -> None:
    migrated, created = tmp_path / "migrated.db", tmp_path / "created.db"
    assert await upgrade(f"sqlite:///{migrated}") == "0001"
    create_engine(f"sqlite:///{created}").sync_engine.dispose()  # first use: create_all + stamp
    assert _sqlite_schema(migrated) == _sqlite_schema(created)
    assert any("WHERE dedup_key IS NOT NULL" in (sql or "") for _, _, sql in _sqlite_schema(migrated))


async def _differences(url: str) -> list[object]:
    engine = create_engine(url, create_schema=False)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), METADATA)
            )
    finally:
        await engine.dispose()


async def test_sqlite_migrated_schema_has_no_drift_from_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    await upgrade(url)
    assert await _differences(url) == []
    assert await upgrade(url) == "0001"  # idempotent


async def _pg_indexes(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.text(
                    "SELECT indexname, regexp_replace(indexdef, ' ON \\S+\\.', ' ON ') FROM pg_indexes "
                    "WHERE schemaname = current_schema() AND tablename != 'alembic_version' "
                    "ORDER BY indexname"
                )
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_upgrade_matches_create_all(postgres_url: str) -> None:
    await upgrade(postgres_url)
    assert await _differences(postgres_url) == []
    migrated = await _pg_indexes(postgres_url)
    assert ("uq_events_dedup", "CREATE UNIQUE INDEX uq_events_dedup ON events USING btree "
            "(api, tenant, dedup_key) WHERE (dedup_key IS NOT NULL)") in migrated

    engine = create_engine(postgres_url)
    async with engine.begin() as connection:
        await connection.execute(sa.text("DROP TABLE events, rejected_events, api_keys, products, tenants, alembic_version"))
    await create_all(engine)
    await engine.dispose()
    assert await _pg_indexes(postgres_url) == migrated
