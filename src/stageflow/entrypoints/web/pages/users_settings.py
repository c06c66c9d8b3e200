"""Users and tokens (owners and admins): add users with a role and a password shown once,
change roles, extra permissions and who is active, create API tokens (shown once) and revoke
them. Everything goes through ``services.crm.workspaces`` with the API's permissions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from stageflow.domain.errors import PermissionDenied, StageflowError, first_problem
from stageflow.domain.users import ROLE_PERMISSIONS, Permission, Role
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id
from stageflow.entrypoints.web.pages.htmx_helpers import (
    refused,
    refused_page,
    retarget,
    sentence,
    when,
    with_toast,
    workspace_zone,
)
from stageflow.entrypoints.web.render import page
from stageflow.services.commands import CreateToken, CreateUser, UpdateUser
from stageflow.services.crm import security, workspaces

router = APIRouter()
PATH = "/settings/users"
CSRF = [Depends(require_csrf)]
ROLE_HINTS = {
    Role.OWNER: "everything, including other owners",
    Role.ADMIN: "everything but changing owners",
    Role.MANAGER: "sees and edits every record, edits automations",
    Role.AGENT: "sees and edits their own and unassigned records",
}


def _require_manager(user: WebUser) -> None:
    user.principal.require(Permission.USERS_MANAGE)


def _context(user: WebUser, **extra: Any) -> dict[str, Any]:
    with user.uow(read_only=True) as uow:
        users = workspaces.list_users(uow, user.principal)
        tokens = workspaces.list_tokens(uow, user.principal)
        targets = workspaces.token_targets(uow, user.principal)
        zone = workspace_zone(uow, user.principal.workspace_id)
        now = uow.clock.now()
    names = {u.id: u.name for u in users}
    return {
        "users": sorted(users, key=lambda u: (not u.active, u.name.lower())),
        "tokens": [
            {
                "id": t.id,
                "name": t.name,
                "user": names.get(t.user_id, "a removed user"),
                "prefix": t.prefix,
                "created": when(t.created_at, zone, now),
                "revoked": when(t.revoked_at, zone, now) if t.revoked_at else None,
            }
            for t in sorted(tokens, key=lambda t: (t.revoked_at is not None, -t.id))
        ],
        "targets": targets,
        "roles": list(Role),
        "role_hints": ROLE_HINTS,
        "role_permissions": {r.value: ROLE_PERMISSIONS[r] for r in Role},
        "permissions": list(Permission),
        "is_owner": user.principal.role is Role.OWNER,
        **extra,
    }


@router.get(PATH, response_class=HTMLResponse)
def users_page(request: Request, user: WebUser = Depends(signed_in_user)) -> Response:
    try:
        _require_manager(user)
    except PermissionDenied as exc:
        return refused_page(request, user, exc)
    return page(request, "settings_users.html", _context(user), user=user)


def _users_body(request: Request, user: WebUser, toast: str, **extra: Any) -> Response:
    response = page(request, "partials/users_body.html", _context(user, **extra), user=user)
    return with_toast(response, toast, closeDialog=True)


@router.post(PATH, dependencies=CSRF, response_class=HTMLResponse)
def add_user(
    request: Request,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    role: Annotated[Role, Form()] = Role.AGENT,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    values = {"name": name, "email": email, "role": role.value}
    password = security.new_password()
    try:
        try:
            cmd = CreateUser(name=name.strip(), email=email.strip(), role=role, password=password)
        except ValidationError as exc:
            raise first_problem(exc, named=False) from None
        with user.uow() as uow:
            workspaces.add_user(uow, user.principal, cmd, user.actor, one_time_password=True)
            uow.commit()
    except StageflowError as exc:
        field = exc.field if exc.field in ("name", "email", "role") else "form"
        if isinstance(exc, PermissionDenied) and field == "form":
            field = "role"
        message = (
            "Write an email address like name@example.com"
            if field == "email" and ("pattern" in exc.message or "match" in exc.message)
            else sentence(exc.message)
        )
        return page(
            request,
            "partials/add_user_form.html",
            {"values": values, "errors": {field: message}, "roles": list(Role)},
            user=user,
            status=422,
        )
    created = {"name": cmd.name, "email": cmd.email, "password": password}
    response = _users_body(request, user, f"Added {cmd.name} as {role.value}", created=created)
    return retarget(response, "#users-body")


def _name_of(uow: Any, user: WebUser, user_id: int) -> str:
    users = workspaces.list_users(uow, user.principal)
    return next((u.name for u in users if u.id == user_id), "the user")


@router.post(PATH + "/{user_id:int}", dependencies=CSRF, response_class=HTMLResponse)
def update_user(
    request: Request,
    user_id: int,
    role: Annotated[Role, Form()],
    permissions: Annotated[list[str] | None, Form()] = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    try:
        with user.uow() as uow:
            workspaces.update_user(
                uow,
                user.principal,
                user_id,
                UpdateUser(role=role, permissions=permissions or []),
                user.actor,
            )
            name = next(
                u.name for u in workspaces.list_users(uow, user.principal) if u.id == user_id
            )
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    return _users_body(request, user, f"Saved {name}: {role.value}")


@router.post(PATH + "/{user_id:int}/active", dependencies=CSRF, response_class=HTMLResponse)
def set_active(
    request: Request,
    user_id: int,
    active: Annotated[bool, Form()],
    user: WebUser = Depends(signed_in_user),
) -> Response:
    if user_id == user.principal.user_id and not active:
        return refused("You cannot deactivate yourself; ask another owner or admin", 409)
    try:
        with user.uow() as uow:
            workspaces.update_user(
                uow, user.principal, user_id, UpdateUser(active=active), user.actor
            )
            name = next(
                u.name for u in workspaces.list_users(uow, user.principal) if u.id == user_id
            )
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    verb = "Reactivated" if active else "Deactivated"
    return _users_body(request, user, f"{verb} {name}")


@router.post(PATH + "/tokens", dependencies=CSRF, response_class=HTMLResponse)
def create_token(
    request: Request,
    name: Annotated[str, Form()] = "",
    user_id: Annotated[str, Form()] = "",
    user: WebUser = Depends(signed_in_user),
) -> Response:
    owner = parse_id(user_id) or user.principal.user_id
    try:
        if not name.strip():
            raise StageflowError("give the token a name, e.g. 'Website form'", field="name")
        with user.uow() as uow:
            secret = workspaces.issue_token(
                uow, user.principal, owner, CreateToken(name=name.strip()), user.actor
            )
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status if exc.status != 400 else 422)
    new_token = {"name": name.strip(), "secret": secret}
    return retarget(
        _users_body(request, user, f"Created the token '{name.strip()}'", new_token=new_token),
        "#users-body",
    )


@router.post(PATH + "/tokens/{token_id}/revoke", dependencies=CSRF, response_class=HTMLResponse)
def revoke_token(
    request: Request, token_id: int, user: WebUser = Depends(signed_in_user)
) -> Response:
    try:
        with user.uow() as uow:
            workspaces.revoke_token(uow, user.principal, token_id, user.actor)
            uow.commit()
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    return _users_body(request, user, "Revoked the token: it no longer works")
