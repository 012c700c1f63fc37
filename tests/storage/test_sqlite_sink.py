"""SqliteSink's rows: what sqlite3 would bind for SQLAlchemy's own bind processors' values."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import orjson

from event_gateway.storage.base import EventRecord, RejectedRecord
from event_gateway.storage.engine import create_engine, upgrade
from event_gateway.storage.sqlite_sink import SqliteSink
from event_gateway.storage.writer import Batch, SqlSink

T0 = datetime(2026, 11, 22, 8, 30, 15, 123456, tzinfo=UTC)


def _records() -> list[EventRecord]:
    shared = T0  # one call's received_at, shared by its records
    paris = timezone(timedelta(hours=1))
    return [
        EventRecord("alana", "t1", "view", shared, {"n": 0}),
        EventRecord("alana", "t1", "view", shared, {"n": 1}, occurred_at=T0 - timedelta(hours=1)),
        EventRecord("alana", "t1", "view", shared, MappingProxyType({"n": 2}), future_dated=True),
        # Equal instant, another object and zone: encoded on its own, not reused.
        EventRecord("depict", "t2", "buy", T0.astimezone(paris), {"n": 3}, visitor_id="v",
                    user_id="u", session_id="s", product_id="p", client_ip="ip",
                    user_agent="ua", dedup_key="d"),
        EventRecord("alana", "t1", "view", T0 + timedelta(seconds=1), {"n": 4}),
    ]


def _bound(value: object) -> object:
    """What sqlite3 binds for a value: the result of its registered adapter, if any."""
    adapt = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
    return value if adapt is None else adapt(value)


def test_rows_bind_each_column_as_sqlalchemy_encodes_it(tmp_path: Path) -> None:
    sink = SqliteSink(str(tmp_path / "x.db"), 1.0)
    try:
        records = _records()
        insert = sink._plain
        assert insert.columns == EventRecord._fields
        expected = [
            tuple(
                value if encode is None or value is None
                else _bound(encode(dict(value) if name == "payload" else value))
                for name, value, encode in zip(insert.columns, record, insert.encoders, strict=True)
            )
            for record in records
        ]
        rows = insert.rows(records)
        assert rows == expected
        # Spot checks of the encodings themselves: naive UTC text, JSON text, 0/1.
        first, _, third, fourth, _ = (dict(zip(insert.columns, row)) for row in rows)
        assert first["received_at"] == fourth["received_at"] == "2026-11-22 08:30:15.123456"
        assert first["occurred_at"] is None
        assert orjson.loads(third["payload"]) == {"n": 2}
        assert (first["future_dated"], third["future_dated"]) == (0, 1)
        assert insert.row(records[3]) == expected[3]
        assert insert.rows([]) == []
    finally:
        sink.close()


def test_rejected_rows_follow_the_record_fields(tmp_path: Path) -> None:
    sink = SqliteSink(str(tmp_path / "x.db"), 1.0)
    try:
        record = RejectedRecord("alana", "t1", "missing", T0, {"bad": True}, "ip")
        (row,) = sink._rejected.rows([record])
        assert sink._rejected.columns == RejectedRecord._fields
        assert row[:3] == ("alana", "t1", "missing") and row[5] == "ip"
        assert row[3] == "2026-11-22 08:30:15.123456"
        assert orjson.loads(row[4]) == {"bad": True}
    finally:
        sink.close()


async def test_stored_text_equals_what_sqlalchemy_stores(tmp_path: Path) -> None:
    # The same batch through this sink and through SQLAlchemy's engine (SqlSink), into
    # two fresh databases: every stored value and its SQLite type are the same.
    batch = Batch(
        plain=_records()[:3],
        keyed=_records()[3:4],
        rejected=[RejectedRecord("alana", "t1", "missing", T0, {"bad": True}, "ip")],
    )
    paths = [tmp_path / "sink.db", tmp_path / "engine.db"]
    for path in paths:
        await upgrade(f"sqlite:///{path}")
    sink = SqliteSink(str(paths[0]), 1.0)
    try:
        assert await sink.commit(batch) == {("depict", "t2", "d")}
    finally:
        sink.close()
    engine = create_engine(f"sqlite:///{paths[1]}")
    try:
        assert await SqlSink(engine).commit(batch) == {("depict", "t2", "d")}
    finally:
        await engine.dispose()

    def stored(path: Path) -> list[tuple[object, ...]]:
        connection = sqlite3.connect(path)
        try:
            out = []
            for table, record_type in (("events", EventRecord), ("rejected_events", RejectedRecord)):
                columns = ", ".join(f"{c}, typeof({c})" for c in record_type._fields)
                out += connection.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()
            return out
        finally:
            connection.close()

    from_sink, from_engine = stored(paths[0]), stored(paths[1])
    assert len(from_sink) == 5
    assert from_sink == from_engine
