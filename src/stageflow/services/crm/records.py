"""Command handlers for records: create, update, move, delete, read, list, timeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.filter_sql import compile_filter
from stageflow.domain.activities import ActivityStatus
from stageflow.domain.errors import NotFound, PermissionDenied, StaleVersion, ValidationFailed
from stageflow.domain.events import Actor, ActorKind
from stageflow.domain.fields import FieldContext, FieldDef
from stageflow.domain.filters import Filter
from stageflow.domain.pipelines import Pipeline, Stage
from stageflow.domain.records import (
    BUILTIN_FIELDS,
    LIFECYCLE_OBJECT_TYPES,
    SOURCE_PICKLIST,
    ObjectType,
    Record,
    display_name,
    required_missing,
    validate_fields,
)
from stageflow.domain.text import a_or_an
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import CreateRecord, MoveRecord, SetLifecycleStage, UpdateRecord
from stageflow.services.crm import associations, contact_addresses, lifecycle
from stageflow.services.pagination import MAX_LIMIT, Page, check_limit, decode_cursor, page_of
from stageflow.services.unit_of_work import UnitOfWork

_LEAD = ObjectType.LEAD  # read on every move; EnumType.__getattr__ is slow on 3.11


def field_definitions(
    uow: UnitOfWork, workspace_id: int, object_type: ObjectType
) -> dict[str, FieldDef]:
    """Built-in and custom fields of an object type, by key."""

    def load() -> dict[str, FieldDef]:
        definitions = {f.key: f for f in BUILTIN_FIELDS[object_type]}
        definitions.update({f.key: f for f in uow.fields.custom(workspace_id, object_type)})
        return definitions

    return uow.memo(("fields", workspace_id, object_type), load)


def field_context(uow: UnitOfWork, workspace_id: int) -> FieldContext:
    def user_exists(user_id: int) -> bool:
        return user_id in uow.memo(("users", workspace_id), lambda: uow.users.ids(workspace_id))

    picklists = uow.memo(("picklists", workspace_id), lambda: uow.picklists.values(workspace_id))

    def company_exists(company_id: int) -> bool:
        found = uow.records.get(workspace_id, company_id)
        return found is not None and found.object_type is ObjectType.COMPANY

    return FieldContext(
        picklist_options=picklists, user_exists=user_exists, company_exists=company_exists
    )


def create_record(
    uow: UnitOfWork, principal: Principal, object_type: ObjectType, cmd: CreateRecord, actor: Actor
) -> Record:
    ws = principal.workspace_id
    ctx = field_context(uow, ws)
    definitions = field_definitions(uow, ws, object_type)
    fields = {
        k: v for k, v in validate_fields(cmd.fields, definitions, ctx).items() if v is not None
    }
    required_missing(fields, definitions)
    owner_id = principal.user_id if "owner_id" not in cmd.model_fields_set else cmd.owner_id
    _check_owner(principal, owner_id, ctx)
    now = uow.clock.now()
    record = Record(
        workspace_id=ws,
        object_type=object_type,
        name=display_name(object_type, cmd.name, fields),
        owner_id=owner_id,
        source=_source(cmd.source, ctx),
        fields=fields,
        created_at=now,
        updated_at=now,
    )
    if object_type.has_pipeline:
        pipeline, stage_id = _initial_stage(uow, ws, object_type, cmd.pipeline_id, cmd.stage_id)
        record.pipeline_id, record.stage_id, record.stage_entered_at = pipeline.id, stage_id, now
    elif cmd.pipeline_id is not None or cmd.stage_id is not None:
        raise ValidationFailed(f"{a_or_an(object_type.value)} has no pipeline", field="stage_id")
    stage = lifecycle.initial_stage(uow, ws, object_type, cmd.lifecycle_stage_id)
    record.lifecycle_stage_id = stage.id if stage else None
    record.created(actor)
    uow.records.add(record)
    assert record.id is not None
    uow.emit(record.events)
    lifecycle.record_created(uow, record, stage, actor)
    if object_type is ObjectType.CONTACT:
        contact_addresses.contact_saved(uow, record)
    associations.associate(uow, principal, record, cmd.associations, actor)
    return record


def update_record(
    uow: UnitOfWork,
    principal: Principal,
    object_type: ObjectType | None,
    record_id: int,
    cmd: UpdateRecord,
    actor: Actor,
) -> Record:
    record = get_editable(uow, principal, object_type, record_id)
    object_type = record.object_type
    read_version = _check_version(record, cmd.version)
    ws = principal.workspace_id
    ctx = field_context(uow, ws)
    given = cmd.model_fields_set
    changes: dict[str, Any] = {}
    if "name" in given:
        changes["name"] = display_name(object_type, cmd.name, record.fields)
    if "owner_id" in given:
        _check_owner(principal, cmd.owner_id, ctx)
        changes["owner_id"] = cmd.owner_id
    if "source" in given:
        changes["source"] = _source(cmd.source, ctx)
    if cmd.fields:
        definitions = field_definitions(uow, ws, object_type)
        changes["fields"] = validate_fields(cmd.fields, definitions, ctx)
        merged = {**record.fields, **changes["fields"]}
        required_missing({k: v for k, v in merged.items() if v is not None}, definitions)
    now = uow.clock.now()
    changed = record.change(changes, actor, now)
    if changed:
        uow.records.save(record, read_version)
        uow.emit(record.events)
        read_version = record.version
        if object_type is ObjectType.CONTACT:
            contact_addresses.contact_saved(uow, record, set(changed))
    if "lifecycle_stage_id" in given:
        lifecycle.set_record_stage(
            uow, record, cmd.lifecycle_stage_id, actor, read_version=read_version
        )
    if cmd.associations is not None:
        associations.replace(uow, principal, record, cmd.associations, actor)
    return record


def set_lifecycle_stage(
    uow: UnitOfWork,
    principal: Principal,
    object_type: ObjectType,
    record_id: int,
    cmd: SetLifecycleStage,
    actor: Actor,
) -> tuple[Record, int]:
    """`PUT /{contacts|companies}/{id}/lifecycle` (L5): the record and, for a company synced
    to its contacts, how many of them changed."""
    if object_type not in LIFECYCLE_OBJECT_TYPES:
        raise NotFound(f"{a_or_an(object_type.value)} has no lifecycle stage")
    record = get_editable(uow, principal, object_type, record_id)
    read_version = _check_version(record, cmd.version)
    lifecycle.set_record_stage(uow, record, cmd.stage_id, actor, read_version=read_version)
    synced = 0
    if object_type is ObjectType.COMPANY:
        sync = cmd.sync_contacts
        if sync is None:
            workspace = uow.workspaces.get(principal.workspace_id)
            sync = bool(workspace and workspace.settings.get("lifecycle_sync_companies"))
        if sync:
            synced = lifecycle.sync_company_contacts(uow, record, actor, principal)
    return record, synced


def move_record(
    uow: UnitOfWork,
    principal: Principal,
    object_type: ObjectType | None,
    record_id: int,
    cmd: MoveRecord,
    actor: Actor,
) -> Record:
    record = get_editable(uow, principal, object_type, record_id)
    object_type = record.object_type
    read_version = _check_version(record, cmd.version)
    pipeline = _pipeline_of_stage(uow, principal.workspace_id, object_type, cmd.stage_id)
    if cmd.pipeline_id is not None and cmd.pipeline_id != pipeline.id:
        raise ValidationFailed(
            f"stage {cmd.stage_id} is not in pipeline {cmd.pipeline_id}", field="stage_id"
        )
    stage = pipeline.stage(cmd.stage_id)
    assert stage is not None and pipeline.id is not None
    from_kind = _stage_kind(uow, principal.workspace_id, object_type, record.stage_id)
    previous = record.stage_id
    now = uow.clock.now()
    changes: dict[str, Any] = {}
    if cmd.fields:
        ws = principal.workspace_id
        definitions = field_definitions(uow, ws, object_type)
        changes = validate_fields(cmd.fields, definitions, field_context(uow, ws))
    if object_type is _LEAD and _moved_back_by_hand(pipeline, previous, stage, actor):
        changes["stage_locked_at"] = now.isoformat()  # lead automation leaves it alone (H5)
    changed = bool(changes) and bool(record.change({"fields": changes}, actor, now))
    moved = record.move(
        pipeline.id,
        cmd.stage_id,
        actor,
        now,
        stage_kind=stage.kind.value,
        from_stage_kind=from_kind,
    )
    if changed or moved:
        uow.records.save(record, read_version)
        uow.emit(record.events)
    if moved and previous is not None:
        _complete_on_stage_exit(uow, record, previous, actor)
    return record


def held_back(uow: UnitOfWork, record: Record, stage_id: int, *, forward_only: bool) -> str | None:
    """Why an automation may not move the record to the stage now, or None."""
    locked = record.fields.get("stage_locked_at") if record.object_type is _LEAD else None
    if locked:
        return (
            f"a user moved the lead back at {locked}; automation no longer moves it "
            "(clear stage_locked_at to allow it)"
        )
    if not forward_only or record.stage_id is None:
        return None
    pipeline = _pipeline_of_stage(uow, record.workspace_id, record.object_type, stage_id)
    here, there = pipeline.stage(record.stage_id), pipeline.stage(stage_id)
    assert there is not None
    if here is None:
        return f"the record is not in pipeline '{pipeline.name}'"
    if there.position <= here.position:
        return f"'{there.name}' is not ahead of '{here.name}': this move only goes forward"
    return None


def _moved_back_by_hand(
    pipeline: Pipeline, previous: int | None, stage: Stage, actor: Actor
) -> bool:
    """A person (not an automation, import or sync) moved a lead to an earlier stage of the
    default lead pipeline (SPEC H5)."""
    before = pipeline.stage(previous) if previous is not None else None
    return (
        pipeline.is_default
        and before is not None
        and stage.position < before.position
        and actor.kind in (ActorKind.USER, ActorKind.TOKEN)
    )


def _complete_on_stage_exit(uow: UnitOfWork, record: Record, stage_id: int, actor: Actor) -> None:
    """Activities scheduled to last while the record is in a stage complete when it leaves: on
    behalf of the automation run that scheduled them, not of whoever moved the record."""
    assert record.id is not None
    for activity in uow.activities.open_until_stage_exit(record.workspace_id, record.id, stage_id):
        read_version = activity.version
        by = activity.exit_actor or actor
        if activity.change({"status": ActivityStatus.COMPLETED}, by, uow.clock.now()):
            uow.activities.save(activity, read_version)
            uow.emit(activity.events)


def delete_record(
    uow: UnitOfWork, principal: Principal, object_type: ObjectType, record_id: int, actor: Actor
) -> None:
    record = get_editable(uow, principal, object_type, record_id)
    if not principal.has(Permission.RECORDS_DELETE) and record.owner_id != principal.user_id:
        raise PermissionDenied("deleting another user's record needs 'records.delete'")
    record.deleted(actor, uow.clock.now())
    uow.emit(record.events)
    lifecycle.record_deleted(uow, record)
    uow.records.delete(record)


def get_visible(
    uow: UnitOfWork, principal: Principal, object_type: ObjectType | None, record_id: int
) -> Record:
    record = uow.records.get(principal.workspace_id, record_id, object_type)
    if record is None or not principal.can_see_owner(record.owner_id):
        kind = object_type.value if object_type else "record"
        raise NotFound(f"{kind} {record_id} not found")
    return record


def get_editable(
    uow: UnitOfWork, principal: Principal, object_type: ObjectType | None, record_id: int
) -> Record:
    record = get_visible(uow, principal, object_type, record_id)
    if not principal.can_edit_owner(record.owner_id):
        raise PermissionDenied("changing another user's record needs 'records.edit_all'")
    return record


def list_records(
    uow: UnitOfWork,
    principal: Principal,
    object_type: ObjectType,
    *,
    filter_: Filter | None,
    stage_id: int | None,
    pipeline_id: int | None,
    owner_id: int | None,
    cursor: str | None,
    limit: int,
) -> Page[Record]:
    check_limit(limit)
    where = []
    if filter_ is not None:
        definitions = field_definitions(uow, principal.workspace_id, object_type)
        where.append(compile_filter(filter_, definitions))
    if stage_id is not None:
        where.append(t.records.c.stage_id == stage_id)
    if pipeline_id is not None:
        where.append(t.records.c.pipeline_id == pipeline_id)
    if owner_id is not None:
        where.append(t.records.c.owner_id == owner_id)
    if not principal.has(Permission.RECORDS_READ_ALL):
        where.append((t.records.c.owner_id == principal.user_id) | t.records.c.owner_id.is_(None))
    items = uow.records.list(
        principal.workspace_id,
        object_type,
        where=where,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page_of(items, limit)


def pages_of_records(
    uow: UnitOfWork, principal: Principal, object_type: ObjectType, filter_: Filter | None
) -> Iterator[list[Record]]:
    """Every record of a type matching a filter, a page at a time (segments, backfills)."""
    cursor: str | None = None
    while True:
        page = list_records(
            uow,
            principal,
            object_type,
            filter_=filter_,
            stage_id=None,
            pipeline_id=None,
            owner_id=None,
            cursor=cursor,
            limit=MAX_LIMIT,
        )
        yield page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def timeline(
    uow: UnitOfWork,
    principal: Principal,
    object_type: ObjectType,
    record_id: int,
    *,
    cursor: str | None,
    limit: int,
) -> Page[Any]:
    check_limit(limit)
    get_visible(uow, principal, object_type, record_id)
    rows = uow.events.timeline(
        principal.workspace_id, record_id, before_id=decode_cursor(cursor), limit=limit + 1
    )
    return page_of(rows, limit)


# helpers ------------------------------------------------------------------------------------


def _check_version(record: Record, expected: int | None) -> int:
    if expected is not None and expected != record.version:
        raise StaleVersion(
            f"{record.object_type.value} {record.id} is at version {record.version}, "
            f"not {expected}; read it again and retry",
            field="version",
        )
    return record.version


def _check_owner(principal: Principal, owner_id: int | None, ctx: FieldContext) -> None:
    if owner_id is None:
        return
    if not ctx.user_exists(owner_id):
        raise ValidationFailed(
            f"owner {owner_id} is not a user of this workspace", field="owner_id"
        )
    if owner_id != principal.user_id and not principal.can_edit_owner(owner_id):
        raise PermissionDenied("giving a record to another user needs 'records.edit_all'")


def _source(source: str | None, ctx: FieldContext) -> str | None:
    if source is None:
        return None
    allowed = list(ctx.picklist_options.get(SOURCE_PICKLIST, ()))
    if source not in allowed:
        raise ValidationFailed(f"source must be one of: {', '.join(allowed)}", field="source")
    return source


def _initial_stage(
    uow: UnitOfWork,
    workspace_id: int,
    object_type: ObjectType,
    pipeline_id: int | None,
    stage_id: int | None,
) -> tuple[Pipeline, int]:
    if stage_id is not None:
        pipeline = _pipeline_of_stage(uow, workspace_id, object_type, stage_id)
        if pipeline_id is not None and pipeline_id != pipeline.id:
            raise ValidationFailed(
                f"stage {stage_id} is not in pipeline {pipeline_id}", field="stage_id"
            )
        return pipeline, stage_id
    if pipeline_id is not None:
        found = uow.pipelines.get(workspace_id, pipeline_id)
        if found is None or found.object_type is not object_type:
            raise ValidationFailed(
                f"no {object_type.value} pipeline {pipeline_id}", field="pipeline_id"
            )
        pipeline = found
    else:
        default = uow.memo(
            ("default_pipeline", workspace_id, object_type),
            lambda: uow.pipelines.default_for(workspace_id, object_type),
        )
        if default is None:
            raise ValidationFailed(
                f"there is no default {object_type.value} pipeline; give pipeline_id",
                field="pipeline_id",
            )
        pipeline = default
    stage = pipeline.first_stage
    assert stage.id is not None
    return pipeline, stage.id


def _stage_kind(
    uow: UnitOfWork, workspace_id: int, object_type: ObjectType, stage_id: int | None
) -> str | None:
    if stage_id is None:
        return None
    stage = _pipeline_of_stage(uow, workspace_id, object_type, stage_id).stage(stage_id)
    return stage.kind.value if stage else None


def _pipeline_of_stage(
    uow: UnitOfWork, workspace_id: int, object_type: ObjectType, stage_id: int
) -> Pipeline:
    pipelines = uow.memo(
        ("pipelines", workspace_id, object_type),
        lambda: uow.pipelines.list(workspace_id, object_type),
    )
    for pipeline in pipelines:
        if pipeline.stage(stage_id) is not None:
            return pipeline
    raise ValidationFailed(
        f"no stage {stage_id} in the {object_type.value} pipelines", field="stage_id"
    )
