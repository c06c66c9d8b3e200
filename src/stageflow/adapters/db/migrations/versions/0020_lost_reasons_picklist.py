"""lost reasons: workspaces made before deals had a lost_reason get its picklist

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
KEY = "lost_reasons"
# The defaults of stageflow.domain.pipelines.DEFAULT_PICKLISTS as of this revision.
OPTIONS = [
    {"value": "price", "label": "Price"},
    {"value": "chose_competitor", "label": "Chose a competitor"},
    {"value": "no_budget", "label": "No budget"},
    {"value": "no_decision", "label": "No decision"},
    {"value": "timing", "label": "Timing"},
    {"value": "other", "label": "Other"},
]

picklists = sa.table(
    "picklists",
    sa.column("workspace_id", sa.Integer()),
    sa.column("key", sa.String()),
    sa.column("options", JSON),
)


def upgrade() -> None:
    conn = op.get_bind()
    have = set(
        conn.execute(sa.select(picklists.c.workspace_id).where(picklists.c.key == KEY)).scalars()
    )
    workspaces = conn.execute(sa.text("SELECT id FROM workspaces ORDER BY id")).scalars()
    missing = [{"workspace_id": ws, "key": KEY, "options": OPTIONS} for ws in workspaces]
    missing = [row for row in missing if row["workspace_id"] not in have]
    if missing:
        conn.execute(sa.insert(picklists), missing)


def downgrade() -> None:
    op.get_bind().execute(sa.delete(picklists).where(picklists.c.key == KEY))
