"""`stageflow automations`, `stageflow rules` and `stageflow lead-automation`: automation as
code, stage rules and the lead pipeline's automation from the command line (issue 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from stageflow.automation.substate_actions import NewSubstateAction
from stageflow.domain.errors import StageflowError
from stageflow.entrypoints.cli.common import (
    WorkspaceOpt,
    cli,
    cli_actor,
    console,
    err,
    fail,
    open_app,
    owner_of,
)
from stageflow.services.authoring import (
    automation_code,
    lead_automation,
    stage_rules,
    substate_actions,
)
from stageflow.services.crm import opportunity_types

automations_cli = typer.Typer(help="Automations as code (YAML).", no_args_is_help=True)
rules_cli = typer.Typer(help="Stage rules of a pipeline stage.", no_args_is_help=True)
lead_cli = typer.Typer(help="The lead pipeline's automation.", no_args_is_help=True)
cli.add_typer(automations_cli, name="automations")
cli.add_typer(rules_cli, name="rules")
cli.add_typer(lead_cli, name="lead-automation")

PipelineOpt = Annotated[int, typer.Option("--pipeline", "-p", help="Pipeline id")]
StageOpt = Annotated[int, typer.Option("--stage", "-s", help="Stage id")]


@automations_cli.command("export")
def export_automations(
    workspace: WorkspaceOpt,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here, not stdout")] = None,
) -> None:
    """Write the workspace's workflows, stage rules and lead automation as YAML."""
    with open_app().uow(read_only=True) as uow:
        text = automation_code.export(uow, owner_of(uow, workspace))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"written to {out}")


@automations_cli.command("import")
def import_automations(
    workspace: WorkspaceOpt,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A YAML file")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report; change nothing")
    ] = False,
) -> None:
    """Bring the workspace in line with a file made by `export` (nothing is deleted). Every
    entry is checked first; a problem is told with file, line and field, and nothing changes."""
    try:
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            outcome = automation_code.apply(
                uow, principal, file.read_text(encoding="utf-8"), str(file), cli_actor(principal)
            )
            if not dry_run:
                uow.commit()
    except automation_code.CodeInvalid as exc:
        for problem in exc.problems:  # plain lines, never wrapped: editors jump to file:line
            typer.echo(f"error: {problem.told(str(file))}", err=True)
        raise typer.Exit(code=2) from None
    except StageflowError as exc:
        raise fail(exc) from None
    verb = "would be" if dry_run else "were"
    for label, items in (("created", outcome.created), ("changed", outcome.changed)):
        for item in items:
            console.print(f"{item} {verb} {label}")
    console.print(
        f"{len(outcome.created)} created, {len(outcome.changed)} changed, "
        f"{len(outcome.unchanged)} unchanged" + (" (dry run: nothing written)" if dry_run else "")
    )


@rules_cli.command("list")
def list_rules(workspace: WorkspaceOpt, pipeline: PipelineOpt, stage: StageOpt) -> None:
    """A stage's rules in the order they run."""
    try:
        with open_app().uow(read_only=True) as uow:
            rules = stage_rules.list_rules(uow, owner_of(uow, workspace), pipeline, stage)
    except StageflowError as exc:
        raise fail(exc) from None
    table = Table("#", "id", "group", "name", "action", "timing", "after previous", "on")
    for rule in rules:
        timing = {k: v for k, v in rule["timing"].items() if v not in (None, False, "PT0S")}
        table.add_row(
            str(rule["position"]),
            str(rule["id"]),
            rule["group"],
            rule["name"],
            rule["action"],
            ", ".join(f"{k} {v}" for k, v in timing.items()) or "immediately",
            "yes" if rule["after_previous"] else "",
            "yes" if rule["enabled"] else "off",
        )
    console.print(table)


@rules_cli.command("add")
def add_rule(
    workspace: WorkspaceOpt,
    pipeline: PipelineOpt,
    stage: StageOpt,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The rule, YAML or JSON")
    ],
) -> None:
    """Add a rule read from a file (the settings of POST /pipelines/{p}/stages/{s}/rules)."""
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
        cmd = stage_rules.NewRule.model_validate(raw)
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            rule_id = stage_rules.create_rule(
                uow, principal, pipeline, stage, cmd, cli_actor(principal)
            )
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    except (yaml.YAMLError, ValueError) as exc:
        err.print(f"[red]error:[/red] {file}: {exc}")
        raise typer.Exit(code=2) from None
    console.print(f"rule {rule_id} added")


@rules_cli.command("delete")
def delete_rule(
    workspace: WorkspaceOpt,
    pipeline: PipelineOpt,
    stage: StageOpt,
    rule: Annotated[int, typer.Argument(help="The rule's id")],
) -> None:
    """Delete a rule (runs it started finish; nothing new starts)."""
    try:
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            stage_rules.delete_rule(uow, principal, pipeline, stage, rule, cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    console.print(f"rule {rule} deleted")


@lead_cli.command("show")
def show_lead_automation(workspace: WorkspaceOpt) -> None:
    """The built-in lead automations and their settings."""
    with open_app().uow(read_only=True) as uow:
        view = lead_automation.view(uow, owner_of(uow, workspace))
    table = Table("automation", "on", "settings")
    for key in lead_automation.BUILT_IN:
        settings = {k: v for k, v in view[key].items() if k != "enabled"}
        table.add_row(
            key, "yes" if view[key]["enabled"] else "off", yaml.safe_dump(settings).strip()
        )
    console.print(table)


def _switch(
    workspace: str, which: str, enabled: bool, settings: dict[str, Any] | None = None
) -> None:
    try:
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            lead_automation.update(
                uow,
                principal,
                {which: {**(settings or {}), "enabled": enabled}},
                cli_actor(principal),
            )
            uow.commit()
    except StageflowError as exc:
        setting = (exc.field or "").partition(".")[2]
        option = _OPTIONS_FOR.get(setting, ("", set()))[0]
        if option:
            exc = StageflowError(f"{exc.message} (give it with {option})", field=exc.field)
        raise fail(exc) from None
    console.print(f"{which} switched {'on' if enabled else 'off'}")


WhichArg = Annotated[str, typer.Argument(help=", ".join(lead_automation.BUILT_IN))]
ReasonOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--reason",
        "-r",
        help="follow_up_lead: a disqualification reason that calls for a follow-up (repeat it)",
    ),
]
LifecycleStageOpt = Annotated[
    list[int] | None,
    typer.Option(
        "--lifecycle-stage",
        help="create_lead: the id of a lifecycle stage whose contacts get a lead (repeat it)",
    ),
]
LeadTypeOpt = Annotated[
    str | None,
    typer.Option("--lead-type", help="create_lead, follow_up_lead: the new lead's type"),
]
_OPTIONS_FOR = {
    "reasons": ("--reason", {"follow_up_lead"}),
    "lifecycle_stage_ids": ("--lifecycle-stage", {"create_lead"}),
    "lead_type": ("--lead-type", {"create_lead", "follow_up_lead"}),
}


@lead_cli.command("enable")
def enable_lead_automation(
    workspace: WorkspaceOpt,
    which: WhichArg,
    reason: ReasonOpt = None,
    lifecycle_stage: LifecycleStageOpt = None,
    lead_type: LeadTypeOpt = None,
) -> None:
    """Switch a built-in lead automation on, with what it needs: follow_up_lead its
    disqualification reasons (--reason), create_lead its lifecycle stages (--lifecycle-stage)."""
    given = {"reasons": reason, "lifecycle_stage_ids": lifecycle_stage, "lead_type": lead_type}
    settings = {key: value for key, value in given.items() if value}
    for key in settings:
        option, owners = _OPTIONS_FOR[key]
        if which not in owners:
            raise fail(StageflowError(f"{option} is not a setting of {which}"))
    _switch(workspace, which, True, settings)


@lead_cli.command("disable")
def disable_lead_automation(workspace: WorkspaceOpt, which: WhichArg) -> None:
    """Switch a built-in lead automation off."""
    _switch(workspace, which, False)


# sub-state actions (SPEC E) -------------------------------------------------------------

substate_cli = typer.Typer(
    help="Opportunity types and their sub-states' automatic actions.", no_args_is_help=True
)
cli.add_typer(substate_cli, name="substate-actions")
TypeOpt = Annotated[str, typer.Option("--type", "-t", help="Opportunity type name")]
SubstateOpt = Annotated[str, typer.Option("--substate", help="Sub-state name")]


def _type_id(uow: Any, principal: Any, name: str) -> int:
    for kind in opportunity_types.list_types(uow, principal):
        if kind["name"] == name:
            return int(kind["id"])
    known = ", ".join(k["name"] for k in opportunity_types.list_types(uow, principal))
    raise fail(StageflowError(f"no opportunity type '{name}' (known: {known or 'none'})"))


@substate_cli.command("types")
def list_types(workspace: WorkspaceOpt) -> None:
    """Opportunity types with their states and sub-states."""
    with open_app().uow(read_only=True) as uow:
        kinds = opportunity_types.list_types(uow, owner_of(uow, workspace))
    table = Table("id", "type", "states", "sub-states")
    for kind in kinds:
        substates = ", ".join(
            s["name"] + (f" ({s['state']})" if s["state"] else "") for s in kind["substates"]
        )
        table.add_row(str(kind["id"]), kind["name"], ", ".join(kind["states"]), substates)
    console.print(table)


@substate_cli.command("list")
def list_substate_actions(workspace: WorkspaceOpt, type_: TypeOpt, substate: SubstateOpt) -> None:
    """A sub-state's actions: on opening, on closing, scheduled."""
    try:
        with open_app().uow(read_only=True) as uow:
            principal = owner_of(uow, workspace)
            actions = substate_actions.list_actions(
                uow, principal, _type_id(uow, principal, type_), substate
            )
    except StageflowError as exc:
        raise fail(exc) from None
    table = Table("group", "#", "id", "name", "action", "after", "channels", "on")
    for action in actions:
        table.add_row(
            action["group"],
            str(action["position"]),
            str(action["id"]),
            action["name"],
            action["action"],
            action["after"] or "",
            ", ".join(action["channels"] or []) or "all",
            "yes" if action["enabled"] else "off",
        )
    console.print(table)


@substate_cli.command("add")
def add_substate_action(
    workspace: WorkspaceOpt,
    type_: TypeOpt,
    substate: SubstateOpt,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML or JSON")],
) -> None:
    """Add an action read from a file (the settings of POST
    /opportunity-types/{id}/substates/{name}/actions)."""
    try:
        cmd = NewSubstateAction.model_validate(yaml.safe_load(file.read_text(encoding="utf-8")))
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            action_id = substate_actions.create_action(
                uow,
                principal,
                _type_id(uow, principal, type_),
                substate,
                cmd,
                cli_actor(principal),
            )
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    except (yaml.YAMLError, ValueError) as exc:
        err.print(f"[red]error:[/red] {file}: {exc}")
        raise typer.Exit(code=2) from None
    console.print(f"action {action_id} added")


@substate_cli.command("delete")
def delete_substate_action(
    workspace: WorkspaceOpt,
    type_: TypeOpt,
    substate: SubstateOpt,
    action: Annotated[int, typer.Argument(help="The action's id")],
) -> None:
    """Delete an action (runs it started finish; nothing new starts)."""
    try:
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            substate_actions.delete_action(
                uow,
                principal,
                _type_id(uow, principal, type_),
                substate,
                action,
                cli_actor(principal),
            )
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    console.print(f"action {action} deleted")
