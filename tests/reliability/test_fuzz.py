"""Generated input over both transports: never a 5xx, never INTERNAL, never a hang.

schemathesis drives every operation of the gateway's own /openapi.json; hypothesis
sends arbitrary JSON to every REST path and arbitrary bytes to every gRPC method.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_gateway.contract import default_contract
from tests.e2e.conftest import new_database
from tests.e2e.harness import Gateway, count_events, create_key, create_tenant

REST_PATHS = ["/api/v1/events", "/api/v1/analytics/track", "/api/v1/analytics/conversion", "/api/v1/interactions", "/create-events", "/v2/events"]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, str]]:
    directory = tmp_path_factory.mktemp("fuzz")
    with new_database("sqlite", directory) as database:
        create_tenant(database, "acme", "acme-store", 1)
        key = create_key(database, "acme", "--limit", "per_key=1000000/minute", "--limit", "per_key_ip=1000000/minute")
        relaxed = '{"storefront": {"api": "1000000/minute", "tenant_aware": "1000000/minute"}}'
        gateway = Gateway(database, env={"EVENT_GATEWAY_THROTTLE__LIMITS": relaxed})
        gateway.start(directory)
        try:
            yield gateway, key
        finally:
            gateway.stop()


def test_openapi_operations_never_5xx(fuzz_target: tuple[Gateway, str], tmp_path: Path) -> None:
    """schemathesis, as a user runs it, over every operation of /openapi.json."""
    gateway, key = fuzz_target
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")), "run",
            f"{gateway.base_url}/openapi.json",
            "--checks", "not_a_server_error",
            "--max-examples", "60",
            "--header", f"x-api-key: {key}",
            "--header", f"Authorization: Bearer {key}",
            "--seed", "20261122",
            "--report-dir", str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "6 passed" in result.stdout or "passed" in result.stdout, result.stdout[-2000:]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "eventType": st.sampled_from(["search", "home-page-view", "purchase-complete", "x"]) | json_values,
        "visitorId": json_values,
        "tenant": json_values,
        "market": json_values,
        "type": st.sampled_from(["page_view", "view", "whatsapp_click"]) | json_values,
        "tenant_id": json_values,
        "id": json_values,
        "occurredAt": st.sampled_from(["2019-01-01T12:59:59-05:00", "bad"]) | json_values,
        "metadata": json_values,
    },
)
bodies = json_values | st.fixed_dictionaries({"events": st.lists(event_like, max_size=5)}) | st.lists(event_like, max_size=5) | event_like


@given(path=st.sampled_from(REST_PATHS), body=bodies)
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_json_never_5xx(fuzz_target: tuple[Gateway, str], path: str, body: object) -> None:
    gateway, key = fuzz_target
    response = httpx.post(
        f"{gateway.base_url}{path}",
        params={"api_key": key},
        json=body,
        headers={"x-api-key": key, "Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code < 500, (path, body, response.status_code, response.text[:200])


def grpc_methods() -> list[str]:
    return sorted(default_contract().methods)


@given(method=st.sampled_from(grpc_methods()), payload=st.binary(max_size=400))
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_protobuf_bytes_never_internal(fuzz_target: tuple[Gateway, str], method: str, payload: bytes) -> None:
    gateway, key = fuzz_target

    async def call() -> grpc.StatusCode:
        async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
            rpc = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            metadata = (("x-api-key", key), ("api_key", key), ("authorization", f"Bearer {key}"))
            try:
                await rpc(payload, metadata=metadata, timeout=30)
            except grpc.aio.AioRpcError as error:
                return error.code()
            return grpc.StatusCode.OK

    code = asyncio.run(call())
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED), (method, payload, code)


def test_fuzzing_left_the_server_healthy(fuzz_target: tuple[Gateway, str]) -> None:
    gateway, _ = fuzz_target
    assert httpx.get(f"{gateway.base_url}/readyz").status_code == 200
    assert count_events(gateway.database) >= 0
