"""The throttling strategy: which buckets a call charges, and what the answer says.

Limits come from the contract (each method's LimitSpecs: the API's and its own),
replaced by configuration (`ThrottleSettings.limits[api][name]`) and then by the
caller's key (`Principal.limits[name]`). Each limit keeps one bucket per distinct
combination of its dimensions, named ``rl:<api>:<limit>:{<first value>}:<others>``:
a limit's name, not its method, picks the bucket, so methods declaring the same
limit share it (Laravel's named throttle groups), and the first dimension value is
the Redis hash tag, so one request's buckets sit in one cluster slot whenever its
limits lead with the same dimension (every documented API does).

The store charges all of a call's buckets or none (see stores/base.py).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from event_gateway import errors
from event_gateway.contract import (
    Contract,
    LimitDimension,
    LimitSpec,
    MethodSpec,
    check_limit_overrides,
)
from event_gateway.policy.rates import Rate, parse_rate
from event_gateway.policy.stores.base import BucketState, Check, Decision, ThrottleStore
from event_gateway.scope import Principal

_KEY = LimitDimension.LIMIT_DIMENSION_KEY
_CLIENT_IP = LimitDimension.LIMIT_DIMENSION_CLIENT_IP
_FIELD = LimitDimension.LIMIT_DIMENSION_FIELD
_DIMENSION_WORDS = {_KEY: "key", _CLIENT_IP: "client address", _FIELD: "field"}
# Values longer than this are hashed, so a client cannot grow keys with a huge field.
_MAX_VALUE_CHARS = 96
_UNSAFE = re.compile(r"[:{}%]")
_MAX_CHARGES = 10_000
# tuple.__new__ skips a NamedTuple's Python-level __new__ (see stores/memory.py).
_new = tuple.__new__
_ceil = math.ceil
# The decision for a method without limits: allowed, no bucket to report.
_UNLIMITED = Decision(True, ())


class LimitStatus(NamedTuple):
    """One limit's state after a call, for headers and errors."""

    name: str
    rate: Rate
    limit: int
    remaining: int
    reset_after: float
    exceeded: bool
    per: str = ""  # what the limit counts by, in words: "key and client address"


class ThrottleOutcome(NamedTuple):
    """The answer to one call: allowed or not, and every limit's state after it.

    Keeps the store's decision and the call's charge as they are; the per-limit
    `limits` view is built only when asked (errors, tests), since the allowed path
    only needs the headers. A NamedTuple, built with tuple.__new__ on every call.
    """

    api: str
    decision: Decision
    charge: _Charge | None = None

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def buckets(self) -> tuple[BucketState, ...]:
        return self.decision.buckets

    @property
    def retry_after(self) -> float:
        return self.decision.retry_after

    @property
    def degraded(self) -> bool:
        # The store was unreachable and failed open: the limits' state is unknown.
        return self.decision.degraded

    @property
    def limits(self) -> tuple[LimitStatus, ...]:
        charge = self.charge
        if charge is None:
            return ()
        return tuple(
            LimitStatus(limit.name, rate, b.limit, b.remaining, b.reset_after, b.exceeded, limit.per)
            for limit, rate, b in zip(charge.plan, charge.rates, self.decision.buckets)
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Response metadata the transcoder turns into headers.

        X-RateLimit-Limit/Remaining describe the most constrained limit, as Laravel
        does; RateLimit-Policy and RateLimit (IETF draft) list every limit.
        """
        decision, charge = self.decision, self.charge
        buckets = decision.buckets
        if not buckets or charge is None:
            return ()
        # One pass, a loop rather than min() and comprehensions: this runs on every
        # call, and each of those would be a function call of its own. Unpacking each
        # bucket once reads its fields faster than attribute lookups.
        least_limit, least = buckets[0].limit, buckets[0].remaining
        numbers: list[int] = []
        for limit, remaining, reset_after, _exceeded in buckets:
            if remaining < least or (remaining == least and limit < least_limit):
                least_limit, least = limit, remaining
            numbers += (remaining, _ceil(reset_after))
        out = (
            ("x-ratelimit-limit", str(least_limit)),
            ("x-ratelimit-remaining", str(least)),
            charge.policy,
            ("ratelimit", charge.ratelimit % tuple(numbers)),
        )
        if not decision.allowed:
            return (*out, ("retry-after", str(retry_after_seconds(decision.retry_after))))
        return out

    def error(self) -> errors.ResourceExhausted:
        exceeded = [s for s in self.limits if s.exceeded]
        return errors.ResourceExhausted(
            "Rate limit exceeded; retry later.",
            reason="RATE_LIMITED",
            retry_after=self.decision.retry_after,
            quota_violations=[
                (
                    f"{self.api}:{s.name}",
                    f"{s.rate.count} requests per {s.rate.period}s"
                    + (f" per {s.per}" if s.per else ""),
                )
                for s in exceeded
            ],
        )

    def raise_if_denied(self) -> None:
        if not self.decision.allowed:
            raise self.error()


def ratelimit_format(names: Iterable[str]) -> str:
    """The RateLimit value's %-format: each limit's remaining requests and seconds to
    full, as two %d; a % in a name stays itself."""
    return ", ".join([f'"{name.replace("%", "%%")}";r=%d;t=%d' for name in names])


def policy_header(quotas: Iterable[tuple[str, int, int]]) -> str:
    """The RateLimit-Policy value from each limit's (name, quota, window in seconds)."""
    return ", ".join([f'"{name}";q={quota};w={window}' for name, quota, window in quotas])


def retry_after_seconds(seconds: float) -> int:
    """Retry-After in whole seconds, rounded up: retrying early is always refused."""
    return max(1, math.ceil(seconds))


class _Charge(NamedTuple):
    plan: tuple[_Limit, ...]
    checks: list[Check]
    rates: tuple[Rate, ...]
    policy: tuple[str, str]  # the RateLimit-Policy item for these rates
    ratelimit: str  # the RateLimit value's format, see ratelimit_format


@dataclass(frozen=True, slots=True)
class _Limit:
    name: str
    rate: Rate  # the contract's rate, or configuration's
    by: tuple[int, ...]
    field: tuple[str, ...]  # dotted proto field path, split
    per: str  # the dimensions in words, for error details


class Throttler:
    def __init__(
        self,
        store: ThrottleStore,
        contract: Contract,
        *,
        overrides: Mapping[str, Mapping[str, str]] | None = None,
        refill: str = "window",
    ) -> None:
        """`overrides` is `ThrottleSettings.limits`: {api: {limit name: rate}};
        `refill` is `ThrottleSettings.refill` ("window" or "smooth", see stores/base.Check).

        Every rate is parsed here, so a bad value stops start-up instead of a request;
        an override naming no known limit is refused too, since it is surely a typo.
        """
        self._store = store
        if refill not in ("window", "smooth"):
            raise ValueError(f"refill must be 'window' or 'smooth', not {refill!r}")
        self._window = refill == "window"
        overrides = overrides or {}
        check_limit_overrides(contract, overrides)
        self._plans: dict[str, tuple[_Limit, ...]] = {
            name: tuple(_limit(spec, overrides.get(method.api.name, {})) for spec in method.limits)
            for name, method in contract.methods.items()
        }
        self._by_field = frozenset(
            name for name, plan in self._plans.items() if any(_FIELD in limit.by for limit in plan)
        )
        # Per-key override strings, parsed once each. Few distinct values exist
        # (they are set by operators), so this stays small.
        self._key_rates: dict[str, Rate] = {}
        # Each call's checks and rates, kept per (method, key, address) for plans that
        # do not count by a request field: building bucket names (escaping, formatting)
        # was a measurable share of a call. Cleared whole when it gets big, like the
        # catalogue's caches.
        self._charges: dict[tuple[str, str | None, str], tuple[Principal | None, _Charge]] = {}

    async def check(
        self,
        method: MethodSpec,
        *,
        principal: Principal | None,
        client_ip: str,
        request: Any,
    ) -> ThrottleOutcome:
        """Charge the call against every limit of its method, all or nothing."""
        name = method.full_name
        # Unless a limit counts by a request field, a call's checks and rates depend only
        # on (method, key, address) and the principal's overrides, so they are kept and
        # reused while the principal is the very same object (the Authenticator hands
        # out one per key record, a new one when the record changes).
        cache_key = (name, principal.key_id if principal is not None else None, client_ip)
        kept = self._charges.get(cache_key)
        if kept is not None and kept[0] is principal:
            charge = kept[1]
        else:
            charge = self._charge(method, principal, client_ip, request)
            if charge is None:
                return _new(ThrottleOutcome, (method.api.name, _UNLIMITED, None))
            if name not in self._by_field:
                if len(self._charges) >= _MAX_CHARGES:
                    self._charges.clear()
                self._charges[cache_key] = (principal, charge)
        decision = await self._store.acquire(charge.checks)
        return _new(ThrottleOutcome, (method.api.name, decision, charge))

    def _charge(
        self, method: MethodSpec, principal: Principal | None, client_ip: str, request: Any
    ) -> _Charge | None:
        """The call's checks, rates and header parts; None when its method has no limits."""
        plan = self._plans.get(method.full_name, ())
        if not plan:
            return None
        rates = tuple([self._rate(limit, principal) for limit in plan])
        checks = [
            Check(_bucket_key(method.api.name, limit, principal, client_ip, request), rate, 0, self._window)
            for limit, rate in zip(plan, rates)
        ]
        policy = policy_header(
            (limit.name, check.capacity, rate.period) for limit, rate, check in zip(plan, rates, checks)
        )
        labels = ratelimit_format(limit.name for limit in plan)
        return _Charge(plan, checks, rates, ("ratelimit-policy", policy), labels)

    def _rate(self, limit: _Limit, principal: Principal | None) -> Rate:
        if principal is None or limit.name not in principal.limits:
            return limit.rate
        text = principal.limits[limit.name]
        rate = self._key_rates.get(text)
        if rate is None:
            # A key's bad override is the operator's error, not the caller's: it
            # surfaces as INTERNAL (logged) rather than silently lifting the limit.
            rate = self._key_rates[text] = parse_rate(text)
        return rate


def _limit(spec: LimitSpec, overrides: Mapping[str, str]) -> _Limit:
    text = overrides.get(spec.name, spec.rate)
    try:
        rate = parse_rate(text)
    except ValueError as exc:
        raise ValueError(f"limit {spec.name!r}: {exc}") from exc
    if _FIELD in spec.by and not spec.field:
        raise ValueError(f"limit {spec.name!r} counts by a field but names none")
    words = [_DIMENSION_WORDS.get(d, "?") for d in spec.by]
    if spec.field:
        words = [f"field {spec.field}" if w == "field" else w for w in words]
    field = tuple(spec.field.split(".")) if spec.field else ()
    return _Limit(spec.name, rate, tuple(spec.by), field, " and ".join(words))


def _bucket_key(
    api: str, limit: _Limit, principal: Principal | None, client_ip: str, request: Any
) -> str:
    values = [_safe(_dimension(d, limit, principal, client_ip, request)) for d in limit.by]
    if not values:
        return f"rl:{api}:{limit.name}:{{{api}}}"
    return f"rl:{api}:{limit.name}:{{{values[0]}}}" + "".join(f":{v}" for v in values[1:])


def _dimension(
    dimension: int, limit: _Limit, principal: Principal | None, client_ip: str, request: Any
) -> str:
    if dimension == _CLIENT_IP:
        return client_ip
    if dimension == _KEY:
        # A KEY limit on a call without a key (a public API) falls back to the
        # address, as Laravel's `by($user?->id ?: $ip)`: never one shared bucket.
        return principal.key_id if principal is not None else f"ip={client_ip}"
    if dimension == _FIELD:
        return _field_value(request, limit.field)
    raise ValueError(f"limit {limit.name!r}: unsupported dimension {dimension}")


def _field_value(message: Any, path: Sequence[str]) -> str:
    value = message
    for part in path:
        value = getattr(value, part, "")
    return str(value)


def _safe(value: str) -> str:
    """A dimension value that cannot be confused with a separator or a hash tag."""
    if len(value) > _MAX_VALUE_CHARS:
        return "h=" + hashlib.sha256(value.encode()).hexdigest()[:32]
    if _UNSAFE.search(value):
        return (
            value.replace("%", "%25").replace(":", "%3A").replace("{", "%7B").replace("}", "%7D")
        )
    return value
