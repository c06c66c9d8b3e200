"""Named templates of a workspace (email templates, report templates): one repository over any
table with id, workspace_id, name, version, created_at, updated_at and text columns."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update


class TemplateRepository:
    def __init__(self, conn: Connection, table: Table) -> None:
        self.conn = conn
        self.table = table

    def add(self, workspace_id: int, *, name: str, now: datetime, **texts: str) -> int:
        return int(
            self.conn.execute(
                insert(self.table)
                .values(
                    workspace_id=workspace_id,
                    name=name,
                    **texts,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(self.table.c.id)
            ).scalar_one()
        )

    def get(self, workspace_id: int, template_id: int) -> Any | None:
        c = self.table.c
        return self.conn.execute(
            select(self.table).where(c.workspace_id == workspace_id, c.id == template_id)
        ).first()

    def by_name(self, workspace_id: int, name: str) -> Any | None:
        c = self.table.c
        return self.conn.execute(
            select(self.table).where(c.workspace_id == workspace_id, c.name == name)
        ).first()

    def list(self, workspace_id: int) -> builtins.list[Any]:
        c = self.table.c
        return builtins.list(
            self.conn.execute(
                select(self.table).where(c.workspace_id == workspace_id).order_by(c.name)
            )
        )

    def save(
        self, workspace_id: int, template_id: int, version: int, values: dict[str, Any]
    ) -> bool:
        """Change a template if it is still at ``version``."""
        c = self.table.c
        result = self.conn.execute(
            update(self.table)
            .where(c.workspace_id == workspace_id, c.id == template_id, c.version == version)
            .values(**values, version=version + 1)
        )
        return bool(result.rowcount == 1)

    def delete(self, workspace_id: int, template_id: int) -> None:
        c = self.table.c
        self.conn.execute(
            delete(self.table).where(c.workspace_id == workspace_id, c.id == template_id)
        )
