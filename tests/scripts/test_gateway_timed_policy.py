"""The timed bench server's arithmetic: per-call pairing of the policy and empty spans."""

from __future__ import annotations

import importlib.util
from collections import deque
from pathlib import Path
from types import ModuleType

import pytest

SERVER = Path(__file__).resolve().parents[2] / "scripts" / "bench_servers" / "gateway_timed_policy.py"


@pytest.fixture(scope="module")
def timed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gateway_timed_policy", SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_net_is_the_median_of_per_call_differences(timed: ModuleType) -> None:
    # ns per call; the third call was preempted inside the policy span.
    policy = deque([10_000, 11_000, 90_000, 10_500, 10_200])
    empty = deque([1_000, 1_000, 1_000, 1_500, 1_200])
    out = timed.report(policy, empty)
    assert out["calls"] == 5
    assert out["net_us_median"] == pytest.approx(9.0)  # of 9.0, 10.0, 89.0, 9.0, 9.0
    assert out["net_us_mean"] == pytest.approx(25.2)
    assert out["policy_us_median"] == pytest.approx(10.5)
    assert out["empty_pair_us_median"] == pytest.approx(1.0)


def test_no_calls_is_reported_as_such(timed: ModuleType) -> None:
    assert timed.report(deque(), deque()) == {"calls": 0}
