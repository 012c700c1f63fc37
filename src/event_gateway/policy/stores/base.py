"""The throttle store boundary: one atomic call judging every limit of a request.

Strategy apart from storage (as in `limits`): the Throttler decides *which* buckets a
call touches; a store only answers "may this request pass all of them?" and, if so,
charges all of them. Both parts of that answer happen atomically, so a denial consumes
nothing (unlike Envoy's local limiter, which keeps tokens taken before a later bucket
refuses) and concurrent callers can never slip past a limit together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from event_gateway.policy.rates import Rate


# Check and BucketState are NamedTuples, not frozen dataclasses: one of each per limit
# per request, and building a NamedTuple costs a third as much.


class Check(NamedTuple):
    """One bucket to charge: its key and its rate; the burst defaults to the rate's count.

    `window`: the bucket is refilled whole when the window its first request opened
    ends (policy/window.py), as the documented "N requests / 1 minute" limits read;
    otherwise continuously, one token every period/count seconds (policy/gcra.py).
    """

    key: str
    rate: Rate
    burst: int = 0
    window: bool = False

    @property
    def capacity(self) -> int:
        return self.burst or self.rate.count


class BucketState(NamedTuple):
    limit: int  # the burst: what a full bucket admits
    remaining: int  # admitted right after this request
    reset_after: float  # seconds until the bucket is full again
    exceeded: bool  # this bucket is (one of) the reason for a denial


class Decision(NamedTuple):
    # A NamedTuple like Check and BucketState: one per request, and a frozen
    # dataclass's __init__ (object.__setattr__ per field) costs several times more.
    allowed: bool
    # One per Check, in the order given; empty when `degraded`.
    buckets: tuple[BucketState, ...]
    # Seconds until the request would pass every check; 0 when allowed.
    retry_after: float = 0.0
    # The store could not be reached and the request was let through (fail open).
    degraded: bool = False

    @property
    def reset_after(self) -> float:
        return max((b.reset_after for b in self.buckets), default=0.0)


class ThrottleStore(Protocol):
    async def acquire(self, checks: Sequence[Check], *, consume: bool = True) -> Decision:
        """Judge one request against every check; charge them all only if all pass.

        `consume=False` only looks (used to refuse a client already over its
        failed-authentication limit before doing any work for it).
        """
        ...

    async def aclose(self) -> None: ...


# Called with the exception each time a store cannot be reached (for metrics).
UnavailableHook = Callable[[BaseException], None]

