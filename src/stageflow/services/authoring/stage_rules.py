"""Stage rules (SPEC B1-B6): rules that belong to a stage of a pipeline and run when a record
enters it, each immediately, after a delay, at a time relative to a date field, or after the
previous rule of the stage; each may carry conditions.

Every change is compiled onto the engine at once (DESIGN "Automations"): the rules that run one
after another form one automation of kind ``stage_rule``, owned by the first of them, and is
published as a new version when it changed, so runs in flight finish as they started (X5).
Leaving the stage cancels the stage's pending rules unless a rule keeps running on exit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stageflow.automation import rules as compiler
from stageflow.automation.rules import Rule, RuleSpec, Timing
from stageflow.domain.errors import NotFound, StaleVersion, ValidationFailed, first_problem
from stageflow.domain.events import Actor
from stageflow.domain.pipelines import Pipeline, Stage
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Permission, Principal
from stageflow.services.authoring.automation_checks import check_definition
from stageflow.services.authoring.automations import archive_compiled, put_rule_automations
from stageflow.services.crm.pipelines import get_pipeline
from stageflow.services.unit_of_work import UnitOfWork

KIND = "stage_rule"
MAX_RULES = 100  # per stage


class NewRule(RuleSpec):
    name: str = Field(min_length=1, max_length=200)
    group: str = Field(
        "General", min_length=1, max_length=50, description="Purpose, e.g. Repeat sales"
    )
    position: int | None = Field(None, ge=1, description="Place among the stage's rules")


class RulePatch(BaseModel):
    """Only what is given changes; ``version`` is the one you read (stale is 409)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    group: str | None = Field(None, min_length=1, max_length=50)
    position: int | None = Field(None, ge=1)
    timing: Timing | None = None
    after_previous: bool | None = None
    conditions: dict[str, Any] | None = None
    action: str | None = None
    settings: dict[str, Any] | None = None
    channels: list[str] | None = None
    comment: str | None = Field(None, max_length=2000)
    enabled: bool | None = None
    keep_on_exit: bool | None = None
    version: int | None = None


SPEC_KEYS = tuple(RuleSpec.model_fields)


def list_rules(
    uow: UnitOfWork, principal: Principal, pipeline_id: int, stage_id: int
) -> list[dict[str, Any]]:
    """The stage's rules in the order they run, each with the automation it runs in."""
    _place(uow, principal, pipeline_id, stage_id)
    return _views(uow.rules.of_stage(principal.workspace_id, stage_id))


def get_rule(
    uow: UnitOfWork, principal: Principal, pipeline_id: int, stage_id: int, rule_id: int
) -> dict[str, Any]:
    _place(uow, principal, pipeline_id, stage_id)
    _row(uow, principal, stage_id, rule_id)
    views = _views(uow.rules.of_stage(principal.workspace_id, stage_id))
    return next(v for v in views if v["id"] == rule_id)


def create_rule(
    uow: UnitOfWork,
    principal: Principal,
    pipeline_id: int,
    stage_id: int,
    cmd: NewRule,
    actor: Actor,
) -> int:
    pipeline, stage = _place(uow, principal, pipeline_id, stage_id, editing=True)
    ws = principal.workspace_id
    rows = uow.rules.of_stage(ws, stage_id)
    if len(rows) >= MAX_RULES:
        raise ValidationFailed(f"a stage has at most {MAX_RULES} rules", field="stage_id")
    spec = RuleSpec.model_validate(cmd.model_dump(include=set(SPEC_KEYS)))
    _check(uow, ws, pipeline, stage, cmd.name, spec)
    rule_id = uow.rules.add(
        ws,
        now=uow.clock.now(),
        kind=KIND,
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        group=cmd.group,
        position=len(rows) + 1,
        name=cmd.name,
        spec=spec.model_dump(mode="json"),
    )
    if cmd.position is not None:
        uow.rules.renumber([r.id for r in rows], insert=(rule_id, cmd.position))
    _compile(uow, ws, pipeline, stage, actor)
    return rule_id


def check_new_rule(
    uow: UnitOfWork, principal: Principal, pipeline_id: int, stage_id: int, cmd: NewRule
) -> None:
    """Check a rule as create_rule would, writing nothing."""
    pipeline, stage = _place(uow, principal, pipeline_id, stage_id, editing=True)
    spec = RuleSpec.model_validate(cmd.model_dump(include=set(SPEC_KEYS)))
    _check(uow, principal.workspace_id, pipeline, stage, cmd.name, spec)


def update_rule(
    uow: UnitOfWork,
    principal: Principal,
    pipeline_id: int,
    stage_id: int,
    rule_id: int,
    cmd: RulePatch,
    actor: Actor,
) -> None:
    pipeline, stage = _place(uow, principal, pipeline_id, stage_id, editing=True)
    ws = principal.workspace_id
    row = _row(uow, principal, stage_id, rule_id)
    if cmd.version is not None and cmd.version != row.version:
        raise StaleVersion(
            f"rule {rule_id} is at version {row.version}, not {cmd.version}", field="version"
        )
    given = cmd.model_dump(exclude_unset=True)
    try:
        spec = RuleSpec.model_validate(
            {**row.spec, **{k: v for k, v in given.items() if k in SPEC_KEYS}}
        )
    except ValidationError as exc:
        raise first_problem(exc, named=False) from None
    name = cmd.name if cmd.name is not None else row.name
    _check(uow, ws, pipeline, stage, name, spec)
    values: dict[str, Any] = {"spec": spec.model_dump(mode="json"), "name": name}
    if cmd.group is not None:
        values["group"] = cmd.group
    uow.rules.update(rule_id, row.version, {**values, "updated_at": uow.clock.now()})
    if cmd.position is not None:
        others = [r.id for r in uow.rules.of_stage(ws, stage_id) if r.id != rule_id]
        uow.rules.renumber(others, insert=(rule_id, cmd.position))
    _compile(uow, ws, pipeline, stage, actor)


def delete_rule(
    uow: UnitOfWork,
    principal: Principal,
    pipeline_id: int,
    stage_id: int,
    rule_id: int,
    actor: Actor,
) -> None:
    """Delete a rule. Runs it already started finish; nothing new starts."""
    pipeline, stage = _place(uow, principal, pipeline_id, stage_id, editing=True)
    row = _row(uow, principal, stage_id, rule_id)
    uow.rules.delete(rule_id)
    if row.automation_id is not None:
        archive_compiled(uow, principal.workspace_id, [row.automation_id])
    rest = [r.id for r in uow.rules.of_stage(principal.workspace_id, stage_id)]
    uow.rules.renumber(rest)
    _compile(uow, principal.workspace_id, pipeline, stage, actor)


# helpers --------------------------------------------------------------------------------


def _place(
    uow: UnitOfWork,
    principal: Principal,
    pipeline_id: int,
    stage_id: int,
    *,
    editing: bool = False,
) -> tuple[Pipeline, Stage]:
    if editing:
        principal.require(Permission.AUTOMATIONS_EDIT)
        # Changes to rules take turns (PostgreSQL): each compiles the stage's rules as a whole.
        uow.workspaces.get(principal.workspace_id, for_update=True)
    pipeline = get_pipeline(uow, principal, pipeline_id)
    if editing and pipeline.object_type is ObjectType.LEAD:
        principal.require(Permission.LEAD_AUTOMATION_EDIT)  # H9
    stage = pipeline.stage(stage_id)
    if stage is None:
        raise NotFound(f"stage {stage_id} not found in pipeline {pipeline_id}")
    return pipeline, stage


def _row(uow: UnitOfWork, principal: Principal, stage_id: int, rule_id: int) -> Any:
    row = uow.rules.get(principal.workspace_id, rule_id)
    if row is None or row.stage_id != stage_id:
        raise NotFound(f"rule {rule_id} not found in stage {stage_id}")
    return row


def _trigger(pipeline: Pipeline, stage: Stage) -> dict[str, Any]:
    return {
        "type": "stage_entered",
        "object_type": pipeline.object_type.value,
        "pipeline_id": pipeline.id,
        "stage_id": stage.id,
    }


def _check(
    uow: UnitOfWork, workspace_id: int, pipeline: Pipeline, stage: Stage, name: str, spec: RuleSpec
) -> None:
    check_rule(uow, workspace_id, _trigger(pipeline, stage), name, spec)


def check_rule(
    uow: UnitOfWork,
    workspace_id: int,
    trigger: dict[str, Any],
    name: str,
    spec: RuleSpec,
    field_name: Callable[[str | None], str | None] = compiler.rule_field,
) -> None:
    """Check a rule as a workflow of its own; errors speak of the rule's settings (as
    ``field_name`` calls them)."""
    raw = {"trigger": trigger, "steps": compiler.rule_steps(compiler.CHECK_PREFIX, name, spec)}
    try:
        check_definition(uow, workspace_id, raw)
    except ValidationFailed as exc:
        field = field_name(exc.field)
        message = (
            exc.message.split(": ", 1)[-1] if exc.message.startswith("step '") else exc.message
        )
        raise ValidationFailed(f"{field}: {message}" if field else message, field=field) from None


def _compile(
    uow: UnitOfWork, workspace_id: int, pipeline: Pipeline, stage: Stage, actor: Actor
) -> None:
    """Bring the stage's automations in line with its rules."""
    rows = uow.rules.of_stage(workspace_id, stage.id or 0)
    by_id = {row.id: row for row in rows}
    owned = []
    for chain in compiler.chains([_rule(row) for row in rows]):
        head = chain[0]
        for follower in chain[1:]:
            if follower.spec.keep_on_exit != head.spec.keep_on_exit:
                raise ValidationFailed(
                    f"rule '{follower.name}' runs after rule '{head.name}', so it is cancelled "
                    "or kept with it when the record leaves the stage: give both the same "
                    "keep_on_exit",
                    field="keep_on_exit",
                )
        raw = compiler.definition(
            _trigger(pipeline, stage), chain, stage_bound=not head.spec.keep_on_exit
        )
        owned.append((by_id[head.id], f"{stage.name} ({pipeline.name}): {head.name}", raw))
    put_rule_automations(uow, workspace_id, rows, owned, kind=KIND, actor=actor)


def _rule(row: Any) -> Rule:
    return Rule(id=row.id, name=row.name, spec=RuleSpec.model_validate(row.spec))


def _views(rows: list[Any]) -> list[dict[str, Any]]:
    """Rules as the API shows them, each with the automation it runs in (its own, or that of
    the rule it runs after) or None when it is switched off."""
    runs_in: dict[int, int | None] = {}
    by_id = {row.id: row for row in rows}
    for chain in compiler.chains([_rule(row) for row in rows]):
        for rule in chain:
            runs_in[rule.id] = by_id[chain[0].id].automation_id
    return [
        {
            "id": row.id,
            "pipeline_id": row.pipeline_id,
            "stage_id": row.stage_id,
            "group": row.group,
            "position": row.position,
            "name": row.name,
            **row.spec,
            "automation_id": runs_in.get(row.id),
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
        for row in rows
    ]
