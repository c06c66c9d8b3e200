"""The shape of a run row, in one place: a new one (enrollment, manual starts, timers) and a
claimed one as the worker reads it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from stageflow.automation.interpreter import RunState


class RunRow(NamedTuple):
    """A claimed run, copied out of the database row once.

    The worker reads a run's columns dozens of times per run; on a SQLAlchemy ``Row`` each
    read by name costs an AttributeError raised and formatted inside the row's
    ``__getattr__`` (about 3,000 instructions), on a named tuple a slot read.
    """

    id: int
    workspace_id: int
    automation_id: int
    version_id: int
    record_id: int | None
    trigger_event_id: int | None
    enrollment_key: str
    status: str
    state: dict[str, Any]
    wake_at: datetime | None
    wait_event: str | None
    resume_event: str | None
    bound_stage_id: int | None
    depth: int
    attempts: int
    error: str | None
    failed_step: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def run_rows(rows: Sequence[Any]) -> list[RunRow]:
    """Copy rows of ``runs`` (all its columns, in any order) into RunRows."""
    if not rows:
        return []
    columns = list(rows[0]._fields)
    pick = itemgetter(*(columns.index(name) for name in RunRow._fields))
    return [RunRow._make(pick(tuple(row))) for row in rows]


def new_run(
    workspace_id: int,
    automation_id: int,
    version_id: int,
    record_id: int | None,
    key: str,
    state: RunState,
    wake_at: datetime,
    now: datetime,
    *,
    event_id: int | None = None,
    depth: int = 0,
    bound_stage_id: int | None = None,
) -> dict[str, Any]:
    """A run waiting to start at ``wake_at``; ``key`` makes its enrollment idempotent."""
    return {
        "workspace_id": workspace_id,
        "automation_id": automation_id,
        "version_id": version_id,
        "record_id": record_id,
        "trigger_event_id": event_id,
        "enrollment_key": key,
        "status": "waiting",
        "state": state.to_json(),
        "wake_at": wake_at,
        "wait_event": None,
        "resume_event": None,
        "bound_stage_id": bound_stage_id,
        "depth": depth,
        "attempts": 0,
        "error": None,
        "failed_step": None,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }
