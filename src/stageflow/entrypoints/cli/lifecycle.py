"""`stageflow lifecycle`: the lifecycle and lost stages of contacts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from stageflow.domain.errors import StageflowError
from stageflow.domain.lifecycle import LifecycleKind, LifecycleStage, Tally
from stageflow.domain.users import Principal
from stageflow.entrypoints.cli.common import (
    StageArg,
    WorkspaceOpt,
    cli_actor,
    console,
    fail,
    lifecycle_cli,
    open_app,
    owner_of,
)
from stageflow.services.commands import (
    CreateLifecycleStage,
    DeleteLifecycleStage,
    ReorderLifecycleStages,
    UpdateLifecycleStage,
)
from stageflow.services.crm import lifecycle
from stageflow.services.unit_of_work import UnitOfWork


def _stage(uow: UnitOfWork, principal: Principal, name_or_id: str) -> LifecycleStage:
    for stage in lifecycle.list_stages(uow, principal):
        if str(stage.id) == name_or_id or stage.name.casefold() == name_or_id.casefold():
            return stage
    raise fail(
        StageflowError(f"no lifecycle stage '{name_or_id}' (see `stageflow lifecycle list`)")
    )


def _print_stages(uow: UnitOfWork, principal: Principal) -> None:
    counts = uow.lifecycle.counts(principal.workspace_id)
    table = Table("kind", "#", "id", "name", "contacts", "default", "description")
    for stage in lifecycle.list_stages(uow, principal):
        assert stage.id is not None
        label = stage.kind.value if stage.emoji is None else f"{stage.kind.value} {stage.emoji}"
        table.add_row(
            label,
            str(stage.position + 1),
            str(stage.id),
            stage.name,
            str(counts.get(stage.id, Tally()).contacts),
            "yes" if stage.is_default else "",
            stage.description,
        )
    console.print(table)


@lifecycle_cli.command("list")
def lifecycle_list(workspace: WorkspaceOpt) -> None:
    """Lifecycle and lost stages, in order, with their contacts."""
    with open_app().uow(read_only=True) as uow:
        _print_stages(uow, owner_of(uow, workspace))


@lifecycle_cli.command("add")
def lifecycle_add(
    workspace: WorkspaceOpt,
    name: Annotated[str, typer.Argument(help="The new stage's name")],
    description: Annotated[str, typer.Option(help="What the stage means")] = "",
    lost: Annotated[bool, typer.Option("--lost", help="A lost stage (needs --emoji)")] = False,
    emoji: Annotated[str | None, typer.Option(help="Lost stages: one emoji")] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default")] = False,
    position: Annotated[int | None, typer.Option(help="1-based place among its kind")] = None,
) -> None:
    """Add a lifecycle stage (or, with --lost, a lost stage). At most 20 in total."""
    try:
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            cmd = CreateLifecycleStage(
                name=name,
                description=description,
                kind=LifecycleKind.LOST if lost else LifecycleKind.LIFECYCLE,
                emoji=emoji,
                is_default=default,
                position=None if position is None else max(position - 1, 0),
            )
            stage = lifecycle.create_stage(uow, principal, cmd, cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    console.print(f"stage [bold]{stage.name}[/bold] (id {stage.id}) added")


@lifecycle_cli.command("rename")
def lifecycle_rename(
    workspace: WorkspaceOpt,
    stage: StageArg,
    new_name: Annotated[str, typer.Argument(help="The new name")],
    description: Annotated[str | None, typer.Option(help="A new description")] = None,
) -> None:
    """Rename a stage (and optionally re-describe it)."""
    try:
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            found = _stage(uow, principal, stage)
            assert found.id is not None
            cmd = UpdateLifecycleStage(name=new_name, description=description)
            lifecycle.update_stage(uow, principal, found.id, cmd, cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    console.print(f"stage {found.id} renamed to [bold]{new_name}[/bold]")


@lifecycle_cli.command("move")
def lifecycle_move(
    workspace: WorkspaceOpt,
    stage: StageArg,
    position: Annotated[int, typer.Argument(help="1-based place among stages of its kind")],
) -> None:
    """Move a stage to another place in its column (lifecycle or lost)."""
    try:
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            found = _stage(uow, principal, stage)
            stages = lifecycle.list_stages(uow, principal)
            column = [s.id for s in stages if s.kind is found.kind and s.id != found.id]
            column.insert(min(max(position - 1, 0), len(column)), found.id)
            others = [s.id for s in stages if s.kind is not found.kind]
            order = [i for i in column + others if i is not None]
            cmd = ReorderLifecycleStages(order=order)
            lifecycle.reorder_stages(uow, principal, cmd, cli_actor(principal))
            uow.commit()
            _print_stages(uow, principal)
    except StageflowError as exc:
        raise fail(exc) from None


@lifecycle_cli.command("set-default")
def lifecycle_set_default(
    workspace: WorkspaceOpt,
    stage: Annotated[str | None, typer.Argument(help="Stage name or id")] = None,
    none: Annotated[bool, typer.Option("--none", help="Leave no default stage")] = False,
) -> None:
    """Make a stage the default of new contacts (replacing the old one), or --none."""
    if (stage is None) == (not none):
        raise fail(StageflowError("give a stage, or --none"))
    try:
        with open_app().uow() as uow:
            principal = owner_of(uow, workspace)
            stage_id = None if none else _stage(uow, principal, stage or "").id
            lifecycle.set_default(uow, principal, stage_id, cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    console.print("no default stage" if none else f"default stage: [bold]{stage}[/bold]")


@lifecycle_cli.command("delete")
def lifecycle_delete(
    workspace: WorkspaceOpt,
    stage: StageArg,
    move_to: Annotated[str | None, typer.Option(help="Stage (name or id) for its contacts")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Clear its contacts' stage")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Delete a stage; its contacts move to --move-to or are cleared (--clear), all at once."""
    app = open_app()
    try:
        with app.uow(read_only=True) as uow:
            principal = owner_of(uow, workspace)
            found = _stage(uow, principal, stage)
            target = _stage(uow, principal, move_to) if move_to else None
            assert found.id is not None
            preview = lifecycle.delete_preview(uow, principal, found.id)
        if not preview.can_delete:
            raise fail(StageflowError(preview.reason or "this stage cannot be deleted"))
        used = preview.contacts + preview.companies
        where = f"move them to '{target.name}'" if target else "clear their stage"
        console.print(
            f"'{found.name}' has {preview.contacts} contacts and {preview.companies} companies"
            + (f"; deleting it will {where}" if used else "")
        )
        if used and target is None and not clear:
            raise fail(StageflowError("give --move-to STAGE or --clear"))
        if not yes and not typer.confirm(f"Delete '{found.name}'?"):
            raise typer.Exit(code=1)
        with app.uow() as uow:
            cmd = DeleteLifecycleStage(move_to=target.id if target else None, clear=clear)
            lifecycle.delete_stage(uow, principal, found.id, cmd, cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    console.print(f"stage '{found.name}' deleted; {used} records updated")


# contacts ----------------------------------------------------------------------------------
