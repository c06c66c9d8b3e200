"""`stageflow serve`, `stageflow worker` and `stageflow db`."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated

import typer

from stageflow import __version__
from stageflow.adapters.db.clock import stored_clock
from stageflow.bootstrap import App, bootstrap, tune_collector
from stageflow.config import Settings
from stageflow.domain.clock import VirtualClock
from stageflow.entrypoints.cli.common import (
    cli,
    console,
    db_cli,
    err,
)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    demo: Annotated[bool, typer.Option(help="Create a demo workspace on first start")] = True,
    virtual_clock: Annotated[
        bool,
        typer.Option(
            "--virtual-clock",
            help="Rehearse in virtual time, kept in the database for every process on "
            "it: the owner moves the clock with POST /api/v1/admin/clock/advance. "
            "Never for production.",
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
    from stageflow.services.crm.demo import create_demo_workspace

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
    _say_if_virtual(app)
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

    app = bootstrap(Settings())
    _install_built_ins(app)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    name = f"worker-{os.getpid()}"
    _say_if_virtual(app)
    tune_collector()
    console.print(f"{name}: claiming due runs in batches of {batch_size}")
    went_virtual = _stop_if_time_goes_virtual(app, stop)
    app.worker(batch_size=batch_size, name=name).run_forever(stop, poll_seconds=poll)
    console.print(f"{name}: stopped")
    if went_virtual.is_set():
        err.print(
            f"[red]error:[/red] {name} ran on real time, and the database has gone into "
            "virtual time (`stageflow serve --virtual-clock`); it stopped rather than mix the "
            "two. Start it again: it will follow the database's virtual clock."
        )
        raise typer.Exit(code=3)


CLOCK_CHECK_SECONDS = 5.0


def _stop_if_time_goes_virtual(app: App, stop: threading.Event) -> threading.Event:
    """A worker on real time stops if the database goes into virtual time under it, so no
    process ever works on a clock the others do not share (a worker picks its clock when it
    starts). Returns the event set when that happened."""
    went_virtual = threading.Event()
    if isinstance(app.clock, VirtualClock):
        return went_virtual  # already on the database's clock

    def watch() -> None:
        while not stop.wait(CLOCK_CHECK_SECONDS):
            if stored_clock(app.engine) is not None:
                went_virtual.set()
                stop.set()
                app.enroller.work_available.set()

    threading.Thread(target=watch, name="stageflow-clock-watch", daemon=True).start()
    return went_virtual


def _say_if_virtual(app: App) -> None:
    if isinstance(app.clock, VirtualClock):
        console.print(
            f"[yellow]virtual clock[/yellow] (kept in the database, shared by every process "
            f"on it): time stands at {app.clock.now()} until the owner advances it; "
            "processes pick their clock when they start, so start workers after the server"
        )


def _install_built_ins(app: App) -> None:
    """Workspaces made before a built-in automation existed get it (lead automation)."""
    from stageflow.services.authoring.lead_automation import install_missing

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
    from stageflow.services.crm.demo import DEMO_OWNER

    text = (
        f"workspace: {slug}\nlogin:     {DEMO_OWNER}\npassword:  {password}\napi token: {token}\n"
    )
    console.rule("[bold green]demo workspace created")
    console.print(text, highlight=False)
    # Whatever the database, the data directory keeps them (it may not exist yet when the
    # database lives elsewhere); readable only by the owner from the first byte.
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo-credentials.txt"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
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
