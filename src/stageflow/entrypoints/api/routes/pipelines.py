"""`/api/v1/pipelines`, stages, `/api/v1/fields/{object}` and `/api/v1/picklists`."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Depends, Response

from stageflow.domain.records import ObjectType
from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.entrypoints.api.schemas import FieldOut, PipelineOut, StageOut
from stageflow.services.commands import (
    CreatePipeline,
    CreateStage,
    DefineField,
    PicklistOption,
    PutPicklist,
    UpdatePipeline,
    UpdateStage,
)
from stageflow.services.crm import pipelines as service
from stageflow.services.crm.records import field_definitions

router = APIRouter()
P: list[str | Enum] = ["Pipelines"]


@router.get("/pipelines", tags=P, summary="List pipelines with their stages")
def list_pipelines(
    caller: Caller = Depends(get_caller), object_type: ObjectType | None = None
) -> list[PipelineOut]:
    with caller.uow(read_only=True) as uow:
        pipelines = uow.pipelines.list(caller.workspace_id, object_type)
    return [PipelineOut.of(p) for p in pipelines]


@router.post("/pipelines", tags=P, status_code=201, summary="Create a pipeline")
def create_pipeline(cmd: CreatePipeline, caller: Caller = Depends(get_caller)) -> PipelineOut:
    with caller.uow() as uow:
        pipeline = service.create_pipeline(uow, caller.principal, cmd, caller.actor)
        uow.commit()
    return PipelineOut.of(pipeline)


@router.get("/pipelines/{pipeline_id}", tags=P, summary="Read a pipeline")
def get_pipeline(pipeline_id: PathId, caller: Caller = Depends(get_caller)) -> PipelineOut:
    with caller.uow(read_only=True) as uow:
        return PipelineOut.of(service.get_pipeline(uow, caller.principal, pipeline_id))


@router.patch("/pipelines/{pipeline_id}", tags=P, summary="Rename or make default")
def update_pipeline(
    pipeline_id: PathId, cmd: UpdatePipeline, caller: Caller = Depends(get_caller)
) -> PipelineOut:
    with caller.uow() as uow:
        pipeline = service.update_pipeline(uow, caller.principal, pipeline_id, cmd, caller.actor)
        uow.commit()
    return PipelineOut.of(pipeline)


@router.delete(
    "/pipelines/{pipeline_id}",
    tags=P,
    status_code=204,
    summary="Delete an empty, non-default pipeline",
)
def delete_pipeline(pipeline_id: PathId, caller: Caller = Depends(get_caller)) -> Response:
    with caller.uow() as uow:
        service.delete_pipeline(uow, caller.principal, pipeline_id, caller.actor)
        uow.commit()
    return Response(status_code=204)


@router.post("/pipelines/{pipeline_id}/stages", tags=P, status_code=201, summary="Add a stage")
def add_stage(
    pipeline_id: PathId, cmd: CreateStage, caller: Caller = Depends(get_caller)
) -> StageOut:
    with caller.uow() as uow:
        stage = service.add_stage(uow, caller.principal, pipeline_id, cmd, caller.actor)
        uow.commit()
    assert stage.id is not None
    return StageOut(id=stage.id, name=stage.name, kind=stage.kind.value, position=stage.position)


@router.patch(
    "/pipelines/{pipeline_id}/stages/{stage_id}",
    tags=P,
    summary="Rename, re-kind or reorder a stage",
)
def update_stage(
    pipeline_id: PathId, stage_id: PathId, cmd: UpdateStage, caller: Caller = Depends(get_caller)
) -> StageOut:
    with caller.uow() as uow:
        stage = service.update_stage(
            uow, caller.principal, pipeline_id, stage_id, cmd, caller.actor
        )
        uow.commit()
    return StageOut(id=stage_id, name=stage.name, kind=stage.kind.value, position=stage.position)


@router.delete(
    "/pipelines/{pipeline_id}/stages/{stage_id}",
    tags=P,
    status_code=204,
    summary="Delete a stage no record is in",
)
def delete_stage(
    pipeline_id: PathId, stage_id: PathId, caller: Caller = Depends(get_caller)
) -> Response:
    with caller.uow() as uow:
        service.delete_stage(uow, caller.principal, pipeline_id, stage_id, caller.actor)
        uow.commit()
    return Response(status_code=204)


F: list[str | Enum] = ["Fields"]


@router.get("/fields/{object_type}", tags=F, summary="Built-in and custom fields of a type")
def list_fields(object_type: ObjectType, caller: Caller = Depends(get_caller)) -> list[FieldOut]:
    with caller.uow(read_only=True) as uow:
        definitions = field_definitions(uow, caller.workspace_id, object_type)
    return [FieldOut.of(f) for f in definitions.values()]


@router.post("/fields/{object_type}", tags=F, status_code=201, summary="Declare a custom field")
def define_field(
    object_type: ObjectType, cmd: DefineField, caller: Caller = Depends(get_caller)
) -> FieldOut:
    with caller.uow() as uow:
        field = service.define_field(uow, caller.principal, object_type, cmd, caller.actor)
        uow.commit()
    return FieldOut.of(field)


@router.delete(
    "/fields/{object_type}/{key}",
    tags=F,
    status_code=204,
    summary="Remove a custom field declaration (stored values stay in events)",
)
def undefine_field(
    object_type: ObjectType, key: str, caller: Caller = Depends(get_caller)
) -> Response:
    with caller.uow() as uow:
        service.undefine_field(uow, caller.principal, object_type, key, caller.actor)
        uow.commit()
    return Response(status_code=204)


K: list[str | Enum] = ["Picklists"]


@router.get("/picklists", tags=K, summary="All picklists and their options")
def list_picklists(caller: Caller = Depends(get_caller)) -> dict[str, list[PicklistOption]]:
    with caller.uow(read_only=True) as uow:
        picklists = uow.picklists.all(caller.workspace_id)
    return {k: [PicklistOption(**o) for o in v] for k, v in picklists.items()}


@router.put("/picklists/{key}", tags=K, summary="Replace a picklist's options")
def put_picklist(
    key: str, cmd: PutPicklist, caller: Caller = Depends(get_caller)
) -> list[PicklistOption]:
    with caller.uow() as uow:
        options = service.put_picklist(uow, caller.principal, key, cmd, caller.actor)
        uow.commit()
    return [PicklistOption(**o) for o in options]
