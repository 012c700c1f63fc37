"""CORS: preflights and simple requests, per path group."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from event_gateway.config import CorsSettings
from event_gateway.web.cors import CorsMiddleware, CorsOptions

PUBLIC = "/api/v1/analytics/track"
PRIVATE = "/api/v1/events"


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 202,
                "headers": [(b"content-type", b"application/json"), (b"vary", b"Accept")]})
    await send({"type": "http.response.body", "body": b"{}"})


def _client(**settings: Any) -> httpx.AsyncClient:
    options = CorsOptions.from_settings(CorsSettings(**settings), [PUBLIC])
    transport = httpx.ASGITransport(app=CorsMiddleware(_inner, options))
    return httpx.AsyncClient(transport=transport, base_url="http://gw")


def _preflight(origin: str, method: str = "POST", headers: str = "content-type") -> dict[str, str]:
    return {"origin": origin, "access-control-request-method": method,
            "access-control-request-headers": headers}


async def test_public_preflight_allows_any_origin_and_echoes_allowed_headers() -> None:
    async with _client() as client:
        r = await client.options(PUBLIC, headers=_preflight("https://shop.example",
                                                             headers="Content-Type, X-Api-Key"))
    assert r.status_code == 204 and "content-length" not in r.headers
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-headers"] == "content-type, x-api-key"
    assert r.headers["access-control-max-age"] == "600"
    assert r.headers["vary"] == "Origin"
    assert r.headers["access-control-allow-credentials"] == "true"


async def test_keyed_paths_allow_any_origin_by_default() -> None:
    # Browser SDKs send keyed events from shops' pages, with the key in a header.
    async with _client() as client:
        r = await client.options(PRIVATE, headers=_preflight("https://shop.example",
                                                             headers="content-type, x-api-key"))
        simple = await client.post(PRIVATE, headers={"origin": "https://shop.example"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    assert r.headers["access-control-allow-headers"] == "content-type, x-api-key"
    assert simple.headers["access-control-allow-origin"] == "https://shop.example"


async def test_keyed_paths_can_allow_no_origin() -> None:
    async with _client(origins=[]) as client:
        r = await client.options(PRIVATE, headers=_preflight("https://shop.example"))
        simple = await client.post(PRIVATE, headers={"origin": "https://shop.example"})
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers
    assert simple.status_code == 202  # not blocked here: the browser withholds it
    assert "access-control-allow-origin" not in simple.headers
    assert "access-control-allow-credentials" not in simple.headers
    assert simple.headers["vary"] == "Accept, Origin"


async def test_configured_private_origins() -> None:
    async with _client(origins=["https://admin.example"], max_age=60) as client:
        ok = await client.options(PRIVATE, headers=_preflight("https://admin.example",
                                                              headers="authorization"))
        other = await client.options(PRIVATE, headers=_preflight("https://evil.example"))
    assert ok.status_code == 204 and ok.headers["access-control-max-age"] == "60"
    assert ok.headers["access-control-allow-headers"] == "authorization"
    assert other.status_code == 400


@pytest.mark.parametrize(
    "preflight",
    [_preflight("https://shop.example", method="DELETE"),
     # Not a header name (RFC 9110 token): never echoed into the answer.
     _preflight("https://shop.example", headers="content-type, x(y)"),
     _preflight("https://shop.example", headers="a b")],
)
async def test_preflight_refuses_other_methods_and_what_is_no_header_name(preflight: dict[str, str]) -> None:
    async with _client() as client:
        r = await client.options(PUBLIC, headers=preflight)
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers


async def test_preflight_allows_any_header_name_by_default() -> None:
    # SDKs add their own headers: topsort.js and @topsort/analytics send X-UA.
    requested = "authorization, content-type, x-ua, x-forwarded-host"
    async with _client() as client:
        r = await client.options("/v2/events", headers=_preflight("https://shop.example", headers=requested))
    assert r.status_code == 204 and r.headers["access-control-allow-headers"] == requested


async def test_configured_header_list_refuses_the_others() -> None:
    async with _client(allow_headers=["Content-Type", "X-Api-Key"]) as client:
        ok = await client.options(PRIVATE, headers=_preflight("https://shop.example", headers="x-api-key"))
        other = await client.options(PRIVATE, headers=_preflight("https://shop.example", headers="x-ua"))
    assert ok.status_code == 204 and other.status_code == 400


async def test_credentials_can_be_configured_off() -> None:
    async with _client(allow_credentials=False) as client:
        preflight = await client.options(PUBLIC, headers=_preflight("https://shop.example"))
        simple = await client.post(PUBLIC, headers={"origin": "https://shop.example"})
    assert preflight.status_code == 204 and simple.status_code == 202
    assert "access-control-allow-credentials" not in preflight.headers
    assert "access-control-allow-credentials" not in simple.headers
    assert simple.headers["access-control-allow-origin"] == "https://shop.example"


def test_a_configured_header_must_be_a_header_name() -> None:
    with pytest.raises(ValueError, match="not a header name"):
        CorsSettings(allow_headers=["x-ok", "bad name"])


async def test_restricted_public_origins() -> None:
    async with _client(public_origins=["https://shop.example"]) as client:
        ok = await client.post(PUBLIC, headers={"origin": "https://shop.example"})
        other = await client.post(PUBLIC, headers={"origin": "https://other.example"})
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in other.headers


async def test_simple_request_gets_origin_and_exposed_headers() -> None:
    async with _client() as client:
        r = await client.post(PUBLIC, headers={"origin": "https://shop.example"})
    assert r.status_code == 202
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    exposed = r.headers["access-control-expose-headers"].split(", ")
    assert {"retry-after", "www-authenticate", "allow"} <= set(exposed)
    # Beacons are sent with credentials: the browser reads (and sends) nothing without it.
    assert r.headers["access-control-allow-credentials"] == "true"


async def test_requests_without_origin_pass_untouched() -> None:
    async with _client() as client:
        r = await client.post(PUBLIC)
        plain_options = await client.options(PUBLIC)  # no preflight headers: the app's
    assert r.headers["vary"] == "Accept" and "access-control-allow-origin" not in r.headers
    assert plain_options.status_code == 202


async def test_preflight_allows_the_request_id_and_trace_context_headers() -> None:
    requested = "content-type, x-api-key, x-request-id, traceparent, tracestate, baggage, sentry-trace"
    async with _client() as client:
        r = await client.options(PRIVATE, headers=_preflight("https://shop.example", headers=requested))
    assert r.status_code == 204
    assert r.headers["access-control-allow-headers"] == requested
