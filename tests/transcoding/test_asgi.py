"""TranscodingApp in memory (httpx ASGITransport): engine failures and routing errors."""

from types import ModuleType
from typing import Any

import httpx
import orjson
import pytest
from google.rpc import status_pb2

from echo_support import compile_echo

from event_gateway.transcoding.asgi import TranscodingApp
from event_gateway.transcoding.options import TranscodingOptions
from event_gateway.transcoding.dispatch import CallOutcome, Refused
from event_gateway.transcoding.errors import HttpResponse, RpcFailure
from event_gateway.transcoding.rules import routes_for_service


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    return compile_echo(tmp_path_factory.mktemp("echo_asgi"))


class Fixed:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.calls: list[Any] = []

    async def call(self, method: str, request: Any, metadata: Any, peer: str) -> CallOutcome:
        self.calls.append((method, request, metadata, peer))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def client(echo: Any, dispatcher: Any, **options: Any) -> httpx.AsyncClient:
    routes = routes_for_service(echo[0].DESCRIPTOR.services_by_name["Echo"])
    app = TranscodingApp(routes, dispatcher, TranscodingOptions(**options))
    transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def styled(failure: RpcFailure) -> HttpResponse:
    return HttpResponse(422, failure.headers, orjson.dumps({"styled": failure.status.message}))


async def test_engine_exception_is_a_logged_generic_500(echo: Any, caplog: pytest.LogCaptureFixture) -> None:
    async with client(echo, Fixed(RuntimeError("db password in here"))) as c:
        r = await c.post("/v1/echo/a", json={})
    assert r.status_code == 500
    assert r.json() == {"code": 13, "message": "internal error", "details": []}
    assert "db password" in caplog.text


async def test_broken_renderer_falls_back_to_default(echo: Any) -> None:
    def broken(failure: RpcFailure) -> HttpResponse:
        raise KeyError("oops")

    async with client(echo, Fixed(None), error_renderer=lambda m: broken) as c:
        r = await c.post("/v1/echo/a", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == 3


async def test_routing_errors_use_the_route_style_when_the_path_is_known(echo: Any) -> None:
    def styled_keeping_status(failure: RpcFailure) -> HttpResponse:
        return HttpResponse(failure.http_status, failure.headers, orjson.dumps({"styled": 1}))

    async with client(echo, Fixed(None), error_renderer=lambda m: styled_keeping_status) as c:
        missing = await c.get("/nowhere")
        wrong = await c.patch("/v1/things/x")
        bad_escape = await c.get("/v1/echo/%FF")
    assert (missing.status_code, missing.json()["code"]) == (404, 5)
    # The path belongs to a route (DELETE): its renderer styles the 405.
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "DELETE")
    assert "styled" in wrong.json()
    assert bad_escape.status_code == 400 and "styled" not in bad_escape.json()


async def test_method_renderer_styles_client_errors(echo: Any) -> None:
    async with client(echo, Fixed(None), error_renderer=lambda m: styled) as c:
        r = await c.post("/v1/echo/a", content=b"<x/>", headers={"content-type": "application/xml"})
    assert r.status_code == 422 and "styled" in r.json()


async def test_peer_and_metadata_reach_the_dispatcher(echo: Any) -> None:
    pb2 = echo[0]
    dispatcher = Fixed(CallOutcome(pb2.EchoResponse(peer="x")))
    async with client(echo, dispatcher) as c:
        r = await c.get("/v1/echo/a?text=t", headers={"x-request-id": "id", "cookie": "no"})
    assert r.json() == {"peer": "x"}
    method, request, metadata, peer = dispatcher.calls[0]
    assert method == "/echo.v1.Echo/Echo"
    assert request == pb2.EchoRequest(name="a", text="t")
    assert ("x-request-id", "id") in metadata and all(k != "cookie" for k, _ in metadata)
    assert peer == "ipv4:10.0.0.7:4321"


async def test_response_body_of_unset_field(echo: Any) -> None:
    async with client(echo, Fixed(CallOutcome(echo[0].EchoResponse()))) as c:
        r = await c.post("/v1/batch", json=[])
    assert r.json() == []


async def test_lifespan_is_answered(echo: Any) -> None:
    routes = routes_for_service(echo[0].DESCRIPTOR.services_by_name["Echo"])
    app = TranscodingApp(routes, Fixed(None))
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Any] = []

    async def receive() -> Any:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_body_required_refuses_an_empty_body_instead_of_reading_an_empty_message(echo: Any) -> None:
    pb2 = echo[0]
    dispatcher = Fixed(CallOutcome(pb2.EchoResponse(peer="x")))
    async with client(echo, dispatcher, body_required=lambda method: True) as c:
        empty = await c.post("/v1/echo/a", content=b"")
    async with client(echo, dispatcher) as c:
        lenient = await c.post("/v1/echo/a", content=b"")
    assert empty.status_code == 400
    assert empty.json()["code"] == 3 and "request body is required" in empty.text
    assert lenient.status_code == 200 and len(dispatcher.calls) == 1


async def test_tolerant_elements_fail_only_the_elements_that_cannot_be_decoded(echo: Any) -> None:
    pb2 = echo[0]
    dispatcher = Fixed(CallOutcome(pb2.EchoResponse(peer="x")))
    body = {"text": "t", "items": [{"name": "a"}, {"name": 5}, "x", {"name": "d", "count": 2}]}
    key = "undecodable-bin"
    async with client(echo, dispatcher, tolerant_elements=lambda m: "items", undecodable_elements_key=key) as c:
        tolerant = await c.post("/v1/echo/n", json=body)
        other_field = await c.post("/v1/echo/n", json={**body, "text": 7})
        clean = await c.post("/v1/echo/n", json={"items": [{"name": "a"}]})
    async with client(echo, dispatcher) as c:
        strict = await c.post("/v1/echo/n", json=body)
    assert tolerant.status_code == 200
    _, request, metadata, _ = dispatcher.calls[0]
    # Every element keeps its index; the unreadable ones arrive empty, and are described.
    assert [(i.name, i.count) for i in request.items] == [("a", 0), ("", 0), ("", 0), ("d", 2)]
    assert (request.text, request.name) == ("t", "n")
    (described,) = [value for name, value in metadata if name == key]
    assert orjson.loads(described) == [
        {"index": 1, "path": "name", "reason": "type", "detail": "expected string, got number",
         "value": {"name": 5}},
        {"index": 2, "path": "", "reason": "type", "detail": "expected object, got string", "value": "x"},
    ]
    # Outside the list the usual rule holds: the whole request is refused.
    assert other_field.status_code == 400 and other_field.json()["details"][0]["fieldViolations"][0]["field"] == "text"
    # A readable request carries no description.
    assert clean.status_code == 200 and all(name != key for name, _ in dispatcher.calls[1][2])
    assert strict.status_code == 400 and len(dispatcher.calls) == 2


async def test_tolerant_elements_also_read_a_list_that_is_the_whole_body(echo: Any) -> None:
    # body: "items": the JSON body is the list itself.
    dispatcher = Fixed(CallOutcome(echo[0].EchoResponse()))
    key = "undecodable-bin"
    async with client(echo, dispatcher, tolerant_elements=lambda m: "items", undecodable_elements_key=key) as c:
        tolerant = await c.post("/v1/batch", json=[{"name": "a"}, {"count": "many"}])
        not_a_list = await c.post("/v1/batch", json={"name": "a"})
    assert tolerant.status_code == 200
    _, request, metadata, _ = dispatcher.calls[0]
    assert [(i.name, i.count) for i in request.items] == [("a", 0), ("", 0)]
    (described,) = [value for name, value in metadata if name == key]
    assert [(d["index"], d["path"], d["reason"]) for d in orjson.loads(described)] == [(1, "count", "invalid")]
    # A body that is no list is still refused whole.
    assert not_a_list.status_code == 400 and len(dispatcher.calls) == 1


async def test_required_fields_refuse_a_body_that_leaves_them_out(echo: Any) -> None:
    dispatcher = Fixed(CallOutcome(echo[0].EchoResponse()))
    async with client(echo, dispatcher, required_fields=lambda m: ("items",)) as c:
        absent = await c.post("/v1/echo/n", json={"itemz": [{"name": "a"}]})
        null = await c.post("/v1/echo/n", json={"items": None})
        empty = await c.post("/v1/echo/n", json={"items": []})
        sent = await c.post("/v1/echo/n", json={"items": [{"name": "a"}]})
    for refused in (absent, null):
        assert refused.status_code == 400
        (violation,) = refused.json()["details"][0]["fieldViolations"]
        assert violation["field"] == "items" and "missing" in violation["description"]
    # Present is enough, even empty: only leaving the key out is refused.
    assert empty.status_code == sent.status_code == 200 and len(dispatcher.calls) == 2


async def test_tolerant_fields_leave_out_only_the_top_level_values_that_cannot_be_decoded(echo: Any) -> None:
    dispatcher = Fixed(CallOutcome(echo[0].EchoResponse()))
    key = "fields-bin"
    body = {"text": 7, "big": "12", "item": {"name": "a", "count": "x"}, "tags": ["t"]}
    async with client(echo, dispatcher, tolerant_fields=lambda m: True, undecodable_fields_key=key) as c:
        tolerant = await c.post("/v1/echo/n", json=body)
        clean = await c.post("/v1/echo/n", json={"text": "t"})
        not_an_object = await c.post("/v1/echo/n", json=[1])
        not_json = await c.post("/v1/echo/n", content=b"{")
    async with client(echo, dispatcher) as c:
        strict = await c.post("/v1/echo/n", json=body)
    assert tolerant.status_code == clean.status_code == 200
    _, request, metadata, _ = dispatcher.calls[0]
    assert (request.name, request.text, request.big, list(request.tags), request.HasField("item")) == (
        "n", "", 12, ["t"], False)
    (described,) = [value for name, value in metadata if name == key]
    assert orjson.loads(described) == [
        {"index": -1, "path": "text", "reason": "type", "detail": "expected string, got number", "value": 7},
        {"index": -1, "path": "item.count", "reason": "invalid", "detail": "not an integer: 'x'",
         "value": {"name": "a", "count": "x"}},
    ]
    assert all(name != key for name, _ in dispatcher.calls[1][2])
    # The body itself unreadable, or not an object: refused whole, as without the option.
    assert not_an_object.status_code == not_json.status_code == strict.status_code == 400
    assert len(dispatcher.calls) == 2


async def test_admission_answers_before_the_body_is_read(echo: Any) -> None:
    dispatcher = Fixed(CallOutcome(echo[0].EchoResponse()))
    refusal: list[status_pb2.Status] = []
    async with client(echo, dispatcher, admission=lambda: refusal[0] if refusal else None,
                      error_renderer=lambda m: styled) as c:
        admitted = await c.post("/v1/echo/n", json={"text": "t"})
        refusal.append(status_pb2.Status(code=14, message="too busy"))
        # Not JSON at all: a read body would be a 400; unread, it is the admission's answer.
        refused = await c.post("/v1/echo/n", content=b"{not json")
    assert admitted.status_code == 200 and len(dispatcher.calls) == 1
    assert refused.status_code == 422 and refused.json() == {"styled": "too busy"}


async def test_form_bodies_are_read_as_json_objects_only_where_the_option_says(echo: Any) -> None:
    dispatcher = Fixed(CallOutcome(echo[0].EchoResponse()))
    form = {"text": "hi", "big": "12", "items[0][name]": "a", "items[0][count]": "2", "tags[]": "x"}
    async with client(echo, dispatcher, form_bodies=lambda m: True) as c:
        urlencoded = await c.post("/v1/echo/n", data=form)
        multipart = await c.post("/v1/echo/n", data=form, files={"ignored": ("f.txt", b"file")})
        wrong_type = await c.post("/v1/echo/n", data={"big": "lots"})
        malformed = await c.post("/v1/echo/n", content=b"text=%FF",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        # Only `body: "*"` routes read forms: a form cannot be one field's value.
        one_field = await c.post("/v1/things", data={"name": "a"})
    async with client(echo, dispatcher) as c:
        default = await c.post("/v1/echo/n", data=form)
    assert urlencoded.status_code == multipart.status_code == 200
    for _, request, _, _ in dispatcher.calls:
        assert (request.name, request.text, request.big, list(request.tags)) == ("n", "hi", 12, ["x"])
        assert [(i.name, i.count) for i in request.items] == [("a", 2)]
    assert wrong_type.status_code == 400
    assert wrong_type.json()["details"][0]["fieldViolations"][0]["field"] == "big"
    assert malformed.status_code == 400 and "UTF-8" in malformed.json()["message"]
    assert one_field.status_code == default.status_code == 415 and len(dispatcher.calls) == 2


@pytest.mark.parametrize("query", ["text=%FF", "api_key=egk_secret%c3%28", "unknown=%ff"])
async def test_a_query_value_that_is_not_utf8_is_400_without_the_value(echo: Any, query: str) -> None:
    dispatcher = Fixed(CallOutcome(echo[0].EchoResponse()))
    credentials = {"api_key": "x-api-key"}
    async with client(echo, dispatcher, query_to_metadata=lambda m: credentials) as c:
        r = await c.post(f"/v1/echo/a?{query}", json={})
    assert r.status_code == 400 and r.json()["code"] == 3
    assert "secret" not in r.text and dispatcher.calls == []


async def test_dispatch_refusals_hands_a_malformed_request_on_with_its_credentials(echo: Any) -> None:
    dispatcher = Fixed(CallOutcome(None, status_pb2.Status(code=16, message="who are you")))
    credentials = {"api_key": "x-api-key"}
    async with client(echo, dispatcher, dispatch_refusals=True, query_to_metadata=lambda m: credentials) as c:
        bad_body = await c.post("/v1/echo/a?api_key=k1", content=b"{nope",
                                headers={"content-type": "application/json", "user-agent": "t"})
        too_big = await c.post("/v1/echo/a", content=b"x" * (2 << 20),
                               headers={"content-type": "application/json"})
        not_json = await c.post("/v1/echo/a", content=b"<a/>", headers={"content-type": "application/xml"})
    # What the chain answered is the answer (here: the key was refused first).
    assert bad_body.status_code == 401 and bad_body.json()["message"] == "who are you"
    (_, request, metadata, _), = dispatcher.calls
    assert isinstance(request, Refused) and request.status.code == 3
    assert dict(metadata) == {"user-agent": "t", "x-api-key": "k1"}
    # Only malformed (400) requests are handed on; 413 and 415 are answered at once.
    assert too_big.status_code == 413 and not_json.status_code == 415 and len(dispatcher.calls) == 1


async def test_a_refused_query_keeps_its_decodable_credentials(echo: Any) -> None:
    # Found by a black-box run: `?key=K&x=%ff` was answered "API key required", since
    # the credential was lost with the query that could not be read.
    dispatcher = Fixed(CallOutcome(None, status_pb2.Status(code=3, message="refused")))
    credentials = {"api_key": "x-api-key"}
    async with client(echo, dispatcher, dispatch_refusals=True, query_to_metadata=lambda m: credentials) as c:
        await c.post("/v1/echo/a?api_key=k1&x=%ff&text=%ed%a0%80", json={})
        await c.post("/v1/echo/a?x=%ff&api_key=%ff", json={})
    (_, first, kept, _), (_, second, lost, _) = dispatcher.calls
    assert isinstance(first, Refused) and "?x" in first.status.message
    assert dict(kept).get("x-api-key") == "k1"
    assert isinstance(second, Refused) and "x-api-key" not in dict(lost)
