"""What the interceptor chain learned about the call in progress.

The first interceptor resolves the method's spec and the client's address; the auth
interceptor adds the principal. Servicers read it with `current_scope()`. A context
variable carries it because gRPC's HandlerCallDetails cannot, and because the task that
runs the interceptors is the task that runs the servicer, for gRPC and in-process REST
calls alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

from event_gateway.contract import MethodSpec


@dataclass(frozen=True, slots=True)
class Principal:
    """The owner of a valid API key."""

    key_id: str
    tenant: str
    name: str = ""
    # Per-key limit overrides: limit name -> rate ("100/minute").
    limits: Mapping[str, str] = field(default_factory=dict)
    # APIs the key may call; empty means every API.
    apis: frozenset[str] = frozenset()


@dataclass(slots=True)
class CallScope:
    method: MethodSpec
    client_ip: str
    principal: Principal | None = None


_current: ContextVar[CallScope | None] = ContextVar("event_gateway_call_scope", default=None)


def current_scope() -> CallScope:
    scope = _current.get()
    if scope is None:
        raise LookupError("no call scope: the gateway's interceptors did not run for this call")
    return scope


def enter_scope(scope: CallScope) -> Token[CallScope | None]:
    return _current.set(scope)


def leave_scope(token: Token[CallScope | None]) -> None:
    _current.reset(token)
