"""Alembic migrations produce exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from stageflow.adapters.db.migrate import alembic_config
from stageflow.adapters.db.tables import metadata


def test_migrations_match_models(engine: Engine, database_url: str) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
        assert context.get_current_revision() == head


def test_migrations_form_one_line() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
