"""The events table: the timeline (M5) and, later, the trigger source."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import insert_returning_ids, sqlite_datetime, sqlite_json
from stageflow.adapters.db.repositories.paging import newest_first
from stageflow.domain.events import Event


class EventRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(self, events: list[Event]) -> None:
        """Write events in the order they happened, in the caller's transaction; sets ids."""
        if not events:
            return
        if self.conn.dialect.name == "sqlite":
            # The hottest insert there is: values go out as SQLite stores them, in one pass.
            rows = [_values(e, sqlite_json, sqlite_datetime) for e in events]
            ids = insert_returning_ids(self.conn, t.events, rows, columns=COLUMNS, converted=True)
        else:
            rows = [_values(e, _same, _same) for e in events]
            ids = insert_returning_ids(self.conn, t.events, rows, columns=COLUMNS)
        for event, event_id in zip(events, ids, strict=True):
            event.id = event_id

    def timeline(
        self, workspace_id: int, record_id: int, *, before_id: int | None, limit: int
    ) -> list[Any]:
        where = [t.events.c.record_id == record_id]
        return newest_first(
            self.conn, t.events, workspace_id, where, before_id=before_id, limit=limit
        )

    def for_workspace(
        self, workspace_id: int, *, after_id: int = 0, limit: int = 1000
    ) -> list[Any]:
        return list(
            self.conn.execute(
                select(t.events)
                .where(t.events.c.workspace_id == workspace_id, t.events.c.id > after_id)
                .order_by(t.events.c.id)
                .limit(limit)
            )
        )


COLUMNS = (
    "workspace_id",
    "type",
    "record_id",
    "object_type",
    "before",
    "after",
    "data",
    "actor_kind",
    "actor_id",
    "user_id",
    "source",
    "depth",
    "run_id",
    "actor_version",
    "occurred_at",
)


def _same(value: Any) -> Any:
    return value


def _values(
    e: Event, json: Callable[[Any], Any], stamp: Callable[[datetime], Any]
) -> tuple[Any, ...]:
    """An event's column values in the order of COLUMNS (a tuple: no dict per event), JSON
    and date-time values passed through ``json`` and ``stamp``. ``_value_`` is the enum
    member's plain attribute; ``.value`` is a (slower) property."""
    actor = e.actor
    return (
        e.workspace_id,
        e.type._value_,
        e.record_id,
        e.object_type,
        json(e.before),
        json(e.after),
        json(e.data),
        actor.kind._value_,
        actor.id,
        actor.user_id,
        actor.source._value_,
        actor.depth,
        actor.run_id,
        actor.version,
        stamp(e.occurred_at),
    )
