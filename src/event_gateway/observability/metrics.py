"""Prometheus metrics: one `Metrics` object per process, passed in to whoever records.

Every series is named ``event_gateway_*``. Metric objects live in a registry owned by
the object, not in prometheus_client's global REGISTRY, so tests may build as many as
they like. In production build exactly one per process (`Metrics.create()` in
server.py): in multi-process mode a metric's value lives in a per-process file keyed by
its name and labels, and two live objects for the same series would overwrite each
other's numbers.

Multi-process mode (``serve --workers N``): the supervisor sets PROMETHEUS_MULTIPROC_DIR
to a fresh directory before any worker starts; prometheus_client reads that variable
when it is first imported, and each worker then writes its values there. /metrics
merges every worker's files with MultiProcessCollector (`render`), so any worker
answers for all of them. The queue gauge uses "livesum": the sum over live workers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from event_gateway.storage.writer import CommitStats

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "event_gateway"

# Request latency: REST and gRPC calls are milliseconds when healthy; the tail goes up to
# the writer's commit timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


@dataclass(eq=False)
class Metrics:
    registry: CollectorRegistry
    requests_total: Counter
    request_duration_seconds: Histogram
    events_total: Counter
    writer_queue_rows: Gauge
    writer_batch_rows: Histogram
    writer_commit_seconds: Histogram
    throttle_denials_total: Counter
    auth_failures_total: Counter
    throttle_store_errors_total: Counter
    requests_shed_total: Counter
    # Labelled children by label values: .labels() validates and locks on every call,
    # a dict hit does not (the access interceptor records on every request).
    _children: dict[tuple[Any, ...], tuple[Any, Any]] = field(default_factory=dict)
    _event_children: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Metrics:
        """Create the metric objects, registered in `registry` (a fresh one by default)."""
        reg = registry if registry is not None else CollectorRegistry(auto_describe=True)
        n = PREFIX
        return cls(
            registry=reg,
            requests_total=Counter(
                f"{n}_requests_total",
                "Calls answered, by API, method, transport (grpc|rest) and gRPC status code.",
                ["api", "method", "transport", "outcome"],
                registry=reg,
            ),
            request_duration_seconds=Histogram(
                f"{n}_request_duration_seconds",
                "Time from the call entering the interceptor chain to its answer.",
                ["api", "method", "transport"],
                buckets=LATENCY_BUCKETS,
                registry=reg,
            ),
            events_total=Counter(
                f"{n}_events_total",
                "Events handed to the writer, by API, event type and outcome "
                "(stored|rejected|duplicate).",
                ["api", "type", "outcome"],
                registry=reg,
            ),
            writer_queue_rows=Gauge(
                f"{n}_writer_queue_rows",
                "Rows accepted by the writer and not yet committed.",
                registry=reg,
                multiprocess_mode="livesum",
            ),
            writer_batch_rows=Histogram(
                f"{n}_writer_batch_rows",
                "Rows committed per transaction.",
                buckets=BATCH_BUCKETS,
                registry=reg,
            ),
            writer_commit_seconds=Histogram(
                f"{n}_writer_commit_seconds",
                "Duration of one group commit.",
                buckets=COMMIT_BUCKETS,
                registry=reg,
            ),
            throttle_denials_total=Counter(
                f"{n}_throttle_denials_total",
                "Calls refused by a rate limit, by API and limit name.",
                ["api", "limit"],
                registry=reg,
            ),
            auth_failures_total=Counter(
                f"{n}_auth_failures_total",
                "Calls refused by authentication, by API and reason.",
                ["api", "reason"],
                registry=reg,
            ),
            throttle_store_errors_total=Counter(
                f"{n}_throttle_store_errors_total",
                "Rate-limit store (Redis) failures, by what was done about them.",
                ["mode"],
                registry=reg,
            ),
            requests_shed_total=Counter(
                f"{n}_requests_shed_total",
                "REST requests refused before their body was read: the write queue was "
                "nearly full (overload).",
                registry=reg,
            ),
        )

    # --- recording ------------------------------------------------------------------

    def observe_call(
        self, api: str, method: str, transport: str, outcome: str, seconds: float
    ) -> None:
        key = (api, method, transport, outcome)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests_total.labels(api, method, transport, outcome),
                self.request_duration_seconds.labels(api, method, transport),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_events(self, api: str, event_type: str, outcome: str, count: int = 1) -> None:
        if count:
            key = (api, event_type, outcome)
            child = self._event_children.get(key)
            if child is None:
                child = self._event_children[key] = self.events_total.labels(
                    api, event_type or "unknown", outcome
                )
            child.inc(count)

    def throttle_denied(self, api: str, limit: str) -> None:
        self.throttle_denials_total.labels(api, limit).inc()

    def auth_failed(self, api: str, reason: str) -> None:
        self.auth_failures_total.labels(api, reason or "unknown").inc()

    def writer_observer(self) -> Callable[[CommitStats], None]:
        """The GroupCommitWriter's `observer`: queue depth, batch size, commit latency."""

        def observe(stats: CommitStats) -> None:
            # stats.queue_rows still includes the group just answered; what is left
            # waiting is the rest (otherwise an idle writer shows its last batch forever).
            self.writer_queue_rows.set(max(0, stats.queue_rows - stats.batch_rows))
            if stats.ok:
                self.writer_batch_rows.observe(stats.batch_rows)
            self.writer_commit_seconds.observe(stats.seconds)

        return observe

    def throttle_store_hook(self, fail_open: bool) -> Callable[[BaseException], None]:
        """The RedisStore's `on_unavailable`: counts outages by what the store did."""
        child = self.throttle_store_errors_total.labels("fail_open" if fail_open else "fail_closed")

        def on_unavailable(exc: BaseException) -> None:
            child.inc()

        return on_unavailable

    # --- exposition -----------------------------------------------------------------

    async def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type, for GET /metrics."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        # Reading every worker's files is file I/O: keep it off the event loop.
        return await asyncio.to_thread(_render_multiprocess, directory), CONTENT_TYPE_LATEST


def _render_multiprocess(directory: str) -> bytes:
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (the supervisor calls this when one exits)."""
    directory = multiprocess_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)
