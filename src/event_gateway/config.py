"""Settings: one validated value object, passed in to every part that needs it.

Precedence (highest first): command-line flags, EVENT_GATEWAY_* environment variables,
an optional TOML file, defaults. Nested fields use `__` in environment variables, e.g.
EVENT_GATEWAY_WRITER__QUEUE_ROWS=50000.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WriterSettings(BaseModel):
    # Rows waiting for a commit; past this, writes are refused with 503 / RESOURCE_EXHAUSTED.
    queue_rows: int = Field(20_000, ge=1)
    # Most rows committed in one transaction.
    batch_rows: int = Field(2_000, ge=1)
    # A commit that has not succeeded within this many seconds fails the waiting requests.
    commit_timeout: float = Field(10.0, gt=0)
    # Retry-After (seconds) advertised when the queue is full or the store is down.
    retry_after: int = Field(1, ge=1)


class ThrottleSettings(BaseModel):
    # "memory" (per process) or "redis" (shared by every process using redis_url).
    store: str = Field("memory", pattern="^(memory|redis)$")
    # When the Redis store cannot be reached: allow (true) or refuse with 503 (false).
    fail_open: bool = True
    # Overrides of the documented defaults: {"alana": {"per_key": "2000/minute"}}.
    limits: dict[str, dict[str, str]] = Field(default_factory=dict)
    # Failed authentications allowed per client address.
    auth_failures: str = "30/minute"


class CorsSettings(BaseModel):
    # Origins allowed on the public storefront paths ("*" = any origin).
    public_origins: list[str] = Field(default_factory=lambda: ["*"])
    # Origins allowed on the authenticated paths; empty = none.
    origins: list[str] = Field(default_factory=list)
    max_age: int = Field(600, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVENT_GATEWAY_", env_nested_delimiter="__")

    http: str = "127.0.0.1:8080"
    grpc: str = "127.0.0.1:50051"
    database: SecretStr = SecretStr("sqlite+aiosqlite:///./event-gateway.db")
    redis_url: SecretStr | None = None
    workers: int = Field(1, ge=1)
    # Seconds to drain in-flight requests and flush the writer on SIGTERM/SIGINT.
    shutdown_grace: float = Field(10.0, ge=0)
    # Addresses (or CIDR ranges) of proxies whose X-Forwarded-For is believed.
    trusted_proxies: list[str] = Field(default_factory=list)
    # REST request bodies larger than this are refused with 413 (after decompression too).
    max_body_bytes: int = Field(1_048_576, ge=1024)
    # Events dated later than now + this many seconds are flagged future_dated.
    future_tolerance: float = Field(300.0, ge=0)
    log_json: bool = False
    log_level: str = "info"
    writer: WriterSettings = Field(default_factory=WriterSettings)
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    cors: CorsSettings = Field(default_factory=CorsSettings)
