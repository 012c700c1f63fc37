"""Standalone transcoding proxy: a descriptor set in, HTTP/JSON out, gRPC upstream.

Like Envoy's transcoder, it needs no generated code: the services and their
google.api.http rules come from a FileDescriptorSet (``protoc --include_imports
--descriptor_set_out`` or ``buf build -o``), and calls are forwarded to ``upstream``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

import grpc
import uvicorn
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor

from .asgi import TranscodingApp
from .dispatch import UpstreamDispatcher
from .options import TranscodingOptions
from .rules import Route, routes_for_files

logger = logging.getLogger(__name__)


def load_descriptor_set(path: str | Path) -> list[FileDescriptor]:
    """Every file of a FileDescriptorSet, in a pool of its own, dependencies first.

    Imports missing from the set (built without ``--include_imports``) are taken from the
    default pool when it has them (well-known types, google.api, google.rpc).
    """
    fds = descriptor_pb2.FileDescriptorSet.FromString(Path(path).read_bytes())
    protos = {file.name: file for file in fds.file}
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str) -> None:
        if name in added:
            return
        added.add(name)
        proto = protos.get(name)
        if proto is None:
            proto = descriptor_pb2.FileDescriptorProto()
            descriptor_pool.Default().FindFileByName(name).CopyToProto(proto)
        for dependency in proto.dependency:
            add(dependency)
        pool.Add(proto)

    for name in protos:
        add(name)
    return [pool.FindFileByName(name) for name in protos]


def routes_from_descriptor_set(path: str | Path) -> list[Route]:
    return routes_for_files(load_descriptor_set(path))


def build_standalone_app(
    routes: Iterable[Route], channel: grpc.aio.Channel, options: TranscodingOptions | None = None
) -> TranscodingApp:
    return TranscodingApp(routes, UpstreamDispatcher(channel), options)


async def run_standalone(
    descriptor_set_path: str | Path,
    upstream: str,
    http_host: str,
    http_port: int,
    options: TranscodingOptions | None = None,
) -> None:
    """Serve every http-annotated service in the set until cancelled or signalled.

    Run it on uvloop (``uvloop.run(run_standalone(...))``): the loop is the caller's,
    uvicorn's ``loop`` setting only applies when uvicorn creates the loop itself.
    """
    routes = routes_from_descriptor_set(descriptor_set_path)
    if not routes:
        raise ValueError(f"{descriptor_set_path}: no method has a google.api.http rule")
    for route in routes:
        logger.info("route %s %s → %s", route.http_method, route.template, route.rpc_name)
    channel = grpc.aio.insecure_channel(upstream)
    config = uvicorn.Config(
        build_standalone_app(routes, channel, options),
        host=http_host,
        port=http_port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
    )
    server = uvicorn.Server(config)
    try:
        await server.serve()
    except asyncio.CancelledError:
        # Cancelled by the caller (tests, an embedding supervisor): close the sockets.
        server.should_exit = True
        await server.shutdown()
        raise
    finally:
        await channel.close()
