"""`stageflow serve` as a user starts it, with the database somewhere else than the data
directory: the demo credentials are saved either way (SQLite file, PostgreSQL), and what the
app logs (the console SMS provider's messages) shows on stderr (issue 13, defect 9)."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stageflow.adapters.db.migrate import upgrade
from tests.e2e.test_newcomer import STAGEFLOW, _free_port, _healthy

DEADLINE = 60.0


@contextmanager
def serving(workdir: Path, database_url: str) -> Iterator[tuple[str, Callable[[], str]]]:
    """`stageflow serve` in ``workdir`` on ``database_url``; yields its URL and its output."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEFLOW_")}
    env["STAGEFLOW_DATABASE_URL"] = database_url
    log_path = workdir / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [STAGEFLOW, "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + DEADLINE
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"stageflow serve did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield url, log_path.read_text
        finally:
            process.terminate()
            process.wait(timeout=10)


def _saved_credentials(workdir: Path) -> str:
    path = workdir / ".stageflow" / "demo-credentials.txt"
    assert path.exists(), "serve did not save the demo credentials"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return path.read_text()


def test_sqlite_elsewhere_saves_credentials_and_logs_console_sms(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere" / "crm.db"
    with serving(tmp_path, f"sqlite:///{database}") as (url, output):
        saved = _saved_credentials(tmp_path)  # .stageflow/ did not exist before
        token = next(line.split()[-1] for line in saved.splitlines() if "api token" in line)
        headers = {"Authorization": f"Bearer {token}"}
        api = httpx.Client(base_url=url + "/api/v1", headers=headers, timeout=10)
        api.put("/workspace/sms", json={"provider": "console", "sender": "ACME"}).raise_for_status()
        rule = {
            "trigger": {"type": "record_created", "object_type": "contact"},
            "steps": [
                {
                    "id": "hello",
                    "type": "action",
                    "action": "send_sms",
                    "settings": {"to": [{"role": "contact"}], "text": "Welcome to ACME"},
                }
            ],
        }
        api.post(
            "/automations", json={"name": "Hello", "definition": rule, "publish": True}
        ).raise_for_status()
        api.post(
            "/contacts", json={"fields": {"first_name": "Ada", "phone": "+39 333 123 4567"}}
        ).raise_for_status()
        deadline = time.monotonic() + DEADLINE
        while "SMS to +393331234567" not in output():
            assert time.monotonic() < deadline, f"no SMS in the log:\n{output()}"
            time.sleep(0.1)
        line = next(x for x in output().splitlines() if "SMS to +393331234567" in x)
        assert "INFO stageflow.outbox" in line and "Welcome to ACME" in line


@pytest.fixture
def fresh_pg_database(pg_server: str) -> Iterator[str]:
    name = f"stageflow_serve_{secrets.token_hex(4)}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
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


def test_postgresql_saves_the_demo_credentials_too(tmp_path: Path, fresh_pg_database: str) -> None:
    with serving(tmp_path, fresh_pg_database):
        saved = _saved_credentials(tmp_path)
    assert "api token:" in saved and "password:" in saved


def test_a_real_time_worker_stops_when_its_database_goes_virtual(tmp_path: Path) -> None:
    """Defect 7: every process sees one clock. A worker started on real time cannot switch
    under way, so it stops, saying why; started again, it follows the virtual clock."""
    from stageflow.bootstrap import bootstrap
    from stageflow.config import Settings

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEFLOW_")}
    env["STAGEFLOW_DATABASE_URL"] = url
    log_path = tmp_path / "worker.log"

    def start() -> subprocess.Popen[bytes]:
        with log_path.open("w") as log:
            return subprocess.Popen(
                [STAGEFLOW, "worker"], cwd=tmp_path, env=env, stdout=log, stderr=log
            )

    def wait_for(words: str, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + DEADLINE
        while words not in log_path.read_text():
            assert process.poll() is None or words in log_path.read_text(), log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)

    worker = start()
    try:
        wait_for("claiming due runs", worker)
        server = bootstrap(Settings(database_url=url, virtual_clock=True, secret_key="k"))
        server.close()
        assert worker.wait(timeout=DEADLINE) == 3
        said = " ".join(log_path.read_text().split())  # the console wraps long lines
        assert "has gone into virtual time" in said and "Start it again" in said
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=10)

    again = start()
    try:
        wait_for("claiming due runs", again)
        assert "virtual clock" in log_path.read_text()
    finally:
        again.terminate()
        again.wait(timeout=10)
