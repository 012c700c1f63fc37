"""MemoryStore's one-pass admission gives exactly the answers of `gcra.evaluate` and
`window.evaluate`.

`MemoryStore.acquire` writes out their admitted branches for speed; this drives both
with the same random histories of rates, bursts, refills, clock steps and charges, and
requires identical decisions and identical stored states.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from event_gateway.policy import gcra, window
from event_gateway.policy.rates import Rate
from event_gateway.policy.stores.base import BucketState, Check, Decision
from event_gateway.policy.stores.memory import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reference(
    tats: dict[str, float], windows: dict[str, window.State], checks: list[Check], now: float
) -> Decision:
    """Judge with the evaluate functions alone, charging all only if all pass."""
    verdicts = [
        window.evaluate(windows.get(c.key), now, c.rate.period, c.capacity) if c.window
        else gcra.evaluate(tats.get(c.key), now, c.rate.interval, c.capacity)
        for c in checks
    ]  # fmt: skip
    if not all(v.allowed for v in verdicts):
        states = []
        for check, verdict in zip(checks, verdicts):
            if check.window:
                remaining, reset_after = window.uncharged(verdict)  # type: ignore[arg-type]
            else:
                remaining, reset_after = gcra.uncharged(verdict, check.rate.interval)  # type: ignore[arg-type]
            states.append(BucketState(check.capacity, remaining, reset_after, not verdict.allowed))
        return Decision(False, tuple(states), max(v.retry_after for v in verdicts))
    for check, verdict in zip(checks, verdicts):
        if check.window:
            windows[check.key] = verdict.new_state  # type: ignore[union-attr]
        else:
            tats[check.key] = verdict.new_tat  # type: ignore[union-attr]
    return Decision(True, tuple(
        BucketState(c.capacity, v.remaining, v.reset_after, False) for c, v in zip(checks, verdicts)
    ))  # fmt: skip


rates = st.builds(Rate, st.integers(1, 50), st.sampled_from([1, 2, 7, 60, 3600]))
limit = st.tuples(rates, st.integers(0, 60), st.booleans())  # burst 0: the rate's count
step = st.tuples(
    st.floats(0, 30, allow_nan=False, allow_infinity=False),  # seconds the clock moves
    st.lists(st.integers(0, 2), min_size=1, max_size=3),  # which limits this call charges
)


@settings(max_examples=300, deadline=None)
@given(limits=st.lists(limit, min_size=3, max_size=3), steps=st.lists(step, max_size=80))
def test_same_answers_as_evaluate(
    limits: list[tuple[Rate, int, bool]], steps: list[tuple[float, list[int]]]
) -> None:
    clock = Clock()
    store = MemoryStore(clock=clock, sweep_interval=1e9)
    expected_tats: dict[str, float] = {}
    expected_windows: dict[str, window.State] = {}
    for seconds, chosen in steps:
        clock.now += seconds
        checks = [Check(f"k{i}", *limits[i]) for i in dict.fromkeys(chosen)]
        got = asyncio.run(store.acquire(checks))
        assert got == reference(expected_tats, expected_windows, checks, clock.now)
        assert (store._tats, store._windows) == (expected_tats, expected_windows)


def test_admitted_states_are_plain_values() -> None:
    """The fast path builds its tuples without their constructors: still equal to them."""
    store = MemoryStore(clock=Clock())
    decision = asyncio.run(store.acquire([Check("k", Rate(3, 60))]))
    assert decision == Decision(True, (BucketState(3, 2, 20.0, False),), 0.0, False)
    assert isinstance(decision, Decision) and isinstance(decision.buckets[0], BucketState)
    assert decision.buckets[0].limit == 3 and decision.allowed
