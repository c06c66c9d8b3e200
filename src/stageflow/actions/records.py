"""Internal record actions: set_field, move_stage, create_record. They commit in the same
transaction as their step row, so each takes effect exactly once (DESIGN "Workers")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stageflow.actions.ports import ActionContext
from stageflow.actions.registry import SaveContext, SettingsInvalid, registry
from stageflow.actions.values import resolve, resolve_all
from stageflow.domain.references import FIELDS, RefKind, refers
from stageflow.domain.text import a_or_an


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetField(Settings):
    fields: dict[str, Any] = Field(
        min_length=1, description="Field → value or template", json_schema_extra=refers(FIELDS)
    )


def _check_set_field(ctx: SaveContext, settings: SetField) -> None:
    for key in settings.fields:
        if key not in ctx.record_fields and key not in ("name", "owner_id"):
            raise SettingsInvalid(f"the record has no field '{key}'", f"fields.{key}")
    owner = settings.fields.get("owner_id")
    # A user id given as such must be one of this workspace's (a template is checked when
    # it runs, by the update itself).
    if isinstance(owner, int) and not isinstance(owner, bool) and owner not in ctx.user_ids:
        raise SettingsInvalid(f"there is no user {owner}", "fields.owner_id")


@registry.register(
    "update_record",
    SetField,
    description="Set fields of the record (e.g. the status): another name for set_field",
    check=_check_set_field,
)
@registry.register(
    "set_field", SetField, description="Set fields of the record", check=_check_set_field
)
def set_field(ctx: ActionContext, settings: SetField) -> dict[str, Any]:
    assert ctx.record_id is not None
    values = resolve_all(ctx, settings.fields)
    name = values.pop("name", None)
    owner_id = values.pop("owner_id", None)
    ctx.crm.update_record(ctx.record_id, fields=values or None, name=name, owner_id=owner_id)
    return {
        "set": {
            **values,
            **({"name": name} if name else {}),
            **({"owner_id": owner_id} if owner_id else {}),
        }
    }


class MoveStage(Settings):
    stage_id: int = Field(json_schema_extra=refers(RefKind.STAGE))
    forward_only: bool = Field(
        False, description="Only move to a later stage of the record's pipeline"
    )


def _check_move(ctx: SaveContext, settings: MoveStage) -> None:
    if settings.stage_id not in ctx.stage_ids:
        raise SettingsInvalid(
            f"there is no stage {settings.stage_id} for this record type", "stage_id"
        )


@registry.register(
    "move_stage", MoveStage, description="Move the record to a stage", check=_check_move
)
def move_stage(ctx: ActionContext, settings: MoveStage) -> dict[str, Any]:
    assert ctx.record_id is not None
    held = ctx.crm.move_record(ctx.record_id, settings.stage_id, forward_only=settings.forward_only)
    if held is not None:
        return {"stage_id": settings.stage_id, "moved": False, "why": held}
    return {"stage_id": settings.stage_id}


class CreateRecord(Settings):
    object_type: str = Field(description="contact, company, lead, deal or opportunity")
    name: str | None = Field(None, description="Template, e.g. 'Repeat: {{ record.name }}'")
    fields: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra=refers(FIELDS, object_type_from="object_type")
    )
    owner_id: int | None = Field(
        None, description="Default: the record's owner", json_schema_extra=refers(RefKind.USER)
    )
    pipeline_id: int | None = Field(None, json_schema_extra=refers(RefKind.PIPELINE))
    stage_id: int | None = Field(None, json_schema_extra=refers(RefKind.STAGE))
    associate_with_record: bool = Field(
        True,
        description="Associate the new record with the triggering record's contacts "
        "and companies (and the record itself when that association is allowed)",
    )


def _check_create(ctx: SaveContext, settings: CreateRecord) -> None:
    fields = ctx.fields_by_object.get(settings.object_type)
    if fields is None:
        raise SettingsInvalid(f"unknown object type '{settings.object_type}'", "object_type")
    for key in settings.fields:
        if key not in fields:
            raise SettingsInvalid(
                f"{a_or_an(settings.object_type)} has no field '{key}'", f"fields.{key}"
            )
    stages = ctx.stages_by_object.get(settings.object_type, frozenset())
    if settings.stage_id is not None and settings.stage_id not in stages:
        raise SettingsInvalid(
            f"there is no {settings.object_type} stage {settings.stage_id}", "stage_id"
        )
    if settings.owner_id is not None and settings.owner_id not in ctx.user_ids:
        raise SettingsInvalid(f"there is no user {settings.owner_id}", "owner_id")
    if settings.pipeline_id is not None:
        pipelines = ctx.extra.get("pipelines_by_object", {}).get(settings.object_type, ())
        if settings.pipeline_id not in pipelines:
            raise SettingsInvalid(
                f"there is no {settings.object_type} pipeline {settings.pipeline_id}",
                "pipeline_id",
            )
        in_pipeline = ctx.extra.get("stages_by_pipeline", {}).get(settings.pipeline_id, ())
        if settings.stage_id is not None and settings.stage_id not in in_pipeline:
            raise SettingsInvalid(
                f"stage {settings.stage_id} is not in pipeline {settings.pipeline_id}",
                "stage_id",
            )


@registry.register(
    "create_record",
    CreateRecord,
    description="Create a record (e.g. a repeat lead) from the triggering one",
    check=_check_create,
)
def create_record(ctx: ActionContext, settings: CreateRecord) -> dict[str, Any]:
    source = ctx.crm.record(ctx.record_id) if ctx.record_id is not None else {}
    associations: dict[str, list[int]] = {}
    if settings.associate_with_record and source:
        for kind in ("contact", "company"):
            ids = list(source.get("associations", {}).get(kind, []))
            if source.get("object") == kind:
                ids.append(int(source["id"]))
            if ids and settings.object_type != kind:
                associations[kind] = sorted(set(ids))
    owner_id = settings.owner_id if settings.owner_id is not None else source.get("owner_id")
    name = resolve(ctx, settings.name) if settings.name else None
    record_id = ctx.crm.create_record(
        settings.object_type,
        name=None if name is None else str(name),
        fields=resolve_all(ctx, settings.fields),
        owner_id=owner_id,
        pipeline_id=settings.pipeline_id,
        stage_id=settings.stage_id,
        associations=associations,
    )
    return {"created": {"object_type": settings.object_type, "id": record_id}}


class CopyRecord(Settings):
    pipeline_id: int | None = Field(
        None,
        description="Default: the record's own pipeline",
        json_schema_extra=refers(RefKind.PIPELINE),
    )
    stage_id: int | None = Field(
        None,
        description="Default: the pipeline's first stage",
        json_schema_extra=refers(RefKind.STAGE),
    )
    name: str | None = Field(None, description="Template; default '<name> Copy'")
    owner_id: int | None = Field(
        None, description="Default: the record's owner", json_schema_extra=refers(RefKind.USER)
    )
    copy_associations: bool = Field(True, description="Link the copy to the same contacts…")


def _check_copy(ctx: SaveContext, settings: CopyRecord) -> None:
    if ctx.object_type is None:
        raise SettingsInvalid("copy_record needs a record to copy")
    pipelines: dict[int, tuple[str, frozenset[int]]] = ctx.extra.get("pipelines", {})
    if settings.pipeline_id is not None:
        found = pipelines.get(settings.pipeline_id)
        if found is None or found[0] != ctx.object_type:
            raise SettingsInvalid(
                f"there is no {ctx.object_type} pipeline {settings.pipeline_id}", "pipeline_id"
            )
        stages = found[1]
    else:
        stages = ctx.stage_ids
    if settings.stage_id is not None and settings.stage_id not in stages:
        where = f"pipeline {settings.pipeline_id}" if settings.pipeline_id else "this pipeline"
        raise SettingsInvalid(f"there is no stage {settings.stage_id} in {where}", "stage_id")
    if settings.owner_id is not None and settings.owner_id not in ctx.user_ids:
        raise SettingsInvalid(f"there is no user {settings.owner_id}", "owner_id")


@registry.register(
    "copy_record",
    CopyRecord,
    description="Copy the record (e.g. a won deal into the delivery pipeline) with its fields",
    check=_check_copy,
)
def copy_record(ctx: ActionContext, settings: CopyRecord) -> dict[str, Any]:
    assert ctx.record_id is not None
    source = ctx.crm.record(ctx.record_id)
    name = resolve(ctx, settings.name) if settings.name else f"{source.get('name')} Copy"
    owner_id = settings.owner_id if settings.owner_id is not None else source.get("owner_id")
    copy_id = ctx.crm.copy_record(
        ctx.record_id,
        name=str(name),
        pipeline_id=settings.pipeline_id,
        stage_id=settings.stage_id,
        owner_id=owner_id,
        associations=settings.copy_associations,
    )
    return {"copy": {"object_type": source.get("object"), "id": copy_id}}


class Substate(Settings):
    substate: str = Field(
        min_length=1,
        max_length=100,
        description="e.g. installation",
        json_schema_extra=refers(RefKind.SUBSTATE),
    )


def _check_substate(ctx: SaveContext, settings: Substate) -> None:
    if ctx.object_type != "opportunity":
        raise SettingsInvalid("only opportunities have sub-states", "substate")
    kind = ctx.extra.get("opportunity_type")  # the trigger's type, when it names a defined one
    if kind is not None and not kind.has_substate(settings.substate):
        raise SettingsInvalid(kind.unknown_substate(settings.substate), "substate")


@registry.register(
    "open_substate",
    Substate,
    description="Open a sub-state of the opportunity (SubstateOpened)",
    check=_check_substate,
)
def open_substate(ctx: ActionContext, settings: Substate) -> dict[str, Any]:
    assert ctx.record_id is not None
    changed = ctx.crm.set_substate(ctx.record_id, settings.substate, open_=True)
    return {"substate": settings.substate, "opened": changed}


@registry.register(
    "close_substate",
    Substate,
    description="Close a sub-state of the opportunity (SubstateClosed)",
    check=_check_substate,
)
def close_substate(ctx: ActionContext, settings: Substate) -> dict[str, Any]:
    assert ctx.record_id is not None
    changed = ctx.crm.set_substate(ctx.record_id, settings.substate, open_=False)
    return {"substate": settings.substate, "closed": changed}
