"""Activities."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, insert, select, update

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.repositories.paging import newest_first
from stageflow.domain.activities import Activity, ActivityStatus, ActivityType, Direction
from stageflow.domain.errors import StaleVersion
from stageflow.domain.events import Actor

_COLUMNS = (
    "workspace_id",
    "record_id",
    "object_type",
    "subject",
    "description",
    "due_at",
    "responsible_id",
    "outcome",
    "channel",
    "completed_at",
    "complete_on_exit_stage_id",
    "version",
    "created_at",
    "updated_at",
)


class ActivityRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, activity: Activity) -> Activity:
        activity.id = self.conn.execute(
            insert(t.activities).values(_values(activity)).returning(t.activities.c.id)
        ).scalar_one()
        for event in activity.events:
            event.data["activity_id"] = activity.id
            if event.after is not None:
                event.after["activity_id"] = activity.id
        return activity

    def get(self, workspace_id: int, activity_id: int) -> Activity | None:
        row = self.conn.execute(
            select(t.activities).where(
                t.activities.c.workspace_id == workspace_id, t.activities.c.id == activity_id
            )
        ).first()
        return _activity(row) if row else None

    def save(self, activity: Activity, read_version: int) -> None:
        result = self.conn.execute(
            update(t.activities)
            .where(t.activities.c.id == activity.id, t.activities.c.version == read_version)
            .values(_values(activity))
        )
        if result.rowcount != 1:
            raise StaleVersion(
                f"activity {activity.id} was changed by someone else", field="version"
            )

    def open_until_stage_exit(
        self, workspace_id: int, record_id: int, stage_id: int
    ) -> list[Activity]:
        """The record's open activities that complete when it leaves ``stage_id``."""
        a = t.activities.c
        rows = self.conn.execute(
            select(t.activities)
            .where(
                a.workspace_id == workspace_id,
                a.record_id == record_id,
                a.status == ActivityStatus.OPEN.value,
                a.complete_on_exit_stage_id == stage_id,
            )
            .order_by(a.id)
        )
        return [_activity(r) for r in rows]

    def list(
        self,
        workspace_id: int,
        *,
        where: list[ColumnElement[bool]],
        before_id: int | None,
        limit: int,
    ) -> list[Activity]:
        rows = newest_first(
            self.conn, t.activities, workspace_id, where, before_id=before_id, limit=limit
        )
        return [_activity(r) for r in rows]


def _values(a: Activity) -> dict[str, Any]:
    values = {name: getattr(a, name) for name in _COLUMNS}
    values["type"] = a.type.value
    values["status"] = a.status.value
    values["direction"] = a.direction.value if a.direction else None
    values["exit_actor"] = a.exit_actor.to_json() if a.exit_actor else None
    return values


def _activity(row: Any) -> Activity:
    return Activity(
        id=row.id,
        workspace_id=row.workspace_id,
        record_id=row.record_id,
        object_type=row.object_type,
        type=ActivityType(row.type),
        subject=row.subject,
        description=row.description,
        due_at=row.due_at,
        responsible_id=row.responsible_id,
        status=ActivityStatus(row.status),
        outcome=row.outcome,
        direction=Direction(row.direction) if row.direction else None,
        channel=row.channel,
        completed_at=row.completed_at,
        complete_on_exit_stage_id=row.complete_on_exit_stage_id,
        exit_actor=Actor.from_json(row.exit_actor) if row.exit_actor else None,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
