"""Which active automations refer to a thing (a stage, a user, a field, a template…).

The answer to the CRM's ``reference_deleting`` signal (connected in ``wiring``): before a thing
is deleted or renamed where its name is the key, every active automation's published version —
trigger, conditions, steps and action settings — is read for references, and the change is
refused naming the automations that would break. Action settings say which of their values
name a thing (``domain/references.refers``), so a new action type is covered by declaring it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from stageflow.actions import registry
from stageflow.automation import templates
from stageflow.automation.definitions import (
    ActionStep,
    BranchStep,
    Definition,
    DelayStep,
    LoopStep,
    SetVariableStep,
    WaitUntilStep,
)
from stageflow.automation.graph import GraphError, compile_graph
from stageflow.automation.triggers import trigger_object_type
from stageflow.domain.errors import Conflict
from stageflow.domain.fields import FieldDef, FieldType
from stageflow.domain.filters import LIST_OPS, UNARY_OPS, conditions, parse_filter
from stageflow.domain.records import SOURCE_PICKLIST, ObjectType
from stageflow.domain.references import (
    FIELDS,
    FILTER,
    RefKind,
    field_key,
    substate_key,
)
from stageflow.services.crm.records import field_definitions
from stageflow.services.unit_of_work import UnitOfWork

Ref = tuple[RefKind, str]
FieldIndex = Mapping[str, Mapping[str, FieldDef]]  # object type → field key → definition
RELATED_ROOTS = ("contact", "company")
# Core attributes whose values name a thing.
_CORE_VALUE_KINDS = {
    "stage_id": RefKind.STAGE,
    "pipeline_id": RefKind.PIPELINE,
    "owner_id": RefKind.USER,
}


def refuse_if_used(uow: UnitOfWork, workspace_id: int, kind: str, key: str, label: str) -> None:
    """Raise Conflict naming the active automations that refer to ``kind``/``key``."""
    names = automations_using(uow, workspace_id, RefKind(kind), key)
    if names:
        listed = ", ".join(f"'{n}'" for n in names)
        raise Conflict(
            f"{label} is used by {'an automation' if len(names) == 1 else 'automations'}: "
            f"{listed}; change or archive {'it' if len(names) == 1 else 'them'} first"
        )


def automations_using(uow: UnitOfWork, workspace_id: int, kind: RefKind, key: str) -> list[str]:
    """The names of the active automations whose published version refers to kind/key."""
    fields = {o.value: field_definitions(uow, workspace_id, o) for o in ObjectType}
    wanted = {(kind, key)}
    if kind is RefKind.SUBSTATE:
        wanted.add((kind, substate_key(None, key.partition("/")[2])))
    names = [
        row.name
        for row in uow.automations.active_versions(workspace_id)
        if wanted & references(row.definition, fields)
    ]
    return sorted(set(names))


def references(raw: Any, fields: FieldIndex) -> set[Ref]:
    """Everything a definition names: stages, pipelines, users, fields, picklist values,
    templates, opportunity types and sub-states."""
    try:
        definition = Definition.model_validate(raw)
        steps = compile_graph(definition).all_steps()
    except (ValidationError, GraphError):
        return set()
    found = _Finder(definition, fields)
    found.trigger(definition.trigger)
    if definition.conditions is not None:
        found.filter(definition.conditions, found.object_type)
    for step in steps:
        found.step(step)
    return found.refs


class _Finder:
    def __init__(self, definition: Definition, fields: FieldIndex) -> None:
        kind = trigger_object_type(definition.trigger)
        self.object_type = kind.value if kind is not None else None
        self.opportunity_type: str | None = getattr(definition.trigger, "opportunity_type", None)
        self.fields = fields
        self.refs: set[Ref] = set()

    def add(self, kind: RefKind, key: Any) -> None:
        if key is not None and key != "":
            self.refs.add((kind, str(key)))

    def trigger(self, trigger: Any) -> None:
        for attr in ("stage_id", "from_stage_id", "to_stage_id"):
            self.add(RefKind.STAGE, getattr(trigger, attr, None))
        self.add(RefKind.PIPELINE, getattr(trigger, "pipeline_id", None))
        if trigger.type in ("field_changed", "date_reached"):
            self.field(self.object_type, trigger.field)
        if trigger.type == "field_changed":
            for value in (trigger.to, trigger.from_):
                self.value(self.object_type, trigger.field, value)
        if trigger.type in ("substate_opened", "substate_closed"):
            self.add(RefKind.OPPORTUNITY_TYPE, trigger.opportunity_type)
            if trigger.substate:
                self.add(RefKind.SUBSTATE, substate_key(trigger.opportunity_type, trigger.substate))
        if trigger.type == "lifecycle_changed":
            stage_ids = [trigger.to_lifecycle_stage_id, trigger.from_lifecycle_stage_id]
            for stage_id in [*stage_ids, *(trigger.to_lifecycle_stage_ids or [])]:
                self.add(RefKind.LIFECYCLE_STAGE, stage_id)
        if trigger.type == "lead_disqualified":
            for reason in trigger.reasons:
                self.value("lead", "disqualification_reason", reason)
        if trigger.type == "schedule" and trigger.segment is not None:
            self.filter(trigger.segment, self.object_type)

    def step(self, step: Any) -> None:
        if isinstance(step, ActionStep):
            for channel in step.channels or []:
                self.add(RefKind.PICKLIST_VALUE, f"{SOURCE_PICKLIST}:{channel}")
            try:
                settings = registry.get(step.action).parse(step.settings)
            except (KeyError, ValueError):
                return
            self.settings(settings)
            for text in _strings(step.settings):
                self.template(text)
        elif isinstance(step, BranchStep):
            for branch in step.branches:
                self.filter(branch.condition, self.object_type)
        elif isinstance(step, WaitUntilStep | LoopStep) and step.condition is not None:
            self.filter(step.condition, self.object_type)
        elif isinstance(step, DelayStep) and step.until_field is not None:
            self.field(self.object_type, step.until_field)
        elif isinstance(step, SetVariableStep) and step.template is not None:
            self.template(step.template)

    def settings(self, model: BaseModel) -> None:
        """The settings an action declares as naming things (``refers``), nested ones too."""
        for name, info in type(model).model_fields.items():
            value = getattr(model, name)
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            kind = extra.get("refers")
            if isinstance(kind, str) and value is not None:
                source = extra.get("refers_object_type")
                owner = str(getattr(model, source)) if isinstance(source, str) else None
                self.setting(kind, value, owner or self.object_type)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, BaseModel):
                    self.settings(item)

    def setting(self, kind: str, value: Any, object_type: str | None) -> None:
        if kind == FILTER:
            self.filter(value, object_type)
        elif kind == FIELDS:
            for key, item in dict(value).items():
                self.field(object_type, key)
                self.value(object_type, key, item)
        elif kind == RefKind.FIELD:
            for key in value if isinstance(value, list) else [value]:
                if key != "owner":
                    self.field(object_type, key)
        elif kind == RefKind.SUBSTATE:
            for name in value if isinstance(value, list) else [value]:
                self.add(RefKind.SUBSTATE, substate_key(self.opportunity_type, name))
        else:
            for key in value if isinstance(value, list) else [value]:
                self.add(RefKind(kind), key)

    def filter(self, raw: Any, object_type: str | None) -> None:
        try:
            node = parse_filter(raw)
        except ValueError:
            return
        for condition in conditions(node):
            name = condition.field.removeprefix("fields.")
            if name.startswith(("vars.", "trigger.", "owner.")):
                continue
            root, dot, rest = name.partition(".")
            owner, key = (root, rest) if dot and root in RELATED_ROOTS else (object_type, name)
            self.field(owner, key)
            if condition.op in UNARY_OPS:
                continue
            values = condition.value if condition.op in LIST_OPS else [condition.value]
            for value in values if isinstance(values, list) else [values]:
                self.value(owner, key, value)

    def template(self, text: str) -> None:
        try:
            paths = templates.references(text)
        except templates.TemplateProblem:
            return
        for path in paths:
            root, _, name = path.partition(".")
            if root == "record":
                self.field(self.object_type, name)
            elif root in RELATED_ROOTS:
                self.field(root, name)

    def field(self, object_type: str | None, key: str | None) -> None:
        if object_type is not None and key:
            self.add(RefKind.FIELD, field_key(object_type, key))

    def value(self, object_type: str | None, key: str, value: Any) -> None:
        """A value compared with or written to a field: a picklist value, a user, a stage…"""
        if value is None or isinstance(value, dict | list) or templates_in(value):
            return
        if key in _CORE_VALUE_KINDS:
            self.add(_CORE_VALUE_KINDS[key], value)
            return
        if key == "source":
            self.add(RefKind.PICKLIST_VALUE, f"{SOURCE_PICKLIST}:{value}")
            return
        if key == "opportunity_type" and object_type == ObjectType.OPPORTUNITY.value:
            self.add(RefKind.OPPORTUNITY_TYPE, value)
            return
        definition = self.fields.get(object_type or "", {}).get(key)
        if definition is None:
            return
        if definition.type is FieldType.USER:
            self.add(RefKind.USER, value)
        elif definition.type is FieldType.PICKLIST and definition.picklist:
            self.add(RefKind.PICKLIST_VALUE, f"{definition.picklist}:{value}")


def templates_in(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
