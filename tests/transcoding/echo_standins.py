"""Temporary stand-ins for engine modules other engineers are still writing.

`install()` fills in ``event_gateway.transcoding.codec`` / ``.query`` ONLY when the real
module does not exist yet, with the same names and contracts, so these tests can run
before those modules land. Once they exist, the real modules are always used.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from dataclasses import dataclass
from typing import Any, Callable

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor


def _codec_module() -> types.ModuleType:
    module = types.ModuleType("event_gateway.transcoding.codec")

    @dataclass(frozen=True)
    class CodecOptions:
        ignore_unknown_fields: bool = True
        enum_json_value: Callable[..., Any] | None = None
        emit_unpopulated: bool = False
        use_proto_names: bool = False
        max_depth: int = 64

    class DecodeError(ValueError):
        def __init__(self, path: str, reason: str) -> None:
            super().__init__(f"{path}: {reason}" if path else reason)
            self.path = path
            self.reason = reason

    class MessageCodec:
        def __init__(self, descriptor: Any, options: CodecOptions) -> None:
            from google.protobuf import message_factory

            self._class = message_factory.GetMessageClass(descriptor)
            self._options = options

        @classmethod
        def for_descriptor(cls, descriptor: Any, options: CodecOptions) -> "MessageCodec":
            return cls(descriptor, options)

        def decode(self, data: bytes) -> Any:
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError as err:
                raise DecodeError("", f"malformed JSON: {err}") from err
            return self.decode_value(value)

        def decode_value(self, value: Any) -> Any:
            message = self._class()
            try:
                json_format.ParseDict(
                    value, message, ignore_unknown_fields=self._options.ignore_unknown_fields
                )
            except json_format.ParseError as err:
                text = str(err)
                found = re.search(r" at [A-Za-z0-9_]+\.([^ ]+?)\.?$", text)
                raise DecodeError(found.group(1) if found else "", text) from err
            return message

        def decode_into_field(self, message: Any, field_name: str, value: Any) -> None:
            message.MergeFrom(self.decode_value({field_name: value}))

        def encode_value(self, message: Any) -> Any:
            return json_format.MessageToDict(
                message, preserving_proto_field_name=self._options.use_proto_names
            )

        def encode(self, message: Any) -> bytes:
            return orjson.dumps(self.encode_value(message))

    module.CodecOptions = CodecOptions
    module.DecodeError = DecodeError
    module.MessageCodec = MessageCodec
    return module


def _query_module() -> types.ModuleType:
    module = types.ModuleType("event_gateway.transcoding.query")

    class QueryParameterError(ValueError):
        pass

    def set_query_parameter(message: Any, field_path: tuple[str, ...], value: str) -> None:
        *parents, last = field_path
        for name in parents:
            field = message.DESCRIPTOR.fields_by_name.get(name)
            if field is None or field.message_type is None:
                raise QueryParameterError(f"no message field {name!r}")
            message = getattr(message, name)
        field = message.DESCRIPTOR.fields_by_name.get(last)
        if field is None:
            raise QueryParameterError(f"no field {last!r}")
        holder = type(message)()
        literal: Any = value
        if field.type == FieldDescriptor.TYPE_MESSAGE or field.type in (
            FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_BOOL
        ):
            try:
                literal = orjson.loads(value)
            except orjson.JSONDecodeError:
                literal = value
        try:
            json_format.ParseDict({field.json_name: [literal] if field.is_repeated else literal}, holder)
        except json_format.ParseError as err:
            raise QueryParameterError(str(err)) from err
        if field.is_repeated:
            getattr(message, last).extend(getattr(holder, last))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(message, last).CopyFrom(getattr(holder, last))
        else:
            setattr(message, last, getattr(holder, last))

    module.QueryParameterError = QueryParameterError
    module.set_query_parameter = set_query_parameter
    return module


def install() -> None:
    """Provide codec/query stand-ins where the real modules are missing."""
    package = importlib.import_module("event_gateway.transcoding")
    for name, build in (("codec", _codec_module), ("query", _query_module)):
        full = f"event_gateway.transcoding.{name}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as err:
            if err.name != full:
                raise
            sys.modules[full] = build()
            setattr(package, name, sys.modules[full])
