"""SqliteSink's rows: what sqlite3 would bind for SQLAlchemy's own bind processors' values."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import orjson
import pytest

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

    from_sink, from_engine = _stored(paths[0]), _stored(paths[1])
    assert len(from_sink) == 5
    assert from_sink == from_engine


# -- a group in few statements, with exactly the old answers ---------------------------


def _event(n: int, key: str | None = None, *, api: str = "alana", tenant: str = "t1") -> EventRecord:
    return EventRecord(api, tenant, "view", T0, {"n": n}, dedup_key=key)


def _rejected(n: int) -> RejectedRecord:
    return RejectedRecord("alana", "t1", f"reason {n}", T0, {"n": n})


def _stored(path: Path) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        out = []
        for table, record_type in (("events", EventRecord), ("rejected_events", RejectedRecord)):
            columns = ", ".join(f"{c}, typeof({c})" for c in record_type._fields)
            out += connection.execute(f"SELECT id, {columns} FROM {table} ORDER BY id").fetchall()
        return out
    finally:
        connection.close()


async def _commit_all(sink: SqliteSink, *batches: Batch) -> list[set[tuple[str, str, str]]]:
    try:
        return [await sink.commit(batch) for batch in batches]
    finally:
        sink.close()


@pytest.mark.parametrize("variable_limit", [None, 999, 30])
async def test_groups_of_many_chunks_store_what_sqlalchemy_stores(
    tmp_path: Path, variable_limit: int | None
) -> None:
    # 999: SQLite before 3.32 (64 events, 128 rejected rows, 256 keys a statement); 30:
    # 2 events a statement, so every chunk boundary and remainder is crossed. Row ids
    # (insertion order), values, types and the keys reported new all match the engine's.
    first = Batch(
        plain=[_event(n) for n in range(5)],
        keyed=[_event(n, f"k{n}") for n in range(0, 120, 3)]
        + [_event(0, "k0", api="depict"), _event(0, "k0", tenant="t2")],
        rejected=[_rejected(n) for n in range(3)],
    )
    # Large: 300 plain rows (several chunks and a remainder), keyed rows of which every
    # third key is stored already (some of them in another scope), rejected rows.
    second = Batch(
        plain=[_event(1000 + n) for n in range(300)],
        keyed=[_event(2000 + n, f"k{n}", api="depict" if n % 7 == 0 else "alana") for n in range(301)],
        rejected=[_rejected(n) for n in range(257)],
    )
    paths = [tmp_path / "sink.db", tmp_path / "engine.db"]
    for path in paths:
        await upgrade(f"sqlite:///{path}")
    answers = await _commit_all(SqliteSink(str(paths[0]), 1.0, variable_limit), first, second)
    engine = create_engine(f"sqlite:///{paths[1]}")
    try:
        expected = [await SqlSink(engine).commit(first), await SqlSink(engine).commit(second)]
    finally:
        await engine.dispose()
    assert answers == expected
    stored_before = {(e.api, e.tenant, e.dedup_key) for e in first.keyed}
    assert answers[1] == {(e.api, e.tenant, e.dedup_key or "") for e in second.keyed} - stored_before
    assert len(answers[1]) == 266  # 35 of the 301 keys were stored by the first commit
    assert _stored(paths[0]) == _stored(paths[1])
    assert len(_stored(paths[0])) == (5 + 42 + 3) + (300 + 266 + 257)


async def test_keys_repeated_within_a_batch_store_the_first(tmp_path: Path) -> None:
    # The writer sends each key once; the sink alone keeps one INSERT per event's answer:
    # the first event of a key is stored, a later one (or one stored before) is not.
    # NUL is a character like any other in a key here.
    path = tmp_path / "x.db"
    await upgrade(f"sqlite:///{path}")
    earlier = Batch(plain=[], keyed=[_event(0, "old"), _event(1, "a\x00b")], rejected=[])
    batch = Batch(
        plain=[_event(2)],
        keyed=[_event(3, "new"), _event(4, "old"), _event(5, "new"), _event(6, "a\x00c"),
               _event(7, "a\x00b"), _event(8, "a"), _event(9, "a\x00c")],
        rejected=[_rejected(0)],
    )
    answers = await _commit_all(SqliteSink(str(path), 1.0, 30), earlier, batch)
    assert answers == [
        {("alana", "t1", "old"), ("alana", "t1", "a\x00b")},
        {("alana", "t1", "new"), ("alana", "t1", "a\x00c"), ("alana", "t1", "a")},
    ]
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT dedup_key, payload FROM events ORDER BY id").fetchall()
    finally:
        connection.close()
    assert [(key, orjson.loads(payload)["n"]) for key, payload in rows] == [
        ("old", 0), ("a\x00b", 1), (None, 2), ("new", 3), ("a\x00c", 6), ("a", 8)
    ]


async def test_a_group_runs_a_few_statements_not_one_per_row(tmp_path: Path) -> None:
    # Each statement is at least one sqlite3_step, and each step gives up the GIL and
    # waits to take it back (up to 5 ms under load): one per row made a commit of a few
    # hundred rows take seconds. Counted with the connection's trace callback, which
    # sqlite3 calls for every statement run (an executemany: for every row).
    path = tmp_path / "x.db"
    await upgrade(f"sqlite:///{path}")
    sink = SqliteSink(str(path), 1.0)
    statements: list[str] = []

    def trace() -> None:
        sink._open().set_trace_callback(lambda sql: statements.append(sql.split(" ", 1)[0]))

    try:
        sink._thread.submit(trace).result()
        await sink.commit(Batch(plain=[], keyed=[_event(n, f"k{n}") for n in range(300)], rejected=[]))
        # BEGIN, lookups of 256 and 64 (44 padded) keys, INSERTs of 256, 32, 8 and 4 rows.
        assert statements == ["BEGIN", "SELECT", "SELECT", "INSERT", "INSERT", "INSERT", "INSERT", "COMMIT"]
        statements.clear()
        assert len(await sink.commit(Batch(
            plain=[_event(n) for n in range(1000)],
            keyed=[_event(n, f"k{n}") for n in range(150, 1150)],
            rejected=[_rejected(n) for n in range(1000)],
        ))) == 850
        # 1000 plain: 256 x 3, 128, 64, 32, 8; 1000 keys looked up: 256 x 4; 850 new:
        # 256 x 3, 64, 16, 2; 1000 rejected as the plain ones. With BEGIN and COMMIT: 26,
        # where one statement per row ran 3002.
        assert len(statements) == 26, statements
        # Every length is a power of two up to 256: sqlite3's statement cache (128)
        # holds them all, and they stay small.
        for size in range(1, 700, 7):
            await sink.commit(Batch(plain=[_event(n) for n in range(size)], keyed=[], rejected=[]))
        assert sorted(sink._plain.statement._texts) == [2**i for i in range(9)]
    finally:
        sink.close()
