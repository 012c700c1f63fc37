"""The `event-gateway` command line.

The commands and flags named in the README are a fixed contract: users and tests
script them. Each command imports what it needs only when it runs, so that admin
commands start quickly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Flags given on the command line, under their Settings names."""
    names = ("http", "grpc", "database", "workers", "redis_url", "log_json", "log_level")
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from event_gateway.config import ConfigError, load_settings

    try:
        return load_settings(_settings_overrides(args), args.config)
    except ConfigError as exc:
        print(f"event-gateway: invalid configuration:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="TOML configuration file")
    parser.add_argument("--http", help="HTTP listen address HOST:PORT (default 127.0.0.1:8080)")
    parser.add_argument("--grpc", help="gRPC listen address HOST:PORT (default 127.0.0.1:50051)")
    parser.add_argument("--database", help="database URL (default: SQLite file ./event-gateway.db)")
    parser.add_argument("--redis-url", dest="redis_url", help="Redis URL for shared throttling")
    parser.add_argument("--workers", type=int, help="worker processes sharing the ports")
    parser.add_argument("--log-json", dest="log_json", action="store_const", const=True)
    parser.add_argument("--log-level", dest="log_level")


def _serve(args: argparse.Namespace) -> int:
    from event_gateway.server import serve
    from event_gateway.storage.engine import SchemaMissing

    settings = _load(args)
    try:
        return serve(settings)
    except SchemaMissing as exc:
        print(f"event-gateway: {exc}", file=sys.stderr)
        return 2


def _transcode(args: argparse.Namespace) -> int:
    import uvloop

    from event_gateway.transcoding.standalone import run_standalone

    host, _, port = args.http.rpartition(":")
    uvloop.run(run_standalone(args.descriptor_set, args.upstream, host, int(port)))
    return 0


def _openapi(args: argparse.Namespace) -> int:
    import json

    from event_gateway.contract import default_contract
    from event_gateway.web.openapi import build_openapi

    document = json.dumps(build_openapi(default_contract()), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(document)
    else:
        sys.stdout.write(document)
    return 0


def _config_show(args: argparse.Namespace) -> int:
    from event_gateway.config import render_settings

    print(render_settings(_load(args)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="event-gateway",
        description="Event-ingestion gateway: four event APIs over gRPC and JSON REST.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway (gRPC and REST)")
    _add_settings_flags(serve)
    serve.set_defaults(handler=_serve)

    transcode = commands.add_parser(
        "transcode", help="standalone REST transcoder in front of any gRPC server"
    )
    transcode.add_argument("--descriptor-set", required=True, type=Path)
    transcode.add_argument("--upstream", required=True, help="gRPC server HOST:PORT")
    transcode.add_argument("--http", required=True, help="listen address HOST:PORT")
    transcode.set_defaults(handler=_transcode)

    openapi = commands.add_parser("openapi", help="write the OpenAPI 3.1 document")
    openapi.add_argument("--output", "-o", help="file to write (default: stdout)")
    openapi.set_defaults(handler=_openapi)

    config = commands.add_parser("config", help="configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    show = config_commands.add_parser("show", help="print the effective configuration")
    _add_settings_flags(show)
    show.set_defaults(handler=_config_show)

    from event_gateway.admin_cli import add_subcommands

    add_subcommands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except KeyboardInterrupt:
        return 130  # Ctrl-C before the command's own handler was in place: no traceback
    except BrokenPipeError:
        # `config show | head`: the reader left; stop quietly, like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if not _operational(exc):
            raise  # a bug: its traceback is what a report needs
        print(f"event-gateway: {_first_line(exc)}", file=sys.stderr)
        return 1
    return result


def _operational(exc: BaseException) -> bool:
    """An error of the machine or the input (a port in use, a missing directory, an
    unreachable or unreadable database), which one line explains, not a bug."""
    if isinstance(exc, OSError | ValueError | RuntimeError | ArithmeticError):
        return True
    return type(exc).__module__.split(".")[0] in ("sqlalchemy", "alembic", "asyncpg")


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy appends the statement and a link on further lines.
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
