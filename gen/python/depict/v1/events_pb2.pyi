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
    EVENT_TYPE_PAGE_VIEW: _ClassVar[EventType]
    EVENT_TYPE_CLICK: _ClassVar[EventType]
    EVENT_TYPE_ADD_TO_CART: _ClassVar[EventType]
    EVENT_TYPE_PURCHASE: _ClassVar[EventType]
    EVENT_TYPE_ELEMENT_VISIBLE: _ClassVar[EventType]
    EVENT_TYPE_WS_CLICK: _ClassVar[EventType]
    EVENT_TYPE_RECOMMENDATIONS_INSERTED: _ClassVar[EventType]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_PAGE_VIEW: EventType
EVENT_TYPE_CLICK: EventType
EVENT_TYPE_ADD_TO_CART: EventType
EVENT_TYPE_PURCHASE: EventType
EVENT_TYPE_ELEMENT_VISIBLE: EventType
EVENT_TYPE_WS_CLICK: EventType
EVENT_TYPE_RECOMMENDATIONS_INSERTED: EventType

class Event(_message.Message):
    __slots__ = ("tenant", "market", "type", "deduplication_id", "user_id", "session_id", "dsid", "ab_test_group", "product_id", "variant_ids", "entity_identifiers", "url", "entity_price", "currency", "document_referrer", "document_width", "attribution_id", "recommendation_id", "search_result_id", "product_listing_result_id", "click_location", "page_url", "recommendation_type")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MARKET_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DSID_FIELD_NUMBER: _ClassVar[int]
    AB_TEST_GROUP_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    VARIANT_IDS_FIELD_NUMBER: _ClassVar[int]
    ENTITY_IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ENTITY_PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_REFERRER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_ID_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEARCH_RESULT_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_LISTING_RESULT_ID_FIELD_NUMBER: _ClassVar[int]
    CLICK_LOCATION_FIELD_NUMBER: _ClassVar[int]
    PAGE_URL_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    market: str
    type: EventType
    deduplication_id: str
    user_id: str
    session_id: str
    dsid: str
    ab_test_group: str
    product_id: str
    variant_ids: _containers.RepeatedScalarFieldContainer[str]
    entity_identifiers: _struct_pb2.Struct
    url: str
    entity_price: str
    currency: str
    document_referrer: str
    document_width: str
    attribution_id: str
    recommendation_id: str
    search_result_id: str
    product_listing_result_id: str
    click_location: str
    page_url: str
    recommendation_type: str
    def __init__(self, tenant: _Optional[str] = ..., market: _Optional[str] = ..., type: _Optional[_Union[EventType, str]] = ..., deduplication_id: _Optional[str] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., dsid: _Optional[str] = ..., ab_test_group: _Optional[str] = ..., product_id: _Optional[str] = ..., variant_ids: _Optional[_Iterable[str]] = ..., entity_identifiers: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., url: _Optional[str] = ..., entity_price: _Optional[str] = ..., currency: _Optional[str] = ..., document_referrer: _Optional[str] = ..., document_width: _Optional[str] = ..., attribution_id: _Optional[str] = ..., recommendation_id: _Optional[str] = ..., search_result_id: _Optional[str] = ..., product_listing_result_id: _Optional[str] = ..., click_location: _Optional[str] = ..., page_url: _Optional[str] = ..., recommendation_type: _Optional[str] = ...) -> None: ...

class CreateEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class CreateEventsResponse(_message.Message):
    __slots__ = ("stored", "duplicates")
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    stored: int
    duplicates: int
    def __init__(self, stored: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...
