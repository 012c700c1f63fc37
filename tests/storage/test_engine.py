"""Engine set-up: URL rewriting, SQLite pragmas and first-use schema, readiness ping."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from event_gateway import errors
from event_gateway.storage import migrations
from event_gateway.storage.engine import async_url, create_engine, ping, split_libpq_options


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert async_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["mysql://h/db", "postgresql+psycopg://h/db", "sqlite+pysqlite:///x"])
def test_other_drivers_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        async_url(url)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="in-memory"):
        create_engine(url)


def test_libpq_options_become_asyncpg_server_settings() -> None:
    url, settings = split_libpq_options(
        async_url("postgresql://u@h/db?options=-csearch_path%3Dt_1%20-c%20statement_timeout%3D5000")
    )
    assert "options" not in url.query
    assert settings == {"search_path": "t_1", "statement_timeout": "5000"}
    with pytest.raises(ValueError):
        split_libpq_options(async_url("postgresql://u@h/db?options=-Xfoo"))


async def test_fresh_sqlite_file_is_created_stamped_and_durable(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
            revision = await connection.run_sync(migrations.current)
            tables = set(await connection.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    # synchronous=2 is FULL: a commit is on disk before it is acknowledged.
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 5000, "foreign_keys": 1}
    assert revision == migrations.head()
    assert {"tenants", "products", "api_keys", "events", "rejected_events"} <= tables


def test_an_existing_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE unrelated (x)")
    create_engine(f"sqlite:///{path}").sync_engine.dispose()
    with sqlite3.connect(path) as connection:
        names = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert names == {"unrelated"}


async def test_ping(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    await ping(engine)
    await engine.dispose()
    # Nothing listens on port 1.
    down = create_engine("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(errors.Unavailable):
        await ping(down)
    await down.dispose()


@pytest.mark.postgres
async def test_require_schema_refuses_a_database_never_upgraded(postgres_url: str) -> None:
    # Found by a black-box run: `serve` on an empty PostgreSQL database reported ready
    # and then answered every write 503.
    from event_gateway.storage.engine import SchemaMissing, create_all, require_schema

    engine = create_engine(postgres_url)
    try:
        with pytest.raises(SchemaMissing, match="run `event-gateway db upgrade`"):
            await require_schema(engine)
        await create_all(engine)
        await require_schema(engine)
    finally:
        await engine.dispose()


async def test_require_schema_lets_an_unreachable_database_start() -> None:
    from event_gateway.storage.engine import require_schema

    engine = create_engine("postgresql://nobody@127.0.0.1:9/none")
    try:
        await require_schema(engine, timeout=5)  # readiness reports it; start-up goes on
    finally:
        await engine.dispose()


@pytest.mark.postgres
def test_serve_on_a_database_never_upgraded_stops_with_one_line(postgres_url: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "event_gateway", "serve", "--database", postgres_url,
         "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "event-gateway: the database has no event-gateway tables; run `event-gateway db upgrade`")
    assert "Traceback" not in done.stderr
