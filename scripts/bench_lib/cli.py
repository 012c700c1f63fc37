"""scripts/bench command line: choose rows, run them one by one, print the table, save JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import report
from .procs import RowError
from .rows import GROUPS, REPO, ROWS, Context, Mode, RowResult

DESCRIPTION = """\
Benchmark the gateway beside its physical limits (raw ASGI app, raw grpc.aio handler,
sqlite3 executemany) and a naive FastAPI+SQLModel app. Every server runs as its own
process on 127.0.0.1; wrk (HTTP) and h2load (gRPC) drive them from outside; nothing is
pinned. Prints one table and writes bench-results/<timestamp>.json. Exit status 1 when
any selected row produced no number (targets are reported, never enforced)."""


def _rows_arg(text: str) -> list[str]:
    names: list[str] = []
    known = {r.name for r in ROWS}
    for part in filter(None, (p.strip() for p in text.split(","))):
        expanded = GROUPS.get(part, (part,))
        for name in expanded:
            if name not in known:
                raise argparse.ArgumentTypeError(
                    f"unknown row {name!r}; rows: {', '.join(sorted(known))}; "
                    f"groups: {', '.join(GROUPS)}")
            if name not in names:
                names.append(name)
    if not names:
        raise argparse.ArgumentTypeError("no rows given")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds per row, one run each (CI); total well under 3 min")
    parser.add_argument("--rows", type=_rows_arg, default=None,
                        help="comma-separated rows or groups (limits, gateway, all); default all")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per measured run (default 15, quick 3)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="measured runs per row, medians reported (default 3, quick 1)")
    parser.add_argument("--output-dir", type=Path, default=REPO / "bench-results",
                        help="where <timestamp>.json goes (default bench-results/)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory (server logs, databases)")
    return parser


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip() or None
    if commit and dirty.stdout.strip():
        commit += "+dirty"
    return commit


def machine() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model,
            "memory_gb": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
            "kernel": platform.release(), "python": platform.python_version()}


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for tool, args in (("wrk", ["-v"]), ("h2load", ["--version"])):
        path = shutil.which(tool)
        if not path:
            out[tool] = None
            continue
        res = subprocess.run([path, *args], capture_output=True, text=True)
        out[tool] = (res.stdout or res.stderr).strip().splitlines()[0] if (res.stdout or res.stderr) else None
    for module in ("uvicorn", "grpc", "uvloop", "httptools", "fastapi", "sqlmodel", "sqlalchemy"):
        try:
            out[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001
            out[module] = None
    import sqlite3

    out["sqlite"] = sqlite3.sqlite_version
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for spec in ROWS:
            print(f"{spec.name:<13} {spec.label}")
        for group, names in GROUPS.items():
            print(f"{group:<13} = {','.join(names)}")
        return 0
    names = args.rows or list(GROUPS["all"])
    mode = Mode.create(args.quick, args.seconds, args.repeats)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    # Scratch space on the output directory's disk (not a tmpfs /tmp): fsync must be real.
    workdir = args.output_dir / f"work-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(mode, workdir)
    specs = {s.name: s for s in ROWS}
    ctx.say(f"{'quick' if mode.quick else 'full'} run of {', '.join(names)} "
            f"({mode.repeats} x {mode.seconds:g}s per row); scratch in {workdir}")
    t_all = time.monotonic()
    for name in names:
        spec = specs[name]
        row = RowResult(spec.name, spec.label, spec.kind)
        ctx.results[name] = row
        ctx.say(f"row {name}: {spec.label}")
        t0 = time.monotonic()
        try:
            spec.run(ctx, row)
            if not row.has_number:
                row.error = row.error or "produced no number"
        except RowError as exc:
            row.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one broken row must not hide the others
            row.error = f"{type(exc).__name__}: {exc}"
            row.extra["traceback"] = traceback.format_exc()
        row.seconds_taken = round(time.monotonic() - t0, 1)
        if row.error:
            ctx.say(f"row {name}: error: {row.error}")
        else:
            figures = [f"{label} {value:,.{digits}f}" for label, value, digits in (
                ("events/s", row.events_per_s, 0), ("req/s", row.req_per_s, 0),
                ("p99 ms", row.p99_ms, 2)) if value is not None]
            ctx.say(f"row {name}: {', '.join(figures)} ({row.seconds_taken:.0f}s)")
    goals = report.targets(ctx.results, mode)
    table = report.render_table(ctx.results, goals, args.markdown)
    document = {
        "date": started.isoformat(timespec="seconds"),
        "seconds_taken": round(time.monotonic() - t_all, 1),
        "commit": git_commit(),
        "mode": {"quick": mode.quick, "seconds": mode.seconds, "warmup": mode.warmup,
                 "repeats": mode.repeats, "soak_seconds": mode.soak_seconds,
                 "latency_seconds": mode.latency_seconds},
        "machine": machine(),
        "versions": _versions(),
        "rows": [r.to_json() | {"vs_limit": report.vs_limit(ctx.results, r.name),
                                "vs_naive": report.vs_naive(ctx.results, r.name)}
                 for r in ctx.results.values()],
        "targets": [t.__dict__ for t in goals],
        "table": report.render_table(ctx.results, goals, markdown=True),
    }
    out = args.output_dir / f"{stamp}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print(table)
    print(f"\nresults: {out}  ({document['seconds_taken']:.0f}s, commit {document['commit']})")
    missing = [r.name for r in ctx.results.values() if not r.has_number]
    if missing:
        print(f"bench: no number for: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
