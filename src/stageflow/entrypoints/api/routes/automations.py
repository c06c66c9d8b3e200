"""`/api/v1/automations`, `/api/v1/actions`, `/api/v1/runs` and the virtual clock."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from stageflow.actions import registry
from stageflow.domain.clock import VirtualClock
from stageflow.domain.errors import ValidationFailed
from stageflow.domain.filters import parse_filter
from stageflow.entrypoints.api.deps import Caller, OptionalQueryId, PathId, get_caller
from stageflow.entrypoints.api.schemas import PageOut
from stageflow.services.authoring import automations as service
from stageflow.services.authoring import backtest as backtests
from stageflow.services.authoring.automation_checks import check_definition
from stageflow.services.engine import runs as run_service
from stageflow.services.engine import timekeeper

router = APIRouter()
A: list[str | Enum] = ["Automations"]
R: list[str | Enum] = ["Runs"]


class VersionOut(BaseModel):
    id: int
    number: int
    published_at: datetime


class AutomationOut(BaseModel):
    id: int
    name: str
    description: str
    kind: str
    status: str
    definition: dict[str, Any] = Field(description="The draft; publish to make it run")
    active_version_id: int | None
    versions: list[VersionOut] = Field(default_factory=list)
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any, versions: list[Any] | None = None) -> AutomationOut:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            kind=row.kind,
            status=row.status,
            definition=row.draft,
            active_version_id=row.active_version_id,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            versions=[
                VersionOut(id=v.id, number=v.number, published_at=v.published_at)
                for v in versions or []
            ],
        )


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_ids: list[int] | None = None
    segment: dict[str, Any] | None = Field(None, description="Filter language JSON")


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: dict[str, Any]


@router.get("/actions", tags=A, summary="Action types and the JSON schema of their settings")
def list_actions(caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    return registry.schemas()


@router.post("/automations/validate", tags=A, summary="Check a definition without saving it")
def validate(body: ValidateIn, caller: Caller = Depends(get_caller)) -> dict[str, bool]:
    with caller.uow(read_only=True) as uow:
        check_definition(uow, caller.workspace_id, body.definition)
    return {"valid": True}


@router.get("/automations", tags=A, summary="List automations")
def list_automations(
    caller: Caller = Depends(get_caller),
    status: str | None = None,
    kind: str | None = Query(
        None, description="workflow, stage_rule, lead_automation or substate_action"
    ),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> PageOut[AutomationOut]:
    with caller.uow(read_only=True) as uow:
        page = service.list_automations(
            uow, caller.principal, status=status, kind=kind, cursor=cursor, limit=limit
        )
    return PageOut[AutomationOut](
        items=[AutomationOut.of(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/automations",
    tags=A,
    status_code=201,
    summary="Create an automation (validated; `publish: true` to activate at once)",
)
def create_automation(
    cmd: service.CreateAutomation, caller: Caller = Depends(get_caller)
) -> AutomationOut:
    with caller.uow() as uow:
        automation_id = service.create_automation(uow, caller.principal, cmd, caller.actor)
        out = _out(uow, caller, automation_id)
        uow.commit()
    return out


@router.get("/automations/{automation_id}", tags=A, summary="Read an automation")
def get_automation(automation_id: PathId, caller: Caller = Depends(get_caller)) -> AutomationOut:
    with caller.uow(read_only=True) as uow:
        return _out(uow, caller, automation_id)


@router.patch("/automations/{automation_id}", tags=A, summary="Edit the draft")
def update_automation(
    automation_id: PathId, cmd: service.UpdateAutomation, caller: Caller = Depends(get_caller)
) -> AutomationOut:
    with caller.uow() as uow:
        service.update_automation(uow, caller.principal, automation_id, cmd, caller.actor)
        out = _out(uow, caller, automation_id)
        uow.commit()
    return out


@router.post(
    "/automations/{automation_id}/publish",
    tags=A,
    summary="Publish the draft as a new immutable version",
)
def publish(automation_id: PathId, caller: Caller = Depends(get_caller)) -> AutomationOut:
    with caller.uow() as uow:
        service.publish(uow, caller.principal, automation_id, caller.actor)
        out = _out(uow, caller, automation_id)
        uow.commit()
    return out


@router.get(
    "/automations/{automation_id}/versions/{number}",
    tags=A,
    summary="A published version's definition",
)
def get_version(
    automation_id: PathId, number: PathId, caller: Caller = Depends(get_caller)
) -> dict[str, Any]:
    with caller.uow(read_only=True) as uow:
        service.get_automation(uow, caller.principal, automation_id)
        for version in uow.automations.versions(automation_id):
            if version.number == number:
                return {
                    "id": version.id,
                    "number": number,
                    "definition": version.definition,
                    "published_at": version.published_at.isoformat(),
                }
    raise ValidationFailed(f"automation {automation_id} has no version {number}", field="number")


def _status_route(status: str, summary: str) -> None:
    def change(automation_id: PathId, caller: Caller = Depends(get_caller)) -> AutomationOut:
        with caller.uow() as uow:
            service.set_status(uow, caller.principal, automation_id, status)
            out = _out(uow, caller, automation_id)
            uow.commit()
        return out

    verb = {"active": "resume", "paused": "pause", "archived": "archive"}[status]
    router.add_api_route(
        f"/automations/{{automation_id}}/{verb}",
        change,
        methods=["POST"],
        tags=A,
        summary=summary,
        operation_id=f"{verb}_automation",
    )


_status_route("paused", "Pause: nobody new is enrolled; waiting runs continue")
_status_route("active", "Resume a paused automation")
_status_route("archived", "Archive: like pause, and it cannot be published again")


@router.post(
    "/automations/{automation_id}/start",
    tags=A,
    summary="Start for records (manual trigger): record_ids or a segment filter",
)
def start(
    automation_id: PathId, body: StartIn, caller: Caller = Depends(get_caller)
) -> dict[str, int]:
    segment = parse_filter(body.segment, field_name="segment") if body.segment else None
    with caller.uow() as uow:
        started = run_service.start_manually(
            uow,
            caller.principal,
            caller.app.enroller.versions,
            automation_id,
            record_ids=body.record_ids,
            segment=segment,
        )
        uow.commit()
    return {"started": started}


class BacktestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(30, ge=1, le=backtests.MAX_DAYS, description="Replay the last N days")
    definition: dict[str, Any] | None = Field(
        None, description="Backtest this definition instead of the saved draft"
    )
    detail_limit: int = Field(
        backtests.DETAIL_LIMIT, ge=0, le=1000, description="Runs listed step by step"
    )


class BacktestStepOut(BaseModel):
    step_id: str
    type: str
    status: str
    at: datetime
    future: bool = Field(description="After now: what the run would still do")
    action: str | None
    settings: dict[str, Any] | None
    output: dict[str, Any] | None
    error: str | None


class BacktestRunOut(BaseModel):
    record_id: int
    record_name: str
    object_type: str | None
    event_id: int | None
    event_type: str
    started_at: datetime
    status: str = Field(description="completed, waiting (at now), cancelled or failed")
    waiting_until: datetime | None
    error: str | None
    steps: list[BacktestStepOut]


class BacktestSkipOut(BaseModel):
    reason: str
    detail: str
    count: int


class BacktestOut(BaseModel):
    automation_id: int
    automation_name: str
    definition_source: str = Field(description="draft or given")
    since: datetime
    until: datetime
    events_read: int
    matched: int
    enrolled: int
    enrolled_by_type: dict[str, int]
    skipped: list[BacktestSkipOut]
    outcomes: dict[str, int]
    actions: dict[str, int] = Field(description="Action type -> times it would run")
    action_runs: dict[str, int] = Field(description="Action type -> runs that would run it")
    summary: list[str] = Field(description="The outcome in sentences")
    runs: list[BacktestRunOut]
    truncated: bool = Field(description="More runs were simulated than are listed")


@router.post(
    "/automations/{automation_id}/backtest",
    tags=A,
    summary="Backtest the draft on the last N days of events (nothing runs or is sent)",
)
def backtest(
    automation_id: PathId, body: BacktestIn, caller: Caller = Depends(get_caller)
) -> BacktestOut:
    with caller.uow(read_only=True) as uow:
        report = backtests.backtest(
            uow,
            caller.principal,
            automation_id,
            days=body.days,
            definition=body.definition,
            detail_limit=body.detail_limit,
        )
    return BacktestOut(
        automation_id=report.automation_id,
        automation_name=report.automation_name,
        definition_source=report.definition_source,
        since=report.since,
        until=report.until,
        events_read=report.events_read,
        matched=report.matched,
        enrolled=report.enrolled,
        enrolled_by_type=dict(report.object_types),
        skipped=[
            BacktestSkipOut(reason=reason, detail=detail, count=count)
            for (reason, detail), count in report.skip_details.most_common()
        ],
        outcomes=dict(report.outcomes),
        actions=dict(report.actions),
        action_runs=dict(report.action_runs),
        summary=report.summary(),
        runs=[
            BacktestRunOut(
                **{k: v for k, v in vars(run).items() if k != "steps"},
                steps=[BacktestStepOut(**vars(step)) for step in run.steps],
            )
            for run in report.runs
        ],
        truncated=report.truncated,
    )


def _out(uow: Any, caller: Caller, automation_id: PathId) -> AutomationOut:
    row = service.get_automation(uow, caller.principal, automation_id)
    return AutomationOut.of(row, uow.automations.versions(automation_id))


# runs ------------------------------------------------------------------------------------


class StepOut(BaseModel):
    step_id: str
    iteration: str
    type: str
    status: str
    attempts: int
    input: Any
    output: Any
    error: str | None
    started_at: datetime
    finished_at: datetime


class RunOut(BaseModel):
    id: int
    automation_id: int
    version_id: int
    record_id: int | None
    status: str
    cursor: str | None
    wake_at: datetime | None
    waiting_for: str | None
    error: str | None
    failed_step: str | None
    attempts: int
    depth: int
    trigger: dict[str, Any]
    variables: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    steps: list[StepOut] | None = None

    @classmethod
    def of(cls, row: Any, steps: list[Any] | None = None) -> RunOut:
        state = row.state
        return cls(
            id=row.id,
            automation_id=row.automation_id,
            version_id=row.version_id,
            record_id=row.record_id,
            status=row.status,
            cursor=state.get("cursor"),
            wake_at=row.wake_at,
            waiting_for=row.wait_event,
            error=row.error,
            failed_step=row.failed_step,
            attempts=row.attempts,
            depth=row.depth,
            trigger=state.get("trigger") or {},
            variables=state.get("variables") or {},
            created_at=row.created_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
            steps=None
            if steps is None
            else [
                StepOut(
                    step_id=s.step_id,
                    iteration=s.iteration,
                    type=s.type,
                    status=s.status,
                    attempts=s.attempts,
                    input=s.input,
                    output=s.output,
                    error=s.error,
                    started_at=s.started_at,
                    finished_at=s.finished_at,
                )
                for s in steps
            ],
        )


class SkipOut(BaseModel):
    automation_id: int
    version_id: int
    event_id: int | None
    event_type: str | None
    reason: str
    detail: str
    at: datetime


@router.get("/runs", tags=R, summary="Runs, newest first (filter by record, automation, status)")
def list_runs(
    caller: Caller = Depends(get_caller),
    record: OptionalQueryId = None,
    automation: OptionalQueryId = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> PageOut[RunOut]:
    with caller.uow(read_only=True) as uow:
        page = run_service.list_runs(
            uow,
            caller.principal,
            record_id=record,
            automation_id=automation,
            status=status,
            cursor=cursor,
            limit=limit,
        )
    return PageOut[RunOut](items=[RunOut.of(r) for r in page.items], next_cursor=page.next_cursor)


@router.get(
    "/runs/skipped",
    tags=R,
    summary="Automations that matched a record's events but did not enroll, and why",
)
def list_skips(
    record: int, caller: Caller = Depends(get_caller), limit: int = Query(50, ge=1, le=200)
) -> list[SkipOut]:
    with caller.uow(read_only=True) as uow:
        rows = run_service.skips(uow, caller.principal, record, limit)
    return [
        SkipOut(
            automation_id=r.automation_id,
            version_id=r.version_id,
            event_id=r.event_id,
            event_type=r.event_type,
            reason=r.reason,
            detail=r.detail,
            at=r.created_at,
        )
        for r in rows
    ]


@router.get("/runs/{run_id}", tags=R, summary="A run with every step")
def get_run(run_id: PathId, caller: Caller = Depends(get_caller)) -> RunOut:
    with caller.uow(read_only=True) as uow:
        row = run_service.get_run(uow, caller.principal, run_id)
        return RunOut.of(row, uow.runs.steps(run_id))


@router.post("/runs/{run_id}/retry", tags=R, summary="Retry a failed run from its failed step")
def retry_run(run_id: PathId, caller: Caller = Depends(get_caller)) -> RunOut:
    with caller.uow() as uow:
        run_service.retry(uow, caller.principal, run_id)
        out = RunOut.of(run_service.get_run(uow, caller.principal, run_id))
        uow.commit()
    return out


@router.post("/runs/{run_id}/cancel", tags=R, summary="Cancel a waiting run")
def cancel_run(run_id: PathId, caller: Caller = Depends(get_caller)) -> Response:
    with caller.uow() as uow:
        run_service.cancel(uow, caller.principal, run_id)
        uow.commit()
    return Response(status_code=204)


# virtual clock ---------------------------------------------------------------------------


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str | None = Field(None, description="ISO 8601 duration, e.g. P6M")
    to: datetime | None = Field(None, description="An aware datetime")


@router.get("/admin/clock", tags=["Admin"], summary="The server's clock")
def get_clock(caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    clock = caller.app.clock
    return {"now": clock.now().isoformat(), "virtual": isinstance(clock, VirtualClock)}


@router.post(
    "/admin/clock/advance",
    tags=["Admin"],
    summary="Virtual clock only: move time forward, firing everything due, in order",
)
def advance_clock(body: AdvanceIn, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    result = timekeeper.advance(
        caller.principal, caller.app.clock, caller.app.worker(name="clock"), by=body.by, to=body.to
    )
    return {
        "now": result.now.isoformat(),
        "runs_advanced": result.runs_advanced,
        "stops": result.stops,
    }
