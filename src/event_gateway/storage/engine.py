"""Engine set-up for SQLite (aiosqlite) and PostgreSQL (asyncpg), and the schema commands.

SQLite is configured for durability and for sharing one file between worker processes:
WAL (readers never block the writer), synchronous=FULL (an acknowledged commit survives
power loss, not just a process crash), a busy timeout (a second process waits for the
write lock instead of failing at once) and foreign keys on. A fresh SQLite file gets
its tables and an alembic stamp on creation, so the default set-up needs no command.
"""

from __future__ import annotations

import asyncio
import shlex
import sqlite3
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from event_gateway import errors
from event_gateway.storage import migrations
from event_gateway.storage.models import METADATA

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
DEFAULT_BUSY_TIMEOUT = 5.0

# Failures that mean "the store cannot be reached or cannot commit right now".
STORE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, TimeoutError)


def async_url(url: str | sa.URL) -> sa.URL:
    """The URL with its async driver: sqlite → aiosqlite, postgresql/postgres → asyncpg."""
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "aiosqlite"):
        return parsed.set(drivername=SQLITE_DRIVER)
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        return parsed.set(drivername=POSTGRES_DRIVER)
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}: "
        "use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# PostgreSQL holds no NUL character, in text or in jsonb ("unsupported Unicode escape
# sequence"): one event with a "\u0000" in a string would fail its whole group commit,
# every other caller's events with it, and fail again on each retry. Its place is
# taken by U+FFFD, the replacement character, so the event is kept and the mark shows.
NUL_REPLACEMENT = "\ufffd"


def without_nul(value: Any) -> Any:
    """`value` (JSON-like) with every NUL in its strings and keys replaced."""
    if isinstance(value, str):
        return value.replace("\x00", NUL_REPLACEMENT)
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


def _postgres_json_dumps(value: Any) -> str:
    text = _json_dumps(value)
    # orjson writes NUL as the escape \u0000; a backslash the client sent is written
    # \\, so this finds every NUL (and, rarely, a literal "\u0000" text: harmless).
    if "\\u0000" in text:
        text = _json_dumps(without_nul(value))
    return text


def create_engine(
    url: str | sa.URL,
    *,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    create_schema: bool = True,
    **engine_options: Any,
) -> AsyncEngine:
    """An async engine for `url` (plain sqlite:// and postgresql:// URLs are accepted).

    `busy_timeout` (seconds) is how long SQLite waits for another process's write lock.
    With `create_schema`, a SQLite file without tables is created and stamped at the
    newest migration (a short blocking step, done once at start-up).
    """
    target = async_url(url)
    options: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
        **engine_options,
    }
    if target.get_backend_name() == "sqlite":
        path = _sqlite_path(target)
        if create_schema:
            _bootstrap_sqlite(path, busy_timeout)
        engine = create_async_engine(target, **options)
        _configure_sqlite(engine, busy_timeout)
        return engine
    if "json_serializer" not in engine_options:
        options["json_serializer"] = _postgres_json_dumps
    target, server_settings = split_libpq_options(target)
    connect_args = dict(options.pop("connect_args", {}))
    if server_settings:
        connect_args["server_settings"] = {
            **server_settings,
            **connect_args.get("server_settings", {}),
        }
    # Pre-ping: after a server restart the first group would otherwise fail on a dead
    # pooled connection.
    options.setdefault("pool_pre_ping", True)
    return create_async_engine(target, connect_args=connect_args, **options)


def _sqlite_path(url: sa.URL) -> str:
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise ValueError(
            "an in-memory SQLite database is private to one connection and would lose "
            "data; give a file path (tests can use event_gateway.storage.memory)"
        )
    return path


def _configure_sqlite(engine: AsyncEngine, busy_timeout: float) -> None:
    pragmas = (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        f"PRAGMA busy_timeout={int(busy_timeout * 1000)}",
        "PRAGMA foreign_keys=ON",
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()


def _bootstrap_sqlite(path: str, busy_timeout: float) -> None:
    """Create tables and stamp the revision in a SQLite file that has no tables yet.

    BEGIN IMMEDIATE takes the write lock before looking, so several worker processes
    starting on the same fresh file create the schema exactly once.
    """
    sync_engine = sa.create_engine(
        f"sqlite:///{path}",
        poolclass=NullPool,
        # Autocommit at the driver level so the BEGIN IMMEDIATE below is ours alone.
        connect_args={"timeout": busy_timeout, "isolation_level": None},
    )
    try:
        with sync_engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                tables = connection.exec_driver_sql(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                ).scalar_one()
                if tables == 0:
                    METADATA.create_all(connection)
                    migrations.stamp(connection)
                connection.exec_driver_sql("COMMIT")
            except BaseException:
                connection.exec_driver_sql("ROLLBACK")
                raise
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise errors.Unavailable(
            f"cannot open the SQLite database {path}: {exc}", reason="STORE_UNAVAILABLE"
        ) from exc
    finally:
        sync_engine.dispose()


def split_libpq_options(url: sa.URL) -> tuple[sa.URL, dict[str, str]]:
    """Move libpq's `options=-c name=value ...` into asyncpg server settings.

    asyncpg has no `options` parameter, yet libpq-style URLs (search_path, timeouts)
    are what users and tools hand around.
    """
    raw = url.query.get("options")
    if raw is None:
        return url, {}
    settings: dict[str, str] = {}
    words = shlex.split(raw if isinstance(raw, str) else " ".join(raw))
    index = 0
    while index < len(words):
        word = words[index]
        if word == "-c" and index + 1 < len(words):
            index += 1
            word = words[index]
        elif word.startswith("-c"):
            word = word[2:]
        elif word.startswith("--"):
            word = word[2:]
        else:
            raise ValueError(f"unsupported PostgreSQL option {word!r} in the database URL")
        name, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"PostgreSQL option {word!r} needs NAME=VALUE")
        settings[name.replace("-", "_")] = value
        index += 1
    return url.difference_update_query(["options"]), settings


def unavailable(exc: BaseException, retry_after: float | None = None) -> errors.Unavailable:
    """The Unavailable error for a store failure (raise it `from exc`)."""
    if isinstance(exc, TimeoutError):
        message = "the database did not answer in time"
    else:
        message = f"the database is unavailable: {type(exc).__name__}"
    return errors.Unavailable(message, reason="STORE_UNAVAILABLE", retry_after=retry_after)


async def ping(engine: AsyncEngine, timeout: float = 2.0) -> None:
    """Readiness: one round trip; raises errors.Unavailable when the store cannot answer."""
    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except STORE_ERRORS as exc:
        raise unavailable(exc) from exc


async def writable(engine: AsyncEngine, timeout: float = 2.0, lock_wait: float = 1.0) -> None:
    """Readiness of the write path: raises errors.Unavailable when nothing could commit now.

    A read succeeds on a SQLite file whose write lock another process holds, so for
    SQLite this takes the write lock (BEGIN IMMEDIATE, waiting at most `lock_wait`) and
    releases it at once. Another worker's commits hold that lock for milliseconds at a
    time; not waiting at all read a busy file as a broken one (a black-box run: 17% of
    polls 503 on an idle worker beside a busy one). PostgreSQL has no such
    whole-database lock; a round trip is the test.
    """
    if engine.dialect.name != "sqlite":
        await ping(engine, timeout)
        return
    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            busy = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
            await connection.exec_driver_sql(f"PRAGMA busy_timeout={int(lock_wait * 1000)}")
            try:
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
                await connection.exec_driver_sql("ROLLBACK")
            finally:
                await connection.exec_driver_sql(f"PRAGMA busy_timeout={int(busy)}")
    except STORE_ERRORS as exc:
        raise unavailable(exc) from exc


class SchemaMissing(Exception):
    """The database answers but holds no event-gateway tables (never upgraded)."""


async def require_schema(engine: AsyncEngine, timeout: float = 5.0) -> None:
    """Raise SchemaMissing when the database answers and the events table is absent.

    A database that does not answer is no reason to refuse to start (it may be on its
    way up; readiness reports it); one without tables would fail every write.
    """
    def has_events(connection: sa.Connection) -> bool:
        return sa.inspect(connection).has_table("events")

    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            present = await connection.run_sync(has_events)
    except STORE_ERRORS:
        return
    if not present:
        raise SchemaMissing("the database has no event-gateway tables; run `event-gateway db upgrade`")


async def upgrade(url: str | sa.URL) -> str:
    """Run every pending migration (`event-gateway db upgrade`); returns the head revision."""
    engine = create_engine(url, create_schema=False)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(migrations.upgrade)
    finally:
        await engine.dispose()
    return migrations.head()


async def create_all(engine: AsyncEngine) -> None:
    """Create every table straight from the models and stamp head (tests, fresh databases)."""

    def run(connection: sa.Connection) -> None:
        METADATA.create_all(connection)
        migrations.stamp(connection)

    async with engine.begin() as connection:
        await connection.run_sync(run)
