"""scripts/bench: the gateway measured beside its physical limits and a naive app."""
