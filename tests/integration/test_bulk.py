"""Bulk writes straight to the driver store exactly what SQLAlchemy would (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import String, cast, insert, select

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.bulk import insert_many, insert_returning_ids, update_many
from stageflow.bootstrap import App
from stageflow.domain.records import ObjectType
from stageflow.services.commands import CreateRecord
from stageflow.services.crm import records
from stageflow.services.crm.workspaces import actor_for
from tests.conftest import Tenant

T = datetime(2026, 5, 17, 8, 30, 15, 123456, tzinfo=UTC)


def test_step_rows_round_trip(app: App, tenant: Tenant) -> None:
    with app.uow() as uow:
        record = records.create_record(
            uow, tenant.owner, ObjectType.DEAL, CreateRecord(name="Bulk"), actor_for(tenant.owner)
        )
        run_id = uow.connection.execute(
            insert(t.runs)
            .values(
                workspace_id=tenant.id,
                automation_id=1,
                version_id=_version(uow.connection, tenant),
                record_id=record.id,
                enrollment_key="bulk-test",
                status="waiting",
                state={"cursor": None},
                wake_at=T,
                depth=0,
                attempts=0,
                created_at=T,
                updated_at=T,
            )
            .returning(t.runs.c.id)
        ).scalar_one()
        row = {
            "run_id": run_id,
            "step_id": "s",
            "iteration": "loop:1",
            "type": "action",
            "status": "completed",
            "attempts": 1,
            "input": {"a": [1, "é", None]},
            "output": None,
            "error": None,
            "started_at": T,
            "finished_at": T,
        }
        insert_many(uow.connection, t.run_steps, [row])
        by_driver = uow.connection.execute(
            select(t.run_steps).where(t.run_steps.c.run_id == run_id)
        ).first()
        changed = update_many(
            uow.connection,
            t.runs,
            [
                {
                    "_id": run_id,
                    "status": "completed",
                    "finished_at": T + timedelta(days=1),
                    "state": {"cursor": "x", "variables": {"n": 2}},
                }
            ],
            where={"_id": "id"},
        )
        run = uow.connection.execute(select(t.runs).where(t.runs.c.id == run_id)).one()
        uow.rollback()
    assert changed == 1
    assert by_driver is not None
    assert (by_driver.input, by_driver.output, by_driver.started_at) == (
        {"a": [1, "é", None]},
        None,
        T,
    )
    assert run.status == "completed" and run.finished_at == T + timedelta(days=1)
    assert run.state == {"cursor": "x", "variables": {"n": 2}}


def _version(conn: object, tenant: Tenant) -> int:
    from sqlalchemy import Connection

    assert isinstance(conn, Connection)
    automation = conn.execute(
        insert(t.automations)
        .values(
            workspace_id=tenant.id,
            name="a",
            description="",
            kind="workflow",
            status="draft",
            draft={},
            version=1,
            created_at=T,
            updated_at=T,
        )
        .returning(t.automations.c.id)
    ).scalar_one()
    return int(
        conn.execute(
            insert(t.automation_versions)
            .values(
                workspace_id=tenant.id,
                automation_id=automation,
                number=1,
                definition={},
                trigger_type="manual",
                published_at=T,
            )
            .returning(t.automation_versions.c.id)
        ).scalar_one()
    )


def test_inserted_ids_come_back_in_row_order(app: App, tenant: Tenant) -> None:
    """More rows than one statement holds; each id must be its own row's, in order."""
    rows = [
        {
            "workspace_id": tenant.id,
            "type": "record.updated",
            "record_id": None,
            "object_type": "deal",
            "before": None,
            "after": {"n": i, "text": "é"},
            "data": {},
            "actor_kind": "system",
            "actor_id": None,
            "user_id": None,
            "source": "api",
            "depth": 0,
            "run_id": None,
            "occurred_at": T + timedelta(seconds=i),
        }
        for i in range(1234)
    ]
    with app.uow() as uow:
        ids = insert_returning_ids(uow.connection, t.events, rows)
        stored = {
            r.id: (r.after, r.occurred_at)
            for r in uow.connection.execute(select(t.events).where(t.events.c.id.in_(ids)))
        }
        uow.rollback()
    assert ids == sorted(ids) and len(set(ids)) == 1234
    assert [stored[i] for i in ids] == [(r["after"], r["occurred_at"]) for r in rows]


def test_empty_json_values_are_stored_as_sqlalchemy_stores_them(app: App, tenant: Tenant) -> None:
    """None and {} take a shortcut past the JSON encoder; what is stored must not differ."""
    row = {
        "workspace_id": tenant.id,
        "type": "record.updated",
        "record_id": None,
        "object_type": "deal",
        "before": None,
        "after": {"n": 1},
        "data": {},
        "actor_kind": "system",
        "actor_id": None,
        "user_id": None,
        "source": "api",
        "depth": 0,
        "run_id": None,
        "occurred_at": T,
    }
    columns = list(row)
    with app.uow() as uow:
        (bulk_id,) = insert_returning_ids(
            uow.connection, t.events, [tuple(row.values())], columns=columns
        )
        core_id = uow.connection.execute(
            insert(t.events).values(**row).returning(t.events.c.id)
        ).scalar_one()
        raw = {
            r.id: (r.before, r.data, r.before_is_null, r.actor_is_null)
            for r in uow.connection.execute(
                select(
                    t.events.c.id,
                    cast(t.events.c.before, String).label("before"),
                    cast(t.events.c.data, String).label("data"),
                    t.events.c.before.is_(None).label("before_is_null"),
                    t.events.c.actor_id.is_(None).label("actor_is_null"),
                ).where(t.events.c.id.in_([bulk_id, core_id]))
            )
        }
        uow.rollback()
    assert raw[bulk_id] == raw[core_id]
    assert raw[bulk_id][3]  # None is bound as SQL NULL (on SQLite through a fast adapter)
