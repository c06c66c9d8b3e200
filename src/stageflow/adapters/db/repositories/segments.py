"""Saved filters: segments (SPEC L8)."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stageflow.adapters.db import tables as t


class SegmentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        workspace_id: int,
        *,
        name: str,
        object_type: str,
        filter_: dict[str, Any],
        created_by: int | None,
        now: datetime,
    ) -> int:
        return int(
            self.conn.execute(
                insert(t.segments)
                .values(
                    workspace_id=workspace_id,
                    name=name,
                    object_type=object_type,
                    filter=filter_,
                    created_by=created_by,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(t.segments.c.id)
            ).scalar_one()
        )

    def get(self, workspace_id: int, segment_id: int) -> Any | None:
        return self.conn.execute(
            select(t.segments).where(
                t.segments.c.workspace_id == workspace_id, t.segments.c.id == segment_id
            )
        ).first()

    def by_name(self, workspace_id: int, name: str) -> Any | None:
        return self.conn.execute(
            select(t.segments).where(
                t.segments.c.workspace_id == workspace_id, t.segments.c.name == name
            )
        ).first()

    def list(self, workspace_id: int) -> builtins.list[Any]:
        return builtins.list(
            self.conn.execute(
                select(t.segments)
                .where(t.segments.c.workspace_id == workspace_id)
                .order_by(t.segments.c.name)
            )
        )

    def update(self, workspace_id: int, segment_id: int, values: dict[str, Any]) -> None:
        self.conn.execute(
            update(t.segments)
            .where(t.segments.c.workspace_id == workspace_id, t.segments.c.id == segment_id)
            .values(**values, version=t.segments.c.version + 1)
        )

    def delete(self, workspace_id: int, segment_id: int) -> None:
        self.conn.execute(
            delete(t.segments).where(
                t.segments.c.workspace_id == workspace_id, t.segments.c.id == segment_id
            )
        )
