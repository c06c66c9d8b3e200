"""What every `stageflow` command shares: the root command, consoles, the workspace option."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from stageflow import __version__
from stageflow.bootstrap import App, bootstrap
from stageflow.config import Settings
from stageflow.domain.errors import StageflowError
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.users import Principal, Role
from stageflow.services.unit_of_work import UnitOfWork

console = Console()
err = Console(stderr=True)
cli = typer.Typer(
    help="stageflow: CRM pipeline and lifecycle automation engine.",
    no_args_is_help=True,
    add_completion=False,
)
db_cli = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
workspace_cli = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
user_cli = typer.Typer(help="Users of a workspace.", no_args_is_help=True)
token_cli = typer.Typer(help="API tokens.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(workspace_cli, name="workspace")
cli.add_typer(user_cli, name="user")
cli.add_typer(token_cli, name="token")
lifecycle_cli = typer.Typer(help="Lifecycle and lost stages of contacts.", no_args_is_help=True)
contacts_cli = typer.Typer(help="Contacts: import from CSV.", no_args_is_help=True)
cli.add_typer(lifecycle_cli, name="lifecycle")
cli.add_typer(contacts_cli, name="contacts")

CLI_ACTOR = Actor(kind=ActorKind.SYSTEM, source=Source.CLI)
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug")]


def _version(value: bool) -> None:
    if value:
        console.print(f"stageflow {__version__}")
        raise typer.Exit()


@cli.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """stageflow: CRM pipeline and lifecycle automation engine."""


def open_app(*, migrate: bool = False) -> App:
    return bootstrap(Settings(), migrate=migrate)


def fail(exc: StageflowError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(code=2)


def workspace_id_of(uow: UnitOfWork, slug: str) -> int:
    workspace = uow.workspaces.get_by_slug(slug)
    if workspace is None or workspace.id is None:
        raise fail(StageflowError(f"no workspace '{slug}' (see `stageflow workspace list`)"))
    return workspace.id


# lifecycle ---------------------------------------------------------------------------------

StageArg = Annotated[str, typer.Argument(help="Stage name or id")]


def owner_of(uow: UnitOfWork, slug: str) -> Principal:
    """The CLI acts with the workspace owner's rights (it runs on the server itself)."""
    ws = workspace_id_of(uow, slug)
    owner = next((u for u in uow.users.list(ws) if u.role == Role.OWNER.value and u.active), None)
    if owner is None:
        raise fail(StageflowError(f"workspace '{slug}' has no active owner"))
    return Principal(workspace_id=ws, user_id=owner.id, role=Role.OWNER)


def cli_actor(principal: Principal) -> Actor:
    return Actor(kind=ActorKind.SYSTEM, source=Source.CLI, user_id=principal.user_id)
