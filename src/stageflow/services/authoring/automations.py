"""Command handlers for automations: save drafts (validated), publish immutable versions,
pause and resume (DESIGN "Automations, versions and runs"; X5, X6)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stageflow.adapters.db import tables as t
from stageflow.automation.definitions import Definition
from stageflow.automation.graph import compile_graph
from stageflow.domain.errors import Conflict, NotFound, StaleVersion, ValidationFailed
from stageflow.domain.events import Actor
from stageflow.domain.text import a_or_an
from stageflow.domain.users import Permission, Principal
from stageflow.services.authoring.automation_checks import check_definition
from stageflow.services.engine import timers
from stageflow.services.pagination import Page, check_limit, decode_cursor, page_of
from stageflow.services.unit_of_work import UnitOfWork

KINDS = ("workflow", "stage_rule", "lead_automation", "substate_action")
STATUSES = ("draft", "active", "paused", "archived")
# Kinds compiled from rules: their definition is changed through the rules, not here.
COMPILED = frozenset({"stage_rule", "substate_action", "lead_automation"})


class CreateAutomation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    kind: str = Field("workflow", pattern="^(" + "|".join(KINDS) + ")$")
    definition: dict[str, Any]
    publish: bool = Field(False, description="Publish the first version at once")


class UpdateAutomation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    definition: dict[str, Any] | None = None
    version: int | None = Field(None, description="The version you read; stale is 409")


def create_automation(
    uow: UnitOfWork, principal: Principal, cmd: CreateAutomation, actor: Actor
) -> int:
    principal.require(Permission.AUTOMATIONS_EDIT)
    if cmd.kind in COMPILED:
        raise ValidationFailed(
            f"{a_or_an(cmd.kind)} automation is made by adding rules "
            "(POST /pipelines/{id}/stages/{id}/rules or the sub-state's actions)",
            field="kind",
        )
    definition = check_definition(uow, principal.workspace_id, cmd.definition)
    automation_id = uow.automations.add(
        principal.workspace_id,
        name=cmd.name,
        description=cmd.description,
        kind=cmd.kind,
        draft=dump_definition(definition),
        now=uow.clock.now(),
    )
    if cmd.publish:
        publish(uow, principal, automation_id, actor)
    return automation_id


def get_automation(uow: UnitOfWork, principal: Principal, automation_id: int) -> Any:
    row = uow.automations.get(principal.workspace_id, automation_id)
    if row is None:
        raise NotFound(f"automation {automation_id} not found")
    return row


def update_automation(
    uow: UnitOfWork, principal: Principal, automation_id: int, cmd: UpdateAutomation, actor: Actor
) -> None:
    """Edit the draft. Published versions never change; publish again to use the draft."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    row = get_automation(uow, principal, automation_id)
    if row.kind in COMPILED and (cmd.definition is not None or cmd.name is not None):
        raise Conflict(_compiled_message(row))
    if cmd.version is not None and cmd.version != row.version:
        raise StaleVersion(
            f"automation {automation_id} is at version {row.version}, not {cmd.version}",
            field="version",
        )
    values: dict[str, Any] = {}
    if cmd.name is not None:
        values["name"] = cmd.name
    if cmd.description is not None:
        values["description"] = cmd.description
    if cmd.definition is not None:
        values["draft"] = dump_definition(
            check_definition(uow, principal.workspace_id, cmd.definition)
        )
    if values:
        uow.automations.update(
            automation_id, row.version, {**values, "updated_at": uow.clock.now()}
        )


def publish(uow: UnitOfWork, principal: Principal, automation_id: int, actor: Actor) -> int:
    """Freeze the draft as a new version and make it the active one (X5: in-flight runs keep
    the version they started on)."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    row = get_automation(uow, principal, automation_id)
    if row.status == "archived":
        raise Conflict("an archived automation cannot be published")
    if row.kind in COMPILED:
        raise Conflict(_compiled_message(row))
    definition = check_definition(uow, principal.workspace_id, row.draft)
    return _publish_checked(uow, principal.workspace_id, row, definition, actor)


def _publish_checked(
    uow: UnitOfWork, workspace_id: int, row: Any, definition: Definition, actor: Actor
) -> int:
    number = len(uow.automations.versions(row.id)) + 1
    version_id = uow.automations.add_version(
        workspace_id,
        row.id,
        number=number,
        definition=dump_definition(definition),
        trigger_type=definition.trigger.type,
        now=uow.clock.now(),
        by=actor.user_id,
    )
    uow.automations.update(
        row.id,
        row.version,
        {"active_version_id": version_id, "status": "active", "updated_at": uow.clock.now()},
    )
    uow.automations.bump_revision(workspace_id)
    _arm_time_triggers(uow, workspace_id, row.id, version_id, definition)
    return version_id


def _compiled_message(row: Any) -> str:
    where = {
        "stage_rule": "the stage's rules",
        "substate_action": "the sub-state's actions",
        "lead_automation": "the lead automation settings (PATCH /lead-automation)",
    }
    return (
        f"automation {row.id} is compiled from {where[row.kind]}; change them instead "
        "(GET /automations/{id} shows where they are)"
    )


def _arm_time_triggers(
    uow: UnitOfWork, workspace_id: int, automation_id: int, version_id: int, definition: Definition
) -> None:
    """Schedules get their next tick; date triggers arm the records whose date is ahead."""
    timers.sync_schedule(uow, workspace_id, automation_id)
    if definition.trigger.type == "date_reached":
        first = compile_graph(definition).first
        timers.backfill_dates(uow, workspace_id, automation_id, version_id, definition, first)


def set_status(uow: UnitOfWork, principal: Principal, automation_id: int, status: str) -> None:
    """Pause, resume or archive. Paused automations enroll nobody; waiting runs continue."""
    principal.require(Permission.AUTOMATIONS_EDIT)
    if status not in ("active", "paused", "archived"):
        raise ValidationFailed(f"unknown status '{status}'", field="status")
    row = get_automation(uow, principal, automation_id)
    if row.kind in COMPILED:
        raise Conflict(_compiled_message(row))
    if status == "active" and row.active_version_id is None:
        raise Conflict("publish the automation first")
    if row.status != status:
        uow.automations.update(
            automation_id, row.version, {"status": status, "updated_at": uow.clock.now()}
        )
        uow.automations.bump_revision(principal.workspace_id)
        timers.sync_schedule(uow, principal.workspace_id, automation_id)


def list_automations(
    uow: UnitOfWork,
    principal: Principal,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
    kind: str | None = None,
) -> Page[Any]:
    check_limit(limit)
    if kind is not None and kind not in KINDS:
        raise ValidationFailed(f"unknown kind '{kind}' (known: {', '.join(KINDS)})", field="kind")
    where = [t.automations.c.status == status] if status else []
    if kind is not None:
        where.append(t.automations.c.kind == kind)
    rows = uow.automations.list(
        principal.workspace_id, where=where, before_id=decode_cursor(cursor), limit=limit + 1
    )
    return page_of(rows, limit)


def dump_definition(definition: Definition) -> dict[str, Any]:
    return definition.model_dump(mode="json", by_alias=True, exclude_none=False)


# Automations compiled from rules (stage rules, sub-state actions, lead automation) --------


def put_compiled(
    uow: UnitOfWork,
    workspace_id: int,
    automation_id: int | None,
    *,
    name: str,
    kind: str,
    raw: dict[str, Any],
    actor: Actor,
) -> int:
    """Create or change the automation a rule service compiled, and publish it when its
    definition changed (runs in flight keep their version, X5). The caller checked the
    permission and the rules."""
    definition = check_definition(uow, workspace_id, raw)
    draft = dump_definition(definition)
    row = uow.automations.get(workspace_id, automation_id) if automation_id else None
    now = uow.clock.now()
    if row is None:
        automation_id = uow.automations.add(
            workspace_id, name=name, description="", kind=kind, draft=draft, now=now
        )
        row = uow.automations.get(workspace_id, automation_id)
        assert row is not None
    elif row.draft != draft or row.name != name:
        uow.automations.update(
            row.id, row.version, {"draft": draft, "name": name, "updated_at": now}
        )
        row = uow.automations.get(workspace_id, row.id)
        assert row is not None
    active = uow.automations.version(row.active_version_id) if row.active_version_id else None
    if active is None or active.definition != draft or row.status != "active":
        _publish_checked(uow, workspace_id, row, definition, actor)
    return int(row.id)


def archive_compiled(
    uow: UnitOfWork, workspace_id: int, automation_ids: list[int], *, status: str = "archived"
) -> None:
    """Stop automations whose rules are gone (or, ``paused``, switched off): nobody enrolls;
    runs in flight finish."""
    for automation_id in automation_ids:
        row = uow.automations.get(workspace_id, automation_id)
        if row is not None and row.status not in (status, "archived"):
            uow.automations.update(
                row.id, row.version, {"status": status, "updated_at": uow.clock.now()}
            )
            uow.automations.bump_revision(workspace_id)
            timers.sync_schedule(uow, workspace_id, automation_id)


def put_rule_automations(
    uow: UnitOfWork,
    workspace_id: int,
    rows: list[Any],
    owned: list[tuple[Any, str, dict[str, Any]]],
    *,
    kind: str,
    actor: Actor,
) -> None:
    """Bring the automations of a place's rules (``rows``) in line: each (first rule, name,
    definition) of ``owned`` gets its automation created or published again; those no rule
    owns any more are archived."""
    owners: set[int] = set()
    for head, name, raw in owned:
        automation_id = put_compiled(
            uow, workspace_id, head.automation_id, name=name[:200], kind=kind, raw=raw, actor=actor
        )
        if automation_id != head.automation_id:
            uow.rules.set_automation(head.id, automation_id)
        owners.add(head.id)
    archive_compiled(
        uow,
        workspace_id,
        [r.automation_id for r in rows if r.id not in owners and r.automation_id is not None],
    )
