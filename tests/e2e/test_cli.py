"""The `stageflow` command line (issue: serve, db upgrade, workspace/user/token create)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from stageflow import __version__
from stageflow.adapters.db.engine import make_engine
from stageflow.adapters.db.migrate import alembic_config
from stageflow.domain.clock import SystemClock
from stageflow.entrypoints.cli import cli
from stageflow.services.crm import security
from stageflow.services.crm.workspaces import authenticate
from stageflow.services.unit_of_work import UnitOfWork

runner = CliRunner()
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

COMMANDS = [
    [],
    ["serve"],
    ["db"],
    ["db", "upgrade"],
    ["db", "current"],
    ["workspace"],
    ["workspace", "create"],
    ["workspace", "list"],
    ["user"],
    ["user", "create"],
    ["token"],
    ["token", "create"],
]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def invoke(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args), env={"STAGEFLOW_DATABASE_URL": url})
    return result.exit_code, result.output


def test_version() -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_db_upgrade_then_current(sqlite_url: str) -> None:
    code, output = invoke(sqlite_url, "db", "current")
    assert code == 0 and "empty" in output
    code, output = invoke(sqlite_url, "db", "upgrade")
    assert code == 0 and f"revision {HEAD}" in output
    assert invoke(sqlite_url, "db", "current")[1].strip().startswith(str(HEAD))


def test_workspace_user_and_token(sqlite_url: str) -> None:
    invoke(sqlite_url, "db", "upgrade")
    code, output = invoke(
        sqlite_url, "workspace", "create", "Solar Shop", "--owner-email", "boss@solar.example"
    )
    assert code == 0, output
    assert "solar-shop" in output
    owner_token = output.split("owner api token: ")[1].split()[0]

    code, output = invoke(
        sqlite_url,
        "user",
        "create",
        "-w",
        "solar-shop",
        "--email",
        "ann@solar.example",
        "--name",
        "Ann",
        "--role",
        "agent",
        "--permission",
        "automations.edit",
    )
    assert code == 0, output
    code, output = invoke(
        sqlite_url, "token", "create", "-w", "solar-shop", "--email", "ann@solar.example"
    )
    assert code == 0, output
    agent_token = output.strip()

    engine = make_engine(sqlite_url)
    with UnitOfWork(engine, SystemClock(), read_only=True) as uow:
        owner = authenticate(uow, owner_token)
        agent = authenticate(uow, agent_token)
    engine.dispose()
    assert owner.role.value == "owner"
    assert agent.role.value == "agent" and "automations.edit" in agent.permissions
    assert agent.workspace_id == owner.workspace_id

    assert "solar-shop" in invoke(sqlite_url, "workspace", "list")[1]


def test_user_create_without_password_prints_a_one_time_password(sqlite_url: str) -> None:
    invoke(sqlite_url, "db", "upgrade")
    invoke(sqlite_url, "workspace", "create", "Shop", "--owner-email", "a@shop.example")
    code, output = invoke(
        sqlite_url, "user", "create", "-w", "shop", "--email", "c@shop.example", "--name", "C"
    )
    assert code == 0, output
    found = re.search(r"one-time password: (\S+)", output)
    assert found is not None, output
    code, output = invoke(
        sqlite_url,
        "user",
        "create",
        "-w",
        "shop",
        "--email",
        "d@shop.example",
        "--name",
        "D",
        "--password",
        "chosen-password",
    )
    assert code == 0 and "one-time" not in output
    engine = make_engine(sqlite_url)
    with UnitOfWork(engine, SystemClock(), read_only=True) as uow:
        ws = uow.workspaces.get_by_slug("shop")
        assert ws is not None and ws.id is not None
        c = uow.users.get_by_email(ws.id, "c@shop.example")
        d = uow.users.get_by_email(ws.id, "d@shop.example")
    engine.dispose()
    assert c.must_change_password and security.verify_password(found.group(1), c.password_hash)
    assert not d.must_change_password


def test_cli_errors_are_clear(sqlite_url: str) -> None:
    invoke(sqlite_url, "db", "upgrade")
    invoke(sqlite_url, "workspace", "create", "Shop", "--owner-email", "a@shop.example")
    code, output = invoke(
        sqlite_url, "user", "create", "-w", "nope", "--email", "x@y.z", "--name", "X"
    )
    assert code == 2 and "no workspace 'nope'" in output
    code, output = invoke(
        sqlite_url, "user", "create", "-w", "shop", "--email", "a@shop.example", "--name", "Dup"
    )
    assert code == 2 and "exists" in output
    code, output = invoke(
        sqlite_url,
        "user",
        "create",
        "-w",
        "shop",
        "--email",
        "b@shop.example",
        "--name",
        "B",
        "--permission",
        "fly.planes",
    )
    assert code == 2 and "unknown permission 'fly.planes'" in output
    code, output = invoke(
        sqlite_url, "token", "create", "-w", "shop", "--email", "who@shop.example"
    )
    assert code == 2 and "no user who@shop.example" in output


def test_db_upgrade_on_postgresql(pg_server: str) -> None:
    name = f"stageflow_cli_{secrets.token_hex(4)}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    try:
        code, output = invoke(url, "db", "upgrade")
        assert code == 0 and f"revision {HEAD}" in output
        code, output = invoke(
            url, "workspace", "create", "Pg Shop", "--owner-email", "a@pg.example"
        )
        assert code == 0 and "pg-shop" in output
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
