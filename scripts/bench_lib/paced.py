"""A paced, open-loop HTTP/1.1 load generator (what wrk2 does), run as its own process.

Request i is due at t0 + i/rate whatever happened to earlier requests; its latency is
measured from that scheduled time to the end of its response. A slow server therefore
shows up as latency (requests wait in the generator's backlog when every connection is
busy) instead of silently lowering the offered rate: no coordinated omission.

    python -m bench_lib.paced --port 8080 --path /api/v1/events --body-file b.json \
        --header 'x-api-key: K' --rate 2000 --seconds 30

Prints one JSON object on stdout. Latencies in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections import deque

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.IGNORECASE)
_now = time.perf_counter


class Connection(asyncio.Protocol):
    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.buf = bytearray()
        self.scheduled: float | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, scheduled: float) -> None:
        self.scheduled = scheduled
        assert self.transport is not None
        self.transport.write(self.gen.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[: end + 2])
            match = _CONTENT_LENGTH.search(head)
            if match:
                total = end + 4 + int(match.group(1))
            elif _CHUNKED.search(head):
                stop = self.buf.find(b"0\r\n\r\n", end + 4)
                if stop < 0:
                    return
                total = stop + 5
            else:
                total = end + 4
            if len(self.buf) < total:
                return
            status = int(head[9:12])
            del self.buf[:total]
            self.gen.completed(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)


class Generator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        body = open(args.body_file, "rb").read()
        headers = [f"POST {args.path} HTTP/1.1", f"Host: 127.0.0.1:{args.port}",
                   "Content-Type: application/json", f"Content-Length: {len(body)}",
                   "User-Agent: event-gateway-bench"]
        headers += args.header
        self.request = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
        self.idle: list[Connection] = []
        self.backlog: deque[float] = deque()
        self.measure_from = 0.0
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.lost_requests = 0
        self.unsolicited = 0
        self.in_flight = 0
        self.max_backlog = 0
        self.all_done = asyncio.Event()
        self.scheduling = True

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: Connection(self), "127.0.0.1", self.args.port)
        self.idle.append(conn)

    def dispatch(self, scheduled: float) -> None:
        self.in_flight += 1
        if self.idle:
            self.idle.pop().send(scheduled)
        else:
            self.backlog.append(scheduled)
            self.max_backlog = max(self.max_backlog, len(self.backlog))

    def completed(self, conn: Connection, status: int) -> None:
        done = _now()
        scheduled = conn.scheduled
        if scheduled is None:
            # An answer to no request (a server closing an idle connection with a 408):
            # the connection is going away; connection_lost replaces it.
            self.unsolicited += 1
            return
        conn.scheduled = None
        self.in_flight -= 1
        if scheduled is not None and scheduled >= self.measure_from:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                self.latencies.append(done - scheduled)
        if self.backlog:
            conn.send(self.backlog.popleft())
        else:
            self.idle.append(conn)
        if not self.scheduling and self.in_flight == 0:
            self.all_done.set()

    def lost(self, conn: Connection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.scheduled is not None:
            conn.scheduled = None
            self.lost_requests += 1
            self.in_flight -= 1
        if not self.scheduling and self.in_flight == 0:
            self.all_done.set()
        if self.scheduling:
            asyncio.ensure_future(self.connect())

    async def run(self) -> dict[str, object]:
        a = self.args
        await asyncio.gather(*(self.connect() for _ in range(a.connections)))
        interval = 1.0 / a.rate
        t0 = _now() + 0.05
        self.measure_from = t0 + a.warmup
        end = self.measure_from + a.seconds
        i = 0
        due = t0
        while due < end:
            now = _now()
            while due <= now and due < end:
                self.dispatch(due)
                i += 1
                due = t0 + i * interval
            await asyncio.sleep(max(0.0, due - _now()))
        self.scheduling = False
        sent = sum(1 for k in range(i) if t0 + k * interval >= self.measure_from)
        if self.in_flight:
            try:
                await asyncio.wait_for(self.all_done.wait(), timeout=a.drain_timeout)
            except TimeoutError:
                pass
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return lat[min(len(lat) - 1, max(0, int(round(p / 100 * len(lat))) - 1))] * 1000

        ok = len(lat)
        return {
            "rate": a.rate,
            "seconds": a.seconds,
            "connections": a.connections,
            "scheduled": sent,
            "ok": ok,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "unanswered": self.in_flight,
            "lost": self.lost_requests,
            "unsolicited": self.unsolicited,
            "achieved_per_s": ok / a.seconds,
            "max_backlog": self.max_backlog,
            "p50_ms": pct(50),
            "p99_ms": pct(99),
            "p999_ms": pct(99.9),
            "max_ms": lat[-1] * 1000 if lat else None,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--drain-timeout", type=float, default=10.0)
    args = parser.parse_args()
    try:
        import uvloop

        result = uvloop.run(Generator(args).run())
    except ImportError:
        result = asyncio.run(Generator(args).run())
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
