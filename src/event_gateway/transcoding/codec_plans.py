"""Compiling a message type's JSON decoder and encoder (see codec.py for why).

Plans holds, for one CodecOptions, a filler (JSON value → message) and an encoder
(message → JSON value) per message type, each a closure built once from the
descriptor, plus per-field handlers for bodies bound to one field. Well-known types
come from codec_wkt.py, scalars from codec_scalar.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from event_gateway.transcoding.codec_scalar import (
    SKIP,
    DecodeContext,
    DecodeError,
    encode_map_key,
    enum_names,
    is_identity,
    map_key_decoder,
    scalar_decoder,
    scalar_encoder,
    type_error,
)
from event_gateway.transcoding.codec_wkt import (
    Fill,
    MessageEncoder,
    depth_error,
    is_special,
    special_encoder,
    special_filler,
)

if TYPE_CHECKING:
    from event_gateway.transcoding.codec import CodecOptions

Handler = Callable[[Message, Any, DecodeContext, int], None]
_FieldOut = tuple["str | None", "Callable[[Any], Any] | None", "list[MessageEncoder] | None"]
_LEFT_OUT: _FieldOut = (None, None, None)

_UPB_CHECKED = frozenset({
    FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64,
})
_CLEARING_FILLERS = frozenset({"google.protobuf.Struct", "google.protobuf.ListValue"})

# json_format refuses "[name]" keys (extension syntax) on messages without extensions.
_EXTENSION_KEY = re.compile(r"\[[a-zA-Z0-9\._]*\]$")


class Plans:
    """The compiled decoders and encoders of every message type, for one CodecOptions.

    Fillers are reached through a one-slot list so that recursive message types can
    refer to themselves before their compilation has finished.
    """

    def __init__(self, options: CodecOptions) -> None:
        self.options = options
        self.max_depth = options.max_depth
        self._fillers: dict[Descriptor, list[Fill]] = {}
        self._encoders: dict[Descriptor, list[MessageEncoder]] = {}
        self._handlers: dict[Descriptor, dict[str, Handler]] = {}
        self._classes: dict[Descriptor, type[Message]] = {}
        # Re-entrant: compiling a type compiles the types of its fields.
        self._lock = threading.RLock()

    def message_class(self, descriptor: Descriptor) -> type[Message]:
        cls = self._classes.get(descriptor)
        if cls is None:
            cls = self._classes[descriptor] = message_factory.GetMessageClass(descriptor)
        return cls

    def finished_filler(self, descriptor: Descriptor) -> Fill:
        return self._filler_slot(descriptor)[0]

    def finished_encoder(self, descriptor: Descriptor) -> MessageEncoder:
        return self._encoder_slot(descriptor)[0]

    def filler(self, descriptor: Descriptor) -> Fill:
        slot = self._filler_slot(descriptor)
        return lambda obj, msg, ctx, depth: slot[0](obj, msg, ctx, depth)

    def encoder(self, descriptor: Descriptor) -> MessageEncoder:
        slot = self._encoder_slot(descriptor)
        return lambda msg: slot[0](msg)

    def field_handler(self, descriptor: Descriptor, name: str) -> Handler:
        self._filler_slot(descriptor)
        handler = self._handlers[descriptor].get(name)
        if handler is None or name.startswith("["):
            raise KeyError(f"{descriptor.full_name} has no field {name!r}")
        return handler

    def _filler_slot(self, descriptor: Descriptor) -> list[Fill]:
        slot = self._fillers.get(descriptor)
        if slot is None or slot[0] is _unfinished:
            with self._lock:  # Any can reach new types mid-decode, on any thread
                return self._new_filler_slot(descriptor)
        return slot

    def _new_filler_slot(self, descriptor: Descriptor) -> list[Fill]:
        slot = self._fillers.get(descriptor)
        if slot is None:
            slot = self._fillers[descriptor] = [_unfinished]
            if is_special(descriptor):
                slot[0] = special_filler(descriptor, self)
                self._handlers[descriptor] = {}
            else:
                handlers = {}
                for field in self._json_fields(descriptor):
                    handler = self._compile_handler(field)
                    handlers[field.json_name] = handler
                    handlers[field.name] = handler
                self._handlers[descriptor] = handlers
                slot[0] = self._compile_filler(descriptor, handlers)
        return slot

    def _encoder_slot(self, descriptor: Descriptor) -> list[MessageEncoder]:
        slot = self._encoders.get(descriptor)
        if slot is None or slot[0] is _unfinished:
            with self._lock:
                return self._new_encoder_slot(descriptor)
        return slot

    def _new_encoder_slot(self, descriptor: Descriptor) -> list[MessageEncoder]:
        slot = self._encoders.get(descriptor)
        if slot is None:
            slot = self._encoders[descriptor] = [_unfinished]
            if is_special(descriptor):
                slot[0] = special_encoder(descriptor, self)
            else:
                slot[0] = self._compile_encoder(descriptor)
        return slot

    # ------------------------------------------------------------ decoding a message

    def _compile_filler(self, descriptor: Descriptor, handlers: dict[str, Handler]) -> Fill:
        max_depth = self.max_depth
        ignore_unknown = self.options.ignore_unknown_fields
        extendable = descriptor.is_extendable
        # key -> (type set as is, field name, handler, oneof guard). Plain string and
        # bool values are set inline: a function call per field is most of the cost.
        table: dict[str, tuple[type | None, str, Handler, str | _OtherSpelling | None]] = {}
        for field in self._json_fields(descriptor):
            direct = _direct_type(field)
            for key in (field.name, field.json_name):
                table[key] = (direct, field.name, handlers[key], _oneof_guard(field, key))

        def unknown(key: str) -> None:
            if not extendable and isinstance(key, str) and _EXTENSION_KEY.match(key):
                raise DecodeError("invalid", f"{descriptor.full_name} has no extensions")
            if not ignore_unknown:
                raise DecodeError("invalid", f"unknown field of {descriptor.full_name}")

        def fill_message(obj: Any, msg: Message, ctx: DecodeContext, depth: int) -> None:
            if type(obj) is not dict and not isinstance(obj, dict):
                raise type_error("object", obj)
            if depth > max_depth:
                raise depth_error(max_depth)
            ctx.keys += len(obj)
            get = table.get
            chosen: set[str] | None = None
            for key, value in obj.items():
                entry = get(key)
                try:
                    if entry is None:
                        unknown(key)
                        continue
                    direct, name, handler, guard = entry
                    if guard is not None and value is not None:
                        # json_format: two members of a oneof given non-null values is
                        # an error; so is a proto3 optional field under both its names.
                        if type(guard) is str:
                            if chosen is None:
                                chosen = {guard}
                            elif guard in chosen:
                                raise DecodeError(
                                    "duplicate", f"more than one field of oneof {guard}")
                            else:
                                chosen.add(guard)
                        elif obj.get(guard.key) is not None:
                            raise DecodeError("duplicate", f"{name} is given under both its names")
                    if type(value) is direct:
                        setattr(msg, name, value)
                    else:
                        handler(msg, value, ctx, depth)
                except DecodeError as exc:
                    exc.push_key(key)
                    raise
                except UnicodeEncodeError:
                    error = DecodeError("invalid", "string is not valid Unicode")
                    error.push_key(key)
                    raise error from None

        return fill_message

    def _compile_handler(self, field: FieldDescriptor) -> Handler:
        if _is_map(field):
            return self._map_handler(field)
        if field.is_repeated:
            if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
                return self._repeated_message_handler(field)
            return self._repeated_scalar_handler(field)
        if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            return self._message_handler(field)
        return self._scalar_handler(field)

    def _scalar_decoder(self, field: FieldDescriptor) -> Callable[[Any], Any]:
        options = self.options
        return scalar_decoder(
            field,
            options.enum_json_value,
            options.ignore_unknown_fields,
            options.strict_enums,
        )

    def _scalar_handler(self, field: FieldDescriptor) -> Handler:
        name = field.name
        decode = self._scalar_decoder(field)
        # null means "unset", except for NullValue whose only value is null.
        null_is_zero = (
            field.enum_type is not None and field.enum_type.full_name == "google.protobuf.NullValue"
        )

        def set_scalar(msg: Message, value: Any, ctx: DecodeContext, depth: int) -> None:
            if value is None:
                if null_is_zero:
                    setattr(msg, name, 0)
                else:
                    msg.ClearField(name)
                return
            value = decode(value)
            if value is SKIP:
                return
            try:
                setattr(msg, name, value)
            except UnicodeEncodeError:
                raise DecodeError("invalid", "string is not valid Unicode") from None

        if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM and not null_is_zero:
            names = enum_names(
                field.enum_type, self.options.enum_json_value, self.options.strict_enums
            )

            def set_enum(msg: Message, value: Any, ctx: DecodeContext, depth: int) -> None:
                number = names.get(value) if type(value) is str else None
                if number is None:
                    set_scalar(msg, value, ctx, depth)
                else:
                    setattr(msg, name, number)

            return set_enum
        if field.cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:

            def set_double(msg: Message, value: Any, ctx: DecodeContext, depth: int) -> None:
                if type(value) is float and value - value == 0.0:
                    setattr(msg, name, value)
                else:
                    set_scalar(msg, value, ctx, depth)

            return set_double
        return set_scalar

    def _repeated_scalar_handler(self, field: FieldDescriptor) -> Handler:
        name = field.name
        decode = self._scalar_decoder(field)
        is_enum = field.cpp_type == FieldDescriptor.CPPTYPE_ENUM
        null_enum = is_enum and field.enum_type.full_name == "google.protobuf.NullValue"
        # (bytes objects, not JSON, would pass as UTF-8 text: decode_value takes JSON.)
        unconverted = field.cpp_type in _UPB_CHECKED or (
            field.cpp_type == FieldDescriptor.CPPTYPE_STRING and field.type != field.TYPE_BYTES)

        def set_repeated(msg: Message, value: Any, ctx: DecodeContext, depth: int) -> None:
            if value is None:
                if null_enum:  # json_format fails here (setattr on a repeated field)
                    raise type_error("array", value)
                msg.ClearField(name)
                return
            if type(value) is not list and not isinstance(value, (list, tuple)):
                raise type_error("array", value)
            msg.ClearField(name)
            if unconverted:
                # upb itself refuses what JSON would not allow here (null, bools and
                # floats for ints, non-strings for strings) and checks int ranges; on
                # any refusal, start again item by item for the precise error.
                try:
                    getattr(msg, name).extend(value)
                    return
                except (TypeError, ValueError):
                    msg.ClearField(name)
            try:
                items = [decode(item) for item in value]
            except DecodeError:
                _raise_at_index(decode, value)
                raise
            if is_enum:
                items = [item for item in items if item is not SKIP]
            try:
                getattr(msg, name).extend(items)
            except UnicodeEncodeError:
                raise DecodeError("invalid", "string is not valid Unicode") from None

        return set_repeated

    def _message_handler(self, field: FieldDescriptor) -> Handler:
        name = field.name
        slot = self._filler_slot(field.message_type)
        is_value = field.message_type.full_name == "google.protobuf.Value"
        # The Struct and ListValue fillers clear the message first, which marks it
        # present; SetInParent would be a second, wasted call.
        marks_itself = field.message_type.full_name in _CLEARING_FILLERS

        def set_message(msg: Message, value: Any, ctx: DecodeContext, depth: int) -> None:
            if value is None:
                if is_value:
                    getattr(msg, name).null_value = 0
                else:
                    msg.ClearField(name)
                return
            sub = getattr(msg, name)
            if not marks_itself:
                sub.SetInParent()
            slot[0](value, sub, ctx, depth + 1)

        return set_message

    def _repeated_message_handler(self, field: FieldDescriptor) -> Handler:
        name = field.name
        slot = self._filler_slot(field.message_type)
        is_value = field.message_type.full_name == "google.protobuf.Value"

        def set_messages(msg: Message, value: Any, ctx: DecodeContext, depth: int) -> None:
            if value is None and not is_value:
                msg.ClearField(name)
                return
            if type(value) is not list and not isinstance(value, (list, tuple)):
                # json_format fails on null for repeated Value too (setattr on a list).
                raise type_error("array", value)
            msg.ClearField(name)
            add = getattr(msg, name).add
            fill = slot[0]
            child = depth + 1
            index = 0
            try:
                for item in value:
                    if item is None and not is_value:
                        raise type_error("a message", item)
                    fill(item, add(), ctx, child)
                    index += 1
            except DecodeError as exc:
                exc.push_index(index)
                raise

        return set_messages

    def _map_handler(self, field: FieldDescriptor) -> Handler:
        name = field.name
        entry = field.message_type
        decode_key = map_key_decoder(entry.fields_by_name["key"])
        value_field = entry.fields_by_name["value"]
        if value_field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            slot = self._filler_slot(value_field.message_type)

            def put(target: Any, key: Any, value: Any, ctx: DecodeContext, depth: int) -> None:
                slot[0](value, target[key], ctx, depth + 1)

        else:
            decode_value = self._scalar_decoder(value_field)

            def put(target: Any, key: Any, value: Any, ctx: DecodeContext, depth: int) -> None:
                value = decode_value(value)
                if value is not SKIP:
                    target[key] = value

        def set_map(msg: Message, value: Any, ctx: DecodeContext, depth: int) -> None:
            msg.ClearField(name)
            if value is None:
                return
            if not isinstance(value, dict):
                raise type_error("object", value)
            ctx.keys += len(value)
            target = getattr(msg, name)
            for key, item in value.items():
                try:
                    try:
                        put(target, decode_key(key), item, ctx, depth)
                    except UnicodeEncodeError:
                        raise DecodeError("invalid", "string is not valid Unicode") from None
                except DecodeError as exc:
                    exc.push_key(str(key))
                    raise

        return set_map

    # ------------------------------------------------------------ encoding a message

    def _compile_encoder(self, descriptor: Descriptor) -> MessageEncoder:
        # field -> (output key, converter or None when the value is already JSON,
        # slot of the message encoder for singular message fields); no key for a
        # field the JSON form leaves out
        by_field: dict[FieldDescriptor, _FieldOut] = dict.fromkeys(descriptor.fields, _LEFT_OUT)
        for field in self._json_fields(descriptor):
            by_field[field] = self._field_out(field, self._output_name(field))
        defaults = self._unpopulated(descriptor) if self.options.emit_unpopulated else []
        defaults += self._nulls(descriptor)

        def encode_message(msg: Message) -> Any:
            out = {}
            for field, value in msg.ListFields():
                spec = by_field.get(field)
                if spec is None:  # an extension
                    spec = by_field[field] = self._field_out(field, f"[{field.full_name}]")
                key, convert, slot = spec
                if key is None:
                    continue
                if slot is not None:
                    out[key] = slot[0](value)
                elif convert is None:
                    out[key] = value
                else:
                    out[key] = convert(value)
            for key, default in defaults:
                if key not in out:
                    out[key] = default()
            return out

        return encode_message

    def _field_out(self, field: FieldDescriptor, key: str) -> _FieldOut:
        if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE and not field.is_repeated:
            return key, None, self._encoder_slot(field.message_type)
        convert = self._field_encoder(field)
        return key, None if is_identity(convert) else convert, None

    def _json_fields(self, descriptor: Descriptor) -> list[FieldDescriptor]:
        omitted = self.options.omitted_field
        if omitted is None:
            return list(descriptor.fields)
        return [field for field in descriptor.fields if not omitted(field)]

    def _output_name(self, field: FieldDescriptor) -> str:
        return field.name if self.options.use_proto_names else field.json_name

    def _nulls(self, descriptor: Descriptor) -> list[tuple[str, Callable[[], Any]]]:
        """The fields printed as null when unset."""
        wanted = self.options.null_when_unset
        if wanted is None:
            return []
        return [
            (self._output_name(field), _null)
            for field in self._json_fields(descriptor)
            if field.has_presence and wanted(field)
        ]

    def _unpopulated(self, descriptor: Descriptor) -> list[tuple[str, Callable[[], Any]]]:
        """Fresh default JSON values of the fields without presence."""
        defaults: list[tuple[str, Callable[[], Any]]] = []
        for field in self._json_fields(descriptor):
            if field.has_presence:
                continue
            if field.is_repeated:
                defaults.append((self._output_name(field), dict if _is_map(field) else list))
            else:
                value = self._field_encoder(field)(field.default_value)
                defaults.append((self._output_name(field), lambda value=value: value))
        return defaults

    def _field_encoder(self, field: FieldDescriptor) -> Callable[[Any], Any]:
        alias = self.options.enum_json_value
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            convert = self._single_encoder(value_field, alias)
            return lambda value: {encode_map_key(k): convert(v) for k, v in value.items()}
        convert = self._single_encoder(field, alias)
        if field.is_repeated:
            if field.cpp_type != FieldDescriptor.CPPTYPE_MESSAGE and is_identity(convert):
                return list
            return lambda value: [convert(item) for item in value]
        return convert

    def _single_encoder(self, field: FieldDescriptor, alias: Any) -> Callable[[Any], Any]:
        if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            slot = self._encoder_slot(field.message_type)
            return lambda value: slot[0](value)
        return scalar_encoder(field, alias)


@dataclass(frozen=True)
class _OtherSpelling:
    """Guard of a proto3 optional field: its one-field oneof can only be set twice by
    giving both spellings of its name, so look for the other one instead of tracking."""

    key: str


def _oneof_guard(field: FieldDescriptor, key: str) -> str | _OtherSpelling | None:
    oneof = field.containing_oneof
    if oneof is None:
        return None
    if len(oneof.fields) > 1 or not _is_synthetic(field):
        return oneof.name
    other = field.json_name if key == field.name else field.name
    return _OtherSpelling(other) if other != key else None


def _is_synthetic(field: FieldDescriptor) -> bool:
    # upb exposes no has_synthetic flag in every version; proto3 optional fields are the
    # only members of a oneof named "_" + field name.
    return field.containing_oneof.name == "_" + field.name and field.has_presence


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _direct_type(field: FieldDescriptor) -> type | None:
    """The Python type a JSON value of this field may have to be set unconverted."""
    if field.is_repeated:
        return None
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return bool
    if field.cpp_type == FieldDescriptor.CPPTYPE_STRING and field.type != field.TYPE_BYTES:
        return str
    return None


def _raise_at_index(decode: Callable[[Any], Any], items: Any) -> None:
    """Re-run a failed list conversion one item at a time to say which item failed."""
    for index, item in enumerate(items):
        try:
            decode(item)
        except DecodeError as exc:
            exc.push_index(index)
            raise


def _null() -> None:
    return None


def _unfinished(*args: Any) -> Any:
    raise RuntimeError("codec used before its compilation finished")
