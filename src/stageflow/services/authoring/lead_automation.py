"""Lead pipeline automation (SPEC H1-H9), as HubSpot users know it.

Four built-in automations live in every workspace, each compiled onto the engine as an
automation of kind ``lead_automation``:

- ``attempting``: move a lead to Attempting when a user reaches out (an email or LinkedIn
  message sent, a call logged, a meeting scheduled); on by default (H2, H4).
- ``connected``: move it to Connected when the lead connects (an email reply, a meeting whose
  outcome became Completed, a call logged as Connected); on by default (H3, H4).
- ``create_lead``: create a lead for a contact that enters chosen lifecycle stages, except when
  a company's stage was synced to its contacts (H6); off by default.
- ``follow_up_lead``: create a follow-up lead of a chosen type when a lead is disqualified for
  one of the chosen reasons (H7); off by default.

The moves act only in the default lead pipeline, only forward, and never on a lead a user moved
back by hand (H5: its ``stage_locked_at`` is set). Per-stage custom actions (H8) are a workflow
per lead stage, edited action by action in ``lead_stage_actions`` and open in the workflow API.
Changing any of this needs ``lead_automation.edit`` (owner and admin, H9).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stageflow.automation.triggers import Moment
from stageflow.domain.activities import CONNECTED_MOMENTS, OUTREACH_MOMENTS
from stageflow.domain.errors import (
    Conflict,
    NotFound,
    StageflowError,
    ValidationFailed,
    first_problem,
)
from stageflow.domain.events import Actor, ActorKind, EventType, Source
from stageflow.domain.pipelines import OPEN, Pipeline, Stage
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Permission, Principal
from stageflow.services.authoring.automations import archive_compiled, put_compiled
from stageflow.services.unit_of_work import UnitOfWork

log = logging.getLogger("stageflow.lead_automation")
SETTING = "lead_automation"
KIND = "lead_automation"


class StageMove(BaseModel):
    """Move leads from some stages to a later one when certain activities happen."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    from_stage_ids: list[int] = Field(min_length=1, description="Stages it moves leads out of")
    to_stage_id: int = Field(description="The stage it moves them to; after every from stage")
    moments: list[Moment] = Field(min_length=1, description="Which activities count")


class CreateLead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    lifecycle_stage_ids: list[int] = Field(
        default_factory=list, description="A contact entering one of these gets a lead"
    )
    lead_type: str | None = Field(None, description="The new lead's type (lead_type picklist)")


class FollowUpLead(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    lead_type: str = Field("follow_up", description="The follow-up lead's type")
    reasons: list[str] = Field(
        default_factory=list, description="Disqualification reasons that call for a follow-up"
    )


class LeadAutomation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempting: StageMove
    connected: StageMove
    create_lead: CreateLead = Field(default_factory=CreateLead)
    follow_up_lead: FollowUpLead = Field(default_factory=FollowUpLead)


BUILT_IN = ("attempting", "connected", "create_lead", "follow_up_lead")
NAMES = {
    "attempting": "Lead automation: move to Attempting on outreach",
    "connected": "Lead automation: move to Connected when the lead connects",
    "create_lead": "Lead automation: create a lead when a contact enters a lifecycle stage",
    "follow_up_lead": "Lead automation: create a follow-up lead after disqualification",
}


# the built-in automations ---------------------------------------------------------------


def install(uow: UnitOfWork, workspace_id: int, actor: Actor) -> None:
    """Give a workspace its lead automation: both moves on, the lead creators off. The moves
    go New → Attempting → Connected, or, where those stages were renamed, between the
    pipeline's first three open stages."""
    pipeline = lead_pipeline(uow, workspace_id)
    by_name = {s.name: s for s in pipeline.stages}
    found = [by_name.get(name) for name in ("New", "Attempting", "Connected")]
    if None in found:
        found = [s for s in sorted(pipeline.stages, key=lambda s: s.position) if s.kind is OPEN]
    if len(found) < 3:
        raise Conflict("the default lead pipeline needs three open stages for lead automation")
    new, attempting, connected = (s.id for s in found[:3] if s is not None)
    assert new is not None and attempting is not None and connected is not None
    defaults = LeadAutomation(
        attempting=StageMove(
            from_stage_ids=[new], to_stage_id=attempting, moments=[*OUTREACH_MOMENTS]
        ),
        connected=StageMove(
            from_stage_ids=[new, attempting],
            to_stage_id=connected,
            moments=[*CONNECTED_MOMENTS],
        ),
    )
    _apply(uow, workspace_id, defaults, {}, actor)


def install_missing(uow: UnitOfWork) -> int:
    """Install lead automation in workspaces made before it existed; returns how many. A
    workspace where it cannot be installed is left as it is (and logged), not the others."""
    actor = Actor(kind=ActorKind.SYSTEM, source=Source.SYSTEM)
    installed = 0
    for workspace in uow.workspaces.list():
        if SETTING in workspace.settings or workspace.id is None:
            continue
        try:
            with uow.savepoint():
                locked = uow.workspaces.get(workspace.id, for_update=True)
                if locked is None or SETTING in locked.settings:
                    continue  # another process (a second worker) installed it meanwhile
                install(uow, workspace.id, actor)
            installed += 1
        except StageflowError as exc:
            log.warning("lead automation not installed in workspace %s: %s", workspace.id, exc)
    return installed


def view(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    """The settings, the automation each runs as, and the stages with custom actions."""
    stored = stored_settings(uow, principal.workspace_id)
    return {
        **{key: stored[key] for key in BUILT_IN},
        "automation_ids": stored.get("automations", {}),
        "pipeline_id": lead_pipeline(uow, principal.workspace_id).id,
        "stages": {
            int(stage_id): automation_id
            for stage_id, automation_id in stored.get("stages", {}).items()
        },
    }


def update(uow: UnitOfWork, principal: Principal, changes: dict[str, Any], actor: Actor) -> None:
    """Change some settings: each section given is merged into the stored one."""
    principal.require(Permission.LEAD_AUTOMATION_EDIT)
    stored = stored_settings(uow, principal.workspace_id, for_update=True)
    settings = check_changes(uow, principal, changes, stored)
    _apply(uow, principal.workspace_id, settings, stored, actor)
    uow.emit_config(
        principal.workspace_id, actor, EventType.LEAD_AUTOMATION_SAVED, changed=sorted(changes)
    )


def check_changes(
    uow: UnitOfWork,
    principal: Principal,
    changes: Any,
    stored: dict[str, Any] | None = None,
) -> LeadAutomation:
    """The settings ``changes`` would make, checked, writing nothing."""
    principal.require(Permission.LEAD_AUTOMATION_EDIT)
    if not isinstance(changes, dict):
        raise ValidationFailed("lead automation settings are a mapping of sections")
    stored = stored if stored is not None else stored_settings(uow, principal.workspace_id)
    unknown = set(changes) - set(BUILT_IN)
    if unknown:
        raise ValidationFailed(
            f"unknown lead automation '{sorted(unknown)[0]}' (known: {', '.join(BUILT_IN)})",
            field=sorted(unknown)[0],
        )
    for key, value in changes.items():
        if not isinstance(value, dict):
            raise ValidationFailed(f"'{key}' takes an object of settings", field=key)
    merged = {key: {**stored[key], **changes.get(key, {})} for key in BUILT_IN}
    try:
        settings = LeadAutomation.model_validate(merged)
    except ValidationError as exc:
        raise first_problem(exc, with_input=True) from None
    pipeline = lead_pipeline(uow, principal.workspace_id)
    _check(uow, principal.workspace_id, pipeline, settings, changing=set(changes))
    return settings


def _apply(
    uow: UnitOfWork,
    workspace_id: int,
    settings: LeadAutomation,
    stored: dict[str, Any],
    actor: Actor,
) -> None:
    pipeline = lead_pipeline(uow, workspace_id)
    _check(uow, workspace_id, pipeline, settings)
    automations = dict(stored.get("automations", {}))
    for key in BUILT_IN:
        section = getattr(settings, key)
        if section.enabled:
            automations[key] = put_compiled(
                uow,
                workspace_id,
                automations.get(key),
                name=NAMES[key],
                kind=KIND,
                raw=_definition(key, section, pipeline),
                actor=actor,
            )
        elif key in automations:
            archive_compiled(uow, workspace_id, [automations[key]], status="paused")
    store_settings(
        uow,
        workspace_id,
        {**stored, **settings.model_dump(mode="json"), "automations": automations},
    )


def _definition(key: str, section: Any, pipeline: Pipeline) -> dict[str, Any]:
    if isinstance(section, StageMove):
        to = pipeline.stage(section.to_stage_id)
        assert to is not None
        return {
            "trigger": {"type": "lead_activity", "moments": section.moments},
            "conditions": {
                "all": [
                    {"field": "pipeline_id", "op": "eq", "value": pipeline.id},
                    {"field": "stage_id", "op": "in", "value": section.from_stage_ids},
                    {"field": "stage_locked_at", "op": "is_empty"},
                ]
            },
            "steps": [
                {
                    "id": "move",
                    "type": "action",
                    "name": f"Move to {to.name}",
                    "action": "move_stage",
                    "settings": {"stage_id": section.to_stage_id, "forward_only": True},
                }
            ],
        }
    fields = {"lead_type": section.lead_type} if section.lead_type else {}
    if isinstance(section, CreateLead):
        trigger = {
            "type": "lifecycle_changed",
            "to_lifecycle_stage_ids": section.lifecycle_stage_ids,
            "include_sync": False,  # H6: not when a company's stage was synced
        }
        name = "{{ record.name }}"
    else:
        trigger = {"type": "lead_disqualified", "reasons": section.reasons}
        name = "Follow-up: {{ record.name }}"
    return {
        "trigger": trigger,
        "steps": [
            {
                "id": "create",
                "type": "action",
                "name": "Create a lead" if key == "create_lead" else "Create a follow-up lead",
                "action": "create_record",
                "settings": {
                    "object_type": "lead",
                    "name": name,
                    "fields": fields,
                    "pipeline_id": pipeline.id,
                },
            }
        ],
    }


def _check(
    uow: UnitOfWork,
    workspace_id: int,
    pipeline: Pipeline,
    settings: LeadAutomation,
    *,
    changing: set[str] | frozenset[str] = frozenset(),
) -> None:
    for key in ("attempting", "connected"):
        move: StageMove = getattr(settings, key)
        to = pipeline.stage(move.to_stage_id)
        if to is None:
            raise ValidationFailed(
                f"{key}: there is no stage {move.to_stage_id} in the default lead pipeline",
                field=f"{key}.to_stage_id",
            )
        for stage_id in move.from_stage_ids:
            stage = pipeline.stage(stage_id)
            if stage is None:
                raise ValidationFailed(
                    f"{key}: there is no stage {stage_id} in the default lead pipeline",
                    field=f"{key}.from_stage_ids",
                )
            if stage.position >= to.position:
                raise ValidationFailed(
                    f"{key}: lead automation only moves leads forward, and '{stage.name}' is "
                    f"not before '{to.name}'",
                    field=f"{key}.from_stage_ids",
                )
    create, follow_up = settings.create_lead, settings.follow_up_lead
    for stage_id in create.lifecycle_stage_ids:
        if uow.lifecycle.get(workspace_id, stage_id) is None:
            raise ValidationFailed(
                f"create_lead: there is no lifecycle stage {stage_id}",
                field="create_lead.lifecycle_stage_ids",
            )
    if create.enabled and not create.lifecycle_stage_ids:
        raise ValidationFailed(
            "create_lead: choose the lifecycle stages that create a lead",
            field="create_lead.lifecycle_stage_ids",
        )
    # Picklist options are checked for the creators that are on or being changed: an option
    # removed later does not block changing anything else.
    if create.enabled or "create_lead" in changing:
        _check_option(uow, workspace_id, "lead_type", create.lead_type, "create_lead.lead_type")
    if follow_up.enabled or "follow_up_lead" in changing:
        _check_option(
            uow, workspace_id, "lead_type", follow_up.lead_type, "follow_up_lead.lead_type"
        )
        for reason in follow_up.reasons:
            _check_option(
                uow, workspace_id, "disqualification_reasons", reason, "follow_up_lead.reasons"
            )
    if follow_up.enabled and not follow_up.reasons:
        raise ValidationFailed(
            "follow_up_lead: choose the disqualification reasons that call for a follow-up",
            field="follow_up_lead.reasons",
        )


def _check_option(
    uow: UnitOfWork, workspace_id: int, picklist: str, value: str | None, field: str
) -> None:
    if value is None:
        return
    options = uow.picklists.values(workspace_id).get(picklist, [])
    if value not in options:
        raise ValidationFailed(
            f"{field}: '{value}' is not in the {picklist} picklist ({', '.join(options)})",
            field=field,
        )


# what other changes must respect ---------------------------------------------------------


def check_stage_deletable(uow: UnitOfWork, workspace_id: int, stage_id: int) -> None:
    """A lead stage lead automation moves leads from or to, or with custom actions, stays."""
    stored = _installed(uow, workspace_id)
    if not stored:
        return
    for key in ("attempting", "connected"):
        move = stored[key]
        if stage_id == move["to_stage_id"] or stage_id in move["from_stage_ids"]:
            raise Conflict(
                f"lead automation '{key}' moves leads from or to this stage; change it first "
                "(PATCH /lead-automation)"
            )
    if str(stage_id) in stored.get("stages", {}):
        raise Conflict(
            "this stage has custom lead actions; delete them first "
            f"(DELETE /lead-automation/stages/{stage_id}/actions/...)"
        )


def check_default_change(uow: UnitOfWork, workspace_id: int) -> None:
    """The default lead pipeline stays while lead automation works in it (SPEC H1)."""
    stored = _installed(uow, workspace_id)
    if not stored:
        return
    on = [key for key in ("attempting", "connected") if stored[key]["enabled"]]
    if on or stored.get("stages"):
        what = ", ".join(on) or "custom stage actions"
        raise Conflict(
            f"lead automation works in the default lead pipeline ({what}); switch it off "
            "(PATCH /lead-automation) and delete custom stage actions before choosing "
            "another default"
        )


# storage --------------------------------------------------------------------------------


def lead_pipeline(uow: UnitOfWork, workspace_id: int) -> Pipeline:
    pipeline = next(
        (p for p in uow.pipelines.list(workspace_id, ObjectType.LEAD) if p.is_default), None
    )
    if pipeline is None:
        raise NotFound("the workspace has no default lead pipeline")
    return pipeline


def lead_stage(pipeline: Pipeline, stage_id: int) -> Stage:
    stage = pipeline.stage(stage_id)
    if stage is None:
        raise NotFound(f"stage {stage_id} is not a stage of the default lead pipeline")
    return stage


def stored_settings(
    uow: UnitOfWork, workspace_id: int, *, for_update: bool = False
) -> dict[str, Any]:
    """The stored settings; ``for_update`` when they are about to change (changes take
    turns on PostgreSQL)."""
    workspace = uow.workspaces.get(workspace_id, for_update=for_update)
    if workspace is None:
        raise NotFound(f"workspace {workspace_id} not found")
    stored = workspace.settings.get(SETTING)
    if stored is None:
        raise NotFound(
            "this workspace has no lead automation: its default lead pipeline needs three "
            "open stages; add them and restart stageflow"
        )
    return dict(stored)


def _installed(uow: UnitOfWork, workspace_id: int) -> dict[str, Any] | None:
    """The stored settings, or None where lead automation is not installed."""
    workspace = uow.workspaces.get(workspace_id)
    return (workspace.settings if workspace else {}).get(SETTING)


def store_settings(uow: UnitOfWork, workspace_id: int, value: dict[str, Any]) -> None:
    workspace = uow.workspaces.get(workspace_id)
    assert workspace is not None
    uow.workspaces.update_settings(workspace_id, {**workspace.settings, SETTING: value})
