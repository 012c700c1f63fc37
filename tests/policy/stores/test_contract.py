"""The ThrottleStore contract, run against MemoryStore and RedisStore alike.

Redis answers on its own clock, so these tests use rates slow enough that the time a
test takes never refills a bucket; exact timing is tested with MemoryStore's clock.
"""

from __future__ import annotations

import asyncio

import pytest

from event_gateway.policy.rates import Rate
from event_gateway.policy.stores.base import BucketState, Check, ThrottleStore

HOURLY_3 = Rate(3, 3600)  # one request back every 20 minutes
HOURLY_5 = Rate(5, 3600)


def checks(*pairs: tuple[str, Rate]) -> list[Check]:
    return [Check(f"rl:test:{name}:{{t}}", rate) for name, rate in pairs]


async def test_admits_the_burst_then_denies_with_retry_after(store: ThrottleStore) -> None:
    request = checks(("a", HOURLY_3))
    decisions = [await store.acquire(request) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.buckets[0].remaining for d in decisions] == [2, 1, 0, 0]
    denied = decisions[-1]
    assert denied.buckets[0].exceeded and denied.buckets[0].limit == 3
    assert 1199 < denied.retry_after <= 1200
    assert 3599 < denied.reset_after <= 3600
    assert not denied.degraded


async def test_a_denial_consumes_nothing_from_any_limit(store: ThrottleStore) -> None:
    narrow, wide = ("narrow", Rate(1, 3600)), ("wide", HOURLY_5)
    assert (await store.acquire(checks(narrow, wide))).allowed
    for _ in range(3):
        denied = await store.acquire(checks(narrow, wide))
        assert not denied.allowed
        assert [b.exceeded for b in denied.buckets] == [True, False]
    # "wide" was charged once only: four more requests fit in it.
    alone = [await store.acquire(checks(wide)) for _ in range(5)]
    assert [d.allowed for d in alone] == [True, True, True, True, False]


async def test_every_limit_must_pass_and_the_longest_wait_is_reported(store: ThrottleStore) -> None:
    first, second = ("one", Rate(1, 60)), ("two", Rate(1, 3600))
    assert (await store.acquire(checks(first, second))).allowed
    denied = await store.acquire(checks(first, second))
    assert [b.exceeded for b in denied.buckets] == [True, True]
    assert 3599 < denied.retry_after <= 3600


async def test_limits_are_independent_buckets(store: ThrottleStore) -> None:
    for _ in range(3):
        assert (await store.acquire(checks(("x", HOURLY_3)))).allowed
    assert not (await store.acquire(checks(("x", HOURLY_3)))).allowed
    assert (await store.acquire(checks(("y", HOURLY_3)))).allowed


async def test_looking_does_not_charge(store: ThrottleStore) -> None:
    request = checks(("peek", Rate(2, 3600)))
    for _ in range(5):
        looked = await store.acquire(request, consume=False)
        assert looked.allowed and looked.buckets[0].remaining == 2
    assert (await store.acquire(request)).allowed
    assert (await store.acquire(request)).allowed
    assert not (await store.acquire(request, consume=False)).allowed


async def test_a_look_at_an_untouched_bucket_sees_it_full(store: ThrottleStore) -> None:
    # The memory store answers this case without the arithmetic; it must agree with it.
    looked = await store.acquire(checks(("fresh", Rate(7, 60))), consume=False)
    assert looked.allowed and looked.retry_after == 0.0
    assert looked.buckets == (BucketState(7, 7, 0.0, False),)


async def test_a_denied_request_reports_the_other_buckets_uncharged(store: ThrottleStore) -> None:
    full, roomy = ("full", Rate(1, 3600)), ("roomy", HOURLY_5)
    await store.acquire(checks(full))
    denied = await store.acquire(checks(full, roomy))
    assert denied.buckets[1].remaining == 5 and denied.buckets[1].reset_after == 0


async def test_no_checks_is_allowed(store: ThrottleStore) -> None:
    decision = await store.acquire([])
    assert decision.allowed and decision.buckets == ()


@pytest.mark.parametrize("window", [False, True], ids=["smooth", "window"])
async def test_concurrent_acquires_never_exceed_the_limit(store: ThrottleStore, window: bool) -> None:
    build = windows if window else checks
    request = build(("busy", Rate(25, 3600)), ("busy_wide", Rate(40, 3600)))
    # 90: under redis-py's default pool of 100 connections, so every call reaches Redis.
    decisions = await asyncio.gather(*(store.acquire(request) for _ in range(90)))
    assert sum(d.allowed for d in decisions) == 25
    # The wide limit was charged by admitted requests only.
    after = await store.acquire(build(("busy_wide", Rate(40, 3600))), consume=False)
    assert after.buckets[0].remaining == 15


@pytest.mark.parametrize("count", [1, 7, 100])
async def test_the_burst_is_exact_for_awkward_intervals(store: ThrottleStore, count: int) -> None:
    request = checks((f"awkward{count}", Rate(count, 3600 * 7)))
    decisions = [await store.acquire(request) for _ in range(count + 2)]
    assert sum(d.allowed for d in decisions) == count


# --- window buckets (Check.window): refilled whole when the window ends ---------------------


def windows(*pairs: tuple[str, Rate]) -> list[Check]:
    return [Check(f"rl:test:w:{name}:{{t}}", rate, 0, True) for name, rate in pairs]


async def test_a_window_admits_the_burst_then_denies_until_it_ends(store: ThrottleStore) -> None:
    request = windows(("a", HOURLY_3))
    decisions = [await store.acquire(request) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.buckets[0].remaining for d in decisions] == [2, 1, 0, 0]
    # Every admitted request reports the same end: the window the first one opened.
    assert all(3599 < d.buckets[0].reset_after <= 3600 for d in decisions)
    denied = decisions[-1]
    assert denied.buckets[0].exceeded and denied.buckets[0].limit == 3
    assert 3599 < denied.retry_after <= 3600  # not 1/3 of it, as GCRA would answer


async def test_a_window_denial_consumes_nothing_from_any_limit(store: ThrottleStore) -> None:
    narrow, wide = ("narrow", Rate(1, 3600)), ("wide", HOURLY_5)
    assert (await store.acquire(windows(narrow, wide))).allowed
    for _ in range(3):
        denied = await store.acquire(windows(narrow, wide))
        assert [b.exceeded for b in denied.buckets] == [True, False]
        assert denied.buckets[1].remaining == 4
    alone = [await store.acquire(windows(wide)) for _ in range(5)]
    assert [d.allowed for d in alone] == [True, True, True, True, False]


async def test_looking_at_a_window_neither_charges_nor_opens_it(store: ThrottleStore) -> None:
    request = windows(("peek", Rate(2, 3600)))
    looked = await store.acquire(request, consume=False)
    assert looked.allowed and looked.buckets == (BucketState(2, 2, 0.0, False),)
    assert (await store.acquire(request)).allowed
    looked = await store.acquire(request, consume=False)
    assert looked.buckets[0].remaining == 1 and 3599 < looked.buckets[0].reset_after <= 3600
    assert (await store.acquire(request)).allowed
    assert not (await store.acquire(request, consume=False)).allowed


async def test_window_and_smooth_buckets_judge_one_request_together(store: ThrottleStore) -> None:
    mixed = [*windows(("mixed", Rate(2, 3600))), *checks(("mixed", HOURLY_3))]
    decisions = [await store.acquire(mixed) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert [b.exceeded for b in decisions[-1].buckets] == [True, False]
    # The smooth bucket was charged twice only: one more request fits in it.
    assert (await store.acquire(checks(("mixed", HOURLY_3)))).allowed
