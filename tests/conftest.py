"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL is found at ``STAGEFLOW_TEST_PG_URL`` (default: trust auth on 127.0.0.1:5432,
database ``test``). Each test run creates its own database and drops it at the end, so runs
never interfere. Without a reachable server the PostgreSQL tests are skipped, saying why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from stageflow.adapters.db.engine import make_engine
from stageflow.adapters.db.migrate import upgrade
from stageflow.bootstrap import App
from stageflow.config import Settings
from stageflow.domain.clock import VirtualClock
from stageflow.domain.users import Principal, Role
from stageflow.entrypoints.api.app import create_app
from stageflow.services.crm.workspaces import NewWorkspace, create_workspace

PG_URL = os.environ.get(
    "STAGEFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin() -> Engine:
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of a reachable PostgreSQL server, or a skip that says why not."""
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        pytest.skip(
            f"PostgreSQL tests skipped: no server at {PG_URL} ({type(exc).__name__}); "
            "set STAGEFLOW_TEST_PG_URL to run them"
        )
    finally:
        admin.dispose()
    return PG_URL


@pytest.fixture(scope="session")
def pg_database(pg_server: str) -> Iterator[str]:
    """A database of this test run's own, migrated to head, dropped afterwards."""
    name = f"stageflow_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'stageflow.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated database: once SQLite, once PostgreSQL."""
    fixture = "sqlite_database" if request.param == "sqlite" else "pg_database"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def app(engine: Engine, database_url: str, clock: VirtualClock) -> App:
    return App(
        settings=Settings(database_url=database_url, secret_key="test-key"),
        engine=engine,
        clock=clock,
    )


@dataclass
class Tenant:
    """A fresh workspace: tests never share one, so they never see each other's data."""

    new: NewWorkspace

    @property
    def id(self) -> int:
        assert self.new.workspace.id is not None
        return self.new.workspace.id

    @property
    def owner(self) -> Principal:
        return Principal(workspace_id=self.id, user_id=self.new.owner_id, role=Role.OWNER)

    @property
    def token(self) -> str:
        return self.new.token


def make_tenant(app: App, name: str = "Test") -> Tenant:
    with app.uow() as uow:
        new = create_workspace(
            uow,
            name=f"{name} {secrets.token_hex(3)}",
            owner_email="owner@example.com",
            owner_name="Olivia Owner",
        )
        uow.commit()
    return Tenant(new)


@pytest.fixture
def tenant(app: App) -> Tenant:
    return make_tenant(app)


class Api:
    """A thin client for /api/v1 that checks the status code it expects."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = self.client.request(method, "/api/v1" + path, headers=self.headers, **kwargs)
        assert response.status_code == expect, (
            f"{method} {path}: expected {expect}, got {response.status_code}: {response.text}"
        )
        return response.json() if response.content else None

    def get(self, path: str, expect: int = 200, **kwargs: Any) -> Any:
        return self.call("GET", path, expect, **kwargs)

    def post(self, path: str, json: Any = None, expect: int = 201, **kwargs: Any) -> Any:
        return self.call("POST", path, expect, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, expect: int = 200) -> Any:
        return self.call("PATCH", path, expect, json=json)

    def put(self, path: str, json: Any = None, expect: int = 200) -> Any:
        return self.call("PUT", path, expect, json=json)

    def delete(self, path: str, expect: int = 204) -> Any:
        return self.call("DELETE", path, expect)

    def as_token(self, token: str) -> Api:
        return Api(self.client, token)


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_app(app), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, tenant: Tenant) -> Api:
    """The API as the owner of a fresh workspace."""
    return Api(client, tenant.token)
