"""JSON Schemas of Protobuf messages as the REST side reads and writes them.

Field names are the JSON names (`json_name`, which the documented APIs set where they
are snake_case), enums are their documented spellings (the `enum_spelling` passed in,
normally `contract.enum_json_value`), and well-known types have their proto3 JSON
forms (Timestamp is an RFC 3339 string, Struct an object, wrappers their scalar).
Only constructs common to OpenAPI 3.0 and 3.1 are used, so the same schemas serve the
bundled Swagger UI (which renders 3.0) too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor

_F = descriptor.FieldDescriptor
EnumSpelling = Callable[[descriptor.EnumValueDescriptor], str | None]
Schema = dict[str, Any]

_SCALARS: dict[int, Schema] = {
    _F.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _F.TYPE_FLOAT: {"type": "number", "format": "float"},
    _F.TYPE_INT32: {"type": "integer", "format": "int32"},
    _F.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _F.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _F.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    _F.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    # proto3 JSON writes 64-bit integers as strings and reads numbers or strings; the
    # documented clients send numbers.
    _F.TYPE_INT64: {"type": "integer", "format": "int64"},
    _F.TYPE_SINT64: {"type": "integer", "format": "int64"},
    _F.TYPE_SFIXED64: {"type": "integer", "format": "int64"},
    _F.TYPE_UINT64: {"type": "integer", "format": "int64", "minimum": 0},
    _F.TYPE_FIXED64: {"type": "integer", "format": "int64", "minimum": 0},
    _F.TYPE_BOOL: {"type": "boolean"},
    _F.TYPE_STRING: {"type": "string"},
    _F.TYPE_BYTES: {"type": "string", "format": "byte"},
}

_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
    "google.protobuf.DoubleValue": {"type": "number", "format": "double"},
    "google.protobuf.FloatValue": {"type": "number", "format": "float"},
    "google.protobuf.Int64Value": {"type": "integer", "format": "int64"},
    "google.protobuf.UInt64Value": {"type": "integer", "format": "int64", "minimum": 0},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    "google.protobuf.UInt32Value": {"type": "integer", "format": "int64", "minimum": 0},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte"},
}

REF_PREFIX = "#/components/schemas/"


class SchemaBuilder:
    """Collects component schemas for the messages and enums it is asked about."""

    def __init__(
        self,
        enum_spelling: EnumSpelling,
        omitted_field: Callable[[descriptor.FieldDescriptor], bool] = lambda field: False,
    ) -> None:
        self._spelling = enum_spelling
        self._omitted = omitted_field
        self.components: dict[str, Schema] = {}

    def message_ref(self, message: descriptor.Descriptor) -> Schema:
        """A schema for the message: a $ref, or inline for well-known types."""
        known = _WELL_KNOWN.get(message.full_name)
        if known is not None:
            return dict(known)
        name = message.full_name
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may be recursive
            self.components[name] = self._message(message)
        return {"$ref": REF_PREFIX + name}

    def field(self, field: descriptor.FieldDescriptor) -> Schema:
        if _is_map(field):
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self._single(value)}
        single = self._single(field)
        if field.is_repeated:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: descriptor.FieldDescriptor) -> Schema:
        if field.message_type is not None:
            return self.message_ref(field.message_type)
        if field.enum_type is not None:
            return self._enum_ref(field.enum_type)
        return dict(_SCALARS[field.type])

    def _message(self, message: descriptor.Descriptor) -> Schema:
        properties = {f.json_name: self.field(f) for f in message.fields if not self._omitted(f)}
        return {"type": "object", "properties": properties}

    def _enum_ref(self, enum: descriptor.EnumDescriptor) -> Schema:
        name = enum.full_name
        if name not in self.components:
            # The zero value means "not set" in proto3: not a value a client sends.
            values = [self._spelling(v) or v.name for v in enum.values if v.number != 0]
            self.components[name] = {"type": "string", "enum": values}
        return {"$ref": REF_PREFIX + name}


def _is_map(field: descriptor.FieldDescriptor) -> bool:
    message = field.message_type
    return bool(field.is_repeated and message is not None and message.GetOptions().map_entry)
