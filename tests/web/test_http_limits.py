"""Request-head limits and read timeouts, over real sockets: what is refused, and what
must not be.

A small ASGI app answers with the size of the body it read, so a test sees whether a
request reached the app whole. (The gateway's own limits are exercised end to end in
tests/reliability/test_hostile.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from event_gateway.web.http_limits import HeadLimits, bounded_httptools

LIMITS = HeadLimits(max_head_bytes=64 * 1024, max_header_fields=100, max_target_bytes=8 * 1024)


async def _app(scope: Any, receive: Any, send: Any) -> None:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    if any(name.lower() == b"x-secret" for name, _ in scope["headers"]):
        body += b" x-secret"  # the app saw this header
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def _serving(limits: HeadLimits = LIMITS) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=bounded_httptools(limits), lifespan="off",
                            log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def _statuses(port: int, writes: list[bytes], answers: int) -> list[tuple[int, bytes]]:
    """Write each chunk (draining between), then read `answers` responses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for chunk in writes:
            writer.write(chunk)
            await writer.drain()
        out = []
        for _ in range(answers):
            status_line = await asyncio.wait_for(reader.readline(), timeout=10)
            if not status_line:
                break
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            out.append((int(status_line.split()[1]), await reader.readexactly(length)))
        return out
    finally:
        writer.close()


def _post(body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST /in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" + extra
            + b"content-length: %d\r\n\r\n" % len(body) + body)


@pytest.mark.parametrize("size", [65_000, 70_000, 200_000, 900_000])
async def test_a_large_body_written_with_its_head_reaches_the_app(size: int) -> None:
    # The head and body leave in one write, so the server's first reads hold both.
    async with _serving() as port:
        answers = await _statuses(port, [_post(b"x" * size)], 1)
    assert answers == [(200, str(size).encode())]


async def test_pipelined_large_requests_all_reach_the_app() -> None:
    async with _serving() as port:
        answers = await _statuses(port, [_post(b"a" * 100_000) + _post(b"b" * 90_000)], 2)
    assert answers == [(200, b"100000"), (200, b"90000")]


async def test_a_whole_head_over_the_limit_is_431() -> None:
    # 40 fields of 2,000 bytes: under the field count, over 64 KiB, in one write.
    fields = b"".join(b"x-f%d: %s\r\n" % (i, b"v" * 2000) for i in range(40))
    async with _serving() as port:
        answers = await _statuses(port, [_post(b"{}", fields)], 1)
    assert answers == [(431, b"Request head too large.")]


async def test_an_unfinished_head_over_the_limit_is_431_without_waiting_for_its_end() -> None:
    # One field that never ends, sent in pieces: refused once 64 KiB have arrived.
    pieces = [b"POST /in HTTP/1.1\r\nhost: x\r\nx-big: "] + [b"v" * 8192] * 12
    async with _serving() as port:
        answers = await _statuses(port, pieces, 1)
    assert answers == [(431, b"Request head too large.")]


async def test_a_head_just_under_the_limit_is_served() -> None:
    fields = b"".join(b"x-f%d: %s\r\n" % (i, b"v" * 1500) for i in range(40))  # ~60 KiB
    async with _serving() as port:
        answers = await _statuses(port, [_post(b"{}", fields)], 1)
    assert answers == [(200, b"2")]


# --- Host -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST /in HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}", 400),
        (b"POST /in HTTP/1.1\r\nhost: a\r\nHost: b\r\ncontent-length: 2\r\n\r\n{}", 400),
        (b"POST /in HTTP/1.0\r\ncontent-length: 2\r\n\r\n{}", 200),
        (b"POST /in HTTP/1.1\r\nHOST: a\r\ncontent-length: 2\r\n\r\n{}", 200),
    ],
    ids=["none-1.1", "two", "none-1.0", "one"],
)
async def test_exactly_one_host_is_required(head: bytes, status: int) -> None:
    async with _serving() as port:
        answers = await _statuses(port, [head], 1)
    assert [code for code, _ in answers] == [status]


# --- time ---------------------------------------------------------------------------------------

QUICK = HeadLimits(head_timeout=0.5, body_idle_timeout=1.0)


async def _answer_to(port: int, chunks: list[bytes], gap: float) -> tuple[int, bytes] | None:
    """Send the chunks `gap` seconds apart, stopping early if the server answers; the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        answered = asyncio.ensure_future(reader.read(1000))
        for chunk in chunks:
            if answered.done():
                break
            writer.write(chunk)
            await asyncio.sleep(gap)
        data = await asyncio.wait_for(answered, timeout=10)
        if not data:
            return None
        return int(data.split()[1]), data.rpartition(b"\r\n\r\n")[2]
    finally:
        writer.close()


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer() -> None:
    # Not a 408: a client sending its first request as that arrives would read it as the
    # answer (the race Go's transport guards against by discarding 408s on idle connections).
    async with _serving(QUICK) as port:
        assert await _answer_to(port, [], 0) is None


async def test_a_connection_that_sent_part_of_a_head_is_answered_408() -> None:
    async with _serving(QUICK) as port:
        assert await _answer_to(port, [b"POST /in HTTP/1.1\r\n"], 0) == (408, b"Request not received in time.")


async def test_a_head_trickled_a_byte_at_a_time_is_cut_off_at_its_deadline() -> None:
    head = _post(b"{}")
    async with _serving(QUICK) as port:
        answer = await _answer_to(port, [head[i:i + 1] for i in range(len(head))], 0.05)
    assert answer == (408, b"Request not received in time.")  # long before ~5 s of trickle


async def test_a_body_that_stops_is_answered_408() -> None:
    request = _post(b"x" * 1000)
    async with _serving(QUICK) as port:
        answer = await _answer_to(port, [request[:-500]], 0)
    assert answer == (408, b"Request not received in time.")


async def test_a_slow_but_steady_body_is_served() -> None:
    request = _post(b"y" * 40)
    head_end = request.index(b"\r\n\r\n") + 4
    chunks = [request[:head_end]] + [request[i:i + 1] for i in range(head_end, len(request))]
    async with _serving(QUICK) as port:
        # 40 body bytes over ~2 s: four times the idle timeout in all, never idle that long.
        answer = await _answer_to(port, chunks, 0.05)
    assert answer == (200, b"40")


async def test_a_second_request_left_unfinished_on_a_kept_alive_connection_is_cut_off() -> None:
    async with _serving(QUICK) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(_post(b"{}"))
            first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n2"), timeout=10)
            writer.write(b"POST /in HTTP/1.1\r\nhost: x\r\n")
            second = await asyncio.wait_for(reader.read(1000), timeout=10)
        finally:
            writer.close()
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 408")


def _chunked(trailer: bytes) -> bytes:
    return (b"POST /in HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n" + trailer + b"\r\n")


async def test_a_chunked_bodys_trailer_fields_never_reach_the_app_as_headers() -> None:
    async with _serving() as port:
        with_trailer = await _statuses(port, [_chunked(b"x-secret: slipped-in\r\n")], 1)
        in_the_head = await _statuses(port, [_post(b"abc", b"x-secret: 1\r\n")], 1)
        # Trailers still count against the field limit.
        flood = await _statuses(port, [_chunked(b"".join(b"t%d: v\r\n" % i for i in range(200)))], 1)
    assert with_trailer == [(200, b"3")]
    assert in_the_head == [(200, b"3 x-secret")]
    assert flood[0][0] == 431


@pytest.mark.parametrize("junk", [b"XYZ", b"garbage\r\n\r\n", b"\x00\x01\x02", b"{}"])
async def test_bytes_that_cannot_be_parsed_are_refused_only_after_the_requests_before_them(junk: bytes) -> None:
    # Found by a black-box run: the request before the junk was served (its events
    # stored) while its client heard only a 400.
    async with _serving() as port:
        one = await _statuses(port, [_post(b"abc") + junk], 2)
        pipelined = await _statuses(port, [_post(b"abc") + _post(b"defg") + junk], 3)
    assert one == [(200, b"3"), (400, b"Invalid HTTP request received.")]
    assert pipelined == [(200, b"3"), (200, b"4"), (400, b"Invalid HTTP request received.")]


async def test_a_body_that_cannot_be_parsed_is_refused_at_once() -> None:
    # The request in progress is the bad one: nothing to answer first.
    async with _serving() as port:
        head = b"POST /in HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
        bad_chunk = await _statuses(port, [head + b"zz\r\nabc\r\n0\r\n\r\n"], 1)
    assert bad_chunk == [(400, b"Invalid HTTP request received.")]
