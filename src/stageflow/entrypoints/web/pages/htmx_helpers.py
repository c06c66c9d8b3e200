"""Small helpers the settings, inbox and dashboard pages share: answers that carry a toast,
errors shown at their field, and the workspace's time zone."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from stageflow.domain.errors import StageflowError
from stageflow.entrypoints.web.auth import WebUser
from stageflow.entrypoints.web.render import page
from stageflow.services.unit_of_work import UnitOfWork


def sentence(message: str) -> str:
    """A service message as a sentence at a field: capital first letter."""
    return message[:1].upper() + message[1:] if message else message


def with_toast(response: Response, toast: str, **events: Any) -> Response:
    """Add a toast (and other client events, e.g. ``closeDialog``) to an htmx answer."""
    response.headers["HX-Trigger"] = json.dumps({"toast": toast, **events})
    return response


def retarget(response: Response, target: str, swap: str = "outerHTML") -> Response:
    """Send a form's successful answer somewhere else than the form (htmx 2 headers)."""
    response.headers["HX-Retarget"] = target
    response.headers["HX-Reswap"] = swap
    return response


def refused(message: str, status: int) -> Response:
    """A refusal the page shows as an error toast (see app.js)."""
    return Response(sentence(message), status_code=status, media_type="text/plain")


def refused_page(request: Request, user: WebUser, exc: StageflowError) -> HTMLResponse:
    title = "Not found" if exc.status == 404 else "Not allowed"
    return page(
        request,
        "error.html",
        {"title": title, "message": sentence(exc.message)},
        user=user,
        status=exc.status,
    )


def workspace_zone(uow: UnitOfWork, workspace_id: int) -> ZoneInfo:
    workspace = uow.workspaces.get(workspace_id)
    name = workspace.settings.get("timezone", "UTC") if workspace else "UTC"
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when(moment: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    """A time as a person reads it in the workspace's zone: "14:05" today, "3 Dec 09:30"
    otherwise."""
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    if local.year == now.astimezone(zone).year:
        return f"{local.day} {local.strftime('%b %H:%M')}"
    return f"{local.day} {local.strftime('%b %Y')}"


def ago(moment: datetime | None, now: datetime) -> str:
    """ "just now", "5 min ago", "2 h ago", "3 days ago"."""
    if moment is None:
        return ""
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    days = seconds // 86400
    return "yesterday" if days == 1 else f"{days} days ago"
