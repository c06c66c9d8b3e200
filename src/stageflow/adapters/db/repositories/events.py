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
        ids = insert_returning_ids(self.conn, t.events, [_row(e) for e in events])
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


def _row(e: Event) -> dict[str, Any]:
    # ``_value_`` is the enum member's plain attribute; ``.value`` is a (slower) property.
    actor = e.actor
    return {
        "workspace_id": e.workspace_id,
        "type": e.type._value_,
        "record_id": e.record_id,
        "object_type": e.object_type,
        "before": e.before,
        "after": e.after,
        "data": e.data,
        "actor_kind": actor.kind._value_,
        "actor_id": actor.id,
        "user_id": actor.user_id,
        "source": actor.source._value_,
        "depth": actor.depth,
        "run_id": actor.run_id,
        "occurred_at": e.occurred_at,
    }
