"""The naive alternative: what a Python developer writes first for POST /api/v1/events.

FastAPI + SQLModel straight from the SQLModel tutorial: a pydantic request model, a
table model, a sync endpoint with a `Session` dependency, one ORM `add` per event and
one `commit` per request. Same events table (columns and indexes) as the gateway, and
the same storage settings (SQLite, WAL, synchronous=FULL) so the comparison is about the
request path, not durability. No authentication or throttling (that favours this app).
Served by uvicorn with the gateway's HTTP settings (httptools, uvloop, one worker).

    python naive_fastapi.py --port 8080 --database /tmp/naive.db
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
import uvicorn
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field as PydanticField
from pydantic.alias_generators import to_camel
from sqlmodel import Field, Session, SQLModel, create_engine


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_tenant_received_at", "tenant", "received_at"),
        sa.Index(
            "uq_events_dedup", "api", "tenant", "dedup_key", unique=True,
            sqlite_where=sa.text("dedup_key IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    api: str
    tenant: str
    event_type: str
    visitor_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    product_id: str | None = None
    occurred_at: datetime | None = None
    received_at: datetime
    client_ip: str | None = None
    user_agent: str | None = None
    dedup_key: str | None = None
    future_dated: bool = False
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))


class EventIn(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    event_type: str
    visitor_id: str
    user_id: str | None = None
    metadata: dict[str, Any] | None = None
    query: str | None = None
    category_path: str | None = None
    product_id: str | None = None
    product_ids: list[str] = PydanticField(default_factory=list)
    revenue: float | None = None
    currency: str | None = None


class TrackEventsIn(BaseModel):
    events: list[EventIn] = PydanticField(max_length=100)


engine: sa.Engine | None = None


def get_session():  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        yield session


app = FastAPI()


@app.post("/api/v1/events")
def track_events(
    body: TrackEventsIn, request: Request, session: Annotated[Session, Depends(get_session)]
) -> dict[str, Any]:
    now = datetime.now(UTC)
    for e in body.events:
        session.add(
            Event(
                api="alana",
                tenant="bench",
                event_type=e.event_type,
                visitor_id=e.visitor_id,
                user_id=e.user_id,
                product_id=e.product_id,
                received_at=now,
                client_ip=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"),
                payload=e.model_dump(by_alias=True, exclude_none=True),
            )
        )
    session.commit()
    return {"status": "ok", "stored": len(body.events), "errors": 0}


def main() -> None:
    global engine
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="SQLite file path")
    args = parser.parse_args()
    engine = create_engine(
        f"sqlite:///{args.database}", connect_args={"check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")

    SQLModel.metadata.create_all(engine)
    uvicorn.run(
        app, host=args.host, port=args.port, http="httptools", loop="uvloop",
        lifespan="off", access_log=False, log_level="warning", server_header=False,
    )


if __name__ == "__main__":
    main()
