"""The gateway's ASGI app: a few fixed routes, everything else to the transcoder.

Dispatch is one dict lookup on the exact path (plus one prefix test for /docs/), then
the transcoder; the whole app is wrapped in CORS. Starlette-style composition without
Starlette: each part is a plain ASGI callable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from event_gateway.web.cors import CorsMiddleware, CorsOptions
from event_gateway.web.docs import Docs
from event_gateway.web.health import Health, ReadinessCheck
from event_gateway.web.responses import ASGIApp, Receive, Scope, Send


class Router:
    def __init__(
        self, routes: Mapping[str, ASGIApp], fallback: ASGIApp, prefixes: Sequence[tuple[str, ASGIApp]] = ()
    ) -> None:
        self._routes = dict(routes)
        self._prefixes = tuple(prefixes)
        self._fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            app = self._routes.get(path)
            if app is None:
                for prefix, prefixed in self._prefixes:
                    if path.startswith(prefix):
                        app = prefixed
                        break
            if app is not None:
                await app(scope, receive, send)
                return
        await self._fallback(scope, receive, send)


def build_asgi_app(
    transcoder_app: ASGIApp,
    health: Health,
    metrics_endpoint: ASGIApp,
    openapi_doc: dict[str, Any],
    cors_options: CorsOptions,
) -> ASGIApp:
    docs = Docs(openapi_doc)
    routes: dict[str, ASGIApp] = {
        "/healthz": health.healthz,
        "/readyz": health.readyz,
        "/metrics": metrics_endpoint,
        "/openapi.json": docs.openapi,
        "/docs": docs.page,
        "/docs/": docs.page,
    }
    router = Router(routes, transcoder_app, prefixes=[("/docs/", docs.static)])
    return CorsMiddleware(router, cors_options)


def public_paths(contract: Any) -> list[str]:
    """REST paths of the contract's public APIs (no credentials): CORS's public group."""
    from event_gateway.web.openapi import http_bindings, openapi_path

    return [
        openapi_path(template)[0]
        for api in contract.apis
        if api.public
        for method in api.service.methods
        for _verb, template, _body in http_bindings(method)
    ]


def gateway_web_app(
    transcoder_app: ASGIApp,
    contract: Any,
    settings: Any,
    metrics: Any,
    checks: Iterable[ReadinessCheck] = (),
    version: str = "0.1.0",
) -> tuple[ASGIApp, Health]:
    """The whole web side from the gateway's parts; returns the app and its Health.

    Keep the Health: `graceful_shutdown` calls its `start_draining()` so /readyz turns
    503 as soon as shutdown begins.
    """
    from event_gateway.web.metrics import MetricsEndpoint
    from event_gateway.web.openapi import build_openapi

    health = Health(list(checks))
    app = build_asgi_app(
        transcoder_app,
        health,
        MetricsEndpoint(metrics),
        build_openapi(contract, "event-gateway", version),
        CorsOptions.from_settings(settings.cors, public_paths(contract)),
    )
    return app, health
