"""InProcessContext: grpc.aio's ServicerContext semantics for in-process REST calls."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio

from event_gateway.transcoding.context import InProcessContext


async def test_abort_keeps_earlier_trailers_and_replaces_repeated_keys() -> None:
    context = InProcessContext((), "ipv4:127.0.0.1:5000")
    context.set_trailing_metadata((("x-limit", "4"), ("x-remaining", "1")))
    with pytest.raises(aio.AbortError):
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", (("x-remaining", "0"), ("retry-after", "3")))
    assert sorted(context.trailing_metadata()) == [("retry-after", "3"), ("x-limit", "4"), ("x-remaining", "0")]
    assert context.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(aio.UsageError):
        await context.abort(grpc.StatusCode.INTERNAL, "twice")
