"""Sub-state automatic actions as users configure them (SPEC E2-E7) and what they compile to:
the ``on_open`` actions of a sub-state act in order when it opens, the ``on_close`` ones when
it closes, each ``scheduled`` one ``after`` a set time from the opening. A sub-state action is
stored as a rule (automation/rules.py): its ``after`` is the rule's timing."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stageflow.automation import rules as compiler
from stageflow.automation.rules import RuleSpec, Timing
from stageflow.domain.errors import ValidationFailed, first_problem

GROUPS = ("on_open", "on_close", "scheduled")
Group = Literal["on_open", "on_close", "scheduled"]
GROUP_TITLES = {"on_open": "on opening", "on_close": "on closing", "scheduled": "scheduled"}


class ActionFields(BaseModel):
    """What an action does: an action type of GET /actions with its settings."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(description="An action type of GET /actions, e.g. send_email")
    settings: dict[str, Any] = Field(default_factory=dict)
    channels: list[str] | None = Field(
        None, description="Act only for opportunities from these channels; empty: all"
    )
    conditions: dict[str, Any] | None = Field(
        None, description="Filter language; checked when the action is about to act"
    )
    comment: str = Field("", max_length=2000)
    enabled: bool = True


class NewSubstateAction(ActionFields):
    name: str = Field(min_length=1, max_length=200)
    group: Group = Field(description="on_open, on_close or scheduled")
    after: str | None = Field(
        None, description="Scheduled actions: ISO 8601 duration from the opening, e.g. P4D"
    )
    position: int | None = Field(None, ge=1, description="Place among the group's actions")


class SubstateActionPatch(BaseModel):
    """Only what is given changes; ``version`` is the one you read (stale is 409)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    group: Group | None = None
    after: str | None = None
    position: int | None = Field(None, ge=1)
    action: str | None = None
    settings: dict[str, Any] | None = None
    channels: list[str] | None = None
    conditions: dict[str, Any] | None = None
    comment: str | None = Field(None, max_length=2000)
    enabled: bool | None = None
    version: int | None = None


class CopyTo(BaseModel):
    """The same action for another type (or another sub-state)."""

    model_config = ConfigDict(extra="forbid")
    opportunity_type_id: int
    substate: str | None = Field(None, description="Default: the sub-state of the same name")


SPEC_KEYS = tuple(ActionFields.model_fields)


def spec_of(group: str, after: str | None, fields: dict[str, Any]) -> RuleSpec:
    if group == "scheduled" and after is None:
        raise ValidationFailed(
            "a scheduled action needs after: how long after the opening it acts (e.g. P4D)",
            field="after",
        )
    if group != "scheduled" and after is not None:
        raise ValidationFailed(
            f"after is for scheduled actions; {group} actions act at once", field="after"
        )
    try:
        return RuleSpec.model_validate({**fields, "timing": Timing(after=after)})
    except ValidationError as exc:
        raise first_problem(exc, named=False) from None


def trigger(type_name: str, substate: str, group: str) -> dict[str, Any]:
    return {
        "type": "substate_closed" if group == "on_close" else "substate_opened",
        "opportunity_type": type_name,
        "substate": substate,
    }


def field_name(field: str | None) -> str | None:
    """An error's field in the action's terms: its timing is its ``after``."""
    name = compiler.rule_field(field)
    return "after" if name is not None and name.startswith("timing") else name


def compiled(rows: list[Any]) -> list[tuple[str, list[Any]]]:
    """The automations the actions compile to: (group, enabled actions in order)."""
    found: list[tuple[str, list[Any]]] = []
    for group in ("on_open", "on_close"):
        chain = [r for r in rows if r.group == group and r.spec.get("enabled", True)]
        if chain:
            found.append((group, chain))
    found += [
        ("scheduled", [r]) for r in rows if r.group == "scheduled" and r.spec.get("enabled", True)
    ]
    return found


def definition(type_name: str, substate: str, group: str, chain: list[Any]) -> dict[str, Any]:
    """The workflow a group's actions compile to; step ids name the actions (``action-12``)."""
    steps = [
        step
        for row in chain
        for step in compiler.rule_steps(
            f"action-{row.id}", row.name, RuleSpec.model_validate(row.spec)
        )
    ]
    return {"trigger": trigger(type_name, substate, group), "steps": steps}
