from __future__ import annotations

import orjson
import pytest
from alana.v1 import shopper_events_pb2 as pb
from google.protobuf import json_format

from event_gateway import errors
from event_gateway.config import Settings
from event_gateway.ingest.alana import ShopperEventsServicer
from event_gateway.ingest.common import UNDECODABLE_ELEMENTS_KEY

from .conftest import CLIENT_IP, NOW, FakeCatalog, FakeContext, FakeWriter, clock, invoke

METHOD = "/alana.v1.ShopperEventsService/TrackEvents"


def request(*events: dict[str, object]) -> pb.TrackEventsRequest:
    # Built through JSON the way REST clients send it (documented spellings).
    msg = pb.TrackEventsRequest()
    for event in events:
        json_format.ParseDict(_respelled(event), msg.events.add(), ignore_unknown_fields=True)
    return msg


_TYPES = {
    "home-page-view": "EVENT_TYPE_HOME_PAGE_VIEW",
    "search": "EVENT_TYPE_SEARCH",
    "category-view": "EVENT_TYPE_CATEGORY_VIEW",
    "detail-page-view": "EVENT_TYPE_DETAIL_PAGE_VIEW",
    "add-to-cart": "EVENT_TYPE_ADD_TO_CART",
    "shopping-cart-page-view": "EVENT_TYPE_SHOPPING_CART_PAGE_VIEW",
    "purchase-complete": "EVENT_TYPE_PURCHASE_COMPLETE",
}


def _respelled(event: dict[str, object]) -> dict[str, object]:
    out = dict(event)
    if "eventType" in out:
        out["eventType"] = _TYPES.get(str(out["eventType"]), out["eventType"])
    return out


async def track(
    writer: FakeWriter, catalog: FakeCatalog, settings: Settings, req: pb.TrackEventsRequest,
    metadata: tuple[tuple[str, str], ...] = (),
) -> pb.TrackEventsResponse:
    servicer = ShopperEventsServicer(writer, catalog, settings, clock)
    return await invoke(METHOD, lambda: servicer.TrackEvents(req, FakeContext(metadata)))


VALID = [
    {"eventType": "home-page-view", "visitorId": "v"},
    {"eventType": "search", "visitorId": "v", "query": "camiseta azul"},
    {"eventType": "category-view", "visitorId": "v", "categoryPath": "roupas/camisetas"},
    {"eventType": "detail-page-view", "visitorId": "v", "productId": "p1"},
    {"eventType": "add-to-cart", "visitorId": "v", "productId": "p1"},
    {"eventType": "shopping-cart-page-view", "visitorId": "v"},
    {
        "eventType": "purchase-complete",
        "visitorId": "v",
        "productIds": ["p1"],
        "revenue": 0,
        "currency": "BRL",
    },
]


async def test_documented_example_is_stored_with_the_keys_tenant(writer, catalog, settings) -> None:
    req = request(
        {"eventType": "search", "visitorId": "visitor-abc", "userId": "user-123", "query": "camiseta azul"},
        {"eventType": "detail-page-view", "visitorId": "visitor-abc", "productId": "550e8400"},
    )
    resp = await track(writer, catalog, settings, req, (("user-agent", "curl/8"),))
    assert json_format.MessageToDict(resp) == {"status": "ok", "stored": 2, "errors": 0}
    assert writer.calls == 1
    first, second = writer.events
    assert (first.api, first.tenant, first.event_type) == ("alana", "acme", "search")
    assert first.payload == {
        "eventType": "search",
        "visitorId": "visitor-abc",
        "userId": "user-123",
        "query": "camiseta azul",
    }
    assert (first.visitor_id, first.user_id, first.client_ip, first.user_agent) == (
        "visitor-abc", "user-123", CLIENT_IP, "curl/8",
    )
    assert first.received_at == NOW and first.occurred_at is None and not first.future_dated
    assert (second.event_type, second.product_id) == ("detail-page-view", "550e8400")


async def test_record_columns_match_the_stored_payload(writer, catalog, settings) -> None:
    # userId and productId are proto3 optional: present-but-empty is stored as null,
    # absent as null, and the payload keeps exactly what was sent.
    req = request(
        {"eventType": "add-to-cart", "visitorId": "v1", "userId": "", "productId": "p1"},
        {"eventType": "home-page-view", "visitorId": "v2", "metadata": {"a": "b", "n": 1}},
    )
    resp = await track(writer, catalog, settings, req)
    assert (resp.stored, resp.errors) == (2, 0)
    cart, home = writer.events
    assert cart.payload == {
        "eventType": "add-to-cart", "visitorId": "v1", "userId": "", "productId": "p1"
    }
    assert (cart.event_type, cart.visitor_id, cart.user_id, cart.product_id) == (
        "add-to-cart", "v1", None, "p1",
    )
    assert home.payload == {
        "eventType": "home-page-view", "visitorId": "v2", "metadata": {"a": "b", "n": 1.0}
    }
    assert (home.event_type, home.visitor_id, home.user_id, home.product_id) == (
        "home-page-view", "v2", None, None,
    )


@pytest.mark.parametrize("event", VALID, ids=[e["eventType"] for e in VALID])
async def test_each_type_with_its_required_fields_is_stored(writer, catalog, settings, event) -> None:
    resp = await track(writer, catalog, settings, request(event))
    assert (resp.stored, resp.errors) == (1, 0)
    assert writer.events[0].event_type == event["eventType"]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"eventType": "home-page-view"}, "visitorId"),
        ({"eventType": "search", "visitorId": "v"}, "query"),
        ({"eventType": "search", "visitorId": "v", "query": ""}, "query"),
        ({"eventType": "category-view", "visitorId": "v"}, "categoryPath"),
        ({"eventType": "detail-page-view", "visitorId": "v"}, "productId"),
        ({"eventType": "add-to-cart", "visitorId": "v"}, "productId"),
        ({"eventType": "purchase-complete", "visitorId": "v", "revenue": 1, "currency": "BRL"}, "productIds"),
        ({"eventType": "purchase-complete", "visitorId": "v", "productIds": ["p"], "currency": "BRL"}, "revenue"),
        ({"eventType": "purchase-complete", "visitorId": "v", "productIds": ["p"], "revenue": 1}, "currency"),
        ({"visitorId": "v"}, "eventType"),
        ({"eventType": "page-view", "visitorId": "v"}, "eventType"),
    ],
)
async def test_missing_required_field_rejects_that_event(writer, catalog, settings, event, field) -> None:
    resp = await track(writer, catalog, settings, request(event))
    assert (resp.status, resp.stored, resp.errors) == ("ok", 0, 1)
    assert [(e.index, e.field) for e in resp.rejected] == [(0, field)]
    assert writer.events == [] and len(writer.rejected) == 1
    assert field in writer.rejected[0].reason


@pytest.mark.parametrize("number", [0, 99])
async def test_unspecified_or_undeclared_type_number_is_rejected(writer, catalog, settings, number) -> None:
    # gRPC callers send numbers: an undeclared one is kept by proto3 (open enum) and
    # must be refused like UNSPECIFIED, with the number kept in the quarantined payload.
    req = pb.TrackEventsRequest(events=[pb.Event(event_type=number, visitor_id="v")])
    resp = await track(writer, catalog, settings, req)
    assert (resp.stored, resp.errors) == (0, 1)
    assert [(e.index, e.field) for e in resp.rejected] == [(0, "eventType")]
    expected = {"visitorId": "v"} if number == 0 else {"eventType": number, "visitorId": "v"}
    assert writer.rejected[0].payload == expected


@pytest.mark.parametrize(
    ("purchase", "missing"),
    [
        ({"productIds": ["p"], "revenue": 0, "currency": "BRL"}, []),
        ({"productIds": [], "revenue": 0, "currency": "BRL"}, ["productIds"]),
        ({"productIds": ["p"], "currency": "BRL"}, ["revenue"]),
        ({"productIds": ["p"], "revenue": 1, "currency": ""}, ["currency"]),
        ({}, ["productIds", "revenue", "currency"]),
    ],
)
async def test_purchase_rules_read_presence_not_truthiness_for_revenue(
    writer, catalog, settings, purchase, missing
) -> None:
    event = {"eventType": "purchase-complete", "visitorId": "v", **purchase}
    resp = await track(writer, catalog, settings, request(event))
    assert [e.field for e in resp.rejected] == missing
    assert (resp.stored, resp.errors) == ((1, 0) if not missing else (0, 1))


@pytest.mark.parametrize("revenue", [float("nan"), float("inf"), float("-inf")])
async def test_revenue_that_is_not_a_finite_number_rejects_that_event(writer, catalog, settings, revenue) -> None:
    event = pb.Event(event_type=pb.EVENT_TYPE_PURCHASE_COMPLETE, visitor_id="v", product_ids=["p"],
                     revenue=revenue, currency="BRL")
    resp = await track(writer, catalog, settings, pb.TrackEventsRequest(events=[event]))
    assert (resp.stored, resp.errors) == (0, 1)
    assert [e.field for e in resp.rejected] == ["revenue"]


async def test_unknown_type_names_the_choices(writer, catalog, settings) -> None:
    resp = await track(writer, catalog, settings, request({"eventType": "nope", "visitorId": "v"}))
    assert "home-page-view" in resp.rejected[0].reason
    assert "purchase-complete" in resp.rejected[0].reason


async def test_partial_success_stores_the_valid_events_and_quarantines_the_rest(
    writer, catalog, settings
) -> None:
    req = request(VALID[0], {"eventType": "search"}, VALID[1])
    resp = await track(writer, catalog, settings, req)
    assert (resp.stored, resp.errors) == (2, 1)
    # Every problem of the bad event is listed, all under its index.
    assert sorted((e.index, e.field) for e in resp.rejected) == [(1, "query"), (1, "visitorId")]
    assert [e.event_type for e in writer.events] == ["home-page-view", "search"]
    assert writer.calls == 1
    (quarantined,) = writer.rejected
    assert quarantined.tenant == "acme" and quarantined.payload == {"eventType": "search"}


async def test_all_invalid_is_still_ok_with_nothing_stored(writer, catalog, settings) -> None:
    resp = await track(writer, catalog, settings, request({"visitorId": "v"}, {"visitorId": "w"}))
    assert json_format.MessageToDict(resp)["status"] == "ok"
    assert (resp.stored, resp.errors) == (0, 2)


async def test_counters_print_when_zero(writer, catalog, settings) -> None:
    resp = await track(writer, catalog, settings, request(VALID[0]))
    assert json_format.MessageToDict(resp) == {"status": "ok", "stored": 1, "errors": 0}


async def test_empty_batch_is_ok_and_writes_nothing(writer, catalog, settings) -> None:
    resp = await track(writer, catalog, settings, pb.TrackEventsRequest())
    assert json_format.MessageToDict(resp) == {"status": "ok", "stored": 0, "errors": 0}
    assert writer.calls == 0


async def test_batch_of_100_is_accepted(writer, catalog, settings) -> None:
    resp = await track(writer, catalog, settings, request(*[VALID[0]] * 100))
    assert resp.stored == 100


async def test_batch_over_100_is_refused_whole(writer, catalog, settings) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        await track(writer, catalog, settings, request(*[VALID[0]] * 101))
    assert [v.field for v in caught.value.violations] == ["events"]
    assert writer.calls == 0


async def test_writer_failure_propagates(writer, catalog, settings) -> None:
    writer.fail_with = errors.Unavailable("store down", retry_after=1)
    with pytest.raises(errors.Unavailable):
        await track(writer, catalog, settings, request(VALID[0]))


async def test_metadata_is_kept_in_the_payload(writer, catalog, settings) -> None:
    event = {**VALID[0], "metadata": {"source": "app", "nested": {"a": [1, "b"]}}}
    await track(writer, catalog, settings, request(event))
    assert writer.events[0].payload["metadata"] == {"source": "app", "nested": {"a": [1, "b"]}}
    assert type(writer.events[0].payload["metadata"]["nested"]["a"][0]) is int  # 1 stays 1, not 1.0


async def test_without_principal_fails_closed(writer, catalog, settings) -> None:
    servicer = ShopperEventsServicer(writer, catalog, settings, clock)
    with pytest.raises(errors.Internal):
        await invoke(
            METHOD, lambda: servicer.TrackEvents(request(VALID[0]), FakeContext()), tenant=None
        )


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
async def test_metadata_with_a_non_finite_number_rejects_that_event_only(
    writer, catalog, settings, number
) -> None:
    bad = pb.Event(event_type=pb.EVENT_TYPE_HOME_PAGE_VIEW, visitor_id="v")
    bad.metadata.update({"deep": {"list": [1, number]}, "page": "home"})
    req = request(VALID[0])
    req.events.append(bad)
    resp = await track(writer, catalog, settings, req)
    assert (resp.stored, resp.errors) == (1, 1)
    assert [(e.index, e.field) for e in resp.rejected] == [(1, "metadata")]
    # Quarantined as sent, less the field JSON cannot hold.
    (quarantined,) = writer.rejected
    assert quarantined.payload == {"eventType": "home-page-view", "visitorId": "v"}


async def test_an_element_the_transcoder_could_not_read_fails_only_itself(writer, catalog, settings) -> None:
    described = orjson.dumps([
        {"index": 1, "path": "visitorId", "reason": "type", "detail": "expected string, got number",
         "value": {"eventType": "home-page-view", "visitorId": 5}},
        {"index": 2, "path": "", "reason": "type", "detail": "expected object, got number", "value": 7},
    ])
    req = request(VALID[0])
    req.events.add()
    req.events.add()  # the transcoder leaves unreadable elements empty at their index
    resp = await track(writer, catalog, settings, req, ((UNDECODABLE_ELEMENTS_KEY, described),))
    assert (resp.stored, resp.errors) == (1, 2)
    assert [(e.index, e.field) for e in resp.rejected] == [(1, "visitorId"), (2, "")]
    assert resp.rejected[0].reason == "visitorId has the wrong JSON type (expected string, got number)"
    # Quarantined as sent, so the client's mistake can be read back.
    assert [r.payload for r in writer.rejected] == [
        {"eventType": "home-page-view", "visitorId": 5}, {"_sent": 7},
    ]


async def test_a_malformed_description_is_ignored(writer, catalog, settings) -> None:
    req = request(VALID[0], {"visitorId": "w"})
    resp = await track(writer, catalog, settings, req, ((UNDECODABLE_ELEMENTS_KEY, b"[{"),))
    assert (resp.stored, resp.errors) == (1, 1)
    assert [e.field for e in resp.rejected] == ["eventType"]
