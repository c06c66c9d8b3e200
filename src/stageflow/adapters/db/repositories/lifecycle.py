"""Lifecycle stages, the dashboard's live counts and the lifecycle transitions (SPEC L)."""

from __future__ import annotations

import builtins
import random
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Table, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import insert_many
from stageflow.domain.lifecycle import ConversationStatus, LifecycleKind, LifecycleStage, Tally

COUNT_SLOTS = 8  # PostgreSQL writers spread over this many rows per stage


class LifecycleRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # stages ----------------------------------------------------------------------------------

    def lock(self, workspace_id: int) -> None:
        """Serialise changes to one workspace's stage list (SQLite's writer lock already does).
        Two admins setting different defaults, or adding the 20th stage, at the same moment
        then see each other's result instead of failing on a constraint. FOR NO KEY UPDATE:
        other writers' foreign-key checks on the workspace row go on unhindered."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(
                select(t.workspaces.c.id)
                .where(t.workspaces.c.id == workspace_id)
                .with_for_update(key_share=True)
            )

    def stages(self, workspace_id: int) -> builtins.list[LifecycleStage]:
        """Lifecycle stages first, then lost stages, each in their order."""
        rows = self.conn.execute(
            select(t.lifecycle_stages)
            .where(t.lifecycle_stages.c.workspace_id == workspace_id)
            .order_by(t.lifecycle_stages.c.position, t.lifecycle_stages.c.id)
        )
        stages = [_stage(r) for r in rows]
        return sorted(stages, key=lambda s: s.kind is LifecycleKind.LOST)

    def get(
        self, workspace_id: int, stage_id: int, *, lock: Literal["share", "update"] | None = None
    ) -> LifecycleStage | None:
        """One stage. On PostgreSQL ``lock`` holds it until commit: "share" while assigning it
        (a concurrent delete waits, or this sees the stage gone), "update" to delete it (waits
        for assignments in flight, so that their contacts are seen and moved)."""
        query = select(t.lifecycle_stages).where(
            t.lifecycle_stages.c.workspace_id == workspace_id,
            t.lifecycle_stages.c.id == stage_id,
        )
        if lock is not None and self.conn.dialect.name == "postgresql":
            query = query.with_for_update(read=lock == "share")
        row = self.conn.execute(query).first()
        return _stage(row) if row else None

    def default(self, workspace_id: int) -> LifecycleStage | None:
        row = self.conn.execute(
            select(t.lifecycle_stages).where(
                t.lifecycle_stages.c.workspace_id == workspace_id,
                t.lifecycle_stages.c.is_default.is_(True),
            )
        ).first()
        return _stage(row) if row else None

    def add(self, stage: LifecycleStage, now: datetime) -> LifecycleStage:
        stage.id = self.conn.execute(
            insert(t.lifecycle_stages)
            .values(
                workspace_id=stage.workspace_id,
                name=stage.name,
                description=stage.description,
                emoji=stage.emoji,
                kind=stage.kind.value,
                position=stage.position,
                is_default=stage.is_default,
                created_at=now,
                updated_at=now,
            )
            .returning(t.lifecycle_stages.c.id)
        ).scalar_one()
        return stage

    def update(
        self, workspace_id: int, stage_id: int, values: Mapping[str, Any], now: datetime
    ) -> None:
        self.conn.execute(
            update(t.lifecycle_stages)
            .where(
                t.lifecycle_stages.c.workspace_id == workspace_id,
                t.lifecycle_stages.c.id == stage_id,
            )
            .values(**values, updated_at=now)
        )

    def clear_default(self, workspace_id: int, now: datetime) -> None:
        self.conn.execute(
            update(t.lifecycle_stages)
            .where(
                t.lifecycle_stages.c.workspace_id == workspace_id,
                t.lifecycle_stages.c.is_default.is_(True),
            )
            .values(is_default=False, updated_at=now)
        )

    def set_positions(self, workspace_id: int, order: builtins.list[int], now: datetime) -> None:
        for position, stage_id in enumerate(order):
            self.update(workspace_id, stage_id, {"position": position}, now)

    def delete(self, workspace_id: int, stage_id: int) -> None:
        self.conn.execute(
            delete(t.lifecycle_stages).where(
                t.lifecycle_stages.c.workspace_id == workspace_id,
                t.lifecycle_stages.c.id == stage_id,
            )
        )

    # records in a stage ----------------------------------------------------------------------

    def usage(self, workspace_id: int, stage_id: int) -> dict[str, int]:
        """How many contacts and companies are in a stage (the delete preview, L6)."""
        rows = self.conn.execute(
            select(t.records.c.object_type, func.count())
            .where(
                t.records.c.workspace_id == workspace_id,
                t.records.c.object_type.in_(("contact", "company")),
                t.records.c.lifecycle_stage_id == stage_id,
            )
            .group_by(t.records.c.object_type)
        )
        found = {object_type: int(n) for object_type, n in rows}
        return {"contacts": found.get("contact", 0), "companies": found.get("company", 0)}

    def records_in(self, workspace_id: int, stage_id: int, *, after_id: int, limit: int) -> Any:
        """Ids and versions of the records in a stage, a page at a time, locked for update."""
        query = (
            select(t.records.c.id, t.records.c.object_type, t.records.c.version)
            .where(
                t.records.c.workspace_id == workspace_id,
                t.records.c.object_type.in_(("contact", "company")),
                t.records.c.lifecycle_stage_id == stage_id,
                t.records.c.id > after_id,
            )
            .order_by(t.records.c.id)
            .limit(limit)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return builtins.list(self.conn.execute(query))

    def move_records(
        self, workspace_id: int, record_ids: builtins.list[int], stage_id: int | None, now: datetime
    ) -> None:
        self.conn.execute(
            update(t.records)
            .where(t.records.c.workspace_id == workspace_id, t.records.c.id.in_(record_ids))
            .values(
                lifecycle_stage_id=stage_id,
                version=t.records.c.version + 1,
                updated_at=now,
            )
        )

    # live counts -----------------------------------------------------------------------------

    def add_counts(self, workspace_id: int, deltas: Mapping[int, Tally]) -> None:
        """Add ``deltas`` (by stage id, 0 for no stage) to the live counts."""
        self._add(
            t.lifecycle_counts,
            [
                {
                    "workspace_id": workspace_id,
                    "stage_id": stage_id,
                    "contacts": delta.contacts,
                    "open": delta.open,
                    "snoozed": delta.snoozed,
                    "unassigned": delta.unassigned,
                }
                for stage_id, delta in sorted(deltas.items())
                if delta
            ],
            ("contacts", "open", "snoozed", "unassigned"),
        )

    def _add(
        self, table: Table, rows: builtins.list[dict[str, Any]], sums: tuple[str, ...]
    ) -> None:
        """Add ``rows``' ``sums`` columns into counter rows keyed by the other columns plus a
        slot (one per transaction, picked at random on PostgreSQL so writers do not queue on
        one hot row). Rows come in key order, so concurrent writers lock in the same order."""
        postgres = self.conn.dialect.name == "postgresql"
        slot = random.randrange(COUNT_SLOTS) if postgres else 0
        dialect_insert = postgresql.insert if postgres else sqlite.insert
        for row in rows:
            statement = dialect_insert(table).values(**row, slot=slot)
            keys = [table.c[k] for k in row if k not in sums] + [table.c.slot]
            self.conn.execute(
                statement.on_conflict_do_update(
                    index_elements=keys,
                    set_={k: table.c[k] + statement.excluded[k] for k in sums},
                )
            )

    def counts(self, workspace_id: int) -> dict[int, Tally]:
        """The live counts by stage id (0: no stage): one indexed read of a few rows."""
        c = t.lifecycle_counts.c
        rows = self.conn.execute(
            select(
                c.stage_id,
                func.sum(c.contacts),
                func.sum(c.open),
                func.sum(c.snoozed),
                func.sum(c.unassigned),
            )
            .where(c.workspace_id == workspace_id)
            .group_by(c.stage_id)
        )
        return {
            int(stage_id): Tally(int(n), int(o), int(s), int(u)) for stage_id, n, o, s, u in rows
        }

    def take_counts(self, workspace_id: int, stage_id: int) -> Tally:
        """Remove a stage's counts and return them (its contacts are moving wholesale)."""
        tally = self.counts_of(workspace_id, stage_id)
        self.conn.execute(
            delete(t.lifecycle_counts).where(
                t.lifecycle_counts.c.workspace_id == workspace_id,
                t.lifecycle_counts.c.stage_id == stage_id,
            )
        )
        return tally

    def counts_of(self, workspace_id: int, stage_id: int) -> Tally:
        c = t.lifecycle_counts.c
        row = self.conn.execute(
            select(
                func.coalesce(func.sum(c.contacts), 0),
                func.coalesce(func.sum(c.open), 0),
                func.coalesce(func.sum(c.snoozed), 0),
                func.coalesce(func.sum(c.unassigned), 0),
            ).where(c.workspace_id == workspace_id, c.stage_id == stage_id)
        ).one()
        return Tally(*(int(v) for v in row))

    def recount(self, workspace_id: int) -> dict[int, Tally]:
        """Counts computed from the contacts and conversations themselves (slow: a full scan;
        for checks and repairs, never for the dashboard)."""
        r, cv = t.records.c, t.conversations.c
        stage = func.coalesce(r.lifecycle_stage_id, 0)
        contacts = self.conn.execute(
            select(stage, func.count())
            .where(r.workspace_id == workspace_id, r.object_type == "contact")
            .group_by(stage)
        )
        result: dict[int, Tally] = {int(s): Tally(contacts=int(n)) for s, n in contacts}
        conversations = self.conn.execute(
            select(stage, cv.status, cv.assignee_id.is_(None), func.count())
            .select_from(t.conversations.join(t.records, r.id == cv.contact_id))
            .where(cv.workspace_id == workspace_id)
            .group_by(stage, cv.status, cv.assignee_id.is_(None))
        )
        for s, status, unassigned, n in conversations:
            one = Tally.of(ConversationStatus(status), assigned=not unassigned)
            scaled = Tally(0, one.open * n, one.snoozed * n, one.unassigned * n)
            result[int(s)] = result.get(int(s), Tally()) + scaled
        return {s: tally for s, tally in result.items() if tally}

    def replace_counts(self, workspace_id: int, counts: Mapping[int, Tally]) -> None:
        self.conn.execute(
            delete(t.lifecycle_counts).where(t.lifecycle_counts.c.workspace_id == workspace_id)
        )
        self.add_counts(workspace_id, counts)

    # transitions -----------------------------------------------------------------------------

    def add_changes(self, changes: Mapping[tuple[int, datetime, int, int], int]) -> None:
        """Record (workspace, instant, from, to) change counts (0: no stage), per instant and
        summed per UTC day."""
        if not changes:
            return
        insert_many(
            self.conn,
            t.lifecycle_changes,
            [
                {
                    "workspace_id": workspace_id,
                    "occurred_at": at,
                    "from_stage_id": source,
                    "to_stage_id": target,
                    "changes": n,
                }
                for (workspace_id, at, source, target), n in changes.items()
            ],
        )
        daily: dict[tuple[int, date, int, int], int] = {}
        for (workspace_id, at, source, target), n in changes.items():
            key = (workspace_id, at.astimezone(UTC).date(), source, target)
            daily[key] = daily.get(key, 0) + n
        self._add_daily(daily)

    def _add_daily(self, changes: Mapping[tuple[int, date, int, int], int]) -> None:
        self._add(
            t.lifecycle_daily,
            [
                {
                    "workspace_id": workspace_id,
                    "day": day,
                    "from_stage_id": source,
                    "to_stage_id": target,
                    "changes": n,
                }
                for (workspace_id, day, source, target), n in sorted(changes.items())
            ],
            ("changes",),
        )

    def rebuild_daily(self, workspace_id: int) -> None:
        """The daily sums again from the per-instant changes (a repair tool)."""
        self.conn.execute(
            delete(t.lifecycle_daily).where(t.lifecycle_daily.c.workspace_id == workspace_id)
        )
        day = (
            "date(occurred_at)"
            if self.conn.dialect.name == "sqlite"
            else "(occurred_at AT TIME ZONE 'UTC')::date"
        )
        self.conn.execute(
            text(
                "INSERT INTO lifecycle_daily (workspace_id, day, from_stage_id, to_stage_id, "
                f"slot, changes) SELECT workspace_id, {day}, from_stage_id, to_stage_id, 0, "
                "sum(changes) FROM lifecycle_changes "
                f"WHERE workspace_id = :ws GROUP BY workspace_id, {day}, from_stage_id, "
                "to_stage_id"
            ),
            {"ws": workspace_id},
        )

    def transitions(self, workspace_id: int, since: datetime) -> dict[tuple[int, int], int]:
        """How many changes from stage to stage (0: none) happened since ``since``: whole
        days from the daily sums, the rest of ``since``'s own day from the per-instant counts
        (so the cost is ~30 rows per stage pair, not one per change)."""
        next_day = since.astimezone(UTC).date() + timedelta(days=1)
        d = t.lifecycle_daily.c
        result: dict[tuple[int, int], int] = {}
        for source, target, n in self.conn.execute(
            select(d.from_stage_id, d.to_stage_id, func.sum(d.changes))
            .where(d.workspace_id == workspace_id, d.day >= next_day)
            .group_by(d.from_stage_id, d.to_stage_id)
        ):
            result[(source, target)] = int(n)
        c = t.lifecycle_changes.c
        boundary = datetime.combine(next_day, datetime.min.time(), tzinfo=UTC)
        for source, target, n in self.conn.execute(
            select(c.from_stage_id, c.to_stage_id, func.sum(c.changes))
            .where(c.workspace_id == workspace_id, c.occurred_at >= since, c.occurred_at < boundary)
            .group_by(c.from_stage_id, c.to_stage_id)
        ):
            result[(source, target)] = result.get((source, target), 0) + int(n)
        return result


def _stage(row: Any) -> LifecycleStage:
    return LifecycleStage(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        description=row.description,
        emoji=row.emoji,
        kind=LifecycleKind(row.kind),
        position=row.position,
        is_default=row.is_default,
    )
