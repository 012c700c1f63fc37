"""One gRPC servicer per documented API: validation -> EventRecord -> writer.

`build_servicers` is what the server composes; each pair is registered with
``add_fn(servicer, server)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alana.v1 import shopper_events_pb2_grpc
from depict.v1 import events_pb2_grpc as depict_grpc
from storefront.v1 import analytics_pb2_grpc
from topsort.v2 import events_pb2_grpc as topsort_grpc

from event_gateway.config import Settings
from event_gateway.ingest.alana import ShopperEventsServicer
from event_gateway.ingest.common import Clock, utc_now
from event_gateway.ingest.depict import DepictEventsServicer
from event_gateway.ingest.storefront import StorefrontAnalyticsServicer
from event_gateway.ingest.topsort import TopsortEventsServicer
from event_gateway.storage.base import Catalog, EventWriter

__all__ = [
    "DepictEventsServicer",
    "ShopperEventsServicer",
    "StorefrontAnalyticsServicer",
    "TopsortEventsServicer",
    "build_servicers",
]

AddToServer = Callable[[Any, Any], None]


def build_servicers(
    writer: EventWriter, catalog: Catalog, settings: Settings, clock: Clock = utc_now
) -> list[tuple[AddToServer, Any]]:
    """Every API's servicer with the generated function that registers it on a server."""
    return [
        (
            shopper_events_pb2_grpc.add_ShopperEventsServiceServicer_to_server,
            ShopperEventsServicer(writer, catalog, settings, clock),
        ),
        (
            analytics_pb2_grpc.add_StorefrontAnalyticsServiceServicer_to_server,
            StorefrontAnalyticsServicer(writer, catalog, settings, clock),
        ),
        (
            depict_grpc.add_DepictEventsServiceServicer_to_server,
            DepictEventsServicer(writer, catalog, settings, clock),
        ),
        (
            topsort_grpc.add_TopsortEventsServiceServicer_to_server,
            TopsortEventsServicer(writer, catalog, settings, clock),
        ),
    ]
