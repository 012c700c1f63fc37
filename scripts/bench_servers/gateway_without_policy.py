"""The gateway without authentication and throttling: the other side of the policy-cost row.

Everything is the real gateway (`event_gateway.server.run`: uvicorn, grpc.aio, the
transcoder, scope/access/error interceptors, servicers, group-commit writer on SQLite)
except the auth and throttle interceptors. In their place one interceptor puts a fixed
principal (the bench tenant's key) into the call scope without checking anything, since
the servicers need a tenant. The difference between this server and `event-gateway
serve` under the same load is what verifying the key and charging the limits cost.

    python gateway_without_policy.py --http 127.0.0.1:8080 --grpc 127.0.0.1:50051 \\
        --database sqlite+aiosqlite:///gw.db --tenant bench --key-id KEYID
"""

from __future__ import annotations

import argparse
from typing import Any

import grpc
import uvloop

from event_gateway import scope
from event_gateway.config import load_settings
from event_gateway.interceptors._wrap import Behaviour, WrappingInterceptor
from event_gateway.observability.logging import configure_logging
from event_gateway.scope import Principal
from event_gateway.server import run


class KnownCaller(WrappingInterceptor):
    """Every call is `principal`'s: no credential is read, no limit is charged."""

    def __init__(self, principal: Principal) -> None:
        super().__init__()
        self._principal = principal

    def wrap(self, inner: Behaviour) -> Behaviour:
        principal = self._principal

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                scope.current_scope().principal = principal
            except LookupError:
                pass  # health, reflection: no scope
            return await inner(request, context)

        return behaviour


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--key-id", required=True)
    args = parser.parse_args()
    settings = load_settings({"http": args.http, "grpc": args.grpc, "database": args.database})
    principal = Principal(key_id=args.key_id, tenant=args.tenant, name="bench")
    listener = configure_logging(settings)
    try:
        uvloop.run(run(settings, policy=[KnownCaller(principal)]))
    finally:
        listener.stop()


if __name__ == "__main__":
    main()
