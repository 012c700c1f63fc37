"""Event counts: per API and type for the metrics, per call for the access line.

`CountingWriter` wraps the real writer (the one place every stored, duplicate and
quarantined event passes) so no servicer has to report counts. The counts of the call
in progress go to the `CallEvents` the access interceptor put in a context variable: a
servicer awaits `write()` in the interceptor's own task, so it sees the same context.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from event_gateway.observability.metrics import Metrics
from event_gateway.storage.base import EventRecord, EventWriter, RejectedRecord, WriteResult


@dataclass(slots=True)
class CallEvents:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0

    @property
    def known(self) -> bool:
        return bool(self.stored or self.duplicates or self.rejected)


_API_AND_TYPE = attrgetter("api", "event_type")

_current: ContextVar[CallEvents | None] = ContextVar("event_gateway_call_events", default=None)


def begin_call() -> tuple[CallEvents, Token[CallEvents | None]]:
    counts = CallEvents()
    return counts, _current.set(counts)


def end_call(token: Token[CallEvents | None]) -> None:
    _current.reset(token)


class CountingWriter:
    """An EventWriter that counts what the wrapped writer stored; everything else passes.

    Duplicates are only reported as a total per write. When one write mixes event types
    among its de-duplicated events and only some were duplicates, the split by type is
    an estimate (the last keyed events are counted as the duplicates); totals are exact.
    """

    def __init__(self, writer: EventWriter, metrics: Metrics) -> None:
        self._writer = writer
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        # start(), close(), healthy(), saturated(), queue_rows: the writer's own.
        return getattr(self._writer, name)

    async def write(
        self, events: Sequence[EventRecord], rejected: Sequence[RejectedRecord] = ()
    ) -> WriteResult:
        result = await self._writer.write(events, rejected)
        self._record(events, rejected, result)
        return result

    def _record(
        self, events: Sequence[EventRecord], rejected: Sequence[RejectedRecord], result: WriteResult
    ) -> None:
        counts = _current.get()
        if counts is not None:
            counts.stored += result.stored
            counts.duplicates += result.duplicates
            counts.rejected += len(rejected)
        metrics = self._metrics
        duplicates = result.duplicates
        stored: dict[tuple[str, str], int] = {}
        dup: dict[tuple[str, str], int] = {}
        if not duplicates:
            # The common case, counted in C (a 100-event batch is counted per request).
            stored = Counter(map(_API_AND_TYPE, events))
        else:
            for event in reversed(events):
                key = (event.api, event.event_type)
                if duplicates and event.dedup_key is not None:
                    duplicates -= 1
                    dup[key] = dup.get(key, 0) + 1
                else:
                    stored[key] = stored.get(key, 0) + 1
        for (api, event_type), n in stored.items():
            metrics.count_events(api, event_type, "stored", n)
        for (api, event_type), n in dup.items():
            metrics.count_events(api, event_type, "duplicate", n)
        for record in rejected:
            metrics.count_events(record.api, "unknown", "rejected")
