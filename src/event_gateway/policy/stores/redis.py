"""Throttle store shared through Redis: every limit of a request in ONE round trip.

One Lua script (stores/buckets.lua) judges and charges all of a request's buckets
atomically, timed by Redis's own clock, run with EVALSHA through redis-py's
`register_script`. Bucket keys must share a hash tag (the Throttler's `rl:…:{tag}:…`)
because a script may only touch keys of one slot in a cluster.

When Redis cannot be reached the store either lets the request through (fail open,
the default, as Envoy's `failure_mode_deny=false`) or refuses it with
`errors.Unavailable`. Either way the event goes to the `on_unavailable` hook so the
operator sees it in metrics; the log says so at most once per `log_interval`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as redis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from event_gateway import errors
from event_gateway.policy.stores.base import BucketState, Check, Decision, UnavailableHook

logger = logging.getLogger(__name__)

_SCRIPT = resources.files(__package__).joinpath("buckets.lua").read_text()

# What "Redis cannot be reached" looks like. A ResponseError other than READONLY is a
# bug (a broken script, keys across slots) and must surface, not be waved through.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.ClusterDownError,
    asyncio.TimeoutError,
    OSError,
)


def connect(url: str, *, max_connections: int = 64) -> redis.Redis:
    """The client the store is meant to run on.

    A blocking pool: with redis-py's default pool, a burst above its size would raise a
    connection error and fail open, which is not an outage. One immediate retry on a
    dropped connection: after Redis restarts, every pooled connection is dead, and
    without it each would fail one request (fail open: let through uncounted; fail
    closed: refused) although Redis is back. The pool's own policy is what applies: a
    client built on a pool ignores the retry it is given.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=1,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis_errors.ConnectionError],
    )
    return redis.Redis(connection_pool=pool)


class RedisStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        fail_open: bool = True,
        timeout: float | None = 0.5,
        on_unavailable: UnavailableHook | None = None,
        log_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`timeout` bounds one acquire (seconds), so a hung Redis cannot hold requests.

        The client's own retry policy still applies inside it; give the client few
        retries, since a throttle answer that arrives late is worth little.
        """
        self._client = client
        self._script = client.register_script(_SCRIPT)
        self._fail_open = fail_open
        self._timeout = timeout
        self._on_unavailable = on_unavailable
        self._log_interval = log_interval
        self._clock = clock
        self._next_log = float("-inf")
        self._suppressed = 0

    async def acquire(self, checks: Sequence[Check], *, consume: bool = True) -> Decision:
        if not checks:
            return Decision(True, ())
        args: list[Any] = ["1" if consume else "0"]
        for check in checks:
            args.append(repr(check.rate.interval * 1_000_000))
            args.append(check.capacity)
            args.append(check.rate.period * 1_000_000 if check.window else 0)
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._script(keys=[c.key for c in checks], args=args)
        except _UNREACHABLE as exc:
            return self._unreachable(exc)
        states = tuple(
            BucketState(
                limit=check.capacity,
                remaining=int(raw[2 + 3 * i]),
                reset_after=int(raw[3 + 3 * i]) / 1_000_000,
                exceeded=bool(raw[4 + 3 * i]),
            )
            for i, check in enumerate(checks)
        )
        return Decision(bool(raw[0]), states, int(raw[1]) / 1_000_000)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _unreachable(self, exc: BaseException) -> Decision:
        if self._on_unavailable is not None:
            self._on_unavailable(exc)
        now = self._clock()
        if now >= self._next_log:
            # Once per interval: an outage must not turn into a log line per request.
            logger.warning(
                "rate-limit store unreachable (%s: %s); %s; %d similar failures not logged",
                type(exc).__name__,
                exc,
                "allowing requests (fail open)" if self._fail_open else "refusing requests",
                self._suppressed,
            )
            self._next_log = now + self._log_interval
            self._suppressed = 0
        else:
            self._suppressed += 1
        if self._fail_open:
            return Decision(True, (), degraded=True)
        raise errors.Unavailable(
            "The rate-limit store is unavailable; try again shortly.",
            reason="THROTTLE_STORE_UNAVAILABLE",
            retry_after=1.0,
        ) from exc
