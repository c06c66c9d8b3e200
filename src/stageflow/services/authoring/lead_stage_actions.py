"""A lead stage's custom actions (SPEC H8): added, edited, commented and deleted one at a time
(or with all after it), kept as one workflow per lead stage that opens in the workflow API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stageflow.domain.errors import NotFound, ValidationFailed
from stageflow.domain.events import Actor, EventType
from stageflow.domain.pipelines import Pipeline, Stage
from stageflow.domain.users import Permission, Principal
from stageflow.services.authoring.automations import archive_compiled, put_compiled
from stageflow.services.authoring.lead_automation import (
    KIND,
    lead_pipeline,
    lead_stage,
    store_settings,
    stored_settings,
)
from stageflow.services.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class _StageActions:
    """A lead stage's custom actions as read: what saving them again needs."""

    pipeline: Pipeline
    stage: Stage
    stored: dict[str, Any]
    automation_id: int | None
    steps: list[dict[str, Any]]


def _read_stage(
    uow: UnitOfWork, principal: Principal, stage_id: int, *, editing: bool = False
) -> _StageActions:
    if editing:
        principal.require(Permission.LEAD_AUTOMATION_EDIT)
    pipeline = lead_pipeline(uow, principal.workspace_id)
    stage = lead_stage(pipeline, stage_id)
    stored = stored_settings(uow, principal.workspace_id, for_update=editing)
    automation_id = stored.get("stages", {}).get(str(stage_id))
    row = uow.automations.get(principal.workspace_id, automation_id) if automation_id else None
    steps = list(row.draft["steps"]) if row is not None else []
    return _StageActions(pipeline, stage, stored, automation_id, steps)


def stage_actions(uow: UnitOfWork, principal: Principal, stage_id: int) -> dict[str, Any]:
    found = _read_stage(uow, principal, stage_id)
    return {"stage_id": stage_id, "automation_id": found.automation_id, "actions": found.steps}


def add_action(
    uow: UnitOfWork, principal: Principal, stage_id: int, step: dict[str, Any], actor: Actor
) -> str:
    """Add a step (at ``position``, default last); returns its id."""
    found = _read_stage(uow, principal, stage_id, editing=True)
    steps = found.steps
    step = dict(step)
    position = step.pop("position", None)
    if not isinstance(position, int | None) or (position is not None and position < 1):
        raise ValidationFailed("position is a whole number from 1", field="position")
    taken = {s["id"] for s in steps}
    if "id" not in step:
        step["id"] = next(f"a{n}" for n in range(1, len(taken) + 2) if f"a{n}" not in taken)
    elif step["id"] in taken:
        raise ValidationFailed(f"the stage already has an action '{step['id']}'", field="id")
    at = len(steps) if position is None else min(position - 1, len(steps))
    _save_stage(uow, principal, found, [*steps[:at], step, *steps[at:]], actor)
    return str(step["id"])


def edit_action(
    uow: UnitOfWork,
    principal: Principal,
    stage_id: int,
    step_id: str,
    changes: dict[str, Any],
    actor: Actor,
) -> None:
    """Change a step: the keys given replace the step's (settings, comment, name, …)."""
    found = _read_stage(uow, principal, stage_id, editing=True)
    steps = found.steps
    index = _index(steps, step_id)
    if "id" in changes and changes["id"] != step_id:
        raise ValidationFailed("an action keeps its id", field="id")
    steps[index] = {**steps[index], **changes}
    _save_stage(uow, principal, found, steps, actor)


def delete_action(
    uow: UnitOfWork,
    principal: Principal,
    stage_id: int,
    step_id: str,
    actor: Actor,
    *,
    and_following: bool = False,
) -> int:
    """Delete a step, or it and every step after it; returns how many went."""
    found = _read_stage(uow, principal, stage_id, editing=True)
    steps = found.steps
    index = _index(steps, step_id)
    kept = steps[:index] if and_following else steps[:index] + steps[index + 1 :]
    _save_stage(uow, principal, found, kept, actor)
    return len(steps) - len(kept)


def _save_stage(
    uow: UnitOfWork,
    principal: Principal,
    found: _StageActions,
    steps: list[dict[str, Any]],
    actor: Actor,
) -> None:
    ws, key = principal.workspace_id, str(found.stage.id)
    stages = dict(found.stored.get("stages", {}))
    if not steps:
        if found.automation_id is not None:
            archive_compiled(uow, ws, [found.automation_id])
            stages.pop(key)
    else:
        trigger = {
            "type": "stage_entered",
            "object_type": "lead",
            "pipeline_id": found.pipeline.id,
            "stage_id": found.stage.id,
        }
        stages[key] = put_compiled(
            uow,
            ws,
            found.automation_id,
            name=f"Lead stage {found.stage.name}: custom actions",
            kind=KIND,
            raw={"trigger": trigger, "steps": steps},
            actor=actor,
        )
    store_settings(uow, ws, {**found.stored, "stages": stages})
    uow.emit_config(ws, actor, EventType.LEAD_AUTOMATION_SAVED, stage_id=found.stage.id)


def _index(steps: list[dict[str, Any]], step_id: str) -> int:
    for index, step in enumerate(steps):
        if step.get("id") == step_id:
            return index
    raise NotFound(f"the stage has no action '{step_id}'")
