"""Set one field of a request message from a query-parameter (or path-variable) string.

The value is read with proto-JSON semantics, the way vanguard-go's setParameter does (its test
cases are the conformance corpus): numbers in range for the field's type, floats also as `NaN`,
`Infinity`, `-Infinity`; bools as `true`/`false`; enums by name or number (`null` = the zero
value); bytes as standard or URL-safe base64, padded or not; Timestamp (RFC 3339), Duration
(`1.5s`), FieldMask (`a,b.c`), the wrapper types, and Struct/Value/ListValue as JSON text.

The field path is dotted into nested singular messages; each element may be the proto name or
the JSON (lowerCamelCase) name. Repeated fields append, so `?a=1&a=2` builds a list. Maps, paths
through repeated or map fields, whole messages other than the well-known ones, and a second
member of a oneof that already has one set are refused: QueryParameterError, which the caller
answers with HTTP 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_INTEGER = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_FLOAT_WORDS = MappingProxyType({"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf})
_INT_RANGES = MappingProxyType({
    FieldDescriptor.TYPE_INT32: ("int32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: ("sint32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: ("sfixed32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: ("int64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: ("sint64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: ("sfixed64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: ("uint32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: ("fixed32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: ("uint64", 0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: ("fixed64", 0, 2**64 - 1),
})
# The wrapper types hold one field, `value`, read like a field of the wrapped type.
_WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Bool", "Int32", "Int64", "UInt32", "UInt64", "Float", "Double", "String",
                 "Bytes")
)
_JSON_TYPES = frozenset({"google.protobuf.Struct", "google.protobuf.Value",
                         "google.protobuf.ListValue"})
# Well-known types whose proto-JSON form is a string: a client may send it JSON-quoted.
_QUOTABLE = frozenset({"google.protobuf.Timestamp", "google.protobuf.Duration",
                       "google.protobuf.FieldMask", "google.protobuf.StringValue",
                       "google.protobuf.BytesValue"})


class QueryParameterError(ValueError):
    """A query parameter that names no settable field or whose value does not fit it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"invalid query parameter {name!r}: {problem}")
        self.name = name
        self.problem = problem


class _BadValue(ValueError):
    """Raised by the value readers; set_query_parameter adds the parameter name."""


def set_query_parameter(message: Message, field_path: Sequence[str], value: str) -> None:
    """Set (or, for a repeated field, append) the field at `field_path` from `value`."""
    name = ".".join(field_path)
    if not field_path:
        raise QueryParameterError(name, "empty field path")
    target = message
    for element in field_path[:-1]:
        field = _find_field(target.DESCRIPTOR, element, name)
        _refuse_through(field, name)
        _refuse_oneof_conflict(target, field, name)
        target = getattr(target, field.name)
    field = _find_field(target.DESCRIPTOR, field_path[-1], name)
    if _is_map(field):
        raise QueryParameterError(name, f"map field {field.name!r} cannot be set from a query "
                                        "parameter")
    try:
        parsed = _read_value(field, value)
    except _BadValue as err:
        raise QueryParameterError(name, str(err)) from err
    _store(target, field, parsed, name)


def _find_field(descriptor: Descriptor, element: str, name: str) -> FieldDescriptor:
    """The field named `element` by its proto name, lowerCamelCase name or json_name."""
    field = (descriptor.fields_by_name.get(element)
             or descriptor.fields_by_camelcase_name.get(element))
    if field is None:
        field = next((f for f in descriptor.fields if f.json_name == element), None)
    if field is None:
        raise QueryParameterError(name, f"{descriptor.full_name} has no field {element!r}")
    return field


def _refuse_through(field: FieldDescriptor, name: str) -> None:
    # A dotted name can only address one nested message: which list element or map entry
    # would `items.name` set?
    if _is_map(field) or field.is_repeated:
        raise QueryParameterError(name, f"field {field.name!r} is a list or map; a query "
                                        "parameter cannot set fields inside it")
    if field.message_type is None:
        raise QueryParameterError(name, f"field {field.name!r} is not a message, so it has no "
                                        "fields to set")


def _refuse_oneof_conflict(target: Message, field: FieldDescriptor, name: str) -> None:
    oneof = field.containing_oneof
    if oneof is None:
        return
    chosen = target.WhichOneof(oneof.name)
    if chosen is not None and chosen != field.name:
        raise QueryParameterError(name, f"{field.name!r} and {chosen!r} are both members of "
                                        f"oneof {oneof.name!r}; only one may be set")


def _store(target: Message, field: FieldDescriptor, parsed: Any, name: str) -> None:
    if field.is_repeated:
        container = getattr(target, field.name)
        if field.message_type is None:
            container.append(parsed)
        else:
            container.add().CopyFrom(parsed)
        return
    _refuse_oneof_conflict(target, field, name)
    if field.message_type is None:
        setattr(target, field.name, parsed)
    else:
        getattr(target, field.name).CopyFrom(parsed)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _read_value(field: FieldDescriptor, text: str) -> Any:
    if field.message_type is not None:
        return _read_message(field.message_type, text)
    return _read_scalar(field, text)


def _read_scalar(field: FieldDescriptor, text: str) -> Any:
    kind = field.type
    if kind in _INT_RANGES:
        return _read_int(text, *_INT_RANGES[kind])
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return _read_double(text)
    if kind == FieldDescriptor.TYPE_FLOAT:
        return _read_float(text)
    if kind == FieldDescriptor.TYPE_BOOL:
        return _read_bool(text)
    if kind == FieldDescriptor.TYPE_BYTES:
        return _read_bytes(text)
    if kind == FieldDescriptor.TYPE_ENUM:
        return _read_enum(field, text)
    return text  # string: taken as it is


def _read_int(text: str, type_name: str, low: int, high: int) -> int:
    if not _INTEGER.fullmatch(text):
        raise _BadValue(f"{text!r} is not an integer")
    number = int(text)
    if not low <= number <= high:
        raise _BadValue(f"{text} is out of range for {type_name}")
    return number


def _read_double(text: str) -> float:
    if text in _FLOAT_WORDS:
        return _FLOAT_WORDS[text]
    if not _DECIMAL.fullmatch(text):
        raise _BadValue(f"{text!r} is not a number")
    number = float(text)
    if math.isinf(number):  # only the words above may mean infinity
        raise _BadValue(f"{text} is out of range for double")
    return number


def _read_float(text: str) -> float:
    number = _read_double(text)
    try:
        struct.pack("<f", number)  # rounds to float32; overflows past its largest value
    except OverflowError:
        raise _BadValue(f"{text} is out of range for float") from None
    return number


def _read_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise _BadValue(f"{text!r} is not a bool (true or false)")
    return text == "true"


def _read_bytes(text: str) -> bytes:
    # Standard or URL-safe alphabet, with or without padding, as vanguard and grpc-gateway read it.
    standard = text.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error:
        raise _BadValue(f"{text!r} is not base64") from None


def _read_enum(field: FieldDescriptor, text: str) -> int:
    enum = field.enum_type
    if text == "null":  # proto-JSON null: the field's default
        return enum.values[0].number
    by_name = enum.values_by_name.get(text)
    if by_name is not None:
        return by_name.number
    if not _INTEGER.fullmatch(text):
        raise _BadValue(f"{text!r} is not a value of enum {enum.full_name}")
    number = _read_int(text, "an enum", -(2**31), 2**31 - 1)
    if enum.is_closed and number not in enum.values_by_number:
        raise _BadValue(f"{number} is not a value of closed enum {enum.full_name}")
    return number


def _read_message(descriptor: Descriptor, text: str) -> Message:
    full_name = descriptor.full_name
    # From the descriptor's own pool, so the value fits a message built from any pool.
    message: Any = message_factory.GetMessageClass(descriptor)()
    if full_name in _QUOTABLE:
        text = _unquote(text)
    if full_name in _WRAPPERS:
        value_field = descriptor.fields_by_name["value"]
        message.value = _read_scalar(value_field, text)
    elif full_name == "google.protobuf.FieldMask":
        message.paths.extend(_field_mask_path(path) for path in text.split(",") if path)
    elif full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        try:
            message.FromJsonString(text)
        except ValueError as err:
            raise _BadValue(f"{text!r} is not a {descriptor.name}: {err}") from None
    elif full_name in _JSON_TYPES:
        _read_json(message, text)
    else:
        raise _BadValue(f"a query parameter cannot set a whole {full_name} message; "
                        "set its fields with dotted names")
    return message


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            unquoted = json.loads(text)
        except ValueError:
            return text
        if isinstance(unquoted, str):
            return unquoted
    return text


def _field_mask_path(path: str) -> str:
    # proto-JSON writes paths in lowerCamelCase; query strings usually carry the proto names.
    # Accept both: upper-case letters become `_` + lower-case, snake_case is left alone.
    return re.sub(r"[A-Z]", lambda upper: "_" + upper.group().lower(), path)


def _read_json(message: Message, text: str) -> None:
    try:
        document = json.loads(text)
    except ValueError:
        if message.DESCRIPTOR.full_name != "google.protobuf.Value":
            raise _BadValue(f"{text!r} is not JSON") from None
        document = text  # a bare word is a string Value, as grpc-gateway reads it
    try:
        json_format.ParseDict(document, message)
    except json_format.ParseError as err:
        raise _BadValue(f"{text!r} does not fit {message.DESCRIPTOR.full_name}: {err}") from None
