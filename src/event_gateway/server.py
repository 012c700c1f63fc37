"""One gateway process: the gRPC server and the REST app in one event loop.

Both transports share one interceptor chain and one set of servicers: gRPC calls reach
them through grpc.aio, REST calls through the transcoder's in-process dispatcher, which
runs the very same interceptors. Everything API-specific the transcoder needs (enum
spellings, success statuses, error dialects, credential query parameters, response
headers) is computed here from the contract and passed in as options.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import grpc
import uvicorn
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import status_pb2
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from event_gateway import dialects, errors, ingest
from event_gateway.config import Settings
from event_gateway.contract import (
    Contract,
    CredentialLocation,
    default_contract,
    enum_json_value,
    grpc_only,
    null_when_unset,
)
from event_gateway.ingest.common import UNDECODABLE_ELEMENTS_KEY, UNDECODABLE_FIELDS_KEY
from event_gateway.interceptors import build_interceptors
from event_gateway.interceptors.drain import DrainGate
from event_gateway.interceptors.resolved import ResolvedChain
from event_gateway.observability.access import AccessInterceptor
from event_gateway.observability.events import CountingWriter
from event_gateway.observability.logging import configure_logging
from event_gateway.observability.metrics import Metrics
from event_gateway.policy.auth import Authenticator
from event_gateway.policy.stores import MemoryStore, ThrottleStore
from event_gateway.policy.stores.redis import RedisStore
from event_gateway.policy.stores.redis import connect as connect_redis
from event_gateway.policy.throttle import Throttler
from event_gateway.storage.catalog import SqlCatalog
from event_gateway.storage.engine import create_engine, require_schema, writable
from event_gateway.storage.writer import GroupCommitWriter
from event_gateway.transcoding import (
    CodecOptions,
    ErrorRenderer,
    InProcessDispatcher,
    TranscodingApp,
    TranscodingOptions,
    default_renderer_for,
    routes_for_service,
    rpc_name,
)
from event_gateway.web.app import gateway_web_app
from event_gateway.web.health import Health, HealthServicer, ReadinessCheck, set_serving
from event_gateway.web.http_limits import HeadLimits, bounded_httptools
from event_gateway.workers import (
    BOOT_FAILED,
    graceful_shutdown,
    host_port,
    join_host_port,
    stop_when_orphaned,
)

logger = logging.getLogger("event_gateway.server")

# Response metadata that becomes REST response headers (rate-limit state, Retry-After).
RESPONSE_HEADERS = frozenset(
    {"x-ratelimit-limit", "x-ratelimit-remaining", "ratelimit", "ratelimit-policy", "retry-after"}
)


# How recent a successful commit must be to stand in for a failed readiness probe.
_RECENT_COMMIT_SECONDS = 2.0
# Readiness: unready for this long after a failed commit, and while a commit has been
# running this long (SQLite's wait for another writer's lock is 5 s).
_FAILED_COMMIT_SECONDS = 5.0
_STUCK_COMMIT_SECONDS = 5.0
# REST requests are refused unread while the write queue is at least this full.
_SHED_FRACTION = 0.9


def transcoding_options(contract: Contract, settings: Settings) -> TranscodingOptions:
    """The transcoder's behaviour for our APIs, derived from the contract."""

    def spec(method: MethodDescriptor) -> Any:
        return contract.method(rpc_name(method))

    def query_credentials(method: MethodDescriptor) -> Mapping[str, str]:
        found = spec(method)
        if found is None:
            return {}
        return {
            c.name: c.key
            for c in found.api.credentials
            if c.location == CredentialLocation.CREDENTIAL_LOCATION_QUERY
        }

    def success_status(method: MethodDescriptor) -> int:
        found = spec(method)
        return found.success_status if found is not None else 200

    def error_renderer(method: MethodDescriptor | None) -> ErrorRenderer:
        found = spec(method) if method is not None else None
        if found is not None:
            renderer = dialects.renderer_for(found.api.error_dialect)
            if renderer is not None:
                return renderer
        return default_renderer_for(method)

    codec = CodecOptions(
        enum_json_value=enum_json_value, omitted_field=grpc_only, null_when_unset=null_when_unset
    )

    def reading(method: MethodDescriptor) -> dialects.RequestReading:
        found = spec(method)
        return dialects.request_reading(found.api.error_dialect if found is not None else "")

    def request_codec(method: MethodDescriptor) -> CodecOptions:
        rules = reading(method)
        if not (rules.strict_enums or rules.clean_input or rules.arrays_as_structs):
            return codec
        return replace(
            codec,
            strict_enums=rules.strict_enums,
            clean_input=rules.clean_input,
            arrays_as_structs=rules.arrays_as_structs,
        )

    def batch_field(method: MethodDescriptor) -> str | None:
        if not reading(method).per_element:
            return None
        batches = [
            f.name
            for f in method.input_type.fields
            if f.is_repeated and f.message_type is not None and not f.message_type.GetOptions().map_entry
        ]
        return batches[0] if len(batches) == 1 else None

    header_credentials = {
        c.key
        for api in contract.apis
        for c in api.credentials
        if c.location == CredentialLocation.CREDENTIAL_LOCATION_HEADER
    }
    base = TranscodingOptions()
    return TranscodingOptions(
        codec=codec,
        request_codec=request_codec,
        body_required=lambda method: reading(method).body_required,
        form_bodies=lambda method: reading(method).form_bodies,
        max_body_bytes=settings.max_body_bytes,
        max_decompressed_bytes=settings.max_body_bytes,
        incoming_headers=base.incoming_headers | header_credentials,
        query_to_metadata=query_credentials,
        success_status=success_status,
        outgoing_headers=lambda key: key if key in RESPONSE_HEADERS else None,
        error_renderer=error_renderer,
        tolerant_elements=batch_field,
        required_fields=lambda method: _present(batch_field(method) if reading(method).batch_required else None),
        undecodable_elements_key=UNDECODABLE_ELEMENTS_KEY,
        # A beacon answers whatever it is sent: what it could read is kept, the rest
        # described, so it can echo its transaction id and quarantine the beacon. An API
        # that reports every field's problem at once hears of the unreadable ones so.
        tolerant_fields=lambda method: bool((found := spec(method)) and found.beacon)
        or reading(method).every_field,
        undecodable_fields_key=UNDECODABLE_FIELDS_KEY,
        # REST calls go through the same chain as gRPC ones, refused ones included: a
        # malformed body is authenticated and spends the caller's rate limits.
        dispatch_refusals=True,
    )


def _shedding(
    writer: GroupCommitWriter, settings: Settings, metrics: Metrics
) -> Callable[[], status_pb2.Status | None]:
    """REST admission: while the write queue is nearly full, refuse before reading the body.

    Under overload the queue stays full and nearly every request is refused anyway;
    decoding a 100-event body only to refuse it took the event loop from the commits
    and from /healthz (a black-box run at 1,000 connections: commits of 1.3 s, /healthz
    15 s, refusals after up to 25 s). Refused this way, a request costs its head alone.
    """
    shed_at = settings.writer.queue_rows * _SHED_FRACTION
    queue_full = errors.to_rpc_status(errors.ResourceExhausted(
        "the write queue is full; nothing was read or stored", reason="QUEUE_FULL",
        retry_after=float(settings.writer.retry_after),
    ))
    shed = metrics.requests_shed_total

    def admission() -> status_pb2.Status | None:
        if writer.queue_rows < shed_at:
            return None
        shed.inc()
        return queue_full

    return admission


def _present(name: str | None) -> tuple[str, ...]:
    return (name,) if name else ()


def throttle_store_for(settings: Settings, metrics: Metrics) -> tuple[ThrottleStore, Any]:
    """The configured throttle store, and the Redis client when limits live in Redis."""
    # The configuration made sure that "redis" comes with a URL (and is the default then).
    if settings.throttle.store == "memory" or settings.redis_url is None:
        return MemoryStore(), None
    client = connect_redis(settings.redis_url.get_secret_value())
    store = RedisStore(
        client,
        fail_open=settings.throttle.fail_open,
        on_unavailable=metrics.throttle_store_hook(settings.throttle.fail_open),
    )
    return store, client


@dataclass
class Gateway:
    """Everything one process runs, built but not yet listening."""

    settings: Settings
    contract: Contract
    grpc_server: grpc.aio.Server
    asgi_app: Callable[..., Any]
    readiness: Health
    health: health.aio.HealthServicer
    writer: GroupCommitWriter
    close_stores: Callable[[], Any]
    gate: DrainGate

    @property
    def service_names(self) -> list[str]:
        return [api.service.full_name for api in self.contract.apis]


async def build_gateway(
    settings: Settings, metrics: Metrics, *, policy: Sequence[grpc.aio.ServerInterceptor] | None = None
) -> Gateway:
    """The gateway's parts, wired. `policy` replaces the auth and throttle interceptors
    (see `build_interceptors`); no configuration or command line can set it."""
    contract = default_contract()
    engine = create_engine(settings.database.get_secret_value())
    writer = GroupCommitWriter(engine, settings.writer, observer=metrics.writer_observer())
    writer.start()
    catalog = SqlCatalog(engine, retry_after=settings.writer.retry_after)
    throttle_store, redis_client = throttle_store_for(settings, metrics)
    authenticator = Authenticator(
        catalog, failure_store=throttle_store, failure_rate=settings.throttle.auth_failures
    )
    throttler = Throttler(
        throttle_store, contract, overrides=settings.throttle.limits, refill=settings.throttle.refill
    )
    interceptors = build_interceptors(
        contract,
        authenticator,
        throttler,
        settings.trusted_proxies,
        extra_outer=[AccessInterceptor(contract, metrics)],
        policy=policy,
    )

    gate = DrainGate()
    grpc_server = grpc.aio.server(
        # Our interceptors choose handlers by method name alone (per-call work is in the
        # wrapped behaviours), so the chain is resolved once per method on both sides.
        # The gate is gRPC's alone: on shutdown it refuses calls not yet started.
        interceptors=[gate, ResolvedChain(interceptors)],
        options=_grpc_server_options(settings),
    )
    dispatcher = InProcessDispatcher(interceptors=interceptors, per_method_interceptors=True)
    counted = CountingWriter(writer, metrics)
    for add_to_server, servicer in ingest.build_servicers(counted, catalog, settings):
        add_to_server(servicer, grpc_server)
        add_to_server(servicer, dispatcher)

    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    names = [api.service.full_name for api in contract.apis]
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], grpc_server)

    routes = [route for api in contract.apis for route in routes_for_service(api.service)]
    options = replace(transcoding_options(contract, settings), admission=_shedding(writer, settings, metrics))
    transcoder = TranscodingApp(routes, dispatcher, options)

    async def database_ready() -> bool:
        try:
            await writable(engine)
        except errors.Unavailable:
            # On SQLite the probe cannot take the write lock while our own writer holds
            # it, which under load is much of the time; commits that keep succeeding
            # show the write path works. A failed last commit does not excuse the probe.
            if not writer.committed_within(_RECENT_COMMIT_SECONDS):
                raise
        return True

    async def writer_not_saturated() -> bool:
        # Saturated: a write of one more 100-event batch would be refused.
        return writer.queue_rows + 100 <= settings.writer.queue_rows

    async def commits_succeeding() -> bool:
        # The probe can succeed while commits fail: a full disk still grants SQLite's
        # lock, and a locked PostgreSQL table does not stop a SELECT.
        return not writer.in_trouble(failed_within=_FAILED_COMMIT_SECONDS, stuck_after=_STUCK_COMMIT_SECONDS)

    checks = [
        ReadinessCheck("database", database_ready),
        ReadinessCheck("writer", writer_not_saturated),
        ReadinessCheck("commits", commits_succeeding),
    ]
    if redis_client is not None and not settings.throttle.fail_open:
        # Failing open, the gateway serves through a Redis outage; every instance shares
        # that Redis, so counting it here would take them all out of rotation at once.
        # The outage shows in metrics (throttle store failures) instead.
        checks.append(ReadinessCheck("redis", redis_client.ping))
    asgi_app, readiness = gateway_web_app(transcoder, contract, settings, metrics, checks)

    async def close_stores() -> None:
        await throttle_store.aclose()
        await engine.dispose()

    return Gateway(
        settings, contract, grpc_server, asgi_app, readiness, health_servicer, writer, close_stores,
        gate,
    )


# Allocations of tracked objects between two collections of the youngest generation
# (CPython's default is 700). Each such collection walks every young object still
# alive, and under load that is mostly the in-flight requests' objects (64 requests'
# messages, dicts and coroutines), so at 700 the gateway walked them over and over:
# raising it to 50,000 cut CPU per REST request by 7.5% (17.5 us of 233, 8 paired
# rounds, 2026-12-02, AMD EPYC 2 vCPU) with the same peak RSS (107 MB). Objects freed
# by reference counting never wait for a collection; only cyclic garbage waits longer.
_GC_YOUNG_THRESHOLD = 50_000


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our loop: the gateway, not uvicorn, owns the signal handlers."""

    def capture_signals(self) -> Any:
        return nullcontext()


def _grpc_server_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.so_reuseport", 1),
        ("grpc.max_receive_message_length", settings.max_body_bytes),
        # Client keepalive pings, also between calls, as often as every 5 s. grpc-core's
        # server defaults (none between calls, at most one per 5 minutes) answer a
        # client that pings every 30 s while idle, a common setting, with GOAWAY
        # "too_many_pings", and the call that meets it fails UNAVAILABLE.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
        # A connection is closed (GOAWAY, then 30 s to finish its calls) after about
        # 30 minutes, so that long-lived clients spread over the workers of
        # `--workers N` and over replicas as they come and go, and so that a call that
        # never sends its request cannot hold memory for longer than that.
        ("grpc.max_connection_age_ms", 30 * 60_000),
        ("grpc.max_connection_age_grace_ms", 30_000),
    ]


async def run(
    settings: Settings,
    sockets: Sequence[socket.socket] = (),
    *,
    policy: Sequence[grpc.aio.ServerInterceptor] | None = None,
    on_serving: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully. `on_serving` is called
    once the gateway is built and its gRPC server started."""
    # First of all: a signal that comes while the gateway is being built must still stop
    # it (it then starts and at once drains, having accepted nothing).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics = Metrics.create()
    gateway = await build_gateway(settings, metrics, policy=policy)
    # Everything built so far lives as long as the process. A full garbage collection
    # walks every tracked object, ~120,000 of them once the contract, the stores and
    # grpc are loaded: 45-60 ms with the event loop stopped, which set the p99 latency
    # under load. Frozen, they are never walked again; collections see only what
    # requests create.
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    # Brackets kept for an IPv6 host: gRPC reads "::1:50051" as a domain name.
    gateway.grpc_server.add_insecure_port(join_host_port(*host_port(settings.grpc)))
    await gateway.grpc_server.start()
    await set_serving(gateway.health, ["", *gateway.service_names])
    if on_serving is not None:
        on_serving()

    http_host, http_port = host_port(settings.http)
    config = uvicorn.Config(
        gateway.asgi_app,
        host=http_host,
        port=http_port,
        http=bounded_httptools(HeadLimits()),
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        # uvicorn would otherwise rewrite the client address from X-Forwarded-For for
        # peers it trusts (127.0.0.1 by default), behind the gateway's back: the
        # trusted-proxy rule lives in one place, policy/client_address.py.
        proxy_headers=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=int(settings.shutdown_grace) or None,
    )
    http_server = _EmbeddedUvicorn(config)

    orphaned = None
    if sockets:  # a worker of `serve --workers N`: the supervisor gave it the HTTP socket
        orphaned = asyncio.create_task(stop_when_orphaned(stop))
    serving = asyncio.create_task(http_server.serve(sockets=list(sockets) or None))
    logger.info("event-gateway serving REST on %s and gRPC on %s", settings.http, settings.grpc)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
    await graceful_shutdown(
        gateway.grpc_server,
        http_server,
        gateway.writer,
        gateway.health,
        settings.shutdown_grace,
        http_serving=serving,
        readiness=gateway.readiness,
        service_names=["", *gateway.service_names],
        gate=gateway.gate,
    )
    if not serving.done():
        await serving
    if orphaned is not None:
        orphaned.cancel()
    await gateway.close_stores()


async def _require_schema(settings: Settings) -> None:
    # Before any worker starts: a PostgreSQL database never upgraded would answer
    # /readyz and then fail every write. (SQLite files are created with their tables.)
    engine = create_engine(settings.database.get_secret_value())
    try:
        await require_schema(engine)
    finally:
        await engine.dispose()


def run_worker(settings: Settings, sockets: Sequence[socket.socket] = ()) -> int:
    """Run one gateway process to completion; 0 after a clean shutdown."""
    import uvloop

    listener = configure_logging(settings)
    started = False

    def serving() -> None:
        nonlocal started
        started = True

    try:
        uvloop.run(run(settings, sockets, on_serving=serving))
    except Exception as exc:
        if not sockets or started:
            raise  # one process: `cli.main` explains it; a running worker: a crash
        logger.error("worker could not start: %s", exc, exc_info=exc)
        return BOOT_FAILED
    finally:
        listener.stop()
    return 0


def serve(settings: Settings) -> int:
    asyncio.run(_require_schema(settings))
    if settings.workers > 1:
        from event_gateway.workers import supervise

        # The supervisor's own lines (workers started, restarted, drained) in the same
        # format as the workers'.
        listener = configure_logging(settings)
        try:
            return supervise(settings, run_worker)
        finally:
            listener.stop()
    return run_worker(settings)
