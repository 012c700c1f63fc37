"""GroupCommitQueue.abort: shutdown's deadline answers every caller truthfully."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from event_gateway import errors
from event_gateway.config import WriterSettings
from event_gateway.storage.base import EventRecord, WriteResult
from event_gateway.storage.writer import Batch, DedupKey, GroupCommitQueue


def _event(key: str) -> EventRecord:
    return EventRecord("alana", "t1", "view", datetime.now(UTC), {"k": key})


class BlockedSink:
    """A commit that waits until released; `finishes` decides whether a cancelled one
    still commits (a transaction that won the race against its cancellation)."""

    def __init__(self, *, finishes: bool) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.finishes = finishes
        self.committed: list[Batch] = []

    async def commit(self, batch: Batch) -> set[DedupKey]:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            if not self.finishes:
                raise  # rolled back
        self.committed.append(batch)
        return set()


async def _writer_with_one_commit_in_flight(sink: BlockedSink) -> tuple[GroupCommitQueue, list[asyncio.Task[WriteResult]]]:
    writer = GroupCommitQueue(sink, WriterSettings(retry_after=2, commit_timeout=60))
    writer.start()
    in_flight = asyncio.create_task(writer.write([_event("a")]))
    await sink.started.wait()
    queued = asyncio.create_task(writer.write([_event("b"), _event("c")]))
    await asyncio.sleep(0)
    return writer, [in_flight, queued]


async def test_abort_refuses_queued_callers_and_rolls_back_the_commit_in_flight() -> None:
    sink = BlockedSink(finishes=False)
    writer, (in_flight, queued) = await _writer_with_one_commit_in_flight(sink)
    writer.abort()
    for task in (in_flight, queued):
        with pytest.raises(errors.Unavailable) as caught:
            await asyncio.wait_for(task, 5)
        assert caught.value.reason == "SHUTTING_DOWN" and caught.value.retry_after == 2
    assert sink.committed == [] and writer.queue_rows == 0
    with pytest.raises(errors.Unavailable):
        await writer.write([_event("d")])
    await asyncio.wait_for(writer.close(), 5)
    assert sink.committed == []  # close() had nothing left to commit


async def test_a_commit_that_wins_the_race_is_answered_as_stored() -> None:
    sink = BlockedSink(finishes=True)
    writer, (in_flight, queued) = await _writer_with_one_commit_in_flight(sink)
    writer.abort()
    assert await asyncio.wait_for(in_flight, 5) == WriteResult(1, 0)
    with pytest.raises(errors.Unavailable):
        await asyncio.wait_for(queued, 5)
    assert [len(b.plain) for b in sink.committed] == [1]
    await asyncio.wait_for(writer.close(), 5)


async def test_a_commit_running_past_stuck_after_is_trouble_until_it_ends() -> None:
    sink = BlockedSink(finishes=True)
    writer, (in_flight, queued) = await _writer_with_one_commit_in_flight(sink)
    assert not writer.in_trouble(failed_within=60, stuck_after=60)
    await asyncio.sleep(0.05)
    assert writer.in_trouble(failed_within=60, stuck_after=0.05)
    sink.release.set()
    assert await in_flight == WriteResult(1, 0) and await queued == WriteResult(2, 0)
    assert not writer.in_trouble(failed_within=60, stuck_after=0)
    await writer.close()
