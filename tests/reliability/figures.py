"""Record what a reliability scenario did, as figures, for scripts/reliability_report.

`record(scenario, ...)` appends one JSON line to the file named by the environment
variable EVENT_GATEWAY_FIGURES, and does nothing when it is unset (the default run). The
figures are the ones the test asserted on, so the report can only show what was checked.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

FIGURES_ENV = "EVENT_GATEWAY_FIGURES"


def record(scenario: str, **figures: Any) -> None:
    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    line = json.dumps({"scenario": scenario, "recorded_at": time.time(), **figures}, default=str)
    # One write of one line in append mode: lines from successive tests never interleave.
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def stored_figures(acknowledged: Iterable[str], stored: Counter[str]) -> dict[str, int]:
    """stored / lost / duplicates of the acknowledged ids, given what the database holds."""
    acked = set(acknowledged)
    return {
        "events_acknowledged": len(acked),
        "events_stored": sum(1 for i in acked if stored[i] > 0),
        "lost": sum(1 for i in acked if stored[i] == 0),
        "duplicates": sum(count - 1 for count in stored.values() if count > 1),
    }
