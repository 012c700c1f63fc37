"""Scalar pieces of the JSON codec: the error type and per-field value converters.

Every converter here is built once per field descriptor and then called per value.
Each decoder mirrors what google.protobuf.json_format does for the same input (see
_ConvertScalarFieldValue there); where we deliberately differ, tests/transcoding/
test_codec.py has a test named ``test_divergence_*`` saying why.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import EnumDescriptor, EnumValueDescriptor, FieldDescriptor

Decoder = Callable[[Any], Any]
Encoder = Callable[[Any], Any]
EnumAlias = Callable[[EnumValueDescriptor], "str | None"]

# Returned by an enum decoder for an unknown name when unknown values are ignored:
# json_format then leaves the field (or list element, or map entry) out.
SKIP = object()


class DecodeError(ValueError):
    """A JSON value that cannot become the message.

    ``path`` is where the offending value sits, relative to the decoded message, in the
    names the client wrote ("events[2].visitorId"; "" for the root). ``reason`` is one
    short word: type, invalid, syntax, depth, duplicate, range.
    """

    def __init__(self, reason: str, detail: str, path: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        # Segments are collected innermost-first while the error unwinds, so that the
        # success path never pays for building paths.
        self._segments: list[str | int] = []
        self._root = path

    def push_key(self, key: str) -> None:
        self._segments.append(key)

    def push_index(self, index: int) -> None:
        self._segments.append(index)

    @property
    def path(self) -> str:
        out = self._root
        for seg in reversed(self._segments):
            if isinstance(seg, int):
                out += f"[{seg}]"
            else:
                out = f"{out}.{seg}" if out else seg
        return out

    def __str__(self) -> str:
        where = self.path or "<root>"
        return f"{where}: {self.detail}"


class DecodeContext:
    """Per-call state: the number of object keys seen, for the duplicate-key check."""

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys = 0


def describe(value: Any) -> str:
    """Short JSON-ish type name of a value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def type_error(expected: str, value: Any) -> DecodeError:
    return DecodeError("type", f"expected {expected}, got {describe(value)}")


# ---------------------------------------------------------------- integers

_INT_RANGES: dict[int, tuple[int, int, str]] = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1, "uint32"),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1, "int64"),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1, "uint64"),
}


def coerce_int(value: Any) -> int:
    """A non-int JSON value as an integer, exactly as json_format._ConvertInteger."""
    if isinstance(value, bool):
        raise type_error("integer", value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise DecodeError("invalid", f"not an integer: {value!r}")
        return int(value)
    if isinstance(value, str):
        # json_format refuses spaces but otherwise trusts Python's int()/float(), which
        # also take "+1", "1_000" and "1e3"; we mirror that rather than guess.
        if " " in value:
            raise DecodeError("invalid", f"not an integer: {value!r}")
        try:
            return int(value)
        except ValueError:
            pass
        try:
            number = float(value)
        except ValueError:
            raise DecodeError("invalid", f"not an integer: {value!r}") from None
        if not number.is_integer():
            raise DecodeError("invalid", f"not an integer: {value!r}")
        return int(number)
    raise type_error("integer", value)


def int_decoder(field: FieldDescriptor) -> Decoder:
    low, high, kind = _INT_RANGES[field.cpp_type]

    def decode_int(value: Any) -> int:
        if type(value) is not int:
            value = coerce_int(value)
        if low <= value <= high:
            return value
        raise DecodeError("range", f"{value} is out of range for {kind}")

    return decode_int


# ---------------------------------------------------------------- floats

_FLOAT32_MAX = float.fromhex("0x1.fffffep+127")
_FLOAT32 = struct.Struct("<f")
_INF = math.inf


def float_decoder(field: FieldDescriptor) -> Decoder:
    is_float32 = field.cpp_type == FieldDescriptor.CPPTYPE_FLOAT

    def decode_float(value: Any) -> float:
        kind = type(value)
        if kind is float:
            if value != value or value == _INF or value == -_INF:
                raise DecodeError("invalid", 'use the strings "NaN", "Infinity", "-Infinity"')
            # json_format checks the float32 range only for JSON numbers that arrive
            # as floats; ints and strings are narrowed silently (to +-inf). Unlike
            # json_format we accept what rounds to the largest float32 (3.4028235e38 is
            # how json_format itself prints it) and refuse only what rounds to infinity.
            if is_float32 and not -_FLOAT32_MAX <= value <= _FLOAT32_MAX:
                try:
                    _FLOAT32.pack(value)
                except OverflowError:
                    raise DecodeError("range", f"{value!r} is out of range for float") from None
            return value
        if kind is int:
            try:
                return float(value)
            except OverflowError:
                raise DecodeError("range", "number is out of range for double") from None
        if kind is str:
            # Python's float() already reads "NaN", "Infinity", "-Infinity" (and "inf",
            # "1_0"), which is what json_format relies on; it refuses only "nan".
            if value == "nan":
                raise DecodeError("invalid", 'use "NaN"')
            try:
                return float(value)
            except ValueError:
                raise DecodeError("invalid", f"not a number: {value!r}") from None
        raise type_error("number", value)

    return decode_float


# ---------------------------------------------------------------- bool, string, bytes


def decode_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise type_error("true or false", value)


def decode_bool_key(value: str) -> bool:
    if value == "true":
        return True
    if value == "false":
        return False
    raise DecodeError("invalid", f'map key must be "true" or "false", got {value!r}')


def decode_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise type_error("string", value)


def decode_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        encoded = value.encode("utf-8")
    elif isinstance(value, bytes):
        encoded = value
    else:
        raise type_error("base64 string", value)
    # Same as json_format: pad generously, accept both alphabets (urlsafe_b64decode
    # maps -_ to +/ and, not validating, drops characters outside the alphabet).
    try:
        return base64.urlsafe_b64decode(encoded + b"=" * (4 - len(encoded) % 4))
    except ValueError as exc:
        raise DecodeError("invalid", f"bad base64: {exc}") from None


# ---------------------------------------------------------------- enums


def enum_names(enum: EnumDescriptor, alias: EnumAlias | None, strict: bool = False) -> dict[str, int]:
    """Every string accepted for an enum value: the proto name and the alias; when
    `strict`, only its documented spelling (the alias if it has one, else the name)."""
    if strict:
        return {(alias(v) if alias is not None else None) or v.name: v.number for v in enum.values}
    names: dict[str, int] = {}
    if alias is not None:
        for value in enum.values:
            spelled = alias(value)
            if spelled is not None:
                names[spelled] = value.number
    for value in enum.values:
        names[value.name] = value.number
    return names


def enum_decoder(
    enum: EnumDescriptor,
    alias: EnumAlias | None,
    ignore_unknown: bool,
    strict: bool = False,
) -> Decoder:
    names = enum_names(enum, alias, strict)
    full_name = enum.full_name
    if strict:

        def decode_documented(value: Any) -> Any:
            number = names.get(value) if type(value) is str else None
            if number is None:
                # Neither dropped nor read as a number: refused, naming the field.
                raise DecodeError("invalid", f"{value!r} is not a value of {full_name}")
            return number

        return decode_documented

    numbers = frozenset(v.number for v in enum.values)
    closed = enum.is_closed

    def check_number(number: int) -> int:
        if number in numbers:
            return number
        if closed:
            raise DecodeError("invalid", f"{number} is not a value of {full_name}")
        if -(2**31) <= number < 2**31:
            return number  # open enums keep unknown numbers, as on the wire
        raise DecodeError("range", f"{number} is out of range for enum {full_name}")

    def decode_enum(value: Any) -> Any:
        kind = type(value)
        if kind is str:
            number = names.get(value)
            if number is not None:
                return number
            try:
                # json_format also takes numbers written as strings ("1", " 1").
                number = int(value)
            except ValueError:
                if ignore_unknown:
                    return SKIP
                raise DecodeError("invalid", f"{value!r} is not a value of {full_name}") from None
            return check_number(number)  # outside the try: DecodeError is a ValueError
        if kind is int:
            return check_number(value)
        if kind is float and value.is_integer():
            return check_number(int(value))
        raise type_error(f"enum {full_name} name or number", value)

    return decode_enum


# ---------------------------------------------------------------- the decoder for a field


def scalar_decoder(
    field: FieldDescriptor,
    alias: EnumAlias | None,
    ignore_unknown: bool,
    strict_enums: bool = False,
) -> Decoder:
    """Decoder of one scalar (non-message) value of the field's type."""
    cpp = field.cpp_type
    if cpp in _INT_RANGES:
        return int_decoder(field)
    if cpp in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        return float_decoder(field)
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return decode_bool
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        return enum_decoder(field.enum_type, alias, ignore_unknown, strict_enums)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return decode_bytes
    return decode_string


def map_key_decoder(field: FieldDescriptor) -> Callable[[str], Any]:
    """Map keys are always JSON strings; int and bool keys are spelled out in them."""
    cpp = field.cpp_type
    if cpp in _INT_RANGES:
        decode_int = int_decoder(field)
        return lambda key: decode_int(coerce_int(key))
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return decode_bool_key
    return decode_string


# ---------------------------------------------------------------- encoders


def _identity(value: Any) -> Any:
    return value


def _encode_int64(value: int) -> str:
    return str(value)


def encode_double(value: float) -> Any:
    if value - value == 0.0:  # finite: inf - inf and nan - nan are nan
        return value
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _truncate_to_float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def encode_float32(value: float) -> Any:
    """The shortest decimal that reads back as the same float32 (json_format's rule)."""
    if value - value != 0.0:
        return encode_double(value)
    precision = 6
    rounded = float(f"{value:.{precision}g}")
    while _truncate_to_float32(rounded) != value:
        precision += 1
        rounded = float(f"{value:.{precision}g}")
    return rounded


def encode_bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def enum_encoder(enum: EnumDescriptor, alias: EnumAlias | None) -> Encoder:
    if enum.full_name == "google.protobuf.NullValue":
        return lambda value: None
    spelled: dict[int, str] = {}
    for value in reversed(enum.values):  # the first name wins for aliased numbers
        spelled[value.number] = (alias(value) if alias is not None else None) or value.name
    closed = enum.is_closed
    full_name = enum.full_name

    def encode_enum(number: int) -> Any:
        name = spelled.get(number)
        if name is not None:
            return name
        if closed:
            raise ValueError(f"{number} is not a value of closed enum {full_name}")
        return number

    return encode_enum


def scalar_encoder(field: FieldDescriptor, alias: EnumAlias | None) -> Encoder:
    cpp = field.cpp_type
    if cpp in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return _encode_int64
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return encode_double
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return encode_float32
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        return enum_encoder(field.enum_type, alias)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return encode_bytes
    return _identity


def is_identity(encoder: Encoder) -> bool:
    return encoder is _identity


def encode_map_key(key: Any) -> str:
    if key is True:
        return "true"
    if key is False:
        return "false"
    return str(key)
