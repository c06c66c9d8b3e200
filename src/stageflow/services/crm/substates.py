"""Sub-states of opportunities (SPEC E1): named, each open or closed on its own; opening or
closing one is a SubstateOpened / SubstateClosed event, which sub-state automations start on.
Opening an open sub-state (or closing a closed one) changes nothing and writes no event.

An opportunity whose ``opportunity_type`` names a defined type has only that type's sub-states;
closing a sub-state cancels the scheduled actions its opening started that are still waiting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stageflow.adapters.db import tables as t
from stageflow.automation.interpreter import RunState
from stageflow.domain.errors import ValidationFailed
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.records import ObjectType, Record
from stageflow.domain.text import a_or_an, problem
from stageflow.domain.users import Principal
from stageflow.services.crm.records import get_editable, get_visible
from stageflow.services.unit_of_work import UnitOfWork

MAX_NAME = 100
SUBSTATE_ACTION = "substate_action"  # the kind of the automations sub-state actions compile to
MAX_CANCELLED = 1000  # waiting runs of one record looked at when a sub-state closes


def substates(uow: UnitOfWork, principal: Principal, record_id: int) -> list[Any]:
    record = get_visible(uow, principal, ObjectType.OPPORTUNITY, record_id)
    assert record.id is not None
    return uow.records.substates(principal.workspace_id, record.id)


def open_substate(
    uow: UnitOfWork,
    principal: Principal,
    record_id: int,
    name: str,
    actor: Actor,
    object_type: ObjectType | None = None,
) -> bool:
    """Open a sub-state; ``object_type`` given (the API's path says opportunity), another
    record is not found, else it is refused."""
    return _change(uow, principal, record_id, name, actor, object_type, opening=True)


def close_substate(
    uow: UnitOfWork,
    principal: Principal,
    record_id: int,
    name: str,
    actor: Actor,
    object_type: ObjectType | None = None,
) -> bool:
    return _change(uow, principal, record_id, name, actor, object_type, opening=False)


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(
            f"a sub-state is named in 1 to {MAX_NAME} characters", field="substate"
        )
    if issue := problem(name):
        raise ValidationFailed(f"the sub-state's name {issue}", field="substate")
    return name


def _change(
    uow: UnitOfWork,
    principal: Principal,
    record_id: int,
    name: str,
    actor: Actor,
    object_type: ObjectType | None,
    *,
    opening: bool,
) -> bool:
    record = get_editable(uow, principal, object_type, record_id)
    if record.object_type is not ObjectType.OPPORTUNITY:
        raise ValidationFailed(
            f"only opportunities have sub-states, not {a_or_an(record.object_type.value)}",
            field="substate",
        )
    name = check_name(name)
    assert record.id is not None
    uow.records.lock(record)  # concurrent changes of one record's sub-states take turns
    current = uow.records.substate(record.id, name)
    is_open = current is not None and current.status == "open"
    if opening or not is_open:
        _check_type(uow, record, name)  # an open one closes even if its type dropped it
    if is_open == opening:
        return False
    now = uow.clock.now()
    if opening:
        uow.records.open_substate(record.workspace_id, record.id, name, now)
    else:
        if current is None:
            return False  # never opened: nothing to close
        uow.records.close_substate(record.id, name, now)
        _cancel_scheduled_actions(uow, record, name, now)
    uow.emit([_event(record, name, actor, now, opening=opening)])
    return True


def _check_type(uow: UnitOfWork, record: Record, name: str) -> None:
    """An opportunity of a defined type has only that type's sub-states; one of no defined
    type may have any."""
    type_name = record.fields.get("opportunity_type")
    if not isinstance(type_name, str) or not type_name:
        return
    kind = uow.opportunity_types.named(record.workspace_id, type_name)
    if kind is not None and not kind.has_substate(name):
        raise ValidationFailed(kind.unknown_substate(name), field="substate")


def _cancel_scheduled_actions(uow: UnitOfWork, record: Record, name: str, now: Any) -> None:
    """Closing a sub-state cancels the scheduled actions its opening started on this record
    that have not fallen due yet (SPEC E2: "unless the sub-state was closed before"): runs of
    sub-state actions, started by this sub-state's opening, still waiting out their delay.

    Each change is guarded as the worker's own are: a run a worker took meanwhile is left to
    it (it fell due while the sub-state was still open)."""
    runs = t.runs.c
    waiting = uow.runs.list(
        record.workspace_id,
        where=[runs.record_id == record.id, runs.status == "waiting"],
        before_id=None,
        limit=MAX_CANCELLED,
    )
    reason = f"the sub-state '{name}' was closed before this action fell due"
    kinds: dict[int, str | None] = {}
    for run in waiting:
        state = RunState.from_json(run.state)
        if (
            state.trigger.get("event_type") != EventType.SUBSTATE_OPENED.value
            or state.trigger.get("substate") != name
        ):
            continue
        if run.automation_id not in kinds:
            automation = uow.automations.get(record.workspace_id, run.automation_id)
            kinds[run.automation_id] = automation.kind if automation else None
        if kinds[run.automation_id] != SUBSTATE_ACTION or not _in_delay(uow, run, state):
            continue
        cancelled = uow.runs.update_if_unchanged(
            run.id,
            run.updated_at,
            {
                "status": "cancelled",
                "wake_at": None,
                "error": reason,
                "updated_at": now,
                "finished_at": now,
            },
        )
        if cancelled:
            uow.runs.add_steps([_cancel_step(run, state, reason, now)])


def _in_delay(uow: UnitOfWork, run: Any, state: RunState) -> bool:
    """Is the run (started or not) at a delay step of its version?"""
    version = uow.automations.version(run.version_id)
    steps = version.definition.get("steps", []) if version else []
    return any(s.get("id") == state.cursor and s.get("type") == "delay" for s in steps)


def _cancel_step(run: Any, state: RunState, reason: str, now: Any) -> dict[str, Any]:
    """The cancellation as a step of the run's history, as leaving a stage records it."""
    started = state.entered_at
    return {
        "run_id": run.id,
        "step_id": state.cursor,
        "iteration": "#cancelled",  # a top-level delay step runs once: no loop counters
        "type": "cancel",
        "status": "cancelled",
        "attempts": 1,
        "input": None,
        "output": {"reason": reason},
        "error": None,
        "started_at": datetime.fromisoformat(started) if started else now,
        "finished_at": now,
    }


def _event(record: Record, name: str, actor: Actor, at: Any, *, opening: bool) -> Event:
    return Event(
        EventType.SUBSTATE_OPENED if opening else EventType.SUBSTATE_CLOSED,
        record.workspace_id,
        actor,
        at,
        record_id=record.id,
        object_type=record.object_type.value,
        data={"substate": name, "opportunity_type": record.fields.get("opportunity_type")},
    )
