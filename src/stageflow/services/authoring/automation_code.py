"""Automation-as-code (issue 6, item 10): a workspace's workflows, stage rules and lead
automation settings as one YAML document, exported and imported exactly.

Export writes each definition without its default values, so files stay short; import reads
them through the same models, so ``export → import → export`` gives the same text. Import is
all or nothing: every entry is checked before anything is written, and every problem is told
with the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from stageflow.adapters.db import tables as t
from stageflow.automation.definitions import Definition
from stageflow.automation.rules import RuleSpec
from stageflow.automation.substate_actions import (
    ActionFields,
    NewSubstateAction,
    SubstateActionPatch,
)
from stageflow.domain.errors import StageflowError, ValidationFailed, first_problem
from stageflow.domain.events import Actor
from stageflow.domain.users import Permission, Principal
from stageflow.services.authoring import automations, lead_automation, stage_rules, substate_actions
from stageflow.services.authoring.automation_checks import check_definition
from stageflow.services.crm import opportunity_types
from stageflow.services.unit_of_work import UnitOfWork

FORMAT = 1
HEADER = "stageflow automations"
STATUSES = ("draft", "active", "paused", "archived")


# export ---------------------------------------------------------------------------------


def export(uow: UnitOfWork, principal: Principal) -> str:
    """The workspace's automations as YAML."""
    ws = principal.workspace_id
    workflows = []
    for row in _workflows(uow, ws):
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
                        "rules": [_rule_out(view) for view in found],
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


def _rule_out(view: dict[str, Any]) -> dict[str, Any]:
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
                        "actions": [_action_out(view) for view in found],
                    }
                )
    return places


def _action_out(view: dict[str, Any]) -> dict[str, Any]:
    fields = ActionFields.model_validate({k: view[k] for k in ActionFields.model_fields})
    after = {"after": view["after"]} if view["after"] else {}
    return {"name": view["name"], "group": view["group"], **after, **lean(fields)}


def _workflows(uow: UnitOfWork, workspace_id: int) -> list[Any]:
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


# import ---------------------------------------------------------------------------------


@dataclass
class Problem:
    line: int | None
    where: str
    message: str

    def told(self, filename: str) -> str:
        at = f"{filename}:{self.line}" if self.line else filename
        return f"{at}: {self.where}: {self.message}"


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class CodeInvalid(StageflowError):
    code = "validation_error"
    status = 422

    def __init__(self, problems: list[Problem], filename: str) -> None:
        super().__init__("\n".join(p.told(filename) for p in problems))
        self.problems = problems


def load(text: str, filename: str) -> tuple[dict[str, Any], yaml.Node | None]:
    """Parse the YAML, keeping the node tree for line numbers."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = Problem(line, "yaml", str(getattr(exc, "problem", exc)))
        raise CodeInvalid([problem], filename) from None
    if not isinstance(data, dict) or data.get("stageflow") != HEADER:
        raise CodeInvalid(
            [
                Problem(
                    1, "stageflow", f"not a stageflow automations file (want 'stageflow: {HEADER}')"
                )
            ],
            filename,
        )
    if data.get("format") != FORMAT:
        raise CodeInvalid(
            [Problem(line_of(node, ["format"]), "format", f"format {FORMAT} is the one known")],
            filename,
        )
    return data, node


def apply(
    uow: UnitOfWork,
    principal: Principal,
    text: str,
    filename: str,
    actor: Actor,
) -> Outcome:
    """Bring the workspace in line with the file: workflows matched by name, stage rules by
    stage and name, lead automation settings replaced. Nothing is deleted. The caller commits
    (or, for a dry run, does not)."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    data, node = load(text, filename)
    outcome = Outcome()
    shape = [Problem(line_of(node, path), _dotted(path), message) for path, message in _shape(data)]
    if shape:
        raise CodeInvalid(shape, filename)
    existing = {row.name: row for row in _workflows(uow, principal.workspace_id)}
    for path, check in _checks(uow, principal, data, existing):
        try:
            check()
        except StageflowError as exc:
            outcome.problems.append(_problem(node, path, exc))
    if outcome.problems:
        raise CodeInvalid(outcome.problems, filename)
    for path, change in _changes(uow, principal, data, existing, actor, outcome):
        try:
            change()
        except StageflowError as exc:
            raise CodeInvalid([_problem(node, path, exc)], filename) from None
    return outcome


TOP_KEYS = {
    "stageflow",
    "format",
    "workflows",
    "stage_rules",
    "substate_actions",
    "lead_automation",
}
WORKFLOW_KEYS = {"name", "description", "status", "definition"}
STAGE_KEYS = {"pipeline_id", "stage_id", "where", "rules"}
SUBSTATE_KEYS = {"opportunity_type", "substate", "actions"}


def _shape(data: dict[str, Any]) -> Iterator[tuple[list[Any], str]]:
    """What is wrong with the document's shape: keys, types, names given twice."""
    for key in sorted(set(data) - TOP_KEYS):
        yield [key], f"unknown section '{key}' (known: {', '.join(sorted(TOP_KEYS))})"
    for key in ("workflows", "stage_rules", "substate_actions"):
        if data.get(key) is not None and not isinstance(data[key], list):
            yield [key], f"'{key}' is a list"
    lead = data.get("lead_automation")
    if lead is not None and not isinstance(lead, dict):
        yield ["lead_automation"], "'lead_automation' is a mapping of sections"
    names: set[Any] = set()
    for i, entry in enumerate(_list(data, "workflows")):
        yield from _mapping(
            ["workflows", i], entry, WORKFLOW_KEYS, {"name": str, "definition": dict}
        )
        if isinstance(entry, dict):
            name = entry.get("name")
            if name in names:
                yield ["workflows", i, "name"], f"two workflows are named '{name}'"
            names.add(name)
            if entry.get("status", "active") not in STATUSES:
                yield ["workflows", i, "status"], f"status is one of {', '.join(STATUSES)}"
    places: tuple[tuple[str, set[str], dict[str, type], str], ...] = (
        ("stage_rules", STAGE_KEYS, {"pipeline_id": int, "stage_id": int, "rules": list}, "rules"),
        (
            "substate_actions",
            SUBSTATE_KEYS,
            {"opportunity_type": str, "substate": str, "actions": list},
            "actions",
        ),
    )
    for section, keys, types, items in places:
        for i, place in enumerate(_list(data, section)):
            path = [section, i]
            yield from _mapping(path, place, keys, types)
            if not isinstance(place, dict) or not isinstance(place.get(items), list):
                continue
            seen: set[Any] = set()
            for j, item in enumerate(place[items]):
                if not isinstance(item, dict):
                    yield [*path, items, j], "each is a mapping of settings"
                    continue
                if item.get("name") in seen:
                    yield [*path, items, j, "name"], f"two are named '{item.get('name')}' here"
                seen.add(item.get("name"))


def _mapping(
    path: list[Any], value: Any, keys: set[str], types: dict[str, type]
) -> Iterator[tuple[list[Any], str]]:
    if not isinstance(value, dict):
        yield path, f"a mapping with {', '.join(sorted(types))}"
        return
    for key in sorted(set(value) - keys):
        yield [*path, key], f"unknown key '{key}' (known: {', '.join(sorted(keys))})"
    for key, kind in types.items():
        item = value.get(key)
        if item is None or not isinstance(item, kind) or isinstance(item, bool):
            yield (
                [*path, key],
                f"'{key}' is needed: {kind.__name__ if kind is not dict else 'a mapping'}",
            )


def _checks(
    uow: UnitOfWork, principal: Principal, data: dict[str, Any], existing: dict[str, Any]
) -> Iterator[tuple[list[Any], Any]]:
    """Every entry's check, before anything is written (the shape is sound); ``existing``:
    the workspace's workflows by name."""
    ws = principal.workspace_id
    for i, entry in enumerate(_list(data, "workflows")):

        def check(entry: dict[str, Any] = entry) -> None:
            row = existing.get(entry["name"])
            if entry.get("status") == "draft" and row is not None and row.active_version_id:
                raise ValidationFailed(
                    "a published workflow cannot become a draft again: paused or archived?",
                    field="status",
                )
            try:
                check_definition(uow, ws, entry["definition"])
            except ValidationFailed as exc:
                where = exc.field.removeprefix("definition.") if exc.field else ""
                raise ValidationFailed(
                    exc.message, field=f"definition.{where}" if where else "definition"
                ) from None

        yield ["workflows", i], check
    for i, place in enumerate(_list(data, "stage_rules")):
        for j, rule in enumerate(place["rules"]):

            def check_rule(place: dict[str, Any] = place, rule: dict[str, Any] = rule) -> None:
                stage_rules.check_new_rule(
                    uow, principal, place["pipeline_id"], place["stage_id"], _new_rule(rule)
                )

            yield ["stage_rules", i, "rules", j], check_rule
    for i, place in enumerate(_list(data, "substate_actions")):
        for j, action in enumerate(place["actions"]):

            def check_action(
                place: dict[str, Any] = place, action: dict[str, Any] = action
            ) -> None:
                type_id = _type_id(uow, principal, place["opportunity_type"])
                substate_actions.check_new_action(
                    uow, principal, type_id, place["substate"], _new_action(action)
                )

            yield ["substate_actions", i, "actions", j], check_action
    if data.get("lead_automation"):

        def check_lead() -> None:
            lead_automation.check_changes(uow, principal, data["lead_automation"])

        yield ["lead_automation"], check_lead


def _changes(
    uow: UnitOfWork,
    principal: Principal,
    data: dict[str, Any],
    existing: dict[str, Any],
    actor: Actor,
    outcome: Outcome,
) -> Iterator[tuple[list[Any], Any]]:
    for i, entry in enumerate(_list(data, "workflows")):

        def change(entry: dict[str, Any] = entry) -> None:
            _put_workflow(uow, principal, existing.get(entry["name"]), entry, actor, outcome)

        yield ["workflows", i], change
    for i, place in enumerate(_list(data, "stage_rules")):
        for j, rule in enumerate(place["rules"]):

            def change_rule(
                place: dict[str, Any] = place, rule: dict[str, Any] = rule, j: int = j
            ) -> None:
                _put_rule(uow, principal, place, rule, j + 1, actor, outcome)

            yield ["stage_rules", i, "rules", j], change_rule
    for i, place in enumerate(_list(data, "substate_actions")):
        groups: dict[str, int] = {}
        for j, action in enumerate(place["actions"]):
            group = str(action.get("group"))
            groups[group] = groups.get(group, 0) + 1

            def change_action(
                place: dict[str, Any] = place,
                action: dict[str, Any] = action,
                at: int = groups[group],
            ) -> None:
                _put_action(uow, principal, place, action, at, actor, outcome)

            yield ["substate_actions", i, "actions", j], change_action
    if isinstance(data.get("lead_automation"), dict):

        def change_lead() -> None:
            wanted = data["lead_automation"]
            before = lead_automation.view(uow, principal)
            current = {k: before[k] for k in lead_automation.BUILT_IN}
            if {k: {**current[k], **wanted.get(k, {})} for k in current} == current:
                outcome.unchanged.append("lead automation")
                return
            lead_automation.update(uow, principal, wanted, actor)
            outcome.changed.append("lead automation")

        yield ["lead_automation"], change_lead


def _put_workflow(
    uow: UnitOfWork,
    principal: Principal,
    row: Any,
    entry: dict[str, Any],
    actor: Actor,
    outcome: Outcome,
) -> None:
    name, status = entry["name"], entry.get("status", "active")
    description = entry.get("description", "")
    definition = entry["definition"]
    label = f"workflow '{name}'"
    if row is None:
        automation_id = automations.create_automation(
            uow,
            principal,
            automations.CreateAutomation(
                name=name, description=description, definition=definition, publish=False
            ),
            actor,
        )
        outcome.created.append(label)
        row = uow.automations.get(principal.workspace_id, automation_id)
    else:
        draft = automations.dump_definition(Definition.model_validate(definition))
        if row.draft == draft and row.description == description and row.status == status:
            outcome.unchanged.append(label)
            return
        automations.update_automation(
            uow,
            principal,
            row.id,
            automations.UpdateAutomation(description=description, definition=definition),
            actor,
        )
        outcome.changed.append(label)
        row = uow.automations.get(principal.workspace_id, row.id)
    assert row is not None
    if status == "active":
        active = uow.automations.version(row.active_version_id) if row.active_version_id else None
        if active is None or active.definition != row.draft:
            automations.publish(uow, principal, row.id, actor)
        automations.set_status(uow, principal, row.id, "active")
    elif status in ("paused", "archived") and row.status != status:
        if status == "paused" and row.active_version_id is None:
            automations.publish(uow, principal, row.id, actor)
        automations.set_status(uow, principal, row.id, status)


M = TypeVar("M", bound=BaseModel)


def _parsed(model: type[M], raw: dict[str, Any]) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise first_problem(exc) from None


def _new_rule(rule: dict[str, Any]) -> stage_rules.NewRule:
    return _parsed(stage_rules.NewRule, rule)


def _put_rule(
    uow: UnitOfWork,
    principal: Principal,
    place: dict[str, Any],
    rule: dict[str, Any],
    position: int,
    actor: Actor,
    outcome: Outcome,
) -> None:
    pipeline_id, stage_id = int(place["pipeline_id"]), int(place["stage_id"])
    new = _new_rule(rule)
    label = f"stage rule '{new.name}' ({place.get('where', stage_id)})"
    current = {v["name"]: v for v in stage_rules.list_rules(uow, principal, pipeline_id, stage_id)}
    found = current.get(new.name)
    if found is None:
        cmd = new.model_copy(update={"position": position})
        stage_rules.create_rule(uow, principal, pipeline_id, stage_id, cmd, actor)
        outcome.created.append(label)
        return
    spec = new.model_dump(include=set(stage_rules.SPEC_KEYS))
    if _rule_out(found) == _rule_out({**spec, "name": new.name, "group": new.group}) and (
        found["position"] == position
    ):
        outcome.unchanged.append(label)
        return
    patch = stage_rules.RulePatch.model_validate(
        {**spec, "name": new.name, "group": new.group, "position": position}
    )
    stage_rules.update_rule(uow, principal, pipeline_id, stage_id, found["id"], patch, actor)
    outcome.changed.append(label)


def _type_id(uow: UnitOfWork, principal: Principal, name: Any) -> int:
    for kind in opportunity_types.list_types(uow, principal):
        if kind["name"] == name:
            return int(kind["id"])
    raise ValidationFailed(f"there is no opportunity type '{name}'", field="opportunity_type")


def _new_action(action: dict[str, Any]) -> NewSubstateAction:
    return _parsed(NewSubstateAction, action)


def _put_action(
    uow: UnitOfWork,
    principal: Principal,
    place: dict[str, Any],
    action: dict[str, Any],
    position: int,
    actor: Actor,
    outcome: Outcome,
) -> None:
    type_id = _type_id(uow, principal, place["opportunity_type"])
    substate = str(place["substate"])
    new = _new_action(action)
    label = f"sub-state action '{new.name}' ({place['opportunity_type']} / {substate})"
    current = {
        v["name"]: v for v in substate_actions.list_actions(uow, principal, type_id, substate)
    }
    found = current.get(new.name)
    if found is None:
        cmd = new.model_copy(update={"position": position})
        substate_actions.create_action(uow, principal, type_id, substate, cmd, actor)
        outcome.created.append(label)
        return
    wanted = _action_out({**new.model_dump(), "after": new.after})
    if _action_out(found) == wanted and found["position"] == position:
        outcome.unchanged.append(label)
        return
    patch = SubstateActionPatch.model_validate(
        {**new.model_dump(exclude={"position"}), "after": new.after, "position": position}
    )
    substate_actions.update_action(uow, principal, type_id, substate, found["id"], patch, actor)
    outcome.changed.append(label)


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _dotted(path: list[Any]) -> str:
    return ".".join(str(p) for p in path)


# where in the file ----------------------------------------------------------------------


def _problem(node: yaml.Node | None, path: list[Any], exc: StageflowError) -> Problem:
    field_parts: list[Any] = exc.field.split(".") if exc.field else []
    full = [*path, *field_parts]
    where = ".".join(str(p) for p in full)
    return Problem(line_of(node, full), where, exc.message)


def line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """The 1-based line of the deepest part of ``path`` found in the YAML node tree (a key's
    own line for a mapping entry). A part that names a step (by its id) is looked for among
    the steps below; a setting missing from a step is looked for in its ``settings``."""
    if node is None:
        return None
    line = int(node.start_mark.line) + 1
    for part in path:
        key, value = _child(node, part)
        if value is None:
            break
        node = value
        line = int((key or value).start_mark.line) + 1
    return line


def _child(node: yaml.Node, part: Any) -> tuple[yaml.Node | None, yaml.Node | None]:
    """The entry ``part`` names below ``node``: (its key node, if a mapping's; its value)."""
    if isinstance(node, yaml.SequenceNode):
        text = str(part)
        if text.isdigit() and int(text) < len(node.value):
            return None, node.value[int(text)]
        return None, _with_id(node, text)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return key, value
        for key, value in node.value:
            if key.value == "settings":
                return _child(value, part)
    return None, None


def _with_id(node: yaml.Node, step_id: str) -> yaml.Node | None:
    """The mapping with ``id: step_id`` anywhere below ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "id" and isinstance(value, yaml.ScalarNode) and value.value == step_id:
                return node
        children = [value for _, value in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        return None
    for child in children:
        found = _with_id(child, step_id)
        if found is not None:
            return found
    return None
