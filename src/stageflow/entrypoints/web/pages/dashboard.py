"""The dashboard: lifecycle counts per stage with their conversations (SPEC L9), a funnel per
pipeline with the last 30 days' won and lost, and automation runs per day with the latest
failures. Each part needs what its API needs; a part the user may not see says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from stageflow.domain.pipelines import Pipeline, StageKind
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Permission
from stageflow.entrypoints.web import queries
from stageflow.entrypoints.web.auth import WebUser, signed_in_user
from stageflow.entrypoints.web.pages.htmx_helpers import when, workspace_zone
from stageflow.entrypoints.web.render import money, page
from stageflow.services.crm import lifecycle_dashboard
from stageflow.services.crm.pipelines import outcomes_since
from stageflow.services.engine import runs
from stageflow.services.unit_of_work import UnitOfWork

router = APIRouter()
WINDOW = timedelta(days=30)
RUN_DAYS = 14
PIPELINE_TYPES = (ObjectType.DEAL, ObjectType.LEAD, ObjectType.OPPORTUNITY)


def amounts_text(amounts: dict[str, float]) -> str:
    """``€48,000 + $1,200``; empty when nothing has an amount."""
    return " + ".join(money(v, k or None) for k, v in sorted(amounts.items()) if v)


@dataclass(slots=True)
class FunnelStep:
    name: str
    kind: str
    count: int
    value: str
    width: int  # percent of the widest step


@dataclass(slots=True)
class Funnel:
    pipeline: Pipeline
    object_type: ObjectType
    steps: list[FunnelStep] = field(default_factory=list)
    won: tuple[int, str] = (0, "")
    lost: tuple[int, str] = (0, "")

    @property
    def total(self) -> int:
        return sum(s.count for s in self.steps)


def _funnels(uow: UnitOfWork, user: WebUser) -> list[Funnel]:
    since = uow.clock.now() - WINDOW
    funnels = []
    for object_type in PIPELINE_TYPES:
        pipelines = uow.pipelines.list(user.principal.workspace_id, object_type)
        for pipeline in sorted(pipelines, key=lambda p: p.position):
            assert pipeline.id is not None
            totals = queries.stage_totals(
                uow,
                user.principal,
                object_type,
                pipeline_id=pipeline.id,
                filter_=None,
                owner_id=None,
            )
            stages = sorted(pipeline.stages, key=lambda s: s.position)
            widest = max((totals[s.id].count for s in stages if s.id in totals), default=0)
            funnel = Funnel(pipeline=pipeline, object_type=object_type)
            for stage in stages:
                total = totals.get(stage.id or 0, queries.StageTotal())
                funnel.steps.append(
                    FunnelStep(
                        name=stage.name,
                        kind=stage.kind.value,
                        count=total.count,
                        value=amounts_text(total.amounts),
                        width=round(100 * total.count / widest) if widest else 0,
                    )
                )
            outcomes = outcomes_since(uow, user.principal, pipeline, since)
            won, lost = outcomes[StageKind.WON], outcomes[StageKind.LOST]
            funnel.won = (won.count, amounts_text(won.amounts))
            funnel.lost = (lost.count, amounts_text(lost.amounts))
            funnels.append(funnel)
    return funnels


def _runs(uow: UnitOfWork, user: WebUser) -> dict[str, Any]:
    zone = workspace_zone(uow, user.principal.workspace_id)
    now = uow.clock.now()
    days = runs.runs_per_day(uow, user.principal, days=RUN_DAYS, zone=zone)
    failures = [
        {
            "id": row.id,
            "automation": row.automation_name,
            "record_id": row.record_id,
            "error": row.error or "no message",
            "step": row.failed_step,
            "when": when(row.finished_at or row.updated_at, zone, now),
        }
        for row in runs.latest_failures(uow, user.principal)
    ]
    record_paths = {}
    for failure in failures:
        record = uow.records.get(user.principal.workspace_id, failure["record_id"] or 0)
        if record is not None:
            record_paths[failure["id"]] = (
                f"/{record.object_type.plural}/{record.id}",
                record.name,
            )
    return {
        "days": [
            {
                "label": f"{d.day.day} {d.day.strftime('%b')}",
                "completed": d.completed,
                "failed": d.failed,
                "waiting": d.waiting,
            }
            for d in days
        ],
        "failures": failures,
        "record_paths": record_paths,
        "totals": {
            "completed": sum(d.completed for d in days),
            "failed": sum(d.failed for d in days),
            "waiting": sum(d.waiting for d in days),
        },
    }


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, user: WebUser = Depends(signed_in_user)) -> HTMLResponse:
    principal = user.principal
    context: dict[str, Any] = {"window_days": WINDOW.days, "run_days": RUN_DAYS}
    with user.uow(read_only=True) as uow:
        if principal.has(Permission.RECORDS_READ_ALL):
            context["lifecycle"] = lifecycle_dashboard.dashboard(uow, principal)
        context["funnels"] = _funnels(uow, user)
        if principal.has(Permission.AUTOMATIONS_EDIT):
            context["runs"] = _runs(uow, user)
    lc = context.get("lifecycle")
    if lc is not None:
        context["lifecycle_chart"] = {
            "labels": [s["name"] for s in lc["lifecycle"]],
            "contacts": [s["contacts"] for s in lc["lifecycle"]],
        }
    return page(request, "dashboard.html", context, user=user)
