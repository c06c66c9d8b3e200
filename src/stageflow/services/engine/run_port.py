"""What a run's steps see of the world while the worker executes them: the record and its
values, the actions' context (CRM, outbox, templates, calendar), and the step rows to write."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from stageflow.actions import registry
from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SettingsInvalid
from stageflow.automation import calendar as cal
from stageflow.automation.definitions import ActionStep, DelayStep
from stageflow.automation.durations import parse_duration
from stageflow.automation.interpreter import (
    RecordGone,
    RunState,
    StepFailed,
    StepResult,
)
from stageflow.automation.templates import TemplateProblem, render
from stageflow.domain.errors import StageflowError
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.records import Record
from stageflow.services.context import RecordValues, record_dict, related
from stageflow.services.crm.records import field_definitions
from stageflow.services.engine import outbox
from stageflow.services.engine.crm_port import ServiceCrm
from stageflow.services.engine.enrollment import Version
from stageflow.services.engine.run_rows import RunRow
from stageflow.services.unit_of_work import UnitOfWork

# Enum members read per run, as module constants: on Python 3.11 reading a member through its
# class goes through EnumType's __getattr__ hook (see services/engine/enrollment.py).
_AUTOMATION_KIND = ActorKind.AUTOMATION
_AUTOMATION_SOURCE = Source.AUTOMATION


class RunOutbox:
    """A run step's way out: deliveries queued in the run's transaction, keyed by the step."""

    def __init__(self, uow: UnitOfWork, row: RunRow, step_id: str, key: str) -> None:
        self.uow, self.row, self.step_id, self.key = uow, row, step_id, key

    def queue(
        self, kind: str, payload: dict[str, Any], *, max_attempts: int, part: str = ""
    ) -> int:
        return outbox.queue(
            self.uow,
            self.row.workspace_id,
            kind=kind,
            idempotency_key=f"{self.key}#{part}" if part else self.key,
            payload=payload,
            max_attempts=max_attempts,
            run_id=self.row.id,
            step_id=self.step_id,
            record_id=self.row.record_id,
        )


class SafeModeNeeded(Exception):
    """A run failed on the fast path; the batch is rolled back and redone in safe mode."""


class RunPort:
    """The interpreter's view of the world for one run (see automation.interpreter.Port)."""

    def __init__(
        self,
        uow: UnitOfWork,
        row: RunRow,
        version: Version,
        calendar: cal.WorkCalendar,
        *,
        safe: bool = True,
    ) -> None:
        self.uow = uow
        self.row = row
        self.version = version
        self.calendar = calendar
        self.safe = safe
        self.actor = Actor(
            kind=_AUTOMATION_KIND,
            source=_AUTOMATION_SOURCE,
            id=row.automation_id,
            run_id=row.id,
            version=version.number,
            depth=row.depth + 1,
        )
        self._record: Record | None = None
        self._values: RecordValues | None = None
        self._results: list[StepResult] = []
        self.crm = ServiceCrm(uow, row.workspace_id, self.actor, on_change=self._forget)

    def now(self) -> datetime:
        return self.uow.clock.now()

    def values(self) -> Mapping[str, Any]:
        if self.row.record_id is None:
            return {}
        if self._values is None:
            record = self._load()
            self._values = RecordValues(self.uow, record)
        return self._values

    def perform(
        self, step: ActionStep, iteration: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        action = registry.get(step.action)
        key = f"run-{self.row.id}/{step.id}/{iteration}"
        if step.channels and self.row.record_id is not None:
            source = self._load().source
            if source not in step.channels:
                return {
                    "skipped": f"the record came through {source or 'no channel'}; this "
                    f"action is for {', '.join(step.channels)}"
                }
        try:
            settings = action.parse(step.settings)
            context = ActionContext(
                workspace_id=self.row.workspace_id,
                record_id=self.row.record_id,
                object_type=self._load().object_type.value if self.row.record_id else None,
                now=self.now(),
                idempotency_key=key,
                variables=variables,
                calendar=self.calendar,
                crm=self.crm,
                template_context_factory=lambda: self._template_context(variables),
                attempt=self.row.attempts + 1 if self.row.failed_step == step.id else 1,
                outbox=RunOutbox(self.uow, self.row, step.id, key),
                scope=f"automation-{self.row.automation_id}/{step.id}",
            )
            if self.safe:
                with self.uow.savepoint():
                    output = action.run(context, settings)
            else:
                output = action.run(context, settings)
        except (SettingsInvalid, TemplateProblem, ValueError, StageflowError) as exc:
            if not self.safe:
                # The action may have written half its effects: redo the batch safely.
                raise SafeModeNeeded() from exc
            if isinstance(exc, StageflowError):
                raise StepFailed(exc.message, retryable=exc.retryable) from None
            raise StepFailed(str(exc)) from None
        self._forget()
        return output

    def delay_until(self, step: DelayStep, now: datetime) -> datetime:
        if step.duration is not None:
            duration = parse_duration(step.duration)
            if step.business_hours:
                return cal.add_business_time(now, duration, self.calendar)
            return cal.add_duration(now, duration, self.calendar)
        if step.at is not None:
            return cal.at_time(step.at, now, self.calendar)
        assert step.until_field is not None
        moment = cal.until_field(self.values().get(step.until_field), step.offset, self.calendar)
        return moment if moment is not None else now

    def render(self, template: str, variables: dict[str, Any]) -> str:
        try:
            return render(template, self._template_context(variables))
        except TemplateProblem as exc:
            raise StepFailed(str(exc)) from None

    def record(self, result: StepResult) -> None:
        self._results.append(result)

    def step_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "run_id": self.row.id,
                "step_id": r.step_id,
                "iteration": r.iteration,
                "type": r.type,
                "status": r.status,
                "attempts": 1,
                "input": r.input,
                "output": r.output,
                "error": r.error,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
            }
            for r in self._results
        ]

    def _load(self) -> Record:
        if self._record is None:
            if self.row.record_id is None:
                raise RecordGone()
            record = self.uow.records.get(self.row.workspace_id, self.row.record_id)
            if record is None:
                raise RecordGone()
            self._record = record
        return self._record

    def _forget(self) -> None:
        self._record, self._values = None, None

    def _template_context(self, variables: dict[str, Any]) -> dict[str, Any]:
        context: dict[str, Any] = {
            "vars": variables,
            "now": self.now().isoformat(),
            "trigger": RunState.from_json(self.row.state).trigger,
        }
        if self.row.record_id is not None:
            record = self._load()
            base = record_dict(self.uow, record)
            # A field the record has no value for reads as empty, not as an error.
            empty = dict.fromkeys(
                field_definitions(self.uow, record.workspace_id, record.object_type)
            )
            context["record"] = {**empty, **base}
            context.update(related(self.uow, record, base["associations"]))
        return context
