"""The supervisor with real processes, sockets and signals; graceful_shutdown in-process.

The worker used here is trivial but real: it serves HTTP on the socket it is handed
(answering its pid), runs a grpc.aio server with the health service on the shared
gRPC port (so_reuseport), writes a marker file when it starts and when it drained.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
import httpx
import pytest
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from event_gateway.config import Settings
from event_gateway.workers import (
    Supervisor,
    abort_delay,
    bind_reuseport,
    graceful_shutdown,
    host_port,
)
from tests.e2e.harness import free_port

MARKERS_ENV = "EG_TEST_MARKERS"


def trivial_worker(settings: Settings, sockets: Sequence[socket.socket]) -> int:
    return asyncio.run(_trivial(settings, sockets))


async def _trivial(settings: Settings, sockets: Sequence[socket.socket]) -> int:
    markers = Path(os.environ[MARKERS_ENV])
    pid = os.getpid()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = str(pid).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        writer.close()

    http = await asyncio.start_server(answer, sock=sockets[0])
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    host, port = host_port(settings.grpc)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    (markers / f"started-{pid}").write_text(f"{settings.http} {settings.grpc} "
                                            f"{os.environ.get('PROMETHEUS_MULTIPROC_DIR', '')}")
    await stop.wait()
    http.close()
    (markers / f"closed-{pid}").write_text("ok")
    await asyncio.sleep(float(os.environ.get("EG_TEST_LINGER", "0")))  # a drain's length
    await server.stop(1)
    (markers / f"drained-{pid}").write_text("ok")
    return 0


def _pids(markers: Path, kind: str) -> set[int]:
    return {int(p.name.split("-")[1]) for p in markers.glob(f"{kind}-*")}


def _wait_for(predicate, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


_SUPERVISOR = """
import sys
from event_gateway.config import Settings
from event_gateway.workers import supervise
from tests.test_workers import trivial_worker
settings = Settings(http=sys.argv[1], grpc=sys.argv[2], workers=int(sys.argv[3]), shutdown_grace=5)
sys.exit(supervise(settings, trivial_worker))
"""


@pytest.fixture
def supervisor(tmp_path: Path):  # type: ignore[no-untyped-def]
    markers = tmp_path / "markers"
    markers.mkdir()
    procs: list[subprocess.Popen[bytes]] = []

    def start(workers: int, http: str = "127.0.0.1:0", grpc_address: str = "127.0.0.1:0",
              linger: float = 0.0):  # type: ignore[no-untyped-def]
        proc = subprocess.Popen(
            [sys.executable, "-c", _SUPERVISOR, http, grpc_address, str(workers)],
            env={**os.environ, MARKERS_ENV: str(markers), "EG_TEST_LINGER": str(linger)},
            cwd=Path(__file__).resolve().parents[1],
        )
        procs.append(proc)
        _wait_for(lambda: len(_pids(markers, "started")) >= workers, f"{workers} workers")
        return proc, markers

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _addresses(markers: Path) -> tuple[str, str, str]:
    first = next(markers.glob("started-*")).read_text().split(" ")
    return first[0], first[1], first[2]


def _http_pid(address: str) -> int:
    return int(httpx.get(f"http://{address}/", timeout=10).text)


def _grpc_serving(address: str) -> bool:
    async def check() -> bool:
        async with grpc.aio.insecure_channel(address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=10
            )
            return reply.status == health_pb2.HealthCheckResponse.SERVING

    return asyncio.run(check())


def test_workers_share_both_ports_and_drain_on_sigterm(supervisor) -> None:  # type: ignore[no-untyped-def]
    proc, markers = supervisor(3)
    http, grpc_address, metrics_dir = _addresses(markers)
    started = _pids(markers, "started")
    assert len(started) == 3
    # Port 0 was resolved once by the supervisor: every worker got the same real ports.
    assert {p.read_text() for p in markers.glob("started-*")} == {f"{http} {grpc_address} {metrics_dir}"}
    assert not http.endswith(":0") and not grpc_address.endswith(":0")
    assert metrics_dir and Path(metrics_dir).is_dir()
    assert _http_pid(http) in started
    assert _grpc_serving(grpc_address)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert _pids(markers, "drained") == started
    assert not Path(metrics_dir).exists()  # the supervisor's own directory is removed


def test_once_workers_stop_accepting_a_new_connection_is_refused_not_left_unanswered(supervisor) -> None:  # type: ignore[no-untyped-def]
    # Found by a black-box run: during a drain with --workers, the supervisor's copy of
    # the listening socket kept it open; connections the kernel completed were never
    # accepted and were reset, requests sent and unanswered, when the supervisor exited.
    proc, markers = supervisor(2, linger=3.0)
    http, _, _ = _addresses(markers)
    host, port = host_port(http)
    proc.send_signal(signal.SIGTERM)
    _wait_for(lambda: len(_pids(markers, "closed")) == 2, "both workers to stop accepting")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=5).close()
    assert proc.wait(60) == 0


def test_sigint_is_forwarded_too(supervisor) -> None:  # type: ignore[no-untyped-def]
    proc, markers = supervisor(2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert _pids(markers, "drained") == _pids(markers, "started")


def test_a_crashed_worker_is_replaced(supervisor) -> None:  # type: ignore[no-untyped-def]
    proc, markers = supervisor(2)
    http, _, _ = _addresses(markers)
    victim = min(_pids(markers, "started"))
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: len(_pids(markers, "started")) == 3, "a replacement worker")
    alive = _pids(markers, "started") - {victim}
    assert _http_pid(http) in alive  # the shared socket outlived the dead worker
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert _pids(markers, "drained") == alive


class _ExitedProcess:
    """What Supervisor._exited sees of a worker whose sentinel fired: it has an exit code."""

    def __init__(self, exitcode: int, sentinel: int) -> None:
        self.exitcode = exitcode
        self.sentinel = sentinel
        self.pid = None

    def join(self) -> None:
        pass


async def test_a_restarted_slot_is_done_only_when_its_replacement_is_reaped() -> None:
    # The order that once made a clean drain exit 1: slot 0 crashed earlier (-9) and was
    # restarted; on shutdown slot 1 is reaped while slot 0's replacement has exited but
    # is not reaped yet. Deciding then would report the old crash.
    supervisor = Supervisor(Settings(workers=2), trivial_worker)
    read_end, write_end = os.pipe()
    try:
        restarted, other = supervisor._slots
        replacement = _ExitedProcess(0, read_end)
        restarted.exit_codes, restarted.process, restarted.reaped = [-9], replacement, False
        other.process, other.reaped = _ExitedProcess(0, read_end), False
        supervisor._stopping = True
        supervisor._exited(other, other.process)  # type: ignore[arg-type]
        assert not supervisor._all_exited.is_set()
        supervisor._exited(restarted, replacement)  # type: ignore[arg-type]
        assert supervisor._all_exited.is_set()
        assert supervisor.exit_status() == 0
    finally:
        os.close(read_end)
        os.close(write_end)


_BOOT_FAILING_SUPERVISOR = """
import sys
from event_gateway.config import Settings
from event_gateway.server import run_worker
from event_gateway.workers import supervise
settings = Settings(http="127.0.0.1:0", grpc="127.0.0.1:0", workers=2,
                    database="sqlite+aiosqlite:///" + sys.argv[1])
sys.exit(supervise(settings, run_worker))
"""


def test_a_worker_that_cannot_start_stops_the_supervisor_instead_of_restarting_for_ever(
    tmp_path: Path,
) -> None:
    # The real worker, on a database it cannot open: one process would exit at once;
    # the supervisor used to restart its workers every 0.5..30 s for ever.
    unopenable = tmp_path / "no-such-directory" / "events.db"
    done = subprocess.run(  # a supervisor that restarts for ever times out here
        [sys.executable, "-c", _BOOT_FAILING_SUPERVISOR, str(unopenable)],
        capture_output=True, text=True, timeout=120, check=False, cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 1
    assert "worker could not start: cannot open the SQLite database" in done.stderr
    assert "could not start (its error is above); stopping" in done.stderr
    assert "restarting in" not in done.stderr


def test_a_taken_port_fails_fast() -> None:
    with bind_reuseport("127.0.0.1:0", listen=True) as taken:
        # A socket bound WITHOUT SO_REUSEPORT keeps the port to itself.
        plain = socket.socket()
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        try:
            port = plain.getsockname()[1]
            with pytest.raises(OSError):
                bind_reuseport(f"127.0.0.1:{port}", listen=True)
        finally:
            plain.close()
        assert taken.getsockname()[1] > 0


# --- graceful_shutdown ------------------------------------------------------------------


@pytest.mark.parametrize(("grace", "delay"), [(30.0, 29.0), (2.0, 1.0), (1.0, 0.5), (0.2, 0.1), (0.0, 0.0)])
def test_waiting_writes_are_refused_a_second_before_a_drain_ends_or_halfway_through_a_short_one(
    grace: float, delay: float
) -> None:
    assert abort_delay(grace) == pytest.approx(delay)


class _Writer:
    def __init__(self, log: list[str]) -> None:
        self._log = log

    async def close(self) -> None:
        self._log.append("writer closed")

    def abort(self) -> None:
        self._log.append("writer aborted")


class _RecordingHealth(health.aio.HealthServicer):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self._log = log

    async def enter_graceful_shutdown(self) -> None:
        self._log.append("health not serving")
        await super().enter_graceful_shutdown()


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass

    def capture_signals(self):  # type: ignore[no-untyped-def]
        from contextlib import nullcontext

        return nullcontext()


async def test_graceful_shutdown_reports_not_serving_first_and_drains_before_flushing() -> None:
    log: list[str] = []
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow_app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        entered.set()
        await release.wait()
        log.append("request finished")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    sock = bind_reuseport("127.0.0.1:0", listen=True)
    port = sock.getsockname()[1]
    http = _Server(uvicorn.Config(slow_app, lifespan="off", log_config=None,
                                  timeout_graceful_shutdown=10))
    serving = asyncio.create_task(http.serve(sockets=[sock]))
    grpc_server = grpc.aio.server()
    servicer = _RecordingHealth(log)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    await grpc_server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    async with httpx.AsyncClient() as client:
        while not http.started:
            await asyncio.sleep(0.01)
        in_flight = asyncio.create_task(client.get(f"http://127.0.0.1:{port}/"))
        await entered.wait()
        shutdown = asyncio.create_task(
            graceful_shutdown(grpc_server, http, _Writer(log), servicer, 10,
                              http_serving=serving, service_names=["x.v1.S"])
        )
        while "health not serving" not in log:
            await asyncio.sleep(0.01)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
            except grpc.aio.AioRpcError as exc:  # already stopped accepting: also fine
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
        assert "writer closed" not in log  # still draining the request in flight
        release.set()
        response = await in_flight
        await shutdown
    assert response.status_code == 200
    assert log == ["health not serving", "request finished", "writer closed"]
    assert serving.done()
    sock.close()


def test_workers_shut_down_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    # Found by a black-box run: after `kill -9` of the supervisor its workers served on,
    # unsupervised, and shared the ports with the next `serve`.
    http, grpc_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    database = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "event_gateway", "serve", "--workers", "2", "--http", http,
         "--grpc", grpc_address, "--database", database],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _answers(f"http://{http}/healthz"), "the gateway to serve")
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False).stdout.split()
        workers = [int(pid) for pid in children]
        assert len(workers) >= 2
        proc.kill()
        proc.wait(10)
        _wait_for(lambda: not any(_running(pid) for pid in workers), "the workers to exit", 30)
        assert not _answers(f"http://{http}/healthz")
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in subprocess.run(["pgrep", "-f", http], capture_output=True, text=True, check=False).stdout.split():
            os.kill(int(pid), signal.SIGKILL)


def _running(pid: int) -> bool:
    # An exited worker may stay a zombie of whichever process adopted it.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_ipv6_grpc_address_is_served(tmp_path: Path, workers: str) -> None:
    # Found by a black-box run: "[::1]:port" lost its brackets on the way to gRPC,
    # which read "::1:port" as a domain name and refused to start.
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        grpc_port = probe.getsockname()[1]
    http = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "event_gateway", "serve", "--workers", workers, "--http", http,
         "--grpc", f"[::1]:{grpc_port}", "--database", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _answers(f"http://{http}/healthz"), "the gateway to serve")
        assert _grpc_serving(f"[::1]:{grpc_port}")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_the_supervisors_lines_follow_log_json_too(tmp_path: Path) -> None:
    # Found by a black-box run: with --workers, the supervisor wrote plain text (and
    # none of its INFO lines) beside the workers' JSON.
    import json

    http = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "event_gateway", "serve", "--workers", "2", "--log-json", "--http", http,
         "--grpc", f"127.0.0.1:{free_port()}", "--database", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    _wait_for(lambda: _answers(f"http://{http}/healthz"), "the gateway to serve")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    messages = [record["msg"] for record in records]
    assert any(m.startswith("supervisor ") and "2 workers" in m for m in messages), messages
    assert any(m.startswith("supervisor: stopping") for m in messages), messages


@pytest.mark.parametrize("delay", [0.4, 0.9, 1.4])
def test_ctrl_c_while_starting_stops_everything_without_a_traceback(tmp_path: Path, delay: float) -> None:
    # Found by a black-box run: a Ctrl-C in the first second or so was lost (the server
    # kept serving) or killed a worker mid-import with a traceback.
    proc = subprocess.Popen(
        [sys.executable, "-m", "event_gateway", "serve", "--workers", "2", "--http", f"127.0.0.1:{free_port()}",
         "--grpc", f"127.0.0.1:{free_port()}", "--database", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    try:
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # -SIGINT: the signal came before Python's own handler was in place (a loaded
    # machine takes that long to start the interpreter), so nothing had started.
    assert proc.returncode in (0, 130, -signal.SIGINT) and "Traceback" not in stderr, stderr
    _wait_for(lambda: not _group_alive(proc.pid), "every process of the group to exit", timeout=30)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
