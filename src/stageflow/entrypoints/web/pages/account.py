"""The signed-in user's own account: "Your account" (change your password) and "Choose your
password" after signing in with a one-time password. A new password ends every other session
of the user (their cookies carry the old hash's fingerprint); this one gets a new cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stageflow.domain.errors import StageflowError
from stageflow.entrypoints.web.auth import (
    WebUser,
    require_csrf,
    signed_in_user,
    user_choosing_password,
)
from stageflow.entrypoints.web.pages.auth import set_session
from stageflow.entrypoints.web.pages.htmx_helpers import sentence
from stageflow.entrypoints.web.render import page
from stageflow.entrypoints.web.session import Session
from stageflow.services.commands import ChangePassword
from stageflow.services.crm import accounts

router = APIRouter()
ACCOUNT = "/account"
CHOOSE = "/account/choose-password"
CSRF = [Depends(require_csrf)]
FIELDS = ("current_password", "new_password", "repeat_password")


@router.get(ACCOUNT, response_class=HTMLResponse)
def account_page(
    request: Request, changed: bool = False, user: WebUser = Depends(signed_in_user)
) -> HTMLResponse:
    return _account(request, user, notice="Your password is changed." if changed else None)


@router.post(ACCOUNT + "/password", dependencies=CSRF, response_class=HTMLResponse)
def change_password(
    request: Request,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
    user: WebUser = Depends(signed_in_user),
) -> Response:
    cmd = ChangePassword(current_password=current_password, new_password=new_password)
    errors = _save(user, cmd, repeat_password, accounts.change_password)
    if errors:
        return _account(request, user, errors=errors, status=422)
    return _signed_in_again(request, user, f"{ACCOUNT}?changed=1")


@router.get(CHOOSE, response_class=HTMLResponse)
def choose_page(request: Request, user: WebUser = Depends(user_choosing_password)) -> Response:
    return _choose(request, user)


@router.post(CHOOSE, dependencies=CSRF, response_class=HTMLResponse)
def choose_password(
    request: Request,
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
    user: WebUser = Depends(user_choosing_password),
) -> Response:
    cmd = ChangePassword(new_password=new_password)
    errors = _save(user, cmd, repeat_password, accounts.choose_password)
    if errors:
        return _choose(request, user, errors=errors, status=422)
    return _signed_in_again(request, user, "/")


def _save(
    user: WebUser, cmd: ChangePassword, repeat: str, change: accounts.Change
) -> dict[str, str]:
    """Save the new password; the errors by field when it was refused."""
    if cmd.new_password and repeat != cmd.new_password:
        return {"repeat_password": "The two new passwords are not the same: type it again"}
    try:
        with user.uow() as uow:
            change(uow, user.principal, cmd, user.actor)
            uow.commit()
    except StageflowError as exc:
        field = exc.field if exc.field in FIELDS else "new_password"
        return {field: sentence(exc.message)}
    return {}


def _signed_in_again(request: Request, user: WebUser, target: str) -> Response:
    """The session goes on under the new password's fingerprint (other sessions end)."""
    with user.uow(read_only=True) as uow:
        row = uow.users.get(user.principal.workspace_id, user.principal.user_id)
    assert row is not None
    response = RedirectResponse(target, status_code=303)
    session = Session.for_user(row.workspace_id, row.id, row.password_hash)
    set_session(request, response, session)
    return response


def _account(
    request: Request,
    user: WebUser,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = {"errors": errors or {}, "notice": notice, "min_length": accounts.MIN_PASSWORD_LENGTH}
    return page(request, "account.html", context, user=user, status=status, active=ACCOUNT)


def _choose(
    request: Request, user: WebUser, *, errors: dict[str, str] | None = None, status: int = 200
) -> HTMLResponse:
    context = {
        "errors": errors or {},
        "me": user,
        "csrf_token": user.csrf_token,
        "min_length": accounts.MIN_PASSWORD_LENGTH,
    }
    return page(request, "choose_password.html", context, user=None, status=status)
