"""Sub-states of opportunities (SPEC E1): named, each open or closed on its own; opening or
closing one is a SubstateOpened / SubstateClosed event, which sub-state automations start on.
Opening an open sub-state (or closing a closed one) changes nothing and writes no event."""

from __future__ import annotations

from typing import Any

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.events import Actor, Event, EventType
from stageflow.domain.records import ObjectType, Record
from stageflow.domain.text import problem
from stageflow.domain.users import Principal
from stageflow.services.records import get_editable, get_visible
from stageflow.services.unit_of_work import UnitOfWork

MAX_NAME = 100


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
            f"only opportunities have sub-states, not a {record.object_type.value}",
            field="substate",
        )
    name = check_name(name)
    assert record.id is not None
    uow.records.lock(record)  # concurrent changes of one record's sub-states take turns
    current = uow.records.substate(record.id, name)
    is_open = current is not None and current.status == "open"
    if is_open == opening:
        return False
    now = uow.clock.now()
    if opening:
        uow.records.open_substate(record.workspace_id, record.id, name, now)
    else:
        if current is None:
            return False  # never opened: nothing to close
        uow.records.close_substate(record.id, name, now)
    uow.emit([_event(record, name, actor, now, opening=opening)])
    return True


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
