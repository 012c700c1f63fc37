"""Several worker processes sharing the ports, and the shutdown of one worker.

`supervise` is `serve --workers N`. The supervisor binds the HTTP port itself
(SO_REUSEPORT) and hands the listening socket to every worker, so all of them accept
on it. gRPC cannot adopt a socket, so each worker's grpc.aio server binds the gRPC port
with the "grpc.so_reuseport" option; the supervisor binds it first, without listening,
to fail fast when it is taken and to resolve port 0 to one port that every worker then
uses. It sets PROMETHEUS_MULTIPROC_DIR to a fresh directory before any worker starts,
so /metrics in any worker reports all of them, forwards SIGTERM/SIGINT, restarts a
worker that dies on its own (but stops them all, exit status 1, when a worker cannot
start the first time), and exits 0 once every worker has drained.

`graceful_shutdown` is what one worker does on SIGTERM: report NOT_SERVING first (so
health-checking balancers stop routing here), answer gRPC calls not yet started
UNAVAILABLE, stop accepting and drain in-flight calls on both transports, then flush
the writer.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from event_gateway.config import Settings
from event_gateway.interceptors.drain import DrainGate
from event_gateway.observability.metrics import MULTIPROC_ENV, mark_process_dead
from event_gateway.web.health import set_not_serving

logger = logging.getLogger("event_gateway.workers")

RunWorker = Callable[[Settings, Sequence[socket.socket]], int]

# Extra seconds the supervisor waits past shutdown_grace before killing a worker: the
# worker's own grace covers draining; this covers flushing the writer and exiting.
KILL_MARGIN = 5.0
# A worker that dies sooner than this after starting is restarted with a growing delay,
# so a worker that cannot start (bad database URL) does not spin the CPU.
STABLE_AFTER = 10.0
MAX_RESTART_DELAY = 30.0
# A worker's exit status when it could not start (gunicorn's WORKER_BOOT_ERROR). On a
# slot's first start it stops the supervisor, as one process would have stopped: the
# configuration or the machine is wrong, and restarting will not mend it.
BOOT_FAILED = 3
# How long no gRPC call may have been refused before stop() is called (grpc-core's
# queue of calls not yet picked up then looks empty), and the most that waiting takes
# of shutdown_grace when callers keep calling: a refusal takes well under 1 ms.
GATE_QUIET = 0.1
GATE_LIMIT = 1.0
# Seconds before the drain's end at which writes still waiting are refused and the
# commit in flight is cancelled (GroupCommitQueue.abort), so that their callers are
# answered "not stored, retry" by the gateway itself before the servers' own deadline
# cancels them with nothing true to say. A shorter drain keeps half of itself for that.
ANSWER_MARGIN = 1.0


def abort_delay(grace: float) -> float:
    """Seconds into a drain of `grace` seconds at which waiting writes are refused."""
    grace = max(0.0, grace)
    return grace - min(ANSWER_MARGIN, grace / 2)


# --- one worker -------------------------------------------------------------------------


async def graceful_shutdown(
    grpc_server: Any,
    uvicorn_server: Any,
    writer: Any,
    health: Any,
    grace: float,
    *,
    http_serving: asyncio.Task[Any] | None = None,
    readiness: Any = None,
    service_names: Sequence[str] = (),
    gate: DrainGate | None = None,
) -> None:
    """Stop one worker cleanly; returns once everything accepted has been stored.

    1. gRPC health NOT_SERVING for every service (and /readyz 503 via `readiness`), before
       anything stops: the reverse of BentoML's order, which stops first.
    2. Close the gRPC `gate`: calls not yet started are answered UNAVAILABLE until none
       has come for GATE_QUIET seconds (see interceptors/drain.py: stop() would cancel
       those grpc-core holds, and CANCELLED is not retried). Calls running go on.
    3. Stop accepting and drain, both transports at once, each within what is left of
       `grace`: grpc.aio's stop() refuses new calls and waits for running ones; uvicorn's
       should_exit closes its listeners and waits for open requests (its
       timeout_graceful_shutdown bounds that; `http_serving` is its serve() task).
       A writer still waiting `ANSWER_MARGIN` (or half a shorter drain) before the end
       is aborted: its callers hear Unavailable (nothing stored) and the commit in
       flight is rolled back.
    4. Flush the writer: every write() whose caller was answered is already committed,
       and close() commits whatever is still queued.
    """
    await set_not_serving(health, service_names)
    if readiness is not None:
        readiness.start_draining()
    uvicorn_server.should_exit = True
    loop = asyncio.get_running_loop()
    began = loop.time()
    if gate is not None:
        await gate.close(GATE_QUIET, min(GATE_LIMIT, grace))
        if gate.refused:
            logger.info("refused %d gRPC calls with UNAVAILABLE while draining", gate.refused)
    grace = max(0.0, grace - (loop.time() - began))
    deadline = loop.call_later(abort_delay(grace), writer.abort)
    drains = [grpc_server.stop(grace)]
    if http_serving is not None and not http_serving.done():
        drains.append(_within(http_serving, grace))
    try:
        await asyncio.gather(*drains)
    finally:
        deadline.cancel()
    await writer.close()


async def _within(task: asyncio.Task[Any], grace: float) -> None:
    # uvicorn cancels what it could not drain after timeout_graceful_shutdown; this bound
    # only guards against a server configured without one.
    try:
        await asyncio.wait_for(asyncio.shield(task), grace + KILL_MARGIN)
    except TimeoutError:
        logger.warning("HTTP server still draining after %.1fs; moving on", grace + KILL_MARGIN)


async def stop_when_orphaned(stop: asyncio.Event, interval: float = 0.5) -> None:
    """Set `stop` once the supervisor that started this worker is gone.

    A supervisor killed outright (SIGKILL, OOM) forwards no signal: its workers would
    serve on, unsupervised, and share the ports with a supervisor started in its place.
    """
    parent = multiprocessing.parent_process()  # known from the start: no race with its death
    if parent is None:
        return
    while not stop.is_set():
        if not parent.is_alive():
            logger.warning("supervisor %s is gone; shutting this worker down", parent.pid)
            stop.set()
            return
        await asyncio.sleep(interval)


# --- the supervisor ---------------------------------------------------------------------


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def join_host_port(host: str, port: int) -> str:
    """HOST:PORT, an IPv6 host in brackets (as gRPC and URLs want it)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_reuseport(address: str, listen: bool) -> socket.socket:
    """A TCP socket bound with SO_REUSEPORT (and listening when `listen`)."""
    host, port = host_port(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {address}: {exc.strerror}") from exc
    return sock


def _worker_main(run_worker: RunWorker, settings: Settings, sockets: list[socket.socket]) -> None:
    sys.exit(run_worker(settings, sockets))


@dataclass
class _Slot:
    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    restart_delay: float = 0.0
    exit_codes: list[int] = field(default_factory=list)
    reaped: bool = True  # the current process's exit has been handled (or there is none)


class Supervisor:
    def __init__(self, settings: Settings, run_worker: RunWorker) -> None:
        self._settings = settings
        self._run_worker = run_worker
        self._context = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i) for i in range(settings.workers)]
        self._stopping = False
        self._all_exited = asyncio.Event()
        self._worker_settings = settings
        self._sockets: list[socket.socket] = []

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        http = bind_reuseport(self._settings.http, listen=True)
        grpc_reservation = bind_reuseport(self._settings.grpc, listen=False)
        try:
            self._sockets = [http]
            self._worker_settings = self._settings.model_copy(
                update={
                    "http": join_host_port(*http.getsockname()[:2]),
                    "grpc": join_host_port(*grpc_reservation.getsockname()[:2]),
                    "workers": 1,
                }
            )
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
            for slot in self._slots:
                self._start(slot)
            logger.info(
                "supervisor %d: %d workers on HTTP %s and gRPC %s",
                os.getpid(), len(self._slots),
                self._worker_settings.http, self._worker_settings.grpc,
            )
            await self._all_exited.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            http.close()
            grpc_reservation.close()
        return self.exit_status()

    def exit_status(self) -> int:
        """0 when the last process of every slot exited cleanly, else 1."""
        clean = all(_clean_exit(slot.exit_codes[-1]) for slot in self._slots if slot.exit_codes)
        return 0 if clean else 1

    @property
    def worker_settings(self) -> Settings:
        return self._worker_settings

    def stop(self) -> None:
        """Begin shutdown: SIGTERM every worker, SIGKILL the ones still alive after grace."""
        if self._stopping:
            return
        self._stopping = True
        # The workers share the listening socket; once they stop accepting, a copy held
        # here would keep it open, and the kernel would go on completing connections
        # nobody accepts, to reset them (requests sent, no answer) when the last copy
        # closes. Closed now, connecting is refused at once, as with one process.
        for listening in self._sockets:
            listening.close()
        logger.info("supervisor: stopping %d workers", len(self._slots))
        for slot in self._slots:
            if slot.process is not None and slot.process.is_alive() and slot.process.pid:
                os.kill(slot.process.pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        loop.call_later(self._settings.shutdown_grace + KILL_MARGIN, self._kill_stragglers)
        self._check_all_exited()

    def _start(self, slot: _Slot) -> None:
        if self._stopping:
            return
        process = self._context.Process(
            target=_worker_main,
            args=(self._run_worker, self._worker_settings, self._sockets),
            name=f"event-gateway-worker-{slot.index}",
        )
        # Started with SIGINT ignored (the disposition survives exec): a Ctrl-C reaches
        # the whole process group, and a worker still importing would die of it with a
        # traceback. The supervisor forwards it as SIGTERM; the worker's own handler,
        # installed first thing in server.run, takes over from there.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        slot.process = process
        slot.reaped = False
        slot.started = time.monotonic()
        asyncio.get_running_loop().add_reader(process.sentinel, self._exited, slot, process)

    def _exited(self, slot: _Slot, process: BaseProcess) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(process.sentinel)
        process.join()
        code = process.exitcode if process.exitcode is not None else -1
        slot.exit_codes.append(code)
        slot.reaped = True
        if process.pid is not None:
            mark_process_dead(process.pid)
        if self._stopping:
            self._check_all_exited()
            return
        if code == BOOT_FAILED and len(slot.exit_codes) == 1:
            logger.error("worker %s could not start (its error is above); stopping", slot.index)
            self.stop()
            return
        ran = time.monotonic() - slot.started
        slot.restart_delay = (
            0.0 if ran >= STABLE_AFTER else min(MAX_RESTART_DELAY, max(0.5, slot.restart_delay * 2))
        )
        logger.warning(
            "worker %s (pid %s) exited with %s after %.1fs; restarting in %.1fs",
            slot.index, process.pid, code, ran, slot.restart_delay,
        )
        loop.call_later(slot.restart_delay, self._start, slot)

    def _check_all_exited(self) -> None:
        # Wait for every current process to be reaped by _exited, not merely to have an
        # exit code: a slot restarted after a crash still holds the crash's code, and
        # deciding before its replacement is reaped would report that crash.
        if all(s.reaped for s in self._slots):
            self._all_exited.set()

    def _kill_stragglers(self) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.is_alive() and slot.process.pid:
                logger.error("worker %s did not drain in time; killing it", slot.index)
                os.kill(slot.process.pid, signal.SIGKILL)


def _clean_exit(code: int) -> bool:
    # A worker killed by our SIGTERM before it installed its handler had nothing to drain.
    return code in (0, -signal.SIGTERM, -signal.SIGINT)


def supervise(settings: Settings, run_worker: RunWorker) -> int:
    """`serve --workers N`: run N workers until SIGTERM/SIGINT; 0 when all drained."""
    # Always a fresh directory (inside the operator's, when one is set): files left by an
    # earlier run would be summed into this one's counters.
    previous = os.environ.get(MULTIPROC_ENV)
    directory = tempfile.mkdtemp(prefix="event-gateway-metrics-", dir=previous or None)
    os.environ[MULTIPROC_ENV] = directory  # inherited by every spawned worker
    try:
        return asyncio.run(Supervisor(settings, run_worker).run())
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)
