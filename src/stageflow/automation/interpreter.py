"""The interpreter: moves a run through its step graph until it ends or must wait.

Pure: every effect goes through the ``Port`` the worker supplies (perform an action, read the
record, persist a step row, compute a delay). Actions return data; a delay returns "waiting"
and the worker decides when to come back (STYLE "Actions return results as data").
"""

from __future__ import annotations

import json
from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol, cast

from stageflow.automation.definitions import (
    ActionStep,
    BranchStep,
    DelayStep,
    LoopStep,
    SetVariableStep,
    WaitUntilStep,
)
from stageflow.automation.durations import parse_duration
from stageflow.automation.graph import Graph, Node
from stageflow.domain.filters import Filter, evaluate, parse_filter

STATE_FORMAT = 1
MAX_STEPS_PER_ADVANCE = 10_000


class StepFailed(Exception):
    """An action failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class RecordGone(Exception):
    """The run's record no longer exists."""


@dataclass
class RunState:
    """Everything a run needs to continue: serialised with a format version."""

    cursor: str | None
    variables: dict[str, Any] = field(default_factory=dict)
    loops: dict[str, int] = field(default_factory=dict)
    waiting: bool = False
    entered_at: str | None = None
    deadline: str | None = None
    trigger: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "cursor": self.cursor,
            "variables": self.variables,
            "loops": self.loops,
            "waiting": self.waiting,
            "entered_at": self.entered_at,
            "deadline": self.deadline,
            "trigger": self.trigger,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        data = migrate_state(dict(data))
        return cls(
            cursor=data["cursor"],
            variables=dict(data["variables"]),
            loops=dict(data["loops"]),
            waiting=data["waiting"],
            entered_at=data.get("entered_at"),
            deadline=data.get("deadline"),
            trigger=dict(data.get("trigger") or {}),
        )


def migrate_state(data: dict[str, Any]) -> dict[str, Any]:
    """Bring serialised run state of older formats up to STATE_FORMAT."""
    version = data.get("format", 1)
    if version > STATE_FORMAT:
        raise ValueError(f"run state format {version} is newer than this stageflow knows")
    return data


# Named tuples rather than frozen dataclasses: as immutable, and several per run are made,
# where a frozen dataclass's __init__ costs one object.__setattr__ call per field.


class StepResult(NamedTuple):
    step_id: str
    iteration: str
    type: str
    status: Literal["completed", "failed", "cancelled"]
    started_at: datetime
    finished_at: datetime
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    error: str | None = None


class Outcome(NamedTuple):
    status: Literal["completed", "waiting", "failed", "cancelled"]
    wake_at: datetime | None = None
    wait_event: str | None = None
    error: str | None = None
    retryable: bool = False
    failed_step: str | None = None


class Port(Protocol):
    """What the interpreter needs from the world."""

    def now(self) -> datetime: ...

    def values(self) -> Mapping[str, Any]:
        """The record's current values, flat (``amount``, ``contact.email``…)."""

    def perform(
        self, step: ActionStep, iteration: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        """Run an action; raises StepFailed."""

    def delay_until(self, step: DelayStep, now: datetime) -> datetime: ...

    def render(self, template: str, variables: dict[str, Any]) -> str: ...

    def record(self, result: StepResult) -> None: ...


def advance(graph: Graph, state: RunState, port: Port, *, event: str | None = None) -> Outcome:
    """Run from the cursor until the run completes, waits, fails or is cancelled.

    ``event`` is the type of the event that woke a run waiting for one, if any.
    """
    try:
        if state.waiting:
            outcome = _resume(graph, state, port, event)
            if outcome is not None:
                return outcome
        return _run(graph, state, port)
    except RecordGone:
        return Outcome(status="cancelled", error="the record was deleted")


def _resume(graph: Graph, state: RunState, port: Port, event: str | None) -> Outcome | None:
    assert state.cursor is not None
    node = graph.node(state.cursor)
    now = port.now()
    started = datetime.fromisoformat(state.entered_at) if state.entered_at else now
    key = node.iteration_key(state.loops)
    if node.type == "delay":
        _done(port, node, key, started, {"waited_until": now.isoformat()}, finished=now)
        _leave_wait(state)
        state.cursor = node.next
        return None
    step = node.step
    assert isinstance(step, WaitUntilStep)
    deadline = datetime.fromisoformat(state.deadline) if state.deadline else now
    if _wait_satisfied(graph, step, state, port, event):
        _done(port, node, key, started, {"satisfied": True, "event": event}, finished=now)
        _leave_wait(state)
        state.cursor = node.next
        return None
    if now >= deadline:
        _done(port, node, key, started, {"timed_out": True}, finished=now)
        _leave_wait(state)
        state.cursor = graph.timeout_first[node.id]
        return None
    return Outcome(status="waiting", wake_at=deadline, wait_event=step.event)


def _wait_satisfied(
    graph: Graph, step: WaitUntilStep, state: RunState, port: Port, event: str | None
) -> bool:
    if step.event is not None and event != step.event:
        return False
    return step.condition is None or _holds(graph, step.condition, state, port)


def _leave_wait(state: RunState) -> None:
    state.waiting, state.entered_at, state.deadline = False, None, None


def _run(graph: Graph, state: RunState, port: Port) -> Outcome:
    for _ in range(MAX_STEPS_PER_ADVANCE):
        if state.cursor is None:
            return Outcome(status="completed")
        node = graph.node(state.cursor)
        key = node.iteration_key(state.loops)
        now = port.now()
        try:
            outcome = _step(graph, node, key, state, port, now)
        except StepFailed as failure:
            port.record(
                StepResult(
                    node.id,
                    key,
                    node.type,
                    "failed",
                    now,
                    port.now(),
                    input=getattr(node.step, "settings", None),
                    error=failure.message,
                )
            )
            return Outcome(
                status="failed",
                error=failure.message,
                retryable=failure.retryable,
                failed_step=node.id,
            )
        if outcome is not None:
            return outcome
    # A long loop yields: its state is saved and it continues in the next batch.
    return Outcome(status="waiting", wake_at=port.now())


def _step(
    graph: Graph, node: Node, key: str, state: RunState, port: Port, now: datetime
) -> Outcome | None:
    """Execute the step at the cursor and move the cursor; an outcome stops the run here."""
    step: Any = node.step
    match node.type:
        case "action":
            output = port.perform(step, key, state.variables)
            port.record(
                StepResult(
                    node.id,
                    key,
                    node.type,
                    "completed",
                    now,
                    port.now(),
                    input=step.settings,
                    output=output,
                )
            )
            state.cursor = node.next
        case "branch":
            state.cursor = _branch(graph, node, key, state, port, now)
        case "delay":
            wake_at = port.delay_until(step, now)
            if wake_at > now:
                state.waiting, state.entered_at = True, now.isoformat()
                return Outcome(status="waiting", wake_at=wake_at)
            _done(port, node, key, now, {"waited_until": now.isoformat(), "already_due": True})
            state.cursor = node.next
        case "wait_until":
            if step.event is None and _holds(graph, step.condition, state, port):
                _done(port, node, key, now, {"satisfied": True})
                state.cursor = node.next
                return None
            deadline = parse_duration(step.timeout).after(now)
            state.waiting, state.entered_at = True, now.isoformat()
            state.deadline = deadline.isoformat()
            return Outcome(status="waiting", wake_at=deadline, wait_event=step.event)
        case "loop":
            state.cursor = _loop(graph, node, key, state, port, now)
        case "set_variable":
            value = _variable_value(step, state, port)
            state.variables[step.variable] = value
            _done(port, node, key, now, {step.variable: value})
            state.cursor = node.next
        case "end":
            _done(port, node, key, now, {"outcome": step.outcome, "reason": step.reason})
            state.cursor = None
            if step.outcome == "cancelled":
                return Outcome(status="cancelled", error=step.reason or "ended by an end step")
            return Outcome(status="completed")
    return None


def _done(
    port: Port,
    node: Node,
    key: str,
    started: datetime,
    output: dict[str, Any],
    *,
    finished: datetime | None = None,
) -> None:
    """Record a completed step (every step leaves a row: X4)."""
    port.record(
        StepResult(
            node.id, key, node.type, "completed", started, finished or started, output=output
        )
    )


def _branch(
    graph: Graph, node: Node, key: str, state: RunState, port: Port, now: datetime
) -> str | None:
    step = node.step
    assert isinstance(step, BranchStep)
    for index, branch in enumerate(step.branches):
        if _holds(graph, branch.condition, state, port):
            _done(port, node, key, now, {"branch": index, "name": branch.name})
            return graph.branch_first[(node.id, index)]
    _done(port, node, key, now, {"branch": "otherwise" if step.otherwise else None})
    return graph.otherwise_first[node.id]


def _loop(
    graph: Graph, node: Node, key: str, state: RunState, port: Port, now: datetime
) -> str | None:
    step = node.step
    assert isinstance(step, LoopStep)
    turns = state.loops.get(node.id, 0)
    if turns >= step.max_iterations:
        exit_reason = "max_iterations"
    elif _holds(graph, step.condition, state, port):
        state.loops[node.id] = turns + 1
        _done(port, node, key, now, {"iteration": turns + 1})
        return graph.body_first[node.id]
    else:
        exit_reason = "condition"
    state.loops.pop(node.id, None)
    _done(port, node, key, now, {"exit": exit_reason, "iterations": turns})
    return node.next


def _holds(graph: Graph, condition: dict[str, Any] | None, state: RunState, port: Port) -> bool:
    if condition is None:
        return True
    run_values = {
        **{f"vars.{k}": v for k, v in state.variables.items()},
        **{f"trigger.{k}": v for k, v in state.trigger.items()},
    }
    # A ChainMap reads the record's values only for the fields the condition asks about.
    record_values = cast(MutableMapping[str, Any], port.values())
    return evaluate(graph.condition(condition), ChainMap(run_values, record_values))


def parsed_filter(condition: dict[str, Any]) -> Filter:
    """Conditions are checked when saved; parse each distinct one once per process."""
    return _parse_cached(json.dumps(condition, sort_keys=True))


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Filter:
    return parse_filter(json.loads(text))


def _variable_value(step: SetVariableStep, state: RunState, port: Port) -> Any:
    if step.increment is not None:
        current = state.variables.get(step.variable) or 0
        if not isinstance(current, int | float) or isinstance(current, bool):
            raise StepFailed(f"variable '{step.variable}' is not a number")
        total = current + step.increment
        return int(total) if float(total).is_integer() else total
    if step.template is not None:
        rendered = port.render(step.template, state.variables)
        try:
            parsed: Any = json.loads(rendered)
        except ValueError:
            return rendered
        return parsed if isinstance(parsed, int | float | bool) else rendered
    return step.value
