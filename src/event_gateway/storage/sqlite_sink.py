"""The group-commit sink for SQLite: one transaction, one thread hop.

Through SQLAlchemy's async engine every statement of a transaction (BEGIN, each
executemany, COMMIT) is a separate hop to aiosqlite's thread and back through a busy
event loop; measured here, a 64-row group took ~22 ms that way against ~0.6 ms for the
same transaction in plain sqlite3. So this sink runs the whole transaction as one
function on its own thread, with its own sqlite3 connection and the same durability
settings as the engine (WAL, synchronous=FULL, busy_timeout).

Values are encoded by SQLAlchemy's own bind processors for the same tables, so what
this sink writes reads back through the engine exactly as if the engine had written it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from event_gateway.storage.base import EventRecord, RejectedRecord
from event_gateway.storage.engine import unavailable
from event_gateway.storage.models import events_table, rejected_table
from event_gateway.storage.writer import Batch, DedupKey

Encoder = Callable[[Any], Any]


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class _Insert:
    """The INSERT for one table and record type, with per-column encoders."""

    def __init__(self, table: sa.Table, record_type: type[Any], dialect: sa.Dialect, suffix: str = "") -> None:
        self.columns = tuple(f.name for f in dataclasses.fields(record_type))
        encoders: list[Encoder | None] = [table.c[name].type.bind_processor(dialect) for name in self.columns]
        self.encoders = tuple(encoders)
        names = ", ".join(self.columns)
        marks = ", ".join("?" for _ in self.columns)
        self.sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks}){suffix}"

    def row(self, record: Any) -> tuple[Any, ...]:
        values = []
        for name, encode in zip(self.columns, self.encoders, strict=True):
            value = getattr(record, name)
            if name == "payload" and not isinstance(value, dict):
                value = dict(value)
            values.append(encode(value) if encode is not None and value is not None else value)
        return tuple(values)


class SqliteSink:
    """Commits a Batch to a SQLite file in one transaction on a dedicated thread."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        # One thread: one connection, used by nothing else, and commits in order.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sink")
        self._connection: sqlite3.Connection | None = None
        dialect = SQLiteDialect_pysqlite(json_serializer=_json_dumps)
        events = events_table()
        self._plain = _Insert(events, EventRecord, dialect)
        # Conflict target: the partial unique index (columns and its predicate).
        self._keyed = _Insert(
            events,
            EventRecord,
            dialect,
            " ON CONFLICT (api, tenant, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING",
        )
        self._rejected = _Insert(rejected_table(), RejectedRecord, dialect)

    async def commit(self, batch: Batch) -> set[DedupKey]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, self._commit, batch)
        except (sqlite3.Error, OSError) as exc:
            raise unavailable(exc) from exc

    def close(self) -> None:
        self._thread.submit(self._close).result()
        self._thread.shutdown(wait=True)

    # -- on the sink's thread --------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(
                self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=True
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
            connection.execute("PRAGMA foreign_keys=ON")
            self._connection = connection
        return self._connection

    def _commit(self, batch: Batch) -> set[DedupKey]:
        connection = self._open()
        inserted: set[DedupKey] = set()
        connection.execute("BEGIN IMMEDIATE")
        try:
            if batch.plain:
                connection.executemany(self._plain.sql, [self._plain.row(e) for e in batch.plain])
            for event in batch.keyed:
                # One statement per keyed row: rowcount says whether it was new.
                if connection.execute(self._keyed.sql, self._keyed.row(event)).rowcount == 1:
                    inserted.add((event.api, event.tenant, event.dedup_key or ""))
            if batch.rejected:
                connection.executemany(self._rejected.sql, [self._rejected.row(r) for r in batch.rejected])
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return inserted

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

