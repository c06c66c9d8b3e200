"""A user's own password: choosing one after a one-time password, and changing it.

The stored hash changes, so the web sessions that carry the old hash's fingerprint end
(``entrypoints/web/session.py``); the caller gives the user's current session a new cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stageflow.domain.errors import Conflict, NotFound, ValidationFailed
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.users import Principal
from stageflow.services.commands import ChangePassword
from stageflow.services.crm import security
from stageflow.services.unit_of_work import UnitOfWork

MIN_PASSWORD_LENGTH = 8  # as CreateUser's password

# choose_password or change_password
Change = Callable[[UnitOfWork, Principal, ChangePassword, Actor], None]


def choose_password(
    uow: UnitOfWork, principal: Principal, cmd: ChangePassword, actor: Actor
) -> None:
    """The first password of a user who signed in with a one-time password."""
    row = _own(uow, principal)
    if not row.must_change_password:
        raise Conflict(
            "your password is already your own: change it with your current password",
            field="current_password",
        )
    _set(uow, principal, row, cmd.new_password, actor)


def change_password(
    uow: UnitOfWork, principal: Principal, cmd: ChangePassword, actor: Actor
) -> None:
    """A user's new password, given the current one."""
    row = _own(uow, principal)
    if not security.verify_password(cmd.current_password, row.password_hash):
        raise ValidationFailed("the current password is not right", field="current_password")
    _set(uow, principal, row, cmd.new_password, actor)


def _own(uow: UnitOfWork, principal: Principal) -> Any:
    row = uow.users.get(principal.workspace_id, principal.user_id)
    if row is None or not row.active:
        raise NotFound("your account is not found or not active")
    return row


def _set(uow: UnitOfWork, principal: Principal, row: Any, password: str, actor: Actor) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="new_password"
        )
    if security.verify_password(password, row.password_hash):
        raise ValidationFailed(
            "choose a password different from the one you have now", field="new_password"
        )
    values = {"password_hash": security.hash_password(password), "must_change_password": False}
    uow.users.update(principal.workspace_id, row.id, values)
    uow.emit(
        [
            Event(
                EventType.USER_UPDATED,
                principal.workspace_id,
                actor,
                uow.clock.now(),
                data={"user_id": row.id, "password_changed": True},
            )
        ]
    )
