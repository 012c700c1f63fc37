from __future__ import annotations

from collections.abc import Sequence

import pytest

from event_gateway import errors
from event_gateway.contract import default_contract
from event_gateway.policy.rates import Rate
from event_gateway.policy.stores.base import Check, Decision
from event_gateway.policy.stores.memory import MemoryStore
from event_gateway.policy.throttle import Throttler, retry_after_seconds
from event_gateway.scope import Principal
from storefront.v1 import analytics_pb2

CONTRACT = default_contract()
TRACK_EVENTS = CONTRACT.method("/alana.v1.ShopperEventsService/TrackEvents")
SF_TRACK = CONTRACT.method("/storefront.v1.StorefrontAnalyticsService/Track")
SF_CONVERSION = CONTRACT.method("/storefront.v1.StorefrontAnalyticsService/Conversion")
SF_INTERACTION = CONTRACT.method("/storefront.v1.StorefrontAnalyticsService/RecordInteraction")
KEY = Principal(key_id="k1", tenant="t1")


class Recording:
    """A store that records the checks it is given, around a MemoryStore."""

    def __init__(self) -> None:
        self.inner = MemoryStore(clock=lambda: 0.0)
        self.seen: list[list[Check]] = []

    async def acquire(self, checks: Sequence[Check], *, consume: bool = True) -> Decision:
        self.seen.append(list(checks))
        return await self.inner.acquire(checks, consume=consume)

    async def aclose(self) -> None:
        pass


async def test_bucket_keys_follow_the_contract() -> None:
    store = Recording()
    throttler = Throttler(store, CONTRACT)
    await throttler.check(TRACK_EVENTS, principal=KEY, client_ip="1.2.3.4", request=None)
    assert [(c.key, c.rate) for c in store.seen[0]] == [
        ("rl:alana:per_key:{k1}", Rate(1000, 60)),
        ("rl:alana:per_key_ip:{k1}:1.2.3.4", Rate(100, 60)),
    ]


async def test_field_dimension_reads_the_request() -> None:
    store = Recording()
    request = analytics_pb2.RecordInteractionRequest(tenant_id=42)
    await Throttler(store, CONTRACT).check(SF_INTERACTION, principal=None, client_ip="::1", request=request)
    assert store.seen[0][0].key == "rl:storefront:tenant_aware:{42}:%3A%3A1"


async def test_separators_in_values_cannot_forge_another_bucket() -> None:
    store = Recording()
    throttler = Throttler(store, CONTRACT)
    await throttler.check(TRACK_EVENTS, principal=Principal("a:b", "t"), client_ip="c", request=None)
    await throttler.check(TRACK_EVENTS, principal=Principal("a", "t"), client_ip="b:c", request=None)
    assert store.seen[0][1].key != store.seen[1][1].key
    huge = Principal("x" * 10_000, "t")
    await throttler.check(TRACK_EVENTS, principal=huge, client_ip="1.1.1.1", request=None)
    assert len(store.seen[2][0].key) < 100


async def test_methods_declaring_the_same_limit_share_its_bucket() -> None:
    throttler = Throttler(MemoryStore(), CONTRACT, overrides={"storefront": {"api": "2/minute"}})
    ip = "9.9.9.9"
    assert (await throttler.check(SF_TRACK, principal=None, client_ip=ip, request=None)).allowed
    assert (await throttler.check(SF_CONVERSION, principal=None, client_ip=ip, request=None)).allowed
    assert not (await throttler.check(SF_TRACK, principal=None, client_ip=ip, request=None)).allowed


async def test_configuration_then_key_override_the_contract() -> None:
    store = Recording()
    throttler = Throttler(store, CONTRACT, overrides={"alana": {"per_key": "2000/minute"}})
    await throttler.check(TRACK_EVENTS, principal=KEY, client_ip="1.1.1.1", request=None)
    assert [c.rate for c in store.seen[-1]] == [Rate(2000, 60), Rate(100, 60)]
    vip = Principal("k2", "t1", limits={"per_key_ip": "5/second"})
    await throttler.check(TRACK_EVENTS, principal=vip, client_ip="1.1.1.1", request=None)
    assert [c.rate for c in store.seen[-1]] == [Rate(2000, 60), Rate(5, 1)]


async def test_a_changed_key_record_changes_the_rates_at_once() -> None:
    # The throttler keeps each call's checks while the principal is the same object;
    # the Authenticator hands out a new one when the key's record changes.
    store = Recording()
    throttler = Throttler(store, CONTRACT)
    before = Principal("k3", "t1", limits={"per_key": "10/second"})
    for _ in range(2):
        await throttler.check(TRACK_EVENTS, principal=before, client_ip="1.1.1.1", request=None)
        assert [c.rate for c in store.seen[-1]] == [Rate(10, 1), Rate(100, 60)]
    after = Principal("k3", "t1", limits={"per_key": "20/second"})
    outcome = await throttler.check(TRACK_EVENTS, principal=after, client_ip="1.1.1.1", request=None)
    assert [c.rate for c in store.seen[-1]] == [Rate(20, 1), Rate(100, 60)]
    assert dict(outcome.metadata())["ratelimit-policy"] == '"per_key";q=20;w=1, "per_key_ip";q=100;w=60'
    # Same key and rates from another address: its own per_key_ip bucket, the shared per_key one.
    await throttler.check(TRACK_EVENTS, principal=after, client_ip="2.2.2.2", request=None)
    assert [c.key for c in store.seen[-1]] == [store.seen[-2][0].key, "rl:alana:per_key_ip:{k3}:2.2.2.2"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nope": {"per_key": "1/s"}}, "unknown API 'nope'"),
        ({"alana": {"per_kye": "1/s"}}, "unknown limit alana.per_kye"),
        ({"alana": {"per_key": "lots"}}, "limit 'per_key': invalid rate 'lots'"),
    ],
)
def test_bad_overrides_stop_start_up(overrides: dict[str, dict[str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Throttler(MemoryStore(), CONTRACT, overrides=overrides)


@pytest.mark.parametrize(("refill", "retry_after"), [("window", 60.0), ("smooth", 30.0)])
async def test_denial_consumes_no_quota_and_explains_itself(refill: str, retry_after: float) -> None:
    throttler = Throttler(
        MemoryStore(clock=lambda: 0.0), CONTRACT, overrides={"alana": {"per_key_ip": "2/minute"}}, refill=refill
    )
    outcomes = [
        await throttler.check(TRACK_EVENTS, principal=KEY, client_ip="1.1.1.1", request=None)
        for _ in range(4)
    ]
    assert [o.allowed for o in outcomes] == [True, True, False, False]
    # per_key was charged by the two admitted calls only.
    per_key = outcomes[-1].limits[0]
    assert (per_key.name, per_key.remaining) == ("per_key", 998)
    err = outcomes[-1].error()
    assert isinstance(err, errors.ResourceExhausted) and err.reason == "RATE_LIMITED"
    # A window refills when it ends; GCRA has room for one more after 60/2 seconds.
    assert err.retry_after == retry_after
    assert err.quota_violations == (
        ("alana:per_key_ip", "2 requests per 60s per key and client address"),
    )
    with pytest.raises(errors.ResourceExhausted):
        outcomes[-1].raise_if_denied()
    outcomes[0].raise_if_denied()


@pytest.mark.parametrize(
    ("refill", "ratelimit", "retry_after"),
    [
        # t: seconds until the bucket is full again: when the window ends...
        ("window", '"per_key";r=999;t=60, "per_key_ip";r=1;t=60', "60"),
        # ...or when GCRA has paid back one request's interval.
        ("smooth", '"per_key";r=999;t=1, "per_key_ip";r=1;t=30', "30"),
    ],
)
async def test_metadata_on_success_and_denial(refill: str, ratelimit: str, retry_after: str) -> None:
    throttler = Throttler(
        MemoryStore(clock=lambda: 0.0), CONTRACT, overrides={"alana": {"per_key_ip": "2/minute"}}, refill=refill
    )
    first = await throttler.check(TRACK_EVENTS, principal=KEY, client_ip="1.1.1.1", request=None)
    assert dict(first.metadata()) == {
        "x-ratelimit-limit": "2",  # the most constrained limit, as Laravel reports it
        "x-ratelimit-remaining": "1",
        "ratelimit-policy": '"per_key";q=1000;w=60, "per_key_ip";q=2;w=60',
        "ratelimit": ratelimit,
    }
    await throttler.check(TRACK_EVENTS, principal=KEY, client_ip="1.1.1.1", request=None)
    denied = await throttler.check(TRACK_EVENTS, principal=KEY, client_ip="1.1.1.1", request=None)
    meta = dict(denied.metadata())
    assert meta["retry-after"] == retry_after and meta["x-ratelimit-remaining"] == "0"


async def test_a_window_admits_the_limit_once_per_window_however_spread() -> None:
    # "100 requests / 1 minute": at most the limit in the window the first request
    # opened, however the requests are spread; the bucket is full again when it ends.
    clock = [0.0]
    throttler = Throttler(
        MemoryStore(clock=lambda: clock[0]), CONTRACT, overrides={"alana": {"per_key_ip": "3/minute"}}
    )

    async def at(second: float) -> bool:
        clock[0] = second
        outcome = await throttler.check(TRACK_EVENTS, principal=KEY, client_ip="1.1.1.1", request=None)
        return outcome.allowed

    assert [await at(t) for t in (0.0, 20.0, 40.0, 50.0, 59.9)] == [True, True, True, False, False]
    assert await at(60.0)  # a new window opens at the first request after the end
    assert [await at(t) for t in (61.0, 62.0, 119.9)] == [True, True, False]
    assert await at(120.0)

    with pytest.raises(ValueError, match="refill"):
        Throttler(MemoryStore(), CONTRACT, refill="fixed")


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert [retry_after_seconds(s) for s in (0.0, 0.2, 1.0, 1.01, 59.5)] == [1, 1, 1, 2, 60]


async def test_a_store_failing_open_yields_no_headers() -> None:
    class Down(Recording):
        async def acquire(self, checks: Sequence[Check], *, consume: bool = True) -> Decision:
            return Decision(True, (), degraded=True)

    outcome = await Throttler(Down(), CONTRACT).check(TRACK_EVENTS, principal=KEY, client_ip="1", request=None)
    assert outcome.allowed and outcome.degraded and outcome.metadata() == ()


async def test_key_limit_without_a_key_falls_back_to_the_address() -> None:
    store = Recording()
    await Throttler(store, CONTRACT).check(TRACK_EVENTS, principal=None, client_ip="5.5.5.5", request=None)
    assert store.seen[0][0].key == "rl:alana:per_key:{ip=5.5.5.5}"


def test_ratelimit_format_keeps_a_percent_in_a_name() -> None:
    from event_gateway.policy.throttle import ratelimit_format

    assert ratelimit_format(["per_key", "odd%d"]) % (9, 1, 4, 2) == (
        '"per_key";r=9;t=1, "odd%d";r=4;t=2'
    )
