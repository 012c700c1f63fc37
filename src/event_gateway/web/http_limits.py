"""Limits on the HTTP request head, enforced while it is parsed.

httptools buffers a request's head without bound (measured: one 8 MB header and
100,000 headers were accepted), and an ASGI middleware only runs after the whole head
has been read. So the limits live in the protocol: the size of the head, the number of
header fields and the length of the request target. A request over a limit is answered
431 (head or fields) or 414 (target) and its connection closed.

The head's size is bounded two ways, because a read from the socket holds whatever
arrived: the head, the head and the start of the body (a client writes both at once),
or part of a head. Every read that leaves the head unfinished counts in full, which
bounds what the parser may be holding; the fields the parser completes count by their
own length, which bounds a head that arrives whole. Body bytes that came in the same
read as the end of the head never count (before 2026-12-03 they did, and a body of more
than 64 KiB written with its head was refused 431).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True, slots=True)
class HeadLimits:
    max_head_bytes: int = 64 * 1024
    max_header_fields: int = 100
    max_target_bytes: int = 8 * 1024


class _HeadRefused(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _too_large() -> _HeadRefused:
    return _HeadRefused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Request head too large.")


def bounded_httptools(limits: HeadLimits) -> type[HttpToolsProtocol]:
    """An httptools protocol class for uvicorn (`Config(http=...)`) enforcing `limits`."""

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_bytes = 0  # reads that left the head unfinished
            self._field_bytes = 0  # completed target and fields
            self._in_head = True
            self._message_ended = False
            self._fields = 0
            self._refusal: _HeadRefused | None = None

        def data_received(self, data: bytes) -> None:
            if not self._in_head:
                super().data_received(data)
                return
            self._message_ended = False
            super().data_received(data)
            # Counted after parsing: only now is it known whether the head ended in this
            # read. A read in which a message ended may hold the next message's head too;
            # it is not counted, and that head's fields still are.
            if self._in_head and not self._message_ended and not self.transport.is_closing():
                self._head_bytes += len(data)
                if self._head_bytes > limits.max_head_bytes:
                    self._refuse(_too_large())

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._fields = 0
            self._field_bytes = 0

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            self._count_field_bytes(len(url))
            if len(self.url) > limits.max_target_bytes:
                # Raised inside a parser callback: httptools turns it into a parser
                # error, which uvicorn answers through send_400_response below.
                self._refusal = _HeadRefused(HTTPStatus.REQUEST_URI_TOO_LONG, "Request target too long.")
                raise self._refusal

        def on_header(self, name: bytes, value: bytes) -> None:
            self._fields += 1
            if self._fields > limits.max_header_fields:
                self._refusal = _HeadRefused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many header fields.")
                raise self._refusal
            self._count_field_bytes(len(name) + len(value) + 4)  # ": " and CRLF
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head = True
            self._message_ended = True
            self._head_bytes = 0

        def _count_field_bytes(self, size: int) -> None:
            self._field_bytes += size
            if self._field_bytes > limits.max_head_bytes:
                # Raised inside a parser callback, as in on_url.
                self._refusal = _too_large()
                raise self._refusal

        def send_400_response(self, msg: str) -> None:
            if self._refusal is None:
                super().send_400_response(msg)
            else:
                self._refuse(self._refusal)

        def _refuse(self, refusal: _HeadRefused) -> None:
            body = str(refusal).encode()
            head = (
                f"HTTP/1.1 {refusal.status.value} {refusal.status.phrase}\r\n"
                "content-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\n"
                "connection: close\r\n\r\n"
            ).encode()
            self.transport.write(head + body)
            self.transport.close()

    return BoundedHttpToolsProtocol
