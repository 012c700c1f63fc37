"""Shopper events (POST /api/v1/events) end to end, over REST and gRPC."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import httpx
import pytest

from alana.v1 import shopper_events_pb2 as pb
from alana.v1 import shopper_events_pb2_grpc as pb_grpc
from tests.e2e.conftest import Deployment
from tests.e2e.grpc_client import channel
from tests.e2e.harness import cli, count_events

EXAMPLES = Path(__file__).parents[1] / "data" / "seed_examples"
ALL_TYPES = [
    {"eventType": "home-page-view", "visitorId": "v"},
    {"eventType": "search", "visitorId": "v", "query": "camiseta azul"},
    {"eventType": "category-view", "visitorId": "v", "categoryPath": "roupas/camisetas"},
    {"eventType": "detail-page-view", "visitorId": "v", "productId": "p1"},
    {"eventType": "add-to-cart", "visitorId": "v", "productId": "p1"},
    {"eventType": "shopping-cart-page-view", "visitorId": "v"},
    {
        "eventType": "purchase-complete", "visitorId": "v", "userId": "user-1",
        "productIds": ["p1", "p2"], "revenue": 99.9, "currency": "BRL",
        "metadata": {"coupon": "X", "nested": {"a": [1, 2]}},
    },
]


def alana_count(deployment: Deployment, tenant: str = "acme") -> int:
    return count_events(deployment.database, "--api", "alana", "--tenant", tenant)


def post(deployment: Deployment, body: object, *, key: str | None = None, **kw: object) -> httpx.Response:
    headers = {"x-api-key": key if key is not None else deployment.key}
    return httpx.post(f"{deployment.gateway.base_url}/api/v1/events", json=body, headers=headers, **kw)


def test_documented_example_answers_the_documented_body(deployment: Deployment) -> None:
    before = alana_count(deployment)
    response = httpx.post(
        f"{deployment.gateway.base_url}/api/v1/events",
        content=(EXAMPLES / "alana_curl.json").read_bytes(),
        headers={"Content-Type": "application/json", "x-api-key": deployment.key},
    )
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "stored": 1, "errors": 0}
    assert alana_count(deployment) == before + 1


def test_key_in_query_parameter(deployment: Deployment) -> None:
    body = json.loads((EXAMPLES / "alana_request_format.json").read_text())
    response = httpx.post(
        f"{deployment.gateway.base_url}/api/v1/events", params={"key": deployment.key}, json=body
    )
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "stored": 2, "errors": 0}


def test_every_event_type_with_its_required_fields_is_stored(deployment: Deployment) -> None:
    before = alana_count(deployment)
    response = post(deployment, {"events": ALL_TYPES})
    assert response.json() == {"status": "ok", "stored": 7, "errors": 0}
    assert alana_count(deployment) == before + 7


@pytest.mark.parametrize(
    "event",
    [
        {"eventType": "search", "visitorId": "v"},
        {"eventType": "category-view", "visitorId": "v"},
        {"eventType": "detail-page-view", "visitorId": "v"},
        {"eventType": "add-to-cart", "visitorId": "v"},
        {"eventType": "purchase-complete", "visitorId": "v", "productIds": ["p"], "revenue": 1},
        {"eventType": "home-page-view"},
        {"eventType": "no-such-type", "visitorId": "v"},
        {"visitorId": "v"},
    ],
    ids=lambda e: f"{e.get('eventType', 'none')}-{len(e)}",
)
def test_an_invalid_event_is_counted_and_the_valid_ones_stored(deployment: Deployment, event: dict) -> None:
    assert rejected_between_two_valid(deployment, event)["reason"]


def rejected_between_two_valid(deployment: Deployment, event: object) -> dict:
    """Send `event` between two valid ones: partial success, answered in exactly the
    documented body, and the event's quarantine record."""
    before = alana_count(deployment)
    response = post(deployment, {"events": [ALL_TYPES[0], event, ALL_TYPES[1]]})
    assert response.status_code == 200
    # No `rejected` list over REST: strict JSON clients (Jackson's default) fail on an
    # undocumented key. gRPC callers get it (test_grpc_reports_which_events_failed).
    assert response.json() == {"status": "ok", "stored": 2, "errors": 1}
    assert alana_count(deployment) == before + 2
    exported = cli(deployment.database, "events", "export", "--format", "ndjson", "--rejected", "--api", "alana").stdout
    return json.loads(exported.splitlines()[-1])


@pytest.mark.parametrize(
    "event",
    [{"eventType": "search", "visitorId": 5, "query": "q"}, {"eventType": "search", "visitorId": "v", "query": []},
     {"eventType": "purchase-complete", "visitorId": "v", "productIds": "p1", "revenue": 1, "currency": "BRL"},
     {"eventType": "purchase-complete", "visitorId": "v", "productIds": ["p1"], "revenue": "abc", "currency": "BRL"},
     "not an object", 7],
    ids=["visitorId-number", "query-list", "productIds-string", "revenue-string", "string", "number"],
)
def test_an_event_with_a_value_of_the_wrong_json_type_fails_only_itself(deployment: Deployment, event: object) -> None:
    rejected = rejected_between_two_valid(deployment, event)
    assert rejected["reason"]
    assert rejected["payload"] == (event if isinstance(event, dict) else {"_sent": event})


@pytest.mark.parametrize("event_type", [2, "EVENT_TYPE_SEARCH", "Search", "bogus-type"])
def test_an_event_type_other_than_the_seven_documented_strings_fails_that_event(
    deployment: Deployment, event_type: object
) -> None:
    # "One of the 7 event types listed above": not the enum's number, nor its proto name.
    event = {"eventType": event_type, "visitorId": "v", "query": "q"}
    rejected = rejected_between_two_valid(deployment, event)
    # The same words as for a missing eventType: the documented choices, no proto names.
    assert rejected["reason"].startswith("eventType must be one of: ")
    assert "alana.v1" not in rejected["reason"]
    assert rejected["payload"] == event  # quarantined as sent


async def test_the_first_event_rejected_still_has_its_index(deployment: Deployment) -> None:
    # index 0 is a proto3 default: without presence it could not be told from "no index".
    request = pb.TrackEventsRequest(
        events=[pb.Event(visitor_id="g0"), pb.Event(event_type=pb.EVENT_TYPE_HOME_PAGE_VIEW, visitor_id="g0")]
    )
    async with channel(deployment.gateway.grpc_target) as ch:
        stub = pb_grpc.ShopperEventsServiceStub(ch)
        response = await stub.TrackEvents(request, metadata=(("x-api-key", deployment.key),))
    (rejected,) = response.rejected
    assert rejected.HasField("index") and rejected.index == 0 and rejected.field == "eventType"


def test_a_string_cut_inside_an_emoji_is_stored_with_a_replacement_character(deployment: Deployment) -> None:
    # What JSON.stringify sends for "camiseta 😀" cut after 10 UTF-16 units: valid JSON
    # with a lone surrogate escape. It used to fail the whole batch as invalid JSON.
    body = b'{"events": [{"eventType": "search", "visitorId": "cut-emoji", "query": "camiseta \\ud83d"}]}'
    response = httpx.post(
        f"{deployment.gateway.base_url}/api/v1/events", content=body,
        headers={"Content-Type": "application/json", "x-api-key": deployment.key},
    )
    assert response.json() == {"status": "ok", "stored": 1, "errors": 0}
    exported = cli(deployment.database, "events", "export", "--format", "ndjson", "--api", "alana").stdout
    (stored,) = [json.loads(line) for line in exported.splitlines() if "cut-emoji" in line]
    assert stored["payload"]["query"] == "camiseta \ufffd"


def test_an_event_nested_too_deep_to_write_back_fails_alone_not_with_a_500(deployment: Deployment) -> None:
    # 260 levels parse (orjson reads 1,024) but cannot be written back (orjson writes
    # 255): describing the bad event for its quarantine raised, and the batch got a 500.
    deep: object = "leaf"
    for _ in range(260):
        deep = {"d": deep}
    event = {"eventType": "home-page-view", "visitorId": "too-deep", "metadata": deep}
    response = post(deployment, {"events": [ALL_TYPES[0], event]})
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "stored": 1, "errors": 1}


def test_rejected_events_are_quarantined_with_the_reason(deployment: Deployment) -> None:
    post(deployment, {"events": [{"eventType": "search", "visitorId": "quarantine-me"}]})
    exported = cli(deployment.database, "events", "export", "--format", "ndjson", "--rejected", "--api", "alana").stdout
    records = [json.loads(line) for line in exported.splitlines() if "quarantine-me" in line]
    assert records and records[-1]["reason"]


def test_more_than_100_events_are_refused_whole(deployment: Deployment) -> None:
    before = alana_count(deployment)
    response = post(deployment, {"events": [ALL_TYPES[0]] * 101})
    assert 400 <= response.status_code < 500
    assert alana_count(deployment) == before


def test_exactly_100_events_are_accepted(deployment: Deployment) -> None:
    response = post(deployment, {"events": [ALL_TYPES[0]] * 100})
    assert response.json() == {"status": "ok", "stored": 100, "errors": 0}


@pytest.mark.parametrize("key", ["", "egk_nosuchkey_secret", "not-a-key"])
def test_missing_or_bad_key_is_401(deployment: Deployment, key: str) -> None:
    headers = {"x-api-key": key} if key else {}
    response = httpx.post(
        f"{deployment.gateway.base_url}/api/v1/events", json={"events": ALL_TYPES[:1]}, headers=headers
    )
    assert response.status_code == 401
    assert key not in response.text or not key


def test_malformed_json_is_400(deployment: Deployment) -> None:
    response = httpx.post(
        f"{deployment.gateway.base_url}/api/v1/events",
        content=b'{"events": [',
        headers={"x-api-key": deployment.key, "Content-Type": "application/json"},
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "content",
    [b"", b"null", b"{}", b'{"events": null}', b'{"event": [{"eventType": "home-page-view", "visitorId": "v"}]}'],
    ids=["empty", "null", "no-key", "null-events", "misspelt-key"],
)
def test_a_body_without_the_events_list_is_400_not_an_empty_success(deployment: Deployment, content: bytes) -> None:
    # A misspelt key used to answer {"status":"ok","stored":0}: the events were lost unseen.
    before = alana_count(deployment)
    response = httpx.post(
        f"{deployment.gateway.base_url}/api/v1/events",
        content=content,
        headers={"x-api-key": deployment.key, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == "error" and body["code"] == "invalid_request", body
    assert body["error"] in ("events: required field is missing", "request body is required"), body
    assert alana_count(deployment) == before


def test_an_empty_events_list_is_an_empty_success(deployment: Deployment) -> None:
    response = post(deployment, {"events": []})
    assert response.status_code == 200 and response.json() == {"status": "ok", "stored": 0, "errors": 0}


def test_events_are_attributed_to_the_keys_tenant(deployment: Deployment) -> None:
    before = alana_count(deployment, "globex")
    post(deployment, {"events": ALL_TYPES[:1]}, key=deployment.other_key)
    assert alana_count(deployment, "globex") == before + 1


async def test_concurrent_clients_stored_equals_acknowledged(deployment: Deployment) -> None:
    before = alana_count(deployment)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=deployment.gateway.base_url, limits=limits) as client:

        async def send(i: int) -> int:
            response = await client.post(
                "/api/v1/events",
                json={"events": [{"eventType": "home-page-view", "visitorId": f"c{i}-{j}"} for j in range(5)]},
                headers={"x-api-key": deployment.key},
            )
            return response.json()["stored"] if response.status_code == 200 else 0

        acknowledged = sum(await asyncio.gather(*(send(i) for i in range(200))))
    assert acknowledged > 0
    assert alana_count(deployment) == before + acknowledged


async def test_grpc_reports_which_events_failed(deployment: Deployment) -> None:
    before = alana_count(deployment)
    request = pb.TrackEventsRequest(
        events=[
            pb.Event(event_type=pb.EVENT_TYPE_SEARCH, visitor_id="g1", query="q"),
            pb.Event(event_type=pb.EVENT_TYPE_SEARCH, visitor_id="g1"),
            pb.Event(event_type=pb.EVENT_TYPE_UNSPECIFIED, visitor_id="g1"),
        ]
    )
    async with channel(deployment.gateway.grpc_target) as ch:
        stub = pb_grpc.ShopperEventsServiceStub(ch)
        response = await stub.TrackEvents(request, metadata=(("x-api-key", deployment.key),))
    assert (response.status, response.stored, response.errors) == ("ok", 1, 2)
    assert [r.index for r in response.rejected] == [1, 2]
    assert response.rejected[0].field == "query"  # relative to events[index]
    assert alana_count(deployment) == before + 1


async def test_grpc_without_key_is_unauthenticated(deployment: Deployment) -> None:
    async with channel(deployment.gateway.grpc_target) as ch:
        stub = pb_grpc.ShopperEventsServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.TrackEvents(pb.TrackEventsRequest(events=[pb.Event(event_type=1, visitor_id="v")]))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_grpc_batch_over_100_is_invalid_argument(deployment: Deployment) -> None:
    before = alana_count(deployment)
    events = [pb.Event(event_type=pb.EVENT_TYPE_HOME_PAGE_VIEW, visitor_id="v")] * 101
    async with channel(deployment.gateway.grpc_target) as ch:
        stub = pb_grpc.ShopperEventsServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.TrackEvents(pb.TrackEventsRequest(events=events), metadata=(("x-api-key", deployment.key),))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert alana_count(deployment) == before
