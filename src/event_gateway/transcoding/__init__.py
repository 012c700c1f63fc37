"""Generic HTTP/JSON ↔ gRPC transcoding (google.api.http), for any annotated service.

Nothing here knows a specific API; everything API-specific arrives as options.
Exports are resolved lazily so importing one module does not import them all.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name → module that defines it
_EXPORTS = {
    "TranscodingApp": "asgi",
    "TranscodingOptions": "options",
    "DEFAULT_INCOMING_HEADERS": "options",
    "Route": "rules",
    "RuleError": "rules",
    "routes_for_service": "rules",
    "routes_for_method": "rules",
    "rpc_name": "rules",
    "CodecOptions": "codec",
    "MessageCodec": "codec",
    "DecodeError": "codec",
    "default_renderer_for": "errors",
    "routes_for_files": "rules",
    "http_status_from_code": "status",
    "HttpResponse": "errors",
    "RpcFailure": "errors",
    "ErrorRenderer": "errors",
    "default_error_renderer": "errors",
    "make_failure": "errors",
    "bad_request": "errors",
    "InProcessContext": "context",
    "CallOutcome": "dispatch",
    "Dispatcher": "dispatch",
    "InProcessDispatcher": "dispatch",
    "Refused": "dispatch",
    "UpstreamDispatcher": "dispatch",
    "run_standalone": "standalone",
    "load_descriptor_set": "standalone",
    "parse_template": "template",
    "Template": "template",
    "TemplateError": "template",
    "Variable": "template",
    "PathMatcher": "matcher",
    "MatcherOptions": "matcher",
    "Match": "matcher",
    "parse_query": "matcher",
    "percent_decode": "matcher",
    "PercentDecodingError": "matcher",
    "set_query_parameter": "query",
    "QueryParameterError": "query",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = sorted(_EXPORTS)
