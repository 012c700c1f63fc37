"""Thin grpc.aio interceptors over `event_gateway.policy`, one per module."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc

from event_gateway.contract import Contract
from event_gateway.interceptors.auth import AuthInterceptor
from event_gateway.interceptors.errors import ErrorInterceptor
from event_gateway.interceptors.scope import ScopeInterceptor
from event_gateway.interceptors.throttle import ThrottleInterceptor
from event_gateway.policy.auth import Authenticator
from event_gateway.policy.client_address import TrustedProxies
from event_gateway.policy.throttle import Throttler

__all__ = [
    "AuthInterceptor",
    "ErrorInterceptor",
    "ScopeInterceptor",
    "ThrottleInterceptor",
    "build_interceptors",
]


def build_interceptors(
    contract: Contract,
    authenticator: Authenticator,
    throttler: Throttler,
    trusted_proxies: TrustedProxies | Iterable[str] = (),
    extra_outer: Sequence[grpc.aio.ServerInterceptor] = (),
    *,
    policy: Sequence[grpc.aio.ServerInterceptor] | None = None,
) -> list[grpc.aio.ServerInterceptor]:
    """The interceptor chain, outermost first, for `grpc.aio.server(interceptors=...)`.

    The order is the policy, so it lives here and nowhere else:
    - scope first: every later layer (and metrics/log in `extra_outer`) needs the
      method spec and the client's address, and the scope must outlive them all;
    - `extra_outer` (metrics, access log) outside errors, so they observe every
      call, refusals included, with its final status;
    - errors outside auth and throttle, so their refusals become proper statuses;
    - auth before throttle: a failed authentication never reaches the tenant's
      buckets, so it costs no quota (failed attempts have their own per-address
      limit inside the Authenticator), and per-key limits need the principal.

    `policy` replaces the auth and throttle pair; only scripts/bench does that, to
    measure what they cost beside a chain that knows the caller without checking.
    """
    if policy is None:
        policy = [AuthInterceptor(authenticator), ThrottleInterceptor(throttler)]
    return [ScopeInterceptor(contract, trusted_proxies), *extra_outer, ErrorInterceptor(), *policy]
