"""`/api/v1/{contacts|companies|leads|deals|opportunities}`: CRUD, list, move, timeline."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from stageflow.domain.errors import ValidationFailed
from stageflow.domain.filters import MAX_DEPTH, Filter, parse_filter
from stageflow.domain.records import LIFECYCLE_OBJECT_TYPES, ObjectType, Record
from stageflow.domain.text import a_or_an
from stageflow.entrypoints.api.deps import Caller, OptionalQueryId, PathId, get_caller
from stageflow.entrypoints.api.schemas import EventOut, LifecycleSetOut, PageOut, RecordOut
from stageflow.services.commands import (
    CreateRecord,
    MoveRecord,
    SetLifecycleStage,
    UpdateRecord,
)
from stageflow.services.crm import records as service
from stageflow.services.unit_of_work import UnitOfWork

router = APIRouter()


def record_out(uow: UnitOfWork, record: Record) -> RecordOut:
    assert record.id is not None
    return RecordOut.of(record, uow.records.associations([record.id])[record.id])


def records_out(uow: UnitOfWork, items: list[Record]) -> list[RecordOut]:
    associations = uow.records.associations([r.id for r in items if r.id is not None])
    return [RecordOut.of(r, associations[r.id]) for r in items if r.id is not None]


def _parse_filter(raw: str | None) -> Filter | None:
    if raw is None:
        return None
    try:
        decoded = json.loads(raw)
    except RecursionError:
        raise ValidationFailed(
            f"filter nests deeper than {MAX_DEPTH} levels", field="filter"
        ) from None
    except json.JSONDecodeError:
        raise ValidationFailed(
            'filter must be JSON, e.g. {"field": "amount", "op": "gt", "value": 100}',
            field="filter",
        ) from None
    return parse_filter(decoded)


def _register(object_type: ObjectType) -> None:
    plural = object_type.plural
    name = object_type.value
    tag = plural.capitalize()
    path = f"/{plural}"

    def create(cmd: CreateRecord, caller: Caller = Depends(get_caller)) -> RecordOut:
        with caller.uow() as uow:
            record = service.create_record(uow, caller.principal, object_type, cmd, caller.actor)
            out = record_out(uow, record)
            uow.commit()
        return out

    def list_(
        caller: Caller = Depends(get_caller),
        filter: str | None = Query(
            None,
            description="Filter language JSON, e.g. "
            '{"all": [{"field": "amount", "op": "gt", '
            '"value": 1000}]}',
        ),
        stage_id: OptionalQueryId = None,
        pipeline_id: OptionalQueryId = None,
        owner_id: OptionalQueryId = None,
        cursor: str | None = None,
        limit: int = Query(50, ge=1, le=200),
    ) -> PageOut[RecordOut]:
        with caller.uow(read_only=True) as uow:
            page = service.list_records(
                uow,
                caller.principal,
                object_type,
                filter_=_parse_filter(filter),
                stage_id=stage_id,
                pipeline_id=pipeline_id,
                owner_id=owner_id,
                cursor=cursor,
                limit=limit,
            )
            return PageOut[RecordOut](
                items=records_out(uow, page.items), next_cursor=page.next_cursor
            )

    def get(record_id: PathId, caller: Caller = Depends(get_caller)) -> RecordOut:
        with caller.uow(read_only=True) as uow:
            return record_out(
                uow, service.get_visible(uow, caller.principal, object_type, record_id)
            )

    def update(
        record_id: PathId, cmd: UpdateRecord, caller: Caller = Depends(get_caller)
    ) -> RecordOut:
        with caller.uow() as uow:
            record = service.update_record(
                uow, caller.principal, object_type, record_id, cmd, caller.actor
            )
            out = record_out(uow, record)
            uow.commit()
        return out

    def delete(record_id: PathId, caller: Caller = Depends(get_caller)) -> Response:
        with caller.uow() as uow:
            service.delete_record(uow, caller.principal, object_type, record_id, caller.actor)
            uow.commit()
        return Response(status_code=204)

    def move(record_id: PathId, cmd: MoveRecord, caller: Caller = Depends(get_caller)) -> RecordOut:
        with caller.uow() as uow:
            record = service.move_record(
                uow, caller.principal, object_type, record_id, cmd, caller.actor
            )
            out = record_out(uow, record)
            uow.commit()
        return out

    def timeline(
        record_id: PathId,
        caller: Caller = Depends(get_caller),
        cursor: str | None = None,
        limit: int = Query(50, ge=1, le=200),
    ) -> PageOut[EventOut]:
        with caller.uow(read_only=True) as uow:
            page = service.timeline(
                uow, caller.principal, object_type, record_id, cursor=cursor, limit=limit
            )
        return PageOut[EventOut](
            items=[EventOut.of(r) for r in page.items], next_cursor=page.next_cursor
        )

    def set_lifecycle(
        record_id: PathId, cmd: SetLifecycleStage, caller: Caller = Depends(get_caller)
    ) -> LifecycleSetOut:
        with caller.uow() as uow:
            record, synced = service.set_lifecycle_stage(
                uow, caller.principal, object_type, record_id, cmd, caller.actor
            )
            out = LifecycleSetOut(record=record_out(uow, record), contacts_synced=synced)
            uow.commit()
        return out

    routes: list[tuple[str, str, Callable[..., Any], str, int]] = [
        ("POST", path, create, f"Create {a_or_an(name)}", 201),
        ("GET", path, list_, f"List {plural} (newest first)", 200),
        ("GET", path + "/{record_id}", get, f"Read {a_or_an(name)}", 200),
        ("PATCH", path + "/{record_id}", update, f"Update {a_or_an(name)}", 200),
        ("DELETE", path + "/{record_id}", delete, f"Delete {a_or_an(name)}", 204),
        ("POST", path + "/{record_id}/move", move, f"Move {a_or_an(name)} to a stage", 200),
        (
            "GET",
            path + "/{record_id}/timeline",
            timeline,
            f"Events of {a_or_an(name)}, newest first",
            200,
        ),
        (
            "PUT",
            path + "/{record_id}/lifecycle",
            set_lifecycle,
            f"Set, change or clear {a_or_an(name)}'s lifecycle stage",
            200,
        ),
    ]
    for method, route_path, endpoint, summary, status in routes:
        if method == "POST" and route_path.endswith("/move") and not object_type.has_pipeline:
            continue
        if route_path.endswith("/lifecycle") and object_type not in LIFECYCLE_OBJECT_TYPES:
            continue
        operation = f"{endpoint.__name__.rstrip('_')}_{name}"
        router.add_api_route(
            route_path,
            endpoint,
            methods=[method],
            summary=summary,
            status_code=status,
            tags=[tag],
            operation_id=operation,
        )


for _object_type in ObjectType:
    _register(_object_type)
