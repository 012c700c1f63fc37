"""GCRA: the Generic Cell Rate Algorithm, the arithmetic shared by every store.

A bucket is one number, its theoretical arrival time (TAT): the moment it would be
full again if nothing more arrived. A request costs one emission interval
T = period / count; it is admitted when the bucket's debt after paying stays within
the burst, ``max(tat, now) + T - now <= burst * T``. That admits exactly what a token
bucket of `burst` tokens refilled at `count / period` admits, with no refill process
and one stored value (brandur/redis-cell). A missing bucket is a full one, so a bucket
may be dropped as soon as `tat <= now` (that is what store TTLs rely on).

stores/redis.py's Lua script is a line-for-line copy of `evaluate`; keep them in step.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# Slack, in seconds, for float rounding: 60/7 * 7 must still fit a burst of 7.
EPSILON = 1e-6


class Verdict(NamedTuple):
    # A NamedTuple: built twice per limit per request, and a third of a frozen dataclass's cost.
    allowed: bool
    # The TAT to store when every check of the request is allowed.
    new_tat: float
    # Requests admitted right after this one is charged (when allowed).
    remaining: int
    # Seconds until the bucket is full again once this one is charged (when allowed).
    reset_after: float
    # Seconds until this request would be admitted; 0 when allowed.
    retry_after: float


# tuple.__new__ straight away: a NamedTuple's generated __new__ is a Python-level call
# that costs as much again, and this runs for every limit of every request.
_verdict = tuple.__new__


def evaluate(tat: float | None, now: float, interval: float, burst: int) -> Verdict:
    """Judge one request against one bucket, without changing anything."""
    # Work with the debt relative to now: small numbers keep float error small.
    debt = tat - now if tat is not None and tat > now else 0.0
    capacity = burst * interval
    after = debt + interval
    if after <= capacity + EPSILON:
        remaining = math.floor((capacity - after) / interval + EPSILON)
        return _verdict(Verdict, (True, now + after, remaining if remaining > 0 else 0, after, 0.0))
    # Denied means fewer than one request's worth of room is left: remaining is 0.
    return _verdict(Verdict, (False, now + debt, 0, debt, after - capacity))


def uncharged(verdict: Verdict, interval: float) -> tuple[int, float]:
    """(remaining, reset_after) of the bucket as it stands, when the request was not charged.

    An allowed verdict describes the bucket after paying one interval; undo that.
    """
    if not verdict.allowed:
        return verdict.remaining, verdict.reset_after
    return verdict.remaining + 1, max(verdict.reset_after - interval, 0.0)
