"""The events table: the timeline (M5) and, later, the trigger source."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import insert_returning_ids
from stageflow.adapters.db.repositories.paging import newest_first
from stageflow.domain.events import Event


class EventRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append(self, events: list[Event]) -> None:
        """Write events in the order they happened, in the caller's transaction; sets ids."""
        if not events:
            return
        ids = insert_returning_ids(
            self.conn, t.events, [_values(e) for e in events], columns=COLUMNS
        )
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
    "occurred_at",
)


def _values(e: Event) -> tuple[Any, ...]:
    """An event's column values in the order of COLUMNS (a tuple: no dict per event).
    ``_value_`` is the enum member's plain attribute; ``.value`` is a (slower) property."""
    actor = e.actor
    return (
        e.workspace_id,
        e.type._value_,
        e.record_id,
        e.object_type,
        e.before,
        e.after,
        e.data,
        actor.kind._value_,
        actor.id,
        actor.user_id,
        actor.source._value_,
        actor.depth,
        actor.run_id,
        e.occurred_at,
    )
