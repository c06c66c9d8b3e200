"""The virtual clock kept in the database (issue 13, defect 7).

A rehearsal in virtual time may span processes: ``stageflow serve --virtual-clock`` and
``stageflow worker`` processes on one PostgreSQL database. Each process reading its own
in-memory clock would schedule delays and stamp events in different times; so virtual "now"
is one row, which every process reads and the owner's advance moves. The row outlives
restarts, so a restarted server resumes where the rehearsal stood.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.engine import READ_ONLY, write_lock
from stageflow.domain.clock import VirtualClock

ROW = 1
DEFAULT_START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


class StoredVirtualClock(VirtualClock):
    """A virtual clock whose now is the database's ``virtual_clock`` row: every process on
    the database sees the same time. Only moves forward, and only when told."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(DEFAULT_START)
        self.engine = engine

    def now(self) -> datetime:
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{READ_ONLY: True})
            value = conn.execute(select(t.virtual_clock.c.now).where(t.virtual_clock.c.id == ROW))
            return _aware(value.scalar_one())

    def advance(self, by: timedelta) -> datetime:
        if by < timedelta(0):
            raise ValueError("a virtual clock never goes backwards")
        return self.set(self.now() + by)

    def set(self, to: datetime) -> datetime:
        if to.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        target = to.astimezone(UTC)
        c = t.virtual_clock.c
        lock = write_lock(self.engine)
        if lock is not None:
            lock.__enter__()
        try:
            with self.engine.begin() as conn:
                moved = conn.execute(
                    update(t.virtual_clock)
                    .where(c.id == ROW, c.now <= target)
                    .values(now=target, updated_at=target)
                ).rowcount
        finally:
            if lock is not None:
                lock.__exit__()
        if moved != 1:
            raise ValueError("a virtual clock never goes backwards")
        return target


def stored_clock(engine: Engine) -> StoredVirtualClock | None:
    """The database's virtual clock, if it runs in virtual time (None: real time, or a
    schema without the table yet)."""
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(**{READ_ONLY: True})
            found = conn.execute(
                select(t.virtual_clock.c.id).where(t.virtual_clock.c.id == ROW)
            ).first()
    except DBAPIError:
        return None
    return StoredVirtualClock(engine) if found is not None else None


def start_virtual_time(engine: Engine) -> StoredVirtualClock:
    """Put the database in virtual time (or find it there): the clock resumes where it stood,
    and a database that has none yet starts at 2026-01-01 09:00 UTC or at its newest event,
    whichever is later, so virtual time never starts before data already stored."""
    existing = stored_clock(engine)
    if existing is not None:
        return existing
    lock = write_lock(engine)
    if lock is not None:
        lock.__enter__()
    try:
        with engine.begin() as conn:
            newest = conn.execute(select(func.max(t.events.c.occurred_at))).scalar()
            start = max(DEFAULT_START, _aware(newest)) if newest is not None else DEFAULT_START
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(t.virtual_clock).values(id=ROW, now=start, updated_at=start)
                    )
            except IntegrityError:
                pass  # another process started virtual time at the same moment
    finally:
        if lock is not None:
            lock.__exit__()
    return StoredVirtualClock(engine)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
