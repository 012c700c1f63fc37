"""The switched bench server's arithmetic: windows paired on/off, the median and its interval."""

from __future__ import annotations

import importlib.util
import sys
from collections import deque
from pathlib import Path
from types import ModuleType

import pytest

SERVERS = Path(__file__).resolve().parents[2] / "scripts" / "bench_servers"


@pytest.fixture(scope="module")
def switched() -> ModuleType:
    path = SERVERS / "gateway_switched_policy.py"
    spec = importlib.util.spec_from_file_location("gateway_switched_policy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _window(on: bool, cpu_us_per_call: float, calls: int = 1000) -> dict[str, object]:
    cpu = cpu_us_per_call * calls / 1e6
    return {"on": on, "cpu_s": cpu, "loop_cpu_s": cpu * 0.8, "calls": calls}


def test_each_pair_is_on_minus_off_whichever_comes_first(switched: ModuleType) -> None:
    windows = [
        _window(True, 250), _window(False, 240),  # +10
        _window(False, 260), _window(True, 290),  # +30 (the machine slowed: both rose)
        _window(True, 200), _window(False, 180),  # +20
    ]
    out = switched.report(windows)
    assert out["differences_us"] == pytest.approx([10, 30, 20])
    assert out["median_us"] == pytest.approx(20)
    assert out["cpu_us_per_call_on"] == pytest.approx(250)
    assert out["cpu_us_per_call_off"] == pytest.approx(240)
    assert out["loop_cpu_us_per_call_on"] == pytest.approx(200)


def test_a_pair_with_an_empty_window_is_left_out(switched: ModuleType) -> None:
    windows = [_window(True, 250), _window(False, 240, calls=0), _window(False, 200), _window(True, 205)]
    assert switched.report(windows)["differences_us"] == pytest.approx([5])


def test_no_pairs_reports_no_median(switched: ModuleType) -> None:
    out = switched.report([_window(True, 250)])
    assert out["differences_us"] == []
    assert "median_us" not in out


def test_median_interval_brackets_the_median_and_narrows_with_more_pairs(
    switched: ModuleType,
) -> None:
    few = [float(v) for v in range(1, 11)]  # 1..10
    many = [float(v) for v in range(1, 101)]  # 1..100
    low, high = switched.median_interval(few)
    assert low <= 5.5 <= high
    assert (low, high) == (2.0, 9.0)  # ranks 1.9 and 9.1 of 10, rounded
    low_many, high_many = switched.median_interval(many)
    assert (low_many, high_many) == (40.0, 61.0)  # ranks 40.2 and 60.8 of 100
    assert (high_many - low_many) / 100 < (high - low) / 10


def test_busy_loop_median_is_reported_in_microseconds(switched: ModuleType) -> None:
    out = switched.report([_window(True, 250), _window(False, 240)], deque([5000, 7000, 6000]))
    assert out["busy_us_median"] == pytest.approx(6.0)
