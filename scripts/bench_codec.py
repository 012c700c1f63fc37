#!/usr/bin/env python
"""Time json_format against the compiled MessageCodec on a 100-event batch.

Not a test: numbers depend on the machine. Prints one line per row with the median of
repeated runs and the speed-up. Run: .venv/bin/python scripts/bench_codec.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "gen" / "python")]

import orjson  # noqa: E402
from alana.v1 import shopper_events_pb2 as pb  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from event_gateway.transcoding.codec import CodecOptions, MessageCodec  # noqa: E402

BATCH = 100


def batch_json() -> bytes:
    """A realistic batch: a mix of event kinds with metadata, ids and revenue."""
    kinds = ["EVENT_TYPE_SEARCH", "EVENT_TYPE_DETAIL_PAGE_VIEW", "EVENT_TYPE_ADD_TO_CART",
             "EVENT_TYPE_PURCHASE_COMPLETE"]
    events = []
    for i in range(BATCH):
        event = {
            "eventType": kinds[i % len(kinds)],
            "visitorId": f"visitor-{i % 17:04d}-5f1c2a",
            "userId": f"user-{i % 5}",
            "metadata": {"page": "/products/sku-123", "referrer": "search", "position": i},
            "productId": f"sku-{i:06d}",
        }
        if i % 4 == 0:
            event["query"] = "red running shoes"
        if i % 4 == 3:
            event["productIds"] = [f"sku-{i:06d}", f"sku-{i + 1:06d}", f"sku-{i + 2:06d}"]
            event["revenue"] = 129.95
            event["currency"] = "EUR"
        events.append(event)
    return orjson.dumps({"events": events})


def median_seconds(fn: Callable[[], object], repeats: int, loops: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops)
    return statistics.median(samples)


def row(name: str, seconds: float, baseline: float) -> None:
    per_event = BATCH / seconds
    print(f"{name:34s} {seconds * 1e6:9.1f} us/batch {per_event:12,.0f} events/s "
          f"{baseline / seconds:6.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--loops", type=int, default=50)
    args = parser.parse_args()

    data = batch_json()
    codec = MessageCodec.for_descriptor(pb.TrackEventsRequest.DESCRIPTOR, CodecOptions())
    message = codec.decode(data)
    assert message == json_format.Parse(data, pb.TrackEventsRequest(), ignore_unknown_fields=True)

    def parse_json_format() -> object:
        return json_format.Parse(data, pb.TrackEventsRequest(), ignore_unknown_fields=True)

    def print_json_format() -> object:
        return json_format.MessageToJson(message, indent=None)

    print(f"batch of {BATCH} events, {len(data)} bytes; median of {args.repeats} x {args.loops}")
    base = median_seconds(parse_json_format, args.repeats, args.loops)
    row("decode json_format.Parse", base, base)
    row("decode MessageCodec.decode", median_seconds(lambda: codec.decode(data), args.repeats,
                                                     args.loops), base)
    base = median_seconds(print_json_format, args.repeats, args.loops)
    row("encode json_format.MessageToJson", base, base)
    row("encode MessageCodec.encode", median_seconds(lambda: codec.encode(message), args.repeats,
                                                     args.loops), base)


if __name__ == "__main__":
    main()
