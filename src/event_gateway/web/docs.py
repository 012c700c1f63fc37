"""/openapi.json and the /docs page: Swagger UI served from our own process.

The Swagger UI files come from the swagger_ui_bundle package and are served under
/docs/static/, so the page works without reaching a CDN (air-gapped installs, strict
CSPs). The bundled Swagger UI 4 renders OpenAPI 3.0, so the page loads
/docs/openapi.json, the same document labelled 3.0.3 (see openapi.for_swagger_ui).
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

from event_gateway.web.openapi import for_swagger_ui
from event_gateway.web.responses import Receive, Scope, Send, method_not_allowed, send_bytes

STATIC_PREFIX = "/docs/static/"
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/docs-init.js"></script>
</body>
</html>
"""
# In a file rather than inline so a Content-Security-Policy without 'unsafe-inline' works.
_INIT = b"""window.ui = SwaggerUIBundle({url: "/docs/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, presets: [SwaggerUIBundle.presets.apis]});
"""


def swagger_ui_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


class Docs:
    """Serves /openapi.json, /docs, /docs/openapi.json and /docs/static/*."""

    def __init__(self, document: dict[str, Any], static_dir: Path | None = None) -> None:
        self._openapi = json.dumps(document, separators=(",", ":")).encode()
        self._compat = json.dumps(for_swagger_ui(document), separators=(",", ":")).encode()
        title = str(document.get("info", {}).get("title", "API"))
        self._page = _PAGE.format(title=title.replace("<", "&lt;")).encode()
        self._static = (static_dir or swagger_ui_dir()).resolve()
        # The file list is fixed at start: requests can never name anything else.
        self._files = {p.name: p for p in self._static.iterdir() if p.is_file()}

    async def openapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(scope, send, self._openapi, "application/json")

    async def page(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(scope, send, self._page, "text/html; charset=utf-8")

    async def static(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path == "/docs/openapi.json":
            await self._serve(scope, send, self._compat, "application/json")
            return
        name = path[len(STATIC_PREFIX) :] if path.startswith(STATIC_PREFIX) else ""
        if name == "docs-init.js":
            await self._serve(scope, send, _INIT, "text/javascript")
            return
        file = self._files.get(name)
        if file is None:
            await send_bytes(send, 404, b'{"detail":"Not Found"}', "application/json")
            return
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        # Small files read once per request; /docs is not a hot path.
        await self._serve(scope, send, file.read_bytes(), content_type)

    async def _serve(self, scope: Scope, send: Send, body: bytes, content_type: str) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await method_not_allowed(send, "GET, HEAD")
            return
        await send_bytes(send, 200, body, content_type)
