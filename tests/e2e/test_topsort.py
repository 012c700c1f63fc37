"""Topsort /v2/events end to end: Bearer auth, 204, ids make retries safe, 400 naming the field."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import grpc
import httpx
import pytest

from tests.e2e.conftest import Deployment
from tests.e2e.grpc_client import channel
from tests.e2e.harness import cli, count_events
from topsort.v2 import events_pb2 as pb
from topsort.v2 import events_pb2_grpc as pb_grpc

EXAMPLES = Path(__file__).parents[1] / "data" / "seed_examples"


def topsort_count(deployment: Deployment) -> int:
    return count_events(deployment.database, "--api", "topsort", "--tenant", "acme")


def post(deployment: Deployment, body: object, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token if token is not None else deployment.key}"}
    return httpx.post(f"{deployment.gateway.base_url}/v2/events", json=body, headers=headers)


def click(**changes: object) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "occurredAt": "2019-01-01T13:01:42-05:00",
        "opaqueUserId": "71303ce0-de89-496d-8270-6434589615e8",
        "placement": {"path": "/categories/dairy", "position": 1},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_documented_example_is_204_and_a_retry_stores_nothing_twice(deployment: Deployment) -> None:
    before = topsort_count(deployment)
    body = (EXAMPLES / "topsort_events.json").read_bytes()
    headers = {"Authorization": f"Bearer {deployment.key}", "Content-Type": "application/json"}
    first = httpx.post(f"{deployment.gateway.base_url}/v2/events", content=body, headers=headers)
    assert first.status_code == 204 and first.content == b""
    # RFC 9110 §8.6, over a real socket: no Content-Length (nor chunked framing) on a 204.
    assert "content-length" not in first.headers and "transfer-encoding" not in first.headers
    assert topsort_count(deployment) == before + 5
    retry = httpx.post(f"{deployment.gateway.base_url}/v2/events", content=body, headers=headers)
    assert retry.status_code == 204
    assert topsort_count(deployment) == before + 5


def test_the_fields_topsorts_own_clients_send_beyond_the_example_are_stored(deployment: Deployment) -> None:
    # topsort.js sends an organic click's entity (no resolvedBidId) and more placement
    # fields than the documented example; they used to be dropped as unknown fields.
    sent = click(
        entity={"type": "product", "id": "p_organic"},
        additionalAttribution={"type": "vendor", "id": "v_1"},
        placement={"path": "/search", "productId": "p_9", "categoryIds": ["c_1", "c_2"], "searchQuery": "milk"},
    )
    assert post(deployment, {"clicks": [sent]}).status_code == 204
    exported = cli(deployment.database, "events", "export", "--format", "ndjson", "--api", "topsort").stdout
    (stored,) = [json.loads(line)["payload"] for line in exported.splitlines() if sent["id"] in line]
    assert stored["entity"] == sent["entity"]
    assert stored["additionalAttribution"] == sent["additionalAttribution"]
    assert stored["placement"] == sent["placement"]


@pytest.mark.parametrize("token", ["", "egk_unknown_secret"])
def test_missing_or_bad_token_is_401(deployment: Deployment, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{deployment.gateway.base_url}/v2/events", json={"clicks": [click()]}, headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"clicks": [click(), click(id=None)]}, "clicks[1].id"),
        ({"clicks": [click(occurredAt=None)]}, "clicks[0].occurredAt"),
        ({"clicks": [click(occurredAt="yesterday")]}, "clicks[0].occurredAt"),
        ({"purchases": [{"id": "p1", "occurredAt": "2019-01-01T12:59:59-05:00", "opaqueUserId": "u", "items": [{"unitPrice": 1.0}]}]}, "purchases[0].items[0].productId"),
    ],
    ids=["no-id", "no-time", "bad-time", "item-without-product"],
)
def test_a_bad_event_is_400_naming_it_and_nothing_is_stored(deployment: Deployment, body: dict, field: str) -> None:
    before = topsort_count(deployment)
    response = post(deployment, body)
    assert response.status_code == 400
    assert field in response.text
    assert topsort_count(deployment) == before


async def test_grpc_report_events_counts_duplicates(deployment: Deployment) -> None:
    request = pb.ReportEventsRequest(
        pageviews=[pb.PageView(id=str(uuid.uuid4()), opaque_user_id="u", page=pb.Page(type="home", page_id="/"))]
    )
    request.pageviews[0].occurred_at.FromJsonString("2019-01-01T12:59:58-05:00")
    metadata = (("authorization", f"Bearer {deployment.key}"),)
    async with channel(deployment.gateway.grpc_target) as ch:
        stub = pb_grpc.TopsortEventsServiceStub(ch)
        first = await stub.ReportEvents(request, metadata=metadata)
        second = await stub.ReportEvents(request, metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ReportEvents(request, metadata=(("authorization", "Bearer nope"),))
    assert (first.stored, first.duplicates) == (1, 0)
    assert (second.stored, second.duplicates) == (0, 1)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
