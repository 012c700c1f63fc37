"""The group-commit writer: many concurrent callers, one transaction per group.

`write()` puts the caller's rows on a bounded queue and waits. One background task
takes everything queued (up to `batch_rows`, never splitting a caller), commits it in
ONE transaction, then answers each caller with its own WriteResult. A commit costs
about the same for 1 row as for 1000 (an fsync), so under load each fsync is shared
by many requests and every request is still answered only after its rows are durable.

The queue logic (`GroupCommitQueue`) is independent of the store; a `Sink` commits
one de-duplicated `Batch`. `GroupCommitWriter` is the queue over a SQL sink, the
in-memory writer (storage.memory) the same queue over dictionaries, so both keep the
same semantics by construction.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from event_gateway import errors
from event_gateway.config import WriterSettings
from event_gateway.storage.base import EventRecord, RejectedRecord, WriteResult
from event_gateway.storage.engine import STORE_ERRORS, unavailable, without_nul
from event_gateway.storage.models import events_table, rejected_table

_log = logging.getLogger(__name__)

# (api, tenant, dedup_key): the scope of de-duplication.
DedupKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Batch:
    """One group's rows, de-duplicated within the group, for one transaction."""

    plain: list[EventRecord]  # without a dedup key: always inserted
    keyed: list[EventRecord]  # each DedupKey at most once
    rejected: list[RejectedRecord]


class Sink(Protocol):
    async def commit(self, batch: Batch) -> set[DedupKey]:
        """Store the batch atomically; return the keys of the keyed rows newly inserted.

        Raises a GatewayError (normally Unavailable) when nothing was stored; the queue
        fills in the configured retry_after.
        """
        ...


@dataclass(frozen=True, slots=True)
class CommitStats:
    """What the observer hears after every commit attempt (for metrics)."""

    queue_rows: int  # rows waiting, including this group, when the commit ended
    batch_rows: int  # rows in this group
    callers: int  # write() calls in this group
    seconds: float  # commit latency
    ok: bool


Observer = Callable[[CommitStats], None]


@dataclass(eq=False, slots=True)
class _Pending:
    events: Sequence[EventRecord]
    rejected: Sequence[RejectedRecord]
    rows: int
    future: asyncio.Future[WriteResult]
    stored: int = 0
    duplicates: int = 0


@dataclass(slots=True)
class _Plan:
    batch: Batch
    owners: dict[DedupKey, _Pending] = field(default_factory=dict)


class GroupCommitQueue:
    """A bounded queue of write() calls drained by one task, one transaction per group."""

    def __init__(
        self, sink: Sink, settings: WriterSettings, observer: Observer | None = None
    ) -> None:
        self._sink = sink
        self._settings = settings
        self._observer = observer
        self._waiting: deque[_Pending] = deque()
        # Rows accepted and not yet answered (waiting + the group being committed):
        # this is what the queue bound limits, since all of it is held in memory.
        self._rows = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        # The sink's commit in flight, as a task of its own so that abort() can cancel it.
        self._committing: asyncio.Future[set[DedupKey]] | None = None
        # (loop time, succeeded) of the last commit, and when the one in flight began:
        # readiness reads them.
        self._last_commit: tuple[float, bool] | None = None
        self._commit_began: float | None = None

    @property
    def queue_rows(self) -> int:
        return self._rows

    def committed_within(self, seconds: float) -> bool:
        """Whether the last commit succeeded, less than `seconds` ago."""
        last = self._last_commit
        if last is None:
            return False
        at, succeeded = last
        return succeeded and asyncio.get_running_loop().time() - at < seconds

    def in_trouble(self, *, failed_within: float, stuck_after: float) -> bool:
        """Whether commits are failing: the last one failed less than `failed_within`
        seconds ago, or the one in flight has been running for `stuck_after` seconds.

        A failure counts only for a while: a load balancer that stops sending traffic
        stops the commits that could show the store is back, so readiness must try again.
        """
        now = asyncio.get_running_loop().time()
        if self._commit_began is not None and now - self._commit_began >= stuck_after:
            return True
        last = self._last_commit
        return last is not None and not last[1] and now - last[0] < failed_within

    def start(self) -> asyncio.Task[None]:
        """Start draining (writes made before start() wait for it); idempotent."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="group-commit-writer")
        return self._task

    async def close(self) -> None:
        """Refuse new writes, commit everything already queued, then stop."""
        self._closing = True
        self._wakeup.set()
        await self.start()

    def abort(self) -> None:
        """Shutdown's deadline: refuse new writes, answer every queued caller Unavailable
        (nothing of theirs was stored: safe to retry), and cancel the commit in flight.
        Its callers are answered as the sink's real outcome decides: a sink rolls back
        what it can and reports a commit that won the race as done. Without this, the
        servers' own deadline cancels the waiting requests (a bare 500 over REST) while
        their rows are still committed afterwards, and a retry stores them twice."""
        self._closing = True
        refused = self._shutting_down()
        while self._waiting:
            pending = self._waiting.popleft()
            self._rows -= pending.rows
            _fail(pending, refused)
        if self._committing is not None:
            self._committing.cancel()
        self._wakeup.set()

    async def write(
        self, events: Sequence[EventRecord], rejected: Sequence[RejectedRecord] = ()
    ) -> WriteResult:
        rows = len(events) + len(rejected)
        if rows == 0:
            return WriteResult(stored=0, duplicates=0)
        if self._closing:
            raise self._shutting_down()
        if rows > self._settings.queue_rows:
            # Never fits, however long the caller waits: not a reason to retry.
            raise errors.InvalidArgument(
                f"one write holds at most {self._settings.queue_rows} rows; got {rows}",
                reason="BATCH_TOO_LARGE",
            )
        if self._rows + rows > self._settings.queue_rows:
            # Refuse at once rather than grow memory or make the caller wait unboundedly.
            raise errors.ResourceExhausted(
                "the write queue is full", reason="QUEUE_FULL", retry_after=float(self._settings.retry_after)
            )
        pending = _Pending(events, rejected, rows, asyncio.get_running_loop().create_future())
        self._waiting.append(pending)
        self._rows += rows
        self._wakeup.set()
        # A cancelled caller cancels only its own future: the drainer skips it if it
        # was not taken yet, and ignores it when answering if it was.
        return await pending.future

    async def _run(self) -> None:
        in_flight: list[_Pending] = []
        try:
            while True:
                if not self._waiting:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                in_flight = self._take()
                if in_flight:
                    await self._commit_group(in_flight)
                in_flight = []
        finally:
            # Only reached early if this task itself is cancelled: nobody may wait forever.
            for pending in [*in_flight, *self._waiting]:
                _fail(pending, self._unavailable("the writer stopped"))
            self._waiting.clear()

    def _take(self) -> list[_Pending]:
        group: list[_Pending] = []
        rows = 0
        while self._waiting:
            pending = self._waiting[0]
            if pending.future.done():  # cancelled while waiting
                self._waiting.popleft()
                self._rows -= pending.rows
                continue
            # A caller's rows are never split: one call, one transaction.
            if group and rows + pending.rows > self._settings.batch_rows:
                break
            self._waiting.popleft()
            group.append(pending)
            rows += pending.rows
        return group

    async def _commit_group(self, group: list[_Pending]) -> None:
        plan = _plan(group)
        loop = asyncio.get_running_loop()
        started = self._commit_began = loop.time()
        failure: errors.GatewayError | None = None
        inserted: set[DedupKey] = set()
        try:
            async with asyncio.timeout(self._settings.commit_timeout):
                self._committing = asyncio.ensure_future(self._sink.commit(plan.batch))
                inserted = await self._committing
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this task itself is being stopped: _run's finally answers everyone
            failure = self._shutting_down()  # abort() cancelled the commit, which rolled back
        except errors.GatewayError as exc:
            failure = exc
            if failure.retry_after is None:  # sinks do not know the configured advice
                failure.retry_after = float(self._settings.retry_after)
        except TimeoutError as exc:
            failure = self._unavailable("the database did not commit in time")
            failure.__cause__ = exc
        except Exception as exc:  # a bug: fail this group, keep serving the next ones
            _log.exception("commit of %d rows failed", sum(p.rows for p in group))
            failure = errors.Internal("storing the events failed")
            failure.__cause__ = exc
        finally:
            self._committing = self._commit_began = None
        seconds = loop.time() - started
        self._last_commit = (loop.time(), failure is None)

        if failure is None:
            for key, owner in plan.owners.items():
                if key in inserted:
                    owner.stored += 1
                else:
                    owner.duplicates += 1
        for pending in group:
            if failure is None:
                if not pending.future.done():
                    pending.future.set_result(WriteResult(pending.stored, pending.duplicates))
            else:
                _fail(pending, failure)
        batch_rows = sum(p.rows for p in group)
        queue_rows = self._rows
        self._rows -= batch_rows
        self._observe(CommitStats(queue_rows, batch_rows, len(group), seconds, failure is None))

    def _observe(self, stats: CommitStats) -> None:
        if self._observer is None:
            return
        try:
            self._observer(stats)
        except Exception:  # metrics must never stop the writer
            _log.exception("writer observer failed")

    def _shutting_down(self) -> errors.Unavailable:
        return errors.Unavailable(
            "the gateway is shutting down", reason="SHUTTING_DOWN", retry_after=float(self._settings.retry_after)
        )

    def _unavailable(self, message: str) -> errors.Unavailable:
        return errors.Unavailable(
            message, reason="STORE_UNAVAILABLE", retry_after=float(self._settings.retry_after)
        )


def _plan(group: list[_Pending]) -> _Plan:
    """Split the group's rows; a key seen earlier in the group is the later caller's duplicate."""
    plan = _Plan(Batch(plain=[], keyed=[], rejected=[]))
    for pending in group:
        pending.stored = pending.duplicates = 0
        for event in pending.events:
            if event.dedup_key is None:
                plan.batch.plain.append(event)
                pending.stored += 1
                continue
            key = (event.api, event.tenant, event.dedup_key)
            if key in plan.owners:
                pending.duplicates += 1
            else:
                plan.owners[key] = pending
                plan.batch.keyed.append(event)
        plan.batch.rejected.extend(pending.rejected)
    return plan


def _fail(pending: _Pending, error: errors.GatewayError) -> None:
    if pending.future.done():
        return
    # One exception object per caller: each raise writes its own traceback into it.
    own = copy.copy(error)
    own.__cause__ = error.__cause__
    pending.future.set_exception(own)


class SqlSink:
    """Commits a Batch with SQLAlchemy Core executemany; de-dup by ON CONFLICT DO NOTHING."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        events = events_table()
        dialect_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert_plain = sa.insert(events)
        # The conflict target names the partial unique index (columns + its predicate);
        # RETURNING tells which keyed rows were new, so duplicates can be counted per caller.
        self._insert_keyed = (
            dialect_insert(events)
            .on_conflict_do_nothing(
                index_elements=[events.c.api, events.c.tenant, events.c.dedup_key],
                index_where=events.c.dedup_key.is_not(None),
            )
            .returning(events.c.api, events.c.tenant, events.c.dedup_key)
        )
        self._insert_rejected = sa.insert(rejected_table())
        self._event_columns = EventRecord._fields
        self._rejected_columns = RejectedRecord._fields
        # PostgreSQL text holds no NUL (engine.without_nul says why); the payload's JSON
        # is mended by the engine's serializer, the plain columns here.
        self._mend_nul = engine.dialect.name == "postgresql"

    async def commit(self, batch: Batch) -> set[DedupKey]:
        inserted: set[DedupKey] = set()
        try:
            async with self._engine.begin() as connection:
                if batch.plain:
                    await connection.execute(self._insert_plain, [self._row(e, self._event_columns) for e in batch.plain])
                if batch.keyed:
                    result = await connection.execute(
                        self._insert_keyed, [self._row(e, self._event_columns) for e in batch.keyed]
                    )
                    inserted = {(api, tenant, key) for api, tenant, key in result}
                    if self._mend_nul:
                        inserted = self._as_sent(inserted, batch.keyed)
                if batch.rejected:
                    await connection.execute(
                        self._insert_rejected, [self._row(r, self._rejected_columns) for r in batch.rejected]
                    )
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc
        return inserted

    @staticmethod
    def _as_sent(inserted: set[DedupKey], keyed: Sequence[EventRecord]) -> set[DedupKey]:
        """The inserted keys as the callers know them (a mended key comes back mended)."""
        sent = {without_nul(e.dedup_key): e.dedup_key for e in keyed if e.dedup_key and "\x00" in e.dedup_key}
        if not sent:
            return inserted
        return {(api, tenant, sent.get(key, key)) for api, tenant, key in inserted}

    def _row(self, record: EventRecord | RejectedRecord, columns: tuple[str, ...]) -> dict[str, Any]:
        row = _row(record, columns)
        if self._mend_nul:
            for name, value in row.items():
                if type(value) is str and "\x00" in value:
                    row[name] = without_nul(value)
        return row


def _row(record: EventRecord | RejectedRecord, columns: tuple[str, ...]) -> dict[str, Any]:
    # Record fields are named after the columns; payload may be any Mapping, JSON needs a dict.
    row = dict(zip(columns, record, strict=True))
    if not isinstance(row["payload"], dict):
        row["payload"] = dict(row["payload"])
    return row


class GroupCommitWriter(GroupCommitQueue):
    """The EventWriter over a SQLAlchemy engine (SQLite or PostgreSQL).

    SQLite commits go through `SqliteSink` (one thread hop per transaction, see its
    module); PostgreSQL through SQLAlchemy and asyncpg, which are async end to end.
    """

    def __init__(
        self, engine: AsyncEngine, settings: WriterSettings, observer: Observer | None = None
    ) -> None:
        self._sqlite_sink: Any = None
        sink: Sink
        if engine.dialect.name == "sqlite" and engine.url.database:
            from event_gateway.storage.engine import DEFAULT_BUSY_TIMEOUT
            from event_gateway.storage.sqlite_sink import SqliteSink

            sink = self._sqlite_sink = SqliteSink(engine.url.database, DEFAULT_BUSY_TIMEOUT)
        else:
            sink = SqlSink(engine)
        super().__init__(sink, settings, observer)

    async def close(self) -> None:
        await super().close()
        if self._sqlite_sink is not None:
            await asyncio.to_thread(self._sqlite_sink.close)
