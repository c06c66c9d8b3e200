"""`stageflow automations`, `stageflow rules` and `stageflow lead-automation`: automation as
code, stage rules and the lead pipeline's automation from the command line (issue 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from stageflow.domain.errors import StageflowError
from stageflow.entrypoints.cli import (
    WorkspaceOpt,
    _app,
    _cli_actor,
    _fail,
    _owner,
    cli,
    console,
    err,
)
from stageflow.services import automation_code, lead_automation, stage_rules

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
    with _app().uow(read_only=True) as uow:
        text = automation_code.export(uow, _owner(uow, workspace))
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
        with _app().uow() as uow:
            principal = _owner(uow, workspace)
            outcome = automation_code.apply(
                uow, principal, file.read_text(encoding="utf-8"), str(file), _cli_actor(principal)
            )
            if not dry_run:
                uow.commit()
    except automation_code.CodeInvalid as exc:
        for problem in exc.problems:  # plain lines, never wrapped: editors jump to file:line
            typer.echo(f"error: {problem.told(str(file))}", err=True)
        raise typer.Exit(code=2) from None
    except StageflowError as exc:
        raise _fail(exc) from None
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
        with _app().uow(read_only=True) as uow:
            rules = stage_rules.list_rules(uow, _owner(uow, workspace), pipeline, stage)
    except StageflowError as exc:
        raise _fail(exc) from None
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
        with _app().uow() as uow:
            principal = _owner(uow, workspace)
            rule_id = stage_rules.create_rule(
                uow, principal, pipeline, stage, cmd, _cli_actor(principal)
            )
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
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
        with _app().uow() as uow:
            principal = _owner(uow, workspace)
            stage_rules.delete_rule(uow, principal, pipeline, stage, rule, _cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
    console.print(f"rule {rule} deleted")


@lead_cli.command("show")
def show_lead_automation(workspace: WorkspaceOpt) -> None:
    """The built-in lead automations and their settings."""
    with _app().uow(read_only=True) as uow:
        view = lead_automation.view(uow, _owner(uow, workspace))
    table = Table("automation", "on", "settings")
    for key in lead_automation.BUILT_IN:
        settings = {k: v for k, v in view[key].items() if k != "enabled"}
        table.add_row(
            key, "yes" if view[key]["enabled"] else "off", yaml.safe_dump(settings).strip()
        )
    console.print(table)


def _switch(workspace: str, which: str, enabled: bool) -> None:
    try:
        with _app().uow() as uow:
            principal = _owner(uow, workspace)
            lead_automation.update(
                uow, principal, {which: {"enabled": enabled}}, _cli_actor(principal)
            )
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
    console.print(f"{which} switched {'on' if enabled else 'off'}")


WhichArg = Annotated[str, typer.Argument(help=", ".join(lead_automation.BUILT_IN))]


@lead_cli.command("enable")
def enable_lead_automation(workspace: WorkspaceOpt, which: WhichArg) -> None:
    """Switch a built-in lead automation on."""
    _switch(workspace, which, True)


@lead_cli.command("disable")
def disable_lead_automation(workspace: WorkspaceOpt, which: WhichArg) -> None:
    """Switch a built-in lead automation off."""
    _switch(workspace, which, False)
