"""`/api/v1/notifications`: the caller's own in-app notifications (from notify_user)."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Depends, Query

from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.entrypoints.api.schemas import NotificationOut, PageOut
from stageflow.services.crm import notifications as service

router = APIRouter()
N: list[str | Enum] = ["Notifications"]


@router.get("/notifications", tags=N, summary="Your notifications, newest first")
def list_notifications(
    caller: Caller = Depends(get_caller),
    unread: bool = Query(False, description="Only the unread ones"),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> PageOut[NotificationOut]:
    with caller.uow(read_only=True) as uow:
        page = service.list_mine(uow, caller.principal, unread=unread, cursor=cursor, limit=limit)
        return PageOut[NotificationOut](
            items=[NotificationOut.of(r) for r in page.items], next_cursor=page.next_cursor
        )


@router.post("/notifications/{notification_id}/read", tags=N, summary="Mark one read")
def mark_read(notification_id: PathId, caller: Caller = Depends(get_caller)) -> NotificationOut:
    with caller.uow() as uow:
        row = service.mark_read(uow, caller.principal, notification_id)
        uow.commit()
    return NotificationOut.of(row)


@router.post("/notifications/read-all", tags=N, summary="Mark all of yours read")
def mark_all_read(caller: Caller = Depends(get_caller)) -> dict[str, int]:
    with caller.uow() as uow:
        marked = service.mark_all_read(uow, caller.principal)
        uow.commit()
    return {"marked": marked}
