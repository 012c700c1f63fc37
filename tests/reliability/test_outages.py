"""Store outages and overload: refuse honestly with 503 + Retry-After, recover by itself.

Never a false success: a request answered 2xx while the store cannot commit would be an
acknowledged event that is lost.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import new_database
from tests.e2e.harness import Gateway, count_events, create_key, create_tenant, free_port
from tests.reliability.figures import record, stored_figures
from tests.reliability.load import stored_ids

FAST_FAILURE = {
    "EVENT_GATEWAY_WRITER__COMMIT_TIMEOUT": "2",
    "EVENT_GATEWAY_WRITER__RETRY_AFTER": "1",
}


def depict(key: str, i: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    return {"api_key": key}, [{"tenant": "acme", "market": "se", "type": "click", "deduplication_id": i}]


@dataclass
class Tally:
    """Every answer the test got, and which Depict ids were acknowledged, for the figures."""

    statuses: Counter[int] = field(default_factory=Counter)
    acknowledged: set[str] = field(default_factory=set)
    acknowledged_events: int = 0

    def post(self, url: str, key: str, i: str, **kwargs: float) -> httpx.Response:
        params, body = depict(key, i)
        return self.book(httpx.post(url, params=params, json=body, **kwargs), [i])

    def book(self, response: httpx.Response, ids: list[str]) -> httpx.Response:
        self.statuses[response.status_code] += 1
        if response.status_code == 200:
            self.acknowledged.update(ids)
            self.acknowledged_events += len(ids)
        return response

    def record(self, scenario: str, database: str, **extra: object) -> None:
        s = self.statuses
        record(
            scenario,
            requests=sum(s.values()),
            acknowledged_requests=s[200],
            refused=s[429] + s[503],
            no_answer=0,
            other_errors=sum(n for code, n in s.items() if code not in (200, 429) and code < 500),
            server_errors=sum(n for code, n in s.items() if code >= 500 and code != 503),
            statuses={str(code): n for code, n in sorted(s.items())},
            acknowledged_answers=self.acknowledged_events,
            **stored_figures(self.acknowledged, stored_ids(database)),
            **extra,
        )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def setup_tenant(database: str) -> str:
    create_tenant(database, "acme", "acme-store", 1)
    return create_key(database, "acme", "--limit", "per_key=1000000/minute", "--limit", "per_key_ip=1000000/minute")


def test_sqlite_locked_by_another_process_gives_503_then_recovers(tmp_path: Path) -> None:
    with new_database("sqlite", tmp_path) as database:
        key = setup_tenant(database)
        gateway = Gateway(database, env=FAST_FAILURE)
        gateway.start(tmp_path)
        tally = Tally()
        try:
            url = f"{gateway.base_url}/create-events"
            assert tally.post(url, key, "before").status_code == 200
            locker = sqlite3.connect(database.split("///", 1)[1], timeout=1, isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")
            try:
                response = tally.post(url, key, "during", timeout=30)
                assert response.status_code == 503
                assert int(response.headers["retry-after"]) >= 1
                assert httpx.get(f"{gateway.base_url}/readyz", timeout=30).status_code == 503
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                response = tally.post(url, key, "during", timeout=30)
                if response.status_code == 200:
                    break
                time.sleep(0.2)
            assert response.status_code == 200, "the gateway did not recover after the lock was released"
            assert httpx.get(f"{gateway.base_url}/readyz").status_code == 200
        finally:
            gateway.stop()
        tally.record("sqlite-locked", database, backend="sqlite")
        assert count_events(database, "--api", "depict") == 2


@pytest.fixture
def postgres_behind_proxy(tmp_path: Path) -> Iterator[tuple[str, int]]:
    with new_database("postgres", tmp_path) as database:
        yield database, free_port()


def start_proxy(listen: int) -> subprocess.Popen[bytes]:
    proxy = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.tcp_proxy", str(listen), "5432"], stdout=subprocess.PIPE
    )
    assert proxy.stdout is not None and proxy.stdout.readline().strip() == b"ready"
    return proxy


def test_postgres_unreachable_gives_503_memory_bounded_then_recovers(
    postgres_behind_proxy: tuple[str, int], tmp_path: Path
) -> None:
    direct, port = postgres_behind_proxy
    key = setup_tenant(direct)
    proxied = direct.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    proxy = start_proxy(port)
    gateway = Gateway(proxied, env=FAST_FAILURE)
    gateway.start(tmp_path)
    tally = Tally()
    rss_growth = None
    try:
        url = f"{gateway.base_url}/create-events"
        assert tally.post(url, key, "up").status_code == 200
        proxy.kill()
        proxy.wait()
        statuses: Counter[int] = Counter()
        assert gateway.process is not None
        rss_before = rss_kib(gateway.process.pid)
        for i in range(30):
            response = tally.post(url, key, f"down-{i}", timeout=30)
            statuses[response.status_code] += 1
            if response.status_code == 503:
                assert "retry-after" in response.headers
        assert set(statuses) <= {401, 503}, statuses  # keys are cached; never a false 200
        assert statuses[503] > 0
        assert httpx.get(f"{gateway.base_url}/readyz", timeout=30).status_code == 503
        rss_growth = rss_kib(gateway.process.pid) - rss_before
        assert rss_kib(gateway.process.pid) < rss_before + 50_000
        proxy = start_proxy(port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = tally.post(url, key, "back", timeout=30)
            if response.status_code == 200:
                break
            time.sleep(0.3)
        assert response.status_code == 200, "no recovery after PostgreSQL came back"
    finally:
        gateway.stop()
        proxy.kill()
    tally.record("postgres-unreachable", direct, backend="postgres", rss_growth_kib=rss_growth)
    assert count_events(direct, "--api", "depict") == 2


async def test_overload_is_refused_quickly_with_retry_after(tmp_path: Path) -> None:
    with new_database("sqlite", tmp_path) as database:
        key = setup_tenant(database)
        gateway = Gateway(database, env={"EVENT_GATEWAY_WRITER__QUEUE_ROWS": "200"})
        gateway.start(tmp_path)
        try:
            statuses: Counter[int] = Counter()
            acknowledged = 0
            tally = Tally()
            limits = httpx.Limits(max_connections=256)
            async with httpx.AsyncClient(base_url=gateway.base_url, limits=limits, timeout=30) as client:

                async def send(i: int) -> None:
                    nonlocal acknowledged
                    body = [
                        {"tenant": "acme", "market": "se", "type": "click", "deduplication_id": f"o{i}-{j}"}
                        for j in range(100)
                    ]
                    response = await client.post("/create-events", params={"api_key": key}, json=body)
                    tally.book(response, [event["deduplication_id"] for event in body])
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        acknowledged += 100
                    elif response.status_code in (429, 503):
                        assert "retry-after" in response.headers

                await asyncio.gather(*(send(i) for i in range(600)))
            assert set(statuses) <= {200, 429, 503}, statuses
            assert statuses[200] > 0
            assert httpx.get(f"{gateway.base_url}/healthz").status_code == 200
            assert gateway.process is not None
            rss_after = rss_kib(gateway.process.pid)
            assert rss_after < 400_000
        finally:
            gateway.stop()
        tally.record("overload", database, backend="sqlite", rss_after_kib=rss_after)
        assert count_events(database, "--api", "depict") == acknowledged


HOLD_TABLE_LOCK = """
import asyncio, sys
import asyncpg

async def main(dsn: str, seconds: float) -> None:
    connection = await asyncpg.connect(dsn)
    async with connection.transaction():
        await connection.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        print("locked", flush=True)
        await asyncio.sleep(seconds)
    await connection.close()

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def test_shutdown_answers_writes_stuck_on_a_lock_not_stored_and_stores_none(tmp_path: Path) -> None:
    # Found by a black-box run: with the events table locked past shutdown_grace, the
    # servers' own deadline answered REST 500 and gRPC UNAVAILABLE, and the writer then
    # committed those very rows when the lock went: a retry stored them twice.
    from concurrent.futures import ThreadPoolExecutor

    with new_database("postgres", tmp_path) as database:
        key = setup_tenant(database)
        gateway = Gateway(database, env={"EVENT_GATEWAY_SHUTDOWN_GRACE": "3", "EVENT_GATEWAY_WRITER__COMMIT_TIMEOUT": "60"})
        gateway.start(tmp_path)
        url = f"{gateway.base_url}/api/v1/events"
        body = {"events": [{"eventType": "home-page-view", "visitorId": "v-shutdown"}]}
        dsn = database.replace("postgresql+asyncpg://", "postgresql://")
        holder = subprocess.Popen([sys.executable, "-c", HOLD_TABLE_LOCK, dsn, "10"], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            with ThreadPoolExecutor(5) as pool:
                answers = [pool.submit(httpx.post, url, json=body, headers={"x-api-key": key}, timeout=30) for _ in range(5)]
                time.sleep(1.0)  # the requests wait for the writer, which waits for the lock
                assert not any(a.done() for a in answers)
                assert gateway.process is not None
                gateway.process.send_signal(15)
                responses = [a.result() for a in answers]
            assert gateway.process.wait(timeout=20) == 0
        finally:
            gateway.kill()
            holder.wait(timeout=30)  # the lock goes: nothing may be committed after it
        for response in responses:
            # Alana's own 503 with Retry-After: not stored, safe to retry.
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "unavailable" and "retry-after" in response.headers
        assert count_events(database, "--api", "alana") == 0


def test_readyz_is_503_while_commits_are_stuck_on_a_locked_table_and_ready_after(tmp_path: Path) -> None:
    # Found by a black-box run: a SELECT probe passes while the events table is locked,
    # so /readyz said ready to a load balancer while every write waited and then failed.
    from concurrent.futures import ThreadPoolExecutor

    with new_database("postgres", tmp_path) as database:
        key = setup_tenant(database)
        gateway = Gateway(database, env={"EVENT_GATEWAY_WRITER__COMMIT_TIMEOUT": "60"})
        gateway.start(tmp_path)
        dsn = database.replace("postgresql+asyncpg://", "postgresql://")
        holder = subprocess.Popen([sys.executable, "-c", HOLD_TABLE_LOCK, dsn, "9"], stdout=subprocess.PIPE, text=True)
        try:
            assert httpx.get(f"{gateway.base_url}/readyz").status_code == 200
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            body = {"events": [{"eventType": "home-page-view", "visitorId": "v-locked"}]}
            with ThreadPoolExecutor(1) as pool:
                answer = pool.submit(httpx.post, f"{gateway.base_url}/api/v1/events", json=body,
                                     headers={"x-api-key": key}, timeout=60)
                deadline = time.monotonic() + 8
                seen: list[dict[str, object]] = []
                while time.monotonic() < deadline:
                    probe = httpx.get(f"{gateway.base_url}/readyz", timeout=10)
                    if probe.status_code == 503:
                        seen.append(probe.json())
                        break
                    time.sleep(0.25)
                assert seen and seen[0]["checks"]["commits"] == "failing", seen  # type: ignore[index]
                # The lock goes: the write commits and is answered, and readiness returns.
                assert answer.result().status_code == 200
            assert httpx.get(f"{gateway.base_url}/readyz").status_code == 200
        finally:
            gateway.kill()
            holder.wait(timeout=30)
            holder.stdout.close()  # type: ignore[union-attr]
        assert count_events(database, "--api", "alana") == 1


def test_a_nearly_full_queue_refuses_rest_requests_before_reading_their_bodies(tmp_path: Path) -> None:
    # Found by a black-box run: at 1,000 connections each 100-event body was decoded only
    # to be refused, which starved the commits and /healthz (refusals after up to 25 s).
    import socket

    with new_database("postgres", tmp_path) as database:
        key = setup_tenant(database)
        gateway = Gateway(database, env={"EVENT_GATEWAY_WRITER__QUEUE_ROWS": "10",
                                         "EVENT_GATEWAY_WRITER__COMMIT_TIMEOUT": "60"})
        gateway.start(tmp_path)
        dsn = database.replace("postgresql+asyncpg://", "postgresql://")
        holder = subprocess.Popen([sys.executable, "-c", HOLD_TABLE_LOCK, dsn, "8"], stdout=subprocess.PIPE, text=True)
        from concurrent.futures import ThreadPoolExecutor

        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            body = [{"tenant": "t", "market": "se", "type": "page_view"}] * 9
            with ThreadPoolExecutor(1) as pool:
                # Nine rows wait on the lock: the queue (10) is 90% full.
                waiting = pool.submit(httpx.post, f"{gateway.base_url}/create-events", params={"api_key": key},
                                      json=body, timeout=60)
                time.sleep(1.0)
                host, port = gateway.base_url.removeprefix("http://").split(":")
                with socket.create_connection((host, int(port)), timeout=10) as raw:
                    # A head announcing a body that never comes: only an unread refusal answers.
                    raw.sendall(f"POST /create-events?api_key={key} HTTP/1.1\r\nHost: x\r\n"
                                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n".encode())
                    answer = b""
                    while b'"}' not in answer and (chunk := raw.recv(65536)):
                        answer += chunk  # head and body may come in two segments
                    answer = answer.decode()
                assert answer.startswith("HTTP/1.1 503"), answer
                assert "retry-after: " in answer.lower() and '{"detail":"Service Unavailable"}' in answer
                assert waiting.result().status_code == 200  # the lock goes: the nine are stored
            metrics = httpx.get(f"{gateway.base_url}/metrics").text
            assert "event_gateway_requests_shed_total 1.0" in metrics
        finally:
            gateway.kill()
            holder.wait(timeout=30)
            holder.stdout.close()  # type: ignore[union-attr]
        assert count_events(database, "--api", "depict") == 9
