"""Ratios, targets and the one table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .rows import Mode, RowResult

RSS_LIMIT_MB = 200.0
RSS_FLAT_GROWTH = 0.10  # end of the soak may be at most 10% above the early sample


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _get(results: dict[str, RowResult], name: str) -> RowResult | None:
    row = results.get(name)
    return row if row is not None and row.has_number else None


# vs limit: which figure of which limit row each gateway row is compared with.
VS_LIMIT: dict[str, tuple[str, str]] = {
    "rest-single": ("limit-asgi", "req_per_s"),
    "rest-batch": ("limit-sqlite", "events_per_s"),
    "grpc-single": ("limit-grpc", "req_per_s"),
    "grpc-batch": ("limit-sqlite", "events_per_s"),
}
VS_NAIVE = ("rest-single", "rest-batch", "grpc-single", "grpc-batch")


def vs_limit(results: dict[str, RowResult], name: str) -> float | None:
    if name not in VS_LIMIT or _get(results, name) is None:
        return None
    limit_name, attr = VS_LIMIT[name]
    limit = _get(results, limit_name)
    if limit is None:
        return None
    return _ratio(getattr(results[name], attr), getattr(limit, attr))


def vs_naive(results: dict[str, RowResult], name: str) -> float | None:
    row, base = _get(results, name), _get(results, "naive")
    if name not in VS_NAIVE or row is None or base is None:
        return None
    return _ratio(row.events_per_s, base.events_per_s)


@dataclass
class Target:
    row: str
    text: str
    status: str  # PASS | MISS | n/a (...)
    value: Any = None

    def short(self) -> str:
        return f"{self.text}: {self.status}"


def _threshold(results: dict[str, RowResult], row: str, text: str,
               value: Callable[[], float | None], ok: Callable[[float], bool],
               needs: tuple[str, ...]) -> Target:
    missing = [n for n in (row, *needs) if _get(results, n) is None]
    if missing:
        return Target(row, text, f"n/a ({', '.join(missing)} missing)")
    v = value()
    if v is None:
        return Target(row, text, "n/a")
    return Target(row, text, "PASS" if ok(v) else "MISS", round(v, 4))


def targets(results: dict[str, RowResult], mode: Mode) -> list[Target]:
    out = [
        _threshold(results, "rest-single", ">=50% raw ASGI req/s",
                   lambda: vs_limit(results, "rest-single"), lambda v: v >= 0.5, ("limit-asgi",)),
        _threshold(results, "rest-single", ">=50x naive events/s",
                   lambda: vs_naive(results, "rest-single"), lambda v: v >= 50, ("naive",)),
        _threshold(results, "grpc-single", ">=70% raw grpc.aio calls/s",
                   lambda: vs_limit(results, "grpc-single"), lambda v: v >= 0.7, ("limit-grpc",)),
        _threshold(results, "rest-batch", ">=50% sqlite events/s",
                   lambda: vs_limit(results, "rest-batch"), lambda v: v >= 0.5, ("limit-sqlite",)),
        _threshold(results, "latency", "p99 <=10 ms",
                   lambda: results["latency"].p99_ms, lambda v: v <= 10.0, ()),
        # Judged on the switched difference, which sees every cost of the policy layers,
        # indirect ones (response headers, caches) included; the confidence interval and the
        # in-situ timing of the layers alone are printed beside.
        _threshold(results, "policy", "auth+throttle <5% of CPU/request",
                   lambda: results["policy"].extra.get("cost_share"), lambda v: v < 0.05, ()),
    ]
    # Peak RSS: the largest of every gateway row of this run (each row is a fresh process).
    peaks = [r.peak_rss_mb for r in results.values()
             if r.kind == "gateway" and r.has_number and r.peak_rss_mb is not None]
    if "rss" in results:
        if peaks:
            peak = max(peaks)
            out.append(Target("rss", f"peak RSS <={RSS_LIMIT_MB:.0f} MB",
                              "PASS" if peak <= RSS_LIMIT_MB else "MISS", round(peak, 1)))
        else:
            out.append(Target("rss", f"peak RSS <={RSS_LIMIT_MB:.0f} MB", "n/a (no gateway row)"))
        rss = _get(results, "rss")
        text = f"RSS flat (end <= {1 + RSS_FLAT_GROWTH:.2f}x at 10 s)"
        if mode.quick:
            out.append(Target("rss", text, "n/a (full mode only)"))
        elif rss is None:
            out.append(Target("rss", text, "n/a (rss missing)"))
        else:
            early, end = rss.extra.get("rss_mb_early"), rss.extra.get("rss_mb_end")
            growth = _ratio(end, early)
            if growth is None:
                out.append(Target("rss", text, "n/a (no samples)"))
            else:
                out.append(Target("rss", text,
                                  "PASS" if growth <= 1 + RSS_FLAT_GROWTH else "MISS",
                                  round(growth, 4)))
    return out


def _num(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def _x(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}x" if v < 10 else f"{v:,.0f}x"


COLUMNS = ("row", "events/s", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "peak RSS MB",
           "vs limit", "vs naive", "targets")


def table_rows(results: dict[str, RowResult], goals: list[Target]) -> list[list[str]]:
    rows = []
    for name, r in results.items():
        if r.error is not None:
            rows.append([r.label, f"error: {r.error}"])
            continue
        mine = goals_text = "; ".join(t.short() for t in goals if t.row == name)
        if name == "rss" and "rss_mb_early" in r.extra:
            early, end = r.extra.get("rss_mb_early"), r.extra.get("rss_mb_end")
            mine = (f"RSS {_num(early, 1)}->{_num(end, 1)} MB; " + mine).strip("; ")
        if name == "policy" and "cost_share" in r.extra:
            x = r.extra
            low, high = x["cost_ci95_us"]
            mine = (f"CPU/request {x['cpu_us_per_request_with']:.0f} us with, "
                    f"{x['cpu_us_per_request_without']:.0f} us without: switched in one process, "
                    f"{x['cost_us_per_request']:.1f} us = {x['cost_share']:.1%} "
                    f"(95% CI {low:.1f}..{high:.1f} us, {x['pairs']} pairs)")
            if "calibration_factor" in x:
                mine += (f"; calibration: a {x['calibration_busy_us']:.1f} us loop reads "
                         f"{x['calibration_read_us']:.1f} us (x{x['calibration_factor']:.1f})")
            if "timed_share" in x:
                mine += (f"; layers timed in situ: median {x['timed_net_us']:.1f} us "
                         f"(mean {x.get('timed_net_us_mean', 0.0):.1f}) of "
                         f"{x['timed_cpu_us_per_request']:.0f} us = {x['timed_share']:.1%}")
            mine = (mine + "; " + goals_text).strip("; ")
        if name == "latency" and "offered_rate" in r.extra:
            commits = r.extra.get("commits")
            if commits:
                mine = (f"{commits['commits']:,} commits, {commits['over_0.1s']} over 0.1 s, "
                        f"{commits['over_1s']} over 1 s; " + mine).strip("; ")
            mine = (f"offered {r.extra['offered_rate']:,.0f}/s; " + mine).strip("; ")
        rows.append([
            r.label, _num(r.events_per_s), _num(r.req_per_s), _num(r.p50_ms, 2),
            _num(r.p99_ms, 2), _num(r.p999_ms, 2), _num(r.peak_rss_mb, 1),
            _x(vs_limit(results, name)), _x(vs_naive(results, name)), mine,
        ])
    return rows


def render_table(results: dict[str, RowResult], goals: list[Target], markdown: bool) -> str:
    rows = table_rows(results, goals)
    if markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for row in rows:
            cells = row if len(row) == len(COLUMNS) else [row[0], row[1]] + [""] * (len(COLUMNS) - 2)
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
        return "\n".join(lines)
    widths = [len(c) for c in COLUMNS]
    for row in rows:
        if len(row) == len(COLUMNS):
            widths = [max(w, len(c)) for w, c in zip(widths, row)]
        else:
            widths[0] = max(widths[0], len(row[0]))
    numeric = set(range(1, 9))

    def fmt(cells: list[str]) -> str:
        if len(cells) != len(COLUMNS):
            return f"{cells[0]:<{widths[0]}}  {cells[1]}"
        return "  ".join(
            (c.rjust(w) if i in numeric else c.ljust(w)) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    out = [fmt(list(COLUMNS)), "  ".join("-" * w for w in widths)]
    out += [fmt(r) for r in rows]
    return "\n".join(out)
