"""CORS as pure ASGI middleware, with the allowed origins chosen per path group.

Browsers call every documented API from shops' pages: storefront analytics without a
key, and the keyed APIs with a key made for pages (Depict's `api_key` in the query,
Topsort's bearer token from topsort.js), as the peers' collectors allow (Segment,
RudderStack, PostHog and Snowplow all answer any origin). So both path groups allow any
origin by default: the public paths `public_origins`, every other path `origins`, each
configurable apart (say, to pin a keyed API to the shop's own origins). CORS protects
nothing a key does not: it only decides which pages may read the answers, and no answer
depends on a visitor's cookies.

- A preflight (OPTIONS with Access-Control-Request-Method) is answered here: 204 with
  Allow-Origin, Allow-Methods, the requested headers when all are allowed (any header
  name by default: SDKs add their own, like topsort.js's X-UA), and Max-Age; 400
  without CORS headers when the origin, method or a header is refused.
- Other requests pass through; an allowed Origin gets Allow-Origin (the origin echoed)
  and Expose-Headers on the answer. A refused origin's request is not blocked: the
  browser withholds the answer, and non-browser clients do not use CORS.
- Allowed origins also get Access-Control-Allow-Credentials (unless configured off),
  as every peer collector answers: navigator.sendBeacon always sends credentials, so
  the browser drops a beacon with a JSON body without it. It grants a page nothing,
  since no answer depends on a cookie or on any credential the browser adds itself.
- Every answer to a request with an Origin carries `Vary: Origin`, since it depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from event_gateway.config import HEADER_NAME, CorsSettings
from event_gateway.web.responses import ASGIApp, Message, Receive, Scope, Send

# Headers scripts may read: rate-limit state and when to retry, which scheme a 401
# wants (Topsort's WWW-Authenticate) and which methods a 405 allows.
DEFAULT_EXPOSE_HEADERS = (
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",  # the storefront's (Laravel's) 429
    "ratelimit",
    "ratelimit-policy",
    "www-authenticate",
    "allow",
)


@dataclass(frozen=True, slots=True)
class CorsOptions:
    public_paths: frozenset[str] = frozenset()
    public_origins: tuple[str, ...] = ("*",)
    origins: tuple[str, ...] = ("*",)
    allow_methods: tuple[str, ...] = ("GET", "POST", "OPTIONS")
    allow_headers: frozenset[str] = frozenset({"*"})  # "*": any header name
    expose_headers: tuple[str, ...] = DEFAULT_EXPOSE_HEADERS
    max_age: int = 600
    allow_credentials: bool = True
    _public: frozenset[str] = field(init=False, default=frozenset())
    _private: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_public", frozenset(self.public_origins))
        object.__setattr__(self, "_private", frozenset(self.origins))

    @classmethod
    def from_settings(cls, settings: CorsSettings, public_paths: Iterable[str]) -> CorsOptions:
        return cls(
            public_paths=frozenset(public_paths),
            public_origins=tuple(settings.public_origins),
            origins=tuple(settings.origins),
            max_age=settings.max_age,
            allow_headers=frozenset(settings.allow_headers),
            allow_credentials=settings.allow_credentials,
        )

    def origin_allowed(self, path: str, origin: str) -> bool:
        allowed = self._public if path in self.public_paths else self._private
        return "*" in allowed or origin in allowed

    def header_allowed(self, name: str) -> bool:
        # Requested names are echoed into the answer: what is no header name is refused
        # rather than written into a header.
        if not HEADER_NAME.fullmatch(name):
            return False
        return "*" in self.allow_headers or name in self.allow_headers


class CorsMiddleware:
    def __init__(self, app: ASGIApp, options: CorsOptions) -> None:
        self._app = app
        self._options = options
        self._methods = ", ".join(options.allow_methods).encode()
        self._expose = ", ".join(options.expose_headers).encode()
        self._max_age = str(options.max_age).encode()
        self._credentials = (
            [(b"access-control-allow-credentials", b"true")] if options.allow_credentials else []
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if origin is None:
            await self._app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(scope, origin, send)
            return
        allowed = self._options.origin_allowed(scope["path"], origin)
        await self._app(scope, receive, self._decorating(send, origin, allowed))

    async def _preflight(self, scope: Scope, origin: str, send: Send) -> None:
        options = self._options
        method = (_header(scope, b"access-control-request-method") or "").upper()
        requested = [
            h.strip().lower()
            for h in (_header(scope, b"access-control-request-headers") or "").split(",")
            if h.strip()
        ]
        refused = (
            not options.origin_allowed(scope["path"], origin)
            or method not in options.allow_methods
            or not all(options.header_allowed(h) for h in requested)
        )
        if refused:
            await _answer(send, 400, [(b"vary", b"Origin"), (b"content-type", b"text/plain")],
                          b"CORS preflight refused")
            return
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", self._methods),
            (b"access-control-max-age", self._max_age),
            (b"vary", b"Origin"),
            *self._credentials,
        ]
        if requested:
            headers.append((b"access-control-allow-headers", ", ".join(requested).encode()))
        await _answer(send, 204, headers, b"")

    def _decorating(self, send: Send, origin: str, allowed: bool) -> Send:
        extra: list[tuple[bytes, bytes]] = []
        if allowed:
            extra = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-expose-headers", self._expose),
                *self._credentials,
            ]

        async def decorated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != b"vary"
                ]
                vary = [v for k, v in message.get("headers", ()) if k.lower() == b"vary"]
                headers.append((b"vary", b", ".join([*vary, b"Origin"])))
                headers.extend(extra)
                message = {**message, "headers": headers}
            await send(message)

        return decorated


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    if status != 204:  # RFC 9110 §8.6: never a Content-Length on a 204
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
