"""The shape of a new run row, in one place (enrollment, manual starts, timers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stageflow.automation.interpreter import RunState


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
