"""Depict create-events end to end: top-level array, api_key query, FastAPI errors, de-dup."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from depict.v1 import events_pb2 as pb
from depict.v1 import events_pb2_grpc as pb_grpc
from tests.e2e.conftest import Deployment
from tests.e2e.grpc_client import channel
from tests.e2e.harness import cli, count_events

EXAMPLES = Path(__file__).parents[1] / "data" / "seed_examples"


def depict_count(deployment: Deployment, tenant: str = "acme") -> int:
    return count_events(deployment.database, "--api", "depict", "--tenant", tenant)


def event(**changes: object) -> dict:
    body = {"tenant": "acme", "market": "se", "type": "page_view", "deduplication_id": uuid.uuid4().hex}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def post(deployment: Deployment, body: object, *, key: str | None = None, headers: dict | None = None) -> httpx.Response:
    params = {"api_key": key if key is not None else deployment.key}
    return httpx.post(f"{deployment.gateway.base_url}/create-events", params=params, json=body, headers=headers)


def test_documented_example_is_accepted(deployment: Deployment) -> None:
    before = depict_count(deployment)
    response = httpx.post(
        f"{deployment.gateway.base_url}/create-events",
        params={"api_key": deployment.key},
        content=(EXAMPLES / "depict_create_events.json").read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert depict_count(deployment) == before + 1


def test_retry_with_the_same_deduplication_id_is_stored_once(deployment: Deployment) -> None:
    before = depict_count(deployment)
    body = [event(deduplication_id="retry-me")]
    assert post(deployment, body).status_code == 200
    assert post(deployment, body).status_code == 200
    assert depict_count(deployment) == before + 1


def test_deduplication_is_scoped_to_the_tenant(deployment: Deployment) -> None:
    before = (depict_count(deployment), depict_count(deployment, "globex"))
    body = [event(deduplication_id="shared-id")]
    assert post(deployment, body).status_code == 200
    assert post(deployment, body, key=deployment.other_key).status_code == 200
    assert (depict_count(deployment), depict_count(deployment, "globex")) == (before[0] + 1, before[1] + 1)


def test_missing_api_key_is_fastapi_422(deployment: Deployment) -> None:
    response = httpx.post(f"{deployment.gateway.base_url}/create-events", json=[event()])
    assert response.status_code == 422
    assert {"loc": ["query", "api_key"], "msg": "Field required", "type": "missing"} in [
        {k: d[k] for k in ("loc", "msg", "type")} for d in response.json()["detail"]
    ]


def test_bad_api_key_is_401(deployment: Deployment) -> None:
    response = post(deployment, [event()], key="egk_unknown_secret")
    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.parametrize("missing", ["tenant", "market", "type"])
def test_missing_required_field_fails_the_request_with_its_location(deployment: Deployment, missing: str) -> None:
    before = depict_count(deployment)
    response = post(deployment, [event(), event(**{missing: None})])
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(d["loc"] == ["body", 1, missing] and d["type"] == "missing" for d in detail), detail
    assert depict_count(deployment) == before


@pytest.mark.parametrize("value", ["hover", "PAGE_VIEW", "EVENT_TYPE_PAGE_VIEW", 1, 99])
def test_invalid_type_is_pydantic_enum_error(deployment: Deployment, value: object) -> None:
    # pydantic checks the string against the Enum: the proto name and numbers are not values.
    before = depict_count(deployment)
    response = post(deployment, [event(type=value)])
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert (item["loc"], item["type"]) == (["body", 0, "type"], "enum")
    assert item["msg"].startswith("Input should be 'page_view', 'click'")
    assert depict_count(deployment) == before


def test_every_events_problems_are_listed_when_one_cannot_be_read(deployment: Deployment) -> None:
    # pydantic reports every error of the body; an unreadable value in one event (a
    # wrong enum, a number for a string) must not hide the other events' errors.
    before = depict_count(deployment)
    body = [event(market=None), event(tenant=None), event(type="bogus"), event(user_id=5), event()]
    response = post(deployment, body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["loc"], d["type"]) for d in detail] == [
        (["body", 0, "market"], "missing"),
        (["body", 1, "tenant"], "missing"),
        (["body", 2, "type"], "enum"),
        (["body", 3, "user_id"], "string_type"),
    ], detail
    assert detail[2]["msg"].startswith("Input should be 'page_view', 'click'")
    assert detail[3]["msg"] == "Input should be a valid string"
    assert depict_count(deployment) == before


def test_long_and_nul_deduplication_ids_are_stored_and_deduplicated(deployment: Deployment) -> None:
    # PostgreSQL's unique index refused a 2,700-character id (503 for ever, failing the
    # other callers of its group commit), and read "a\0b" as "a\ufffdb".
    before = depict_count(deployment)
    long_id = secrets.token_urlsafe(4000)  # random: PostgreSQL compresses a repetitive one
    nul_id, mended_id = f"n\u0000{long_id[-8:]}", f"n\ufffd{long_id[-8:]}"
    body = [event(deduplication_id=long_id), event(deduplication_id=nul_id), event(deduplication_id=mended_id)]
    first, retry = post(deployment, body), post(deployment, body)
    assert first.status_code == 200 and first.json() == {"stored": 3, "duplicates": 0}, first.text
    assert retry.status_code == 200 and retry.json() == {"stored": 0, "duplicates": 3}, retry.text
    assert depict_count(deployment) == before + 3


def test_body_that_is_not_an_array_is_422(deployment: Deployment) -> None:
    response = post(deployment, event())
    assert response.status_code == 422


def test_forwarded_headers_are_captured(deployment: Deployment) -> None:
    marker = uuid.uuid4().hex
    post(
        deployment,
        [event(deduplication_id=marker)],
        headers={
            "referer": "https://shop.example/p/1",
            "user-agent": "Mozilla/5.0 test-agent",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-host": "shop.example",
        },
    )
    lines = cli(deployment.database, "events", "export", "--format", "ndjson", "--api", "depict").stdout
    record = next(json.loads(l) for l in lines.splitlines() if marker in l)
    text = json.dumps(record)
    for value in ("https://shop.example/p/1", "Mozilla/5.0 test-agent", "203.0.113.7", "shop.example"):
        assert value in text


async def test_grpc_create_events_with_dedup(deployment: Deployment) -> None:
    before = depict_count(deployment)
    request = pb.CreateEventsRequest(
        events=[pb.Event(tenant="acme", market="se", type=pb.EVENT_TYPE_CLICK, deduplication_id="grpc-dedup")]
    )
    async with channel(deployment.gateway.grpc_target) as ch:
        stub = pb_grpc.DepictEventsServiceStub(ch)
        first = await stub.CreateEvents(request, metadata=(("api_key", deployment.key),))
        second = await stub.CreateEvents(request, metadata=(("api_key", deployment.key),))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateEvents(request)
    assert (first.stored, first.duplicates) == (1, 0)
    assert (second.stored, second.duplicates) == (0, 1)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert depict_count(deployment) == before + 1


@pytest.mark.parametrize("content", [b"", b"  ", b"null"], ids=["empty", "blank", "null"])
def test_missing_body_is_fastapi_422(deployment: Deployment, content: bytes) -> None:
    # FastAPI's required body parameter: absent or null is "Field required" at ["body"].
    response = httpx.post(f"{deployment.gateway.base_url}/create-events", params={"api_key": deployment.key},
                          headers={"content-type": "application/json"}, content=content)
    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body"], "msg": "Field required", "type": "missing"}]}


async def test_a_large_invalid_batch_is_invalid_argument_over_grpc_and_lists_all_over_rest(
    deployment: Deployment,
) -> None:
    # 300 events missing three fields each: 900 violations, far past the 8 KiB of
    # trailers a gRPC client accepts (it would report RESOURCE_EXHAUSTED, "retry later").
    events = [pb.Event(deduplication_id=f"bad-{i}") for i in range(300)]
    async with channel(deployment.gateway.grpc_target) as ch:
        stub = pb_grpc.DepictEventsServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateEvents(pb.CreateEventsRequest(events=events), metadata=(("api_key", deployment.key),))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    bad_request = next(_unpacked(status, error_details_pb2.BadRequest))
    kept = len(bad_request.field_violations)
    assert 0 < kept < 900
    assert [v.field for v in bad_request.field_violations[:3]] == [
        "events[0].tenant", "events[0].market", "events[0].type",
    ]
    assert f"(the first {kept} of 900 field violations are listed)" in status.message

    response = post(deployment, [{"deduplication_id": f"bad-{i}"} for i in range(300)])
    assert response.status_code == 422
    assert len(response.json()["detail"]) == 900


def _unpacked(status, kind):
    for detail in status.details:
        message = kind()
        if detail.Unpack(message):
            yield message
