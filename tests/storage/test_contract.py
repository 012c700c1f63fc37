"""The storage contract: one suite, run against memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from event_gateway import errors
from event_gateway.config import WriterSettings
from event_gateway.storage.base import EventRecord, RejectedRecord, Tenant, WriteResult

from .conftest import Backend

T0 = datetime(2026, 11, 22, 8, 30, 15, 123456, tzinfo=UTC)
SETTINGS = WriterSettings(queue_rows=10_000, batch_rows=500, commit_timeout=10, retry_after=2)


def event(
    key: str | None = None, *, api: str = "alana", tenant: str = "t1", n: int = 0
) -> EventRecord:
    return EventRecord(
        api=api,
        tenant=tenant,
        event_type="view",
        received_at=T0 + timedelta(seconds=n),
        payload={"n": n, "nested": {"list": [1, "two", None]}},
        dedup_key=key,
    )


def reject(reason: str = "missing visitorId") -> RejectedRecord:
    return RejectedRecord(
        api="alana", tenant="t1", reason=reason, received_at=T0, payload={"bad": True}
    )


async def started(backend: Backend, settings: WriterSettings = SETTINGS):  # type: ignore[no-untyped-def]
    writer = backend.writer(settings)
    writer.start()
    return writer


async def queued(writer, *batches):  # type: ignore[no-untyped-def]
    """Tasks writing each batch, all enqueued (writer not started yet: they form one group)."""
    tasks = [asyncio.create_task(writer.write(b)) for b in batches]
    await asyncio.sleep(0)
    return tasks


async def test_stores_every_field_with_aware_utc_times(backend: Backend) -> None:
    paris = timezone(timedelta(hours=1))
    full = EventRecord(
        api="depict",
        tenant="t1",
        event_type="purchase",
        received_at=T0.astimezone(paris),
        occurred_at=T0 - timedelta(minutes=5),
        payload={"amount": 12.5, "ids": ["a", "b"], "ok": True},
        visitor_id="v1",
        user_id="u1",
        session_id="s1",
        product_id="42",
        client_ip="203.0.113.9",
        user_agent="curl/8",
        dedup_key="d1",
        future_dated=True,
    )
    writer = await started(backend)
    assert await writer.write([full, event(n=1)]) == WriteResult(stored=2, duplicates=0)
    await writer.close()

    # Storage order within one commit is not part of the contract.
    first, second = sorted(await backend.events(), key=lambda e: e["dedup_key"] is None)
    for name in ("api", "tenant", "event_type", "visitor_id", "user_id", "session_id",
                 "product_id", "client_ip", "user_agent", "dedup_key", "future_dated"):
        assert first[name] == getattr(full, name), name
    assert first["payload"] == {"amount": 12.5, "ids": ["a", "b"], "ok": True}
    assert first["received_at"] == T0 and first["received_at"].utcoffset() is not None
    assert first["occurred_at"] == T0 - timedelta(minutes=5)
    assert second["occurred_at"] is None and second["dedup_key"] is None
    assert second["payload"] == {"n": 1, "nested": {"list": [1, "two", None]}}


async def test_dedup_is_scoped_by_api_and_tenant(backend: Backend) -> None:
    writer = await started(backend)
    assert await writer.write([event("k1")]) == WriteResult(1, 0)
    assert await writer.write([event("k1")]) == WriteResult(0, 1)
    assert await writer.write([event("k1", api="depict")]) == WriteResult(1, 0)
    assert await writer.write([event("k1", tenant="t2")]) == WriteResult(1, 0)
    # Events without a key are never duplicates of each other.
    assert await writer.write([event(), event()]) == WriteResult(2, 0)
    await writer.close()
    assert len(await backend.events()) == 5


async def test_duplicates_counted_within_a_call_and_between_callers_of_one_group(
    backend: Backend,
) -> None:
    writer = backend.writer(SETTINGS)
    first, second = await queued(
        writer, [event("a"), event("a"), event("b")], [event("b"), event("c"), event()]
    )
    writer.start()
    assert await first == WriteResult(stored=2, duplicates=1)
    assert await second == WriteResult(stored=2, duplicates=1)
    # Against keys stored by an earlier commit.
    assert await writer.write([event("a"), event("c"), event("d")]) == WriteResult(1, 2)
    await writer.close()
    assert sorted(e["dedup_key"] or "-" for e in await backend.events()) == [
        "-", "a", "b", "c", "d"
    ]


async def test_rejected_events_are_kept_in_quarantine(backend: Backend) -> None:
    writer = await started(backend)
    assert await writer.write([], [reject("bad type")]) == WriteResult(0, 0)
    assert await writer.write([event()], [reject("too long")]) == WriteResult(1, 0)
    await writer.close()
    rows = await backend.rejected()
    assert [r["reason"] for r in rows] == ["bad type", "too long"]
    assert rows[0]["payload"] == {"bad": True} and rows[0]["received_at"] == T0


async def test_a_full_queue_refuses_at_once(backend: Backend) -> None:
    writer = backend.writer(SETTINGS.model_copy(update={"queue_rows": 5}))
    (waiting,) = await queued(writer, [event(n=i) for i in range(4)])
    with pytest.raises(errors.ResourceExhausted) as caught:
        await writer.write([event(), event()])
    assert caught.value.reason == "QUEUE_FULL" and caught.value.retry_after == 2
    writer.start()
    assert await waiting == WriteResult(4, 0)
    # Answered rows leave the queue: the same write now fits.
    assert await writer.write([event(n=i) for i in range(5)]) == WriteResult(5, 0)
    # A write larger than the whole queue never fits: a client error, not "retry".
    with pytest.raises(errors.InvalidArgument) as too_large:
        await writer.write([event(n=i) for i in range(5)], [reject("x")])
    assert too_large.value.reason == "BATCH_TOO_LARGE" and too_large.value.retry_after is None
    await writer.close()
    assert len(await backend.events()) == 9


async def test_a_failed_commit_fails_its_group_and_stores_nothing(backend: Backend) -> None:
    writer = backend.writer(SETTINGS)
    await backend.break_store()
    tasks = await queued(writer, [event("x"), event()], [event("y")])
    tasks.append(asyncio.create_task(writer.write([event("z")], [reject()])))
    await asyncio.sleep(0)
    writer.start()
    for task in tasks:
        with pytest.raises(errors.Unavailable) as caught:
            await task
        assert caught.value.retry_after == 2
    assert not writer.committed_within(60)  # readiness reads this: the last commit failed
    assert writer.in_trouble(failed_within=60, stuck_after=60)
    assert not writer.in_trouble(failed_within=0, stuck_after=60)  # only for a while
    await backend.repair_store()
    assert await backend.events() == [] and await backend.rejected() == []

    # The writer keeps running and the same rows go in once the store is back.
    assert await writer.write([event("x"), event("z")], [reject()]) == WriteResult(2, 0)
    assert writer.committed_within(60) and not writer.committed_within(0)
    assert not writer.in_trouble(failed_within=60, stuck_after=60)
    await writer.close()
    assert len(await backend.events()) == 2 and len(await backend.rejected()) == 1


async def test_stored_count_equals_acknowledged_count_under_concurrency(
    backend: Backend,
) -> None:
    writer = await started(backend, SETTINGS.model_copy(update={"batch_rows": 64}))
    rng = random.Random(4)
    calls = [
        [event(rng.choice([None, f"k{rng.randrange(200)}"]), n=i) for i in range(rng.randint(1, 20))]
        for _ in range(200)
    ]
    results = await asyncio.gather(*(writer.write(c) for c in calls))
    await writer.close()
    assert sum(r.stored + r.duplicates for r in results) == sum(map(len, calls))
    stored = await backend.events()
    assert len(stored) == sum(r.stored for r in results)
    keys = [e["dedup_key"] for e in stored if e["dedup_key"] is not None]
    assert len(keys) == len(set(keys))
    every_key = {e.dedup_key for c in calls for e in c if e.dedup_key is not None}
    assert set(keys) == every_key


async def test_a_cancelled_caller_does_not_break_its_group(backend: Backend) -> None:
    writer = backend.writer(SETTINGS)
    first, cancelled, last = await queued(writer, [event("a")], [event("b")], [event("c")])
    cancelled.cancel()
    writer.start()
    assert await first == WriteResult(1, 0)
    assert await last == WriteResult(1, 0)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await writer.close()
    # Cancelled before its group was taken, so not stored; later writes still fit the queue.
    assert sorted(e["dedup_key"] for e in await backend.events()) == ["a", "c"]


async def test_close_flushes_everything_queued_then_refuses(backend: Backend) -> None:
    writer = backend.writer(SETTINGS.model_copy(update={"batch_rows": 3}))
    tasks = await queued(writer, *([event(n=i), event(n=i)] for i in range(10)))
    await writer.close()
    assert all(t.done() for t in tasks)
    assert [t.result() for t in tasks] == [WriteResult(2, 0)] * 10
    assert len(await backend.events()) == 20
    with pytest.raises(errors.Unavailable):
        await writer.write([event()])


async def test_catalog_tenants_products_and_keys(backend: Backend) -> None:
    acme = Tenant(id="t1", slug="acme", number=1001)
    await backend.add_tenant(acme)
    await backend.add_tenant(Tenant(id="t2", slug="idle", number=1002, active=False))
    await backend.add_products("t1", [7, 8])
    key_id = await backend.add_key("t1", "web", ["alana", "depict"], {"per_key": "10/second"})

    catalog = backend.catalog
    assert await catalog.tenant_by_id("t1") == acme
    assert await catalog.tenant_by_slug("acme") == acme
    assert await catalog.tenant_by_number(1001) == acme
    assert (await catalog.tenant_by_id("t2")).active is False  # type: ignore[union-attr]
    assert await catalog.tenant_by_id("nope") is None
    assert await catalog.tenant_by_slug("nope") is None
    assert await catalog.tenant_by_number(5) is None
    assert await catalog.product_exists("t1", 7)
    assert not await catalog.product_exists("t1", 9)
    assert not await catalog.product_exists("t2", 7)

    key = await catalog.api_key(key_id)
    assert key is not None and key.tenant == "t1" and key.name == "web"
    assert key.apis == frozenset({"alana", "depict"}) and dict(key.limits) == {"per_key": "10/second"}
    assert len(key.secret_hash) == 64 and not key.revoked
    assert await catalog.api_key("unknown") is None
    await backend.revoke_key(key_id)
    assert (await catalog.api_key(key_id)).revoked  # type: ignore[union-attr]


async def test_a_nul_character_never_fails_a_group(backend: Backend) -> None:
    # PostgreSQL text and jsonb hold no NUL: unmended, this event would fail the whole
    # group (the other caller's event too) and fail again on every retry.
    writer = await started(backend)
    nul = EventRecord(api="alana", tenant="t1", event_type="view", received_at=T0,
                      payload={"a": "x\x00y", "k\x00": ["\x00"]}, visitor_id="v\x00", dedup_key="d\x00")
    results = await asyncio.gather(writer.write([event()]), writer.write([nul]), writer.write([], [
        RejectedRecord(api="alana", tenant="t1", reason="r\x00", received_at=T0, payload={"b": "\x00"})]))
    assert results[:2] == [WriteResult(1, 0), WriteResult(1, 0)]
    await writer.close()
    stored = [e for e in await backend.events() if e["visitor_id"] not in (None, "")]
    (kept,) = stored
    # Kept as sent where the store can hold it, else with U+FFFD in the NUL's place.
    assert kept["payload"] in ({"a": "x\x00y", "k\x00": ["\x00"]}, {"a": "x\ufffdy", "k\ufffd": ["\ufffd"]})
    assert kept["visitor_id"] in ("v\x00", "v\ufffd")
    assert len(await backend.rejected()) == 1


async def test_a_tenant_uuid_is_found_in_any_letter_case(backend: Backend) -> None:
    # MySQL's default collation and PostgreSQL's uuid type compare UUIDs so (2026-12-03).
    lower = Tenant(id="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", slug="lower", number=11)
    upper = Tenant(id="F1E2D3C4-B5A6-4978-8695-A4B3C2D1E0F9", slug="upper", number=12)
    named = Tenant(id="Acme", slug="named", number=13)
    for tenant in (lower, upper, named):
        await backend.add_tenant(tenant)
    catalog = backend.catalog
    assert await catalog.tenant_by_id(lower.id.upper()) == lower
    assert await catalog.tenant_by_id(lower.id) == lower
    assert await catalog.tenant_by_id(upper.id.lower()) == upper
    # Any other id is matched exactly, and a UUID is still one UUID.
    assert await catalog.tenant_by_id("acme") is None
    assert await catalog.tenant_by_id(lower.id.upper()[:-1]) is None


async def test_a_group_larger_than_one_statement(backend: Backend) -> None:
    # One group of 5000 events and 4000 rejected rows, more than one SQLite statement
    # binds (32766 parameters: ~2300 events), with keys stored by an earlier commit,
    # keys repeated within a call and keys shared by two callers of the group.
    earlier = await started(backend)
    assert await earlier.write([event(f"k{n}", n=n) for n in range(0, 3000, 10)]) == WriteResult(300, 0)
    await earlier.close()
    writer = backend.writer(SETTINGS.model_copy(update={"batch_rows": 10_000}))
    calls = [
        # Plain events, and k1, k3, .., k2499 twice each (the second time a duplicate).
        [event(f"k{n % 2500}" if n % 2 else None, n=n) for n in range(5000)],
        [event(f"k{n}", n=n) for n in range(2400, 2600)],
    ]
    tasks = await queued(writer, *calls)
    tasks.append(asyncio.create_task(writer.write([], [reject(f"r{n}") for n in range(4000)])))
    await asyncio.sleep(0)
    writer.start()
    results = [await t for t in tasks]
    assert results[0] == WriteResult(stored=2500 + 1250, duplicates=1250)
    # The second call's odd keys below 2500 are the first call's; multiples of 10 were
    # stored before.
    taken = {n for n in range(2400, 2500) if n % 2} | set(range(2400, 2600, 10))
    assert results[1] == WriteResult(stored=200 - len(taken), duplicates=len(taken))
    assert results[2] == WriteResult(0, 0)
    await writer.close()
    stored = await backend.events()
    assert len(stored) == 300 + 3750 + 200 - len(taken)
    keys = [e["dedup_key"] for e in stored if e["dedup_key"] is not None]
    assert len(keys) == len(set(keys)) == 300 + 1250 + 200 - len(taken)
    # Each key's stored event is the first one written with it.
    first_n = {f"k{n}": n for n in range(0, 3000, 10)}
    for call in calls:
        for e in call:
            if e.dedup_key is not None:
                first_n.setdefault(e.dedup_key, e.payload["n"])
    assert all(e["payload"]["n"] == first_n[e["dedup_key"]] for e in stored if e["dedup_key"])
    assert len(await backend.rejected()) == 4000
