"""Another process holding SQLite's write lock: the group fails with Unavailable, then recovers."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from event_gateway import errors
from event_gateway.config import WriterSettings
from event_gateway.storage.base import EventRecord, WriteResult
from event_gateway.storage.engine import create_engine
from event_gateway.storage.writer import CommitStats, GroupCommitWriter

HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


@contextlib.contextmanager
def _lock_held(path: Path) -> Iterator[Callable[[], None]]:
    """Another process holds `path`'s write lock inside the block; the yielded function
    releases it early (it is released on leaving the block either way)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )

    def release() -> None:
        if holder.poll() is None:
            holder.communicate("go\n", timeout=30)

    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield release
    finally:
        release()


def _event(key: str) -> EventRecord:
    return EventRecord("alana", "t1", "view", datetime.now(UTC), {"k": key}, dedup_key=key)


async def test_locked_database_fails_the_group_and_the_writer_recovers(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    # A short busy timeout: the lock holder never lets go while we write.
    engine = create_engine(f"sqlite:///{path}", busy_timeout=0.05)
    seen: list[CommitStats] = []
    writer = GroupCommitWriter(engine, WriterSettings(retry_after=3), observer=seen.append)
    writer.start()
    with _lock_held(path):
        with pytest.raises(errors.Unavailable) as caught:
            await writer.write([_event("a"), _event("b")])
        assert caught.value.retry_after == 3
        assert caught.value.__cause__ is not None  # the database error, for the logs
    assert await writer.write([_event("a"), _event("b")]) == WriteResult(2, 0)
    await writer.close()
    await engine.dispose()
    assert [s.ok for s in seen] == [False, True]
    assert seen[-1].batch_rows == 2 and seen[-1].callers == 1 and seen[-1].queue_rows == 2


async def test_writable_probe_sees_another_processes_write_lock(tmp_path: Path) -> None:
    from event_gateway.storage.engine import ping, writable

    path = tmp_path / "probe.db"
    engine = create_engine(f"sqlite:///{path}")
    await writable(engine)
    with _lock_held(path):
        await ping(engine)  # reads still work under another process's write lock...
        with pytest.raises(errors.Unavailable):
            await writable(engine)  # ...but nothing could commit
    await writable(engine)
    await engine.dispose()


async def test_writable_probe_waits_for_a_lock_held_briefly(tmp_path: Path) -> None:
    # Another worker's commit holds the lock for a moment: the file is busy, not broken.
    import asyncio

    from event_gateway.storage.engine import writable

    path = tmp_path / "busy.db"
    engine = create_engine(f"sqlite:///{path}")
    await writable(engine)
    with _lock_held(path) as release:
        probe = asyncio.create_task(writable(engine, lock_wait=5.0))
        await asyncio.sleep(0.3)
        assert not probe.done()  # waiting for the lock, not refused
        release()
        await asyncio.wait_for(probe, 10)
    await engine.dispose()


async def test_abort_interrupts_a_commit_waiting_for_the_lock_and_stores_nothing(tmp_path: Path) -> None:
    # The commit waits for another process's lock (up to the 5 s busy timeout); shutdown's
    # deadline must roll it back and say so, not leave the sink's thread to commit later.
    import asyncio
    import sqlite3

    path = tmp_path / "abort.db"
    engine = create_engine(f"sqlite:///{path}")
    writer = GroupCommitWriter(engine, WriterSettings(retry_after=3, commit_timeout=60))
    writer.start()
    assert await writer.write([_event("warm")]) == WriteResult(1, 0)  # the sink's connection is open
    with _lock_held(path):
        waiting = asyncio.create_task(writer.write([_event("a"), _event("b")]))
        await asyncio.sleep(0.5)  # the group is on the sink's thread, waiting for the lock
        assert not waiting.done()
        started = asyncio.get_running_loop().time()
        writer.abort()
        with pytest.raises(errors.Unavailable) as caught:
            await waiting
        assert caught.value.reason == "SHUTTING_DOWN"
        assert asyncio.get_running_loop().time() - started < 2  # interrupted, not timed out
    await writer.close()
    await engine.dispose()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM events").fetchone() == (1,)
