"""Alembic migrations produce exactly the schema the models describe."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.engine import make_engine
from stageflow.adapters.db.migrate import alembic_config, upgrade
from stageflow.adapters.db.tables import metadata
from stageflow.bootstrap import App
from stageflow.config import Settings
from stageflow.domain.clock import VirtualClock
from stageflow.domain.lifecycle import Tally


def test_migrations_match_models(engine: Engine, database_url: str) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
        assert context.get_current_revision() == head


def test_migrations_form_one_line() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_sqlite_tables_keep_autoincrement(engine: Engine) -> None:
    """Alembic's batch mode rebuilds SQLite tables; ids must still never be reused."""
    if engine.dialect.name != "sqlite":
        return
    wanted = {
        name for name, table in metadata.tables.items() if table.kwargs.get("sqlite_autoincrement")
    }
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        have = {name for name, sql in rows if "AUTOINCREMENT" in (sql or "")}
    assert wanted - have == set()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server: str = request.getfixturevalue("pg_server")
    name = f"stageflow_mig_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_existing_workspaces_get_lifecycle_when_upgraded(empty_database: str) -> None:
    """0003 gives workspaces made before lifecycle the default stages; their contacts keep no
    stage and are counted under "no stage"."""
    upgrade(empty_database, "0002")
    engine = make_engine(empty_database)
    created = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:
        ws = conn.execute(
            insert(t.workspaces)
            .values(name="Old", slug="old", settings={}, created_at=created)
            .returning(t.workspaces.c.id)
        ).scalar_one()
        for name, fields in (
            ("A", '{"email": "A@Example.com"}'),
            ("B", '{"phone": "0039 333 1234567"}'),
        ):
            conn.execute(
                text(
                    "INSERT INTO records (workspace_id, object_type, name, fields, version, "
                    "created_at, updated_at) VALUES (:ws, 'contact', :name, :fields, 1, :at, :at)"
                ),
                {"ws": ws, "name": name, "fields": fields, "at": created.replace(tzinfo=None)},
            )
    engine.dispose()
    upgrade(empty_database)
    app = App(
        settings=Settings(database_url=empty_database),
        engine=make_engine(empty_database),
        clock=VirtualClock(),
    )
    with app.uow() as uow:
        stages = uow.lifecycle.stages(ws)
        counts = uow.lifecycle.counts(ws)
        recounted = uow.lifecycle.recount(ws)
        found = uow.conversations.find_contact(ws, "email", "a@example.com")
        by_phone = uow.conversations.find_contact(ws, "phone", "+393331234567")
    app.close()
    assert [(s.name, s.kind.value, s.is_default) for s in stages] == [
        ("New Lead", "lifecycle", True),
        ("Hot Lead", "lifecycle", False),
        ("Payment", "lifecycle", False),
        ("Customer", "lifecycle", False),
        ("Cold Lead", "lost", False),
    ]
    assert counts == recounted == {0: Tally(contacts=2)}
    assert found is not None and by_phone is not None  # 0005: old contacts found by address


def test_lifecycle_changes_are_counted_per_instant_when_upgraded(empty_database: str) -> None:
    """0006 folds the one-row-per-change projection into counts per instant and stage pair,
    and its downgrade rebuilds the rows from the LifecycleChanged events."""
    upgrade(empty_database, "0005")
    engine = make_engine(empty_database)
    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    later = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    with engine.begin() as conn:
        ws = conn.execute(
            insert(t.workspaces)
            .values(name="Old", slug="old", settings={}, created_at=at)
            .returning(t.workspaces.c.id)
        ).scalar_one()
        stage = 7  # the projection keeps stage ids only
        for contact, source, target, when in (
            (1, None, stage, at),
            (2, None, stage, at),
            (3, stage, None, later),
        ):
            event_id = conn.execute(
                text(
                    "INSERT INTO events (workspace_id, type, record_id, object_type, data, "
                    "actor_kind, source, depth, occurred_at) VALUES (:ws, 'LifecycleChanged', "
                    ":contact, 'contact', :data, 'user', 'api', 0, :at) RETURNING id"
                ),
                {
                    "ws": ws,
                    "contact": contact,
                    "data": json.dumps({"from_stage_id": source, "to_stage_id": target}),
                    "at": when.replace(tzinfo=None),
                },
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO lifecycle_transitions (workspace_id, contact_id, from_stage_id, "
                    "to_stage_id, event_id, occurred_at) VALUES (:ws, :contact, :source, "
                    ":target, :event, :at)"
                ),
                {
                    "ws": ws,
                    "contact": contact,
                    "source": source,
                    "target": target,
                    "event": event_id,
                    "at": when.replace(tzinfo=None),
                },
            )
    engine.dispose()
    upgrade(empty_database)
    engine = make_engine(empty_database)
    with engine.connect() as conn:
        c = t.lifecycle_changes.c
        rows = conn.execute(
            select(c.occurred_at, c.from_stage_id, c.to_stage_id, c.changes).order_by(c.id)
        ).all()
    assert [tuple(r) for r in rows] == [(at, 0, stage, 2), (later, stage, 0, 1)]
    engine.dispose()

    downgrade(empty_database, "0005")
    engine = make_engine(empty_database)
    with engine.connect() as conn:
        back = conn.execute(
            text(
                "SELECT contact_id, from_stage_id, to_stage_id FROM lifecycle_transitions "
                "ORDER BY id"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in back] == [(1, None, stage), (2, None, stage), (3, stage, None)]


def test_existing_workspaces_get_lost_reasons_when_upgraded(empty_database: str) -> None:
    """0020 gives workspaces made before deals had a lost reason the default picklist, and
    leaves one a workspace already has alone."""
    upgrade(empty_database, "0019")
    engine = make_engine(empty_database)
    created = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    kept = [{"value": "too_dear", "label": "Too dear"}]
    with engine.begin() as conn:
        old, edited = (
            conn.execute(
                insert(t.workspaces)
                .values(name=slug.title(), slug=slug, settings={}, created_at=created)
                .returning(t.workspaces.c.id)
            ).scalar_one()
            for slug in ("old", "edited")
        )
        conn.execute(
            insert(t.picklists).values(workspace_id=edited, key="lost_reasons", options=kept)
        )
    engine.dispose()
    upgrade(empty_database)
    engine = make_engine(empty_database)
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                select(t.picklists.c.workspace_id, t.picklists.c.options).where(
                    t.picklists.c.key == "lost_reasons"
                )
            ).all()
        )
    engine.dispose()
    assert [o["label"] for o in rows[old]] == [
        "Price",
        "Chose a competitor",
        "No budget",
        "No decision",
        "Timing",
        "Other",
    ]
    assert rows[edited] == kept


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
