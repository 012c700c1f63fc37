"""Retail-media events (POST /v2/events): impressions, clicks, purchases, page views.

All-or-nothing: one invalid event refuses the request, naming the event and field, and
nothing is stored. Each event's id makes a retry safe (stored once per tenant and kind).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from google.protobuf import message
from topsort.v2 import events_pb2 as pb
from topsort.v2 import events_pb2_grpc as pb_grpc

from event_gateway import errors
from event_gateway.ingest import common
from event_gateway.scope import current_scope
from event_gateway.storage.base import EventRecord

Violations = list[errors.FieldViolation]


def _common_violations(path: str, event: message.Message) -> Violations:
    """id, occurredAt and opaqueUserId: required on every kind of event."""
    out: Violations = []
    if not getattr(event, "id"):
        out.append(common.missing(f"{path}.id", "id"))
    if not event.HasField("occurred_at"):
        out.append(common.missing(f"{path}.occurredAt", "occurredAt"))
    elif not common.valid_timestamp(event.occurred_at):  # type: ignore[attr-defined]
        out.append(
            errors.FieldViolation(
                f"{path}.occurredAt", "occurredAt is not a valid timestamp", "invalid"
            )
        )
    if not getattr(event, "opaque_user_id"):
        out.append(common.missing(f"{path}.opaqueUserId", "opaqueUserId"))
    return out


def _placed_violations(path: str, event: pb.Impression | pb.Click) -> Violations:
    # placement is not enforced: the ad was shown or clicked whether or not the client
    # said where, and refusing the event would lose that (documented leniency).
    return _common_violations(path, event)


def _purchase_violations(path: str, event: pb.Purchase) -> Violations:
    out = _common_violations(path, event)
    if not event.items:
        out.append(errors.FieldViolation(f"{path}.items", "items must not be empty", "missing"))
    for i, item in enumerate(event.items):
        item_path = f"{path}.items[{i}]"
        if not item.product_id:
            out.append(common.missing(f"{item_path}.productId", "productId"))
        if not item.HasField("unit_price"):
            out.append(common.missing(f"{item_path}.unitPrice", "unitPrice"))
        elif not math.isfinite(item.unit_price):
            out.append(
                errors.FieldViolation(f"{item_path}.unitPrice", "unitPrice must be a finite number")
            )
        elif item.unit_price < 0:
            out.append(
                errors.FieldViolation(f"{item_path}.unitPrice", "unitPrice must not be negative")
            )
        if item.HasField("quantity") and item.quantity < 1:
            out.append(
                errors.FieldViolation(f"{item_path}.quantity", "quantity must be at least 1")
            )
    return out


def _pageview_violations(path: str, event: pb.PageView) -> Violations:
    out = _common_violations(path, event)
    if not event.HasField("page"):
        out.append(common.missing(f"{path}.page", "page"))
        return out
    if not event.page.type:
        out.append(common.missing(f"{path}.page.type", "page.type"))
    if not event.page.page_id:
        out.append(common.missing(f"{path}.page.pageId", "page.pageId"))
    return out


@dataclass(frozen=True, slots=True)
class Kind:
    """One list of the request: its JSON name, stored event type and validation."""

    list_name: str
    event_type: str
    violations: Callable[[str, message.Message], Violations]

    def events(self, request: pb.ReportEventsRequest) -> Sequence[message.Message]:
        return getattr(request, self.list_name)  # type: ignore[no-any-return]


KINDS: tuple[Kind, ...] = (
    Kind("impressions", "impression", _placed_violations),  # type: ignore[arg-type]
    Kind("clicks", "click", _placed_violations),  # type: ignore[arg-type]
    Kind("purchases", "purchase", _purchase_violations),  # type: ignore[arg-type]
    Kind("pageviews", "pageview", _pageview_violations),  # type: ignore[arg-type]
)


def request_violations(request: pb.ReportEventsRequest) -> Violations:
    return [
        v
        for kind in KINDS
        for i, event in enumerate(kind.events(request))
        for v in kind.violations(f"{kind.list_name}[{i}]", event)
    ]


def _records(receipt: common.Receipt, request: pb.ReportEventsRequest) -> Iterable[EventRecord]:
    for kind in KINDS:
        for event in kind.events(request):
            yield receipt.record(
                kind.event_type,
                common.payload_of(event),
                occurred_at=common.timestamp_value(event.occurred_at),  # type: ignore[attr-defined]
                visitor_id=event.opaque_user_id,  # type: ignore[attr-defined]
                # The kind is part of the key: a client may reuse one id for the
                # impression and the click it led to.
                dedup_key=f"{kind.event_type}:{event.id}",  # type: ignore[attr-defined]
            )


class TopsortEventsServicer(common.Ingestor, pb_grpc.TopsortEventsServiceServicer):
    async def ReportEvents(  # noqa: N802
        self, request: pb.ReportEventsRequest, context: common.MetadataContext
    ) -> pb.ReportEventsResponse:
        scope = current_scope()
        tenant = await self.accepting_tenant(scope)
        violations = request_violations(request)
        if violations:
            raise errors.InvalidArgument(
                f"{len(violations)} invalid field(s): {common.describe(violations)}",
                violations,
                reason="INVALID_EVENTS",
            )
        receipt = common.receipt(
            scope, tenant, common.request_headers(context), self._settings, self._clock
        )
        records = list(_records(receipt, request))
        if not records:
            return pb.ReportEventsResponse(stored=0, duplicates=0)
        result = await self._writer.write(records)
        return pb.ReportEventsResponse(stored=result.stored, duplicates=result.duplicates)
