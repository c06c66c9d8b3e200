"""lifecycle changes per instant: one row per transaction instant and stage pair, not per contact

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lifecycle_changes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_stage_id", ID, nullable=False),
        sa.Column("to_stage_id", ID, nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_lifecycle_changes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_changes")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_lifecycle_changes_time",
        "lifecycle_changes",
        ["workspace_id", "occurred_at", "from_stage_id", "to_stage_id"],
        unique=False,
    )
    # The changes so far, counted per instant and stage pair (0: no stage).
    op.execute(
        "INSERT INTO lifecycle_changes (workspace_id, occurred_at, from_stage_id, to_stage_id, "
        "changes) SELECT workspace_id, occurred_at, coalesce(from_stage_id, 0), "
        "coalesce(to_stage_id, 0), count(*) FROM lifecycle_transitions GROUP BY workspace_id, "
        "occurred_at, coalesce(from_stage_id, 0), coalesce(to_stage_id, 0) "
        "ORDER BY min(id)"
    )
    op.drop_index("ix_lifecycle_transitions_time", table_name="lifecycle_transitions")
    op.drop_table("lifecycle_transitions")


def downgrade() -> None:
    op.create_table(
        "lifecycle_transitions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("from_stage_id", ID, nullable=True),
        sa.Column("to_stage_id", ID, nullable=True),
        sa.Column("event_id", ID, nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_lifecycle_transitions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_transitions")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_lifecycle_transitions_time",
        "lifecycle_transitions",
        ["workspace_id", "occurred_at", "from_stage_id", "to_stage_id"],
        unique=False,
    )
    # Each change again from the events that recorded it.
    changes = sa.table(
        "events",
        sa.column("id"),
        sa.column("workspace_id"),
        sa.column("record_id"),
        sa.column("type"),
        sa.column("object_type"),
        sa.column("data", sa.JSON()),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
    )
    conn = op.get_bind()
    rows = [
        {
            "workspace_id": row.workspace_id,
            "contact_id": row.record_id,
            "from_stage_id": (row.data or {}).get("from_stage_id"),
            "to_stage_id": (row.data or {}).get("to_stage_id"),
            "event_id": row.id,
            "occurred_at": row.occurred_at,
        }
        for row in conn.execute(
            sa.select(changes)
            .where(changes.c.type == "LifecycleChanged", changes.c.object_type == "contact")
            .order_by(changes.c.id)
        )
    ]
    if rows:
        op.bulk_insert(
            sa.table(
                "lifecycle_transitions",
                *(sa.column(c) for c in rows[0] if c != "occurred_at"),
                sa.column("occurred_at", sa.DateTime(timezone=True)),
            ),
            rows,
        )
    op.drop_index("ix_lifecycle_changes_time", table_name="lifecycle_changes")
    op.drop_table("lifecycle_changes")
