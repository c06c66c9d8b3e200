"""Reading an automations file: its shape checked, every entry checked before anything is
written, then created or changed through the same services as the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from stageflow.automation.definitions import Definition
from stageflow.automation.substate_actions import (
    NewSubstateAction,
    SubstateActionPatch,
)
from stageflow.domain.errors import StageflowError, ValidationFailed, first_problem
from stageflow.domain.events import Actor
from stageflow.domain.users import Permission, Principal
from stageflow.services.authoring import automations, lead_automation, stage_rules, substate_actions
from stageflow.services.authoring.automation_checks import check_definition
from stageflow.services.authoring.automation_code.export import (
    FORMAT,
    HEADER,
    STATUSES,
    action_out,
    rule_out,
    workflows_of,
)
from stageflow.services.authoring.automation_code.problems import (
    CodeInvalid,
    Outcome,
    Problem,
    dotted,
    line_of,
    problem_at,
)
from stageflow.services.crm import opportunity_types
from stageflow.services.unit_of_work import UnitOfWork


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
    shape = [Problem(line_of(node, path), dotted(path), message) for path, message in _shape(data)]
    if shape:
        raise CodeInvalid(shape, filename)
    existing = {row.name: row for row in workflows_of(uow, principal.workspace_id)}
    for path, check in _checks(uow, principal, data, existing):
        try:
            check()
        except StageflowError as exc:
            outcome.problems.append(problem_at(node, path, exc))
    if outcome.problems:
        raise CodeInvalid(outcome.problems, filename)
    for path, change in _changes(uow, principal, data, existing, actor, outcome):
        try:
            change()
        except StageflowError as exc:
            raise CodeInvalid([problem_at(node, path, exc)], filename) from None
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
    if rule_out(found) == rule_out({**spec, "name": new.name, "group": new.group}) and (
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
    wanted = action_out({**new.model_dump(), "after": new.after})
    if action_out(found) == wanted and found["position"] == position:
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
