"""Crash safety (X1, X2): real worker processes killed with SIGKILL mid-batch, restarted;
every run completes, every step row exists once, no record is created twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stageflow.adapters.db import tables as t
from stageflow.bootstrap import App
from stageflow.domain.records import ObjectType
from stageflow.services.commands import CreateRecord
from stageflow.services.crm import records
from tests.conftest import Tenant
from tests.integration.engine_helpers import Engine

STAGEFLOW = str(Path(sys.executable).parent / "stageflow")
THREE_ACTIONS = {
    "trigger": {"type": "record_created", "object_type": "deal"},
    "steps": [
        {
            "id": "lead",
            "type": "action",
            "action": "create_record",
            "settings": {"object_type": "lead", "name": "Repeat {{ record.name }}"},
        },
        {
            "id": "mark",
            "type": "action",
            "action": "set_field",
            "settings": {"fields": {"currency": "EUR"}},
        },
        {
            "id": "task",
            "type": "action",
            "action": "create_activity",
            "settings": {"subject": "Call about {{ record.name }}"},
        },
    ],
}


def _start_worker(database_url: str, batch_size: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STAGEFLOW_DATABASE_URL": database_url}
    with log.open("ab") as out:
        return subprocess.Popen(
            [STAGEFLOW, "worker", "--batch-size", str(batch_size), "--poll", "0.02"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _counts(app: App, tenant: Tenant, automation: int) -> dict[str, int]:
    with app.uow(read_only=True) as uow:
        conn = uow.connection
        runs = dict(
            conn.execute(
                select(t.runs.c.status, func.count())
                .where(t.runs.c.automation_id == automation)
                .group_by(t.runs.c.status)
            ).all()
        )
        steps = conn.execute(
            select(func.count())
            .select_from(t.run_steps)
            .join(t.runs, t.runs.c.id == t.run_steps.c.run_id)
            .where(t.runs.c.automation_id == automation)
        ).scalar_one()
        leads = conn.execute(
            select(func.count()).where(
                t.records.c.workspace_id == tenant.id, t.records.c.object_type == "lead"
            )
        ).scalar_one()
        distinct_leads = conn.execute(
            select(func.count(t.records.c.name.distinct())).where(
                t.records.c.workspace_id == tenant.id, t.records.c.object_type == "lead"
            )
        ).scalar_one()
        activities = conn.execute(
            select(func.count()).where(t.activities.c.workspace_id == tenant.id)
        ).scalar_one()
    return {
        "completed": runs.get("completed", 0),
        "waiting": runs.get("waiting", 0),
        "failed": runs.get("failed", 0),
        "steps": steps,
        "leads": leads,
        "distinct_leads": distinct_leads,
        "activities": activities,
    }


def _enroll(app: App, tenant: Tenant, n: int) -> None:
    engine = Engine(app, tenant)
    actor = engine.actor
    for start in range(0, n, 500):
        with app.uow() as uow:
            for i in range(start, min(n, start + 500)):
                records.create_record(
                    uow, tenant.owner, ObjectType.DEAL, CreateRecord(name=f"Deal {i:05d}"), actor
                )
            uow.commit()


def test_sigkill_mid_batch_loses_and_repeats_nothing(
    app: App, tenant: Tenant, database_url: str, tmp_path: Path
) -> None:
    n, kills = 1200, 8
    automation = Engine(app, tenant).publish(THREE_ACTIONS)
    _enroll(app, tenant, n)
    rng = random.Random(7)
    log = tmp_path / "worker.log"
    progress = []
    for _ in range(kills):
        worker = _start_worker(database_url, batch_size=25, log=log)
        time.sleep(rng.uniform(0.4, 1.2))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        progress.append(_counts(app, tenant, automation)["completed"])
        if progress[-1] == n:
            break
    assert progress[0] < n, "the first kill came after all the work: make the test harder"

    worker = _start_worker(database_url, batch_size=25, log=log)
    try:
        deadline = time.monotonic() + 120
        while _counts(app, tenant, automation)["completed"] < n:
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"stuck at {_counts(app, tenant, automation)}"
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

    counts = _counts(app, tenant, automation)
    assert counts == {
        "completed": n,
        "waiting": 0,
        "failed": 0,
        "steps": 3 * n,
        "leads": n,
        "distinct_leads": n,
        "activities": n,
    }, (counts, progress)


@pytest.mark.usefixtures("pg_server")
def test_two_postgresql_workers_share_10000_runs(
    app: App, tenant: Tenant, database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several worker processes are the PostgreSQL scale-out path")
    n = 10_000
    automation = Engine(app, tenant).publish(
        {
            "trigger": {"type": "record_created", "object_type": "deal"},
            "steps": [
                {
                    "id": "mark",
                    "type": "action",
                    "action": "set_field",
                    "settings": {"fields": {"currency": "EUR"}},
                }
            ],
        }
    )
    _enroll(app, tenant, n)
    log = tmp_path / "workers.log"
    workers = [_start_worker(database_url, batch_size=100, log=log) for _ in range(2)]
    try:
        deadline = time.monotonic() + 300
        while _counts(app, tenant, automation)["completed"] < n:
            assert all(w.poll() is None for w in workers), log.read_text()
            assert time.monotonic() < deadline, _counts(app, tenant, automation)
            time.sleep(0.5)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=30)
    counts = _counts(app, tenant, automation)
    assert (counts["completed"], counts["failed"], counts["steps"]) == (n, 0, n)
    with app.uow(read_only=True) as uow:
        versions = dict(
            uow.connection.execute(
                select(t.records.c.version, func.count())
                .where(t.records.c.workspace_id == tenant.id)
                .group_by(t.records.c.version)
            ).all()
        )
        writes = uow.connection.execute(
            select(func.count()).where(
                t.events.c.workspace_id == tenant.id,
                t.events.c.type == "FieldChanged",
                t.events.c.actor_kind == "automation",
            )
        ).scalar_one()
    assert versions == {2: n}, "each deal was changed exactly once"
    assert writes == n
