"""The worker: claims due runs in batches, advances each through its graph, and commits the
batch — step rows, CRM changes and run state in one transaction (DESIGN "Workers and
scale-out"). A crash loses the whole uncommitted batch and nothing else, so the next claim
redoes it: each internal action takes effect exactly once."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from stageflow.automation import calendar as cal
from stageflow.automation.definitions import ActionStep
from stageflow.automation.durations import parse_duration
from stageflow.automation.interpreter import (
    Outcome,
    RecordGone,
    RunState,
    StepResult,
    advance,
    parsed_filter,
)
from stageflow.domain.clock import Clock
from stageflow.domain.errors import StageflowError, StaleVersion
from stageflow.domain.events import Actor
from stageflow.domain.filters import evaluate
from stageflow.services.crm import conversations
from stageflow.services.engine import timers
from stageflow.services.engine.enrollment import Enroller, Version, VersionCache
from stageflow.services.engine.outbox import Courier
from stageflow.services.engine.run_port import RunPort, SafeModeNeeded
from stageflow.services.engine.run_rows import RunRow, run_rows
from stageflow.services.unit_of_work import UnitOfWork

log = logging.getLogger("stageflow.worker")
DEFAULT_BATCH = 200


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
            if not isinstance(exc, SafeModeNeeded):
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
                        raise SafeModeNeeded()
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
                moments.append(uow.outbox.next_attempt_at(self.courier.lease_clock.now()))
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
