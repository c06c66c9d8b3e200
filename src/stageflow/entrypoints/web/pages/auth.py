"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stageflow.entrypoints.web.auth import (
    check_password,
    current_session,
    require_csrf,
    stageflow_app,
    still_signed_in,
    web_state,
)
from stageflow.entrypoints.web.render import page
from stageflow.entrypoints.web.session import COOKIE, MAX_AGE, Session

router = APIRouter()
WRONG = "The email or password is not right. Check both and try again."


def set_session(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        web_state(request).signer.dump(session),
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//elsewhere``) is a place to go after signing in."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _form(
    request: Request,
    session: Session,
    *,
    email: str = "",
    next_: str = "/",
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    response = page(
        request,
        "sign_in.html",
        {
            "csrf_token": web_state(request).signer.csrf_token(session),
            "email": email,
            "next": next_,
            "error": error,
            "notice": notice,
        },
        user=None,
        status=status,
    )
    set_session(request, response, session)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/", signed_out: bool = False) -> Response:
    session = current_session(request)
    if session is not None and session.signed_in:
        if still_signed_in(request):
            return RedirectResponse(safe_next(next), status_code=303)
        session = None  # ended by a new password or a deactivation: sign in again
    notice = "You are signed out." if signed_out else None
    return _form(request, session or Session.anonymous(), next_=next, notice=notice)


@router.post("/sign-in", dependencies=[Depends(require_csrf)], response_class=HTMLResponse)
def sign_in(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    state = web_state(request)
    session = current_session(request) or Session.anonymous()
    address = request.client.host if request.client else "unknown"
    email = email.strip()
    wait = state.throttle.wait(email, address)
    if wait > 0:
        message = f"Too many failed sign-ins. Wait {int(wait) + 1} seconds, then try again."
        return _form(request, session, email=email, next_=next, error=message, status=429)
    with stageflow_app(request).uow(read_only=True) as uow:
        user = check_password(uow, email, password) if email and password else None
    if user is None:
        state.throttle.failed(email, address)
        return _form(request, session, email=email, next_=next, error=WRONG, status=401)
    state.throttle.succeeded(email)
    # A one-time password: the user chooses their own before anything else.
    target = "/account/choose-password" if user.must_change_password else safe_next(next)
    response = RedirectResponse(target, status_code=303)
    set_session(request, response, Session.for_user(user.workspace_id, user.id, user.password_hash))
    return response


@router.post("/sign-out", dependencies=[Depends(require_csrf)])
def sign_out(request: Request) -> Response:
    response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    set_session(request, response, Session.anonymous())
    return response


def sign_in_url(path: str) -> str:
    return "/sign-in" if path in ("", "/") else f"/sign-in?next={quote(path, safe='/')}"
