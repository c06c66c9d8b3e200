"""Stage rules and sub-state actions (SPEC B, E): their rows, in the order they run."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, insert, select, update

from stageflow.adapters.db import tables as t
from stageflow.domain.errors import StaleVersion


class RuleRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, workspace_id: int, *, now: datetime, **values: Any) -> int:
        return int(
            self.conn.execute(
                insert(t.rules)
                .values(workspace_id=workspace_id, version=1, created_at=now, updated_at=now)
                .values(**values)
                .returning(t.rules.c.id)
            ).scalar_one()
        )

    def get(self, workspace_id: int, rule_id: int) -> Any | None:
        c = t.rules.c
        return self.conn.execute(
            select(t.rules).where(c.workspace_id == workspace_id, c.id == rule_id)
        ).first()

    def of_stage(self, workspace_id: int, stage_id: int) -> builtins.list[Any]:
        c = t.rules.c
        return self._ordered(c.workspace_id == workspace_id, c.stage_id == stage_id)

    def of_substate(
        self, workspace_id: int, opportunity_type: str, substate: str | None = None
    ) -> builtins.list[Any]:
        c = t.rules.c
        where = [c.workspace_id == workspace_id, c.opportunity_type == opportunity_type]
        if substate is not None:
            where.append(c.substate == substate)
        return self._ordered(*where)

    def _ordered(self, *where: ColumnElement[bool]) -> builtins.list[Any]:
        c = t.rules.c
        return builtins.list(
            self.conn.execute(select(t.rules).where(*where).order_by(c.position, c.id))
        )

    def automations_of_stages(self, stage_ids: builtins.list[int]) -> builtins.list[int]:
        """The automations compiled from these stages' rules."""
        c = t.rules.c
        return [
            int(i)
            for i in self.conn.execute(
                select(c.automation_id).where(
                    c.stage_id.in_(stage_ids), c.automation_id.is_not(None)
                )
            ).scalars()
        ]

    def update(self, rule_id: int, read_version: int, values: dict[str, Any]) -> None:
        c = t.rules.c
        result = self.conn.execute(
            update(t.rules)
            .where(c.id == rule_id, c.version == read_version)
            .values(version=read_version + 1, **values)
        )
        if result.rowcount != 1:
            raise StaleVersion(
                f"rule {rule_id} was changed by someone else; read it again and retry",
                field="version",
            )

    def renumber(self, ordered: builtins.list[int], insert: tuple[int, int] | None = None) -> None:
        """Number these rules 1, 2, … in this order; ``insert`` (rule, position) first puts a
        rule at a 1-based position among them (past the end: last)."""
        ordered = builtins.list(ordered)
        if insert is not None:
            rule_id, position = insert
            ordered.insert(min(position, len(ordered) + 1) - 1, rule_id)
        for position, rule_id in enumerate(ordered, start=1):
            self.conn.execute(
                update(t.rules).where(t.rules.c.id == rule_id).values(position=position)
            )

    def set_automation(self, rule_id: int, automation_id: int | None) -> None:
        self.conn.execute(
            update(t.rules).where(t.rules.c.id == rule_id).values(automation_id=automation_id)
        )

    def delete(self, rule_id: int) -> None:
        self.conn.execute(delete(t.rules).where(t.rules.c.id == rule_id))
