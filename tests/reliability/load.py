"""Load that remembers what was acknowledged, for the durability tests.

Depict events go over REST and Topsort clicks over gRPC, each with a unique id, so
that after a crash the database can be checked id by id against the acknowledgements.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field

import grpc
import httpx

from tests.e2e.harness import cli
from topsort.v2 import events_pb2 as topsort_pb
from topsort.v2 import events_pb2_grpc as topsort_grpc


@dataclass
class Ledger:
    acknowledged: set[str] = field(default_factory=set)
    unacknowledged: set[str] = field(default_factory=set)  # sent, answer lost or refused
    requests: int = 0
    server_errors: int = 0  # 5xx other than 503, or gRPC INTERNAL/UNKNOWN
    acknowledged_requests: int = 0  # answered with success
    refused: int = 0  # answered with an honest refusal: 503/429, UNAVAILABLE/RESOURCE_EXHAUSTED
    no_answer: int = 0  # connection refused or reset, timeout: the outcome is unknown to the client

    def figures(self) -> dict[str, int]:
        """The request counts, for tests.reliability.figures.record."""
        return {
            "requests": self.requests,
            "acknowledged_requests": self.acknowledged_requests,
            "refused": self.refused,
            "no_answer": self.no_answer,
            "other_errors": self.requests
            - self.acknowledged_requests
            - self.refused
            - self.no_answer
            - self.server_errors,
            "server_errors": self.server_errors,
        }


def stored_ids(database: str) -> Counter[str]:
    """Each stored Depict deduplication_id / Topsort id, with how often it is stored."""
    ids: Counter[str] = Counter()
    for api, key in (("depict", "deduplication_id"), ("topsort", "id")):
        out = cli(database, "events", "export", "--format", "ndjson", "--api", api).stdout
        for line in out.splitlines():
            payload = json.loads(line)["payload"]
            if isinstance(payload, str):
                payload = json.loads(payload)
            ids[payload[key]] += 1
    return ids


def depict_batch(ids: list[str]) -> list[dict[str, str]]:
    return [{"tenant": "acme", "market": "se", "type": "page_view", "deduplication_id": i} for i in ids]


def topsort_clicks(ids: list[str]) -> topsort_pb.ReportEventsRequest:
    request = topsort_pb.ReportEventsRequest()
    for i in ids:
        click = request.clicks.add(id=i, opaque_user_id="u")
        click.placement.path = "/p"
        click.occurred_at.FromJsonString("2024-01-01T00:00:00Z")
    return request


async def rest_worker(base_url: str, key: str, ledger: Ledger, stop: asyncio.Event, batch: int = 5) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            ids = [f"r-{uuid.uuid4().hex}" for _ in range(batch)]
            ledger.requests += 1
            try:
                response = await client.post("/create-events", params={"api_key": key}, json=depict_batch(ids))
            except httpx.HTTPError:
                ledger.unacknowledged.update(ids)
                ledger.no_answer += 1
                await asyncio.sleep(0.05)
                continue
            if response.status_code == 200:
                ledger.acknowledged.update(ids)
                ledger.acknowledged_requests += 1
            else:
                ledger.unacknowledged.update(ids)
                if response.status_code >= 500 and response.status_code != 503:
                    ledger.server_errors += 1
                elif response.status_code in (429, 503):
                    ledger.refused += 1


async def grpc_worker(target: str, key: str, ledger: Ledger, stop: asyncio.Event, batch: int = 5) -> None:
    metadata = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = topsort_grpc.TopsortEventsServiceStub(channel)
        while not stop.is_set():
            ids = [f"g-{uuid.uuid4().hex}" for _ in range(batch)]
            ledger.requests += 1
            try:
                await stub.ReportEvents(topsort_clicks(ids), metadata=metadata, timeout=30)
            except grpc.aio.AioRpcError as error:
                ledger.unacknowledged.update(ids)
                if error.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    ledger.server_errors += 1
                elif error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    ledger.refused += 1
                else:  # UNAVAILABLE once the process is gone, DEADLINE_EXCEEDED: no answer
                    ledger.no_answer += 1
                await asyncio.sleep(0.05)
                continue
            ledger.acknowledged.update(ids)
            ledger.acknowledged_requests += 1


async def run_load(
    base_url: str, grpc_target: str, key: str, ledger: Ledger, stop: asyncio.Event, clients: int = 8
) -> None:
    workers = itertools.chain(
        (rest_worker(base_url, key, ledger, stop) for _ in range(clients // 2)),
        (grpc_worker(grpc_target, key, ledger, stop) for _ in range(clients - clients // 2)),
    )
    await asyncio.gather(*workers)


async def resend(base_url: str, grpc_target: str, key: str, ids: set[str]) -> None:
    """Retry every unacknowledged id once, as a client would, and require success."""
    rest_ids = sorted(i for i in ids if i.startswith("r-"))
    grpc_ids = sorted(i for i in ids if i.startswith("g-"))
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for start in range(0, len(rest_ids), 50):
            chunk = rest_ids[start : start + 50]
            response = await client.post("/create-events", params={"api_key": key}, json=depict_batch(chunk))
            assert response.status_code == 200, response.text
    async with grpc.aio.insecure_channel(grpc_target) as channel:
        stub = topsort_grpc.TopsortEventsServiceStub(channel)
        for start in range(0, len(grpc_ids), 50):
            chunk = grpc_ids[start : start + 50]
            await stub.ReportEvents(topsort_clicks(chunk), metadata=(("authorization", f"Bearer {key}"),))
