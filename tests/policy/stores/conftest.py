from __future__ import annotations

from typing import Any

import pytest

from event_gateway.policy.stores.base import ThrottleStore
from event_gateway.policy.stores.memory import MemoryStore


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> ThrottleStore:
    """Every ThrottleStore implementation: the contract suite runs against each."""
    if request.param == "memory":
        return MemoryStore()
    from event_gateway.policy.stores.redis import RedisStore

    client: Any = request.getfixturevalue("redis_client")  # skips when Redis is absent
    return RedisStore(client, fail_open=False)
