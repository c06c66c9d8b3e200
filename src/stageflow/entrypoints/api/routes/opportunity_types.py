"""`/api/v1/opportunity-types`: opportunity types with their states and sub-states (SPEC E1),
and each sub-state's automatic actions (E2-E7)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Path, Response

from stageflow.automation.substate_actions import CopyTo, NewSubstateAction, SubstateActionPatch
from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.services.authoring import substate_actions as actions
from stageflow.services.crm import opportunity_types as types
from stageflow.services.crm.opportunity_types import NewOpportunityType, OpportunityTypePatch

router = APIRouter()
T: list[str | Enum] = ["Opportunity types"]
A: list[str | Enum] = ["Sub-state actions"]
BASE = "/opportunity-types"
ACTIONS = BASE + "/{type_id}/substates/{substate}/actions"
Substate = Path(min_length=1, max_length=100, description="e.g. Pending documentation")


@router.get(BASE, tags=T, summary="Opportunity types, by name")
def list_types(caller: Caller = Depends(get_caller)) -> list[dict[str, Any]]:
    with caller.uow(read_only=True) as uow:
        return types.list_types(uow, caller.principal)


@router.post(BASE, tags=T, status_code=201, summary="Add a type (opportunity_states.edit)")
def create_type(cmd: NewOpportunityType, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow() as uow:
        type_id = types.create_type(uow, caller.principal, cmd)
        view = types.get_type(uow, caller.principal, type_id)
        uow.commit()
    return view


@router.get(BASE + "/{type_id}", tags=T, summary="One type")
def get_type(type_id: PathId, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        return types.get_type(uow, caller.principal, type_id)


@router.patch(
    BASE + "/{type_id}", tags=T, summary="Rename it, change its states or sub-states (lists whole)"
)
def update_type(
    type_id: PathId, cmd: OpportunityTypePatch, caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    with caller.uow() as uow:
        types.update_type(uow, caller.principal, type_id, cmd, caller.actor)
        view = types.get_type(uow, caller.principal, type_id)
        uow.commit()
    return view


@router.delete(
    BASE + "/{type_id}", tags=T, status_code=204, summary="Delete a type and its actions"
)
def delete_type(type_id: PathId, caller: Caller = Depends(get_caller)) -> Response:
    with caller.uow() as uow:
        types.delete_type(uow, caller.principal, type_id)
        uow.commit()
    return Response(status_code=204)


# Sub-state actions --------------------------------------------------------------------------


@router.get(ACTIONS, tags=A, summary="The sub-state's actions: on_open, on_close, scheduled")
def list_actions(
    type_id: PathId, substate: str = Substate, caller: Caller = Depends(get_caller)
) -> list[dict[str, Any]]:
    with caller.uow(read_only=True) as uow:
        return actions.list_actions(uow, caller.principal, type_id, substate)


@router.post(ACTIONS, tags=A, status_code=201, summary="Add an action to the sub-state")
def create_action(
    type_id: PathId,
    cmd: NewSubstateAction,
    substate: str = Substate,
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    with caller.uow() as uow:
        action_id = actions.create_action(
            uow, caller.principal, type_id, substate, cmd, caller.actor
        )
        view = actions.get_action(uow, caller.principal, type_id, substate, action_id)
        uow.commit()
    return view


@router.get(ACTIONS + "/{action_id}", tags=A, summary="One action")
def get_action(
    type_id: PathId,
    action_id: PathId,
    substate: str = Substate,
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        return actions.get_action(uow, caller.principal, type_id, substate, action_id)


@router.patch(ACTIONS + "/{action_id}", tags=A, summary="Change, move, switch off or on")
def update_action(
    type_id: PathId,
    action_id: PathId,
    cmd: SubstateActionPatch,
    substate: str = Substate,
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    with caller.uow() as uow:
        actions.update_action(
            uow, caller.principal, type_id, substate, action_id, cmd, caller.actor
        )
        view = actions.get_action(uow, caller.principal, type_id, substate, action_id)
        uow.commit()
    return view


@router.delete(
    ACTIONS + "/{action_id}",
    tags=A,
    status_code=204,
    summary="Delete an action (runs it started finish; nothing new starts)",
)
def delete_action(
    type_id: PathId,
    action_id: PathId,
    substate: str = Substate,
    caller: Caller = Depends(get_caller),
) -> Response:
    with caller.uow() as uow:
        actions.delete_action(uow, caller.principal, type_id, substate, action_id, caller.actor)
        uow.commit()
    return Response(status_code=204)


@router.post(
    ACTIONS + "/{action_id}/copy",
    tags=A,
    status_code=201,
    summary="Copy the action to a sub-state of another type",
)
def copy_action(
    type_id: PathId,
    action_id: PathId,
    cmd: CopyTo,
    substate: str = Substate,
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    with caller.uow() as uow:
        other, target, new_id = actions.copy_action(
            uow, caller.principal, type_id, substate, action_id, cmd, caller.actor
        )
        view = actions.get_action(uow, caller.principal, other, target, new_id)
        uow.commit()
    return view
