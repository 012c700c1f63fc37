"""The composed ASGI app: fixed routes, fall-through to the transcoder, CORS around all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from grpc_health.v1 import health, health_pb2

from event_gateway.config import CorsSettings, Settings
from event_gateway.contract import default_contract
from event_gateway.observability.metrics import Metrics
from event_gateway.web.app import gateway_web_app
from event_gateway.web.health import ReadinessCheck, set_not_serving, set_serving


async def _transcoder(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


def _client(
    checks: list[ReadinessCheck] = [], settings: Settings | None = None  # noqa: B006
) -> tuple[httpx.AsyncClient, Any, Metrics]:
    metrics = Metrics.create()
    app, readiness = gateway_web_app(
        _transcoder, default_contract(), settings or Settings(), metrics, checks
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
    return client, readiness, metrics


async def _ok() -> bool:
    return True


async def _down() -> bool:
    raise ConnectionError("refused")


async def _false() -> bool:
    return False


async def test_healthz_and_readyz() -> None:
    client, readiness, _ = _client([ReadinessCheck("database", _ok)])
    async with client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}
        readiness.start_draining()
        draining = await client.get("/readyz")
        assert draining.status_code == 503 and draining.json()["checks"]["shutdown"] == "draining"
        assert (await client.post("/healthz")).status_code == 405


async def test_readyz_reports_every_failing_check() -> None:
    checks = [ReadinessCheck("database", _down), ReadinessCheck("writer", _false),
              ReadinessCheck("redis", _ok)]
    client, _, _ = _client(checks)
    async with client:
        r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "unready", "checks": {
        "database": "error: ConnectionError", "writer": "failing", "redis": "ok"}}


async def test_metrics_endpoint() -> None:
    client, _, metrics = _client()
    metrics.observe_call("alana", "TrackEvents", "grpc", "OK", 0.002)
    async with client:
        r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'event_gateway_requests_total{api="alana"' in r.text


async def test_openapi_and_docs_are_served_locally() -> None:
    client, _, _ = _client()
    async with client:
        spec = await client.get("/openapi.json")
        page = await client.get("/docs")
        compat = await client.get("/docs/openapi.json")
        bundle = await client.get("/docs/static/swagger-ui-bundle.js")
        css = await client.get("/docs/static/swagger-ui.css")
        init = await client.get("/docs/static/docs-init.js")
        escape = await client.get("/docs/static/..%2F..%2F__init__.py")
    assert spec.json()["openapi"] == "3.1.0" and "/create-events" in spec.json()["paths"]
    assert compat.json()["openapi"] == "3.0.3"
    assert page.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert "javascript" in bundle.headers["content-type"]
    assert css.headers["content-type"].startswith("text/css")
    assert "/docs/openapi.json" in init.text
    assert escape.status_code == 404


async def test_everything_else_goes_to_the_transcoder_with_cors() -> None:
    # Keyed paths closed to browsers, so the two path groups tell apart.
    client, _, _ = _client(settings=Settings(cors=CorsSettings(origins=[])))
    async with client:
        r = await client.post("/api/v1/analytics/track", headers={"origin": "https://shop.example"})
        private = await client.post("/api/v1/events", headers={"origin": "https://shop.example"})
        preflight = await client.options("/api/v1/analytics/conversion", headers={
            "origin": "https://shop.example", "access-control-request-method": "POST"})
    assert (r.status_code, r.text) == (299, "/api/v1/analytics/track")
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in private.headers
    assert preflight.status_code == 204


async def test_by_default_every_path_answers_any_origin() -> None:
    client, _, _ = _client()
    async with client:
        private = await client.post("/api/v1/events", headers={"origin": "https://shop.example"})
    assert private.headers["access-control-allow-origin"] == "https://shop.example"


async def test_grpc_health_helpers() -> None:
    servicer = health.aio.HealthServicer()
    await set_serving(servicer, ["alana.v1.ShopperEventsService"])

    async def status(name: str) -> int:
        reply = await servicer.Check(health_pb2.HealthCheckRequest(service=name), None)
        return int(reply.status)

    assert await status("") == health_pb2.HealthCheckResponse.SERVING
    assert await status("alana.v1.ShopperEventsService") == health_pb2.HealthCheckResponse.SERVING
    await set_not_serving(servicer, ["alana.v1.ShopperEventsService"])
    assert await status("alana.v1.ShopperEventsService") == health_pb2.HealthCheckResponse.NOT_SERVING
    await set_serving(servicer, ["alana.v1.ShopperEventsService"])  # frozen after shutdown
    assert await status("") == health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
async def test_fixed_routes_refuse_post(path: str) -> None:
    client, _, _ = _client()
    async with client:
        assert (await client.post(path)).status_code == 405
