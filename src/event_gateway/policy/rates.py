"""Rates as written in the contract and configuration: ``"100/minute"``, ``"10/s"``.

Parsed once, where limits are built, never on the request path. The grammar follows
the `limits` package (``"10/minute"``, ``"10 per minute"``, ``"10/5 minutes"``) so
operators can copy values between the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_UNITS: dict[str, int] = {
    "s": 1, "sec": 1, "second": 1,
    "m": 60, "min": 60, "minute": 60,
    "h": 3600, "hr": 3600, "hour": 3600,
    "d": 86_400, "day": 86_400,
}  # fmt: skip

_RATE = re.compile(
    r"^\s*(?P<count>\d+)\s*(?:/|\s+per\s+)\s*(?P<multiple>\d+)?\s*(?P<unit>[a-z]+?)s?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` requests per `period` seconds; also the burst a fresh bucket admits."""

    count: int
    period: int
    # Seconds between two requests at the steady rate (GCRA's emission interval);
    # derived once here, since every check of every request reads it.
    interval: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Not an assert: configuration must be refused even under `python -O`.
        if self.count < 1 or self.period < 1:
            raise ValueError(f"a rate needs a positive count and period, got {self!r}")
        object.__setattr__(self, "interval", self.period / self.count)

    def __str__(self) -> str:
        return f"{self.count}/{self.period}s"


def parse_rate(text: str) -> Rate:
    """``"100/minute"`` → Rate(100, 60). Raises ValueError naming the bad value."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(
            f"invalid rate {text!r}: expected '<count>/<unit>' such as '100/minute' or '10/second'"
        )
    unit = match["unit"].lower()
    seconds = _UNITS.get(unit)
    if seconds is None:
        raise ValueError(f"invalid rate {text!r}: unknown unit {unit!r} (second, minute, hour, day)")
    count, multiple = int(match["count"]), int(match["multiple"] or 1)
    if count == 0 or multiple == 0:
        raise ValueError(f"invalid rate {text!r}: count and period must be positive")
    return Rate(count, seconds * multiple)
