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


def batch_json(metadata: bool = True) -> bytes:
    """A realistic batch: a mix of event kinds with metadata, ids and revenue."""
    kinds = ["EVENT_TYPE_SEARCH", "EVENT_TYPE_DETAIL_PAGE_VIEW", "EVENT_TYPE_ADD_TO_CART",
             "EVENT_TYPE_PURCHASE_COMPLETE"]
    events = []
    for i in range(BATCH):
        event = {
            "eventType": kinds[i % len(kinds)],
            "visitorId": f"visitor-{i % 17:04d}-5f1c2a",
            "userId": f"user-{i % 5}",
            "productId": f"sku-{i:06d}",
        }
        if metadata:  # a google.protobuf.Struct: the costliest part to build
            event["metadata"] = {"page": "/products/sku-123", "referrer": "search", "position": i}
        if i % 4 == 0:
            event["query"] = "red running shoes"
        if i % 4 == 3:
            event["productIds"] = [f"sku-{i:06d}", f"sku-{i + 1:06d}", f"sku-{i + 2:06d}"]
            event["revenue"] = 129.95
            event["currency"] = "EUR"
        events.append(event)
    return orjson.dumps({"events": events})


def paired_medians(baseline: Callable[[], object], candidate: Callable[[], object],
                   repeats: int, loops: int) -> tuple[float, float, float]:
    """Median seconds per call of each, and the median of per-run ratios. The two are
    timed alternately so that load from other processes hits both alike."""
    base_runs, cand_runs, ratios = [], [], []
    for _ in range(repeats):
        base_runs.append(_seconds(baseline, loops))
        cand_runs.append(_seconds(candidate, loops))
        ratios.append(base_runs[-1] / cand_runs[-1])
    return statistics.median(base_runs), statistics.median(cand_runs), statistics.median(ratios)


def _seconds(fn: Callable[[], object], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - start) / loops


def row(name: str, seconds: float, speedup: float) -> None:
    per_event = BATCH / seconds
    print(f"{name:34s} {seconds * 1e6:9.1f} us/batch {per_event:12,.0f} events/s "
          f"{speedup:6.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--loops", type=int, default=50)
    args = parser.parse_args()

    codec = MessageCodec.for_descriptor(pb.TrackEventsRequest.DESCRIPTOR, CodecOptions())
    print(f"medians of {args.repeats} alternating runs x {args.loops} loops; "
          "speed-up = median per-run ratio against json_format")
    for label, data in [("with Struct metadata", batch_json()),
                        ("without metadata", batch_json(metadata=False))]:
        bench_batch(codec, label, data, args.repeats, args.loops)


def bench_batch(codec: MessageCodec, label: str, data: bytes, repeats: int, loops: int) -> None:
    message = codec.decode(data)
    assert message == json_format.Parse(data, pb.TrackEventsRequest(), ignore_unknown_fields=True)

    def parse_json_format() -> object:
        return json_format.Parse(data, pb.TrackEventsRequest(), ignore_unknown_fields=True)

    def print_json_format() -> object:
        return json_format.MessageToJson(message, indent=None)

    print(f"-- {BATCH} events {label}, {len(data)} bytes")
    base, ours, ratio = paired_medians(parse_json_format, lambda: codec.decode(data),
                                       repeats, loops)
    row("decode json_format.Parse", base, 1.0)
    row("decode MessageCodec.decode", ours, ratio)
    base, ours, ratio = paired_medians(print_json_format, lambda: codec.encode(message),
                                       repeats, loops)
    row("encode json_format.MessageToJson", base, 1.0)
    row("encode MessageCodec.encode", ours, ratio)

if __name__ == "__main__":
    main()
