"""Command handlers for activities (SPEC M3). Their events go on the record's timeline."""

from __future__ import annotations

from typing import Any

from stageflow.adapters.db import tables as t
from stageflow.domain.activities import (
    BORN_COMPLETED,
    Activity,
    ActivityStatus,
    ActivityType,
    check_outcome,
)
from stageflow.domain.errors import NotFound, StaleVersion, ValidationFailed
from stageflow.domain.events import Actor, ActorKind
from stageflow.domain.text import a_or_an
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import CreateActivity, UpdateActivity
from stageflow.services.crm.records import get_editable, get_visible
from stageflow.services.pagination import Page, check_limit, decode_cursor, page_of
from stageflow.services.unit_of_work import UnitOfWork


def log_activity(
    uow: UnitOfWork, principal: Principal, cmd: CreateActivity, actor: Actor
) -> Activity:
    record = get_editable(uow, principal, None, cmd.record_id)
    check_outcome(cmd.type, cmd.outcome)
    responsible = cmd.responsible_id if cmd.responsible_id is not None else record.owner_id
    _check_user(uow, principal, responsible)
    status = cmd.status or _default_status(cmd.type, cmd.outcome)
    if cmd.complete_on_stage_exit and record.stage_id is None:
        raise ValidationFailed(
            f"{a_or_an(record.object_type.value)} without a stage cannot complete the activity on "
            "leaving it",
            field="complete_on_stage_exit",
        )
    now = uow.clock.now()
    activity = Activity(
        workspace_id=principal.workspace_id,
        record_id=cmd.record_id,
        object_type=record.object_type.value,
        type=cmd.type,
        subject=cmd.subject,
        description=cmd.description,
        due_at=cmd.due_at,
        responsible_id=responsible,
        status=status,
        outcome=cmd.outcome,
        direction=cmd.direction,
        channel=cmd.channel,
        completed_at=now if status is ActivityStatus.COMPLETED else None,
        complete_on_exit_stage_id=record.stage_id if cmd.complete_on_stage_exit else None,
        exit_actor=actor
        if cmd.complete_on_stage_exit and actor.kind is ActorKind.AUTOMATION
        else None,
        created_at=now,
        updated_at=now,
    )
    activity.logged(actor)
    uow.activities.add(activity)
    uow.emit(activity.events)
    return activity


def update_activity(
    uow: UnitOfWork, principal: Principal, activity_id: int, cmd: UpdateActivity, actor: Actor
) -> Activity:
    activity = get_activity(uow, principal, activity_id)
    if activity.responsible_id != principal.user_id:
        get_editable(uow, principal, None, activity.record_id)
    if cmd.version is not None and cmd.version != activity.version:
        raise StaleVersion(
            f"activity {activity_id} is at version {activity.version}, not {cmd.version}",
            field="version",
        )
    read_version = activity.version
    changes: dict[str, Any] = cmd.model_dump(exclude_unset=True, exclude={"version"})
    for required in ("subject", "description", "status"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(f"'{required}' cannot be null", field=required)
    if "outcome" in changes:
        check_outcome(activity.type, changes["outcome"])
    if "responsible_id" in changes:
        _check_user(uow, principal, changes["responsible_id"])
    if "status" in changes:
        changes["status"] = ActivityStatus(changes["status"])
    if activity.change(changes, actor, uow.clock.now()):
        uow.activities.save(activity, read_version)
        uow.emit(activity.events)
    return activity


def get_activity(uow: UnitOfWork, principal: Principal, activity_id: int) -> Activity:
    """An activity is visible with its record, and always to the user responsible for it."""
    activity = uow.activities.get(principal.workspace_id, activity_id)
    if activity is None:
        raise NotFound(f"activity {activity_id} not found")
    if activity.responsible_id == principal.user_id:
        return activity
    try:
        get_visible(uow, principal, None, activity.record_id)
    except NotFound:
        raise NotFound(f"activity {activity_id} not found") from None
    return activity


def list_activities(
    uow: UnitOfWork,
    principal: Principal,
    *,
    record_id: int | None,
    responsible_id: int | None,
    status: ActivityStatus | None,
    type_: ActivityType | None,
    cursor: str | None,
    limit: int,
) -> Page[Activity]:
    check_limit(limit)
    where = []
    if record_id is not None:
        if not 0 < record_id < 2**63:
            raise NotFound(f"record {record_id} not found")
        get_visible(uow, principal, None, record_id)
        where.append(t.activities.c.record_id == record_id)
    elif not principal.has(Permission.RECORDS_READ_ALL):
        where.append(t.activities.c.responsible_id == principal.user_id)
    if responsible_id is not None:
        where.append(t.activities.c.responsible_id == responsible_id)
    if status is not None:
        where.append(t.activities.c.status == status.value)
    if type_ is not None:
        where.append(t.activities.c.type == type_.value)
    items = uow.activities.list(
        principal.workspace_id, where=where, before_id=decode_cursor(cursor), limit=limit + 1
    )
    return page_of(items, limit)


def _default_status(type_: ActivityType, outcome: str | None) -> ActivityStatus:
    if type_ in BORN_COMPLETED or (outcome is not None and outcome != "scheduled"):
        return ActivityStatus.COMPLETED
    return ActivityStatus.OPEN


def _check_user(uow: UnitOfWork, principal: Principal, user_id: int | None) -> None:
    if user_id is not None and user_id not in uow.users.ids(principal.workspace_id):
        raise ValidationFailed(
            f"user {user_id} is not a user of this workspace", field="responsible_id"
        )
