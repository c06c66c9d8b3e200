"""The one query shape behind every list: a workspace's rows, newest first, before a cursor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, select


def newest_first(
    conn: Connection,
    table: Table,
    workspace_id: int,
    where: list[ColumnElement[bool]],
    *,
    before_id: int | None,
    limit: int,
) -> list[Any]:
    query = select(table).where(table.c.workspace_id == workspace_id, *where)
    if before_id is not None:
        query = query.where(table.c.id < before_id)
    return list(conn.execute(query.order_by(table.c.id.desc()).limit(limit)))
