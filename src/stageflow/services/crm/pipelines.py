"""Command handlers for pipelines, stages, picklists and custom fields (SPEC M2, M4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from stageflow.adapters.db import tables as t
from stageflow.domain.errors import Conflict, NotFound, ValidationFailed
from stageflow.domain.events import Actor, EventType
from stageflow.domain.fields import FieldDef, FieldType, validate_key
from stageflow.domain.pipelines import Pipeline, Stage, StageKind
from stageflow.domain.records import BUILTIN_FIELDS, CORE_ATTRIBUTES, ObjectType
from stageflow.domain.references import RefKind, field_key
from stageflow.domain.text import a_or_an
from stageflow.domain.users import Permission, Principal
from stageflow.services.commands import (
    CreatePipeline,
    CreateStage,
    DefineField,
    PutPicklist,
    UpdatePipeline,
    UpdateStage,
)
from stageflow.services.crm import signals
from stageflow.services.unit_of_work import UnitOfWork

RESERVED_KEYS = frozenset(
    {
        *CORE_ATTRIBUTES,
        "id",
        "version",
        "created_at",
        "updated_at",
        "stage_entered_at",
        "lifecycle_stage_id",
        "associations",
        "object",
        "fields",
    }
)


def get_pipeline(uow: UnitOfWork, principal: Principal, pipeline_id: int) -> Pipeline:
    pipeline = uow.pipelines.get(principal.workspace_id, pipeline_id)
    if pipeline is None:
        raise NotFound(f"pipeline {pipeline_id} not found")
    return pipeline


def create_pipeline(
    uow: UnitOfWork, principal: Principal, cmd: CreatePipeline, actor: Actor
) -> Pipeline:
    principal.require(Permission.PIPELINES_EDIT)
    if not cmd.object_type.has_pipeline:
        raise ValidationFailed(
            f"{a_or_an(cmd.object_type.value)} has no pipelines", field="object_type"
        )
    ws = principal.workspace_id
    existing = uow.pipelines.list(ws, cmd.object_type)
    if any(p.name == cmd.name for p in existing):
        raise Conflict(
            f"{a_or_an(cmd.object_type.value)} pipeline named '{cmd.name}' exists", field="name"
        )
    _check_stage_names([s.name for s in cmd.stages])
    is_default = cmd.is_default or not existing
    if is_default and existing:
        signals.default_pipeline_changing.send(uow, ws, cmd.object_type)
    if is_default:
        uow.pipelines.clear_default(ws, cmd.object_type)
    pipeline = Pipeline(
        workspace_id=ws,
        object_type=cmd.object_type,
        name=cmd.name,
        is_default=is_default,
        position=len(existing),
        stages=[Stage(name=s.name, kind=s.kind, position=i) for i, s in enumerate(cmd.stages)],
    )
    uow.pipelines.add(pipeline, uow.clock.now())
    uow.emit_config(
        ws,
        actor,
        EventType.PIPELINE_CREATED,
        pipeline_id=pipeline.id,
        name=pipeline.name,
        object_type=cmd.object_type.value,
    )
    return pipeline


def update_pipeline(
    uow: UnitOfWork, principal: Principal, pipeline_id: int, cmd: UpdatePipeline, actor: Actor
) -> Pipeline:
    principal.require(Permission.PIPELINES_EDIT)
    pipeline = get_pipeline(uow, principal, pipeline_id)
    values: dict[str, Any] = {}
    if cmd.name is not None and cmd.name != pipeline.name:
        siblings = uow.pipelines.list(principal.workspace_id, pipeline.object_type)
        if any(p.name == cmd.name for p in siblings):
            raise Conflict(f"a pipeline named '{cmd.name}' exists", field="name")
        values["name"] = pipeline.name = cmd.name
    if cmd.is_default is False and pipeline.is_default:
        raise ValidationFailed("make another pipeline the default instead", field="is_default")
    if cmd.is_default and not pipeline.is_default:
        signals.default_pipeline_changing.send(uow, principal.workspace_id, pipeline.object_type)
        uow.pipelines.clear_default(principal.workspace_id, pipeline.object_type)
        values["is_default"] = pipeline.is_default = True
    if values:
        uow.pipelines.update(principal.workspace_id, pipeline_id, values)
        uow.emit_config(
            principal.workspace_id,
            actor,
            EventType.PIPELINE_UPDATED,
            pipeline_id=pipeline_id,
            **values,
        )
    return pipeline


def delete_pipeline(uow: UnitOfWork, principal: Principal, pipeline_id: int, actor: Actor) -> None:
    principal.require(Permission.PIPELINES_EDIT)
    pipeline = get_pipeline(uow, principal, pipeline_id)
    if pipeline.is_default:
        raise Conflict("the default pipeline cannot be deleted; make another the default first")
    in_use = uow.pipelines.records_in_pipeline(principal.workspace_id, pipeline_id)
    if in_use:
        raise Conflict(f"{in_use} records are in this pipeline; move them first")
    signals.pipeline_deleting.send(uow, pipeline)
    ws = principal.workspace_id
    signals.check_unreferenced(
        uow, ws, RefKind.PIPELINE, pipeline_id, f"pipeline '{pipeline.name}'"
    )
    for stage in pipeline.stages:
        signals.check_unreferenced(uow, ws, RefKind.STAGE, stage.id, f"stage '{stage.name}'")
    uow.pipelines.delete(principal.workspace_id, pipeline_id)
    uow.emit_config(
        principal.workspace_id,
        actor,
        EventType.PIPELINE_DELETED,
        pipeline_id=pipeline_id,
        name=pipeline.name,
    )


def add_stage(
    uow: UnitOfWork, principal: Principal, pipeline_id: int, cmd: CreateStage, actor: Actor
) -> Stage:
    principal.require(Permission.PIPELINES_EDIT)
    pipeline = get_pipeline(uow, principal, pipeline_id)
    _check_stage_names([s.name for s in pipeline.stages] + [cmd.name])
    position = (
        len(pipeline.stages) if cmd.position is None else min(cmd.position, len(pipeline.stages))
    )
    stage = Stage(name=cmd.name, kind=cmd.kind, position=position)
    ordered = sorted(pipeline.stages, key=lambda s: s.position)
    ordered.insert(position, stage)
    uow.pipelines.add_stage(pipeline, stage)
    _renumber(uow, ordered)
    uow.emit_config(
        principal.workspace_id,
        actor,
        EventType.STAGE_CREATED,
        pipeline_id=pipeline_id,
        stage_id=stage.id,
        name=stage.name,
    )
    return stage


def update_stage(
    uow: UnitOfWork,
    principal: Principal,
    pipeline_id: int,
    stage_id: int,
    cmd: UpdateStage,
    actor: Actor,
) -> Stage:
    principal.require(Permission.PIPELINES_EDIT)
    pipeline = get_pipeline(uow, principal, pipeline_id)
    stage = _stage(pipeline, stage_id)
    before = {"name": stage.name, "kind": stage.kind.value, "position": stage.position}
    if cmd.name is not None and cmd.name != stage.name:
        _check_stage_names([s.name for s in pipeline.stages if s.id != stage_id] + [cmd.name])
        stage.name = cmd.name
    if cmd.kind is not None:
        stage.kind = cmd.kind
    ordered = [s for s in sorted(pipeline.stages, key=lambda s: s.position) if s.id != stage_id]
    position = stage.position if cmd.position is None else min(cmd.position, len(ordered))
    ordered.insert(position, stage)
    _renumber(uow, ordered, always={stage_id})
    after = {"name": stage.name, "kind": stage.kind.value, "position": stage.position}
    if after != before:
        uow.emit_config(
            principal.workspace_id,
            actor,
            EventType.STAGE_UPDATED,
            pipeline_id=pipeline_id,
            stage_id=stage_id,
            before=before,
            after=after,
        )
    return stage


def delete_stage(
    uow: UnitOfWork, principal: Principal, pipeline_id: int, stage_id: int, actor: Actor
) -> None:
    principal.require(Permission.PIPELINES_EDIT)
    pipeline = get_pipeline(uow, principal, pipeline_id)
    stage = _stage(pipeline, stage_id)
    if len(pipeline.stages) == 1:
        raise Conflict("a pipeline keeps at least one stage")
    in_use = uow.pipelines.records_in_stage(principal.workspace_id, stage_id)
    if in_use:
        raise Conflict(f"{in_use} records are in stage '{stage.name}'; move them first")
    signals.stage_deleting.send(uow, pipeline, stage_id)
    signals.check_unreferenced(
        uow, principal.workspace_id, RefKind.STAGE, stage_id, f"stage '{stage.name}'"
    )
    uow.pipelines.delete_stage(stage_id)
    _renumber(
        uow, [s for s in sorted(pipeline.stages, key=lambda s: s.position) if s.id != stage_id]
    )
    uow.emit_config(
        principal.workspace_id,
        actor,
        EventType.STAGE_DELETED,
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        name=stage.name,
    )


def define_field(
    uow: UnitOfWork, principal: Principal, object_type: ObjectType, cmd: DefineField, actor: Actor
) -> FieldDef:
    principal.require(Permission.FIELDS_EDIT)
    validate_key(cmd.key)
    builtin = {f.key for f in BUILTIN_FIELDS[object_type]}
    if cmd.key in RESERVED_KEYS or cmd.key in builtin:
        raise Conflict(f"'{cmd.key}' is a built-in field of {object_type.plural}", field="key")
    if any(f.key == cmd.key for f in uow.fields.custom(principal.workspace_id, object_type)):
        raise Conflict(f"a field '{cmd.key}' exists on {object_type.plural}", field="key")
    options = tuple(dict.fromkeys(cmd.options))
    if cmd.type is FieldType.PICKLIST and not options:
        raise ValidationFailed("a picklist field needs options", field="options")
    if cmd.type is not FieldType.PICKLIST and options:
        raise ValidationFailed("only picklist fields have options", field="options")
    field = FieldDef(
        key=cmd.key,
        label=cmd.label or cmd.key.replace("_", " ").capitalize(),
        type=cmd.type,
        options=options,
        required=cmd.required,
    )
    field_id = uow.fields.add(principal.workspace_id, object_type, field, uow.clock.now())
    uow.emit_config(
        principal.workspace_id,
        actor,
        EventType.FIELD_DEFINED,
        object_type=object_type.value,
        key=cmd.key,
        type=cmd.type.value,
    )
    return FieldDef(
        id=field_id,
        key=field.key,
        label=field.label,
        type=field.type,
        options=field.options,
        required=field.required,
    )


def undefine_field(
    uow: UnitOfWork, principal: Principal, object_type: ObjectType, key: str, actor: Actor
) -> None:
    principal.require(Permission.FIELDS_EDIT)
    if not uow.fields.delete(principal.workspace_id, object_type, key):
        raise NotFound(f"no custom field '{key}' on {object_type.plural}")
    signals.check_unreferenced(
        uow,
        principal.workspace_id,
        RefKind.FIELD,
        field_key(object_type.value, key),
        f"field '{key}' of {object_type.plural}",
    )
    uow.emit_config(
        principal.workspace_id,
        actor,
        EventType.FIELD_UNDEFINED,
        object_type=object_type.value,
        key=key,
    )


def put_picklist(
    uow: UnitOfWork, principal: Principal, key: str, cmd: PutPicklist, actor: Actor
) -> list[dict[str, str]]:
    principal.require(Permission.PICKLISTS_EDIT)
    current = uow.picklists.all(principal.workspace_id)
    if key not in current:
        raise NotFound(f"no picklist '{key}' (known: {', '.join(sorted(current))})")
    values = [o.value for o in cmd.options]
    if len(set(values)) != len(values):
        raise ValidationFailed("picklist values must be unique", field="options")
    for removed in [o["value"] for o in current[key] if o["value"] not in values]:
        signals.check_unreferenced(
            uow,
            principal.workspace_id,
            RefKind.PICKLIST_VALUE,
            f"{key}:{removed}",
            f"value '{removed}' of picklist '{key}'",
        )
    options = [o.model_dump() for o in cmd.options]
    uow.picklists.put(principal.workspace_id, key, options)
    uow.emit_config(
        principal.workspace_id,
        actor,
        EventType.PICKLIST_UPDATED,
        key=key,
        before=[o["value"] for o in current[key]],
        after=values,
    )
    return options


def _stage(pipeline: Pipeline, stage_id: int) -> Stage:
    stage = pipeline.stage(stage_id)
    if stage is None:
        raise NotFound(f"stage {stage_id} not found in pipeline {pipeline.id}")
    return stage


def _check_stage_names(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        folded = name.strip().casefold()
        if not folded:
            raise ValidationFailed("a stage needs a name", field="name")
        if folded in seen:
            raise Conflict(f"two stages named '{name}'", field="name")
        seen.add(folded)


def _renumber(uow: UnitOfWork, ordered: list[Stage], always: set[int] | None = None) -> None:
    for position, stage in enumerate(ordered):
        if stage.position != position or (always and stage.id in always):
            stage.position = position
            uow.pipelines.update_stage(stage)


# the dashboard's figures ------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """How many records entered a won (or lost) stage, and their amounts per currency."""

    count: int = 0
    amounts: dict[str, float] = field(default_factory=dict)


def outcomes_since(
    uow: UnitOfWork, principal: Principal, pipeline: Pipeline, since: datetime
) -> dict[StageKind, Outcome]:
    """Won and lost since ``since``: records of the pipeline now in a won or lost stage that
    they entered after it. An agent counts only their own and unowned records."""
    kinds = {s.id: s.kind for s in pipeline.stages if s.kind is not StageKind.OPEN}
    found = {StageKind.WON: Outcome(), StageKind.LOST: Outcome()}
    if not kinds:
        return found
    c = t.records.c
    where = [
        c.workspace_id == principal.workspace_id,
        c.pipeline_id == pipeline.id,
        c.stage_id.in_(list(kinds)),
        c.stage_entered_at >= since,
    ]
    if not principal.has(Permission.RECORDS_READ_ALL):
        where.append((c.owner_id == principal.user_id) | c.owner_id.is_(None))
    currency = c.fields["currency"].as_string()
    rows = uow.connection.execute(
        select(c.stage_id, currency, func.count(), func.sum(c.fields["amount"].as_float()))
        .where(*where)
        .group_by(c.stage_id, currency)
    )
    for stage_id, cur, count, total in rows:
        entry = found[kinds[stage_id]]
        entry.count += count
        if total is not None:
            entry.amounts[cur or ""] = entry.amounts.get(cur or "", 0.0) + float(total)
    return found
