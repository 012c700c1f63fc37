"""The group-commit sink for SQLite: one transaction, one thread hop.

Through SQLAlchemy's async engine every statement of a transaction (BEGIN, each
executemany, COMMIT) is a separate hop to aiosqlite's thread and back through a busy
event loop; measured here, a 64-row group took ~22 ms that way against ~0.6 ms for the
same transaction in plain sqlite3. So this sink runs the whole transaction as one
function on its own thread, with its own sqlite3 connection and the same durability
settings as the engine (WAL, synchronous=FULL, busy_timeout).

Values are encoded by SQLAlchemy's own bind processors for the same tables (the JSON
column's by its serializer, _json_dumps, directly), so what this sink writes reads back
through the engine exactly as if the engine had written it; tests/storage/
test_sqlite_sink.py holds each column to that.

Each statement is a handful of steps, not one per row. Python's sqlite3 releases the
GIL around every sqlite3_step and takes it back afterwards; while the event loop keeps
the GIL busy (overload), each take-back waits up to the switch interval (5 ms), so an
executemany of a few hundred rows took seconds. Rows therefore go in as multi-row
INSERTs of up to 256 rows (fewer if the bound-parameter limit says so); keyed rows,
whose "was it new?" answer was each INSERT's rowcount, are first looked up (which of
the group's keys are already stored, under the transaction's write lock) and the new
ones inserted the same way.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from event_gateway.storage.base import EventRecord, RejectedRecord
from event_gateway.storage.engine import unavailable
from event_gateway.storage.models import events_table, rejected_table
from event_gateway.storage.writer import Batch, DedupKey

Encoder = Callable[[Any], Any]
# SQLite's own wait for another writer's lock, per attempt (see SqliteSink._begin).
_LOCK_SLICE = 0.05


def _variable_limit() -> int:
    connection = sqlite3.connect(":memory:")
    try:
        return connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    finally:
        connection.close()


# The linked library's bound-parameter limit: 32766 since SQLite 3.32, 999 before,
# unless compiled otherwise; asked of the library rather than guessed from its version.
_LIBRARY_VARIABLES = _variable_limit()
# Rows per statement at most. Past a few hundred, more rows save little (a statement
# is one hand-off of the GIL), while each prepared text holds ~2 KB per row in
# sqlite3's cache: with this cap, every text of the four statements ~4 MB in all
# (uncapped, 2,048-row texts: ~29 MB).
_MAX_ROWS = 256


def _json_dumps(value: Any) -> str:
    # The dialect's json_serializer, and called directly for payloads (_encode_payloads).
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class _MultiRow:
    """A statement over a VALUES list, its text per row count.

    Counts are powers of two (`_chunks`, `_KeyLookup.existing`), so a statement has
    about a dozen texts and sqlite3's statement cache keeps each one prepared. One text
    per count would not do: preparing a 1000-row INSERT took ~5x as long as running it,
    and sqlite3 caches 128 prepared statements of ~2 KB per row (measured: 128 INSERTs
    of ~2000 rows held 470 MB).
    """

    def __init__(self, head: str, columns: int, tail: str, variables: int) -> None:
        self._head = head
        self._row = "(" + ", ".join("?" for _ in range(columns)) + ")"
        self._tail = tail
        # As many rows as the bound-parameter limit allows, rounded down to a power of
        # two, and no more than _MAX_ROWS.
        self.max_rows = min(_MAX_ROWS, _power_of_two_within(variables // columns))
        self._texts: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._texts.get(rows)
        if text is None:
            text = self._texts[rows] = self._head + ", ".join([self._row] * rows) + self._tail
        return text


def _power_of_two_within(n: int) -> int:
    return 1 << (max(n, 1).bit_length() - 1)


def _chunks(count: int, largest: int) -> Iterator[tuple[int, int]]:
    """(start, length) slices of `count` rows: full chunks of `largest` (a power of two),
    then the rest by its binary digits (100 rows: 64, 32, 4), so that every length is
    a power of two and its statement text is one already prepared."""
    start = 0
    length = largest
    while start < count:
        while length > count - start:
            length //= 2
        yield start, length
        start += length


class _Insert:
    """The INSERT for one table and record type, with per-column encoders."""

    def __init__(
        self,
        table: sa.Table,
        record_type: type[Any],
        dialect: sa.Dialect,
        variables: int,
        suffix: str = "",
    ) -> None:
        # Records are named tuples: the INSERT names the columns in field order.
        self.columns: tuple[str, ...] = record_type._fields
        encoders: list[Encoder | None] = [table.c[name].type.bind_processor(dialect) for name in self.columns]
        self.encoders = tuple(encoders)
        names = ", ".join(self.columns)
        self.statement = _MultiRow(
            f"INSERT INTO {table.name} ({names}) VALUES ", len(self.columns), suffix, variables
        )
        self._encoded = tuple((i, e) for i, e in enumerate(self.encoders) if e is not None)
        self._payload = self.columns.index("payload") if "payload" in self.columns else -1

    def insert(self, connection: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert encoded rows, a few statements for all of them; how many were inserted."""
        inserted = 0
        for start, length in _chunks(len(rows), self.statement.max_rows):
            values = list(chain.from_iterable(rows[start : start + length]))
            inserted += connection.execute(self.statement.sql(length), values).rowcount
        return inserted

    def row(self, record: Any) -> tuple[Any, ...]:
        return self.rows((record,))[0]

    def rows(self, records: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Each record's column values, encoded as SQLAlchemy's bind processors encode them
        and adapted as sqlite3 would adapt them when binding.

        Rows are built on the sink thread while it holds the GIL the event loop wants,
        so the work is done column by column: records are transposed and put back
        together by zip (in C), and only the few columns with an encoder are visited.
        """
        if not records:
            return []
        columns: list[Sequence[Any]] = list(zip(*records))
        for i, encode in self._encoded:
            if i == self._payload:
                columns[i] = _encode_payloads(columns[i])
            else:
                columns[i] = _encode_shared(encode, columns[i])
        return list(zip(*columns))


def _encode_payloads(values: Sequence[Any]) -> list[Any]:
    # What the JSON column's bind processor does with a dict, without its per-value
    # checks for SQLAlchemy's null markers: the dialect's serializer is _json_dumps.
    # Each record has its own payload, so nothing is reused. JSON needs a dict.
    return [
        None if v is None else _json_dumps(v if isinstance(v, dict) else dict(v)) for v in values
    ]


def _encode_shared(encode: Encoder, values: Sequence[Any]) -> list[Any]:
    """Encode a column whose records mostly share one object (a call's received_at).

    An encoded value is reused while the next record holds the very same object. It is
    also adapted here, once, as sqlite3 would adapt it for every row it binds (a naive
    datetime becomes its isoformat(" ") text through a Python-level adapter).
    """
    out: list[Any] = []
    last: Any = _NOTHING
    encoded: Any = None
    for value in values:
        if value is not last:
            last = value
            encoded = None if value is None else _adapted(encode(value))
        out.append(encoded)
    return out


def _adapted(value: Any) -> Any:
    adapt = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
    return value if adapt is None else adapt(value)


_NOTHING = object()

# The unique index uq_events_dedup's columns.
_KEY_COLUMNS = ("api", "tenant", "dedup_key")
# A dedup key's columns as bound: what the index compares and the lookup returns.
Key = tuple[Any, ...]


class _KeyLookup:
    """Which of some dedup keys the events table already holds: one SELECT per
    `max_rows` keys, each key a probe of the unique index."""

    def __init__(self, table: sa.Table, variables: int) -> None:
        # The keys drive the loop (CROSS JOIN fixes SQLite's join order), so the index
        # is searched once per key, never scanned; an equality implies the partial
        # index's "dedup_key IS NOT NULL".
        self.statement = _MultiRow(
            "SELECT e.api, e.tenant, e.dedup_key FROM (VALUES ",
            len(_KEY_COLUMNS),
            f") AS k CROSS JOIN {table.name} AS e"
            " WHERE e.api = k.column1 AND e.tenant = k.column2 AND e.dedup_key = k.column3",
            variables,
        )

    def existing(self, connection: sqlite3.Connection, keys: Sequence[Key]) -> set[Key]:
        found: set[Key] = set()
        largest = self.statement.max_rows
        for start in range(0, len(keys), largest):
            chunk = list(keys[start : start + largest])
            # Padded to a power of two with repeats of its last key: one text per size.
            size = 1 << (len(chunk) - 1).bit_length()
            chunk += chunk[-1:] * (size - len(chunk))
            values = list(chain.from_iterable(chunk))
            found.update(connection.execute(self.statement.sql(size), values))
        return found


class SqliteSink:
    """Commits a Batch to a SQLite file in one transaction on a dedicated thread."""

    def __init__(self, path: str, busy_timeout: float, variable_limit: int | None = None) -> None:
        """`variable_limit`: bound parameters per statement, the library's own limit
        unless lower (tests pass 999, the limit before SQLite 3.32)."""
        self._path = path
        self._busy_timeout = busy_timeout
        self._variables = min(variable_limit or _LIBRARY_VARIABLES, _LIBRARY_VARIABLES)
        # One thread: one connection, used by nothing else, and commits in order.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sink")
        self._connection: sqlite3.Connection | None = None
        dialect = SQLiteDialect_pysqlite(json_serializer=_json_dumps)
        events = events_table()
        self._plain = _Insert(events, EventRecord, dialect, self._variables)
        # Conflict target: the partial unique index (columns and its predicate).
        self._keyed = _Insert(
            events,
            EventRecord,
            dialect,
            self._variables,
            " ON CONFLICT (api, tenant, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING",
        )
        self._key_at = tuple(EventRecord._fields.index(name) for name in _KEY_COLUMNS)
        self._lookup = _KeyLookup(events, self._variables)
        self._rejected = _Insert(rejected_table(), RejectedRecord, dialect, self._variables)

    async def commit(self, batch: Batch) -> set[DedupKey]:
        """Commit on the sink's thread. Cancelled (the writer's commit timeout, a
        shutdown), the transaction is interrupted and its real outcome awaited: an
        asyncio cancellation alone would leave the thread to commit rows whose callers
        were told they were not stored. Committed after all, the result stands."""
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()
        done = loop.run_in_executor(self._thread, self._commit, batch, cancelled)
        try:
            try:
                return await asyncio.shield(done)
            except asyncio.CancelledError:
                cancelled.set()
                self._interrupt()
                try:
                    return await done  # a commit that won the race is reported as one
                except (sqlite3.Error, OSError):
                    raise asyncio.CancelledError from None  # rolled back: the cancellation stands
        except (sqlite3.Error, OSError) as exc:
            raise unavailable(exc) from exc

    def _interrupt(self) -> None:
        # sqlite3's one call meant for another thread: the running statement stops and
        # its transaction rolls back. It does not wake a wait for the lock, which is why
        # _begin waits in short slices and looks at `cancelled` between them.
        connection = self._connection
        if connection is not None:
            connection.interrupt()

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
            connection.execute(f"PRAGMA busy_timeout={int(_LOCK_SLICE * 1000)}")
            connection.execute("PRAGMA foreign_keys=ON")
            # Held to the limit the statements were sized for (a lower one, in tests).
            connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, self._variables)
            self._connection = connection
        return self._connection

    def _begin(self, connection: sqlite3.Connection, cancelled: threading.Event) -> None:
        """BEGIN IMMEDIATE, waiting for another writer's lock up to the busy timeout, in
        slices: between two, a cancelled commit gives up (and nothing was written)."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if cancelled.is_set() or time.monotonic() >= deadline:
                    raise

    def _commit(self, batch: Batch, cancelled: threading.Event) -> set[DedupKey]:
        connection = self._open()
        inserted: set[DedupKey] = set()
        self._begin(connection, cancelled)
        try:
            if batch.plain:
                self._plain.insert(connection, self._plain.rows(batch.plain))
            if batch.keyed:
                inserted = self._insert_new(connection, batch.keyed)
            if batch.rejected:
                self._rejected.insert(connection, self._rejected.rows(batch.rejected))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return inserted

    def _insert_new(
        self, connection: sqlite3.Connection, events: Sequence[EventRecord]
    ) -> set[DedupKey]:
        """Insert the events whose key is not stored yet; their keys.

        BEGIN IMMEDIATE holds the write lock, so the keys found stored cannot change
        before the INSERT. Of two events with one key, the first is inserted and the
        later one is its duplicate (as one INSERT per event did; the writer sends each
        key once anyway).
        """
        rows = self._keyed.rows(events)
        api, tenant, dedup_key = self._key_at
        keys: list[Key] = [(row[api], row[tenant], row[dedup_key]) for row in rows]
        seen = self._lookup.existing(connection, keys)
        new_rows: list[tuple[Any, ...]] = []
        inserted: set[DedupKey] = set()
        for event, row, key in zip(events, rows, keys, strict=True):
            if key not in seen:
                seen.add(key)
                new_rows.append(row)
                inserted.add((event.api, event.tenant, event.dedup_key or ""))
        # ON CONFLICT stays as the guard; if it ever fired, the lookup disagreed with the
        # index and the answer would be wrong: fail the group (rolled back) instead.
        if self._keyed.insert(connection, new_rows) != len(new_rows):
            raise RuntimeError("a dedup key missing from the lookup conflicted on insert")
        return inserted

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

