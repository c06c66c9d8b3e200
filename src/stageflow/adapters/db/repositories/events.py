"""The events table: the timeline (M5) and, later, the trigger source."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, String, func, select, type_coerce

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
    ) -> list[StoredEvent]:
        """The workspace's events that happened at or after ``since``, oldest first; page on
        with the last one's id as ``after_id``. Their JSON is parsed when first read (a
        replay of 100,000 events reads most of it never)."""
        rows = self.conn.execute(
            select(*_STORED_COLUMNS)
            .where(
                # "+ 0": walk the primary key in id order; with the bare column SQLite picks
                # the timeline index and sorts the workspace's every event for each page.
                t.events.c.workspace_id + 0 == workspace_id,
                t.events.c.id > after_id,
                t.events.c.occurred_at >= since,
            )
            .order_by(t.events.c.id)
            .limit(limit)
        )
        return [StoredEvent(row) for row in rows]


# The JSON and time columns as the driver gives them (text on SQLite): StoredEvent converts.
_RAW = ("before", "after", "data", "occurred_at")
_STORED_COLUMNS = [
    type_coerce(column, String) if name in _RAW else column for name, column in t.events.c.items()
]


_AT_POSITION = {name: n for n, name in enumerate(t.events.c.keys())}
(_ID, _WORKSPACE, _TYPE, _RECORD, _OBJECT_TYPE, _BEFORE, _AFTER, _DATA, _KIND, _ACTOR, _USER) = (
    _AT_POSITION[name]
    for name in ("id", "workspace_id", "type", "record_id", "object_type", "before", "after",
                 "data", "actor_kind", "actor_id", "user_id")
)  # fmt: skip
(_SOURCE, _DEPTH, _RUN, _VERSION, _AT) = (
    _AT_POSITION[name] for name in ("source", "depth", "run_id", "actor_version", "occurred_at")
)


class StoredEvent:
    """An event read back: type, record and time at once; ``before``, ``after`` and
    ``data`` parsed when first asked for; ``event()`` the full ``Event``."""

    __slots__ = (
        "_after",
        "_before",
        "_data",
        "_row",
        "id",
        "object_type",
        "occurred_at",
        "record_id",
        "type",
    )

    _UNSET: Any = object()

    def __init__(self, row: Any) -> None:
        self._row = row = tuple(row)  # read by position: a Row's names cost per access
        self.id: int = row[_ID]
        self.type: EventType = _TYPES[row[_TYPE]]
        self.record_id: int | None = row[_RECORD]
        self.object_type: str | None = row[_OBJECT_TYPE]
        self.occurred_at: datetime = _moment(row[_AT])
        self._before = self._after = self._data = StoredEvent._UNSET

    @property
    def before(self) -> dict[str, Any] | None:
        if self._before is StoredEvent._UNSET:
            self._before = _json(self._row[_BEFORE])
        return self._before  # type: ignore[no-any-return]

    @property
    def after(self) -> dict[str, Any] | None:
        if self._after is StoredEvent._UNSET:
            self._after = _json(self._row[_AFTER])
        return self._after  # type: ignore[no-any-return]

    @property
    def data(self) -> dict[str, Any]:
        if self._data is StoredEvent._UNSET:
            self._data = _json(self._row[_DATA]) or {}
        return self._data  # type: ignore[no-any-return]

    def event(self) -> Event:
        row = self._row
        return Event(
            type=self.type,
            workspace_id=row[_WORKSPACE],
            actor=Actor(
                kind=_KINDS[row[_KIND]],
                source=_SOURCES[row[_SOURCE]],
                id=row[_ACTOR],
                user_id=row[_USER],
                depth=row[_DEPTH],
                run_id=row[_RUN],
                version=row[_VERSION],
            ),
            occurred_at=self.occurred_at,
            record_id=self.record_id,
            object_type=self.object_type,
            before=self.before,
            after=self.after,
            data=self.data,
            id=self.id,
        )


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _moment(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


# Enum members by value, read per row: a dict lookup, not EnumType.__call__.
_TYPES = {member.value: member for member in EventType}
_KINDS = {member.value: member for member in ActorKind}
_SOURCES = {member.value: member for member in Source}


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
