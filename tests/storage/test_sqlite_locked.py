"""Another process holding SQLite's write lock: the group fails with Unavailable, then recovers."""

from __future__ import annotations

import subprocess
import sys
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


def _event(key: str) -> EventRecord:
    return EventRecord("alana", "t1", "view", datetime.now(UTC), {"k": key}, dedup_key=key)


async def test_locked_database_fails_the_group_and_the_writer_recovers(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    # A short busy timeout: the lock holder never lets go while we write.
    engine = create_engine(f"sqlite:///{path}", busy_timeout=0.05)
    seen: list[CommitStats] = []
    writer = GroupCommitWriter(engine, WriterSettings(retry_after=3), observer=seen.append)
    writer.start()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(errors.Unavailable) as caught:
            await writer.write([_event("a"), _event("b")])
        assert caught.value.retry_after == 3
        assert caught.value.__cause__ is not None  # the database error, for the logs
    finally:
        holder.communicate("go\n", timeout=30)
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
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        await ping(engine)  # reads still work under another process's write lock...
        with pytest.raises(errors.Unavailable):
            await writable(engine)  # ...but nothing could commit
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(10)
    await writable(engine)
    await engine.dispose()
