"""scripts/bench_lib/instructions.py: reading callgrind's dumps and the per-request arithmetic."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from bench_lib.instructions import instructions, per_request
from bench_lib.procs import RowError


def test_reads_the_summary_line(tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.1"
    dump.write_bytes(b"# callgrind format\nversion: 1\nevents: Ir\nsummary: 1901625960\n"
                     b"fn=(1) main\n0 5\ntotals: 1945735600\n")
    assert instructions(dump) == 1_901_625_960


def test_a_dump_without_a_summary_is_an_error(tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.1"
    dump.write_bytes(b"# callgrind format\nevents: Ir\ntotals: 5\n")
    with pytest.raises(RowError, match="no callgrind summary"):
        instructions(dump)


def test_the_idle_rate_is_taken_off_before_dividing() -> None:
    # 40 s of load: 1,000 requests of 600 instructions plus 40 s of 1,000 per second idle.
    loaded = 1_000 * 600 + 40 * 1_000
    assert per_request(loaded, idle=20_000, idle_seconds=20.0, load_seconds=40.0,
                       requests=1_000) == pytest.approx(600.0)
