"""The virtual clock is kept in the database: every process on it (a server started with
--virtual-clock, standalone workers, the command line) sees one time, advancing it fires what
every worker does, and a restart resumes where the rehearsal stood (issue 13, defect 7)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stageflow.adapters.db.migrate import upgrade
from stageflow.bootstrap import App, bootstrap
from stageflow.config import Settings
from stageflow.domain.clock import SystemClock, VirtualClock
from stageflow.entrypoints.api.app import create_app
from tests.conftest import BACKENDS, Api, make_tenant


@pytest.fixture(params=BACKENDS)
def own_database(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A database of this test's own: virtual time is a property of a whole database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/rehearsal.db"
        upgrade(url)
        yield url
        return
    server: str = request.getfixturevalue("pg_server")
    name = f"stageflow_clock_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


DEFAULT_START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _settings(url: str, *, virtual: bool) -> Settings:
    return Settings(database_url=url, virtual_clock=virtual, secret_key="test-key")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _delayed_rule() -> dict[str, object]:
    return {
        "trigger": {"type": "record_created", "object_type": "deal"},
        "steps": [
            {"id": "wait", "type": "delay", "duration": "P1D"},
            {
                "id": "mark",
                "type": "action",
                "action": "set_field",
                "settings": {"fields": {"amount": 42}},
            },
        ],
    }


def test_a_standalone_worker_runs_on_the_servers_virtual_clock(own_database: str) -> None:
    server = bootstrap(_settings(own_database, virtual=True))  # serve --virtual-clock
    worker_process = bootstrap(_settings(own_database, virtual=False))  # stageflow worker
    try:
        assert isinstance(server.clock, VirtualClock)
        assert isinstance(worker_process.clock, VirtualClock)
        start = server.clock.now()
        assert worker_process.clock.now() == start

        tenant = make_tenant(server)
        with TestClient(create_app(server)) as client:
            api = Api(client, tenant.token)
            api.post(
                "/automations", {"name": "Later", "definition": _delayed_rule(), "publish": True}
            )
            deal = api.post("/deals", {"name": "Roof"})
            worker = worker_process.worker()
            worker.run_until_idle()
            (run,) = api.get(f"/runs?record={deal['id']}")["items"]
            assert run["status"] == "waiting"
            assert _at(run["wake_at"]) == start + timedelta(days=1)  # not real time

            server.clock.advance(timedelta(days=1))  # the owner moves time in the server
            assert worker_process.clock.now() == start + timedelta(days=1)
            worker.run_until_idle()  # ... and the other process's worker fires the delay
            assert api.get(f"/runs/{run['id']}")["status"] == "completed"
            assert api.get(f"/deals/{deal['id']}")["fields"]["amount"] == 42
            changed = next(
                e
                for e in api.get(f"/deals/{deal['id']}/timeline")["items"]
                if e["type"] == "FieldChanged"
            )
            assert _at(changed["occurred_at"]) == start + timedelta(days=1)
    finally:
        server.close()
        worker_process.close()


def test_a_restarted_server_resumes_virtual_time_where_it_stood(own_database: str) -> None:
    first = bootstrap(_settings(own_database, virtual=True))
    first.clock.advance(timedelta(days=40))
    stood = first.clock.now()
    first.close()

    again = bootstrap(_settings(own_database, virtual=True))
    try:
        assert again.clock.now() == stood == DEFAULT_START + timedelta(days=40)
        with pytest.raises(ValueError, match="backwards"):
            again.clock.set(stood - timedelta(seconds=1))
    finally:
        again.close()


def test_virtual_time_never_starts_before_data_already_stored(own_database: str) -> None:
    real = bootstrap(_settings(own_database, virtual=False))
    assert isinstance(real.clock, SystemClock)  # a database not in virtual time
    make_tenant(real)  # data stamped with today's real time
    real.close()

    rehearsal: App = bootstrap(_settings(own_database, virtual=True))
    try:
        assert rehearsal.clock.now() > DEFAULT_START
        assert rehearsal.clock.now() <= SystemClock().now()
        assert SystemClock().now() - rehearsal.clock.now() < timedelta(minutes=5)
    finally:
        rehearsal.close()
