from eventgateway.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_HOME_PAGE_VIEW: _ClassVar[EventType]
    EVENT_TYPE_SEARCH: _ClassVar[EventType]
    EVENT_TYPE_CATEGORY_VIEW: _ClassVar[EventType]
    EVENT_TYPE_DETAIL_PAGE_VIEW: _ClassVar[EventType]
    EVENT_TYPE_ADD_TO_CART: _ClassVar[EventType]
    EVENT_TYPE_SHOPPING_CART_PAGE_VIEW: _ClassVar[EventType]
    EVENT_TYPE_PURCHASE_COMPLETE: _ClassVar[EventType]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_HOME_PAGE_VIEW: EventType
EVENT_TYPE_SEARCH: EventType
EVENT_TYPE_CATEGORY_VIEW: EventType
EVENT_TYPE_DETAIL_PAGE_VIEW: EventType
EVENT_TYPE_ADD_TO_CART: EventType
EVENT_TYPE_SHOPPING_CART_PAGE_VIEW: EventType
EVENT_TYPE_PURCHASE_COMPLETE: EventType

class Event(_message.Message):
    __slots__ = ("event_type", "visitor_id", "user_id", "metadata", "query", "category_path", "product_id", "product_ids", "revenue", "currency")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    VISITOR_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_PATH_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_IDS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    event_type: EventType
    visitor_id: str
    user_id: str
    metadata: _struct_pb2.Struct
    query: str
    category_path: str
    product_id: str
    product_ids: _containers.RepeatedScalarFieldContainer[str]
    revenue: float
    currency: str
    def __init__(self, event_type: _Optional[_Union[EventType, str]] = ..., visitor_id: _Optional[str] = ..., user_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., query: _Optional[str] = ..., category_path: _Optional[str] = ..., product_id: _Optional[str] = ..., product_ids: _Optional[_Iterable[str]] = ..., revenue: _Optional[float] = ..., currency: _Optional[str] = ...) -> None: ...

class TrackEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class EventError(_message.Message):
    __slots__ = ("index", "field", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    field: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TrackEventsResponse(_message.Message):
    __slots__ = ("status", "stored", "errors", "rejected")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    status: str
    stored: int
    errors: int
    rejected: _containers.RepeatedCompositeFieldContainer[EventError]
    def __init__(self, status: _Optional[str] = ..., stored: _Optional[int] = ..., errors: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[EventError, _Mapping]]] = ...) -> None: ...
