"""`/api/v1/activities`: log, read, update and list tasks, calls, meetings, emails, notes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from stageflow.domain.activities import ActivityStatus, ActivityType
from stageflow.entrypoints.api.deps import Caller, OptionalQueryId, PathId, get_caller
from stageflow.entrypoints.api.schemas import ActivityOut, PageOut
from stageflow.services.commands import CreateActivity, UpdateActivity
from stageflow.services.crm import activities as service

router = APIRouter(prefix="/activities", tags=["Activities"])


@router.post("", status_code=201, summary="Log an activity on a record")
def log_activity(cmd: CreateActivity, caller: Caller = Depends(get_caller)) -> ActivityOut:
    with caller.uow() as uow:
        activity = service.log_activity(uow, caller.principal, cmd, caller.actor)
        uow.commit()
    return ActivityOut.of(activity)


@router.get("", summary="List activities (newest first)")
def list_activities(
    caller: Caller = Depends(get_caller),
    record_id: int | None = None,
    responsible_id: OptionalQueryId = None,
    status: ActivityStatus | None = None,
    type: ActivityType | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> PageOut[ActivityOut]:
    with caller.uow(read_only=True) as uow:
        page = service.list_activities(
            uow,
            caller.principal,
            record_id=record_id,
            responsible_id=responsible_id,
            status=status,
            type_=type,
            cursor=cursor,
            limit=limit,
        )
    return PageOut[ActivityOut](
        items=[ActivityOut.of(a) for a in page.items], next_cursor=page.next_cursor
    )


@router.get("/{activity_id}", summary="Read an activity")
def get_activity(activity_id: PathId, caller: Caller = Depends(get_caller)) -> ActivityOut:
    with caller.uow(read_only=True) as uow:
        return ActivityOut.of(service.get_activity(uow, caller.principal, activity_id))


@router.patch("/{activity_id}", summary="Update or complete an activity")
def update_activity(
    activity_id: PathId, cmd: UpdateActivity, caller: Caller = Depends(get_caller)
) -> ActivityOut:
    with caller.uow() as uow:
        activity = service.update_activity(uow, caller.principal, activity_id, cmd, caller.actor)
        uow.commit()
    return ActivityOut.of(activity)
