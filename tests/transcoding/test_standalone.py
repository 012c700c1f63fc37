"""The standalone proxy: a descriptor set, no generated code on the HTTP side."""

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from echo_support import compile_echo, make_servicer, start_grpc

from event_gateway.transcoding.standalone import load_descriptor_set, routes_from_descriptor_set, run_standalone


@pytest.fixture(scope="module")
def echo_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("echo_standalone")
    descriptor_set = out / "echo.pb"
    modules = compile_echo(out, descriptor_set)
    return modules, descriptor_set


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_descriptor_set_routes(echo_set: Any) -> None:
    _, path = echo_set
    names = {f.name for f in load_descriptor_set(path)}
    assert {"echo.proto", "google/api/http.proto"} <= names
    routes = routes_from_descriptor_set(path)
    assert {r.rpc_name for r in routes} >= {"/echo.v1.Echo/Echo", "/echo.v1.Echo/Batch"}


async def test_run_standalone_proxies_to_upstream(echo_set: Any) -> None:
    (pb2, pb2_grpc), path = echo_set
    grpc_server, grpc_port = await start_grpc(make_servicer(pb2, pb2_grpc), pb2_grpc, [])
    http_port = free_port()
    task = asyncio.ensure_future(run_standalone(path, f"127.0.0.1:{grpc_port}", "127.0.0.1", http_port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as client:
            while True:  # poll readiness
                if task.done():
                    task.result()
                try:
                    r = await client.post("/v1/batch", json=[{"name": "a", "color": "RED"}])
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.01)
            assert r.status_code == 200, r.text
            assert r.json() == [{"name": "a", "color": "RED"}]
            failed = await client.get("/v1/echo/a?failCode=5")
            assert failed.status_code == 404
            assert failed.json()["details"][0]["reason"] == "ON_PURPOSE"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await grpc_server.stop(None)
