"""In-process throttle store: a dict of GCRA arrival times and one of windows.

Per process, so with `serve --workers N` each worker admits the full rate; use the
Redis store to share limits. Atomic without a lock because `acquire` never awaits
between reading and writing: the event loop runs it to completion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from event_gateway.policy import gcra, window
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
        self._tats: dict[str, float] = {}  # GCRA buckets
        self._windows: dict[str, window.State] = {}  # window buckets
        self._sweep_interval = sweep_interval
        self._next_sweep = clock() + sweep_interval

    def __len__(self) -> int:
        return len(self._tats) + len(self._windows)

    async def acquire(self, checks: Sequence[Check], *, consume: bool = True) -> Decision:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        if not consume:
            return self._judge(checks, now, consume)
        # The common case in one pass: every bucket has room, so all are charged. This
        # is the admitted branch of `gcra.evaluate` and `window.evaluate` written out,
        # without their Verdict and call per limit (a measurable share of a request);
        # tests/policy/stores/test_memory.py holds it to their answers. The first bucket
        # without room hands the whole call to `_judge`, which charges nothing unless
        # every bucket has room.
        tats, windows = self._tats, self._windows
        states = []
        charged_windows: list[tuple[str, window.State]] = []
        for check in checks:
            rate = check.rate
            burst = check.burst or rate.count
            if check.window:
                current = windows.get(check.key)
                if current is None or current[0] <= now:
                    end, taken, left = now + rate.period, 0, float(rate.period)
                else:
                    end, taken = current
                    left = end - now
                if taken >= burst:
                    return self._judge(checks, now, consume)
                states.append(_new(BucketState, (burst, burst - taken - 1, left, False)))
                charged_windows.append((check.key, (end, taken + 1)))
                continue
            interval = rate.interval
            tat = tats.get(check.key)
            after = (tat - now if tat is not None and tat > now else 0.0) + interval
            room = burst * interval - after
            if room < -gcra.EPSILON:
                return self._judge(checks, now, consume)
            # Plain loops and tuple.__new__: see the module's note on _new.
            remaining = int(room / interval + gcra.EPSILON)
            states.append(_new(BucketState, (burst, remaining, after, False)))
        for check, state in zip(checks, states):
            if not check.window:
                tats[check.key] = now + state.reset_after
        for key, charged in charged_windows:
            windows[key] = charged
        return _new(Decision, (True, tuple(states), 0.0, False))

    def _judge(self, checks: Sequence[Check], now: float, consume: bool) -> Decision:
        verdicts = [self._evaluate(check, now) for check in checks]
        allowed = all(verdict.allowed for verdict in verdicts)
        # Check everything first, then write only if everything passed: a denial is free.
        if allowed and consume:
            for check, verdict in zip(checks, verdicts):
                if isinstance(verdict, window.Verdict):
                    self._windows[check.key] = verdict.new_state
                else:
                    self._tats[check.key] = verdict.new_tat
            return Decision(True, tuple(
                BucketState(check.capacity, verdict.remaining, verdict.reset_after, False)
                for check, verdict in zip(checks, verdicts)
            ))  # fmt: skip
        states = []
        for check, verdict in zip(checks, verdicts):
            if isinstance(verdict, window.Verdict):
                remaining, reset_after = window.uncharged(verdict)
            else:
                remaining, reset_after = gcra.uncharged(verdict, check.rate.interval)
            states.append(BucketState(check.capacity, remaining, reset_after, not verdict.allowed))
        retry_after = 0.0 if allowed else max(v.retry_after for v in verdicts)
        return Decision(allowed, tuple(states), retry_after)

    def _evaluate(self, check: Check, now: float) -> gcra.Verdict | window.Verdict:
        if check.window:
            state = self._windows.get(check.key)
            return window.evaluate(state, now, check.rate.period, check.capacity)
        return gcra.evaluate(self._tats.get(check.key), now, check.rate.interval, check.capacity)

    async def aclose(self) -> None:
        self._tats.clear()
        self._windows.clear()

    def _sweep(self, now: float) -> None:
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._windows = {key: state for key, state in self._windows.items() if state[0] > now}
        self._next_sweep = now + self._sweep_interval
