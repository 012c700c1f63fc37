"""In-process throttle store: a dict of GCRA arrival times.

Per process, so with `serve --workers N` each worker admits the full rate; use the
Redis store to share limits. Atomic without a lock because `acquire` never awaits
between reading and writing: the event loop runs it to completion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from event_gateway.policy import gcra
from event_gateway.policy.stores.base import BucketState, Check, Decision

# Building the named tuples with tuple.__new__ skips their Python-level __new__: half
# the cost, on the path every request takes.
_new = tuple.__new__


class MemoryStore:
    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sweep_interval: float = 60.0
    ) -> None:
        """`clock` is injectable so tests can move time without sleeping.

        Every `sweep_interval` seconds, buckets that have refilled completely are
        dropped: a missing bucket behaves exactly like a full one, so memory stays
        proportional to the clients seen recently rather than ever.
        """
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._sweep_interval = sweep_interval
        self._next_sweep = clock() + sweep_interval

    def __len__(self) -> int:
        return len(self._tats)

    async def acquire(self, checks: Sequence[Check], *, consume: bool = True) -> Decision:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        tats = self._tats
        evaluate = gcra.evaluate
        # Plain loops, no comprehensions: each comprehension is a function call of its
        # own on this Python, dearer than the loop body over one or two limits.
        verdicts = []
        allowed = True
        for check in checks:
            rate = check.rate
            verdict = evaluate(tats.get(check.key), now, rate.interval, check.burst or rate.count)
            if not verdict.allowed:
                allowed = False
            verdicts.append(verdict)
        # Check everything first, then write only if everything passed: a denial is free.
        if allowed and consume:
            states = []
            for check, verdict in zip(checks, verdicts):
                tats[check.key] = verdict.new_tat
                states.append(_new(BucketState, (
                    check.burst or check.rate.count, verdict.remaining, verdict.reset_after, False
                )))  # fmt: skip
            return _new(Decision, (True, tuple(states), 0.0, False))
        states = []
        for check, verdict in zip(checks, verdicts):
            remaining, reset_after = gcra.uncharged(verdict, check.rate.interval)
            states.append(BucketState(check.capacity, remaining, reset_after, not verdict.allowed))
        retry_after = 0.0 if allowed else max(v.retry_after for v in verdicts)
        return Decision(allowed, tuple(states), retry_after)

    async def aclose(self) -> None:
        self._tats.clear()

    def _sweep(self, now: float) -> None:
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._next_sweep = now + self._sweep_interval
