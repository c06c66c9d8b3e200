"""The worker: claims due runs in batches, advances each through its graph, and commits the
batch — step rows, CRM changes and run state in one transaction (DESIGN "Workers and
scale-out"). A crash loses the whole uncommitted batch and nothing else, so the next claim
redoes it: each internal action takes effect exactly once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from stageflow.actions import registry
from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SettingsInvalid
from stageflow.automation import calendar as cal
from stageflow.automation.definitions import ActionStep, DelayStep
from stageflow.automation.durations import parse_duration
from stageflow.automation.interpreter import (
    Outcome,
    RecordGone,
    RunState,
    StepFailed,
    StepResult,
    advance,
    parsed_filter,
)
from stageflow.automation.templates import TemplateProblem, render
from stageflow.domain.clock import Clock
from stageflow.domain.errors import StageflowError, StaleVersion
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.filters import evaluate
from stageflow.domain.records import Record
from stageflow.services.context import RecordValues, record_dict, related
from stageflow.services.crm import conversations
from stageflow.services.crm.records import field_definitions
from stageflow.services.engine import outbox, timers
from stageflow.services.engine.crm_port import ServiceCrm
from stageflow.services.engine.enrollment import Enroller, Version, VersionCache
from stageflow.services.engine.outbox import Courier
from stageflow.services.engine.run_rows import RunRow, run_rows
from stageflow.services.unit_of_work import UnitOfWork

log = logging.getLogger("stageflow.worker")
DEFAULT_BATCH = 200

# Enum members read per run, as module constants: on Python 3.11 reading a member through its
# class goes through EnumType's __getattr__ hook (see services/engine/enrollment.py).
_AUTOMATION_KIND = ActorKind.AUTOMATION
_AUTOMATION_SOURCE = Source.AUTOMATION


@dataclass
class TickResult:
    claimed: int = 0
    completed: int = 0
    waiting: int = 0
    failed: int = 0
    cancelled: int = 0
    conversations_woken: int = 0


class Worker:
    """Executes due runs. Several may run at once (threads or processes) on PostgreSQL."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        enroller: Enroller,
        *,
        batch_size: int = DEFAULT_BATCH,
        name: str = "worker",
        courier: Courier | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.enroller = enroller
        self.versions: VersionCache = enroller.versions
        self.batch_size = batch_size
        self.name = name
        self.courier = courier

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.clock, hook=self.enroller, memoize=True)

    def tick(self) -> TickResult:
        """Claim one batch of due runs and execute it in one transaction.

        The fast path runs the batch without savepoints. If any run fails in any way, the
        whole transaction is rolled back and the batch is redone in safe mode, where each run
        and each action has a savepoint, so one bad run costs only itself.
        """
        try:
            return self._tick(safe=False)
        except Exception as exc:
            if not isinstance(exc, _SafeModeNeeded):
                log.warning("batch failed on the fast path (%r); redoing it safely", exc)
        try:
            return self._tick(safe=True)
        except Exception as exc:
            # Something outside any run's savepoint failed (e.g. at commit): take the runs
            # one transaction each, so one poisonous run cannot stop all the others.
            log.warning("batch failed in safe mode (%r); running its runs one by one", exc)
            return self._tick_one_by_one()

    def _tick_one_by_one(self) -> TickResult:
        result = TickResult()
        with self.uow() as uow:
            run_ids = [r.id for r in uow.runs.claim_due(uow.clock.now(), self.batch_size)]
        for run_id in run_ids:
            try:
                with self.uow() as uow:
                    claimed = uow.runs.claim_one(run_id, uow.clock.now())
                    if claimed is None:
                        continue
                    (row,) = run_rows([claimed])
                    calendar = timers.workspace_calendar(uow, row.workspace_id)
                    update, steps = self._execute_safely(uow, row, calendar)
                    uow.runs.add_steps(steps)
                    uow.runs.save_many([update])
                    uow.commit()
            except Exception as exc:
                log.exception("run %s cannot be committed; failing it", run_id)
                with self.uow() as uow:
                    now = uow.clock.now()
                    uow.runs.save_many(
                        [
                            {
                                "_id": run_id,
                                "status": "failed",
                                "wake_at": None,
                                "updated_at": now,
                                "finished_at": now,
                                "error": f"internal error at commit: {exc!r}"[:2000],
                            }
                        ]
                    )
                    uow.commit()
                update = {"status": "failed"}
            result.claimed += 1
            setattr(result, update["status"], getattr(result, update["status"]) + 1)
        return result

    def _tick(self, *, safe: bool) -> TickResult:
        result = TickResult()
        with self.uow() as uow:
            now = uow.clock.now()
            result.conversations_woken = conversations.wake_snoozed(uow, Actor.system())
            rows = run_rows(uow.runs.claim_due(now, self.batch_size))
            result.claimed = len(rows)
            if not rows:
                if result.conversations_woken:
                    uow.commit()
                return result
            uow.records.preload([r.record_id for r in rows if r.record_id is not None])
            retried = [r.id for r in rows if r.attempts > 0]
            existing_steps = uow.runs.step_keys(retried)
            updates: list[dict[str, Any]] = []
            new_steps: list[dict[str, Any]] = []
            for row in rows:
                calendar = timers.workspace_calendar(uow, row.workspace_id)
                if safe:
                    update, steps = self._execute_safely(uow, row, calendar)
                else:
                    update, steps = self._execute(uow, row, calendar, safe=False)
                    if update["status"] == "failed" or update.get("failed_step") is not None:
                        raise _SafeModeNeeded()
                updates.append(update)
                for step in steps:
                    key = (step["run_id"], step["step_id"], step["iteration"])
                    if key in existing_steps:
                        uow.runs.update_step(step)
                    else:
                        new_steps.append(step)
                setattr(result, update["status"], getattr(result, update["status"]) + 1)
            uow.runs.add_steps(new_steps)
            uow.runs.save_many(updates)
            uow.commit()
        return result

    def run_until_idle(self, max_batches: int | None = None) -> int:
        """Tick until nothing is due now, deliveries included; returns how many runs were
        advanced."""
        total, batches = 0, 0
        while max_batches is None or batches < max_batches:
            result = self.tick()
            total += result.claimed
            batches += 1
            delivered = self.deliver()
            if result.claimed == 0 and result.conversations_woken == 0 and delivered == 0:
                break
        return total

    def deliver(self) -> int:
        """Send one batch of due outbox deliveries; returns how many were attempted."""
        if self.courier is None:
            return 0
        try:
            return self.courier.tick().claimed
        except Exception:
            log.exception("worker %s: delivering failed; retrying", self.name)
            return 0

    def next_due(self) -> datetime | None:
        """When the next run or delivery falls due (None: nothing is waiting)."""
        with self.uow() as uow:
            moments = [uow.runs.next_wake_at()]
            if self.courier is not None:
                moments.append(uow.outbox.next_attempt_at())
        return min((m for m in moments if m is not None), default=None)

    def run_forever(self, stop: threading.Event, *, poll_seconds: float = 0.5) -> None:
        """Work until ``stop`` is set; wake early when this process enrolls something."""
        while not stop.is_set():
            try:
                claimed = self.tick().claimed
            except Exception:
                log.exception("worker %s: batch failed; retrying", self.name)
                claimed = 0
                stop.wait(poll_seconds)
            claimed += self.deliver()
            if claimed == 0:
                self.enroller.work_available.wait(poll_seconds)
                self.enroller.work_available.clear()

    def _execute_safely(
        self, uow: UnitOfWork, row: RunRow, calendar: cal.WorkCalendar
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Advance one run inside a savepoint; an unexpected error fails only this run."""
        now = uow.clock.now()
        try:
            with uow.savepoint():
                return self._execute(uow, row, calendar, safe=True)
        except StaleVersion:
            # Someone changed the record meanwhile: nothing of this run was kept; try again.
            return (
                {
                    "_id": row.id,
                    "wake_at": now + timedelta(seconds=1),
                    "updated_at": now,
                    "error": "a record changed while this run used it; trying again",
                },
                [],
            )
        except Exception as exc:  # a bug or a database error: fail this run, keep the batch
            log.exception("run %s failed unexpectedly", row.id)
            message = exc.message if isinstance(exc, StageflowError) else repr(exc)
            return (
                {
                    "_id": row.id,
                    "status": "failed",
                    "error": f"internal error: {message}",
                    "updated_at": now,
                    "finished_at": now,
                    "wake_at": None,
                },
                [],
            )

    def _execute(
        self, uow: UnitOfWork, row: RunRow, calendar: cal.WorkCalendar, *, safe: bool
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        now = uow.clock.now()
        version = self.versions.get(uow, row.version_id)
        state = RunState.from_json(row.state)
        port = RunPort(uow, row, version, calendar, safe=safe)
        if state.trigger.get("schedule_tick"):
            output = timers.tick(uow, row, version.definition, version.graph.first)
            port.record(StepResult("schedule", "", "tick", "completed", now, now, output=output))
            outcome = Outcome(status="completed")
        elif state.trigger.get("armed") or state.trigger.get("check_conditions"):
            outcome = _check_start(uow, row, port, version, state, now) or advance(
                version.graph, state, port
            )
        else:
            outcome = advance(version.graph, state, port, event=_event_in_time(row, state))
        return self._update(row, state, outcome, version, now), port.step_rows()

    def _update(
        self, row: RunRow, state: RunState, outcome: Outcome, version: Version, now: datetime
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "_id": row.id,
            "state": state.to_json(),
            "updated_at": now,
            "resume_event": None,
            "wait_event": None,
            "error": None,
            "failed_step": None,
            "wake_at": None,
            "finished_at": None,
            # Attempts count the failures of the step the run is on; moving on resets them.
            "attempts": 0,
            "status": outcome.status,
        }
        if outcome.status == "waiting":
            update["wake_at"] = outcome.wake_at
            if state.waiting and _waits_on_record(version, state):
                update["wait_event"] = outcome.wait_event or "*"
        elif outcome.status == "failed":
            # The same step failing again adds an attempt; another step starts its own count.
            same_step = outcome.failed_step == row.failed_step
            attempts = row.attempts + 1 if same_step else 1
            update.update(error=outcome.error, failed_step=outcome.failed_step, attempts=attempts)
            retry_at = _retry_at(version, outcome, attempts, now)
            if retry_at is not None:
                update.update(status="waiting", wake_at=retry_at)
            else:
                update["finished_at"] = now
        else:
            update["finished_at"] = now
            if outcome.status == "cancelled":
                update["error"] = outcome.error
        return update


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


class _SafeModeNeeded(Exception):
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
                raise _SafeModeNeeded() from exc
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


def _check_start(
    uow: UnitOfWork, row: RunRow, port: RunPort, version: Version, state: RunState, now: datetime
) -> Outcome | None:
    """Runs enrolled ahead of time check, when they start, what enrollment could not:

    - a date-armed run: the date is still the one it was armed for, the automation is still
      active on this version, and (unless re-enrollment is allowed) it has not run already;
    - date-armed and scheduled runs: the automation's conditions hold now.
    If not, the run cancels itself, saying why.
    """
    trigger = state.trigger
    armed = bool(trigger.pop("armed", False))
    trigger.pop("check_conditions", None)
    try:
        reason = _start_refusal(uow, row, port, version, trigger, armed)
    except RecordGone:
        reason = "the record was deleted"
    if reason is None:
        return None
    port.record(
        StepResult("trigger", "", "check", "cancelled", now, now, output={"reason": reason})
    )
    return Outcome(status="cancelled", error=reason)


def _start_refusal(
    uow: UnitOfWork,
    row: RunRow,
    port: RunPort,
    version: Version,
    trigger: dict[str, Any],
    armed: bool,
) -> str | None:
    definition = version.definition
    if armed:
        automation = uow.automations.get(row.workspace_id, row.automation_id)
        if (
            automation is None
            or automation.status != "active"
            or (automation.active_version_id != row.version_id)
        ):
            return "the automation was paused, archived or republished before the date"
        current = port.values().get(trigger["date_field"])
        if current != trigger["date_value"]:
            return f"the date changed from {trigger['date_value']} to {current}"
        if not definition.trigger.allow_reenrollment and uow.runs.has_completed(
            row.automation_id, row.record_id
        ):
            return "this record already ran this automation"
    if definition.conditions is not None and not evaluate(
        parsed_filter(definition.conditions), port.values()
    ):
        return "the automation's conditions did not hold when it was due"
    return None


def _event_in_time(row: RunRow, state: RunState) -> str | None:
    """The event that woke a waiting run, if it came before the wait's deadline (a run woken
    late by its timeout must not count an event that happened after it)."""
    if row.resume_event is None or state.deadline is None or row.wake_at is None:
        return row.resume_event
    in_time = row.wake_at <= datetime.fromisoformat(state.deadline)
    return row.resume_event if in_time else None


def _waits_on_record(version: Version, state: RunState) -> bool:
    step = version.graph.steps.get(state.cursor or "")
    return step is not None and step.type == "wait_until"


def _retry_at(
    version: Version,
    outcome: Outcome,
    attempts: int,
    now: datetime,
) -> datetime | None:
    """Exponential backoff for retryable failures, until the step's attempts run out."""
    step = version.graph.steps.get(outcome.failed_step or "")
    if not outcome.retryable or not isinstance(step, ActionStep):
        return None
    if attempts >= step.retry.max_attempts:
        return None
    first = parse_duration(step.retry.initial_backoff).approximate_seconds
    ceiling = parse_duration(step.retry.max_backoff).approximate_seconds
    return now + timedelta(seconds=min(first * 2 ** (attempts - 1), ceiling))
