import datetime

from eventgateway.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Placement(_message.Message):
    __slots__ = ("path", "position", "page", "page_size", "category_id", "product_id", "category_ids", "search_query")
    PATH_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_IDS_FIELD_NUMBER: _ClassVar[int]
    SEARCH_QUERY_FIELD_NUMBER: _ClassVar[int]
    path: str
    position: int
    page: int
    page_size: int
    category_id: str
    product_id: str
    category_ids: _containers.RepeatedScalarFieldContainer[str]
    search_query: str
    def __init__(self, path: _Optional[str] = ..., position: _Optional[int] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ..., category_id: _Optional[str] = ..., product_id: _Optional[str] = ..., category_ids: _Optional[_Iterable[str]] = ..., search_query: _Optional[str] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("type", "id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    type: str
    id: str
    def __init__(self, type: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class Impression(_message.Message):
    __slots__ = ("id", "occurred_at", "opaque_user_id", "placement", "resolved_bid_id", "device_type", "channel", "entity", "additional_attribution")
    ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    OPAQUE_USER_ID_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BID_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_ATTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    occurred_at: _timestamp_pb2.Timestamp
    opaque_user_id: str
    placement: Placement
    resolved_bid_id: str
    device_type: str
    channel: str
    entity: Entity
    additional_attribution: Entity
    def __init__(self, id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opaque_user_id: _Optional[str] = ..., placement: _Optional[_Union[Placement, _Mapping]] = ..., resolved_bid_id: _Optional[str] = ..., device_type: _Optional[str] = ..., channel: _Optional[str] = ..., entity: _Optional[_Union[Entity, _Mapping]] = ..., additional_attribution: _Optional[_Union[Entity, _Mapping]] = ...) -> None: ...

class Click(_message.Message):
    __slots__ = ("id", "occurred_at", "opaque_user_id", "placement", "resolved_bid_id", "device_type", "channel", "entity", "additional_attribution")
    ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    OPAQUE_USER_ID_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BID_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_ATTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    occurred_at: _timestamp_pb2.Timestamp
    opaque_user_id: str
    placement: Placement
    resolved_bid_id: str
    device_type: str
    channel: str
    entity: Entity
    additional_attribution: Entity
    def __init__(self, id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opaque_user_id: _Optional[str] = ..., placement: _Optional[_Union[Placement, _Mapping]] = ..., resolved_bid_id: _Optional[str] = ..., device_type: _Optional[str] = ..., channel: _Optional[str] = ..., entity: _Optional[_Union[Entity, _Mapping]] = ..., additional_attribution: _Optional[_Union[Entity, _Mapping]] = ...) -> None: ...

class PurchaseItem(_message.Message):
    __slots__ = ("product_id", "unit_price", "quantity", "vendor_id")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    VENDOR_ID_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    unit_price: float
    quantity: int
    vendor_id: str
    def __init__(self, product_id: _Optional[str] = ..., unit_price: _Optional[float] = ..., quantity: _Optional[int] = ..., vendor_id: _Optional[str] = ...) -> None: ...

class Purchase(_message.Message):
    __slots__ = ("id", "occurred_at", "opaque_user_id", "items", "device_type", "channel")
    ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    OPAQUE_USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    occurred_at: _timestamp_pb2.Timestamp
    opaque_user_id: str
    items: _containers.RepeatedCompositeFieldContainer[PurchaseItem]
    device_type: str
    channel: str
    def __init__(self, id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opaque_user_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[PurchaseItem, _Mapping]]] = ..., device_type: _Optional[str] = ..., channel: _Optional[str] = ...) -> None: ...

class Page(_message.Message):
    __slots__ = ("type", "page_id", "value")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    type: str
    page_id: str
    value: str
    def __init__(self, type: _Optional[str] = ..., page_id: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class PageView(_message.Message):
    __slots__ = ("id", "occurred_at", "opaque_user_id", "page", "device_type", "channel")
    ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    OPAQUE_USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    occurred_at: _timestamp_pb2.Timestamp
    opaque_user_id: str
    page: Page
    device_type: str
    channel: str
    def __init__(self, id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opaque_user_id: _Optional[str] = ..., page: _Optional[_Union[Page, _Mapping]] = ..., device_type: _Optional[str] = ..., channel: _Optional[str] = ...) -> None: ...

class ReportEventsRequest(_message.Message):
    __slots__ = ("impressions", "clicks", "purchases", "pageviews")
    IMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    PAGEVIEWS_FIELD_NUMBER: _ClassVar[int]
    impressions: _containers.RepeatedCompositeFieldContainer[Impression]
    clicks: _containers.RepeatedCompositeFieldContainer[Click]
    purchases: _containers.RepeatedCompositeFieldContainer[Purchase]
    pageviews: _containers.RepeatedCompositeFieldContainer[PageView]
    def __init__(self, impressions: _Optional[_Iterable[_Union[Impression, _Mapping]]] = ..., clicks: _Optional[_Iterable[_Union[Click, _Mapping]]] = ..., purchases: _Optional[_Iterable[_Union[Purchase, _Mapping]]] = ..., pageviews: _Optional[_Iterable[_Union[PageView, _Mapping]]] = ...) -> None: ...

class ReportEventsResponse(_message.Message):
    __slots__ = ("stored", "duplicates")
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    stored: int
    duplicates: int
    def __init__(self, stored: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...
