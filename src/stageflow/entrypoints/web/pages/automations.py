"""The Automations index: stage rules per pipeline today, and the automation screens still to
come with the API to use meanwhile."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from stageflow.domain.records import ObjectType
from stageflow.entrypoints.web.auth import WebUser, signed_in_user
from stageflow.entrypoints.web.render import page

router = APIRouter()
TYPES = (ObjectType.LEAD, ObjectType.DEAL, ObjectType.OPPORTUNITY)
# Screens of issue 15 not built yet: what each will do, and the API that does it meanwhile.
COMING = (
    (
        "Workflows",
        "Multi-step automations with branches, delays and loops, versioned and published",
        "/api/v1/automations",
    ),
    (
        "Lead automation",
        "The lead pipeline's built-in moves and per-stage actions",
        "/api/v1/lead-automation",
    ),
    (
        "Opportunity types",
        "Types with their states, sub-states and the actions on opening and closing them",
        "/api/v1/opportunity-types",
    ),
)


@router.get("/automations", response_class=HTMLResponse)
def automations_index(request: Request, user: WebUser = Depends(signed_in_user)) -> HTMLResponse:
    with user.uow(read_only=True) as uow:
        groups = [
            (
                object_type,
                sorted(
                    uow.pipelines.list(user.principal.workspace_id, object_type),
                    key=lambda p: p.position,
                ),
            )
            for object_type in TYPES
        ]
    return page(request, "automations.html", {"groups": groups, "coming": COMING}, user=user)
