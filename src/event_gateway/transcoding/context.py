"""A ServicerContext for calls made in-process (REST → interceptors → servicer).

It behaves like ``grpc.aio.ServicerContext`` as servicers and interceptors use it:
``abort`` records the status and raises ``grpc.aio.AbortError`` (the same exception a
real grpc.aio server raises, so ``except AbortError`` code behaves the same), and the
code/details/metadata setters record what the dispatcher turns into the outcome.

One deliberate difference: grpc's ``abort_with_status`` replaces trailing metadata set
earlier; here it is merged, so headers such as rate-limit counters set before an abort
still reach the HTTP response.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

import grpc
from grpc import aio

Metadata = tuple[tuple[str, str | bytes], ...]


def format_peer(host: str | None, port: int | None) -> str:
    """A client address in gRPC's peer format: ``ipv4:1.2.3.4:5`` or ``ipv6:[::1]:5``."""
    if not host:
        return "unknown"
    version = _ip_version(host)
    if version is None:
        return f"unix:{host}" if host.startswith("/") else f"dns:{host}:{port or 0}"
    if version == 6:
        return f"ipv6:[{host}]:{port or 0}"
    return f"ipv4:{host}:{port or 0}"


# Every request asks; a server sees few distinct client hosts at a time, and parsing
# one with ipaddress costs microseconds.
@functools.lru_cache(maxsize=4096)
def _ip_version(host: str) -> int | None:
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def peer_host(peer: str) -> str:
    """The host part of a gRPC peer string (``ipv6:[::1]:5`` → ``::1``)."""
    _, _, address = peer.partition(":")
    if address.startswith("["):
        return address[1 : address.index("]")]
    return address.rpartition(":")[0] or address


def _as_metadata(metadata: Iterable[tuple[str, Any]] | None) -> Metadata:
    if type(metadata) is tuple:
        return metadata  # already immutable: kept as given, as grpc.aio keeps it
    return tuple([(str(key), value) for key, value in metadata or ()])


class InProcessContext(aio.ServicerContext):  # type: ignore[type-arg]
    """The context handed to interceptors' wrapped behaviours and to the servicer."""

    __slots__ = (
        "_metadata",
        "_peer",
        "_deadline",
        "_code",
        "_details",
        "_initial",
        "_trailing",
        "_aborted",
        "_done",
        "_callbacks",
    )

    def __init__(self, metadata: Metadata, peer: str, timeout: float | None = None) -> None:
        self._metadata = metadata
        self._peer = peer
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._initial: Metadata = ()
        self._trailing: Metadata = ()
        self._aborted = False
        self._done = False
        self._callbacks: list[Callable[[Any], None]] = []

    # -- status ------------------------------------------------------------------
    async def abort(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Sequence[tuple[str, Any]] = (),
    ) -> NoReturn:
        if self._aborted:
            raise aio.UsageError("Abort was already called!")
        if code == grpc.StatusCode.OK:
            # grpc.aio refuses OK here too: an abort must carry a failure.
            code = grpc.StatusCode.UNKNOWN
        self._aborted = True
        self._code = code
        if details or self._details is None:
            self._details = details
        if trailing_metadata:
            # Keep what was set earlier (see module docstring); a key given again
            # replaces its earlier values rather than repeating them.
            given = _as_metadata(trailing_metadata)
            replaced = {key for key, _ in given}
            self._trailing = tuple(kv for kv in self._trailing if kv[0] not in replaced) + given
        raise aio.AbortError("Locally aborted.")

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def set_details(self, details: str) -> None:
        self._details = details

    def details(self) -> str | None:
        return self._details

    @property
    def aborted(self) -> bool:
        return self._aborted

    # -- metadata ----------------------------------------------------------------
    def invocation_metadata(self) -> Metadata:
        return self._metadata

    async def send_initial_metadata(self, initial_metadata: Sequence[tuple[str, Any]]) -> None:
        self._initial = self._initial + _as_metadata(initial_metadata)

    def initial_metadata(self) -> Metadata:
        return self._initial

    def set_trailing_metadata(self, trailing_metadata: Sequence[tuple[str, Any]]) -> None:
        self._trailing = _as_metadata(trailing_metadata)

    def trailing_metadata(self) -> Metadata:
        return self._trailing

    # -- connection --------------------------------------------------------------
    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    def auth_context(self) -> dict[str, Iterable[bytes]]:
        return {}

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def set_compression(self, compression: grpc.Compression) -> None:
        """Compression is HTTP's business on this path; accepted and ignored."""

    def disable_next_message_compression(self) -> None:
        """Accepted and ignored, as set_compression."""

    # -- lifecycle ---------------------------------------------------------------
    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return self._done

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self._callbacks.append(callback)

    def finish(self) -> None:
        """Mark the call done and run done-callbacks (called by the dispatcher)."""
        self._done = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    # Streaming methods are not served in-process (the dispatcher refuses them).
    async def read(self) -> NoReturn:
        raise aio.UsageError("read() is not available for unary requests")

    async def write(self, message: Any) -> NoReturn:
        raise aio.UsageError("write() is not available for unary responses")
