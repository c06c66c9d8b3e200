"""The `stageflow` command line: serve, db, workspace, user, token."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stageflow import __version__
from stageflow.bootstrap import App, bootstrap
from stageflow.config import Settings
from stageflow.domain.errors import StageflowError
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.users import Role
from stageflow.services.commands import CreateToken, CreateUser
from stageflow.services.workspaces import create_token, create_user, create_workspace

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


def _app(*, migrate: bool = False) -> App:
    return bootstrap(Settings(), migrate=migrate)


def _fail(exc: StageflowError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(code=2)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    demo: Annotated[bool, typer.Option(help="Create a demo workspace on first start")] = True,
    virtual_clock: Annotated[
        bool,
        typer.Option(
            "--virtual-clock",
            help="Rehearse in virtual time: the owner moves the clock with "
            "POST /api/v1/admin/clock/advance. Never for production.",
        ),
    ] = False,
    worker: Annotated[
        bool | None,
        typer.Option(
            help="Run a worker inside the server (default: on with SQLite, off otherwise)"
        ),
    ] = None,
) -> None:
    """Run the API with an embedded worker (and, on SQLite, apply migrations first)."""
    import uvicorn

    from stageflow.entrypoints.api.app import create_app
    from stageflow.services.demo import create_demo_workspace

    settings = Settings()
    if virtual_clock:
        settings = settings.model_copy(update={"virtual_clock": True})
    app = bootstrap(settings, migrate=settings.embedded)
    if not settings.embedded:
        _check_schema_current(settings)
    with app.uow() as uow:
        first_start = uow.workspaces.count() == 0
        if first_start and demo:
            new, password = create_demo_workspace(uow)
            uow.commit()
    if first_start and demo:
        _print_credentials(settings, new.workspace.slug, password, new.token)
    url = f"http://{host or settings.host}:{port or settings.port}"
    console.print(f"stageflow {__version__} on [bold]{url}[/bold] — API docs at {url}/docs")
    if settings.virtual_clock:
        console.print(
            f"[yellow]virtual clock[/yellow]: time stands at {app.clock.now()} until "
            "the owner advances it"
        )
    run_worker = settings.embedded if worker is None else worker
    uvicorn.run(
        create_app(app, run_worker=run_worker),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
    )


@cli.command("worker")
def worker_command(
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Runs claimed per batch")
    ] = 200,
    poll: Annotated[float, typer.Option(min=0.01, help="Seconds between polls when idle")] = 0.5,
) -> None:
    """Run a standalone worker (start several on PostgreSQL to scale out)."""
    import signal
    import threading

    app = bootstrap(Settings())
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    name = f"worker-{os.getpid()}"
    console.print(f"{name}: claiming due runs in batches of {batch_size}")
    app.worker(batch_size=batch_size, name=name).run_forever(stop, poll_seconds=poll)
    console.print(f"{name}: stopped")


def _check_schema_current(settings: Settings) -> None:
    from alembic.script import ScriptDirectory

    from stageflow.adapters.db.migrate import alembic_config, current

    url = settings.resolved_database_url()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if current(url) != head:
        err.print(
            "[red]error:[/red] the database schema is not current; run `stageflow db upgrade` first"
        )
        raise typer.Exit(code=2)


def _print_credentials(settings: Settings, slug: str, password: str, token: str) -> None:
    from stageflow.services.demo import DEMO_OWNER

    text = (
        f"workspace: {slug}\nlogin:     {DEMO_OWNER}\npassword:  {password}\napi token: {token}\n"
    )
    console.rule("[bold green]demo workspace created")
    console.print(text, highlight=False)
    if settings.embedded:
        path = Path(settings.data_dir) / "demo-credentials.txt"
        path.write_text(text)
        os.chmod(path, 0o600)
        console.print(f"(also saved to {path})")
    console.rule()


@db_cli.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Apply schema migrations."""
    from stageflow.adapters.db.migrate import current, upgrade

    url = Settings().resolved_database_url()
    upgrade(url, revision)
    console.print(f"database at revision {current(url)}")


@db_cli.command("current")
def db_current() -> None:
    """Show the schema revision of the database."""
    from stageflow.adapters.db.migrate import current

    console.print(current(Settings().resolved_database_url()) or "empty (no migrations applied)")


@workspace_cli.command("create")
def workspace_create(
    name: Annotated[str, typer.Argument(help="Workspace name")],
    owner_email: Annotated[str, typer.Option(help="The owner's email")],
    owner_name: Annotated[str, typer.Option(help="The owner's name")] = "Owner",
    slug: Annotated[str | None, typer.Option(help="URL-safe id; derived from the name")] = None,
) -> None:
    """Create a workspace with its owner and print the owner's API token."""
    app = _app(migrate=Settings().embedded)
    try:
        with app.uow() as uow:
            new = create_workspace(
                uow,
                name=name,
                slug=slug,
                owner_email=owner_email,
                owner_name=owner_name,
                actor=CLI_ACTOR,
            )
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
    console.print(f"workspace [bold]{new.workspace.slug}[/bold] (id {new.workspace.id}) created")
    console.print(f"owner api token: {new.token}", highlight=False)


@workspace_cli.command("list")
def workspace_list() -> None:
    """List workspaces."""
    with _app().uow(read_only=True) as uow:
        rows = uow.workspaces.list()
    table = Table("id", "slug", "name", "created")
    for w in rows:
        table.add_row(str(w.id), w.slug, w.name, w.created_at.isoformat(timespec="seconds"))
    console.print(table)


@user_cli.command("create")
def user_create(
    workspace: WorkspaceOpt,
    email: Annotated[str, typer.Option(help="Login email")],
    name: Annotated[str, typer.Option(help="Display name")],
    role: Annotated[Role, typer.Option(help="owner, admin, manager or agent")] = Role.AGENT,
    permission: Annotated[
        list[str] | None,
        typer.Option(help="Extra named permission (repeatable), e.g. automations.edit"),
    ] = None,
    password: Annotated[str | None, typer.Option(help="Password for the web UI")] = None,
) -> None:
    """Add a user to a workspace."""
    app = _app()
    try:
        with app.uow() as uow:
            ws = _workspace_id(uow, workspace)
            user_id = create_user(
                uow,
                ws,
                CreateUser(
                    email=email,
                    name=name,
                    role=role,
                    permissions=permission or [],
                    password=password,
                ),
                CLI_ACTOR,
            )
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
    console.print(f"user {email} (id {user_id}, {role.value}) created")


@token_cli.command("create")
def token_create(
    workspace: WorkspaceOpt,
    email: Annotated[str, typer.Option(help="The user the token acts as")],
    name: Annotated[str, typer.Option(help="A name to recognise the token by")] = "cli token",
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    app = _app()
    try:
        with app.uow() as uow:
            ws = _workspace_id(uow, workspace)
            user = uow.users.get_by_email(ws, email)
            if user is None:
                raise _fail(StageflowError(f"no user {email} in workspace {workspace}"))
            secret = create_token(uow, ws, user.id, CreateToken(name=name), CLI_ACTOR)
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
    console.print(secret, highlight=False, soft_wrap=True)


def _workspace_id(uow: object, slug: str) -> int:
    from stageflow.services.unit_of_work import UnitOfWork

    assert isinstance(uow, UnitOfWork)
    workspace = uow.workspaces.get_by_slug(slug)
    if workspace is None or workspace.id is None:
        raise _fail(StageflowError(f"no workspace '{slug}' (see `stageflow workspace list`)"))
    return workspace.id


def main() -> None:
    cli()
