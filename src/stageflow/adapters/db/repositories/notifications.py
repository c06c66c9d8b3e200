"""In-app notifications."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import insert_many


class NotificationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        workspace_id: int,
        user_ids: builtins.list[int],
        *,
        title: str,
        body: str,
        record_id: int | None,
        run_id: int | None,
        now: datetime,
    ) -> None:
        insert_many(
            self.conn,
            t.notifications,
            [(workspace_id, u, record_id, run_id, title, body, now) for u in user_ids],
            columns=(
                "workspace_id",
                "user_id",
                "record_id",
                "run_id",
                "title",
                "body",
                "created_at",
            ),
        )

    def list(
        self,
        workspace_id: int,
        user_id: int,
        *,
        unread: bool,
        before_id: int | None,
        limit: int,
    ) -> builtins.list[Any]:
        n = t.notifications.c
        query = select(t.notifications).where(n.workspace_id == workspace_id, n.user_id == user_id)
        if unread:
            query = query.where(n.read_at.is_(None))
        if before_id is not None:
            query = query.where(n.id < before_id)
        return builtins.list(self.conn.execute(query.order_by(n.id.desc()).limit(limit)))

    def mark_read(
        self, workspace_id: int, user_id: int, now: datetime, notification_id: int | None = None
    ) -> int:
        """Mark one (or, without an id, every) unread notification of the user read."""
        n = t.notifications.c
        query = update(t.notifications).where(
            n.workspace_id == workspace_id, n.user_id == user_id, n.read_at.is_(None)
        )
        if notification_id is not None:
            query = query.where(n.id == notification_id)
        return int(self.conn.execute(query.values(read_at=now)).rowcount)

    def get(self, workspace_id: int, user_id: int, notification_id: int) -> Any | None:
        n = t.notifications.c
        return self.conn.execute(
            select(t.notifications).where(
                n.workspace_id == workspace_id, n.user_id == user_id, n.id == notification_id
            )
        ).first()
