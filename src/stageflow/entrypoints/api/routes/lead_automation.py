"""`/api/v1/lead-automation`: the lead pipeline's built-in automations and per-stage custom
actions (SPEC H1-H9)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query

from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.services.authoring import lead_automation as service
from stageflow.services.authoring import lead_stage_actions as stage_actions

router = APIRouter()
T: list[str | Enum] = ["Lead automation"]
StepId = Path(min_length=1, max_length=63, description="The action's step id")
ACTIONS = "/lead-automation/stages/{stage_id}/actions"


@router.get("/lead-automation", tags=T, summary="The built-in lead automations and their settings")
def get_settings(caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        return service.view(uow, caller.principal)


@router.patch(
    "/lead-automation",
    tags=T,
    summary="Switch built-in lead automations on or off and configure them",
    description="Each section given (attempting, connected, create_lead, follow_up_lead) is "
    "merged into the stored one. Needs `lead_automation.edit` (owner, admin).",
)
def update_settings(
    changes: dict[str, Any] = Body(
        examples=[{"attempting": {"enabled": False}, "follow_up_lead": {"enabled": True}}]
    ),
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    with caller.uow() as uow:
        service.update(uow, caller.principal, changes, caller.actor)
        view = service.view(uow, caller.principal)
        uow.commit()
    return view


@router.get(ACTIONS, tags=T, summary="A lead stage's custom actions, in order")
def list_actions(stage_id: PathId, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        return stage_actions.stage_actions(uow, caller.principal, stage_id)


@router.post(
    ACTIONS,
    tags=T,
    status_code=201,
    summary="Add an action (a workflow step: action, delay, branch, …) to a lead stage",
)
def add_action(
    stage_id: PathId,
    step: dict[str, Any] = Body(
        examples=[
            {
                "type": "action",
                "action": "create_task",
                "settings": {"subject": "Call {{ record.name }}", "due_in": "P1D"},
                "comment": "Sales asked for this",
            }
        ]
    ),
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    with caller.uow() as uow:
        stage_actions.add_action(uow, caller.principal, stage_id, step, caller.actor)
        view = stage_actions.stage_actions(uow, caller.principal, stage_id)
        uow.commit()
    return view


@router.patch(
    ACTIONS + "/{step_id}",
    tags=T,
    summary="Edit an action or comment on it (the keys given replace the action's)",
)
def edit_action(
    stage_id: PathId,
    step_id: str = StepId,
    changes: dict[str, Any] = Body(examples=[{"comment": "Only for inbound leads"}]),
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    with caller.uow() as uow:
        stage_actions.edit_action(uow, caller.principal, stage_id, step_id, changes, caller.actor)
        view = stage_actions.stage_actions(uow, caller.principal, stage_id)
        uow.commit()
    return view


@router.delete(
    ACTIONS + "/{step_id}",
    tags=T,
    summary="Delete an action, or it and all the actions after it",
)
def delete_action(
    stage_id: PathId,
    step_id: str = StepId,
    and_following: bool = Query(False, description="Also delete every action after it"),
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    with caller.uow() as uow:
        deleted = stage_actions.delete_action(
            uow, caller.principal, stage_id, step_id, caller.actor, and_following=and_following
        )
        view = stage_actions.stage_actions(uow, caller.principal, stage_id)
        uow.commit()
    return {**view, "deleted": deleted}
