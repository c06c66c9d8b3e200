"""Automations, their immutable versions, runs, step rows and enrollment skips."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, select, update

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import insert_many, update_many
from stageflow.adapters.db.repositories.paging import newest_first
from stageflow.domain.errors import StaleVersion

ACTIVE = "active"


_IDS_PER_QUERY = 10_000
_WAITING_COLUMNS = (
    t.runs.c.id,
    t.runs.c.record_id,
    t.runs.c.version_id,
    t.runs.c.bound_stage_id,
    t.runs.c.wait_event,
    t.runs.c.state,
    t.runs.c.updated_at,
)


class AutomationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        workspace_id: int,
        *,
        name: str,
        description: str,
        kind: str,
        draft: dict[str, Any],
        now: datetime,
    ) -> int:
        return int(
            self.conn.execute(
                insert(t.automations)
                .values(
                    workspace_id=workspace_id,
                    name=name,
                    description=description,
                    kind=kind,
                    status="draft",
                    draft=draft,
                    active_version_id=None,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(t.automations.c.id)
            ).scalar_one()
        )

    def get(self, workspace_id: int, automation_id: int) -> Any | None:
        return self.conn.execute(
            select(t.automations).where(
                t.automations.c.workspace_id == workspace_id, t.automations.c.id == automation_id
            )
        ).first()

    def list(
        self,
        workspace_id: int,
        *,
        where: builtins.list[ColumnElement[bool]],
        before_id: int | None,
        limit: int,
    ) -> builtins.list[Any]:
        return newest_first(
            self.conn, t.automations, workspace_id, where, before_id=before_id, limit=limit
        )

    def update(self, automation_id: int, read_version: int, values: dict[str, Any]) -> None:
        result = self.conn.execute(
            update(t.automations)
            .where(t.automations.c.id == automation_id, t.automations.c.version == read_version)
            .values(version=read_version + 1, **values)
        )
        if result.rowcount != 1:
            raise StaleVersion(
                f"automation {automation_id} was changed by someone else; read it again and retry",
                field="version",
            )

    def add_version(
        self,
        workspace_id: int,
        automation_id: int,
        *,
        number: int,
        definition: dict[str, Any],
        trigger_type: str,
        now: datetime,
        by: int | None,
    ) -> int:
        return int(
            self.conn.execute(
                insert(t.automation_versions)
                .values(
                    workspace_id=workspace_id,
                    automation_id=automation_id,
                    number=number,
                    definition=definition,
                    trigger_type=trigger_type,
                    published_at=now,
                    published_by=by,
                )
                .returning(t.automation_versions.c.id)
            ).scalar_one()
        )

    def versions(self, automation_id: int) -> builtins.list[Any]:
        return builtins.list(
            self.conn.execute(
                select(t.automation_versions)
                .where(t.automation_versions.c.automation_id == automation_id)
                .order_by(t.automation_versions.c.number)
            )
        )

    def version(self, version_id: int) -> Any | None:
        return self.conn.execute(
            select(t.automation_versions).where(t.automation_versions.c.id == version_id)
        ).first()

    def active_versions(self, workspace_id: int) -> builtins.list[Any]:
        """The published version of every active automation of the workspace."""
        a, v = t.automations, t.automation_versions
        return builtins.list(
            self.conn.execute(
                select(v.c.id, v.c.automation_id, v.c.definition, v.c.number, a.c.name)
                .join(a, a.c.active_version_id == v.c.id)
                .where(a.c.workspace_id == workspace_id, a.c.status == ACTIVE)
            )
        )

    def revision(self, workspace_id: int) -> int:
        return int(
            self.conn.execute(
                select(t.workspaces.c.automation_revision).where(t.workspaces.c.id == workspace_id)
            ).scalar_one()
        )

    def bump_revision(self, workspace_id: int) -> None:
        """Tell every process that the workspace's set of active automations changed."""
        self.conn.execute(
            update(t.workspaces)
            .where(t.workspaces.c.id == workspace_id)
            .values(automation_revision=t.workspaces.c.automation_revision + 1)
        )


class RunRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_many(self, rows: builtins.list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(t.runs), rows)

    def exists(self, workspace_id: int, enrollment_key: str) -> bool:
        return (
            self.conn.execute(
                select(t.runs.c.id).where(
                    t.runs.c.workspace_id == workspace_id, t.runs.c.enrollment_key == enrollment_key
                )
            ).first()
            is not None
        )

    def enrolled_records(
        self,
        automation_ids: set[int],
        record_ids: set[int],
    ) -> set[tuple[int, int]]:
        """(automation, record) pairs that already have a run."""
        if not automation_ids or not record_ids:
            return set()
        rows = self.conn.execute(
            select(t.runs.c.automation_id, t.runs.c.record_id)
            .where(t.runs.c.automation_id.in_(automation_ids), t.runs.c.record_id.in_(record_ids))
            .distinct()
        )
        return {(r.automation_id, r.record_id) for r in rows}

    def has_completed(self, automation_id: int, record_id: int | None) -> bool:
        query = select(t.runs.c.id).where(
            t.runs.c.automation_id == automation_id,
            t.runs.c.record_id == record_id,
            t.runs.c.status == "completed",
        )
        return self.conn.execute(query.limit(1)).first() is not None

    def claim_due(self, now: datetime, limit: int) -> builtins.list[Any]:
        """Due runs, oldest first, locked for this transaction (skipping others' locks)."""
        query = (
            select(t.runs)
            .where(t.runs.c.status == "waiting", t.runs.c.wake_at <= now)
            .order_by(t.runs.c.wake_at, t.runs.c.id)
            .limit(limit)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return builtins.list(self.conn.execute(query))

    def claim_one(self, run_id: int, now: datetime) -> Any | None:
        query = select(t.runs).where(
            t.runs.c.id == run_id, t.runs.c.status == "waiting", t.runs.c.wake_at <= now
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return self.conn.execute(query).first()

    def next_wake_at(self) -> datetime | None:
        value = self.conn.execute(
            select(func.min(t.runs.c.wake_at)).where(t.runs.c.status == "waiting")
        ).scalar()
        return (
            None
            if value is None
            else t.UTCDateTime().process_result_value(value, self.conn.dialect)
        )

    def save_many(self, rows: builtins.list[dict[str, Any]]) -> None:
        """Write run changes; each row has ``_id`` and the columns to set (rows of any shape:
        they are grouped, since one executemany needs one shape)."""
        for group in _by_shape(rows).values():
            update_many(self.conn, t.runs, group, where={"_id": "id"})

    def update_if_unchanged(self, run_id: int, seen: datetime, values: dict[str, Any]) -> bool:
        """Change a run only if it is still waiting as it was read (``seen`` is the
        ``updated_at`` read): a worker that moved the run on meanwhile wins."""
        result = self.conn.execute(
            update(t.runs)
            .where(t.runs.c.id == run_id, t.runs.c.status == "waiting", t.runs.c.updated_at == seen)
            .values(**values)
        )
        return bool(result.rowcount == 1)

    def waiting_run(self, run_id: int) -> Any | None:
        """One run as ``waiting_on_records`` reads it, if it is (still) waiting."""
        return self.conn.execute(
            select(*_WAITING_COLUMNS).where(t.runs.c.id == run_id, t.runs.c.status == "waiting")
        ).first()

    def waiting_on_records(self, record_ids: Iterable[int]) -> builtins.list[Any]:
        """Waiting runs that a change of these records may cancel or wake."""
        ids = sorted(set(record_ids))
        found: builtins.list[Any] = []
        for first in range(0, len(ids), _IDS_PER_QUERY):  # SQLite binds at most 32,766 values
            found += self.conn.execute(
                select(*_WAITING_COLUMNS).where(
                    t.runs.c.record_id.in_(ids[first : first + _IDS_PER_QUERY]),
                    t.runs.c.status == "waiting",
                    (t.runs.c.bound_stage_id.is_not(None)) | (t.runs.c.wait_event.is_not(None)),
                )
            )
        return found

    def waiting_ticks(self, automation_id: int) -> builtins.list[int]:
        """The schedule tick runs an automation has waiting (record-less, flagged in state)."""
        rows = self.conn.execute(
            select(t.runs.c.id, t.runs.c.state).where(
                t.runs.c.automation_id == automation_id,
                t.runs.c.status == "waiting",
                t.runs.c.record_id.is_(None),
            )
        )
        return [r.id for r in rows if (r.state.get("trigger") or {}).get("schedule_tick")]

    def get(self, workspace_id: int, run_id: int) -> Any | None:
        return self.conn.execute(
            select(t.runs).where(t.runs.c.workspace_id == workspace_id, t.runs.c.id == run_id)
        ).first()

    def list(
        self,
        workspace_id: int,
        *,
        where: builtins.list[ColumnElement[bool]],
        before_id: int | None,
        limit: int,
    ) -> builtins.list[Any]:
        return newest_first(
            self.conn, t.runs, workspace_id, where, before_id=before_id, limit=limit
        )

    def steps(self, run_id: int) -> builtins.list[Any]:
        return builtins.list(
            self.conn.execute(
                select(t.run_steps).where(t.run_steps.c.run_id == run_id).order_by(t.run_steps.c.id)
            )
        )

    def step_keys(self, run_ids: builtins.list[int]) -> set[tuple[int, str, str]]:
        if not run_ids:
            return set()
        rows = self.conn.execute(
            select(t.run_steps.c.run_id, t.run_steps.c.step_id, t.run_steps.c.iteration).where(
                t.run_steps.c.run_id.in_(run_ids)
            )
        )
        return {(r.run_id, r.step_id, r.iteration) for r in rows}

    def add_steps(self, rows: builtins.list[dict[str, Any]]) -> None:
        insert_many(self.conn, t.run_steps, rows)

    def update_step(self, row: dict[str, Any]) -> None:
        c = t.run_steps.c
        self.conn.execute(
            update(t.run_steps)
            .where(
                c.run_id == row["run_id"],
                c.step_id == row["step_id"],
                c.iteration == row["iteration"],
            )
            .values(
                status=row["status"],
                input=row["input"],
                output=row["output"],
                error=row["error"],
                finished_at=row["finished_at"],
                attempts=c.attempts + 1,
            )
        )

    def set_step_status(
        self, run_id: int, step_id: str, iteration: str, status: str, error: str | None
    ) -> None:
        """Change what a recorded step came to (an external delivery's final outcome)."""
        c = t.run_steps.c
        self.conn.execute(
            update(t.run_steps)
            .where(c.run_id == run_id, c.step_id == step_id, c.iteration == iteration)
            .values(status=status, error=error)
        )

    def add_skips(self, rows: builtins.list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(t.enrollment_skips), rows)

    def skips(self, workspace_id: int, record_id: int, limit: int) -> builtins.list[Any]:
        return builtins.list(
            self.conn.execute(
                select(t.enrollment_skips)
                .where(
                    t.enrollment_skips.c.workspace_id == workspace_id,
                    t.enrollment_skips.c.record_id == record_id,
                )
                .order_by(t.enrollment_skips.c.id.desc())
                .limit(limit)
            )
        )


def _by_shape(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return groups
