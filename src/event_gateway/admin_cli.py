"""The administration commands: tenants, products, keys, events, db.

`add_subcommands(commands)` adds them to the `event-gateway` parser (cli.py delegates,
and turns a closed pipe or an operational error into one line);
each leaf sets `handler(args) -> exit code`. Output is for scripts: `keys create`
prints the key alone, `events count` one integer. A user mistake (duplicate tenant,
unknown tenant or key) exits 2 with a message on stderr; an unreachable database exits 1.
Storage modules are imported only when a command runs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

DATABASE_ENV = "EVENT_GATEWAY_DATABASE"
DEFAULT_DATABASE = "sqlite+aiosqlite:///./event-gateway.db"  # as config.Settings.database

Command = Callable[[argparse.Namespace], Awaitable[int]]

# The contract's API names, spelled out so that `--help` imports no generated code
# (tests/storage/test_admin_cli.py holds them to the contract).
_API_NAMES = ("alana", "storefront", "depict", "topsort")


def add_subcommands(commands: Any) -> None:
    """Add tenants/products/keys/events/db to `commands` (an argparse subparsers action)."""
    _add_tenants(commands)
    _add_products(commands)
    _add_keys(commands)
    _add_events(commands)
    _add_db(commands)


# -- parsers ---------------------------------------------------------------------------


def _leaf(group: Any, name: str, help_text: str, command: Command) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=help_text)
    parser.add_argument(
        "--database",
        default=None,
        help=f"database URL (default: as `serve` reads it: ${DATABASE_ENV}, the --config file, {DEFAULT_DATABASE})",
    )
    parser.add_argument("--config", type=Path, default=None, help="TOML configuration file, for its `database`")
    parser.set_defaults(handler=_runner(command))
    return parser


def _group(commands: Any, name: str, help_text: str) -> Any:
    parser = commands.add_parser(name, help=help_text)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def _add_tenants(commands: Any) -> None:
    group = _group(commands, "tenants", "tenants (customers) the gateway accepts events for")
    add = _leaf(group, "add", "add a tenant", _tenants_add)
    add.add_argument("id", help="tenant id (as sent by the APIs that name tenants by id)")
    add.add_argument("--slug", required=True, help="unique short name")
    add.add_argument("--number", required=True, type=int, help="unique numeric id")
    add.add_argument("--inactive", action="store_true", help="refuse its events for now")
    _leaf(group, "list", "list tenants", _tenants_list)


def _add_products(commands: Any) -> None:
    group = _group(commands, "products", "products known per tenant")
    add = _leaf(group, "add", "register product ids for a tenant", _products_add)
    add.add_argument("--tenant", required=True, help="tenant id")
    add.add_argument("product_ids", nargs="+", type=int, metavar="PRODUCT_ID")


def _add_keys(commands: Any) -> None:
    group = _group(commands, "keys", "API keys")
    create = _leaf(group, "create", "create a key; prints it once, alone", _keys_create)
    create.add_argument("--tenant", required=True, help="tenant id")
    create.add_argument("--name", default="", help="a label for people")
    create.add_argument(
        "--api", dest="apis", action="extend", nargs="+", default=[], metavar="API",
        help="APIs the key may call (default: all)",
    )
    create.add_argument(
        "--limit", dest="limits", action="extend", nargs="+", default=[], type=_limit,
        metavar="NAME=RATE", help="throttle override, e.g. per_key=2000/minute",
    )
    listing = _leaf(group, "list", "list keys (never their secrets)", _keys_list)
    listing.add_argument("--tenant", default=None, help="only this tenant's keys")
    revoke = _leaf(group, "revoke", "revoke a key (effective within seconds)", _keys_revoke)
    revoke.add_argument("key_id", help="the key's id (`keys list`), or the whole key")


def _add_events(commands: Any) -> None:
    group = _group(commands, "events", "stored events")
    count = _leaf(group, "count", "print the number of stored events", _events_count)
    _add_event_filters(count)
    count.add_argument("--type", dest="event_type", default=None, help="event type")
    export = _leaf(group, "export", "write stored events, one record per line", _events_export)
    export.add_argument("--format", choices=("ndjson", "csv"), default="ndjson")
    _add_event_filters(export)
    export.add_argument(
        "--since", type=_timestamp, default=None, help="received at or after (ISO 8601; UTC if no zone)"
    )


def _add_event_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=None, choices=_API_NAMES, help="API name")
    parser.add_argument("--tenant", default=None, help="tenant id")
    parser.add_argument(
        "--rejected", action="store_true", help="the quarantine (rejected events) instead"
    )


def _add_db(commands: Any) -> None:
    group = _group(commands, "db", "database schema")
    _leaf(group, "upgrade", "apply pending migrations", _db_upgrade)


def _limit(text: str) -> tuple[str, str]:
    name, sep, rate = text.partition("=")
    count, slash, unit = rate.partition("/")
    if not (sep and name and slash and count.isdigit() and unit):
        raise argparse.ArgumentTypeError(f"expected NAME=COUNT/PERIOD, got {text!r}")
    return name, rate


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# -- running ---------------------------------------------------------------------------


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from event_gateway import errors
        from event_gateway.config import ConfigError
        from event_gateway.storage.admin import AdminError

        try:
            return asyncio.run(command(args))
        except (AdminError, ConfigError, ValueError) as exc:
            print(f"event-gateway: {exc}", file=sys.stderr)
            return 2
        except errors.GatewayError as exc:
            print(f"event-gateway: {exc.message}", file=sys.stderr)
            return 1

    return run


def database_url(args: argparse.Namespace) -> str:
    """--database, else the database `serve` would use with the same environment and
    --config file (or EVENT_GATEWAY_CONFIG)."""
    if args.database:
        return str(args.database)
    from event_gateway.config import load_settings

    return load_settings({}, getattr(args, "config", None)).database.get_secret_value()


@asynccontextmanager
async def _engine(args: argparse.Namespace, *, existing: bool = False) -> AsyncIterator[AsyncEngine]:
    """The engine for the command's database; with `existing`, a SQLite file that is not
    there is an error, not a new empty database (a mistyped path would read as empty)."""
    from event_gateway.storage.admin import AdminError
    from event_gateway.storage.engine import async_url, create_engine

    url = database_url(args)
    target = async_url(url)
    if existing and target.get_backend_name() == "sqlite" and not Path(target.database or "").exists():
        raise AdminError(f"no database at {target.database}: nothing was stored there (`serve` or `db upgrade` creates it)")
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


# -- commands --------------------------------------------------------------------------


async def _tenants_add(args: argparse.Namespace) -> int:
    from event_gateway.storage import admin

    async with _engine(args) as engine:
        await admin.add_tenant(
            engine, args.id, args.slug, args.number, active=not args.inactive
        )
    print(f"added tenant {args.id}", file=sys.stderr)
    return 0


async def _tenants_list(args: argparse.Namespace) -> int:
    from event_gateway.storage import admin

    async with _engine(args, existing=True) as engine:
        for tenant in await admin.list_tenants(engine):
            state = "active" if tenant.active else "inactive"
            print(f"{tenant.id}\t{tenant.slug}\t{tenant.number}\t{state}")
    return 0


async def _products_add(args: argparse.Namespace) -> int:
    from event_gateway.storage import admin

    async with _engine(args) as engine:
        added = await admin.add_products(engine, args.tenant, args.product_ids)
    print(f"{added} new product(s) for tenant {args.tenant}", file=sys.stderr)
    return 0


async def _keys_create(args: argparse.Namespace) -> int:
    from event_gateway.storage import admin

    _check_key_limits(args.apis, dict(args.limits))
    async with _engine(args) as engine:
        new_key = await admin.create_key(
            engine, args.tenant, name=args.name, apis=args.apis, limits=dict(args.limits)
        )
    print(new_key.plaintext)
    print(f"created key {new_key.key_id}; it is shown only once", file=sys.stderr)
    return 0


async def _keys_list(args: argparse.Namespace) -> int:
    from event_gateway.storage import admin

    async with _engine(args, existing=True) as engine:
        for key in await admin.list_keys(engine, args.tenant):
            apis = ",".join(sorted(key.apis)) or "*"
            limits = ",".join(f"{k}={v}" for k, v in sorted(key.limits.items())) or "-"
            state = "revoked" if key.revoked else "active"
            print(f"{key.key_id}\t{key.tenant}\t{key.name or '-'}\t{apis}\t{limits}\t{state}")
    return 0


async def _keys_revoke(args: argparse.Namespace) -> int:
    from event_gateway.policy.keys import parse_key
    from event_gateway.storage import admin

    # The whole key works too (it is what a user has at hand); its secret is never echoed.
    parsed = parse_key(args.key_id)
    key_id = parsed[0] if parsed is not None else args.key_id
    async with _engine(args) as engine:
        await admin.revoke_key(engine, key_id)
    print(f"revoked key {key_id}", file=sys.stderr)
    return 0


def _check_key_limits(apis: list[str], limits: dict[str, str]) -> None:
    """Refuse (ValueError) an unknown API, a limit none of the key's APIs has, a bad rate:
    stored, each would fail or be ignored on every request made with the key."""
    from event_gateway.contract import default_contract, limit_names
    from event_gateway.policy.rates import parse_rate

    known = limit_names(default_contract())
    for api in apis:
        if api not in known:
            raise ValueError(f"unknown API {api!r} (known: {', '.join(sorted(known))})")
    names = set().union(*(known[api] for api in (apis or known)))
    for name, rate in limits.items():
        if name not in names:
            raise ValueError(f"no API of this key has a limit {name!r} (known: {', '.join(sorted(names))})")
        parse_rate(rate)


async def _events_count(args: argparse.Namespace) -> int:
    from event_gateway.storage import admin

    async with _engine(args, existing=True) as engine:
        total = await admin.count_events(
            engine,
            api=args.api,
            tenant=args.tenant,
            event_type=args.event_type,
            rejected=args.rejected,
        )
    print(total)
    return 0


async def _events_export(args: argparse.Namespace) -> int:
    from event_gateway.storage import admin

    write = _csv_writer(args.rejected) if args.format == "csv" else _ndjson_line
    async with _engine(args, existing=True) as engine:
        async for record in admin.export_events(
            engine, api=args.api, tenant=args.tenant, since=args.since, rejected=args.rejected
        ):
            write(record)
    sys.stdout.flush()
    return 0


def _ndjson_line(record: dict[str, Any]) -> None:
    import orjson

    # orjson writes datetimes as RFC 3339, with their UTC offset.
    sys.stdout.write(orjson.dumps(record).decode() + "\n")


def _csv_writer(rejected: bool) -> Callable[[dict[str, Any]], None]:
    import csv

    import orjson

    from event_gateway.storage.admin import EVENT_EXPORT_COLUMNS, REJECTED_EXPORT_COLUMNS

    columns = REJECTED_EXPORT_COLUMNS if rejected else EVENT_EXPORT_COLUMNS
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
    writer.writeheader()

    def cell(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict | list):
            return orjson.dumps(value).decode()
        return value

    def write(record: dict[str, Any]) -> None:
        writer.writerow({k: cell(v) for k, v in record.items()})

    return write


async def _db_upgrade(args: argparse.Namespace) -> int:
    from event_gateway.storage.engine import upgrade

    revision = await upgrade(database_url(args))
    print(f"database schema at revision {revision}", file=sys.stderr)
    return 0
