"""The `stageflow` command line: serve, worker, db, workspace, user, token, lifecycle,
contacts."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from stageflow import __version__
from stageflow.bootstrap import App, bootstrap, tune_collector
from stageflow.config import Settings
from stageflow.domain.errors import StageflowError
from stageflow.domain.events import Actor, ActorKind, Source
from stageflow.domain.lifecycle import LifecycleKind, LifecycleStage, Tally
from stageflow.domain.users import Principal, Role
from stageflow.services import imports, lifecycle
from stageflow.services.commands import (
    CreateLifecycleStage,
    CreateToken,
    CreateUser,
    DeleteLifecycleStage,
    ReorderLifecycleStages,
    UpdateLifecycleStage,
)
from stageflow.services.unit_of_work import UnitOfWork
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
    _install_built_ins(app)
    with app.uow() as uow:
        first_start = uow.workspaces.count() == 0
        if first_start and demo:
            new, password = create_demo_workspace(uow)
            uow.commit()
    if first_start and demo:
        _print_credentials(settings, new.workspace.slug, password, new.token)
    url = f"http://{host or settings.host}:{port or settings.port}"
    console.print(
        f"stageflow {__version__}: web app at [bold]{url}/[/bold] (sign in with a user's "
        f"email and password), API docs at {url}/docs"
    )
    if settings.virtual_clock:
        console.print(
            f"[yellow]virtual clock[/yellow]: time stands at {app.clock.now()} until "
            "the owner advances it"
        )
    run_worker = settings.embedded if worker is None else worker
    tune_collector()
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
    _install_built_ins(app)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    name = f"worker-{os.getpid()}"
    tune_collector()
    console.print(f"{name}: claiming due runs in batches of {batch_size}")
    app.worker(batch_size=batch_size, name=name).run_forever(stop, poll_seconds=poll)
    console.print(f"{name}: stopped")


def _install_built_ins(app: App) -> None:
    """Workspaces made before a built-in automation existed get it (lead automation)."""
    from stageflow.services.lead_automation import install_missing

    with app.uow() as uow:
        if installed := install_missing(uow):
            uow.commit()
            console.print(f"lead automation installed in {installed} workspace(s)")


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
    if revision == "head":
        _install_built_ins(bootstrap(Settings()))


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


def _workspace_id(uow: UnitOfWork, slug: str) -> int:
    workspace = uow.workspaces.get_by_slug(slug)
    if workspace is None or workspace.id is None:
        raise _fail(StageflowError(f"no workspace '{slug}' (see `stageflow workspace list`)"))
    return workspace.id


# lifecycle ---------------------------------------------------------------------------------

StageArg = Annotated[str, typer.Argument(help="Stage name or id")]


def _owner(uow: UnitOfWork, slug: str) -> Principal:
    """The CLI acts with the workspace owner's rights (it runs on the server itself)."""
    ws = _workspace_id(uow, slug)
    owner = next((u for u in uow.users.list(ws) if u.role == Role.OWNER.value and u.active), None)
    if owner is None:
        raise _fail(StageflowError(f"workspace '{slug}' has no active owner"))
    return Principal(workspace_id=ws, user_id=owner.id, role=Role.OWNER)


def _stage(uow: UnitOfWork, principal: Principal, name_or_id: str) -> LifecycleStage:
    for stage in lifecycle.list_stages(uow, principal):
        if str(stage.id) == name_or_id or stage.name.casefold() == name_or_id.casefold():
            return stage
    raise _fail(
        StageflowError(f"no lifecycle stage '{name_or_id}' (see `stageflow lifecycle list`)")
    )


def _cli_actor(principal: Principal) -> Actor:
    return Actor(kind=ActorKind.SYSTEM, source=Source.CLI, user_id=principal.user_id)


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
    with _app().uow(read_only=True) as uow:
        _print_stages(uow, _owner(uow, workspace))


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
        with _app().uow() as uow:
            principal = _owner(uow, workspace)
            cmd = CreateLifecycleStage(
                name=name,
                description=description,
                kind=LifecycleKind.LOST if lost else LifecycleKind.LIFECYCLE,
                emoji=emoji,
                is_default=default,
                position=None if position is None else max(position - 1, 0),
            )
            stage = lifecycle.create_stage(uow, principal, cmd, _cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
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
        with _app().uow() as uow:
            principal = _owner(uow, workspace)
            found = _stage(uow, principal, stage)
            assert found.id is not None
            cmd = UpdateLifecycleStage(name=new_name, description=description)
            lifecycle.update_stage(uow, principal, found.id, cmd, _cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
    console.print(f"stage {found.id} renamed to [bold]{new_name}[/bold]")


@lifecycle_cli.command("move")
def lifecycle_move(
    workspace: WorkspaceOpt,
    stage: StageArg,
    position: Annotated[int, typer.Argument(help="1-based place among stages of its kind")],
) -> None:
    """Move a stage to another place in its column (lifecycle or lost)."""
    try:
        with _app().uow() as uow:
            principal = _owner(uow, workspace)
            found = _stage(uow, principal, stage)
            stages = lifecycle.list_stages(uow, principal)
            column = [s.id for s in stages if s.kind is found.kind and s.id != found.id]
            column.insert(min(max(position - 1, 0), len(column)), found.id)
            others = [s.id for s in stages if s.kind is not found.kind]
            order = [i for i in column + others if i is not None]
            cmd = ReorderLifecycleStages(order=order)
            lifecycle.reorder_stages(uow, principal, cmd, _cli_actor(principal))
            uow.commit()
            _print_stages(uow, principal)
    except StageflowError as exc:
        raise _fail(exc) from None


@lifecycle_cli.command("set-default")
def lifecycle_set_default(
    workspace: WorkspaceOpt,
    stage: Annotated[str | None, typer.Argument(help="Stage name or id")] = None,
    none: Annotated[bool, typer.Option("--none", help="Leave no default stage")] = False,
) -> None:
    """Make a stage the default of new contacts (replacing the old one), or --none."""
    if (stage is None) == (not none):
        raise _fail(StageflowError("give a stage, or --none"))
    try:
        with _app().uow() as uow:
            principal = _owner(uow, workspace)
            stage_id = None if none else _stage(uow, principal, stage or "").id
            lifecycle.set_default(uow, principal, stage_id, _cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
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
    app = _app()
    try:
        with app.uow(read_only=True) as uow:
            principal = _owner(uow, workspace)
            found = _stage(uow, principal, stage)
            target = _stage(uow, principal, move_to) if move_to else None
            assert found.id is not None
            preview = lifecycle.delete_preview(uow, principal, found.id)
        if not preview.can_delete:
            raise _fail(StageflowError(preview.reason or "this stage cannot be deleted"))
        used = preview.contacts + preview.companies
        where = f"move them to '{target.name}'" if target else "clear their stage"
        console.print(
            f"'{found.name}' has {preview.contacts} contacts and {preview.companies} companies"
            + (f"; deleting it will {where}" if used else "")
        )
        if used and target is None and not clear:
            raise _fail(StageflowError("give --move-to STAGE or --clear"))
        if not yes and not typer.confirm(f"Delete '{found.name}'?"):
            raise typer.Exit(code=1)
        with app.uow() as uow:
            cmd = DeleteLifecycleStage(move_to=target.id if target else None, clear=clear)
            lifecycle.delete_stage(uow, principal, found.id, cmd, _cli_actor(principal))
            uow.commit()
    except StageflowError as exc:
        raise _fail(exc) from None
    console.print(f"stage '{found.name}' deleted; {used} records updated")


# contacts ----------------------------------------------------------------------------------


@contacts_cli.command("import")
def contacts_import(
    workspace: WorkspaceOpt,
    file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file with a header row", exists=True, dir_okay=False, readable=True
        ),
    ],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=FIELD (repeatable): where a column goes; FIELD '-' skips it. "
            "Without it, columns named like fields (email, first name, stage, ...) map "
            "themselves.",
        ),
    ] = None,
    errors_to: Annotated[
        Path | None, typer.Option("--errors", help="Write every row error to this CSV")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check the file, import nothing")] = False,
) -> None:
    """Import contacts from CSV. Every row is checked first: if any is wrong, nothing is
    imported and each error is reported with its line and column."""
    mapping: dict[str, str] = {}
    for item in map_ or []:
        column, sep, target = item.partition("=")
        if not sep or not column.strip():
            raise _fail(StageflowError(f"--map takes COLUMN=FIELD, not {item!r}"))
        mapping[column.strip()] = target.strip()
    app = _app()
    try:
        header, rows = imports.read_csv(file)
        total = _count_rows(file)
        with (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as bar,
            app.uow() as uow,
            imports.gc_paused(),
        ):
            principal = _owner(uow, workspace)
            checking = bar.add_task("checking", total=total)
            checked = imports.check(
                uow,
                principal,
                header,
                rows,
                mapping,
                progress=lambda n: bar.advance(checking, n),
            )
            if not checked.ok:
                bar.stop()
                _report_errors(checked, errors_to)
                raise typer.Exit(code=2)
            if dry_run:
                bar.stop()
                console.print(f"{len(checked.rows)} rows are fine; nothing imported (--dry-run)")
                return
            writing = bar.add_task("importing", total=len(checked.rows))
            started = time.perf_counter()
            done = imports.write(
                uow, principal, checked, progress=lambda n: bar.advance(writing, n)
            )
            uow.commit()
            seconds = time.perf_counter() - started
    except StageflowError as exc:
        raise _fail(exc) from None
    rate = done.created / seconds if seconds else 0.0
    console.print(
        f"imported {done.created} contacts in {seconds:.1f} s ({rate:,.0f} rows/s); "
        f"columns: {', '.join(f'{c} → {t}' for c, t in checked.columns.items())}"
    )


def _count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def _report_errors(checked: imports.Checked, errors_to: Path | None) -> None:
    err.print(
        f"[red]{checked.error_count} rows have errors; nothing was imported.[/red] "
        "Fix them and run the import again."
    )
    table = Table("line", "column", "problem")
    for error in checked.errors[:20]:
        table.add_row(str(error.line), error.column or "", error.message)
    err.print(table)
    if checked.error_count > 20:
        err.print(f"... and {checked.error_count - 20} more" + ("" if errors_to else
                  " (--errors FILE writes them all)"))  # fmt: skip
    if errors_to is not None:
        with errors_to.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "column", "problem"])
            for error in checked.errors:
                writer.writerow([error.line, error.column or "", error.message])
        err.print(f"all errors written to {errors_to}")


def main() -> None:
    cli()


# The automation commands live in their own module and register themselves on `cli`.
from stageflow.entrypoints import cli_automations  # noqa: E402, F401
