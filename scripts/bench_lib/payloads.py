"""The events every row sends or writes: one definition, so all rows move the same data.

REST rows send the documented JSON (alana.v1 POST /api/v1/events); gRPC rows send the
same events as a length-prefixed TrackEventsRequest; the SQLite ceiling inserts the rows
the gateway stores for those events.
"""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from typing import Any

TENANT = "bench"
API = "alana"
USER_AGENT = "event-gateway-bench"
CLIENT_IP = "127.0.0.1"
REST_PATH = "/api/v1/events"
GRPC_PATH = "/alana.v1.ShopperEventsService/TrackEvents"

# The README's example event plus a little free-form metadata, as real SDKs send.
_SINGLE: dict[str, Any] = {
    "eventType": "detail-page-view",
    "visitorId": "visitor-123",
    "productId": "550e8400-e29b-41d4-a716-446655440000",
    "metadata": {"source": "catalog_page"},
}

_KINDS: tuple[dict[str, Any], ...] = (
    {"eventType": "detail-page-view", "productId": "550e8400-e29b-41d4-a716-446655440000"},
    {"eventType": "add-to-cart", "productId": "550e8400-e29b-41d4-a716-446655440001"},
    {"eventType": "search", "query": "camiseta azul"},
    {"eventType": "category-view", "categoryPath": "roupas/camisetas"},
    {"eventType": "home-page-view"},
)


def events(count: int) -> list[dict[str, Any]]:
    """`count` valid shopper events as documented JSON (1 -> the README's example)."""
    if count == 1:
        return [dict(_SINGLE)]
    out = []
    for i in range(count):
        event = {**_KINDS[i % len(_KINDS)], "visitorId": f"visitor-{i}"}
        event["metadata"] = {"source": "catalog_page", "position": i}
        out.append(event)
    return out


def rest_body(count: int) -> bytes:
    return json.dumps({"events": events(count)}, separators=(",", ":")).encode()


def grpc_message(count: int) -> bytes:
    """TrackEventsRequest bytes for the same events (parsed from the JSON by protobuf)."""
    from alana.v1 import shopper_events_pb2 as pb
    from google.protobuf import json_format

    enum_names = {
        "home-page-view": "EVENT_TYPE_HOME_PAGE_VIEW",
        "search": "EVENT_TYPE_SEARCH",
        "category-view": "EVENT_TYPE_CATEGORY_VIEW",
        "detail-page-view": "EVENT_TYPE_DETAIL_PAGE_VIEW",
        "add-to-cart": "EVENT_TYPE_ADD_TO_CART",
    }
    typed = [{**e, "eventType": enum_names[e["eventType"]]} for e in events(count)]
    request = json_format.ParseDict({"events": typed}, pb.TrackEventsRequest())
    return request.SerializeToString()


def grpc_frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length."""
    return struct.pack(">BI", 0, len(message)) + message


def storage_rows(count: int) -> list[dict[str, Any]]:
    """The `events` rows the gateway writes for `events(count)`, as SQLite stores them.

    Column values follow the gateway's SQLite encoding: naive UTC datetime text (what
    SQLAlchemy's DateTime writes), JSON text for the payload, 0/1 booleans.
    """
    received = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    rows = []
    for event in events(count):
        rows.append(
            {
                "api": API,
                "tenant": TENANT,
                "event_type": event["eventType"],
                "visitor_id": event.get("visitorId"),
                "user_id": event.get("userId"),
                "session_id": None,
                "product_id": event.get("productId"),
                "occurred_at": None,
                "received_at": received,
                "client_ip": CLIENT_IP,
                "user_agent": USER_AGENT,
                "dedup_key": None,
                "future_dated": 0,
                "payload": json.dumps(event, separators=(",", ":")),
            }
        )
    return rows
