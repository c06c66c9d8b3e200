"""Shared set-up for the benchmarks: a fresh database, a workspace, an automation."""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stageflow.adapters.db.engine import make_engine
from stageflow.adapters.db.migrate import upgrade
from stageflow.bootstrap import App
from stageflow.config import Settings
from stageflow.domain.clock import Clock, SystemClock
from stageflow.domain.records import ObjectType
from stageflow.domain.users import Principal, Role
from stageflow.services.authoring import automations
from stageflow.services.commands import CreateRecord
from stageflow.services.crm import records
from stageflow.services.crm.workspaces import actor_for, create_workspace

PG_ADMIN = os.environ.get(
    "STAGEFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh, migrated database URL for ``backend`` (sqlite or postgresql)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{directory}/bench.db"
            upgrade(url)
            yield url
        return
    name = f"stageflow_bench_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_app(url: str, clock: Clock | None = None) -> App:
    return App(
        settings=Settings(database_url=url), engine=make_engine(url), clock=clock or SystemClock()
    )


def tenant(app: App) -> tuple[Principal, Any]:
    with app.uow() as uow:
        new = create_workspace(
            uow, name="Bench", owner_email="bench@example.com", owner_name="Bench"
        )
        uow.commit()
    assert new.workspace.id is not None
    principal = Principal(workspace_id=new.workspace.id, user_id=new.owner_id, role=Role.OWNER)
    return principal, actor_for(principal)


def publish(app: App, principal: Principal, definition: dict[str, Any], name: str = "a") -> int:
    with app.uow() as uow:
        automation_id = automations.create_automation(
            uow,
            principal,
            automations.CreateAutomation(name=name, definition=definition, publish=True),
            actor_for(principal),
        )
        uow.commit()
    return automation_id


def create_deals(app: App, principal: Principal, n: int, batch: int = 500, **values: Any) -> float:
    """Create ``n`` deals in transactions of ``batch``; returns seconds taken."""
    actor = actor_for(principal)
    started = time.perf_counter()
    for start in range(0, n, batch):
        with app.uow() as uow:
            for i in range(start, min(n, start + batch)):
                records.create_record(
                    uow, principal, ObjectType.DEAL, CreateRecord(name=f"Deal {i}", **values), actor
                )
            uow.commit()
    return time.perf_counter() - started


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n## {title}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
