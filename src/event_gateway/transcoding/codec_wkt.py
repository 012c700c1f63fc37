"""Well-known types in the JSON codec: their special JSON forms, both directions.

Mirrors google.protobuf.json_format (_WKTJSONMETHODS and wrappers) including its
depth accounting, so that the depth limit fails on the same inputs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Protocol

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from event_gateway.transcoding.codec_scalar import (
    DecodeContext,
    DecodeError,
    Encoder,
    scalar_decoder,
    scalar_encoder,
    type_error,
)

Fill = Callable[[Any, Message, DecodeContext, int], None]
MessageEncoder = Callable[[Message], Any]

_WRAPPERS_FILE = "google/protobuf/wrappers.proto"
_STRING_FORMS = frozenset(
    {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
)
_SPECIAL = _STRING_FORMS | {
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Any",
}


class Plans(Protocol):
    """What the WKT builders need from the compiler in codec_plans.py (for Any)."""

    max_depth: int

    def filler(self, descriptor: Descriptor) -> Fill: ...

    def encoder(self, descriptor: Descriptor) -> MessageEncoder: ...

    def message_class(self, descriptor: Descriptor) -> type[Message]: ...


def is_wrapper(descriptor: Descriptor) -> bool:
    return descriptor.file.name == _WRAPPERS_FILE


def is_special(descriptor: Descriptor) -> bool:
    """True for the types whose JSON form is not a plain object of fields."""
    return is_wrapper(descriptor) or descriptor.full_name in _SPECIAL


def depth_error(max_depth: int) -> DecodeError:
    return DecodeError("depth", f"nesting deeper than {max_depth} messages")


# ---------------------------------------------------------------- decoding


def special_filler(descriptor: Descriptor, plans: Plans) -> Fill:
    name = descriptor.full_name
    if is_wrapper(descriptor):
        return _wrapper_filler(descriptor, plans.max_depth)
    if name in _STRING_FORMS:
        return _string_form_filler(plans.max_depth, timestamp=name == "google.protobuf.Timestamp")
    if name == "google.protobuf.Any":
        return _any_filler(plans)
    fill_value, fill_struct, fill_list = _struct_fillers(
        plans.max_depth, plans.options.arrays_as_structs
    )
    return {
        "google.protobuf.Value": fill_value,
        "google.protobuf.Struct": fill_struct,
        "google.protobuf.ListValue": fill_list,
    }[name]


def _wrapper_filler(descriptor: Descriptor, max_depth: int) -> Fill:
    decode = scalar_decoder(descriptor.fields_by_name["value"], None, True)

    def fill_wrapper(obj: Any, msg: Message, ctx: DecodeContext, depth: int) -> None:
        if depth > max_depth:
            raise depth_error(max_depth)
        try:
            msg.value = decode(obj)  # type: ignore[attr-defined]
        except UnicodeEncodeError:
            raise DecodeError("invalid", "string is not valid Unicode") from None

    return fill_wrapper


_EXPECTED_FORMS = {
    "google.protobuf.Timestamp": "an RFC 3339 date-time with an offset, years 0001-9999, such as "
    "2019-01-01T12:59:59-05:00",
    "google.protobuf.Duration": "a duration in seconds with an 's' suffix, such as 1.5s",
    "google.protobuf.FieldMask": "comma-separated field paths, such as a.b,c",
}


# RFC 3339 §5.6 date-time, upper-cased: protobuf's parser reads the calendar fields but
# takes any two-digit offset (+99:99 moved the instant by days) and a bare "." before the
# offset, so the syntax and the offset's range (hours 00-23, minutes 00-59) are checked here.
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)


def _string_form_filler(max_depth: int, *, timestamp: bool) -> Fill:
    def fill_string_form(obj: Any, msg: Message, ctx: DecodeContext, depth: int) -> None:
        if depth > max_depth:
            raise depth_error(max_depth)
        if not isinstance(obj, str):
            raise type_error("string", obj)
        try:
            if timestamp:
                # RFC 3339 §5.6 allows "t" and "z" in lower case; protobuf's parser does not.
                obj = obj.upper()
                if not _RFC3339.fullmatch(obj):
                    raise ValueError(obj)
            msg.FromJsonString(obj)  # type: ignore[attr-defined]
        except Exception:  # the WKT parsers raise assorted types on bad text
            # Their own words quote strptime formats and cut-off input: say what is wanted.
            expected = _EXPECTED_FORMS.get(msg.DESCRIPTOR.full_name, "the type's JSON form")
            raise DecodeError("invalid", f"not {expected}") from None

    return fill_string_form


def _struct_fillers(max_depth: int, arrays_as_structs: bool) -> tuple[Fill, Fill, Fill]:
    """Value, Struct and ListValue call each other, so they are built together."""

    def fill_value(obj: Any, msg: Any, ctx: DecodeContext, depth: int) -> None:
        if depth > max_depth:
            raise depth_error(max_depth)
        kind = type(obj)
        if kind is str:
            try:
                msg.string_value = obj
            except UnicodeEncodeError:
                raise DecodeError("invalid", "string is not valid Unicode") from None
        elif kind is bool:
            msg.bool_value = obj
        elif kind is float or kind is int:
            try:
                msg.number_value = float(obj)
            except OverflowError:
                raise DecodeError("range", "number is out of range for double") from None
        elif kind is dict:
            fill_struct(obj, msg.struct_value, ctx, depth + 1)
        elif kind is list:
            fill_list(obj, msg.list_value, ctx, depth + 1)
        elif obj is None:
            msg.null_value = 0
        else:
            _fill_value_slow(obj, msg, ctx, depth)

    def _fill_value_slow(obj: Any, msg: Any, ctx: DecodeContext, depth: int) -> None:
        # Subclasses and tuples, from decode_value callers; json_format's order.
        if isinstance(obj, dict):
            fill_struct(obj, msg.struct_value, ctx, depth + 1)
        elif isinstance(obj, (list, tuple)):
            fill_list(obj, msg.list_value, ctx, depth + 1)
        elif isinstance(obj, bool):
            msg.bool_value = obj
        elif isinstance(obj, str):
            fill_value(str(obj), msg, ctx, depth)
        elif isinstance(obj, (int, float)):
            fill_value(float(obj), msg, ctx, depth)
        else:
            raise type_error("a JSON value", obj)

    def fill_struct(obj: Any, msg: Any, ctx: DecodeContext, depth: int) -> None:
        if depth > max_depth:
            raise depth_error(max_depth)
        if isinstance(obj, dict):
            ctx.keys += len(obj)  # keys written in the text (see _check_duplicate_keys)
        elif arrays_as_structs and isinstance(obj, list):
            obj = _indexed(obj)
        else:
            raise type_error("object", obj)
        msg.Clear()  # as json_format: a repeated key overwrites, and {} is still present
        if depth >= max_depth:  # the values would be one level too deep
            for key in obj:
                raise _at_key(depth_error(max_depth), key)
        fields = msg.fields
        for key, item in obj.items():
            # Scalars inline: Struct values are the bulk of free-form payloads.
            kind = type(item)
            try:
                if kind is str:
                    fields[key].string_value = item
                elif kind is float:
                    fields[key].number_value = item
                elif kind is int:
                    # upb converts an int for a double field several times slower.
                    fields[key].number_value = float(item)
                elif kind is bool:
                    fields[key].bool_value = item
                else:
                    fill_value(item, fields[key], ctx, depth + 1)
            except DecodeError as exc:
                raise _at_key(exc, key) from None
            except UnicodeEncodeError:
                raise _at_key(DecodeError("invalid", "string is not valid Unicode"), key) from None
            except OverflowError:
                error = DecodeError("range", "number is out of range for double")
                raise _at_key(error, key) from None
            except (TypeError, ValueError):
                raise _at_key(DecodeError("invalid", "object key is not a string"), key) from None

    def fill_list(obj: Any, msg: Any, ctx: DecodeContext, depth: int) -> None:
        if depth > max_depth:
            raise depth_error(max_depth)
        if not isinstance(obj, (list, tuple)):
            raise type_error("array", obj)
        msg.ClearField("values")  # also marks an empty list as present
        add = msg.values.add
        for index, item in enumerate(obj):
            try:
                fill_value(item, add(), ctx, depth + 1)
            except DecodeError as exc:
                exc.push_index(index)
                raise

    return fill_value, fill_struct, fill_list


def _indexed(items: list[Any]) -> dict[str, Any]:
    """A list as the object PHP makes of it: keyed by index ("0", "1", ...)."""
    return {str(index): item for index, item in enumerate(items)}


def _at_key(exc: DecodeError, key: Any) -> DecodeError:
    exc.push_key(str(key))
    return exc


def _any_filler(plans: Plans) -> Fill:
    max_depth = plans.max_depth
    pool = descriptor_pool.Default()

    def fill_any(obj: Any, msg: Any, ctx: DecodeContext, depth: int) -> None:
        if depth > max_depth:
            raise depth_error(max_depth)
        if not isinstance(obj, dict):
            raise type_error("object", obj)
        if not obj:
            return  # {} is an empty Any, as in json_format
        type_url = obj.get("@type")
        if type_url is None:
            raise DecodeError("invalid", '"@type" is missing')
        if not isinstance(type_url, str):
            raise type_error("string", type_url)
        try:
            descriptor = pool.FindMessageTypeByName(type_url.split("/")[-1])
        except KeyError:
            raise DecodeError("invalid", f"unknown type {type_url!r}") from None
        sub = plans.message_class(descriptor)()
        fill = plans.filler(descriptor)
        if is_special(descriptor):
            ctx.keys += len(obj)
            if "value" not in obj:
                raise DecodeError("invalid", '"value" is missing')
            # json_format checks depth for these but not for wrappers.
            try:
                fill(obj["value"], sub, ctx, depth if is_wrapper(descriptor) else depth + 1)
            except DecodeError as exc:
                exc.push_key("value")
                raise
        else:
            ctx.keys += 1  # "@type"; the fill counts the other keys
            # The embedded fields sit at the Any's own depth, as in json_format.
            fill({k: v for k, v in obj.items() if k != "@type"}, sub, ctx, depth)
        msg.type_url = type_url
        msg.value = sub.SerializeToString()

    return fill_any


# ---------------------------------------------------------------- encoding


def special_encoder(descriptor: Descriptor, plans: Plans) -> MessageEncoder:
    name = descriptor.full_name
    if is_wrapper(descriptor):
        convert = scalar_encoder(descriptor.fields_by_name["value"], None)
        return lambda msg: convert(msg.value)  # type: ignore[attr-defined]
    if name in _STRING_FORMS:
        return lambda msg: msg.ToJsonString()  # type: ignore[attr-defined]
    if name == "google.protobuf.Any":
        return _any_encoder(plans)
    encode_value, encode_struct, encode_list = _struct_encoders()
    return {
        "google.protobuf.Value": encode_value,
        "google.protobuf.Struct": encode_struct,
        "google.protobuf.ListValue": encode_list,
    }[name]


_EXACT = 2**53


def _positive(number: float) -> bool:
    return math.copysign(1.0, number) > 0


def _struct_encoders() -> tuple[MessageEncoder, MessageEncoder, MessageEncoder]:
    def encode_value(msg: Any) -> Any:
        which = msg.WhichOneof("kind")
        if which == "string_value":
            return msg.string_value
        if which == "number_value":
            number = msg.number_value
            if number - number != 0.0:
                # json_format refuses too: it would read back as a string_value.
                raise ValueError(f"Value.number_value {number} has no JSON form")
            if number.is_integer() and -_EXACT <= number <= _EXACT and (number or _positive(number)):
                # Written as an integer, as Go's protojson writes it: a client's 7 reads
                # back as 7, not 7.0 (a double holds every integer up to 2**53 exactly).
                # Not -0.0, whose sign an integer would lose.
                return int(number)
            return number
        if which == "bool_value":
            return msg.bool_value
        if which == "struct_value":
            return encode_struct(msg.struct_value)
        if which == "list_value":
            return encode_list(msg.list_value)
        return None  # null_value, or no kind at all (json_format prints null too)

    def encode_struct(msg: Any) -> Any:
        fields = msg.fields  # indexing beats .items(), a generator in collections.abc
        out = {}
        for key in fields:
            item = fields[key]
            # Strings inline: they are most of what free-form metadata holds.
            if item.WhichOneof("kind") == "string_value":
                out[key] = item.string_value
            else:
                out[key] = encode_value(item)
        return out

    def encode_list(msg: Any) -> Any:
        return [encode_value(item) for item in msg.values]

    return encode_value, encode_struct, encode_list


def _any_encoder(plans: Plans) -> MessageEncoder:
    pool = descriptor_pool.Default()

    def encode_any(msg: Any) -> Any:
        if not msg.ListFields():
            return {}
        type_url = msg.type_url
        try:
            descriptor = pool.FindMessageTypeByName(type_url.split("/")[-1])
        except KeyError:
            raise ValueError(f"Any holds unknown type {type_url!r}") from None
        sub = plans.message_class(descriptor)()
        sub.ParseFromString(msg.value)
        encoded = plans.encoder(descriptor)(sub)
        if is_special(descriptor):
            return {"@type": type_url, "value": encoded}
        return {"@type": type_url, **encoded}

    return encode_any


__all__ = ["Encoder", "Plans", "is_special", "special_encoder", "special_filler"]
