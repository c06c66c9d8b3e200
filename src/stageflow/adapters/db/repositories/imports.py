"""CSV imports of contacts started in the web app (their upload, mapping and progress)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from stageflow.adapters.db import tables as t


class ImportJobRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, workspace_id: int, values: dict[str, Any]) -> int:
        return int(
            self.conn.execute(
                insert(t.contact_imports)
                .values(workspace_id=workspace_id, **values)
                .returning(t.contact_imports.c.id)
            ).scalar_one()
        )

    def get(self, workspace_id: int, job_id: int) -> Any | None:
        c = t.contact_imports.c
        return self.conn.execute(
            select(t.contact_imports).where(c.workspace_id == workspace_id, c.id == job_id)
        ).first()

    def progress(self, workspace_id: int, job_id: int) -> Any | None:
        """The job without its upload (what the progress page polls)."""
        c = t.contact_imports.c
        columns = [col for col in t.contact_imports.c if col.name != "content"]
        return self.conn.execute(
            select(*columns).where(c.workspace_id == workspace_id, c.id == job_id)
        ).first()

    def update(
        self, workspace_id: int, job_id: int, values: dict[str, Any], *, status: str | None = None
    ) -> bool:
        """Change a job; with ``status`` only while it still has that status."""
        c = t.contact_imports.c
        where = [c.workspace_id == workspace_id, c.id == job_id]
        if status is not None:
            where.append(c.status == status)
        done = self.conn.execute(update(t.contact_imports).where(*where).values(**values))
        return bool(done.rowcount)
