"""Exact GCRA arithmetic, with an injected clock: no sleeping."""

import pytest

from event_gateway.policy import gcra
from event_gateway.policy.rates import Rate
from event_gateway.policy.stores.base import Check
from event_gateway.policy.stores.memory import MemoryStore


def test_fresh_bucket_admits_the_burst_then_refuses() -> None:
    # 3/minute: T = 20 s, capacity 60 s of debt.
    tat = None
    seen = []
    for _ in range(3):
        verdict = gcra.evaluate(tat, 0.0, 20.0, 3)
        assert verdict.allowed
        tat = verdict.new_tat
        seen.append((verdict.remaining, verdict.reset_after))
    assert seen == [(2, 20.0), (1, 40.0), (0, 60.0)]
    denied = gcra.evaluate(tat, 0.0, 20.0, 3)
    assert (denied.allowed, denied.remaining, denied.retry_after, denied.reset_after) == (
        False, 0, 20.0, 60.0,
    )  # fmt: skip
    assert denied.new_tat == tat  # nothing changes on a denial


def test_refills_one_request_per_interval() -> None:
    full = gcra.evaluate(None, 0.0, 20.0, 3)
    tat = full.new_tat
    for _ in range(2):
        tat = gcra.evaluate(tat, 0.0, 20.0, 3).new_tat
    assert not gcra.evaluate(tat, 19.999, 20.0, 3).allowed
    again = gcra.evaluate(tat, 20.0, 20.0, 3)
    assert again.allowed and again.remaining == 0
    # After a long idle period the bucket is full again, never fuller.
    idle = gcra.evaluate(again.new_tat, 10_000.0, 20.0, 3)
    assert (idle.remaining, idle.reset_after) == (2, 20.0)


def test_non_integer_interval_still_admits_exactly_the_burst() -> None:
    interval = 60 / 7
    tat = None
    admitted = 0
    for _ in range(10):
        verdict = gcra.evaluate(tat, 1_000_000.0, interval, 7)
        if verdict.allowed:
            admitted += 1
            tat = verdict.new_tat
    assert admitted == 7


def test_matches_a_token_bucket() -> None:
    """GCRA and a token bucket (capacity = burst, refill = rate) admit the same calls."""
    interval, burst = 0.5, 4
    tat = None
    tokens, last = float(burst), 0.0
    arrivals = [0.0, 0.0, 0.1, 0.2, 0.2, 0.3, 0.9, 1.0, 1.4, 1.5, 1.5, 3.0, 3.0, 3.0, 3.0, 3.0, 3.1]
    for now in arrivals:
        tokens = min(burst, tokens + (now - last) / interval)
        last = now
        bucket_ok = tokens >= 1 - 1e-9
        if bucket_ok:
            tokens -= 1
        verdict = gcra.evaluate(tat, now, interval, burst)
        if verdict.allowed:
            tat = verdict.new_tat
        assert verdict.allowed == bucket_ok, now
        assert verdict.remaining == (int(tokens + 1e-9) if bucket_ok else 0)


def test_uncharged_reports_the_bucket_before_this_request() -> None:
    verdict = gcra.evaluate(None, 0.0, 20.0, 3)
    assert gcra.uncharged(verdict, 20.0) == (3, 0.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_store_follows_the_clock() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    check = [Check("k", Rate(3, 60))]
    assert [(await store.acquire(check)).allowed for _ in range(4)] == [True, True, True, False]
    denied = await store.acquire(check)
    assert denied.retry_after == pytest.approx(20.0)
    assert denied.buckets[0].reset_after == pytest.approx(60.0)
    clock.now += 19.0
    assert (await store.acquire(check)).retry_after == pytest.approx(1.0)
    clock.now += 1.0
    decision = await store.acquire(check)
    assert decision.allowed and decision.buckets[0].remaining == 0


async def test_memory_store_burst_can_differ_from_the_rate() -> None:
    store = MemoryStore(clock=Clock())
    check = [Check("k", Rate(60, 60), burst=2)]
    assert [(await store.acquire(check)).allowed for _ in range(3)] == [True, True, False]


async def test_memory_store_drops_full_buckets_when_it_sweeps() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock, sweep_interval=10.0)
    await store.acquire([Check("short", Rate(1, 1))])
    await store.acquire([Check("long", Rate(1, 3600))])
    assert len(store) == 2
    clock.now += 11.0
    await store.acquire([])
    assert len(store) == 1  # "short" refilled and is gone; "long" still owes time
    # A dropped bucket answers exactly as a full one would.
    decision = await store.acquire([Check("short", Rate(1, 1))])
    assert decision.allowed and decision.buckets[0].remaining == 0
