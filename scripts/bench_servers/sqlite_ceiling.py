"""The storage ceiling: sqlite3 executemany of the rows the gateway writes, nothing else.

Same table and indexes as the gateway (read from event_gateway.storage.models when it is
importable, else a mirror of the documented schema), WAL, synchronous=FULL, 1000 rows per
transaction, for a fixed time. Prints one JSON object on stdout.

    python sqlite_ceiling.py --database /tmp/ceiling.db --rows-file rows.json --seconds 10
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from datetime import UTC, datetime

COLUMNS = (
    "api", "tenant", "event_type", "visitor_id", "user_id", "session_id", "product_id",
    "occurred_at", "received_at", "client_ip", "user_agent", "dedup_key", "future_dated",
    "payload",
)

# Used only when the gateway's models cannot be imported: the documented columns.
MIRROR_DDL = (
    """CREATE TABLE events (
        id INTEGER NOT NULL PRIMARY KEY,
        api VARCHAR NOT NULL, tenant VARCHAR NOT NULL, event_type VARCHAR NOT NULL,
        visitor_id VARCHAR, user_id VARCHAR, session_id VARCHAR, product_id VARCHAR,
        occurred_at DATETIME, received_at DATETIME NOT NULL, client_ip VARCHAR,
        user_agent VARCHAR, dedup_key VARCHAR, future_dated BOOLEAN NOT NULL,
        payload JSON NOT NULL)""",
    "CREATE INDEX ix_events_tenant_received_at ON events (tenant, received_at)",
    "CREATE UNIQUE INDEX uq_events_dedup ON events (api, tenant, dedup_key) "
    "WHERE dedup_key IS NOT NULL",
)


def schema() -> tuple[str, tuple[str, ...]]:
    """(where the schema came from, DDL statements for the events table and its indexes)."""
    try:
        import sqlalchemy as sa
        from sqlalchemy.dialects import sqlite
        from sqlalchemy.schema import CreateIndex, CreateTable

        from event_gateway.storage.models import events_table
    except Exception as exc:  # noqa: BLE001 - any failure means: use the mirror
        return f"mirror (gateway models not importable: {exc})", MIRROR_DDL
    table: sa.Table = events_table()
    dialect = sqlite.dialect()
    ddl = [str(CreateTable(table).compile(dialect=dialect))]
    ddl += [str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes]
    missing = set(COLUMNS) - {c.name for c in table.columns}
    if missing:
        return f"mirror (gateway table lacks {sorted(missing)})", MIRROR_DDL
    return "event_gateway.storage.models", tuple(ddl)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--rows-file", required=True, help="JSON list of row objects")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rows-per-txn", type=int, default=1000)
    args = parser.parse_args()

    source, ddl = schema()
    template = json.loads(open(args.rows_file).read())
    per_txn = args.rows_per_txn
    cycle = [tuple(r[c] for c in COLUMNS) for r in template]
    base = [cycle[i % len(cycle)] for i in range(per_txn)]
    received_index = COLUMNS.index("received_at")

    db = sqlite3.connect(args.database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    for statement in ddl:
        db.execute(statement)
    insert = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

    txn_seconds: list[float] = []
    rows = 0
    start = time.perf_counter()
    deadline = start + args.seconds
    while True:
        t0 = time.perf_counter()
        if t0 >= deadline:
            break
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        batch = [r[:received_index] + (now,) + r[received_index + 1 :] for r in base]
        db.execute("BEGIN")
        db.executemany(insert, batch)
        db.execute("COMMIT")
        txn_seconds.append(time.perf_counter() - t0)
        rows += per_txn
    elapsed = time.perf_counter() - start
    stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
    db.close()
    txn_seconds.sort()

    def pct(p: float) -> float:
        return txn_seconds[min(len(txn_seconds) - 1, int(p / 100 * len(txn_seconds)))] * 1000

    json.dump(
        {
            "rows": rows,
            "stored": stored,
            "seconds": elapsed,
            "rows_per_s": rows / elapsed,
            "txns": len(txn_seconds),
            "txn_ms_p50": pct(50),
            "txn_ms_p99": pct(99),
            "schema": source,
            "sqlite_version": sqlite3.sqlite_version,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
