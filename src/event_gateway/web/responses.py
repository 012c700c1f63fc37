"""The two tiny ASGI answers every web part sends: JSON and raw bytes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, data: Any) -> None:
    body = json.dumps(data, separators=(",", ":")).encode()
    await send_bytes(send, status, body, "application/json", [(b"cache-control", b"no-store")])


async def method_not_allowed(send: Send, allowed: str) -> None:
    await send_bytes(
        send, 405, b'{"detail":"Method Not Allowed"}', "application/json", [(b"allow", allowed.encode())]
    )
