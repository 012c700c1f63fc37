"""Request-head limits, over real sockets: what is refused, and what must not be.

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
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def _serving() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=bounded_httptools(LIMITS), lifespan="off",
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
