"""A user's own in-app notifications."""

from __future__ import annotations

from typing import Any

from stageflow.domain.errors import NotFound
from stageflow.domain.users import Principal
from stageflow.services.pagination import Page, check_limit, decode_cursor, page_of
from stageflow.services.unit_of_work import UnitOfWork


def list_mine(
    uow: UnitOfWork, principal: Principal, *, unread: bool, cursor: str | None, limit: int
) -> Page[Any]:
    rows = uow.notifications.list(
        principal.workspace_id,
        principal.user_id,
        unread=unread,
        before_id=decode_cursor(cursor),
        limit=check_limit(limit) + 1,
    )
    return page_of(rows, limit)


def mark_read(uow: UnitOfWork, principal: Principal, notification_id: int) -> Any:
    ws, user = principal.workspace_id, principal.user_id
    if uow.notifications.get(ws, user, notification_id) is None:
        raise NotFound(f"notification {notification_id} not found")
    uow.notifications.mark_read(ws, user, uow.clock.now(), notification_id)
    return uow.notifications.get(ws, user, notification_id)


def mark_all_read(uow: UnitOfWork, principal: Principal) -> int:
    return uow.notifications.mark_read(principal.workspace_id, principal.user_id, uow.clock.now())
