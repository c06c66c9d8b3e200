"""Request dependencies: the application, the authenticated caller and their actor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from stageflow.bootstrap import App
from stageflow.domain.errors import AuthenticationFailed, ValidationFailed
from stageflow.domain.events import Actor
from stageflow.domain.users import Principal
from stageflow.services.crm.workspaces import actor_for, authenticate
from stageflow.services.unit_of_work import UnitOfWork

MAX_ID = 2**63 - 1
# Ids in paths: anything out of range simply does not exist (404).
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalQueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

bearer = HTTPBearer(auto_error=False, description="An API token from `stageflow token create`")


@dataclass(frozen=True, slots=True)
class Caller:
    """The application and the authenticated principal of one request."""

    app: App
    principal: Principal

    @property
    def actor(self) -> Actor:
        return actor_for(self.principal)

    @property
    def workspace_id(self) -> int:
        return self.principal.workspace_id

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        return self.app.uow(read_only=read_only)


def get_app(request: Request) -> App:
    app: App = request.app.state.stageflow
    return app


def get_caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Caller:
    app = get_app(request)
    if credentials is None:
        raise AuthenticationFailed("send an API token as 'Authorization: Bearer <token>'")
    with app.uow(read_only=True) as uow:
        principal = authenticate(uow, credentials.credentials)
    return Caller(app=app, principal=principal)


def reject_unknown_query(request: Request) -> None:
    """A query parameter the route does not take is refused, not ignored: ``?record=5`` on a
    list that filters by ``record_id`` would otherwise answer with everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route)
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in known]
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise ValidationFailed(
            f"unknown query parameter '{unknown[0]}' (this endpoint takes: {takes})",
            field=unknown[0],
        )


def _query_names(route: APIRoute) -> frozenset[str]:
    """The query parameters the route and its dependencies declare (kept on the route)."""
    names: frozenset[str] | None = getattr(route, "_query_names", None)
    if names is None:
        found: set[str] = set()
        pending: list[Dependant] = [route.dependant]
        while pending:
            dependant = pending.pop()
            found.update(param.alias for param in dependant.query_params)
            pending.extend(dependant.dependencies)
        names = frozenset(found)
        route._query_names = names  # type: ignore[attr-defined]
    return names
