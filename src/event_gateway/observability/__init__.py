"""Metrics, structured logging and the access interceptor (one concept per module)."""

from __future__ import annotations

from event_gateway.observability.access import TRANSPORT_METADATA, AccessInterceptor
from event_gateway.observability.events import CountingWriter
from event_gateway.observability.logging import configure_logging, redact, redact_url
from event_gateway.observability.metrics import Metrics

__all__ = [
    "TRANSPORT_METADATA",
    "AccessInterceptor",
    "CountingWriter",
    "Metrics",
    "configure_logging",
    "redact",
    "redact_url",
]
