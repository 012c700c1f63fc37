"""Soak: one gateway under a steady mixed load for a long time (only with --soak).

All four APIs, each over REST and over gRPC, from a paced generator (EVENT_GATEWAY_SOAK_RATE
requests/s in total, default 240, far below what the gateway serves; see
docs/performance.md) for EVENT_GATEWAY_SOAK_SECONDS (default 600). Every request carries
a unique tracer in every event (the API's own id where it has one: Depict
deduplication_id, Topsort id, storefront transaction_id; otherwise the shopper
visitorId or the storefront metadata), so the database can be checked event by event.

Checked: no 5xx and no INTERNAL/UNKNOWN (and no honest refusal either: the load is far
below capacity); every acknowledged event stored exactly once, nothing else stored, and
the per-API counts equal the acknowledged counts; the server's RSS, sampled every 5 s,
is flat (docs/reliability.md gives the rule and why).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import struct_pb2

from alana.v1 import shopper_events_pb2 as alana_pb
from alana.v1 import shopper_events_pb2_grpc as alana_grpc
from depict.v1 import events_pb2 as depict_pb
from depict.v1 import events_pb2_grpc as depict_grpc
from storefront.v1 import analytics_pb2 as storefront_pb
from storefront.v1 import analytics_pb2_grpc as storefront_grpc
from tests.e2e.conftest import new_database
from tests.e2e.harness import PYTHON, Gateway, cli, count_events, create_key, create_tenant
from tests.reliability.figures import record, stored_figures
from tests.reliability.load import Ledger, depict_batch, topsort_clicks
from topsort.v2 import events_pb2_grpc as topsort_grpc

SECONDS = float(os.environ.get("EVENT_GATEWAY_SOAK_SECONDS", "600"))
RATE = float(os.environ.get("EVENT_GATEWAY_SOAK_RATE", "240"))  # requests/s, all workers together
SAMPLE_EVERY = 5.0
APIS = ("alana", "storefront", "depict", "topsort")

pytestmark = [pytest.mark.soak, pytest.mark.timeout(SECONDS + 900)]


def tracer() -> str:
    return f"soak-{uuid.uuid4().hex}"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def flat_memory(samples: list[tuple[float, int]], duration: float) -> tuple[int, int, int]:
    """(reference, worst of the last third, allowed): reference is the RSS at the end of
    the first third; the last third may not exceed it by more than 10% + 10 MB."""
    first = [kib for t, kib in samples if t <= duration / 3]
    last = [kib for t, kib in samples if t >= 2 * duration / 3]
    assert first and last, f"too few RSS samples: {samples}"
    reference = first[-1]
    return reference, max(last), int(reference * 1.10) + 10 * 1024


class Soak:
    """The ledger of one soak run: what each request carried and how it was answered."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.no_answer_ids: set[str] = set()
        self.acknowledged_by_api: Counter[str] = Counter()
        self.requests_by_kind: Counter[str] = Counter()

    def ok(self, api: str, ids: list[str]) -> None:
        self.ledger.acknowledged.update(ids)
        self.ledger.acknowledged_requests += 1
        self.acknowledged_by_api[api] += len(ids)

    def http(self, api: str, ids: list[str], response: httpx.Response, success: int) -> None:
        if response.status_code == success:
            self.ok(api, ids)
            return
        self.ledger.unacknowledged.update(ids)
        if response.status_code in (429, 503):
            self.ledger.refused += 1
        elif response.status_code >= 500:
            self.ledger.server_errors += 1

    def rpc_error(self, ids: list[str], error: grpc.aio.AioRpcError) -> None:
        self.ledger.unacknowledged.update(ids)
        if error.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            self.ledger.server_errors += 1
        elif error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
            self.ledger.refused += 1
        elif error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            self.ledger.no_answer += 1
            self.no_answer_ids.update(ids)


Send = Callable[[], Awaitable[None]]


def senders(soak: Soak, rest: httpx.AsyncClient, channel: grpc.aio.Channel, key: str) -> dict[str, Send]:
    """One coroutine factory per (API, transport); each sends one request and books it."""
    shopper = alana_grpc.ShopperEventsServiceStub(channel)
    depict = depict_grpc.DepictEventsServiceStub(channel)
    storefront = storefront_grpc.StorefrontAnalyticsServiceStub(channel)
    topsort = topsort_grpc.TopsortEventsServiceStub(channel)
    storefront_turn = itertools.count()
    storefront_rpc_turn = itertools.count()

    async def guarded_http(api: str, ids: list[str], success: int, call: Awaitable[httpx.Response]) -> None:
        try:
            response = await call
        except httpx.HTTPError:
            soak.ledger.unacknowledged.update(ids)
            soak.ledger.no_answer += 1
            soak.no_answer_ids.update(ids)
            return
        soak.http(api, ids, response, success)

    async def guarded_rpc(api: str, ids: list[str], call: Awaitable[object], check: Callable[[object], bool]) -> None:
        try:
            answer = await call
        except grpc.aio.AioRpcError as error:
            soak.rpc_error(ids, error)
            return
        if check(answer):
            soak.ok(api, ids)
        else:
            soak.ledger.unacknowledged.update(ids)

    async def alana_rest() -> None:
        ids = [tracer(), tracer()]
        body = {"events": [{"eventType": "search", "visitorId": i, "query": "camiseta"} for i in ids]}
        await guarded_http("alana", ids, 200, rest.post("/api/v1/events", headers={"x-api-key": key}, json=body))

    async def alana_rpc() -> None:
        ids = [tracer(), tracer()]
        request = alana_pb.TrackEventsRequest(
            events=[alana_pb.Event(event_type=alana_pb.EVENT_TYPE_SEARCH, visitor_id=i, query="q") for i in ids]
        )
        call = shopper.TrackEvents(request, metadata=(("x-api-key", key),), timeout=30)
        await guarded_rpc("alana", ids, call, lambda r: r.stored == len(ids) and r.errors == 0)  # type: ignore[attr-defined]

    async def storefront_rest() -> None:
        ids = [tracer()]
        turn = next(storefront_turn) % 3
        if turn == 0:
            body: dict[str, object] = {"tenant_id": "acme", "type": "whatsapp_click", "product_id": 101, "metadata": {"trace": ids[0]}}
            await guarded_http("storefront", ids, 202, rest.post("/api/v1/analytics/track", json=body))
        elif turn == 1:
            body = {"tenant_slug": "acme-store", "transaction_id": ids[0], "value": 150.0, "currency": "HNL"}
            await guarded_http("storefront", ids, 200, rest.post("/api/v1/analytics/conversion", json=body))
        else:
            body = {"tenant_id": 1, "type": "view", "metadata": {"trace": ids[0]}}
            await guarded_http("storefront", ids, 201, rest.post("/api/v1/interactions", json=body))

    async def storefront_rpc() -> None:
        ids = [tracer()]
        turn = next(storefront_rpc_turn) % 3
        metadata = struct_pb2.Struct()
        metadata.update({"trace": ids[0]})
        call: Awaitable[object]
        if turn == 0:
            call = storefront.Track(
                storefront_pb.TrackRequest(
                    tenant_id="acme", type=storefront_pb.INTERACTION_TYPE_WHATSAPP_CLICK, product_id=101, metadata=metadata
                ),
                timeout=30,
            )
        elif turn == 1:
            call = storefront.Conversion(
                storefront_pb.ConversionRequest(tenant_slug="acme-store", transaction_id=ids[0], value=150.0, currency="HNL"),
                timeout=30,
            )
        else:
            call = storefront.RecordInteraction(
                storefront_pb.RecordInteractionRequest(
                    tenant_id=1, type=storefront_pb.INTERACTION_KIND_VIEW, metadata=metadata
                ),
                timeout=30,
            )
        await guarded_rpc("storefront", ids, call, lambda r: True)

    async def depict_rest() -> None:
        ids = [tracer() for _ in range(3)]
        call = rest.post("/create-events", params={"api_key": key}, json=depict_batch(ids))
        await guarded_http("depict", ids, 200, call)

    async def depict_rpc() -> None:
        ids = [tracer() for _ in range(3)]
        request = depict_pb.CreateEventsRequest(
            events=[
                depict_pb.Event(tenant="acme", market="se", type=depict_pb.EVENT_TYPE_PAGE_VIEW, deduplication_id=i)
                for i in ids
            ]
        )
        call = depict.CreateEvents(request, metadata=(("api_key", key),), timeout=30)
        await guarded_rpc("depict", ids, call, lambda r: r.stored == len(ids))  # type: ignore[attr-defined]

    async def topsort_rest() -> None:
        ids = [tracer() for _ in range(3)]
        body = {
            "clicks": [
                {"id": i, "occurredAt": "2024-01-01T00:00:00Z", "opaqueUserId": "u", "placement": {"path": "/p"}}
                for i in ids
            ]
        }
        call = rest.post("/v2/events", headers={"Authorization": f"Bearer {key}"}, json=body)
        await guarded_http("topsort", ids, 204, call)

    async def topsort_rpc() -> None:
        ids = [tracer() for _ in range(3)]
        call = topsort.ReportEvents(topsort_clicks(ids), metadata=(("authorization", f"Bearer {key}"),), timeout=30)
        await guarded_rpc("topsort", ids, call, lambda r: True)

    return {
        "alana/rest": alana_rest,
        "alana/grpc": alana_rpc,
        "storefront/rest": storefront_rest,
        "storefront/grpc": storefront_rpc,
        "depict/rest": depict_rest,
        "depict/grpc": depict_rpc,
        "topsort/rest": topsort_rest,
        "topsort/grpc": topsort_rpc,
    }


async def paced(kind: str, send: Send, soak: Soak, rate: float, until: float) -> None:
    """Send at a fixed rate; after a stall, resume the pace instead of bursting to catch up."""
    interval = 1.0 / rate
    due = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= until:
            return
        if due > now:
            await asyncio.sleep(due - now)
        soak.ledger.requests += 1
        soak.requests_by_kind[kind] += 1
        await send()
        due += interval
        if due < time.monotonic() - 1.0:
            due = time.monotonic()


async def sample_rss(pid: int, started: float, until: float, samples: list[tuple[float, int]]) -> None:
    while True:
        samples.append((time.monotonic() - started, rss_kib(pid)))
        if time.monotonic() + SAMPLE_EVERY > until:
            return
        await asyncio.sleep(SAMPLE_EVERY)


def trace_of(row: dict[str, object]) -> str | None:
    payload = row["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    assert isinstance(payload, dict)
    if row["api"] == "alana":
        return row["visitor_id"]  # type: ignore[return-value]
    if row["api"] == "depict":
        return payload.get("deduplication_id")
    if row["api"] == "topsort":
        return payload.get("id")
    if payload.get("transaction_id"):
        return payload["transaction_id"]  # type: ignore[no-any-return]
    metadata = payload.get("metadata") or {}
    return metadata.get("trace") if isinstance(metadata, dict) else None


def stored_traces(database: str) -> tuple[Counter[str], int]:
    """How often each tracer is stored, and how many rows carry none."""
    traces: Counter[str] = Counter()
    untraced = 0
    for api in APIS:
        out = subprocess.run(
            [PYTHON, "-m", "event_gateway", "events", "export", "--format", "ndjson", "--api", api, "--database", database],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        ).stdout
        for line in out.splitlines():
            trace = trace_of(json.loads(line))
            if trace is None:
                untraced += 1
            else:
                traces[trace] += 1
    return traces, untraced


async def test_soak_mixed_load_stores_everything_acknowledged_with_flat_memory(tmp_path: Path) -> None:
    with new_database("sqlite", tmp_path) as database:
        create_tenant(database, "acme", "acme-store", 1)
        cli(database, "products", "add", "--tenant", "acme", "101")
        key = create_key(database, "acme", "--limit", "per_key=1000000/minute", "--limit", "per_key_ip=1000000/minute")
        relaxed = '{"storefront": {"api": "1000000/minute", "tenant_aware": "1000000/minute"}}'
        gateway = Gateway(database, env={"EVENT_GATEWAY_THROTTLE__LIMITS": relaxed})
        gateway.start(tmp_path)
        assert gateway.process is not None
        pid = gateway.process.pid
        soak = Soak()
        samples: list[tuple[float, int]] = []
        try:
            limits = httpx.Limits(max_connections=16)
            async with (
                httpx.AsyncClient(base_url=gateway.base_url, timeout=30, limits=limits) as rest,
                grpc.aio.insecure_channel(gateway.grpc_target) as channel,
            ):
                kinds = senders(soak, rest, channel, key)
                started = time.monotonic()
                until = started + SECONDS
                await asyncio.gather(
                    sample_rss(pid, started, until, samples),
                    *(paced(kind, send, soak, RATE / len(kinds), until) for kind, send in kinds.items()),
                )
                elapsed = time.monotonic() - started
            assert gateway.process.poll() is None, f"the gateway died during the soak:\n{gateway.log()}"
        finally:
            exit_code = gateway.stop()
        assert exit_code == 0, gateway.log()

        traces, untraced = stored_traces(database)
        counts = {api: count_events(database, "--api", api) for api in APIS}
        ledger = soak.ledger
        acked = ledger.acknowledged
        unexpected = set(traces) - acked
        reference, worst, allowed = flat_memory(samples, SECONDS)
        rss = [kib for _, kib in samples]
        record(
            "soak",
            backend="sqlite",
            seconds=round(elapsed, 1),
            target_rate=RATE,
            achieved_rate=round(ledger.requests / elapsed, 1),
            **ledger.figures(),
            **stored_figures(acked, traces),
            stored_unacknowledged=len(unexpected),
            untraced_rows=untraced,
            rows_by_api=counts,
            acknowledged_by_api=dict(soak.acknowledged_by_api),
            requests_by_kind=dict(soak.requests_by_kind),
            rss_start_kib=rss[0],
            rss_reference_kib=reference,
            rss_last_third_max_kib=worst,
            rss_allowed_kib=allowed,
            rss_end_kib=rss[-1],
            rss_peak_kib=max(rss),
            rss_samples=len(rss),
        )

        assert ledger.server_errors == 0, "5xx or INTERNAL/UNKNOWN during the soak"
        assert ledger.refused == 0, "an honest refusal at a load far below capacity"
        assert ledger.figures()["other_errors"] == 0, "an unexpected answer (4xx or other gRPC code)"
        assert ledger.acknowledged_requests > 0
        missing = acked - set(traces)
        assert not missing, f"{len(missing)} acknowledged events lost"
        assert all(traces[i] == 1 for i in traces), "an event is stored twice"
        assert untraced == 0, "rows the soak did not send"
        # Only an event whose answer never arrived may be stored without acknowledgement.
        assert unexpected <= soak.no_answer_ids
        # By counts too, per API (the number the operator's `events count` gives).
        assert sum(counts.values()) == len(acked) + len(unexpected)
        if not unexpected:
            assert counts == {api: soak.acknowledged_by_api[api] for api in APIS}
        assert worst <= allowed, f"RSS grew: {reference} KiB at 1/3, up to {worst} KiB in the last third"
