"""Settings: the index of the settings screens and the tabs they share."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from stageflow.domain.users import Permission
from stageflow.entrypoints.web.auth import WebUser, signed_in_user
from stageflow.entrypoints.web.render import page

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Section:
    label: str
    href: str
    what: str
    permission: Permission


SECTIONS = (
    Section(
        "Lifecycle",
        "/settings/lifecycle",
        "the stages contacts go through, the lost stages, the default stage of new contacts",
        Permission.LIFECYCLE_EDIT,
    ),
    Section(
        "Pipelines",
        "/settings/pipelines",
        "the stages of each lead, deal and opportunity pipeline, and the picklists",
        Permission.PIPELINES_EDIT,
    ),
    Section(
        "Users & tokens",
        "/settings/users",
        "who works in the workspace, their roles and permissions, and API tokens",
        Permission.USERS_MANAGE,
    ),
)


@router.get("/settings", response_class=HTMLResponse)
def settings_index(request: Request, user: WebUser = Depends(signed_in_user)) -> HTMLResponse:
    return page(request, "settings_index.html", {"sections": SECTIONS}, user=user)
