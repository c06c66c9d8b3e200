"""Run history (issue 15, screen 5): the runs list with its filters, a run's page step by
step with retry and cancel, and "Why didn't it run?". Reads through
``services.engine.run_history``, changes through ``services.engine.runs``: the API's
permissions (an agent sees runs of their own records only and changes none)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stageflow.domain.errors import StageflowError
from stageflow.entrypoints.web.auth import WebUser, require_csrf, signed_in_user
from stageflow.entrypoints.web.board import parse_id, users_by_id
from stageflow.entrypoints.web.pages.boards import is_htmx
from stageflow.entrypoints.web.pages.htmx_helpers import (
    ago,
    refused,
    refused_page,
    when,
    with_toast,
    workspace_zone,
)
from stageflow.entrypoints.web.render import page
from stageflow.entrypoints.web.run_view import (
    duration,
    event_words,
    pairs,
    step_views,
    trigger_text,
    until_text,
)
from stageflow.services.engine import run_history, runs
from stageflow.services.unit_of_work import UnitOfWork

router = APIRouter()
CSRF = [Depends(require_csrf)]
STATUS_LABELS = {
    "running": "Running",
    "waiting": "Waiting",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


@dataclass(frozen=True, slots=True)
class RunFilters:
    status: str = ""
    automation_id: int | None = None
    record_id: int | None = None
    day_from: date | None = None
    day_to: date | None = None

    def query(self, **changes: Any) -> dict[str, str]:
        values = {
            "status": self.status,
            "automation_id": str(self.automation_id or ""),
            "record_id": str(self.record_id or ""),
            "from": self.day_from.isoformat() if self.day_from else "",
            "to": self.day_to.isoformat() if self.day_to else "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}

    @property
    def narrowed(self) -> bool:
        return bool(self.query())


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def run_row(run: run_history.RunSummary, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """What the list, the clock bar's "what fired" and the run page's header show of a run."""
    if run.status == "waiting" and run.waiting_for:
        state = f"for {run.waiting_for.replace('_', ' ')}" + (
            f", {until_text(run.wake_at, zone, now)}" if run.wake_at else ""
        )
    elif run.status == "waiting":
        state = until_text(run.wake_at, zone, now)
    else:
        state = ""
    return {
        "run": run,
        "status_label": STATUS_LABELS.get(run.status, run.status.capitalize()),
        "state": state,
        "started": when(run.started_at, zone, now),
        "started_ago": ago(run.started_at, now),
        "finished": when(run.finished_at, zone, now),
        "duration": duration(run.started_at, run.finished_at),
        "step": run.step.label if run.step else "",
    }


def _range(filters: RunFilters, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(filters.day_from, time.min, zone) if filters.day_from else None
    end = (
        datetime.combine(filters.day_to + timedelta(days=1), time.min, zone)
        if filters.day_to
        else None
    )
    return start, end


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    status: str | None = None,
    automation_id: str | None = None,
    record_id: str | None = None,
    cursor: str | None = None,
    user: WebUser = Depends(signed_in_user),
) -> Response:
    params = request.query_params
    filters = RunFilters(
        status=status if status in STATUS_LABELS and status != "running" else "",
        automation_id=parse_id(automation_id),
        record_id=parse_id(record_id),
        day_from=_day(params.get("from")),
        day_to=_day(params.get("to")),
    )
    try:
        with user.uow(read_only=True) as uow:
            zone = workspace_zone(uow, user.principal.workspace_id)
            now = uow.clock.now()
            started_from, started_before = _range(filters, zone)
            found = run_history.list_summaries(
                uow,
                user.principal,
                record_id=filters.record_id,
                automation_id=filters.automation_id,
                status=filters.status or None,
                started_from=started_from,
                started_before=started_before,
                cursor=cursor,
            )
            context = _list_context(uow, user, filters)
    except StageflowError as exc:
        if is_htmx(request):
            return refused(exc.message, exc.status)
        return refused_page(request, user, exc)
    context |= {
        "rows": [run_row(r, zone, now) for r in found.items],
        "next_cursor": found.next_cursor,
        "first_page": cursor is None,
        "zone": zone.key,
    }
    name = "partials/run_rows.html" if is_htmx(request) and cursor else "runs.html"
    return page(request, name, context, user=user, active="/runs")


def _list_context(uow: UnitOfWork, user: WebUser, filters: RunFilters) -> dict[str, Any]:
    choices = run_history.automation_choices(uow, user.principal)
    automation = None
    if filters.automation_id is not None:
        automation = next((a for a in choices if a.id == filters.automation_id), None)
        if automation is None:
            automation = run_history.automation_ref(uow, user.principal, filters.automation_id)
    record = None
    if filters.record_id is not None:
        record = run_history.RecordRef(filters.record_id, "", "")
        found = uow.records.get(user.principal.workspace_id, filters.record_id)
        if found is not None:
            record = run_history.RecordRef(
                filters.record_id, found.name, f"/{found.object_type.plural}/{found.id}"
            )
    return {
        "filters": filters,
        "statuses": {k: v for k, v in STATUS_LABELS.items() if k != "running"},
        "automations": choices,
        "automation": automation,
        "record": record,
    }


@router.get("/runs/skipped", response_class=HTMLResponse)
def skipped_page(
    request: Request, record_id: str | None = None, user: WebUser = Depends(signed_in_user)
) -> Response:
    """ "Why didn't it run?": for one record, or the workspace's latest skips."""
    record_key = parse_id(record_id)
    try:
        with user.uow(read_only=True) as uow:
            skips = run_history.skipped(uow, user.principal, record_key)
            zone = workspace_zone(uow, user.principal.workspace_id)
            now = uow.clock.now()
            record = None
            if record_key is not None:
                found = uow.records.get(user.principal.workspace_id, record_key)
                assert found is not None  # run_history.skipped checked it is visible
                record = run_history.RecordRef(
                    record_key, found.name, f"/{found.object_type.plural}/{record_key}"
                )
    except StageflowError as exc:
        return refused_page(request, user, exc)
    rows = [
        {
            "skip": s,
            "when": when(s.at, zone, now),
            "ago": ago(s.at, now),
            "event": event_words(s.event_type) or "an event",
        }
        for s in skips
    ]
    context = {"rows": rows, "record": record, "zone": zone.key}
    return page(request, "runs_skipped.html", context, user=user, active="/runs")


def _run_context(uow: UnitOfWork, user: WebUser, run_id: int) -> dict[str, Any]:
    detail = run_history.run_detail(uow, user.principal, run_id)
    zone = workspace_zone(uow, user.principal.workspace_id)
    now = uow.clock.now()
    names = users_by_id(uow, user.principal.workspace_id)
    stage_names = {
        s.id: s.name for p in uow.pipelines.list(user.principal.workspace_id) for s in p.stages
    }
    return {
        "detail": detail,
        "row": run_row(detail.run, zone, now),
        "trigger": trigger_text(detail.trigger, names, stage_names),
        "steps": step_views(detail, zone, now),
        "variables": pairs(detail.variables),
        "waiting_until": until_text(detail.run.wake_at, zone, now),
        "zone": zone.key,
    }


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int, user: WebUser = Depends(signed_in_user)) -> Response:
    try:
        with user.uow(read_only=True) as uow:
            context = _run_context(uow, user, run_id)
    except StageflowError as exc:
        return refused_page(request, user, exc)
    return page(request, "run.html", context, user=user, active="/runs")


def _change(request: Request, user: WebUser, run_id: int, retry: bool) -> Response:
    try:
        with user.uow() as uow:
            if retry:
                runs.retry(uow, user.principal, run_id)
            else:
                runs.cancel(uow, user.principal, run_id)
            uow.commit()
        with user.uow(read_only=True) as uow:
            context = _run_context(uow, user, run_id)
    except StageflowError as exc:
        return refused(exc.message, exc.status)
    response = page(request, "partials/run_body.html", context, user=user)
    toast = (
        f"Run #{run_id} goes on from its failed step; reload to follow it"
        if retry
        else f"Run #{run_id} cancelled"
    )
    return with_toast(response, toast)


@router.post("/runs/{run_id}/retry", dependencies=CSRF)
def retry_run(request: Request, run_id: int, user: WebUser = Depends(signed_in_user)) -> Response:
    return _change(request, user, run_id, retry=True)


@router.post("/runs/{run_id}/cancel", dependencies=CSRF)
def cancel_run(request: Request, run_id: int, user: WebUser = Depends(signed_in_user)) -> Response:
    return _change(request, user, run_id, retry=False)
