"""Metrics: names, the writer observer, and aggregation across worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from event_gateway.observability.metrics import Metrics
from event_gateway.storage.writer import CommitStats

EXPECTED = {
    "event_gateway_requests_total", "event_gateway_request_duration_seconds",
    "event_gateway_events_total", "event_gateway_writer_queue_rows",
    "event_gateway_writer_batch_rows", "event_gateway_writer_commit_seconds",
    "event_gateway_throttle_denials_total", "event_gateway_auth_failures_total",
    "event_gateway_throttle_store_errors_total", "event_gateway_requests_shed_total",
}


def test_every_series_is_named_event_gateway() -> None:
    metrics = Metrics.create()
    names = {m.name for m in metrics.registry.collect()}
    # prometheus_client strips _total from counter family names.
    assert {n if n.endswith(("_seconds", "_rows")) else n + "_total" for n in names} == EXPECTED


def test_objects_are_not_global_so_several_can_coexist() -> None:
    first, second = Metrics.create(), Metrics.create()
    first.throttle_denied("alana", "per_key")
    assert second.registry.get_sample_value(
        "event_gateway_throttle_denials_total", {"api": "alana", "limit": "per_key"}) is None


def test_writer_observer_and_throttle_store_hook() -> None:
    metrics = Metrics.create()
    observe = metrics.writer_observer()
    observe(CommitStats(queue_rows=7, batch_rows=5, callers=2, seconds=0.002, ok=True))
    assert metrics.registry.get_sample_value("event_gateway_writer_queue_rows", {}) == 2
    observe(CommitStats(queue_rows=4, batch_rows=4, callers=1, seconds=0.5, ok=False))
    get = metrics.registry.get_sample_value
    assert get("event_gateway_writer_queue_rows", {}) == 0  # the group answered was all that waited
    assert get("event_gateway_writer_batch_rows_count", {}) == 1  # failed commits store nothing
    assert get("event_gateway_writer_commit_seconds_count", {}) == 2
    metrics.throttle_store_hook(fail_open=False)(ConnectionError())
    assert get("event_gateway_throttle_store_errors_total", {"mode": "fail_closed"}) == 1


async def test_render_uses_the_process_registry_without_a_multiprocess_dir() -> None:
    metrics = Metrics.create()
    metrics.auth_failed("topsort", "CREDENTIALS_INVALID")
    body, content_type = await metrics.render()
    assert content_type.startswith("text/plain")
    assert b'event_gateway_auth_failures_total{api="topsort",reason="CREDENTIALS_INVALID"} 1.0' in body


_WORKER = """
import sys
from event_gateway.observability.metrics import Metrics
m = Metrics.create()
m.observe_call("alana", "TrackEvents", "rest", "OK", 0.01)
m.writer_queue_rows.set(int(sys.argv[1]))
print("done", flush=True)
sys.stdin.read()  # stay alive (live gauge) until told to exit
"""

_RENDER = """
import asyncio
from event_gateway.observability.metrics import Metrics
print(asyncio.run(Metrics.create().render())[0].decode())
"""


def test_several_processes_aggregate_through_the_multiprocess_dir(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(n)], env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for n in (5, 7)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "done"
        text = subprocess.run([sys.executable, "-c", _RENDER], env=env, text=True,
                              capture_output=True, check=True).stdout
    finally:
        for worker in workers:
            worker.communicate("")
    assert ('event_gateway_requests_total{api="alana",method="TrackEvents",outcome="OK",'
            'transport="rest"} 2.0') in text
    assert "event_gateway_writer_queue_rows 12.0" in text  # livesum over both workers
