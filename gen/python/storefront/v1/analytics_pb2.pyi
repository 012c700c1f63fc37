from eventgateway.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InteractionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERACTION_TYPE_UNSPECIFIED: _ClassVar[InteractionType]
    INTERACTION_TYPE_WHATSAPP_CLICK: _ClassVar[InteractionType]
    INTERACTION_TYPE_CALL: _ClassVar[InteractionType]
    INTERACTION_TYPE_LOCATION_VIEW: _ClassVar[InteractionType]
    INTERACTION_TYPE_CART_ADD: _ClassVar[InteractionType]
    INTERACTION_TYPE_SOCIAL_SHARE: _ClassVar[InteractionType]
    INTERACTION_TYPE_CONVERSION: _ClassVar[InteractionType]
    INTERACTION_TYPE_PURCHASE: _ClassVar[InteractionType]

class InteractionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERACTION_KIND_UNSPECIFIED: _ClassVar[InteractionKind]
    INTERACTION_KIND_VIEW: _ClassVar[InteractionKind]
    INTERACTION_KIND_WHATSAPP_CLICK: _ClassVar[InteractionKind]
    INTERACTION_KIND_CALL_CLICK: _ClassVar[InteractionKind]
    INTERACTION_KIND_MAPS_CLICK: _ClassVar[InteractionKind]
INTERACTION_TYPE_UNSPECIFIED: InteractionType
INTERACTION_TYPE_WHATSAPP_CLICK: InteractionType
INTERACTION_TYPE_CALL: InteractionType
INTERACTION_TYPE_LOCATION_VIEW: InteractionType
INTERACTION_TYPE_CART_ADD: InteractionType
INTERACTION_TYPE_SOCIAL_SHARE: InteractionType
INTERACTION_TYPE_CONVERSION: InteractionType
INTERACTION_TYPE_PURCHASE: InteractionType
INTERACTION_KIND_UNSPECIFIED: InteractionKind
INTERACTION_KIND_VIEW: InteractionKind
INTERACTION_KIND_WHATSAPP_CLICK: InteractionKind
INTERACTION_KIND_CALL_CLICK: InteractionKind
INTERACTION_KIND_MAPS_CLICK: InteractionKind

class TrackRequest(_message.Message):
    __slots__ = ("tenant_id", "type", "product_id", "metadata")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    type: InteractionType
    product_id: int
    metadata: _struct_pb2.Struct
    def __init__(self, tenant_id: _Optional[str] = ..., type: _Optional[_Union[InteractionType, str]] = ..., product_id: _Optional[int] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TrackResponse(_message.Message):
    __slots__ = ("success", "message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class ConversionRequest(_message.Message):
    __slots__ = ("tenant_slug", "transaction_id", "value", "currency", "event", "timestamp")
    TENANT_SLUG_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    tenant_slug: str
    transaction_id: str
    value: float
    currency: str
    event: str
    timestamp: str
    def __init__(self, tenant_slug: _Optional[str] = ..., transaction_id: _Optional[str] = ..., value: _Optional[float] = ..., currency: _Optional[str] = ..., event: _Optional[str] = ..., timestamp: _Optional[str] = ...) -> None: ...

class ConversionResponse(_message.Message):
    __slots__ = ("status", "transaction_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    status: str
    transaction_id: str
    def __init__(self, status: _Optional[str] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class RecordInteractionRequest(_message.Message):
    __slots__ = ("tenant_id", "type", "product_id", "metadata")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    tenant_id: int
    type: InteractionKind
    product_id: int
    metadata: _struct_pb2.Struct
    def __init__(self, tenant_id: _Optional[int] = ..., type: _Optional[_Union[InteractionKind, str]] = ..., product_id: _Optional[int] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class RecordInteractionResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: str
    def __init__(self, status: _Optional[str] = ...) -> None: ...
