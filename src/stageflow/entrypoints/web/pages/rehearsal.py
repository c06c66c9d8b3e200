"""The rehearsal clock bar (issue 15, screen 6): on a server started with
``--virtual-clock`` every page shows virtual now, and the owner moves it forward (+1 hour,
+1 day, +7 days, +6 months, to a date) through ``services.engine.timekeeper`` — the service
``POST /api/v1/admin/clock/advance`` uses — then sees what fired. On real time: nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from stageflow.domain.clock import VirtualClock
from stageflow.domain.errors import StageflowError
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.pages.htmx_helpers import (
    refused,
    sentence,
    with_toast,
    workspace_zone,
)
from stageflow.entrypoints.web.pages.runs import run_row
from stageflow.entrypoints.web.render import page, templates
from stageflow.services.engine import run_history, timekeeper

router = APIRouter()
STEPS = (("PT1H", "+1 hour"), ("P1D", "+1 day"), ("P7D", "+7 days"), ("P6M", "+6 months"))
FIRED_SHOWN = 20


@dataclass(frozen=True, slots=True)
class ClockBar:
    now: str  # "Fri 4 Dec 2026 14:00"
    zone: str
    local_now: str  # for the datetime input: "2026-12-04T14:00"
    can_move: bool
    steps: tuple[tuple[str, str], ...] = STEPS


def long_time(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b %Y %H:%M')}"


def clock_bar(user: WebUser | None) -> ClockBar | None:
    """The bar's facts on a virtual clock; None on real time (then there is no bar)."""
    if user is None or not isinstance(user.app.clock, VirtualClock):
        return None
    with user.uow(read_only=True) as uow:
        zone = workspace_zone(uow, user.principal.workspace_id)
    now = user.app.clock.now()
    return ClockBar(
        now=long_time(now, zone),
        zone=zone.key,
        local_now=now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        can_move=timekeeper.may_move_clock(user.principal),
    )


templates.env.globals["clock_bar"] = clock_bar


def _target(to: str, zone: ZoneInfo) -> datetime:
    """A ``datetime-local`` value, read in the workspace's zone."""
    return datetime.fromisoformat(to).replace(tzinfo=zone)


@router.post("/rehearsal/advance", dependencies=[Depends(require_csrf)])
def advance(
    request: Request,
    by: Annotated[str, Form()] = "",
    to: Annotated[str, Form()] = "",
    user: WebUser = Depends(signed_in_user),
) -> Response:
    app = user.app
    try:
        with user.uow(read_only=True) as uow:
            zone = workspace_zone(uow, user.principal.workspace_id)
            before = run_history.mark(uow)
        if by:
            advanced = timekeeper.advance(
                user.principal, app.clock, app.worker(name="clock"), by=by
            )
        else:
            try:
                target = _target(to, zone)
            except ValueError:
                return _bar(request, user, error="Choose a date and a time to move to.", to=to)
            advanced = timekeeper.advance(
                user.principal, app.clock, app.worker(name="clock"), to=target
            )
        with user.uow(read_only=True) as uow:
            fired, total = run_history.fired_since(uow, user.principal, before, FIRED_SHOWN)
            now = uow.clock.now()
            rows = [run_row(run, zone, now) | {"started_now": new} for run, new in fired]
    except StageflowError as exc:
        if exc.status == 422:
            return _bar(request, user, error=sentence(exc.message), to=to)
        return refused(exc.message, exc.status)
    moved_to = long_time(advanced.now, zone)
    context: dict[str, Any] = {
        "fired": rows,
        "fired_total": total,
        "moved_to": moved_to,
        "current_url": request.headers.get("HX-Current-URL", ""),
    }
    response = _bar(request, user, **context)
    runs_word = "1 run" if total == 1 else f"{total} runs"
    return with_toast(response, f"Virtual time is now {moved_to}; {runs_word} fired")


def _bar(
    request: Request, user: WebUser, *, error: str = "", to: str = "", **more: Any
) -> Response:
    context = {"bar": clock_bar(user), "error": error, "to_value": to, **more}
    status = 422 if error else 200
    return page(request, "partials/clock_bar.html", context, user=user, status=status)
