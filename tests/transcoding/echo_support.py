"""The echo test service: compiled at test time, its servicer, a recording interceptor, and
servers (grpc.aio and uvicorn) started on free ports in the running loop."""

from __future__ import annotations

import asyncio
import importlib
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc_tools
import uvicorn
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from grpc_status import rpc_status

from event_gateway.transcoding.context import peer_host

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INTERESTING_METADATA = ("authorization", "x-request-id", "user-agent", "api_key", "x-custom",
                        "connection", "referer", "x-forwarded-for", "grpcgateway-user-agent")


def compile_echo(out_dir: Path, descriptor_set: Path | None = None) -> tuple[ModuleType, ModuleType]:
    """Compile protos/echo.proto into out_dir (put on sys.path) and import it."""
    from grpc_tools import protoc

    includes = [
        f"-I{HERE / 'protos'}",
        f"-I{REPO / 'third_party' / 'googleapis'}",
        f"-I{Path(grpc_tools.__file__).parent / '_proto'}",
    ]
    args = ["protoc", *includes, f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    if descriptor_set is not None:
        args += ["--include_imports", f"--descriptor_set_out={descriptor_set}"]
    if protoc.main([*args, "echo.proto"]) != 0:
        raise RuntimeError("protoc failed on echo.proto")
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    return importlib.import_module("echo_pb2"), importlib.import_module("echo_pb2_grpc")


def make_servicer(pb2: ModuleType, pb2_grpc: ModuleType) -> Any:
    async def respond(request: Any, context: aio.ServicerContext) -> Any:
        initial = [("x-ratelimit-remaining", "9")]
        if request.http_code:
            initial.append(("x-http-code", str(request.http_code)))
        await context.send_initial_metadata(initial)
        context.set_trailing_metadata([("x-trace", "t1")])
        if request.fail_code:
            detail = any_pb2.Any()
            detail.Pack(error_details_pb2.ErrorInfo(reason="ON_PURPOSE", domain="echo"))
            status = status_pb2.Status(code=request.fail_code, message="failed on purpose",
                                       details=[detail])
            await context.abort_with_status(rpc_status.to_status(status))
        metadata = {k: v for k, v in context.invocation_metadata()
                    if k in INTERESTING_METADATA and isinstance(v, str)}
        return pb2.EchoResponse(request=request, metadata=metadata, peer=context.peer(),
                                items=request.items)

    class EchoServicer(pb2_grpc.EchoServicer):
        async def Echo(self, request: Any, context: Any) -> Any:
            return await respond(request, context)

        Files = Batch = Create = Remove = Echo

        async def Watch(self, request: Any, context: Any) -> Any:
            yield await respond(request, context)

    return EchoServicer()


@dataclass
class RecordedCall:
    method: str
    metadata: dict[str, str]
    peer_host: str
    request: Any


@dataclass
class Recorder(aio.ServerInterceptor):
    """Records what an interceptor sees of each call: method, metadata, peer, request."""

    calls: list[RecordedCall] = field(default_factory=list)

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        calls = self.calls

        async def behaviour(request: Any, context: Any) -> Any:
            metadata = {k: v for k, v in details.invocation_metadata if isinstance(v, str)}
            calls.append(RecordedCall(details.method, metadata, peer_host(context.peer()),
                                      type(request).FromString(request.SerializeToString())))
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


async def start_grpc(servicer: Any, pb2_grpc: ModuleType, interceptors: list[Any]) -> tuple[aio.Server, int]:
    server = aio.server(interceptors=interceptors)
    pb2_grpc.add_EchoServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@dataclass
class HttpServer:
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_http(app: Any) -> HttpServer:
    """uvicorn on a pre-bound free port, in this loop; returns once it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http="httptools", lifespan="off", log_level="warning",
                            access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:  # poll readiness; no fixed sleeps
        if task.done():
            task.result()
        await asyncio.sleep(0.001)
    return HttpServer(server, task, sock.getsockname()[1])
