"""`/api/v1/me`, `/api/v1/users` and `/api/v1/tokens`."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Depends, Response

from stageflow.domain.errors import NotFound
from stageflow.domain.users import Permission
from stageflow.entrypoints.api.deps import Caller, PathId, get_caller
from stageflow.entrypoints.api.schemas import NewTokenOut, TokenOut, UserOut
from stageflow.services.commands import (
    CreateToken,
    CreateUser,
    UpdateUser,
    UpdateWorkspaceSettings,
)
from stageflow.services.crm import workspaces as service

router = APIRouter()
U: list[str | Enum] = ["Users and tokens"]


@router.get("/me", tags=U, summary="The caller, their workspace and permissions")
def me(caller: Caller = Depends(get_caller)) -> dict[str, object]:
    with caller.uow(read_only=True) as uow:
        user = uow.users.get(caller.workspace_id, caller.principal.user_id)
        workspace = uow.workspaces.get(caller.workspace_id)
    assert user is not None and workspace is not None
    return {
        "user": UserOut.of(user).model_dump(mode="json"),
        "workspace": {
            "id": workspace.id,
            "name": workspace.name,
            "slug": workspace.slug,
            "settings": workspace.settings,
        },
        "permissions": sorted(p.value for p in caller.principal.permissions),
    }


@router.patch(
    "/workspace/settings",
    tags=U,
    summary="Time zone, business hours, holidays, lifecycle shown or hidden, company sync",
)
def update_settings(
    cmd: UpdateWorkspaceSettings, caller: Caller = Depends(get_caller)
) -> dict[str, object]:
    with caller.uow() as uow:
        settings = service.update_settings(uow, caller.principal, cmd, caller.actor)
        uow.commit()
    return settings


@router.get("/users", tags=U, summary="Users of the workspace")
def list_users(caller: Caller = Depends(get_caller)) -> list[UserOut]:
    with caller.uow(read_only=True) as uow:
        return [UserOut.of(r) for r in uow.users.list(caller.workspace_id)]


@router.post("/users", tags=U, status_code=201, summary="Add a user")
def create_user(cmd: CreateUser, caller: Caller = Depends(get_caller)) -> UserOut:
    with caller.uow() as uow:
        user_id = service.add_user(uow, caller.principal, cmd, caller.actor)
        row = uow.users.get(caller.workspace_id, user_id)
        uow.commit()
    return UserOut.of(row)


@router.get("/users/{user_id}", tags=U, summary="Read a user")
def get_user(user_id: PathId, caller: Caller = Depends(get_caller)) -> UserOut:
    with caller.uow(read_only=True) as uow:
        row = uow.users.get(caller.workspace_id, user_id)
    if row is None:
        raise NotFound(f"user {user_id} not found")
    return UserOut.of(row)


@router.patch("/users/{user_id}", tags=U, summary="Change a user's role, permissions or status")
def update_user(user_id: PathId, cmd: UpdateUser, caller: Caller = Depends(get_caller)) -> UserOut:
    with caller.uow() as uow:
        service.update_user(uow, caller.principal, user_id, cmd, caller.actor)
        row = uow.users.get(caller.workspace_id, user_id)
        uow.commit()
    return UserOut.of(row)


@router.get("/tokens", tags=U, summary="API tokens (never their secrets)")
def list_tokens(caller: Caller = Depends(get_caller)) -> list[TokenOut]:
    with caller.uow(read_only=True) as uow:
        rows = uow.tokens.list(caller.workspace_id)
    if not caller.principal.has(Permission.TOKENS_MANAGE):
        rows = [r for r in rows if r.user_id == caller.principal.user_id]
    return [TokenOut.of(r) for r in rows]


@router.post("/tokens", tags=U, status_code=201, summary="Create an API token")
def create_token(cmd: CreateToken, caller: Caller = Depends(get_caller)) -> NewTokenOut:
    user_id = cmd.user_id if cmd.user_id is not None else caller.principal.user_id
    with caller.uow() as uow:
        secret = service.issue_token(uow, caller.principal, user_id, cmd, caller.actor)
        uow.commit()
    return NewTokenOut(token=secret, user_id=user_id)


@router.delete("/tokens/{token_id}", tags=U, status_code=204, summary="Revoke an API token")
def revoke_token(token_id: PathId, caller: Caller = Depends(get_caller)) -> Response:
    with caller.uow() as uow:
        service.revoke_token(uow, caller.principal, token_id, caller.actor)
        uow.commit()
    return Response(status_code=204)
