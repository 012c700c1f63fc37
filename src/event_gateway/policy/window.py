"""A token bucket refilled whole at the end of each window: "100 requests / 1 minute".

The documented limits are windows (shopper events: "Per API key + IP | 100 requests |
1 minute"; the storefront's Laravel throttle groups count hits in a window that opens
at the first hit and lasts its decay time). Such a bucket holds `burst` tokens; the
first request after it was full opens a window of `period` seconds, every admitted
request takes a token, and when the window ends the bucket is full again (Bucket4j's
"intervally" refill, Envoy's local rate limit with tokens_per_fill = max_tokens). So at
most `burst` requests pass in any window, which is what the documents promise and what
their clients expect; GCRA (policy/gcra.py) refills a token every period/count seconds
instead and admits up to twice that in the first minute.

A bucket is (end of its window, tokens taken); a missing or ended one is full, so a
store may drop it when its window ends. stores/buckets.lua mirrors `evaluate`.
"""

from __future__ import annotations

from typing import NamedTuple

State = tuple[float, int]  # (the window's end, tokens taken in it)


class Verdict(NamedTuple):
    allowed: bool
    # The state to store when every check of the request is allowed.
    new_state: State
    # Requests admitted right after this one is charged (when allowed).
    remaining: int
    # Seconds until the bucket is full again once this one is charged (when allowed).
    reset_after: float
    # Seconds until this request would be admitted; 0 when allowed.
    retry_after: float


_verdict = tuple.__new__  # see gcra.py: this runs for every limit of every request


def evaluate(state: State | None, now: float, period: float, burst: int) -> Verdict:
    """Judge one request against one bucket, without changing anything."""
    if state is None or state[0] <= now:
        # A new window: its length is exactly the period ((now + period) - now may not be).
        end, taken, left = now + period, 0, float(period)
    else:
        end, taken = state
        left = end - now
    if taken < burst:
        return _verdict(Verdict, (True, (end, taken + 1), burst - taken - 1, left, 0.0))
    return _verdict(Verdict, (False, (end, taken), 0, left, left))


def uncharged(verdict: Verdict) -> tuple[int, float]:
    """(remaining, reset_after) of the bucket as it stands, when the request was not charged."""
    if not verdict.allowed:
        return verdict.remaining, verdict.reset_after
    # Allowed: undo the token. A bucket whose window this request would have opened is
    # full and has nothing to reset.
    taken = verdict.new_state[1] - 1
    return verdict.remaining + 1, verdict.reset_after if taken else 0.0
