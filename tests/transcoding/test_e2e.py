"""End to end over real sockets: httpx → uvicorn → TranscodingApp → (in-process | upstream
grpc.aio) → echo servicer, for every mapping feature, in both dispatch modes."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import orjson
import pytest
from grpc import aio

from echo_support import Recorder, compile_echo, make_servicer, start_grpc, start_http

from event_gateway.transcoding.asgi import TranscodingApp
from event_gateway.transcoding.options import DEFAULT_INCOMING_HEADERS, TranscodingOptions
from event_gateway.transcoding.dispatch import InProcessDispatcher, UpstreamDispatcher
from event_gateway.transcoding.errors import HttpResponse, RpcFailure, default_error_renderer
from event_gateway.transcoding.rules import routes_for_service

MAX_BODY = 4096
MAX_INFLATED = 16384


@pytest.fixture(scope="session")
def echo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    return compile_echo(tmp_path_factory.mktemp("echo_gen"))


def teapot_renderer(failure: RpcFailure) -> HttpResponse:
    body = orjson.dumps({"error": failure.status.message, "grpc": failure.status.code})
    return HttpResponse(418, [*failure.headers, ("content-type", "application/json")], body)


def options() -> TranscodingOptions:
    return TranscodingOptions(
        max_body_bytes=MAX_BODY,
        max_decompressed_bytes=MAX_INFLATED,
        incoming_headers=DEFAULT_INCOMING_HEADERS | {"x-custom", "connection"},
        query_to_metadata=lambda m: {"api_key": "api_key"},
        success_status=lambda m: {"Create": 201, "Remove": 204}.get(m.name, 200),
        outgoing_headers=lambda k: k if k.startswith("x-ratelimit") or k == "x-trace" else None,
        error_renderer=lambda m: teapot_renderer if m is not None and m.name == "Create"
        else default_error_renderer,
    )


@dataclass
class Gateway:
    client: httpx.AsyncClient
    recorder: Recorder
    grpc_port: int
    pb2: ModuleType
    mode: str


@pytest.fixture(params=["in_process", "upstream"])
async def gateway(request: pytest.FixtureRequest, echo: Any) -> AsyncIterator[Gateway]:
    pb2, pb2_grpc = echo
    recorder = Recorder()
    servicer = make_servicer(pb2, pb2_grpc)
    grpc_server, grpc_port = await start_grpc(servicer, pb2_grpc, [recorder])
    channel = None
    if request.param == "in_process":
        dispatcher: Any = InProcessDispatcher(interceptors=[recorder])
        pb2_grpc.add_EchoServicer_to_server(servicer, dispatcher)
    else:
        channel = aio.insecure_channel(f"127.0.0.1:{grpc_port}")
        dispatcher = UpstreamDispatcher(channel)
    routes = routes_for_service(pb2.DESCRIPTOR.services_by_name["Echo"])
    http = await start_http(TranscodingApp(routes, dispatcher, options()))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.port}") as client:
        yield Gateway(client, recorder, grpc_port, pb2, request.param)
    await http.stop()
    if channel is not None:
        await channel.close()
    await grpc_server.stop(None)


async def test_path_variable_and_body_star(gateway: Gateway) -> None:
    r = await gateway.client.post("/v1/echo/alice", json={"text": "hi", "tags": ["a", "b"]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    echoed = r.json()["request"]
    assert echoed == {"name": "alice", "text": "hi", "tags": ["a", "b"]}


async def test_path_wins_over_body_for_bound_field(gateway: Gateway) -> None:
    r = await gateway.client.post("/v1/echo/alice", json={"name": "mallory"})
    assert r.json()["request"]["name"] == "alice"


async def test_nested_path_variable_custom_verb_and_body_field(gateway: Gateway) -> None:
    r = await gateway.client.post("/v1/parents/p%201/items:shout", json={"name": "x", "count": 2})
    assert r.status_code == 200, r.text
    echoed = r.json()["request"]
    assert echoed["parent"] == {"id": "p 1"}
    assert echoed["item"] == {"name": "x", "count": 2}


async def test_double_wildcard_with_literal_after(gateway: Gateway) -> None:
    r = await gateway.client.get("/v1/files/a/b/c.txt/content")
    assert r.status_code == 200, r.text
    assert r.json()["request"]["path"] == "files/a/b/c.txt"


async def test_additional_binding_with_query_parameters(gateway: Gateway) -> None:
    query = ("text=hi%20there&tags=a&tags=b&color=GREEN&at=2024-01-02T03:04:05Z"
             "&parent.label=L&big=9007199254740993&unknown=ignored&item.count=3")
    r = await gateway.client.get(f"/v1/echo/bob?{query}")
    assert r.status_code == 200, r.text
    echoed = r.json()["request"]
    assert echoed["name"] == "bob"
    assert echoed["text"] == "hi there"
    assert echoed["tags"] == ["a", "b"]
    assert echoed["color"] == "GREEN"
    assert echoed["at"] == "2024-01-02T03:04:05Z"
    assert echoed["parent"] == {"label": "L"}
    assert echoed["big"] == "9007199254740993"
    assert echoed["item"] == {"count": 3}


async def test_query_parameter_bound_by_path_is_ignored(gateway: Gateway) -> None:
    r = await gateway.client.get("/v1/echo/bob?name=eve")
    assert r.json()["request"]["name"] == "bob"


async def test_top_level_array_body_and_response_body(gateway: Gateway) -> None:
    r = await gateway.client.post("/v1/batch", json=[{"name": "a"}, {"name": "b", "count": 3}])
    assert r.status_code == 200, r.text
    assert r.json() == [{"name": "a"}, {"name": "b", "count": 3}]


async def test_success_status_201_and_204(gateway: Gateway) -> None:
    created = await gateway.client.post("/v1/things", json={"name": "t"})
    assert created.status_code == 201
    assert created.json()["request"]["item"] == {"name": "t"}
    removed = await gateway.client.delete("/v1/things/t")
    assert removed.status_code == 204
    assert removed.content == b""
    assert "content-type" not in removed.headers


async def test_x_http_code_overrides_status_and_is_stripped(gateway: Gateway) -> None:
    r = await gateway.client.post("/v1/echo/a", json={"httpCode": 202})
    assert r.status_code == 202
    assert "x-http-code" not in r.headers


async def test_outgoing_headers_from_initial_and_trailing_metadata(gateway: Gateway) -> None:
    r = await gateway.client.post("/v1/echo/a", json={})
    assert r.headers["x-ratelimit-remaining"] == "9"
    assert r.headers["x-trace"] == "t1"


async def test_service_failure_renders_google_rpc_status(gateway: Gateway) -> None:
    r = await gateway.client.post("/v1/echo/a", json={"failCode": 5})
    assert r.status_code == 404
    assert r.headers["x-ratelimit-remaining"] == "9"
    body = r.json()
    assert body["code"] == 5
    assert body["message"] == "failed on purpose"
    assert body["details"] == [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": "ON_PURPOSE", "domain": "echo"}]


@pytest.mark.parametrize(("code", "http_status"), [(1, 499), (8, 429), (9, 400), (16, 401)])
async def test_grpc_codes_map_to_http(gateway: Gateway, code: int, http_status: int) -> None:
    r = await gateway.client.post("/v1/echo/a", json={"failCode": code})
    assert r.status_code == http_status


async def test_error_renderer_hook_styles_service_and_client_errors(gateway: Gateway) -> None:
    failed = await gateway.client.post("/v1/things", json={"name": "t"}, params={"failCode": 7})
    assert (failed.status_code, failed.json()) == (418, {"error": "failed on purpose", "grpc": 7})
    bad = await gateway.client.post("/v1/things", content=b"{", headers={"content-type": "application/json"})
    assert bad.status_code == 418 and bad.json()["grpc"] == 3


async def test_bad_field_is_400_with_request_relative_path(gateway: Gateway) -> None:
    r = await gateway.client.post("/v1/batch", json=[{"name": "a"}, {"count": "many"}])
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 3
    violation = body["details"][0]["fieldViolations"][0]
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert violation["field"] == "items[1].count"


async def test_bad_query_parameter_is_400_naming_the_parameter(gateway: Gateway) -> None:
    r = await gateway.client.get("/v1/echo/a?big=lots")
    assert r.status_code == 400
    assert r.json()["details"][0]["fieldViolations"][0]["field"] == "?big"


async def test_malformed_json_is_400(gateway: Gateway) -> None:
    r = await gateway.client.post("/v1/echo/a", content=b'{"text": ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["code"] == 3


async def test_unknown_route_is_404_and_wrong_method_405_with_allow(gateway: Gateway) -> None:
    missing = await gateway.client.get("/v2/nothing")
    assert missing.status_code == 404
    assert missing.json()["code"] == 5
    wrong = await gateway.client.put("/v1/echo/a", json={})
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST"


async def test_streaming_method_is_501(gateway: Gateway) -> None:
    r = await gateway.client.get("/v1/watch")
    assert r.status_code == 501


async def test_body_too_large_is_413(gateway: Gateway) -> None:
    big = orjson.dumps({"text": "x" * MAX_BODY})
    r = await gateway.client.post("/v1/echo/a", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: cut while streaming
        for _ in range(8):
            yield b" " * 1024

    streamed = await gateway.client.post("/v1/echo/a", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


async def test_gzip_body_and_gzip_bomb(gateway: Gateway) -> None:
    payload = orjson.dumps({"text": "zipped"})
    ok = await gateway.client.post("/v1/echo/a", content=gzip.compress(payload),
                                   headers={"content-type": "application/json", "content-encoding": "gzip"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["request"]["text"] == "zipped"
    bomb = gzip.compress(b"{" + b" " * (MAX_INFLATED * 4) + b"}")
    assert len(bomb) < MAX_BODY
    r = await gateway.client.post("/v1/echo/a", content=bomb,
                                  headers={"content-type": "application/json", "content-encoding": "gzip"})
    assert r.status_code == 413
    odd = await gateway.client.post("/v1/echo/a", content=payload,
                                    headers={"content-type": "application/json", "content-encoding": "br"})
    assert odd.status_code == 415


async def test_media_types(gateway: Gateway) -> None:
    beacon = await gateway.client.post("/v1/echo/a", content=b'{"text":"beacon"}',
                                       headers={"content-type": "text/plain;charset=UTF-8"})
    assert beacon.status_code == 200 and beacon.json()["request"]["text"] == "beacon"
    vendor = await gateway.client.post("/v1/echo/a", content=b'{"text":"v"}',
                                       headers={"content-type": "application/vnd.api+json"})
    assert vendor.status_code == 200
    xml = await gateway.client.post("/v1/echo/a", content=b"<a/>", headers={"content-type": "application/xml"})
    assert xml.status_code == 415
    empty = await gateway.client.post("/v1/echo/a", content=b"", headers={"content-type": "application/json"})
    assert empty.status_code == 200 and empty.json()["request"] == {"name": "a"}


async def test_headers_forwarded_as_metadata(gateway: Gateway) -> None:
    headers = {"authorization": "Bearer t", "x-request-id": "r-1", "user-agent": "probe/1",
               "x-custom": "c", "x-not-allowed": "no", "connection": "keep-alive"}
    r = await gateway.client.post("/v1/echo/a", json={}, headers=headers)
    metadata = r.json()["metadata"]
    assert metadata["authorization"] == "Bearer t"
    assert metadata["x-request-id"] == "r-1"
    assert metadata["x-custom"] == "c"
    assert "connection" not in metadata  # hop-by-hop, even when allow-listed
    # In proxy mode grpc-core owns user-agent; the client's travels as grpc-gateway names it.
    key = "user-agent" if gateway.mode == "in_process" else "grpcgateway-user-agent"
    assert metadata[key] == "probe/1"


async def test_query_credentials_become_metadata_not_fields(gateway: Gateway) -> None:
    r = await gateway.client.get("/v1/echo/a?api_key=s3cret&text=t")
    body = r.json()
    assert body["metadata"]["api_key"] == "s3cret"
    assert "apiKey" not in body["request"]
    assert body["request"]["text"] == "t"


async def test_interceptor_sees_identical_native_and_rest_calls(gateway: Gateway) -> None:
    pb2 = gateway.pb2
    metadata = (("authorization", "Bearer t"), ("x-request-id", "r-1"))
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        echo = channel.unary_unary("/echo.v1.Echo/Echo",
                                   request_serializer=pb2.EchoRequest.SerializeToString,
                                   response_deserializer=pb2.EchoResponse.FromString)
        await echo(pb2.EchoRequest(name="alice", text="hi", tags=["a"]), metadata=metadata)
    r = await gateway.client.post("/v1/echo/alice", json={"text": "hi", "tags": ["a"]},
                                  headers=dict(metadata))
    assert r.status_code == 200
    native, rest = gateway.recorder.calls[-2:]
    assert native.method == rest.method == "/echo.v1.Echo/Echo"
    for key, value in metadata:
        assert native.metadata[key] == rest.metadata[key] == value
    assert native.peer_host == rest.peer_host == "127.0.0.1"
    assert native.request == rest.request
