"""Alembic environment: runs migrations with stageflow's own engine settings."""

from __future__ import annotations

from alembic import context

from stageflow.adapters.db.engine import make_engine
from stageflow.adapters.db.tables import metadata

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations_online()
