"""`/api/v1/pipelines/{id}/stages/{id}/rules`: a stage's automation rules (SPEC B1-B6)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Response

from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.services.authoring import stage_rules as service
from stageflow.services.authoring.stage_rules import NewRule, RulePatch

router = APIRouter()
T: list[str | Enum] = ["Stage rules"]
BASE = "/pipelines/{pipeline_id}/stages/{stage_id}/rules"


@router.get(BASE, tags=T, summary="The stage's rules, in the order they run")
def list_rules(
    pipeline_id: PathId, stage_id: PathId, caller: Caller = Depends(get_caller)
) -> list[dict[str, Any]]:
    with caller.uow(read_only=True) as uow:
        return service.list_rules(uow, caller.principal, pipeline_id, stage_id)


@router.post(
    BASE,
    tags=T,
    status_code=201,
    summary="Add a rule (it runs for records entering the stage from now on)",
)
def create_rule(
    pipeline_id: PathId, stage_id: PathId, cmd: NewRule, caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    with caller.uow() as uow:
        rule_id = service.create_rule(
            uow, caller.principal, pipeline_id, stage_id, cmd, caller.actor
        )
        view = service.get_rule(uow, caller.principal, pipeline_id, stage_id, rule_id)
        uow.commit()
    return view


@router.get(BASE + "/{rule_id}", tags=T, summary="One rule")
def get_rule(
    pipeline_id: PathId, stage_id: PathId, rule_id: PathId, caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        return service.get_rule(uow, caller.principal, pipeline_id, stage_id, rule_id)


@router.patch(BASE + "/{rule_id}", tags=T, summary="Change, move, switch off or on a rule")
def update_rule(
    pipeline_id: PathId,
    stage_id: PathId,
    rule_id: PathId,
    cmd: RulePatch,
    caller: Caller = Depends(get_caller),
) -> dict[str, Any]:
    with caller.uow() as uow:
        service.update_rule(
            uow, caller.principal, pipeline_id, stage_id, rule_id, cmd, caller.actor
        )
        view = service.get_rule(uow, caller.principal, pipeline_id, stage_id, rule_id)
        uow.commit()
    return view


@router.delete(
    BASE + "/{rule_id}",
    tags=T,
    status_code=204,
    summary="Delete a rule (runs it started finish; nothing new starts)",
)
def delete_rule(
    pipeline_id: PathId, stage_id: PathId, rule_id: PathId, caller: Caller = Depends(get_caller)
) -> Response:
    with caller.uow() as uow:
        service.delete_rule(uow, caller.principal, pipeline_id, stage_id, rule_id, caller.actor)
        uow.commit()
    return Response(status_code=204)
