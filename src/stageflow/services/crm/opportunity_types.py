"""Opportunity types (SPEC E1, E6): create, change and delete them; reading is open to every
member, changing needs ``opportunity_states.edit``.

Opportunities name their type in their ``opportunity_type`` field, and sub-state actions name it
too: a type is renamed only while no opportunity names it, and its actions follow the new name.
A sub-state that has actions cannot be removed from its type (delete the actions first);
deleting a whole type deletes its actions (their runs in flight finish).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stageflow.adapters.db.filter_sql import compile_filter
from stageflow.adapters.db.repositories.opportunity_types import to_type
from stageflow.domain.errors import Conflict, NotFound, StaleVersion, ValidationFailed
from stageflow.domain.events import Actor
from stageflow.domain.filters import parse_filter
from stageflow.domain.opportunity_types import OpportunityType, Substate, make_type
from stageflow.domain.records import ObjectType
from stageflow.domain.references import RefKind, substate_key
from stageflow.domain.users import Permission, Principal
from stageflow.services.crm import signals
from stageflow.services.crm.records import field_definitions
from stageflow.services.unit_of_work import UnitOfWork


class SubstateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="e.g. Pending documentation")
    state: str | None = Field(None, description="The state it belongs to; none: the type's")


class NewOpportunityType(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="What opportunities name")
    states: list[str] = Field(default_factory=list, description="In order")
    substates: list[SubstateIn] = Field(default_factory=list)


class OpportunityTypePatch(BaseModel):
    """Only what is given changes; lists are replaced whole. ``version``: the one you read."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100)
    states: list[str] | None = None
    substates: list[SubstateIn] | None = None
    version: int | None = None


def list_types(uow: UnitOfWork, principal: Principal) -> list[dict[str, Any]]:
    return [view(row) for row in uow.opportunity_types.list(principal.workspace_id)]


def get_type(uow: UnitOfWork, principal: Principal, type_id: int) -> dict[str, Any]:
    return view(type_row(uow, principal, type_id))


def create_type(uow: UnitOfWork, principal: Principal, cmd: NewOpportunityType) -> int:
    principal.require(Permission.OPPORTUNITY_STATES_EDIT)
    kind = make_type(cmd.name, cmd.states, [Substate(s.name, s.state) for s in cmd.substates])
    ws = principal.workspace_id
    if uow.opportunity_types.by_name(ws, kind.name) is not None:
        raise Conflict(f"another opportunity type is named '{kind.name}'", field="name")
    return uow.opportunity_types.add(ws, now=uow.clock.now(), **_columns(kind))


def update_type(
    uow: UnitOfWork, principal: Principal, type_id: int, cmd: OpportunityTypePatch, actor: Actor
) -> None:
    principal.require(Permission.OPPORTUNITY_STATES_EDIT)
    ws = principal.workspace_id
    row = type_row(uow, principal, type_id)
    if cmd.version is not None and cmd.version != row.version:
        raise StaleVersion(
            f"opportunity type {type_id} is at version {row.version}, not {cmd.version}",
            field="version",
        )
    old = to_type(row)
    kind = make_type(
        cmd.name if cmd.name is not None else old.name,
        cmd.states if cmd.states is not None else old.states,
        [Substate(s.name, s.state) for s in cmd.substates]
        if cmd.substates is not None
        else old.substates,
    )
    _check_removals(uow, ws, old, kind)
    for name in old.substate_names:
        if not kind.has_substate(name):
            label = f"sub-state '{name}' of opportunity type '{old.name}'"
            signals.check_unreferenced(
                uow, ws, RefKind.SUBSTATE, substate_key(old.name, name), label
            )
    if kind.name != old.name:
        if uow.opportunity_types.by_name(ws, kind.name) is not None:
            raise Conflict(f"another opportunity type is named '{kind.name}'", field="name")
        if _named_by_opportunities(uow, ws, old.name):
            raise Conflict(
                f"opportunities are of type '{old.name}' (their opportunity_type field): "
                "renaming it would leave them without a type",
                field="name",
            )
    uow.opportunity_types.update(
        type_id, row.version, {**_columns(kind), "updated_at": uow.clock.now()}
    )
    if kind.name != old.name:
        signals.opportunity_type_renamed.send(uow, ws, old.name, kind, actor)
        # Its sub-state actions followed the new name; anything else naming the old one stops it.
        label = f"opportunity type '{old.name}' (automations name it)"
        signals.check_unreferenced(uow, ws, RefKind.OPPORTUNITY_TYPE, old.name, label)


def delete_type(uow: UnitOfWork, principal: Principal, type_id: int) -> None:
    """Delete a type and its sub-state actions (runs they started finish)."""
    principal.require(Permission.OPPORTUNITY_STATES_EDIT)
    row = type_row(uow, principal, type_id)
    signals.opportunity_type_deleting.send(uow, principal.workspace_id, row.name)
    label = f"opportunity type '{row.name}'"
    signals.check_unreferenced(
        uow, principal.workspace_id, RefKind.OPPORTUNITY_TYPE, row.name, label
    )
    uow.opportunity_types.delete(row.id)


# helpers --------------------------------------------------------------------------------


def type_row(uow: UnitOfWork, principal: Principal, type_id: int) -> Any:
    row = uow.opportunity_types.get(principal.workspace_id, type_id)
    if row is None:
        raise NotFound(f"opportunity type {type_id} not found")
    return row


def view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "states": list(row.states),
        "substates": [{"name": s["name"], "state": s.get("state")} for s in row.substates],
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _check_removals(
    uow: UnitOfWork, workspace_id: int, old: OpportunityType, kind: OpportunityType
) -> None:
    """A sub-state that has actions, or that an action opens or closes, stays."""
    actions = uow.rules.of_substate(workspace_id, old.name)
    for name in old.substate_names:
        if kind.has_substate(name):
            continue
        own = [a for a in actions if a.substate == name]
        if own:
            raise ValidationFailed(
                f"sub-state '{name}' has {len(own)} automatic action(s): delete them before "
                "removing it from the type",
                field="substates",
            )
        user = next((a for a in actions if _uses(a, name)), None)
        if user is not None:
            raise ValidationFailed(
                f"action '{user.name}' of sub-state '{user.substate}' uses sub-state '{name}': "
                "change or delete it before removing that sub-state",
                field="substates",
            )


def _uses(action: Any, substate: str) -> bool:
    """Does this action open or close the sub-state?"""
    spec = action.spec
    return bool(
        spec.get("action") in ("open_substate", "close_substate")
        and spec.get("settings", {}).get("substate") == substate
    )


def _columns(kind: OpportunityType) -> dict[str, Any]:
    return {
        "name": kind.name,
        "states": list(kind.states),
        "substates": [{"name": s.name, "state": s.state} for s in kind.substates],
    }


def _named_by_opportunities(uow: UnitOfWork, workspace_id: int, name: str) -> bool:
    where = compile_filter(
        parse_filter({"field": "opportunity_type", "op": "eq", "value": name}),
        field_definitions(uow, workspace_id, ObjectType.OPPORTUNITY),
    )
    found = uow.records.list(
        workspace_id, ObjectType.OPPORTUNITY, where=[where], before_id=None, limit=1
    )
    return bool(found)
