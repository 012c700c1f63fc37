"""The admin commands, through `python -m event_gateway` as users and scripts run them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from event_gateway.config import WriterSettings
from event_gateway.storage.base import EventRecord, RejectedRecord
from event_gateway.storage.engine import create_engine
from event_gateway.storage.writer import GroupCommitWriter


@pytest.fixture
def gateway(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "EVENT_GATEWAY_DATABASE": f"sqlite:///{tmp_path / 'admin.db'}"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "event_gateway", *args],
            env=env, capture_output=True, text=True, timeout=60,
        )

    return run


def test_tenants_products_and_keys(gateway) -> None:  # type: ignore[no-untyped-def]
    assert gateway("tenants", "add", "t1", "--slug", "acme", "--number", "7").returncode == 0
    assert gateway("tenants", "add", "t2", "--slug", "idle", "--number", "8", "--inactive").returncode == 0
    listed = gateway("tenants", "list").stdout.splitlines()
    assert listed == ["t1\tacme\t7\tactive", "t2\tidle\t8\tinactive"]

    duplicate = gateway("tenants", "add", "t3", "--slug", "acme", "--number", "9")
    assert duplicate.returncode == 2 and "slug 'acme'" in duplicate.stderr
    unknown = gateway("products", "add", "--tenant", "nope", "1")
    assert unknown.returncode == 2 and "unknown tenant 'nope'" in unknown.stderr
    assert gateway("products", "add", "--tenant", "t1", "1", "2", "2").returncode == 0

    created = gateway("keys", "create", "--tenant", "t1", "--name", "web",
                      "--api", "alana", "depict", "--limit", "per_key=10/second")
    assert created.returncode == 0
    key = created.stdout.strip()
    assert created.stdout == key + "\n" and key.startswith("egk_")
    key_id = key.split("_")[1]
    keys = gateway("keys", "list").stdout
    assert keys == f"{key_id}\tt1\tweb\talana,depict\tper_key=10/second\tactive\n"
    assert key.split("_", 2)[2] not in keys  # never the secret
    assert gateway("keys", "revoke", key_id).returncode == 0
    assert gateway("keys", "list").stdout.endswith("\trevoked\n")
    assert gateway("keys", "revoke", "nope").returncode == 2
    bad = gateway("keys", "create", "--tenant", "t1", "--limit", "oops")
    assert bad.returncode == 2 and "NAME=COUNT/PERIOD" in bad.stderr



@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--limit", "per_key=100/fortnight"], "unknown unit 'fortnight'"),
     (["--limit", "per_key=0/minute"], "count and period must be positive"),
     (["--limit", "nosuch=5/minute"], "no API of this key has a limit 'nosuch'"),
     (["--api", "alana", "--limit", "tenant_aware=5/minute"], "no API of this key has a limit 'tenant_aware'"),
     (["--api", "nosuchapi"], "unknown API 'nosuchapi'")],
    ids=["unit", "zero", "name", "name-of-another-api", "api"],
)
def test_keys_create_refuses_limits_that_would_fail_or_be_ignored_on_every_request(
    gateway, arguments: list[str], message: str  # type: ignore[no-untyped-def]
) -> None:
    # Found by a black-box run: such keys were stored, and a bad rate made every request
    # made with the key a 500.
    assert gateway("tenants", "add", "t1", "--slug", "acme", "--number", "7").returncode == 0
    refused = gateway("keys", "create", "--tenant", "t1", *arguments)
    assert refused.returncode == 2 and message in refused.stderr and "Traceback" not in refused.stderr
    assert gateway("keys", "list").stdout == ""
    # A limit of any of the key's APIs is fine (tenant_aware is storefront's).
    assert gateway("keys", "create", "--tenant", "t1", "--limit", "tenant_aware=5/minute").returncode == 0


def test_keys_revoke_takes_the_whole_key_and_never_echoes_its_secret(gateway) -> None:  # type: ignore[no-untyped-def]
    assert gateway("tenants", "add", "t1", "--slug", "acme", "--number", "7").returncode == 0
    key = gateway("keys", "create", "--tenant", "t1").stdout.strip()
    revoked = gateway("keys", "revoke", key)
    assert revoked.returncode == 0 and revoked.stderr == f"revoked key {key.split('_')[1]}\n"
    secret = key.split("_", 2)[2]
    unknown = gateway("keys", "revoke", f"egk_nosuchid_{secret}")
    assert unknown.returncode == 2 and "unknown key 'nosuchid'" in unknown.stderr
    assert secret not in unknown.stderr


def test_event_filters_name_only_known_apis(gateway) -> None:  # type: ignore[no-untyped-def]
    from event_gateway.admin_cli import _API_NAMES
    from event_gateway.contract import default_contract

    assert set(_API_NAMES) == {api.name for api in default_contract().apis}
    mistyped = gateway("events", "count", "--api", "nosuch")
    assert mistyped.returncode == 2 and "invalid choice" in mistyped.stderr


async def _store(url: str) -> None:
    engine = create_engine(url)
    writer = GroupCommitWriter(engine, WriterSettings())
    writer.start()
    at = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    await writer.write(
        [
            EventRecord("alana", "t1", "view", at, {"a": 1}, occurred_at=at),
            EventRecord("alana", "t1", "purchase", at.replace(hour=10), {"b": [2]}),
            EventRecord("depict", "t2", "view", at, {"c": "x"}),
        ],
        [RejectedRecord("alana", "t1", "missing visitorId", at, {"bad": True})],
    )
    await writer.close()
    await engine.dispose()


def test_events_count_and_export(gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_store(f"sqlite:///{tmp_path / 'admin.db'}"))
    assert gateway("events", "count").stdout == "3\n"
    assert gateway("events", "count", "--api", "alana", "--type", "view").stdout == "1\n"
    assert gateway("events", "count", "--tenant", "t2").stdout == "1\n"
    assert gateway("events", "count", "--rejected").stdout == "1\n"

    lines = gateway("events", "export", "--format", "ndjson", "--api", "alana").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["event_type"] for r in records] == ["view", "purchase"]
    assert records[0]["payload"] == {"a": 1} and records[0]["tenant"] == "t1"
    assert records[0]["received_at"] == "2026-11-22T09:00:00+00:00"
    assert records[0]["occurred_at"] == "2026-11-22T09:00:00+00:00"

    since = gateway("events", "export", "--format", "ndjson", "--since", "2026-11-22T09:30:00Z")
    assert [json.loads(line)["event_type"] for line in since.stdout.splitlines()] == ["purchase"]

    table = list(csv.DictReader(io.StringIO(gateway("events", "export", "--format", "csv").stdout)))
    assert len(table) == 3 and json.loads(table[2]["payload"]) == {"c": "x"}
    rejected = gateway("events", "export", "--format", "ndjson", "--rejected").stdout
    assert json.loads(rejected)["reason"] == "missing visitorId"


def test_db_upgrade_and_missing_schema(tmp_path: Path, gateway) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'up.db'}"
    result = gateway("db", "upgrade", "--database", url)
    assert result.returncode == 0 and "0001" in result.stderr
    assert gateway("events", "count", "--database", url).stdout == "0\n"
    bad = gateway("events", "count", "--database", "mysql://h/db")
    assert bad.returncode == 2 and "unsupported database URL" in bad.stderr


def test_admin_commands_read_the_database_from_the_configuration_as_serve_does(tmp_path: Path) -> None:
    # Found by a black-box run: they ignored --config and EVENT_GATEWAY_CONFIG and used
    # (or created) ./event-gateway.db.
    configured = tmp_path / "configured.db"
    config = tmp_path / "gateway.toml"
    config.write_text(f'database = "sqlite+aiosqlite:///{configured}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENT_GATEWAY_")}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "event_gateway", *args], cwd=tmp_path,
                              env={**env, **extra}, capture_output=True, text=True, timeout=60, check=False)

    assert run("tenants", "add", "t1", "--slug", "a", "--number", "1", "--config", str(config)).returncode == 0
    assert run("tenants", "add", "t2", "--slug", "b", "--number", "2", EVENT_GATEWAY_CONFIG=str(config)).returncode == 0
    assert run("tenants", "list", "--config", str(config)).stdout.splitlines() == ["t1\ta\t1\tactive", "t2\tb\t2\tactive"]
    assert configured.exists() and not (tmp_path / "event-gateway.db").exists()


@pytest.mark.parametrize("command", [["tenants", "list"], ["keys", "list"], ["events", "count"], ["events", "export"]])
def test_reading_a_sqlite_file_that_is_not_there_is_an_error_not_an_empty_database(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "mistyped.db"
    done = subprocess.run([sys.executable, "-m", "event_gateway", *command, "--database", f"sqlite:///{missing}"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and f"no database at {missing}" in done.stderr
    assert not missing.exists()
