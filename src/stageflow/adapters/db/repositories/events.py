"""The events table: the timeline (M5) and, later, the trigger source."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import insert_returning_ids, sqlite_datetime, sqlite_json
from stageflow.adapters.db.repositories.paging import newest_first
from stageflow.domain.events import Actor, ActorKind, Event, EventType, Source


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

    def first_id_since(self, since: datetime) -> int:
        """About the id of the first event at or after ``since``, found by bisecting ids
        (events are appended in time order) so that no index on the time is needed: a lower
        bound to start a scan at; 0 when every event may be later."""
        low = self.conn.execute(select(func.min(t.events.c.id))).scalar() or 0
        high = self.conn.execute(select(func.max(t.events.c.id))).scalar() or 0
        if not high:
            return 0
        while low < high:
            middle = (low + high) // 2
            row = self.conn.execute(
                select(t.events.c.id, t.events.c.occurred_at)
                .where(t.events.c.id >= middle)
                .order_by(t.events.c.id)
                .limit(1)
            ).first()
            if row is None or row.occurred_at >= since:
                high = middle
            else:
                low = row.id + 1
        return max(low - 1, 0)

    def since(
        self, workspace_id: int, since: datetime, *, after_id: int = 0, limit: int = 5000
    ) -> list[Event]:
        """The workspace's events that happened at or after ``since``, oldest first, as
        events; page on with the last one's id as ``after_id``."""
        rows = self.conn.execute(
            select(t.events)
            .where(
                t.events.c.workspace_id == workspace_id,
                t.events.c.id > after_id,
                t.events.c.occurred_at >= since,
            )
            .order_by(t.events.c.id)
            .limit(limit)
        )
        return [event_from_row(row) for row in rows]


# Enum members by value, read per row: a dict lookup, not EnumType.__call__.
_TYPES = {member.value: member for member in EventType}
_KINDS = {member.value: member for member in ActorKind}
_SOURCES = {member.value: member for member in Source}


def event_from_row(row: Any) -> Event:
    """An event as it was appended, from a row of ``select(t.events)``."""
    return Event(
        type=_TYPES[row.type],
        workspace_id=row.workspace_id,
        actor=Actor(
            kind=_KINDS[row.actor_kind],
            source=_SOURCES[row.source],
            id=row.actor_id,
            user_id=row.user_id,
            depth=row.depth,
            run_id=row.run_id,
            version=row.actor_version,
        ),
        occurred_at=row.occurred_at,
        record_id=row.record_id,
        object_type=row.object_type,
        before=row.before,
        after=row.after,
        data=row.data or {},
        id=row.id,
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
