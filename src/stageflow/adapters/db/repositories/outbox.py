"""The outbox: external effects (webhooks, email, SMS) written in the transaction that decided
them and delivered afterwards, with retries (DESIGN "Workers and scale-out").

Two clocks meet here. ``next_attempt_at`` is when a delivery is due, on the application's
clock (virtual in a rehearsal, so retries show up as the rehearsal advances). ``leased_until``
is how long a courier holds a claimed delivery, on the real clock: moving virtual time forward
must never take a send in flight from its courier and give it to another. A courier that dies
mid-delivery leaves its lease to run out in real time; the row is then claimed again. The
attempt number is the fencing token: a lease is renewed, a hand-over marked and an outcome
written only while the row is still on the attempt that was claimed.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, or_, select, update

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

    def any_due(self, now: datetime, lease_now: datetime) -> bool:
        found = self.conn.execute(
            select(t.outbox.c.id).where(*_due(now, lease_now)).limit(1)
        ).first()
        return found is not None

    def claim_due(
        self, now: datetime, lease_now: datetime, lease_until: datetime, limit: int
    ) -> builtins.list[Any]:
        """Due deliveries nobody holds, oldest first; each is leased until ``lease_until``
        (real time) and its attempt counted. The caller commits at once and delivers outside
        the transaction."""
        o = t.outbox.c
        query = (
            select(o.id).where(*_due(now, lease_now)).order_by(o.next_attempt_at, o.id).limit(limit)
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
                .values(attempts=o.attempts + 1, leased_until=lease_until, updated_at=now)
                .returning(*t.outbox.c)
            )
        )

    def finish(self, delivery_id: int, attempt: int, values: dict[str, Any]) -> bool:
        """Write an attempt's outcome (and release the lease) if the row is still on that
        attempt."""
        result = self.conn.execute(
            update(t.outbox)
            .where(
                t.outbox.c.id == delivery_id,
                t.outbox.c.attempts == attempt,
                t.outbox.c.status == PENDING,
            )
            .values(leased_until=None, **values)
        )
        return bool(result.rowcount == 1)

    def renew(self, delivery_id: int, attempt: int, lease_until: datetime) -> bool:
        """Extend a claimed delivery's lease, if it is still on the attempt claimed."""
        o = t.outbox.c
        result = self.conn.execute(
            update(t.outbox)
            .where(o.id == delivery_id, o.attempts == attempt, o.status == PENDING)
            .values(leased_until=lease_until)
        )
        return bool(result.rowcount == 1)

    def hand_over(self, delivery_id: int, attempt: int, now: datetime) -> bool:
        """Mark a delivery as being handed to its receiver, if it is still on the attempt
        claimed and was never handed over before; the caller commits before sending."""
        o = t.outbox.c
        result = self.conn.execute(
            update(t.outbox)
            .where(
                o.id == delivery_id,
                o.attempts == attempt,
                o.status == PENDING,
                o.handed_over_at.is_(None),
            )
            .values(handed_over_at=now)
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
                leased_until=None,
                # A person asked for it again (having checked it did not arrive).
                handed_over_at=None,
                updated_at=now,
            )
        )
        return bool(result.rowcount == 1)

    def next_attempt_at(self, lease_now: datetime) -> datetime | None:
        """When the next delivery nobody holds falls due (a leased one is in a courier's
        hands: it is not waiting for the clock)."""
        o = t.outbox.c
        value = self.conn.execute(
            select(func.min(o.next_attempt_at)).where(o.status == PENDING, _unleased(lease_now))
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


def _unleased(lease_now: datetime) -> ColumnElement[bool]:
    o = t.outbox.c
    return or_(o.leased_until.is_(None), o.leased_until <= lease_now)


def _due(now: datetime, lease_now: datetime) -> tuple[ColumnElement[bool], ...]:
    o = t.outbox.c
    return (o.status == PENDING, o.next_attempt_at <= now, _unleased(lease_now))
