"""Files kept on records, and signature requests for them."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Connection, insert, select, update

from stageflow.adapters.db import tables as t

_FILE_INFO = tuple(c for c in t.files.c if c.name != "data")


class ReportRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # files -------------------------------------------------------------------------------------

    def add_file(self, workspace_id: int, record_id: int, **values: Any) -> int:
        return int(
            self.conn.execute(
                insert(t.files)
                .values(workspace_id=workspace_id, record_id=record_id, **values)
                .returning(t.files.c.id)
            ).scalar_one()
        )

    def file(self, workspace_id: int, file_id: int, *, data: bool = False) -> Any | None:
        columns = t.files.c if data else _FILE_INFO
        return self.conn.execute(
            select(*columns).where(t.files.c.workspace_id == workspace_id, t.files.c.id == file_id)
        ).first()

    def files_of(self, workspace_id: int, record_id: int) -> builtins.list[Any]:
        f = t.files.c
        return builtins.list(
            self.conn.execute(
                select(*_FILE_INFO)
                .where(f.workspace_id == workspace_id, f.record_id == record_id)
                .order_by(f.id.desc())
            )
        )

    # signature requests ------------------------------------------------------------------------

    def add_signature_request(self, workspace_id: int, **values: Any) -> int:
        return int(
            self.conn.execute(
                insert(t.signature_requests)
                .values(workspace_id=workspace_id, **values)
                .returning(t.signature_requests.c.id)
            ).scalar_one()
        )

    def signature_request(self, workspace_id: int, request_id: int) -> Any | None:
        s = t.signature_requests.c
        return self.conn.execute(
            select(t.signature_requests).where(s.workspace_id == workspace_id, s.id == request_id)
        ).first()

    def signature_request_for_update(self, request_id: int) -> Any | None:
        """Any workspace's request, locked (a provider's callback names only the request)."""
        query = select(t.signature_requests).where(t.signature_requests.c.id == request_id)
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return self.conn.execute(query).first()

    def signature_requests_of(self, workspace_id: int, record_id: int) -> builtins.list[Any]:
        s = t.signature_requests.c
        return builtins.list(
            self.conn.execute(
                select(t.signature_requests)
                .where(s.workspace_id == workspace_id, s.record_id == record_id)
                .order_by(s.id.desc())
            )
        )

    def update_signature_request(self, request_id: int, **values: Any) -> None:
        self.conn.execute(
            update(t.signature_requests)
            .where(t.signature_requests.c.id == request_id)
            .values(**values)
        )
