"""Plain ASGI parts around the transcoder: health, metrics, OpenAPI + /docs, CORS."""

from __future__ import annotations

from event_gateway.web.app import Router, build_asgi_app, gateway_web_app, public_paths
from event_gateway.web.cors import CorsMiddleware, CorsOptions
from event_gateway.web.docs import Docs
from event_gateway.web.health import Health, ReadinessCheck, set_not_serving, set_serving
from event_gateway.web.metrics import MetricsEndpoint
from event_gateway.web.openapi import build_openapi

__all__ = [
    "CorsMiddleware",
    "CorsOptions",
    "Docs",
    "Health",
    "MetricsEndpoint",
    "ReadinessCheck",
    "Router",
    "build_asgi_app",
    "build_openapi",
    "gateway_web_app",
    "public_paths",
    "set_not_serving",
    "set_serving",
]
