"""`stageflow workspace`, `stageflow user` and `stageflow token`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from stageflow.config import Settings
from stageflow.domain.errors import StageflowError
from stageflow.domain.users import Role
from stageflow.entrypoints.cli.common import (
    CLI_ACTOR,
    WorkspaceOpt,
    console,
    fail,
    open_app,
    token_cli,
    user_cli,
    workspace_cli,
    workspace_id_of,
)
from stageflow.services.commands import (
    CreateToken,
    CreateUser,
)
from stageflow.services.crm import security
from stageflow.services.crm.workspaces import create_token, create_user, create_workspace


@workspace_cli.command("create")
def workspace_create(
    name: Annotated[str, typer.Argument(help="Workspace name")],
    owner_email: Annotated[str, typer.Option(help="The owner's email")],
    owner_name: Annotated[str, typer.Option(help="The owner's name")] = "Owner",
    slug: Annotated[str | None, typer.Option(help="URL-safe id; derived from the name")] = None,
) -> None:
    """Create a workspace with its owner and print the owner's API token."""
    app = open_app(migrate=Settings().embedded)
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
        raise fail(exc) from None
    console.print(f"workspace [bold]{new.workspace.slug}[/bold] (id {new.workspace.id}) created")
    console.print(f"owner api token: {new.token}", highlight=False)


@workspace_cli.command("list")
def workspace_list() -> None:
    """List workspaces."""
    with open_app().uow(read_only=True) as uow:
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
    password: Annotated[
        str | None,
        typer.Option(
            help="Password for the web UI; without it a one-time password is printed, and the "
            "user chooses their own at the first sign-in"
        ),
    ] = None,
) -> None:
    """Add a user to a workspace."""
    one_time = password is None
    if one_time:
        password = security.new_password()
    app = open_app()
    try:
        with app.uow() as uow:
            ws = workspace_id_of(uow, workspace)
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
                one_time_password=one_time,
            )
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    console.print(f"user {email} (id {user_id}, {role.value}) created")
    if one_time:
        console.print(f"one-time password: {password}", markup=False, highlight=False)
        console.print("(shown once: the user chooses their own password at the first sign-in)")


@token_cli.command("create")
def token_create(
    workspace: WorkspaceOpt,
    email: Annotated[str, typer.Option(help="The user the token acts as")],
    name: Annotated[str, typer.Option(help="A name to recognise the token by")] = "cli token",
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    app = open_app()
    try:
        with app.uow() as uow:
            ws = workspace_id_of(uow, workspace)
            user = uow.users.get_by_email(ws, email)
            if user is None:
                raise fail(StageflowError(f"no user {email} in workspace {workspace}"))
            secret = create_token(uow, ws, user.id, CreateToken(name=name), CLI_ACTOR)
            uow.commit()
    except StageflowError as exc:
        raise fail(exc) from None
    console.print(secret, highlight=False, soft_wrap=True)
