"""Email templates."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stageflow.adapters.db import tables as t


class EmailTemplateRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self, workspace_id: int, *, name: str, subject: str, html: str, text: str, now: datetime
    ) -> int:
        return int(
            self.conn.execute(
                insert(t.email_templates)
                .values(
                    workspace_id=workspace_id,
                    name=name,
                    subject=subject,
                    html=html,
                    text=text,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(t.email_templates.c.id)
            ).scalar_one()
        )

    def get(self, workspace_id: int, template_id: int) -> Any | None:
        e = t.email_templates.c
        return self.conn.execute(
            select(t.email_templates).where(e.workspace_id == workspace_id, e.id == template_id)
        ).first()

    def by_name(self, workspace_id: int, name: str) -> Any | None:
        e = t.email_templates.c
        return self.conn.execute(
            select(t.email_templates).where(e.workspace_id == workspace_id, e.name == name)
        ).first()

    def list(self, workspace_id: int) -> builtins.list[Any]:
        e = t.email_templates.c
        return builtins.list(
            self.conn.execute(
                select(t.email_templates).where(e.workspace_id == workspace_id).order_by(e.name)
            )
        )

    def save(
        self, workspace_id: int, template_id: int, version: int, values: dict[str, Any]
    ) -> bool:
        e = t.email_templates.c
        result = self.conn.execute(
            update(t.email_templates)
            .where(e.workspace_id == workspace_id, e.id == template_id, e.version == version)
            .values(**values, version=version + 1)
        )
        return bool(result.rowcount == 1)

    def delete(self, workspace_id: int, template_id: int) -> None:
        e = t.email_templates.c
        self.conn.execute(
            delete(t.email_templates).where(e.workspace_id == workspace_id, e.id == template_id)
        )
