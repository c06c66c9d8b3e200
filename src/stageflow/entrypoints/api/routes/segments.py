"""`/api/v1/segments`: saved filters and their members (SPEC L8)."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Depends, Query, Response

from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.entrypoints.api.routes.records import records_out
from stageflow.entrypoints.api.schemas import PageOut, RecordOut, SegmentOut
from stageflow.services.commands import CreateSegment, UpdateSegment
from stageflow.services.crm import segments as service

router = APIRouter()
S: list[str | Enum] = ["Segments"]


@router.get("/segments", tags=S, summary="Saved segments, by name")
def list_segments(caller: Caller = Depends(get_caller)) -> list[SegmentOut]:
    with caller.uow(read_only=True) as uow:
        return [SegmentOut.of(r) for r in uow.segments.list(caller.workspace_id)]


@router.post("/segments", tags=S, status_code=201, summary="Save a filter as a segment")
def create_segment(cmd: CreateSegment, caller: Caller = Depends(get_caller)) -> SegmentOut:
    with caller.uow() as uow:
        row = service.create(uow, caller.principal, cmd, caller.actor)
        uow.commit()
    return SegmentOut.of(row)


@router.get("/segments/{segment_id}", tags=S, summary="Read a segment")
def get_segment(segment_id: PathId, caller: Caller = Depends(get_caller)) -> SegmentOut:
    with caller.uow(read_only=True) as uow:
        return SegmentOut.of(service.get(uow, caller.principal, segment_id))


@router.patch("/segments/{segment_id}", tags=S, summary="Rename or change the filter")
def update_segment(
    segment_id: PathId, cmd: UpdateSegment, caller: Caller = Depends(get_caller)
) -> SegmentOut:
    with caller.uow() as uow:
        row = service.update(uow, caller.principal, segment_id, cmd, caller.actor)
        uow.commit()
    return SegmentOut.of(row)


@router.delete("/segments/{segment_id}", tags=S, status_code=204, summary="Delete a segment")
def delete_segment(segment_id: PathId, caller: Caller = Depends(get_caller)) -> Response:
    with caller.uow() as uow:
        service.delete(uow, caller.principal, segment_id, caller.actor)
        uow.commit()
    return Response(status_code=204)


@router.get(
    "/segments/{segment_id}/members",
    tags=S,
    summary="The records the segment matches now, newest first",
)
def members(
    segment_id: PathId,
    caller: Caller = Depends(get_caller),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> PageOut[RecordOut]:
    with caller.uow(read_only=True) as uow:
        _, page = service.members(uow, caller.principal, segment_id, cursor=cursor, limit=limit)
        return PageOut[RecordOut](items=records_out(uow, page.items), next_cursor=page.next_cursor)
