"""Nothing acknowledged is lost: SIGKILL the gateway under load, restart, count.

For each kill point: every event whose request was acknowledged is in the database
exactly once; everything not acknowledged can be retried safely (after the retry each
id is stored exactly once); the database opens cleanly.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path

import pytest

from tests.e2e.harness import Gateway, create_key, create_tenant
from tests.reliability.figures import record, stored_figures
from tests.reliability.load import Ledger, resend, run_load, stored_ids

KILL_POINTS = [0.4, 1.1, 2.3]  # seconds into the load; jittered below


@pytest.fixture
def setup(fresh_database: str) -> str:
    create_tenant(fresh_database, "acme", "acme-store", 1)
    key = create_key(fresh_database, "acme", "--limit", "per_key=1000000/minute", "--limit", "per_key_ip=1000000/minute")
    return key


@pytest.mark.parametrize("kill_at", KILL_POINTS)
async def test_sigkill_under_load_loses_nothing_acknowledged(
    fresh_database: str, setup: str, kill_at: float, tmp_path: Path
) -> None:
    key = setup
    database = fresh_database
    gateway = Gateway(database)
    gateway.start(tmp_path)
    ledger = Ledger()
    stop = asyncio.Event()
    load = asyncio.create_task(run_load(gateway.base_url, gateway.grpc_target, key, ledger, stop))
    started = time.monotonic()
    await asyncio.sleep(kill_at + random.uniform(0, 0.3))
    gateway.kill()  # SIGKILL: no drain, no flush
    killed_after = time.monotonic() - started
    await asyncio.sleep(0.3)
    stop.set()
    await load

    assert ledger.acknowledged, "the load acknowledged nothing before the kill"
    assert ledger.server_errors == 0
    if database.startswith("sqlite"):
        path = database.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    gateway.start(tmp_path)  # the database must open cleanly after the crash
    backend = "sqlite" if database.startswith("sqlite") else "postgres"
    figures: dict[str, object] = {}
    try:
        stored = stored_ids(database)
        figures = {
            "backend": backend,
            "kill_point": kill_at,
            "killed_after_s": round(killed_after, 2),
            **ledger.figures(),
            **stored_figures(ledger.acknowledged, stored),
            "events_unacknowledged": len(ledger.unacknowledged - ledger.acknowledged),
            "stored_unacknowledged": len(set(stored) - ledger.acknowledged),
        }
        lost = ledger.acknowledged - set(stored)
        assert not lost, f"{len(lost)} acknowledged events lost"
        assert all(stored[i] == 1 for i in ledger.acknowledged)

        await resend(gateway.base_url, gateway.grpc_target, key, ledger.unacknowledged - ledger.acknowledged)
        after = stored_ids(database)
        everything = ledger.acknowledged | ledger.unacknowledged
        figures["after_resend_stored"] = len(set(after) & everything)
        figures["after_resend_duplicates"] = sum(count - 1 for count in after.values() if count > 1)
        assert set(after) >= everything
        assert all(count == 1 for count in after.values()), "an id is stored twice"
    finally:
        if figures:  # recorded whether the assertions held or not
            record(f"crash/{backend}", **figures)
        gateway.stop()
