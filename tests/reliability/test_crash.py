"""Nothing acknowledged is lost: SIGKILL the gateway under load, restart, count.

For each kill point: every event whose request was acknowledged is in the database
exactly once; everything not acknowledged can be retried safely (after the retry each
id is stored exactly once); the database opens cleanly.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import Gateway, cli, create_key, create_tenant
from tests.reliability.load import Ledger, resend, run_load

KILL_POINTS = [0.4, 1.1, 2.3]  # seconds into the load; jittered below


def stored_ids(database: str) -> Counter[str]:
    """Each stored Depict deduplication_id / Topsort id, with how often it is stored."""
    ids: Counter[str] = Counter()
    for api, field in (("depict", "deduplication_id"), ("topsort", "id")):
        out = cli(database, "events", "export", "--format", "ndjson", "--api", api).stdout
        for line in out.splitlines():
            payload = json.loads(line)["payload"]
            if isinstance(payload, str):
                payload = json.loads(payload)
            ids[payload[field]] += 1
    return ids


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
    await asyncio.sleep(kill_at + random.uniform(0, 0.3))
    gateway.kill()  # SIGKILL: no drain, no flush
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
    try:
        stored = stored_ids(database)
        lost = ledger.acknowledged - set(stored)
        assert not lost, f"{len(lost)} acknowledged events lost"
        assert all(stored[i] == 1 for i in ledger.acknowledged)

        await resend(gateway.base_url, gateway.grpc_target, key, ledger.unacknowledged - ledger.acknowledged)
        after = stored_ids(database)
        everything = ledger.acknowledged | ledger.unacknowledged
        assert set(after) >= everything
        assert all(count == 1 for count in after.values()), "an id is stored twice"
    finally:
        gateway.stop()
