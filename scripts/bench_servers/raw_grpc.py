"""The gRPC ceiling: a trivial grpc.aio unary handler in one uvloop process.

It serves the gateway's method name (/alana.v1.ShopperEventsService/TrackEvents) with
byte-passthrough serializers and answers a fixed, pre-encoded TrackEventsResponse: the
cost of grpc.aio itself, with no parsing, policy or storage.

    python raw_grpc.py --port 50051
"""

from __future__ import annotations

import argparse

import grpc
import uvloop

SERVICE = "alana.v1.ShopperEventsService"
# TrackEventsResponse{status: "ok", stored: 1, errors: 0}, encoded once.
RESPONSE = b"\n\x02ok\x10\x01\x18\x00"


async def track_events(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return RESPONSE


async def serve(host: str, port: int) -> None:
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(track_events)  # bytes in, bytes out
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"TrackEvents": handler}),)
    )
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
