"""Exact window-bucket arithmetic, with an injected clock: no sleeping."""

from __future__ import annotations

import asyncio

from event_gateway.policy import window
from event_gateway.policy.rates import Rate
from event_gateway.policy.stores.base import Check
from event_gateway.policy.stores.memory import MemoryStore


def test_the_first_request_opens_the_window_and_the_burst_fills_it() -> None:
    state = None
    seen = []
    for now in (10.0, 20.0, 30.0):
        verdict = window.evaluate(state, now, 60, 3)
        assert verdict.allowed
        state = verdict.new_state
        seen.append((verdict.remaining, verdict.reset_after))
    # The window ends at 70 whatever the spacing: each answer counts down to it.
    assert seen == [(2, 60.0), (1, 50.0), (0, 40.0)]
    assert state == (70.0, 3)
    denied = window.evaluate(state, 69.5, 60, 3)
    assert not denied.allowed and denied.retry_after == 0.5 and denied.new_state == state


def test_the_bucket_is_full_again_when_the_window_ends() -> None:
    verdict = window.evaluate((70.0, 3), 70.0, 60, 3)
    assert verdict.allowed and verdict.new_state == (130.0, 1) and verdict.remaining == 2


def test_uncharged_undoes_the_token_and_a_fresh_bucket_has_nothing_to_reset() -> None:
    fresh = window.evaluate(None, 0.0, 60, 3)
    assert window.uncharged(fresh) == (3, 0.0)
    opened = window.evaluate((60.0, 1), 15.0, 60, 3)
    assert window.uncharged(opened) == (2, 45.0)
    full = window.evaluate((60.0, 3), 15.0, 60, 3)
    assert window.uncharged(full) == (0, 45.0)


def test_memory_store_keeps_windows_until_they_end() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0], sweep_interval=30.0)
    request = [Check("k", Rate(2, 60), 0, True)]
    assert [asyncio.run(store.acquire(request)).allowed for _ in range(3)] == [True, True, False]
    now[0] = 59.0
    assert not asyncio.run(store.acquire(request)).allowed and len(store) == 1
    now[0] = 60.0  # the window is over: the bucket is full (a look opens nothing)
    assert asyncio.run(store.acquire(request, consume=False)).buckets[0].remaining == 2
    now[0] = 90.0  # the next sweep drops the ended window
    asyncio.run(store.acquire(request, consume=False))
    assert len(store) == 0
