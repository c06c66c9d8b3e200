"""The outbox: external effects (webhooks, email, SMS) written in the transaction that decided
them and delivered afterwards, with retries (DESIGN "Workers and scale-out").

A claimed delivery's ``next_attempt_at`` is pushed past the attempt's lease: a courier that
dies mid-delivery leaves the row due again when the lease runs out, so nothing is lost. The
attempt number is the fencing token: an outcome is written only if the row is still on the
attempt that was claimed.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.repositories.paging import newest_first

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class OutboxRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        workspace_id: int,
        *,
        kind: str,
        idempotency_key: str,
        payload: dict[str, Any],
        max_attempts: int,
        run_id: int | None,
        step_id: str | None,
        record_id: int | None,
        now: datetime,
    ) -> int:
        """Queue a delivery; the same idempotency key queues nothing new (its id is returned)."""
        existing = self.by_key(workspace_id, idempotency_key)
        if existing is not None:
            return int(existing.id)
        return int(
            self.conn.execute(
                insert(t.outbox)
                .values(
                    workspace_id=workspace_id,
                    kind=kind,
                    idempotency_key=idempotency_key,
                    payload=payload,
                    status=PENDING,
                    attempts=0,
                    max_attempts=max_attempts,
                    next_attempt_at=now,
                    run_id=run_id,
                    step_id=step_id,
                    record_id=record_id,
                    created_at=now,
                    updated_at=now,
                )
                .returning(t.outbox.c.id)
            ).scalar_one()
        )

    def by_key(self, workspace_id: int, idempotency_key: str) -> Any | None:
        return self.conn.execute(
            select(t.outbox).where(
                t.outbox.c.workspace_id == workspace_id,
                t.outbox.c.idempotency_key == idempotency_key,
            )
        ).first()

    def get(self, workspace_id: int, delivery_id: int) -> Any | None:
        return self.conn.execute(
            select(t.outbox).where(
                t.outbox.c.workspace_id == workspace_id, t.outbox.c.id == delivery_id
            )
        ).first()

    def any_due(self, now: datetime) -> bool:
        o = t.outbox.c
        found = self.conn.execute(
            select(o.id).where(o.status == PENDING, o.next_attempt_at <= now).limit(1)
        ).first()
        return found is not None

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> builtins.list[Any]:
        """Due deliveries, oldest first; each is leased until ``lease_until`` and its attempt
        counted. The caller commits at once and delivers outside the transaction."""
        o = t.outbox.c
        query = (
            select(o.id)
            .where(o.status == PENDING, o.next_attempt_at <= now)
            .order_by(o.next_attempt_at, o.id)
            .limit(limit)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = builtins.list(self.conn.execute(query).scalars())
        if not ids:
            return []
        return builtins.list(
            self.conn.execute(
                update(t.outbox)
                .where(o.id.in_(ids))
                .values(attempts=o.attempts + 1, next_attempt_at=lease_until, updated_at=now)
                .returning(*t.outbox.c)
            )
        )

    def finish(self, delivery_id: int, attempt: int, values: dict[str, Any]) -> bool:
        """Write an attempt's outcome if the row is still on that attempt."""
        result = self.conn.execute(
            update(t.outbox)
            .where(
                t.outbox.c.id == delivery_id,
                t.outbox.c.attempts == attempt,
                t.outbox.c.status == PENDING,
            )
            .values(**values)
        )
        return bool(result.rowcount == 1)

    def renew(self, delivery_id: int, attempt: int, lease_until: datetime) -> bool:
        """Extend a claimed delivery's lease, if it is still on the attempt claimed."""
        o = t.outbox.c
        result = self.conn.execute(
            update(t.outbox)
            .where(o.id == delivery_id, o.attempts == attempt, o.status == PENDING)
            .values(next_attempt_at=lease_until)
        )
        return bool(result.rowcount == 1)

    def retry(self, workspace_id: int, delivery_id: int, now: datetime) -> bool:
        """Queue a failed delivery again, with as many attempts again as it had. The attempt
        count goes on (it is the fencing token: a late outcome of an old attempt must never
        match a new one)."""
        o = t.outbox.c
        result = self.conn.execute(
            update(t.outbox)
            .where(o.workspace_id == workspace_id, o.id == delivery_id, o.status == FAILED)
            .values(
                status=PENDING,
                max_attempts=o.attempts + o.max_attempts,
                next_attempt_at=now,
                updated_at=now,
            )
        )
        return bool(result.rowcount == 1)

    def next_attempt_at(self) -> datetime | None:
        value = self.conn.execute(
            select(func.min(t.outbox.c.next_attempt_at)).where(t.outbox.c.status == PENDING)
        ).scalar()
        return (
            None
            if value is None
            else t.UTCDateTime().process_result_value(value, self.conn.dialect)
        )

    def list(
        self,
        workspace_id: int,
        *,
        status: str | None,
        record_id: int | None,
        run_id: int | None,
        before_id: int | None,
        limit: int,
    ) -> builtins.list[Any]:
        where = []
        if status is not None:
            where.append(t.outbox.c.status == status)
        if record_id is not None:
            where.append(t.outbox.c.record_id == record_id)
        if run_id is not None:
            where.append(t.outbox.c.run_id == run_id)
        return newest_first(
            self.conn, t.outbox, workspace_id, where, before_id=before_id, limit=limit
        )
