"""Settings: precedence, validation messages, and the masked rendering."""

from __future__ import annotations

import json
import pickle
import tomllib
from pathlib import Path

import pytest

from event_gateway.config import ConfigError, Settings, load_settings, mask_url, render_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("EVENT_GATEWAY_"):
            monkeypatch.delenv(name)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.writer.queue_rows == 20_000 and settings.cors.public_origins == ["*"]


def test_flags_beat_env_beat_file_beat_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _toml(tmp_path, """
http = "0.0.0.0:1111"
grpc = "0.0.0.0:2222"
log_level = "warning"
[writer]
queue_rows = 10
batch_rows = 5
""")
    monkeypatch.setenv("EVENT_GATEWAY_GRPC", "0.0.0.0:3333")
    monkeypatch.setenv("EVENT_GATEWAY_HTTP", "0.0.0.0:4444")
    monkeypatch.setenv("EVENT_GATEWAY_WRITER__QUEUE_ROWS", "20")
    settings = load_settings({"http": "127.0.0.1:5555"}, path)
    assert settings.http == "127.0.0.1:5555"  # flag
    assert settings.grpc == "0.0.0.0:3333"  # env over file
    assert settings.log_level == "warning"  # file over default
    assert settings.writer.queue_rows == 20  # nested env over nested file...
    assert settings.writer.batch_rows == 5  # ...without losing the file's sibling
    assert settings.writer.commit_timeout == 10.0  # default


def test_config_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_GATEWAY_CONFIG", str(_toml(tmp_path, "workers = 3\n")))
    assert load_settings({}).workers == 3


def test_env_lists_and_tables_are_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_GATEWAY_CORS__ORIGINS", '["https://shop.example"]')
    monkeypatch.setenv("EVENT_GATEWAY_THROTTLE__LIMITS", '{"alana": {"per_key": "5/second"}}')
    settings = load_settings({})
    assert settings.cors.origins == ["https://shop.example"]
    assert settings.throttle.limits == {"alana": {"per_key": "5/second"}}


def test_every_problem_is_one_line_naming_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _toml(tmp_path, """
log_level = "loud"
typo_setting = 1
[throttle]
auth_failures = "lots"
[cors]
origins = ["https://ok.example", "https://bad.example/path"]
""")
    monkeypatch.setenv("EVENT_GATEWAY_WRITER__BATCH_ROWS", "0")
    with pytest.raises(ConfigError) as caught:
        load_settings({"http": "no-port"}, path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 6, lines
    text = str(caught.value)
    assert "http: 'no-port' is not HOST:PORT" in text and "[--http]" in text
    assert "writer.batch_rows: Input should be greater than or equal to 1" in text
    assert "[EVENT_GATEWAY_WRITER__BATCH_ROWS]" in text
    assert f"log_level: 'loud' is not one of debug, info, warning, error, critical" in text
    assert f"typo_setting: unknown setting [{path}]" in text
    assert "throttle.auth_failures: invalid rate 'lots': expected '<count>/<unit>'" in text
    assert "cors.origins.1" not in text or "is not an origin" in text
    assert "Traceback" not in text and "pydantic" not in text


def test_secrets_are_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"database": "hunter2-not-a-url"})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [("this is = = not toml", "invalid TOML"), (None, "configuration file not found")],
)
def test_unreadable_files(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "c.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_settings({}, path)


def test_render_masks_passwords_and_round_trips_through_toml(tmp_path: Path) -> None:
    settings = load_settings({
        "database": "postgresql+asyncpg://gateway:hunter2@db:5432/events",
        "redis_url": "redis://:redispass@cache:6379/0",
        "trusted_proxies": ["10.0.0.0/8"],
        "throttle": {"limits": {"alana": {"per_key": "2000/minute"}}},
    })
    text = render_settings(settings)
    assert "hunter2" not in text and "redispass" not in text
    assert "gateway:***@db:5432" in text
    data = tomllib.loads(text)
    assert data["throttle"]["limits"]["alana"]["per_key"] == "2000/minute"
    assert data["writer"]["queue_rows"] == 20_000
    # The rendered file, passwords aside, loads back to the same settings.
    data["database"] = settings.database.get_secret_value()
    data["redis_url"] = settings.redis_url.get_secret_value()  # type: ignore[union-attr]
    again = tmp_path / "again.toml"
    again.write_text(render_settings(Settings(**data)).replace(
        '"postgresql+asyncpg://gateway:***@db:5432/events"',
        '"postgresql+asyncpg://gateway:hunter2@db:5432/events"').replace(
        '"redis://:***@cache:6379/0"', '"redis://:redispass@cache:6379/0"'))
    assert load_settings({}, again) == settings
    as_json = json.loads(render_settings(settings, "json"))
    assert as_json["redis_url"] == "redis://:***@cache:6379/0"


def test_unset_redis_is_a_comment_and_mask_url_leaves_plain_urls() -> None:
    assert "# redis_url is not set" in render_settings(Settings())
    assert mask_url("sqlite+aiosqlite:///./x.db") == "sqlite+aiosqlite:///./x.db"


def test_settings_pickle_for_spawned_workers() -> None:
    settings = load_settings({"database": "postgresql+asyncpg://u:p@h/d"})
    assert pickle.loads(pickle.dumps(settings)) == settings


def test_the_throttle_store_follows_redis_url_unless_set_and_redis_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by a black-box run: store=redis without a URL passed `config show` and then
    # crashed every worker (restarted for ever); with a URL, `config show` said "memory"
    # while the limits lived in Redis.
    assert load_settings({}).throttle.store == "memory"
    assert load_settings({"redis_url": "redis://cache:6379/0"}).throttle.store == "redis"
    monkeypatch.setenv("EVENT_GATEWAY_THROTTLE__STORE", "memory")
    assert load_settings({"redis_url": "redis://cache:6379/0"}).throttle.store == "memory"  # as asked
    monkeypatch.setenv("EVENT_GATEWAY_THROTTLE__STORE", "redis")
    with pytest.raises(ConfigError) as caught:
        load_settings({})
    assert str(caught.value) == (
        "throttle: store is redis but redis_url is not set (got {'store': 'redis'}) [EVENT_GATEWAY_THROTTLE]"
    )


@pytest.mark.parametrize(
    ("limits", "message"),
    [('{"alana": {"per_key": "100/fortnight"}}', "unknown unit 'fortnight'"),
     ('{"alana": {"per_key": "0/minute"}}', "count and period must be positive"),
     ('{"nosuchapi": {"per_key": "1/minute"}}', "unknown API 'nosuchapi'"),
     ('{"alana": {"nosuch": "1/minute"}}', "unknown limit alana.nosuch (known: per_key, per_key_ip)")],
)
def test_limits_serve_would_refuse_are_configuration_errors(
    monkeypatch: pytest.MonkeyPatch, limits: str, message: str
) -> None:
    # Found by a black-box run: `config show` accepted these, and `serve` stopped with a
    # traceback (and with --workers restarted its workers for ever).
    monkeypatch.setenv("EVENT_GATEWAY_THROTTLE__LIMITS", limits)
    with pytest.raises(ConfigError) as caught:
        load_settings({})
    assert message in str(caught.value) and "[EVENT_GATEWAY_THROTTLE__LIMITS]" in str(caught.value)


def test_passwords_in_a_urls_query_are_masked_too() -> None:
    assert mask_url("postgresql://u@h/db?password=topsecret&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require")
    assert mask_url("redis://h:1/0?PASSWORD=x") == "redis://h:1/0?PASSWORD=***"
    assert mask_url("postgresql://u:p@h/db?passfile=~/.pgpass") == "postgresql://u:***@h/db?passfile=~/.pgpass"


def test_a_misspelt_nested_setting_is_refused_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by a black-box run: `[throttle] failopen = false` was ignored, fail_open stayed true.
    path = _toml(tmp_path, "[throttle]\nfailopen = false\n[cors]\norigin = ['https://a.example']\n")
    monkeypatch.setenv("EVENT_GATEWAY_WRITER__TYPO", "1")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, path)
    assert sorted(str(caught.value).splitlines()) == [
        f"cors.origin: unknown setting [{path}]",
        f"throttle.failopen: unknown setting [{path}]",
        "writer.typo: unknown setting [EVENT_GATEWAY_WRITER__TYPO]",
    ]


def test_an_environment_value_that_is_not_json_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_GATEWAY_CORS__ORIGINS", '["a"')
    with pytest.raises(ConfigError) as caught:
        load_settings({})
    assert str(caught.value) == "EVENT_GATEWAY_CORS__ORIGINS: not valid JSON (lists and tables are JSON)"
