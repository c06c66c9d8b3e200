"""Writing a workspace's automations as YAML, each definition without its default values."""

from __future__ import annotations

from enum import Enum
from typing import Any

import yaml
from pydantic import BaseModel

from stageflow.adapters.db import tables as t
from stageflow.automation.definitions import Definition
from stageflow.automation.rules import RuleSpec
from stageflow.automation.substate_actions import (
    ActionFields,
)
from stageflow.domain.users import Principal
from stageflow.services.authoring import lead_automation, stage_rules, substate_actions
from stageflow.services.crm import opportunity_types
from stageflow.services.unit_of_work import UnitOfWork

FORMAT = 1
HEADER = "stageflow automations"
STATUSES = ("draft", "active", "paused", "archived")


def export(uow: UnitOfWork, principal: Principal) -> str:
    """The workspace's automations as YAML."""
    ws = principal.workspace_id
    workflows = []
    for row in workflows_of(uow, ws):
        workflows.append(
            {
                "name": row.name,
                **({"description": row.description} if row.description else {}),
                "status": row.status,
                "definition": lean(Definition.model_validate(row.draft)),
            }
        )
    rules = []
    for pipeline in uow.pipelines.list(ws):
        for stage in sorted(pipeline.stages, key=lambda s: s.position):
            assert pipeline.id is not None and stage.id is not None
            found = stage_rules.list_rules(uow, principal, pipeline.id, stage.id)
            if found:
                rules.append(
                    {
                        "pipeline_id": pipeline.id,
                        "stage_id": stage.id,
                        "where": f"{pipeline.name} / {stage.name}",
                        "rules": [rule_out(view) for view in found],
                    }
                )
    settings = lead_automation.view(uow, principal)
    document = {
        "stageflow": HEADER,
        "format": FORMAT,
        "workflows": workflows,
        "stage_rules": rules,
        "substate_actions": _substate_actions_out(uow, principal),
        "lead_automation": {key: settings[key] for key in lead_automation.BUILT_IN},
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def lean(model: BaseModel) -> dict[str, Any]:
    """A model as JSON without the values its fields default to (``type`` always kept: it
    says which step or trigger this is)."""
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key = info.alias or name
        default = info.get_default(call_default_factory=True)
        if name != "type" and _json(value) == _json(default):
            continue
        out[key] = _lean_value(value)
    return out


def _lean_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return lean(value)
    if isinstance(value, list):
        return [_lean_value(v) for v in value]
    return _json(value)


def _json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def rule_out(view: dict[str, Any]) -> dict[str, Any]:
    spec = RuleSpec.model_validate({k: view[k] for k in stage_rules.SPEC_KEYS if k in view})
    return {"name": view["name"], "group": view["group"], **lean(spec)}


def _substate_actions_out(uow: UnitOfWork, principal: Principal) -> list[dict[str, Any]]:
    places = []
    for kind in opportunity_types.list_types(uow, principal):
        for substate in kind["substates"]:
            found = substate_actions.list_actions(uow, principal, kind["id"], substate["name"])
            if found:
                places.append(
                    {
                        "opportunity_type": kind["name"],
                        "substate": substate["name"],
                        "actions": [action_out(view) for view in found],
                    }
                )
    return places


def action_out(view: dict[str, Any]) -> dict[str, Any]:
    fields = ActionFields.model_validate({k: view[k] for k in ActionFields.model_fields})
    after = {"after": view["after"]} if view["after"] else {}
    return {"name": view["name"], "group": view["group"], **after, **lean(fields)}


def workflows_of(uow: UnitOfWork, workspace_id: int) -> list[Any]:
    """The workspace's workflows, oldest first."""
    rows: list[Any] = []
    where = [t.automations.c.kind == "workflow"]
    cursor = None
    while True:
        batch = uow.automations.list(workspace_id, where=where, before_id=cursor, limit=500)
        rows.extend(batch)
        if len(batch) < 500:
            break
        cursor = batch[-1].id
    return sorted(rows, key=lambda r: r.id)
