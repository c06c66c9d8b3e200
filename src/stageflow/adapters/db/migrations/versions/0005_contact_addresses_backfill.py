"""contact addresses backfill: contacts made before 0003 are found by inbound messages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 15:10:00
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_DIGITS = re.compile(r"[^0-9]")
BATCH = 5000


def _email(value: str) -> str | None:
    value = value.strip()
    return value.lower() if value and len(value) <= 320 and "@" in value.strip("@") else None


def _phone(value: str) -> str | None:
    value = value.strip()
    digits = _NOT_DIGITS.sub("", value)
    if value.startswith("00"):
        digits = digits[2:]
    if not 5 <= len(digits) <= 15:
        return None
    return ("+" if value.startswith(("+", "00")) else "") + digits


def upgrade() -> None:
    """The same normalisation as stageflow.domain.lifecycle.normalize_address as of this
    revision; the first contact to claim an address keeps it."""
    conn = op.get_bind()
    conflict = " ON CONFLICT DO NOTHING"
    insert = sa.text(
        "INSERT INTO contact_channels (workspace_id, contact_id, channel, address, created_at) "
        "VALUES (:ws, :contact, :kind, :address, :at)" + conflict
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, workspace_id, fields, created_at FROM records "
                "WHERE object_type = 'contact' AND id > :last ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            return
        claims: list[dict[str, Any]] = []
        for contact_id, workspace_id, fields, created_at in rows:
            values = json.loads(fields) if isinstance(fields, str) else (fields or {})
            for key, kind, normalise in (("email", "email", _email), ("phone", "phone", _phone)):
                raw = values.get(key)
                address = normalise(str(raw)) if raw else None
                if address:
                    claims.append(
                        {
                            "ws": workspace_id,
                            "contact": contact_id,
                            "kind": kind,
                            "address": address,
                            "at": created_at,
                        }
                    )
        for claim in claims:
            conn.execute(insert, claim)
        last = rows[-1][0]


def downgrade() -> None:
    """Nothing to undo: the addresses are what 0003's code would have recorded."""
