"""GET /metrics: the Prometheus text exposition (all workers' when multi-process)."""

from __future__ import annotations

from event_gateway.observability.metrics import Metrics
from event_gateway.web.responses import Receive, Scope, Send, method_not_allowed, send_bytes


class MetricsEndpoint:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await method_not_allowed(send, "GET, HEAD")
            return
        body, content_type = await self._metrics.render()
        await send_bytes(send, 200, body, content_type)
