"""One real gateway process per test module and database backend."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import Gateway, create_key, create_tenant

POSTGRES_ADMIN_DSN = os.environ.get(
    "EVENT_GATEWAY_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


async def _postgres_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def new_database(kind: str, directory: Path) -> Iterator[str]:
    """A fresh, empty database: an SQLite file, or a new PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'events.db'}"
        return
    if not _postgres_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI=true but 127.0.0.1:5432 is unreachable")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"eg_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        # As an operator would: PostgreSQL schemas are migrated explicitly; only a
        # fresh SQLite file is created by the gateway itself.
        from tests.e2e.harness import cli

        cli(f"{url}/{name}", "db", "upgrade")
        yield f"{url}/{name}"
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per test module and backend."""
    with new_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One database per test and backend."""
    with new_database(request.param, tmp_path) as url:
        yield url


@dataclass(frozen=True)
class Deployment:
    gateway: Gateway
    database: str
    key: str  # key of tenant "acme"
    other_key: str  # key of tenant "globex"


@pytest.fixture(scope="module")
def deployment(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A running gateway with tenants acme (active, #1), globex (active, #2), dormant (inactive, #3)."""
    create_tenant(database, "acme", "acme-store", 1)
    create_tenant(database, "globex", "globex-store", 2)
    create_tenant(database, "dormant", "dormant-store", 3, "--inactive")
    from tests.e2e.harness import cli

    cli(database, "products", "add", "--tenant", "acme", "101", "102")
    generous = ("--limit", "per_key=100000/minute", "--limit", "per_key_ip=100000/minute")
    key = create_key(database, "acme", "--name", "e2e", *generous)
    other_key = create_key(database, "globex", "--name", "e2e", *generous)
    # The storefront's documented per-address limits (60/minute) would throttle a test
    # suite that sends everything from 127.0.0.1; throttling has its own tests.
    relaxed = '{"storefront": {"api": "100000/minute", "tenant_aware": "100000/minute"}}'
    gateway = Gateway(database, env={"EVENT_GATEWAY_THROTTLE__LIMITS": relaxed})
    gateway.start(tmp_path_factory.mktemp("logs"))
    try:
        yield Deployment(gateway, database, key, other_key)
    finally:
        gateway.stop()
