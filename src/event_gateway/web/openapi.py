"""The OpenAPI 3.1 document, generated from the descriptors and the contract.

Nothing here names an API: paths and methods come from the `google.api.http` rules,
schemas from the message descriptors (web/schemas.py), success statuses, credentials
and error styles from the contract's specs. Error bodies are described per error
dialect (the styles in event_gateway.dialects), keyed by dialect name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor

from event_gateway.contract import (
    ApiSpec,
    Contract,
    CredentialLocation,
    MethodSpec,
    enum_json_value,
    grpc_only,
)
from event_gateway.web.schemas import Schema, SchemaBuilder

OPENAPI_VERSION = "3.1.0"
_VARIABLE = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")
_HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _json(description: str, schema: Schema, example: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema, "example": example}},
    }


def _obj(**properties: Schema) -> Schema:
    return {"type": "object", "properties": properties}


_STR: Schema = {"type": "string"}
_STATUS_SCHEMA = _obj(
    code={"type": "integer"}, message=_STR, details={"type": "array", "items": {"type": "object"}}
)

# Per dialect: status -> (description, schema, example). What each renderer in
# event_gateway.dialects answers; "" is the transcoder's google.rpc.Status JSON.
_ALANA = _obj(
    status=_STR,
    error=_STR,
    code=_STR,
    details={"type": "array", "items": _obj(field=_STR, reason=_STR)},
)
_TOPSORT = {"type": "array", "items": _obj(errCode=_STR, docUrl=_STR, message=_STR)}
_TOPSORT_DOC = "https://docs.topsort.com/en/api-reference/errors"
_LARAVEL_MESSAGE = _obj(message=_STR)
_FASTAPI_DETAIL = _obj(detail=_STR)
_FASTAPI_422 = _obj(
    detail={
        "type": "array",
        "items": _obj(
            loc={"type": "array", "items": {"oneOf": [_STR, {"type": "integer"}]}},
            msg=_STR,
            type=_STR,
        ),
    }
)

ErrorTable = dict[int, tuple[str, Schema, Any]]
DIALECT_ERRORS: dict[str, ErrorTable] = {
    "alana": {
        400: ("Invalid request (bad JSON, a batch over the limit, bad fields)", _ALANA,
              {"status": "error", "error": "events[0].visitorId: is required",
               "code": "invalid_request",
               "details": [{"field": "events[0].visitorId", "reason": "is required"}]}),
        401: ("API key missing or invalid", _ALANA,
              {"status": "error", "error": "Invalid API key", "code": "invalid_api_key"}),
        429: ("Rate limit exceeded (see Retry-After)", _ALANA,
              {"status": "error", "error": "Rate limit exceeded", "code": "rate_limited"}),
        503: ("Temporarily unavailable; nothing was stored (see Retry-After)", _ALANA,
              {"status": "error", "error": "Service temporarily unavailable; nothing was "
               "stored, retry later", "code": "unavailable"}),
    },
    "laravel": {
        404: ("Not found: the tenant does not exist or is not public", _obj(
              success={"type": "boolean"}, message=_STR),
              {"success": False, "message": "Tenant not found"}),
        422: ("Validation failed", _obj(
              message=_STR,
              errors={"type": "object",
                      "additionalProperties": {"type": "array", "items": _STR}}),
              {"message": "The type field is required.",
               "errors": {"type": ["The type field is required."]}}),
        429: ("Too many requests (see Retry-After)", _LARAVEL_MESSAGE,
              {"message": "Too Many Attempts."}),
        503: ("Temporarily unavailable (see Retry-After)", _LARAVEL_MESSAGE,
              {"message": "Service Unavailable"}),
    },
    "fastapi": {
        401: ("Invalid API key", _FASTAPI_DETAIL, {"detail": "Invalid API key"}),
        422: ("Validation failed (a missing api_key is reported here too)", _FASTAPI_422,
              {"detail": [{"loc": ["body", 0, "tenant"], "msg": "Field required",
                           "type": "missing"}]}),
        429: ("Too many requests (see Retry-After)", _FASTAPI_DETAIL,
              {"detail": "Too Many Requests"}),
        503: ("Temporarily unavailable (see Retry-After)", _FASTAPI_DETAIL,
              {"detail": "Service Unavailable"}),
    },
    "topsort": {
        400: ("Invalid request", _TOPSORT,
              [{"errCode": "bad_request", "docUrl": _TOPSORT_DOC,
                "message": "impressions[0].id: is required"}]),
        401: ("API key missing, invalid or expired", _TOPSORT,
              [{"errCode": "invalid_api_key", "docUrl": _TOPSORT_DOC,
                "message": "The API key is missing, invalid or expired."}]),
        429: ("Too many requests (see Retry-After)", _TOPSORT,
              [{"errCode": "rate_limit_exceeded", "docUrl": _TOPSORT_DOC,
                "message": "Too many requests; retry later."}]),
        503: ("Temporarily unavailable (see Retry-After)", _TOPSORT,
              [{"errCode": "service_unavailable", "docUrl": _TOPSORT_DOC,
                "message": "The service is temporarily unavailable; retry later."}]),
    },
    "": {
        400: ("Invalid request", _STATUS_SCHEMA, {"code": 3, "message": "invalid request"}),
        401: ("Unauthenticated", _STATUS_SCHEMA, {"code": 16, "message": "API key missing."}),
        429: ("Rate limited", _STATUS_SCHEMA, {"code": 8, "message": "Rate limit exceeded."}),
        503: ("Unavailable", _STATUS_SCHEMA, {"code": 14, "message": "Unavailable"}),
    },
}


def build_openapi(
    contract: Contract,
    title: str = "event-gateway",
    version: str = "0.1.0",
    enum_spelling: Callable[[descriptor.EnumValueDescriptor], str | None] = enum_json_value,
    omitted_field: Callable[[descriptor.FieldDescriptor], bool] = grpc_only,
) -> dict[str, Any]:
    schemas = SchemaBuilder(enum_spelling, omitted_field)
    paths: dict[str, dict[str, Any]] = {}
    security_schemes: dict[str, Any] = {}
    tags = []
    for api in contract.apis:
        tags.append({"name": api.name, "description": _first_line(api.service)})
        security = _security(api, security_schemes)
        for method in api.service.methods:
            spec = contract.method(f"/{api.service.full_name}/{method.name}")
            if spec is None:
                continue
            for verb, template, body in http_bindings(method):
                path, params = openapi_path(template)
                operation = _operation(spec, body, params, security, schemas)
                paths.setdefault(path, {})[verb] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "tags": tags,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": security_schemes,
        },
    }


def _first_line(service: descriptor.ServiceDescriptor) -> str:
    return f"{service.full_name} (gRPC) transcoded to JSON"


def http_bindings(method: descriptor.MethodDescriptor) -> Iterable[tuple[str, str, str]]:
    """(verb, path template, body) for the method's rule and its additional bindings."""
    if not method.GetOptions().HasExtension(annotations_pb2.http):
        return []
    rule: http_pb2.HttpRule = method.GetOptions().Extensions[annotations_pb2.http]
    out = []
    for r in (rule, *rule.additional_bindings):
        pattern = r.WhichOneof("pattern")
        if pattern in _HTTP_METHODS:
            out.append((pattern, getattr(r, pattern), r.body))
        elif pattern == "custom":
            out.append((r.custom.kind.lower(), r.custom.path, r.body))
    return out


def openapi_path(template: str) -> tuple[str, list[str]]:
    """An OpenAPI path from an http rule template: {name=segments/*} becomes {name}."""
    names: list[str] = []

    def variable(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return "{" + match.group(1) + "}"

    return _VARIABLE.sub(variable, template), names


def _operation(
    spec: MethodSpec,
    body: str,
    path_params: list[str],
    security: list[dict[str, list[str]]],
    schemas: SchemaBuilder,
) -> dict[str, Any]:
    method = spec.descriptor
    operation: dict[str, Any] = {
        "operationId": f"{spec.api.name}.{method.name}",
        "tags": [spec.api.name],
        "summary": f"{method.containing_service.name}.{method.name}",
        "security": security,
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in path_params
        ],
        "responses": _responses(spec, schemas),
    }
    if spec.beacon:
        operation["description"] = (
            "A beacon: apart from rate limiting it always answers success, so a page "
            "using navigator.sendBeacon is never disturbed. Bodies sent as text/plain "
            "(sendBeacon's Blob) are read as JSON; HTML forms (FormData, URLSearchParams) "
            "are read as Laravel reads them."
        )
    request = _request_body(method.input_type, body, schemas)
    if request is not None:
        if spec.beacon:
            media = request["content"]["application/json"]
            request["content"]["text/plain"] = {"schema": media["schema"]}
        operation["requestBody"] = request
    return operation


def _request_body(
    message: descriptor.Descriptor, body: str, schemas: SchemaBuilder
) -> dict[str, Any] | None:
    if not body:
        return None
    if body == "*":
        schema = schemas.message_ref(message)
    else:
        # A body bound to one field: a repeated field makes the body a top-level array.
        schema = schemas.field(message.fields_by_name[body])
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _responses(spec: MethodSpec, schemas: SchemaBuilder) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    status = spec.success_status
    if status == 204:
        responses["204"] = {"description": "Accepted; no content"}
    else:
        schema = schemas.message_ref(spec.descriptor.output_type)
        responses[str(status)] = {
            "description": "Success",
            "content": {"application/json": {"schema": schema}},
        }
    table = DIALECT_ERRORS.get(spec.api.error_dialect, DIALECT_ERRORS[""])
    for code in spec.statuses:
        if 200 <= code < 300 and status != 204:
            # A second success status (set by the servicer): the same message.
            responses[str(code)] = {**responses[str(status)], "description": "Success (also)"}
    for code, (description, schema, example) in sorted(table.items()):
        if spec.statuses and code not in spec.statuses:
            continue  # the method declares the statuses it can answer
        if spec.beacon and code != 429:
            continue  # a beacon reports nothing else
        if code == 401 and spec.api.public:
            continue
        responses[str(code)] = _json(description, schema, example)
    return responses


def _security(api: ApiSpec, schemes: dict[str, Any]) -> list[dict[str, list[str]]]:
    """The API's credentials as security schemes; any one of them suffices."""
    alternatives: list[dict[str, list[str]]] = []
    for credential in api.credentials:
        if credential.location == CredentialLocation.CREDENTIAL_LOCATION_BEARER:
            name, scheme = "bearer", {"type": "http", "scheme": "bearer"}
        elif credential.location == CredentialLocation.CREDENTIAL_LOCATION_HEADER:
            name = f"header_{credential.name}"
            scheme = {"type": "apiKey", "in": "header", "name": credential.name}
        elif credential.location == CredentialLocation.CREDENTIAL_LOCATION_QUERY:
            name = f"query_{credential.name}"
            scheme = {"type": "apiKey", "in": "query", "name": credential.name}
        else:
            continue
        schemes[name] = scheme
        alternatives.append({name: []})
    return alternatives


def for_swagger_ui(document: dict[str, Any]) -> dict[str, Any]:
    """The document labelled 3.0.3 for the bundled Swagger UI 4, which cannot show 3.1.

    The schemas use only constructs common to both versions (see web/schemas.py), so
    the label is the only difference; /openapi.json keeps serving 3.1.
    """
    return {**document, "openapi": "3.0.3"}
