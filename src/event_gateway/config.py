"""Settings: one validated value object, passed in to every part that needs it.

Precedence (highest first): command-line flags, EVENT_GATEWAY_* environment variables,
an optional TOML file (``--config`` or EVENT_GATEWAY_CONFIG), defaults. Nested fields
use `__` in environment variables, e.g. EVENT_GATEWAY_WRITER__QUEUE_ROWS=50000, and a
table in TOML (``[writer]``). `load_settings` does the layering and turns every problem
into one `ConfigError` line; `render_settings` prints the result with secrets masked.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

ENV_PREFIX = "EVENT_GATEWAY_"
CONFIG_FILE_ENV = "EVENT_GATEWAY_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class WriterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a no-op

    # Rows waiting for a commit; past this, writes are refused with 503 / RESOURCE_EXHAUSTED.
    queue_rows: int = Field(20_000, ge=1)
    # Most rows committed in one transaction.
    batch_rows: int = Field(2_000, ge=1)
    # A commit that has not succeeded within this many seconds fails the waiting requests.
    commit_timeout: float = Field(10.0, gt=0)
    # Retry-After (seconds) advertised when the queue is full or the store is down.
    retry_after: int = Field(1, ge=1)


class ThrottleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a no-op

    # "memory" (per process) or "redis" (shared by every process using redis_url). Left
    # unset, it is "redis" when redis_url is set: that is what a Redis URL is for.
    store: str = Field("memory", pattern="^(memory|redis)$")
    # When the Redis store cannot be reached: allow (true) or refuse with 503 (false).
    fail_open: bool = True
    # Overrides of the documented defaults: {"alana": {"per_key": "2000/minute"}}.
    limits: dict[str, dict[str, str]] = Field(default_factory=dict)
    # How a limit's bucket refills: "window" (whole, when the window its first request
    # opened ends: at most N requests in a window, as the documented "100 requests /
    # 1 minute" and Laravel's throttle read) or "smooth" (GCRA: one request's worth
    # every period/N seconds).
    refill: str = Field("window", pattern="^(window|smooth)$")
    # Failed authentications allowed per client address (always "smooth").
    auth_failures: str = "30/minute"

    @field_validator("auth_failures")
    @classmethod
    def _rate(cls, value: str) -> str:
        return _check_rate(value)

    @field_validator("limits")
    @classmethod
    def _rates(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for limits in value.values():
            for rate in limits.values():
                _check_rate(rate)
        if value:
            # Names only the contract knows: checked here so `config show` and `serve`
            # agree, and a typo is one line, not a traceback from start-up.
            from event_gateway.contract import check_limit_overrides, default_contract

            check_limit_overrides(default_contract(), value)
        return value


# RFC 9110 5.6.2: a header name is a token (matched lower-cased; CORS echoes the names).
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")


class CorsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a no-op

    # Origins allowed on the public storefront paths ("*" = any origin).
    public_origins: list[str] = Field(default_factory=lambda: ["*"])
    # Origins allowed on the authenticated paths ("*" = any origin; empty = none).
    origins: list[str] = Field(default_factory=lambda: ["*"])
    max_age: int = Field(600, ge=0)
    # Request headers a preflight may ask for ("*" = any header name).
    allow_headers: list[str] = Field(default_factory=lambda: ["*"])
    # Access-Control-Allow-Credentials on allowed origins' answers: beacons always send
    # credentials, so a beacon with a JSON body is refused by the browser without it.
    allow_credentials: bool = True

    @field_validator("allow_headers")
    @classmethod
    def _header_names(cls, value: list[str]) -> list[str]:
        names = [name.lower() for name in value]
        for name in names:
            if name != "*" and not HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name")
        return names

    @field_validator("public_origins", "origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s?#]+", origin):
                raise ValueError(
                    f"{origin!r} is not an origin: use '*' or scheme://host[:port], no path"
                )
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__")

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

    @field_validator("throttle")
    @classmethod
    def _store(cls, value: ThrottleSettings, info: ValidationInfo) -> ThrottleSettings:
        has_redis = info.data.get("redis_url") is not None
        if value.store == "redis" and not has_redis:
            raise ValueError("store is redis but redis_url is not set")
        if has_redis and "store" not in value.model_fields_set:
            return value.model_copy(update={"store": "redis"})
        return value

    @field_validator("http", "grpc")
    @classmethod
    def _address(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"{value!r} is not HOST:PORT (e.g. 0.0.0.0:8080, [::]:8080)")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
        return value.lower()

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: SecretStr) -> SecretStr:
        if "://" not in value.get_secret_value():
            raise ValueError("not a database URL (e.g. sqlite+aiosqlite:///./events.db)")
        return value


class ConfigError(Exception):
    """Invalid configuration; str() is one readable line per problem."""


def _check_rate(value: str) -> str:
    from event_gateway.policy.rates import parse_rate  # the one grammar, with its units

    parse_rate(value)
    return value


# --- loading ------------------------------------------------------------------------------

_SECRET_FIELDS = frozenset({"database", "redis_url"})


def load_settings(overrides: Mapping[str, Any], config_file: Path | None = None) -> Settings:
    """Settings from flags (`overrides`) > environment > TOML file > defaults.

    Raises ConfigError, never a pydantic traceback: start-up must say what is wrong.
    """
    path = config_file or _env_config_path()
    from_file = _read_toml(path) if path is not None else {}
    from_env = _read_env()
    merged = _deep_merge(_deep_merge(from_file, from_env), dict(overrides))
    try:
        return Settings(**merged)
    except ValidationError as exc:
        lines = [_describe(err, overrides, from_env, path) for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def _env_config_path() -> Path | None:
    value = os.environ.get(CONFIG_FILE_ENV)
    return Path(value) if value else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _read_env() -> dict[str, Any]:
    # pydantic-settings' own parser, so nesting and JSON values behave as documented.
    try:
        return dict(EnvSettingsSource(Settings)())
    except Exception as exc:  # SettingsError for an env value that is not valid JSON
        field = re.search(r'field "(\w+)"', str(exc))
        prefix = ENV_PREFIX + (field.group(1).upper() if field else "")
        names = sorted(name for name in os.environ if name.upper().startswith(prefix)) or ["environment"]
        raise ConfigError(f"{', '.join(names)}: not valid JSON (lists and tables are JSON)") from None


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(
    err: Mapping[str, Any], flags: Mapping[str, Any], env: Mapping[str, Any], path: Path | None
) -> str:
    loc = tuple(str(part) for part in err["loc"])
    name = ".".join(loc) or "settings"
    message = str(err["msg"]).removeprefix("Value error, ")
    origin = _origin(loc, flags, env, path)
    shown = ""
    if loc and loc[0] not in _SECRET_FIELDS and err.get("type") != "extra_forbidden":
        shown = f" (got {err.get('input')!r})"
    if err.get("type") == "extra_forbidden":
        message = "unknown setting"
    return f"{name}: {message}{shown} [{origin}]"


def _origin(
    loc: tuple[str, ...], flags: Mapping[str, Any], env: Mapping[str, Any], path: Path | None
) -> str:
    if _has(flags, loc):
        return f"--{loc[0].replace('_', '-')}"
    if _has(env, loc):
        return ENV_PREFIX + "__".join(loc).upper()
    if path is not None:
        return str(path)
    return "default"


def _has(values: Mapping[str, Any], loc: tuple[str, ...]) -> bool:
    current: Any = values
    for part in loc:
        if not isinstance(current, Mapping) or part not in current:
            return False
        current = current[part]
    return True


# --- rendering ----------------------------------------------------------------------------


def env_var(*path: str) -> str:
    """The environment variable of a setting: env_var("writer", "queue_rows")."""
    return ENV_PREFIX + "__".join(path).upper()


def mask_url(url: str) -> str:
    """The URL with its passwords replaced by ***, for display: in the userinfo, and in
    the query (libpq and redis-py read `?password=`)."""
    parts = urlsplit(url)
    if parts.password is not None:
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        url = urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    head, mark, query = url.partition("?")  # not urlunsplit: it drops an empty "//"
    return head + mark + _QUERY_PASSWORD.sub(r"\1***", query)


_QUERY_PASSWORD = re.compile(r"((?:^|&)(?:password|passwd|pwd)=)[^&]*", re.IGNORECASE)


def settings_dict(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets masked (never the real password)."""
    data = settings.model_dump(mode="python")
    for name in _SECRET_FIELDS:
        secret = getattr(settings, name)
        data[name] = None if secret is None else mask_url(secret.get_secret_value())
    return data


def render_settings(settings: Settings, fmt: str = "toml") -> str:
    """`event-gateway config show`: the effective configuration as TOML or JSON."""
    data = settings_dict(settings)
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    if fmt != "toml":
        raise ValueError(f"unknown format {fmt!r}: toml or json")
    return _to_toml(data)


def _to_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    # A tiny writer for our own shape (scalars, lists of scalars, tables): no dependency.
    scalars: list[str] = []
    tables: list[str] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            name = f"{prefix}{_toml_key(key)}"
            body = _to_toml(value, f"{name}.")
            tables.append(f"[{name}]\n{body}" if body.strip() else f"[{name}]\n")
        elif value is None:
            scalars.append(f"# {_toml_key(key)} is not set")
        else:
            scalars.append(f"{_toml_key(key)} = {_toml_value(value)}")
    head = "\n".join(scalars) + ("\n" if scalars else "")
    return head + "".join(f"\n{t}" for t in tables)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string
