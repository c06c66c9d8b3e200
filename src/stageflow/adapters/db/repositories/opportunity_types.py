"""Opportunity types (SPEC E1): their rows, by id or by the name opportunities use."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stageflow.adapters.db import tables as t
from stageflow.domain.errors import StaleVersion
from stageflow.domain.opportunity_types import OpportunityType, Substate


def to_type(row: Any) -> OpportunityType:
    """A row as the domain sees it."""
    return OpportunityType(
        row.name,
        tuple(row.states),
        tuple(Substate(s["name"], s.get("state")) for s in row.substates),
    )


class OpportunityTypeRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, workspace_id: int, *, now: datetime, **values: Any) -> int:
        table = t.opportunity_types
        return int(
            self.conn.execute(
                insert(table)
                .values(workspace_id=workspace_id, version=1, created_at=now, updated_at=now)
                .values(**values)
                .returning(table.c.id)
            ).scalar_one()
        )

    def get(self, workspace_id: int, type_id: int) -> Any | None:
        c = t.opportunity_types.c
        return self.conn.execute(
            select(t.opportunity_types).where(c.workspace_id == workspace_id, c.id == type_id)
        ).first()

    def by_name(self, workspace_id: int, name: str) -> Any | None:
        c = t.opportunity_types.c
        return self.conn.execute(
            select(t.opportunity_types).where(c.workspace_id == workspace_id, c.name == name)
        ).first()

    def named(self, workspace_id: int, name: str) -> OpportunityType | None:
        """The type opportunities mean by ``name``, if it is defined."""
        row = self.by_name(workspace_id, name)
        return None if row is None else to_type(row)

    def list(self, workspace_id: int) -> builtins.list[Any]:
        c = t.opportunity_types.c
        return builtins.list(
            self.conn.execute(
                select(t.opportunity_types)
                .where(c.workspace_id == workspace_id)
                .order_by(c.name, c.id)
            )
        )

    def update(self, type_id: int, read_version: int, values: dict[str, Any]) -> None:
        c = t.opportunity_types.c
        result = self.conn.execute(
            update(t.opportunity_types)
            .where(c.id == type_id, c.version == read_version)
            .values(version=read_version + 1, **values)
        )
        if result.rowcount != 1:
            raise StaleVersion(
                f"opportunity type {type_id} was changed by someone else; read it again and retry",
                field="version",
            )

    def delete(self, type_id: int) -> None:
        self.conn.execute(delete(t.opportunity_types).where(t.opportunity_types.c.id == type_id))
