"""Segments: saved filters over one object type (SPEC L8), listed a page at a time."""

from __future__ import annotations

from typing import Any

from stageflow.adapters.db.filter_sql import compile_filter
from stageflow.domain.errors import Conflict, NotFound
from stageflow.domain.events import Actor, EventType
from stageflow.domain.filters import Filter, parse_filter
from stageflow.domain.records import ObjectType, Record
from stageflow.domain.references import RefKind
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import CreateSegment, UpdateSegment
from stageflow.services.crm import records, signals
from stageflow.services.pagination import Page
from stageflow.services.unit_of_work import UnitOfWork


def get(uow: UnitOfWork, principal: Principal, segment_id: int) -> Any:
    row = uow.segments.get(principal.workspace_id, segment_id)
    if row is None:
        raise NotFound(f"segment {segment_id} not found")
    return row


def create(uow: UnitOfWork, principal: Principal, cmd: CreateSegment, actor: Actor) -> Any:
    principal.require(Permission.RECORDS_READ_ALL)
    ws = principal.workspace_id
    name = cmd.name.strip()
    if uow.segments.by_name(ws, name) is not None:
        raise Conflict(f"a segment named '{name}' exists", field="name")
    _check(uow, ws, cmd.object_type, cmd.filter)
    segment_id = uow.segments.add(
        ws,
        name=name,
        object_type=cmd.object_type.value,
        filter_=cmd.filter,
        created_by=principal.user_id,
        now=uow.clock.now(),
    )
    uow.emit_config(ws, actor, EventType.SEGMENT_CREATED, segment_id=segment_id, name=name)
    return get(uow, principal, segment_id)


def update(
    uow: UnitOfWork, principal: Principal, segment_id: int, cmd: UpdateSegment, actor: Actor
) -> Any:
    principal.require(Permission.RECORDS_READ_ALL)
    ws = principal.workspace_id
    row = get(uow, principal, segment_id)
    values: dict[str, Any] = {}
    if cmd.name is not None and cmd.name.strip() != row.name:
        name = cmd.name.strip()
        if uow.segments.by_name(ws, name) is not None:
            raise Conflict(f"a segment named '{name}' exists", field="name")
        values["name"] = name
    if cmd.filter is not None:
        _check(uow, ws, ObjectType(row.object_type), cmd.filter)
        values["filter"] = cmd.filter
    if values:
        uow.segments.update(ws, segment_id, {**values, "updated_at": uow.clock.now()})
        uow.emit_config(ws, actor, EventType.SEGMENT_UPDATED, segment_id=segment_id, **values)
    return get(uow, principal, segment_id)


def delete(uow: UnitOfWork, principal: Principal, segment_id: int, actor: Actor) -> None:
    principal.require(Permission.RECORDS_READ_ALL)
    row = get(uow, principal, segment_id)
    label = f"segment '{row.name}'"
    signals.check_unreferenced(uow, principal.workspace_id, RefKind.SEGMENT, segment_id, label)
    uow.segments.delete(principal.workspace_id, segment_id)
    uow.emit_config(
        principal.workspace_id,
        actor,
        EventType.SEGMENT_DELETED,
        segment_id=segment_id,
        name=row.name,
    )


def members(
    uow: UnitOfWork, principal: Principal, segment_id: int, *, cursor: str | None, limit: int
) -> tuple[ObjectType, Page[Record]]:
    """The records the segment's filter matches now, newest first (what the caller may see)."""
    row = get(uow, principal, segment_id)
    object_type = ObjectType(row.object_type)
    page = records.list_records(
        uow,
        principal,
        object_type,
        filter_=parse_filter(row.filter),
        stage_id=None,
        pipeline_id=None,
        owner_id=None,
        cursor=cursor,
        limit=limit,
    )
    return object_type, page


def _check(uow: UnitOfWork, workspace_id: int, object_type: ObjectType, raw: Any) -> Filter:
    """Parse and compile once, so that a bad filter is refused when saved, not when used."""
    parsed = parse_filter(raw)
    compile_filter(parsed, records.field_definitions(uow, workspace_id, object_type))
    return parsed
