"""`/api/v1/lifecycle`: lifecycle and lost stages, the default stage, the dashboard (SPEC L)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Query

from stageflow.domain.users import Permission
from stageflow.entrypoints.api.deps import Caller, OptionalQueryId, PathId, get_caller
from stageflow.entrypoints.api.schemas import (
    DeletePreviewOut,
    LifecycleStageOut,
    LifecycleStagesOut,
)
from stageflow.services.commands import (
    Command,
    CreateLifecycleStage,
    DeleteLifecycleStage,
    Id,
    ReorderLifecycleStages,
    UpdateLifecycleStage,
)
from stageflow.services.crm import lifecycle as service
from stageflow.services.crm import lifecycle_dashboard
from stageflow.services.crm.lifecycle import DeletePreview

router = APIRouter()
L: list[str | Enum] = ["Lifecycle"]


class SetDefault(Command):
    stage_id: Id | None


def _preview(preview: DeletePreview) -> DeletePreviewOut:
    return DeletePreviewOut(
        stage=LifecycleStageOut.of(preview.stage),
        contacts=preview.contacts,
        companies=preview.companies,
        can_delete=preview.can_delete,
        reason=preview.reason,
    )


@router.get("/lifecycle/stages", tags=L, summary="Lifecycle and lost stages, in order")
def list_stages(caller: Caller = Depends(get_caller)) -> LifecycleStagesOut:
    with caller.uow(read_only=True) as uow:
        return LifecycleStagesOut.of(service.list_stages(uow, caller.principal))


@router.post(
    "/lifecycle/stages",
    tags=L,
    status_code=201,
    summary="Add a lifecycle or lost stage (at most 20 in total)",
)
def create_stage(
    cmd: CreateLifecycleStage, caller: Caller = Depends(get_caller)
) -> LifecycleStageOut:
    with caller.uow() as uow:
        stage = service.create_stage(uow, caller.principal, cmd, caller.actor)
        uow.commit()
    return LifecycleStageOut.of(stage)


@router.get("/lifecycle/stages/{stage_id}", tags=L, summary="Read a stage")
def get_stage(stage_id: PathId, caller: Caller = Depends(get_caller)) -> LifecycleStageOut:
    with caller.uow(read_only=True) as uow:
        return LifecycleStageOut.of(service.get_stage(uow, caller.principal, stage_id))


@router.patch(
    "/lifecycle/stages/{stage_id}",
    tags=L,
    summary="Rename, re-describe, change the emoji, make or unmake the default",
)
def update_stage(
    stage_id: PathId, cmd: UpdateLifecycleStage, caller: Caller = Depends(get_caller)
) -> LifecycleStageOut:
    with caller.uow() as uow:
        stage = service.update_stage(uow, caller.principal, stage_id, cmd, caller.actor)
        uow.commit()
    return LifecycleStageOut.of(stage)


@router.put(
    "/lifecycle/order",
    tags=L,
    summary="Reorder: every stage id in the new order",
)
def reorder(
    cmd: ReorderLifecycleStages, caller: Caller = Depends(get_caller)
) -> LifecycleStagesOut:
    with caller.uow() as uow:
        stages = service.reorder_stages(uow, caller.principal, cmd, caller.actor)
        uow.commit()
    return LifecycleStagesOut.of(stages)


@router.put(
    "/lifecycle/default",
    tags=L,
    summary="Make a stage the default of new contacts (null: no default)",
)
def set_default(cmd: SetDefault, caller: Caller = Depends(get_caller)) -> LifecycleStagesOut:
    with caller.uow() as uow:
        service.set_default(uow, caller.principal, cmd.stage_id, caller.actor)
        stages = service.list_stages(uow, caller.principal)
        uow.commit()
    return LifecycleStagesOut.of(stages)


@router.get(
    "/lifecycle/stages/{stage_id}/delete-preview",
    tags=L,
    summary="How many contacts and companies use a stage, and whether it may be deleted",
)
def delete_preview(stage_id: PathId, caller: Caller = Depends(get_caller)) -> DeletePreviewOut:
    with caller.uow(read_only=True) as uow:
        return _preview(service.delete_preview(uow, caller.principal, stage_id))


@router.delete(
    "/lifecycle/stages/{stage_id}",
    tags=L,
    summary="Delete a stage, moving its contacts to move_to or clearing them (clear=true)",
)
def delete_stage(
    stage_id: PathId,
    caller: Caller = Depends(get_caller),
    move_to: OptionalQueryId = None,
    clear: bool = Query(False, description="Clear the contacts' stage instead of moving them"),
) -> DeletePreviewOut:
    with caller.uow() as uow:
        preview = service.delete_stage(
            uow,
            caller.principal,
            stage_id,
            DeleteLifecycleStage(move_to=move_to, clear=clear),
            caller.actor,
        )
        uow.commit()
    return _preview(preview)


@router.get(
    "/dashboard/lifecycle",
    tags=L,
    summary="Live counts per stage and the last 30 days' stage-to-stage changes",
)
def dashboard(caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        return lifecycle_dashboard.dashboard(uow, caller.principal)


@router.post(
    "/lifecycle/recount",
    tags=L,
    summary="Rebuild the dashboard counts from the data (a repair tool)",
)
def recount(caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    caller.principal.require(Permission.LIFECYCLE_EDIT)
    with caller.uow() as uow:
        differing = lifecycle_dashboard.recount(uow, caller.workspace_id)
        uow.commit()
    return {"stages_corrected": differing}
