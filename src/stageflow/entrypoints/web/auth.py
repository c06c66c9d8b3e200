"""Who is signed in: the session cookie becomes the same ``Principal`` the API works with,
so every page gets the API's permissions (an agent sees and changes only their own records).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from stageflow.bootstrap import App
from stageflow.domain.events import Actor, Source
from stageflow.domain.users import Principal, Role, parse_permissions
from stageflow.entrypoints.web.session import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionSigner,
    password_mark,
)
from stageflow.entrypoints.web.throttle import SignInThrottle
from stageflow.services.crm import security
from stageflow.services.crm.workspaces import actor_for
from stageflow.services.unit_of_work import UnitOfWork

# Compared against when no account has the email, so an unknown email takes as long as a
# wrong password (the answer must not tell which it was).
_DUMMY_HASH = security.hash_password("not a password anyone has")


class SignInRequired(Exception):
    """The page needs a signed-in user; the browser is sent to the sign-in page."""


class CsrfRefused(Exception):
    """A state-changing request without a valid CSRF token (403)."""


class PasswordChoiceRequired(Exception):
    """The user signed in with a one-time password: until they choose their own, the only
    page they reach is the one that asks for it."""


@dataclass
class WebState:
    """What the web app keeps per process: the cookie signer and the sign-in throttle."""

    signer: SessionSigner
    throttle: SignInThrottle


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in user of one request, with what the layout shows about them."""

    app: App
    principal: Principal
    name: str
    email: str
    workspace_name: str
    csrf_token: str

    @property
    def actor(self) -> Actor:
        """Changes made through the pages are the user's own, from the UI."""
        return actor_for(self.principal, Source.UI)

    @property
    def initials(self) -> str:
        return initials(self.name)

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        return self.app.uow(read_only=read_only)


def initials(name: str) -> str:
    parts = [p for p in name.replace(".", " ").split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def stageflow_app(request: Request) -> App:
    app: App = request.app.state.stageflow
    return app


def current_session(request: Request) -> Session | None:
    return web_state(request).signer.load(request.cookies.get(COOKIE))


def principal_for_user(user: Any) -> Principal:
    """The principal of a user row, built as the API builds it for that user's tokens."""
    return Principal(
        workspace_id=user.workspace_id,
        user_id=user.id,
        role=Role(user.role),
        extra_permissions=parse_permissions(list(user.permissions)),
    )


def signed_in_user(request: Request) -> WebUser:
    """Dependency of every page behind sign-in."""
    user, must_change_password = _signed_in(request)
    if must_change_password:
        raise PasswordChoiceRequired
    return user


def user_choosing_password(request: Request) -> WebUser:
    """Dependency of the page where a user replaces a one-time password (and signs out)."""
    return _signed_in(request)[0]


def still_signed_in(request: Request) -> bool:
    """Whether the cookie's session is still good (not ended by a new password or a
    deactivation): the sign-in page sends such a visitor on instead of asking again."""
    try:
        _signed_in(request)
    except SignInRequired:
        return False
    return True


def _signed_in(request: Request) -> tuple[WebUser, bool]:
    session = current_session(request)
    if session is None or not session.signed_in:
        raise SignInRequired
    assert session.workspace_id is not None and session.user_id is not None
    app = stageflow_app(request)
    with app.uow(read_only=True) as uow:
        user = uow.users.get(session.workspace_id, session.user_id)
        workspace = uow.workspaces.get(session.workspace_id)
    if (
        user is None
        or workspace is None
        or not user.active
        or password_mark(user.password_hash) != session.password_mark
    ):
        raise SignInRequired
    signed_in = WebUser(
        app=app,
        principal=principal_for_user(user),
        name=user.name,
        email=user.email,
        workspace_name=workspace.name,
        csrf_token=web_state(request).signer.csrf_token(session),
    )
    return signed_in, bool(user.must_change_password)


def check_password(uow: UnitOfWork, email: str, password: str) -> Any | None:
    """The active user with this email and password, in whichever workspace has one."""
    found = None
    for workspace in uow.workspaces.list():
        assert workspace.id is not None
        user = uow.users.get_by_email(workspace.id, email)
        if user is not None and user.active and user.password_hash:
            if security.verify_password(password, user.password_hash):
                return user
            found = user
    if found is None:
        security.verify_password(password, _DUMMY_HASH)
    return None


async def require_csrf(request: Request) -> None:
    """Dependency of every state-changing route: the token from the form or the header."""
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not web_state(request).signer.check_csrf(current_session(request), token):
        raise CsrfRefused
