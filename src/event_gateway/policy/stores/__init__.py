"""Throttle stores: where GCRA arrival times live (memory per process, or Redis)."""

from event_gateway.policy.stores.base import BucketState, Check, Decision, ThrottleStore
from event_gateway.policy.stores.memory import MemoryStore

__all__ = ["BucketState", "Check", "Decision", "MemoryStore", "ThrottleStore"]
