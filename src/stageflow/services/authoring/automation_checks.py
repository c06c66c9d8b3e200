"""Save-time validation of automation definitions (X6, E5): every field, stage, template,
duration and action setting is checked, and errors name the step and the problem."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from stageflow.actions import registry
from stageflow.actions.registry import SaveContext, SettingsInvalid
from stageflow.automation import calendar, templates
from stageflow.automation.definitions import (
    ActionStep,
    BranchStep,
    Definition,
    DelayStep,
    LoopStep,
    SetVariableStep,
    WaitUntilStep,
)
from stageflow.automation.durations import parse_duration
from stageflow.automation.graph import GraphError, compile_graph
from stageflow.automation.triggers import trigger_object_type
from stageflow.domain.errors import ValidationFailed
from stageflow.domain.fields import FieldDef, FieldType
from stageflow.domain.filters import conditions, parse_filter
from stageflow.domain.opportunity_types import OpportunityType
from stageflow.domain.records import SOURCE_PICKLIST, ObjectType
from stageflow.services.crm import records
from stageflow.services.crm.records import field_definitions
from stageflow.services.unit_of_work import UnitOfWork

CORE = frozenset(
    {
        "id",
        "name",
        "owner_id",
        "source",
        "pipeline_id",
        "stage_id",
        "created_at",
        "updated_at",
        "stage_entered_at",
        "lifecycle_stage_id",
        "object",
    }
)
RELATED = ("contact", "company")
OWNER_FIELDS = frozenset({"id", "name", "email"})


def parse_definition(raw: Any) -> Definition:
    try:
        return Definition.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p).endswith("Step"))
        raise ValidationFailed(
            f"definition.{where}: {first['msg']}", field=f"definition.{where}"
        ) from None


def check_definition(uow: UnitOfWork, workspace_id: int, raw: Any) -> Definition:
    """Parse and check a definition against the workspace; returns it when it is sound."""
    definition = parse_definition(raw)
    try:
        graph = compile_graph(definition)
    except GraphError as exc:
        raise ValidationFailed(f"step '{exc.step}': {exc}", field=f"steps.{exc.step}") from None
    object_type = trigger_object_type(definition.trigger)
    ctx = _save_context(uow, workspace_id, object_type)
    ctx.extra["opportunity_type"] = _opportunity_type(uow, workspace_id, definition.trigger)
    known = _condition_fields(ctx)
    _check_trigger(definition, ctx, uow, workspace_id)
    if definition.conditions is not None:
        _check_filter(definition.conditions, known, "conditions")
    template_fields = _template_fields(ctx)
    for step in graph.all_steps():
        try:
            _check_step(step, ctx, known, template_fields)
        except (SettingsInvalid, ValueError, templates.TemplateProblem) as exc:
            setting = getattr(exc, "field", None)
            where = f"steps.{step.id}" + (f".{setting}" if setting else "")
            raise ValidationFailed(f"step '{step.id}': {exc}", field=where) from None
        except ValidationFailed as exc:
            raise ValidationFailed(
                f"step '{step.id}': {exc.message}", field=f"steps.{step.id}"
            ) from None
    return definition


def _save_context(
    uow: UnitOfWork, workspace_id: int, object_type: ObjectType | None
) -> SaveContext:
    fields_by_object = {
        o.value: frozenset(field_definitions(uow, workspace_id, o)) for o in ObjectType
    }
    pipelines = uow.pipelines.list(workspace_id)
    stages_by_object: dict[str, frozenset[int]] = {}
    stages_by_pipeline: dict[int, frozenset[int]] = {}
    pipelines_by_object: dict[str, frozenset[int]] = {}
    for pipeline in pipelines:
        ids = {s.id for s in pipeline.stages if s.id is not None}
        key = pipeline.object_type.value
        stages_by_object[key] = stages_by_object.get(key, frozenset()) | ids
        if pipeline.id is not None:
            stages_by_pipeline[pipeline.id] = frozenset(ids)
            pipelines_by_object[key] = pipelines_by_object.get(key, frozenset()) | {pipeline.id}
    record_fields = fields_by_object[object_type.value] if object_type else frozenset()
    stages = stages_by_object.get(object_type.value, frozenset()) if object_type else frozenset()
    workspace = uow.workspaces.get(workspace_id)
    settings = workspace.settings if workspace else {}
    definitions = field_definitions(uow, workspace_id, object_type) if object_type else {}
    field_ctx = records.field_context(uow, workspace_id)
    return SaveContext(
        object_type=object_type.value if object_type else None,
        record_fields=record_fields,
        stage_ids=stages,
        stages_by_object=stages_by_object,
        user_ids=frozenset(uow.users.ids(workspace_id)),
        fields_by_object=fields_by_object,
        extra={
            "date_fields": _fields_of(definitions, FieldType.DATE, FieldType.DATETIME),
            "user_fields": _fields_of(definitions, FieldType.USER),
            "company_fields": _fields_of(definitions, FieldType.COMPANY),
            "company_exists": field_ctx.company_exists,
            "channels": frozenset(field_ctx.picklist_options.get(SOURCE_PICKLIST, ())),
            "webhook_allowlist": settings.get("webhook_allowlist", []),
            "pipelines_by_object": pipelines_by_object,
            "stages_by_pipeline": stages_by_pipeline,
            "smtp_configured": bool(settings.get("smtp")),
            "sms_configured": bool(settings.get("sms")),
            "esign_configured": bool(settings.get("esign")),
            "report_templates": {
                row.name: (row.title, row.html) for row in uow.report_templates.list(workspace_id)
            },
            "email_templates": {
                row.name: (row.subject, row.html, row.text)
                for row in uow.email_templates.list(workspace_id)
            },
            "pipelines": {
                p.id: (p.object_type.value, frozenset(s.id for s in p.stages if s.id))
                for p in pipelines
                if p.id is not None
            },
        },
    )


def _opportunity_type(uow: UnitOfWork, workspace_id: int, trigger: Any) -> OpportunityType | None:
    """The opportunity type a sub-state trigger names, when it is defined (E1): the sub-states
    its actions open or close must be the type's."""
    name = getattr(trigger, "opportunity_type", None)
    return uow.opportunity_types.named(workspace_id, name) if name else None


def _fields_of(definitions: Mapping[str, FieldDef], *types: FieldType) -> frozenset[str]:
    """The keys of the fields of these types."""
    return frozenset(k for k, f in definitions.items() if f.type in types)


def _condition_fields(ctx: SaveContext) -> set[str]:
    known = set(CORE) | set(ctx.record_fields)
    for related in RELATED:
        for name in CORE | ctx.fields_by_object.get(related, frozenset()):
            known.add(f"{related}.{name}")
    known.update(f"owner.{name}" for name in OWNER_FIELDS)
    return known


def _template_fields(ctx: SaveContext) -> dict[str, set[str]]:
    fields = {"record": set(CORE) | set(ctx.record_fields), "owner": set(OWNER_FIELDS)}
    for related in RELATED:
        fields[related] = set(CORE) | set(ctx.fields_by_object.get(related, frozenset()))
    return fields


def _check_filter(raw: dict[str, Any], known: set[str], where: str) -> None:
    node = parse_filter(raw, field_name=where)
    for condition in conditions(node):
        name = condition.field
        if name.startswith(("vars.", "trigger.")):
            continue
        if name.removeprefix("fields.") not in known:
            raise ValidationFailed(f"{where}: unknown field '{name}'", field=where)


def _check_trigger(
    definition: Definition, ctx: SaveContext, uow: UnitOfWork, workspace_id: int
) -> None:
    trigger: Any = definition.trigger
    for attr in ("stage_id", "from_stage_id", "to_stage_id"):
        value = getattr(trigger, attr, None)
        if value is not None and value not in ctx.stage_ids:
            raise ValidationFailed(
                f"trigger: there is no stage {value} for {ctx.object_type}s",
                field=f"trigger.{attr}",
            )
    for attr in ("to_lifecycle_stage_id", "from_lifecycle_stage_id", "to_lifecycle_stage_ids"):
        value = getattr(trigger, attr, None)
        for stage_id in value if isinstance(value, list) else [value]:
            if stage_id is not None and uow.lifecycle.get(workspace_id, stage_id) is None:
                raise ValidationFailed(
                    f"trigger: there is no lifecycle stage {stage_id}", field=f"trigger.{attr}"
                )
    pipeline_id = getattr(trigger, "pipeline_id", None)
    if pipeline_id is not None:
        pipeline = uow.pipelines.get(workspace_id, pipeline_id)
        if pipeline is None or pipeline.object_type.value != ctx.object_type:
            raise ValidationFailed(
                f"trigger: there is no {ctx.object_type} pipeline {pipeline_id}",
                field="trigger.pipeline_id",
            )
    if trigger.type == "field_changed" and trigger.field not in ctx.record_fields | CORE:
        raise ValidationFailed(
            f"trigger: {ctx.object_type}s have no field '{trigger.field}'", field="trigger.field"
        )
    if trigger.type == "date_reached":
        if trigger.field not in ctx.extra["date_fields"]:
            raise ValidationFailed(
                f"trigger: '{trigger.field}' is not a date field of {ctx.object_type}s",
                field="trigger.field",
            )
        _duration(trigger.offset, "trigger.offset")
    if trigger.type == "schedule":
        from stageflow.services.engine.schedules import check_cron

        check_cron(trigger.cron)
        if trigger.segment is not None:
            _check_filter(trigger.segment, _condition_fields(ctx), "trigger.segment")


def _check_step(
    step: Any, ctx: SaveContext, known: set[str], template_fields: dict[str, set[str]]
) -> None:
    if isinstance(step, ActionStep):
        action = registry.get(step.action)
        settings = action.parse(step.settings)
        ctx.extra.setdefault("template_fields", template_fields)
        for channel in step.channels or []:
            if channel not in ctx.extra["channels"]:
                raise SettingsInvalid(
                    f"'{channel}' is not a channel (source_channel: "
                    f"{', '.join(sorted(ctx.extra['channels']))})",
                    "channels",
                )
        if action.check is not None:
            action.check(ctx, settings)
        for text in _strings(step.settings):
            templates.check(text, template_fields)
        parse_duration(step.retry.initial_backoff)
        parse_duration(step.retry.max_backoff)
    elif isinstance(step, BranchStep):
        for i, branch in enumerate(step.branches):
            _check_filter(branch.condition, known, f"branches.{i}.condition")
    elif isinstance(step, DelayStep):
        if step.duration is not None:
            _duration(step.duration, "duration")
        if step.until_field is not None:
            if step.until_field not in ctx.extra["date_fields"]:
                raise SettingsInvalid(
                    f"'{step.until_field}' is not a date field of the record", "until_field"
                )
            _duration(step.offset, "offset")
        if step.at is not None:
            calendar.check_at(step.at)
    elif isinstance(step, WaitUntilStep):
        _duration(step.timeout, "timeout")
        if step.condition is not None:
            _check_filter(step.condition, known, "condition")
    elif isinstance(step, LoopStep):
        _check_filter(step.condition, known, "while")
    elif isinstance(step, SetVariableStep) and step.template is not None:
        templates.check(step.template, template_fields)


def _duration(text: str, where: str) -> None:
    try:
        parse_duration(text)
    except ValueError as exc:
        raise SettingsInvalid(str(exc), where) from None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
