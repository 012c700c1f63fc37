"""Reading a request body from ASGI: size limits, gzip, and which media types are read.

Limits are checked before work is done: Content-Length above the limit is refused
before reading, the stream is cut as soon as it passes the limit, and gzip output is
capped at the decompressed limit, so a small gzip bomb costs at most that much memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

Receive = Callable[[], Awaitable[dict[str, Any]]]

_JSON_MEDIA_TYPES = frozenset({b"application/json", b"text/plain"})
_FORM_MEDIA_TYPES = frozenset({b"application/x-www-form-urlencoded", b"multipart/form-data"})
_UTF8_CHARSETS = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_GZIP = frozenset({b"gzip", b"x-gzip"})


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_body_bytes: int
    max_decompressed_bytes: int


class BodyError(Exception):
    """A request body the transcoder refuses; becomes an RpcFailure with this HTTP status."""

    def __init__(self, http_status: int, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message


class ClientDisconnected(Exception):
    """The client went away before sending the whole body; nothing is answered."""


def too_large(limit: int) -> BodyError:
    return BodyError(
        413, grpc.StatusCode.RESOURCE_EXHAUSTED, f"request body exceeds {limit} bytes"
    )


def check_media_type(content_type: bytes | None, *, forms: bool = False) -> bytes | None:
    """Accept JSON (also ``application/*+json``) and ``text/plain`` (sendBeacon); else 415.

    A missing Content-Type is read as JSON, since beacons sent as a Blob may carry none.
    With `forms`, HTML form bodies are accepted too: their media type is returned (lower
    case, without parameters); None means JSON.
    """
    if content_type is None:
        return None
    media, _, params = content_type.partition(b";")
    media = media.strip().lower()
    if forms and media in _FORM_MEDIA_TYPES:
        _check_charset(params, "a form")
        return media
    is_json = media in _JSON_MEDIA_TYPES or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )
    if not is_json:
        raise BodyError(
            415, grpc.StatusCode.INVALID_ARGUMENT, f"unsupported media type {media.decode('latin-1')!r}"
        )
    _check_charset(params, "JSON")
    return None


def _check_charset(params: bytes, what: str) -> None:
    for param in params.split(b";"):
        name, _, value = param.partition(b"=")
        if name.strip().lower() == b"charset" and value.strip(b' "').lower() not in _UTF8_CHARSETS:
            raise BodyError(415, grpc.StatusCode.INVALID_ARGUMENT, f"{what} must be UTF-8")


def check_content_encoding(encoding: bytes | None) -> bool:
    """True when the body is gzip-compressed; unknown codings are 415 (RFC 7694)."""
    if encoding is None:
        return False
    value = encoding.strip().lower()
    if value in _GZIP:
        return True
    if value in (b"", b"identity"):
        return False
    raise BodyError(
        415, grpc.StatusCode.INVALID_ARGUMENT, f"unsupported content encoding {value.decode('latin-1')!r}"
    )


async def read_body(
    receive: Receive, content_length: int | None, gzipped: bool, limits: BodyLimits
) -> bytes:
    """The whole body, decompressed, within the limits."""
    limit = limits.max_body_bytes
    if content_length is not None and content_length > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if gzipped and body:
        return gunzip(body, limits.max_decompressed_bytes)
    return body


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip (several members allowed), never producing more than ``limit`` bytes."""
    out: list[bytes] = []
    produced = 0
    while data:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = decompressor.decompress(data, limit - produced + 1)
        except zlib.error as err:
            raise BodyError(400, grpc.StatusCode.INVALID_ARGUMENT, "malformed gzip body") from err
        produced += len(chunk)
        if produced > limit or decompressor.unconsumed_tail:
            raise too_large(limit)
        if not decompressor.eof:
            raise BodyError(400, grpc.StatusCode.INVALID_ARGUMENT, "truncated gzip body")
        out.append(chunk)
        data = decompressor.unused_data
    return b"".join(out)
