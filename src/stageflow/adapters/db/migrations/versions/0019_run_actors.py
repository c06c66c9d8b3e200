"""run actors: events name the automation version; activities keep the run that completes them

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("actor_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("activities") as batch:
        batch.add_column(sa.Column("exit_actor", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("exit_actor")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("actor_version")
