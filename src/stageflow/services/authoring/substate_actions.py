"""Sub-state automatic actions (SPEC E2-E7): actions attached to one sub-state of one
opportunity type, in three groups: ``on_open`` and ``on_close`` act when the sub-state opens or
closes on an opportunity of the type, in their order; ``scheduled`` ones act ``after`` a set
time from the opening — unless the sub-state was closed before: closing it cancels them
(services/crm/substates.py).

Every change is compiled onto the engine at once, as stage rules are (DESIGN "Automations"):
the on_open actions form one automation of kind ``substate_action`` (trigger substate_opened,
filtered by type and sub-state), the on_close actions another (substate_closed), and each
scheduled action one of its own (a delay, then the action). Changing them publishes a new
version; runs in flight finish as they started (X5). Changing needs
``opportunity_states.edit`` (E6).
"""

from __future__ import annotations

from typing import Any

from stageflow.adapters.db.repositories.opportunity_types import to_type
from stageflow.automation.rules import RuleSpec
from stageflow.automation.substate_actions import (
    GROUP_TITLES,
    GROUPS,
    SPEC_KEYS,
    CopyTo,
    NewSubstateAction,
    SubstateActionPatch,
    compiled,
    definition,
    field_name,
    spec_of,
    trigger,
)
from stageflow.domain.errors import NotFound, StaleVersion, ValidationFailed
from stageflow.domain.events import Actor
from stageflow.domain.opportunity_types import OpportunityType
from stageflow.domain.users import Permission, Principal
from stageflow.services.authoring.automations import archive_compiled, put_rule_automations
from stageflow.services.authoring.stage_rules import check_rule
from stageflow.services.unit_of_work import UnitOfWork

KIND = "substate_action"
MAX_ACTIONS = 100  # per sub-state


def list_actions(
    uow: UnitOfWork, principal: Principal, type_id: int, substate: str
) -> list[dict[str, Any]]:
    """The sub-state's actions by group (on_open, on_close, scheduled), each in its order."""
    row, _ = _place(uow, principal, type_id, substate)
    return _views(uow, row, substate)


def get_action(
    uow: UnitOfWork, principal: Principal, type_id: int, substate: str, action_id: int
) -> dict[str, Any]:
    row, _ = _place(uow, principal, type_id, substate)
    _row(uow, principal, row.name, substate, action_id)
    return next(v for v in _views(uow, row, substate) if v["id"] == action_id)


def create_action(
    uow: UnitOfWork,
    principal: Principal,
    type_id: int,
    substate: str,
    cmd: NewSubstateAction,
    actor: Actor,
) -> int:
    _, kind = _place(uow, principal, type_id, substate, editing=True)
    ws = principal.workspace_id
    rows = uow.rules.of_substate(ws, kind.name, substate)
    if len(rows) >= MAX_ACTIONS:
        raise ValidationFailed(f"a sub-state has at most {MAX_ACTIONS} actions", field="substate")
    spec = spec_of(cmd.group, cmd.after, cmd.model_dump(include=set(SPEC_KEYS)))
    _check(uow, ws, kind, substate, cmd.group, cmd.name, spec)
    group = [r.id for r in rows if r.group == cmd.group]
    action_id = uow.rules.add(
        ws,
        now=uow.clock.now(),
        kind=KIND,
        opportunity_type=kind.name,
        substate=substate,
        group=cmd.group,
        position=len(group) + 1,
        name=cmd.name,
        spec=spec.model_dump(mode="json"),
    )
    if cmd.position is not None:
        uow.rules.renumber(group, insert=(action_id, cmd.position))
    _compile(uow, ws, kind.name, substate, actor)
    return action_id


def check_new_action(
    uow: UnitOfWork, principal: Principal, type_id: int, substate: str, cmd: NewSubstateAction
) -> None:
    """Check an action as create_action would, writing nothing."""
    _, kind = _place(uow, principal, type_id, substate, editing=True)
    spec = spec_of(cmd.group, cmd.after, cmd.model_dump(include=set(SPEC_KEYS)))
    _check(uow, principal.workspace_id, kind, substate, cmd.group, cmd.name, spec)


def update_action(
    uow: UnitOfWork,
    principal: Principal,
    type_id: int,
    substate: str,
    action_id: int,
    cmd: SubstateActionPatch,
    actor: Actor,
) -> None:
    _, kind = _place(uow, principal, type_id, substate, editing=True)
    ws = principal.workspace_id
    row = _row(uow, principal, kind.name, substate, action_id)
    if cmd.version is not None and cmd.version != row.version:
        raise StaleVersion(
            f"action {action_id} is at version {row.version}, not {cmd.version}", field="version"
        )
    given = cmd.model_dump(exclude_unset=True)
    group = given.get("group") or row.group
    old = RuleSpec.model_validate(row.spec)
    if "after" in given:
        after = given["after"]
    else:
        after = old.timing.after if group == "scheduled" else None
    current = old.model_dump(include=set(SPEC_KEYS))
    spec = spec_of(group, after, {**current, **{k: v for k, v in given.items() if k in SPEC_KEYS}})
    name = cmd.name if cmd.name is not None else row.name
    _check(uow, ws, kind, substate, group, name, spec)
    values: dict[str, Any] = {"spec": spec.model_dump(mode="json"), "name": name, "group": group}
    uow.rules.update(action_id, row.version, {**values, "updated_at": uow.clock.now()})
    if group != row.group or cmd.position is not None:
        others = [
            r.id
            for r in uow.rules.of_substate(ws, kind.name, substate)
            if r.group == group and r.id != action_id
        ]
        uow.rules.renumber(others, insert=(action_id, cmd.position or len(others) + 1))
        _renumber(uow, ws, kind.name, substate, row.group)
    _compile(uow, ws, kind.name, substate, actor)


def delete_action(
    uow: UnitOfWork,
    principal: Principal,
    type_id: int,
    substate: str,
    action_id: int,
    actor: Actor,
) -> None:
    """Delete an action. Runs it already started finish; nothing new starts."""
    _, kind = _place(uow, principal, type_id, substate, editing=True)
    ws = principal.workspace_id
    row = _row(uow, principal, kind.name, substate, action_id)
    uow.rules.delete(action_id)
    if row.automation_id is not None:
        archive_compiled(uow, ws, [row.automation_id])
    _renumber(uow, ws, kind.name, substate, row.group)
    _compile(uow, ws, kind.name, substate, actor)


def copy_action(
    uow: UnitOfWork,
    principal: Principal,
    type_id: int,
    substate: str,
    action_id: int,
    cmd: CopyTo,
    actor: Actor,
) -> tuple[int, str, int]:
    """E7: create the same action on a sub-state of another type; it is checked there (a
    sub-state it opens must exist in that type). Returns (type id, sub-state, new id)."""
    _, kind = _place(uow, principal, type_id, substate, editing=True)
    row = _row(uow, principal, kind.name, substate, action_id)
    target = cmd.substate if cmd.substate is not None else substate
    other = uow.opportunity_types.get(principal.workspace_id, cmd.opportunity_type_id)
    if other is None:
        raise ValidationFailed(
            f"there is no opportunity type {cmd.opportunity_type_id}", field="opportunity_type_id"
        )
    if not to_type(other).has_substate(target):
        raise ValidationFailed(to_type(other).unknown_substate(target), field="substate")
    spec = RuleSpec.model_validate(row.spec)
    new = NewSubstateAction.model_validate(
        {
            "name": row.name,
            "group": row.group,
            "after": spec.timing.after,
            **spec.model_dump(include=set(SPEC_KEYS)),
        }
    )
    new_id = create_action(uow, principal, other.id, target, new, actor)
    return other.id, target, new_id


# Cascades from changes of the type (services/crm/opportunity_types.py) -----------------------


def follow_rename(
    uow: UnitOfWork, workspace_id: int, old_name: str, kind: OpportunityType, actor: Actor
) -> None:
    """The type was renamed: its actions (and their triggers) follow the new name."""
    rows = uow.rules.of_substate(workspace_id, old_name)
    for row in rows:
        uow.rules.update(row.id, row.version, {"opportunity_type": kind.name})
    for substate in sorted({row.substate for row in rows}):
        _compile(uow, workspace_id, kind.name, substate, actor)


def delete_all(uow: UnitOfWork, workspace_id: int, type_name: str) -> None:
    """The type is deleted: so are its actions (runs they started finish)."""
    rows = uow.rules.of_substate(workspace_id, type_name)
    for row in rows:
        uow.rules.delete(row.id)
    archive_compiled(uow, workspace_id, [r.automation_id for r in rows if r.automation_id])


# helpers --------------------------------------------------------------------------------


def _place(
    uow: UnitOfWork, principal: Principal, type_id: int, substate: str, *, editing: bool = False
) -> tuple[Any, OpportunityType]:
    if editing:
        principal.require(Permission.OPPORTUNITY_STATES_EDIT)
        # Changes to actions take turns (PostgreSQL): each compiles a sub-state's as a whole.
        uow.workspaces.get(principal.workspace_id, for_update=True)
    row = uow.opportunity_types.get(principal.workspace_id, type_id)
    if row is None:
        raise NotFound(f"opportunity type {type_id} not found")
    kind = to_type(row)
    if not kind.has_substate(substate):
        raise NotFound(kind.unknown_substate(substate))
    return row, kind


def _row(uow: UnitOfWork, principal: Principal, type_name: str, substate: str, rid: int) -> Any:
    row = uow.rules.get(principal.workspace_id, rid)
    if row is None or row.opportunity_type != type_name or row.substate != substate:
        raise NotFound(f"action {rid} not found in sub-state '{substate}' of '{type_name}'")
    return row


def _check(
    uow: UnitOfWork,
    workspace_id: int,
    kind: OpportunityType,
    substate: str,
    group: str,
    name: str,
    spec: RuleSpec,
) -> None:
    """Check the action as a workflow of its own: what it needs must exist (E5), a sub-state
    it opens or closes must be one of the type's (the trigger names the type)."""
    on = trigger(kind.name, substate, group)
    check_rule(uow, workspace_id, on, name, spec, field_name=field_name)


def _renumber(
    uow: UnitOfWork, workspace_id: int, type_name: str, substate: str, group: str
) -> None:
    rows = uow.rules.of_substate(workspace_id, type_name, substate)
    in_group = [r.id for r in rows if r.group == group]
    uow.rules.renumber(in_group)


def _compile(
    uow: UnitOfWork, workspace_id: int, type_name: str, substate: str, actor: Actor
) -> None:
    """Bring the sub-state's automations in line with its actions."""
    rows = uow.rules.of_substate(workspace_id, type_name, substate)
    owned = [
        (
            chain[0],
            f"{type_name} / {substate}: "
            + (chain[0].name if group == "scheduled" else GROUP_TITLES[group]),
            definition(type_name, substate, group, chain),
        )
        for group, chain in compiled(rows)
    ]
    put_rule_automations(uow, workspace_id, rows, owned, kind=KIND, actor=actor)


def _views(uow: UnitOfWork, type_row: Any, substate: str) -> list[dict[str, Any]]:
    """Actions as the API shows them, by group and order, each with the automation it runs in
    (its own, or that of the first action of its group) or None when it is switched off."""
    rows = uow.rules.of_substate(type_row.workspace_id, type_row.name, substate)
    runs_in = {r.id: chain[0].automation_id for _, chain in compiled(rows) for r in chain}
    ordered = sorted(rows, key=lambda r: (GROUPS.index(r.group), r.position, r.id))
    views = []
    for row in ordered:
        spec = RuleSpec.model_validate(row.spec)
        views.append(
            {
                "id": row.id,
                "opportunity_type_id": type_row.id,
                "opportunity_type": row.opportunity_type,
                "substate": row.substate,
                "group": row.group,
                "position": row.position,
                "name": row.name,
                "after": spec.timing.after,
                **spec.model_dump(mode="json", include=set(SPEC_KEYS)),
                "automation_id": runs_in.get(row.id),
                "version": row.version,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
            }
        )
    return views
