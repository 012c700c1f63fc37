"""The servicers over the project's in-memory store (the real group-commit queue).

The fakes in conftest count calls; these check that what the servicers hand over is
what the real writer stores, de-duplicates and refuses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from depict.v1 import events_pb2 as depict_pb
from google.protobuf import json_format
from storefront.v1 import analytics_pb2 as storefront_pb
from topsort.v2 import events_pb2 as topsort_pb

from event_gateway import errors, ingest
from event_gateway.config import Settings
from event_gateway.ingest.depict import DepictEventsServicer
from event_gateway.ingest.storefront import StorefrontAnalyticsServicer
from event_gateway.ingest.topsort import TopsortEventsServicer
from event_gateway.storage.base import Tenant
from event_gateway.storage.memory import MemoryCatalog, MemoryWriter

from .conftest import FakeContext, clock, invoke


@pytest.fixture
async def store() -> AsyncIterator[MemoryWriter]:
    writer = MemoryWriter()
    yield writer
    await writer.close()


@pytest.fixture
def memory_catalog() -> MemoryCatalog:
    return MemoryCatalog(
        tenants=[Tenant(id="acme", slug="acme-store", number=1)], products=[("acme", 101)]
    )


def test_build_servicers_covers_every_service(store: MemoryWriter, memory_catalog: MemoryCatalog) -> None:
    pairs = ingest.build_servicers(store, memory_catalog, Settings())
    names = {type(servicer).__name__ for _, servicer in pairs}
    assert names == {
        "ShopperEventsServicer",
        "StorefrontAnalyticsServicer",
        "DepictEventsServicer",
        "TopsortEventsServicer",
    }
    assert all(callable(add) for add, _ in pairs)


async def test_depict_same_id_twice_in_one_request_is_one_event(store, memory_catalog) -> None:
    s = DepictEventsServicer(store, memory_catalog, Settings(), clock)
    event = depict_pb.Event(tenant="acme", market="se", type=depict_pb.EVENT_TYPE_CLICK, deduplication_id="d1")
    req = depict_pb.CreateEventsRequest(events=[event, event])
    resp = await invoke("/depict.v1.DepictEventsService/CreateEvents", lambda: s.CreateEvents(req, FakeContext()))
    assert (resp.stored, resp.duplicates) == (1, 1)
    assert len(store.events) == 1


async def test_topsort_retry_over_the_real_queue(store, memory_catalog) -> None:
    s = TopsortEventsServicer(store, memory_catalog, Settings(), clock)
    req = json_format.ParseDict(
        {"clicks": [{"id": "c1", "occurredAt": "2019-01-01T13:01:42-05:00", "opaqueUserId": "u"}]},
        topsort_pb.ReportEventsRequest(),
    )
    method = "/topsort.v2.TopsortEventsService/ReportEvents"
    first = await invoke(method, lambda: s.ReportEvents(req, FakeContext()))
    again = await invoke(method, lambda: s.ReportEvents(req, FakeContext()))
    assert (first.stored, again.duplicates) == (1, 1) and len(store.events) == 1


async def test_store_down_propagates_as_unavailable(store, memory_catalog) -> None:
    store.available = False
    s = DepictEventsServicer(store, memory_catalog, Settings(), clock)
    req = depict_pb.CreateEventsRequest(
        events=[depict_pb.Event(tenant="acme", market="se", type=depict_pb.EVENT_TYPE_CLICK)]
    )
    with pytest.raises(errors.Unavailable):
        await invoke("/depict.v1.DepictEventsService/CreateEvents", lambda: s.CreateEvents(req, FakeContext()))
    assert store.events == []


async def test_storefront_over_memory_store(store, memory_catalog) -> None:
    s = StorefrontAnalyticsServicer(store, memory_catalog, Settings(), clock)
    base = "/storefront.v1.StorefrontAnalyticsService"
    track = storefront_pb.TrackRequest(tenant_id="acme", type=storefront_pb.INTERACTION_TYPE_CART_ADD, product_id=101)
    await invoke(f"{base}/Track", lambda: s.Track(track, FakeContext()), tenant=None)
    conversion = storefront_pb.ConversionRequest(tenant_slug="acme-store", transaction_id="t1")
    ok = await invoke(f"{base}/Conversion", lambda: s.Conversion(conversion, FakeContext()), tenant=None)
    again = await invoke(f"{base}/Conversion", lambda: s.Conversion(conversion, FakeContext()), tenant=None)
    unknown = storefront_pb.RecordInteractionRequest(tenant_id=42, type=storefront_pb.INTERACTION_KIND_VIEW)
    accepted = await invoke(f"{base}/RecordInteraction", lambda: s.RecordInteraction(unknown, FakeContext()), tenant=None)
    assert (ok.status, again.status, accepted.status) == ("ok", "ok", "accepted")
    assert [e.event_type for e in store.events] == ["cart_add", "purchase"]
    assert [r.reason for r in store.rejected] == ["tenant_id: unknown tenant"]

    store.available = False
    down = await invoke(f"{base}/Conversion", lambda: s.Conversion(conversion, FakeContext()), tenant=None)
    assert down.status == "skipped"
